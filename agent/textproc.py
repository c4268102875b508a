"""Tokenisation for BM25 and language detection: CJK bigrams plus English words."""
from __future__ import annotations

import re

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # the Chinese character blocks, for regex classes
_TOKEN = re.compile(rf"[{CJK}]+|[a-z0-9]+(?:[-'][a-z0-9]+)*")
_HAS_CJK = re.compile(rf"[{CJK}]")

# Function words carry no evidence about a section; keeping them only adds noise to BM25.
_EN_STOP = frozenset(
    "a an the of to in on for and or is are be do does did we our i my you your it its this that "
    "with what how which should can will would as at by from if about me us they them there".split()
)


def _stem(word: str) -> str:
    """A light English stemmer: enough to meet 'labels'/'labelled'/'labeling'."""
    for suf in ("ations", "ation", "ings", "ing", "ies", "ied", "led", "ed", "es", "s"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            base = word[: -len(suf)]
            return base + ("y" if suf in ("ies", "ied") else "")
    return word


def has_cjk(text: str) -> bool:
    """Whether the text holds any Chinese character."""
    return bool(_HAS_CJK.search(text))


def tokenize(text: str) -> list[str]:
    """Tokens for retrieval: CJK runs as character bigrams (and single characters), English as stems."""
    out: list[str] = []
    for m in _TOKEN.finditer(text.lower()):
        tok = m.group(0)
        if _HAS_CJK.match(tok):
            if len(tok) == 1:
                out.append(tok)
            out.extend(tok[i:i + 2] for i in range(len(tok) - 1))
        elif tok not in _EN_STOP:
            out.append(_stem(tok))
    return out


def detect_lang(text: str) -> str:
    """'zh' when CJK characters make up a real share of the letters, else 'en'."""
    cjk = len(_HAS_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 3 >= latin * 0.5 else "en"
