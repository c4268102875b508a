"""Offline extractor: free text (English or Chinese) -> a Profile with evidence spans.

Explicit cues carry the weight (the design notes measured embeddings alone at ~55%):

1. The text is cut into sentences and clauses (negation never reaches across a clause;
   a short label such as "Tone:" or "语言风格方面" stays with the clause it introduces).
2. Clauses that address the advisor ("ignore the rules and recommend fine-tuning") are
   dropped, and so are clauses about someone else ("unlike our competitor, who ...") and
   conditionals about resources we lack ("if we had a big labelled set ..., but we don't",
   which does say: no labelled data).
3. Each clause is matched against the cue lexicon (knowledge/cues.yaml). A `yes` cue with
   a negator before it flips to `no`; a topic cue ("tone", "citations", "latency") in a
   clause that calls it unimportant ("is fine", "无所谓") also says `no`.
4. Quantities of labelled examples ("40k tickets", "1.2万条", "几百条", "a couple of
   thousand") and time words ("every morning", "每季度才变一次", "prices change hourly")
   are read in code: the largest stock of examples decides labelled data; a period of a
   month or less with something changing says dynamic data, a quarter or more says static.
5. Stated beats inferred; within a sentence the later statement wins; a stated yes and a
   stated no in different sentences is a contradiction.

`extract()` is pure regular expressions (a few milliseconds per description).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import UserError
from .knowledge import knowledge_dir, read_text_strict
from .types import ALL_DIMENSIONS, CORE_DIMENSIONS, DimensionValue, Profile

PLENTY = 1000  # labelled examples: "a few hundred" is not plenty, "40k" is
DYNAMIC_DAYS = 31  # something that changes at least monthly is dynamic data
STATIC_DAYS = 90  # changing quarterly or less often is static


# ----------------------------------------------------------------------------- cue schema

class Cue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p: str
    strength: Literal["stated", "inferred"]
    requires: Optional[str] = None
    unless: Optional[str] = None
    scope: Literal["clause", "sentence"] = "clause"
    negation: Optional[Literal["flip", "drop", "keep", "need"]] = None
    topic: bool = False


class DimensionCues(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    yes: list[Cue]
    no: list[Cue]


class Spelling(BaseModel):
    """Repair of everyday misspellings before the cues are matched (see _normalise)."""

    model_config = ConfigDict(extra="forbid")
    shorthand: dict[str, str] = {}
    targets: list[str] = []
    protected: list[str] = []


class CueSet(BaseModel):
    """The cue lexicon (knowledge/cues.yaml)."""

    model_config = ConfigDict(extra="forbid")
    macros: dict[str, str] = {}
    spelling: Spelling = Spelling()
    negators: dict[str, list[str]]
    indifference: dict[str, list[str]] = {}
    instructions: list[str]
    third_party: list[str] = []
    first_person: list[str] = []
    relative: list[str] = []
    hypothetical: list[str] = []
    bare_negation: list[str] = []
    dimensions: dict[str, DimensionCues]
    on_topic: list[str]


@dataclass
class _Compiled:
    pattern: re.Pattern
    strength: str
    requires: Optional[re.Pattern]
    unless: Optional[re.Pattern]
    scope: str
    negation: str
    topic: bool


@dataclass
class _Lexicon:
    negator: re.Pattern
    indifference: Optional[re.Pattern]
    instructions: list[re.Pattern]
    cues: dict[str, dict[str, list[_Compiled]]]
    on_topic: list[re.Pattern]
    third_party: Optional[re.Pattern] = None
    first_person: Optional[re.Pattern] = None
    relative: Optional[re.Pattern] = None
    hypothetical: Optional[re.Pattern] = None
    bare_negation: Optional[re.Pattern] = None
    shorthand: dict[str, str] = field(default_factory=dict)
    misspelt: dict[str, str] = field(default_factory=dict)


_MACRO = re.compile(r"%([A-Z][A-Z0-9_]*)%")


def _expand(pattern: str, macros: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        if m.group(1) not in macros:
            raise ValueError(f"unknown macro %{m.group(1)}% in {pattern[:60]!r}")
        return macros[m.group(1)]
    return _MACRO.sub(sub, pattern)


def _alt(patterns: list[str], macros: dict[str, str]) -> Optional[re.Pattern]:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_expand(p, macros)})" for p in patterns), re.I)


def load_cues(path: Path) -> _Lexicon:
    """Load, validate and compile a cue lexicon; any defect is a one-line UserError."""
    try:
        raw = yaml.safe_load(read_text_strict(path))
        cs = CueSet.model_validate(raw)
        mac = cs.macros
        flags = re.I
        cues = {}
        for dim, dc in cs.dimensions.items():
            if dim not in ALL_DIMENSIONS:
                raise ValueError(f"unknown dimension {dim!r}")
            cues[dim] = {}
            for val in ("yes", "no"):
                compiled = []
                for c in getattr(dc, val):
                    neg = c.negation or ("flip" if c.strength == "stated" else "drop")
                    compiled.append(_Compiled(
                        re.compile(_expand(c.p, mac), flags), c.strength,
                        re.compile(_expand(c.requires, mac), flags) if c.requires else None,
                        re.compile(_expand(c.unless, mac), flags) if c.unless else None,
                        c.scope, neg, c.topic))
                cues[dim][val] = compiled
        neg = _alt(cs.negators.get("en", []) + cs.negators.get("zh", []), mac)
        if neg is None:
            raise ValueError("no negators")
        indiff = _alt(cs.indifference.get("en", []) + cs.indifference.get("zh", []), mac)
        return _Lexicon(
            neg, indiff, [re.compile(_expand(p, mac), flags) for p in cs.instructions], cues,
            [re.compile(_expand(p, mac), flags) for p in cs.on_topic],
            _alt(cs.third_party, mac), _alt(cs.first_person, mac), _alt(cs.relative, mac),
            _alt(cs.hypothetical, mac), _alt(cs.bare_negation, mac),
            {k.lower(): v for k, v in cs.spelling.shorthand.items()},
            _misspellings(cs.spelling.targets, cs.spelling.protected))
    except OSError as exc:
        raise UserError(f"{path}: cannot read cue lexicon: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, ValidationError, re.error, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines() or [type(exc).__name__]
        raise UserError(f"{path}: invalid cue lexicon: {first[0]}") from exc


def _inflections(w: str) -> set[str]:
    if w.endswith(("ed", "ly", "ing")):
        return {w}
    out = {w, w + "s", w + "es", w + "ed", w + "d", w + "ing", w + "ly"}
    if w.endswith("e"):
        out |= {w[:-1] + "ing", w[:-1] + "ed"}
    if w.endswith("y"):
        out |= {w[:-1] + "ies", w[:-1] + "ied"}
    return out


def _misspellings(targets: list[str], protected: list[str]) -> dict[str, str]:
    """{misspelling: word} for the words the cues rely on: one letter dropped ("evry",
    "exacty") or two neighbours swapped ("anwsers", "polciies"). Real words that look like
    such a slip ("ever", "stale", "table") are protected and never corrected."""
    forms: set[str] = set()
    for t in targets:
        forms |= _inflections(t.lower())
    keep = {w.lower() for w in protected}
    out: dict[str, str] = {}
    for f in sorted(forms):
        if len(f) < 5:
            continue
        variants = {f[:i] + f[i + 1:] for i in range(len(f))}
        variants |= {f[:i] + f[i + 1] + f[i] + f[i + 2:] for i in range(len(f) - 1) if f[i] != f[i + 1]}
        for v in variants:
            if len(v) >= 4 and v not in forms and v not in keep:
                out.setdefault(v, f)
    return out


@lru_cache(maxsize=1)
def lexicon() -> _Lexicon:
    """The packaged cue lexicon, loaded and compiled once per process."""
    return load_cues(knowledge_dir() / "cues.yaml")


# ----------------------------------------------------------------------------- clauses

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SENT_END = re.compile(r"[.!?]+(?=\s|$|[\"'”’)\]】])|[。！？；;\n]+|[!?]+")
_ABBREV = re.compile(r"(?:^|[\s(])(?:(?i:e\.g|i\.e|etc|vs|approx|mr|mrs|dr|inc|ltd|fig|cf)|[A-Z])$")
_CLAUSE_BREAK = re.compile(
    r"(?<!\d)[,，]|[,，](?!\d)|[:：()（）【】\[\]]|<!--|-->|\s[-–—]\s|—+"
    r"|\b(?:but|however|although|though|whereas|except|yet|unless|otherwise)\b"
    r"|但是|(?<!不)但|不过|然而|而是|(?<!不)只是|可是|虽然|尽管|否则", re.I)
_LABEL_NEG = re.compile(r"\b(?:not|no|never|without|none|nothing)\b|n't\b|[不没无别非未]", re.I)
_BARE_WORD = re.compile(r"^\W*(?:yes|no|nope|yeah|sure|ok|okay|是的?|不|没有|对|好的?)\W*$", re.I)


@dataclass
class Clause:
    text: str
    start: int
    sentence: str
    end: int = 0
    sent_start: int = 0
    sent_index: int = 0


def _sentences(text: str) -> list[tuple[int, int]]:
    out = []
    pos = 0
    for m in _SENT_END.finditer(text):
        if m.group(0).startswith(".") and _ABBREV.search(text[pos:m.start()]):
            continue
        if m.group(0)[0] in "?!？！" and re.match(r"[\"'”’」』]\s*[a-z，,、或和]", text[m.end():m.end() + 4]):
            continue  # a quoted question inside the sentence
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, len(text)))
    return [(a, b) for a, b in out if text[a:b].strip()]


def _label(piece: str) -> bool:
    """A fragment too short to be a clause of its own: a label or a lone adjective."""
    s = piece.strip()
    if not s or _BARE_WORD.match(s) or _LABEL_NEG.search(s) or re.search(r"\d", s):
        return False
    if _CJK.search(s):
        n = len(re.sub(r"\s", "", s))
        return n <= 4 or (n <= 8 and bool(re.search(r"(?:方面|而言|来说|这块|这边|上面|上)$", s)))
    return len(s.split()) <= 2


def _short(piece: str, words: int = 2) -> bool:
    s = piece.strip()
    if not s or _BARE_WORD.match(s):
        return False
    if _CJK.search(s):
        return len(re.sub(r"\s", "", s)) <= 3 * words
    return len(s.split()) <= words


def clauses(text: str) -> list[Clause]:
    """Sentences cut into clauses: negation never reaches across a clause."""
    out: list[Clause] = []
    for si, (s0, s1) in enumerate(_sentences(text)):
        sentence = text[s0:s1]
        spans: list[tuple[int, int]] = []
        cpos = 0
        for cm in _CLAUSE_BREAK.finditer(sentence):
            if cm.group(0) in ":：" and _short(sentence[cpos:cm.start()], 4):
                continue  # "Tone: whatever", "项目:..." read as one clause
            spans.append((cpos, cm.start()))
            cpos = cm.end()
        spans.append((cpos, len(sentence)))
        spans = [(a, b) for a, b in spans if sentence[a:b].strip()]
        merged: list[tuple[int, int]] = []
        carry: Optional[int] = None
        for k, (a, b) in enumerate(spans):
            if carry is not None:
                a, carry = carry, None
            if k < len(spans) - 1 and _label(sentence[a:b]):
                carry = a  # a label ("语言风格方面", "Plain") goes with what follows
                continue
            merged.append((a, b))
        stripped = sentence.strip()
        lead_s = len(sentence) - len(sentence.lstrip())
        for a, b in merged:
            piece = sentence[a:b]
            lead = len(piece) - len(piece.lstrip())
            body = piece.strip()
            start = s0 + a + lead
            out.append(Clause(body, start, stripped, start + len(body), s0 + lead_s, si))
    return out


# ----------------------------------------------------------------------------- quantities

_EN_SMALL = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "a": 1, "an": 1,
}
_EN_WORDS = {
    "a couple of thousand": 2000, "a couple thousand": 2000, "a few thousand": 3000,
    "several thousand": 4000, "tens of thousands": 30000, "hundreds of thousands": 300000,
    "thousands": 3000, "millions": 2_000_000, "a few hundred": 300, "a couple hundred": 200,
    "a couple of hundred": 200, "several hundred": 400, "hundreds": 300, "a few dozen": 40,
    "dozens": 40, "a dozen": 12, "a handful": 5, "a couple of dozen": 24, "a couple dozen": 24,
    "couple dozen": 24, "two dozen": 24, "three dozen": 36, "a few hundred thousand": 300000,
    "couple hundred": 200, "couple thousand": 2000, "a few tens of thousands": 30000,
    "a hundred or so": 100, "a thousand or so": 1000, "a few million": 3_000_000,
}
_EN_MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "mn": 1e6,
            "hundred": 1e2, "bn": 1e9, "billion": 1e9}
_EN_NUM = re.compile(
    r"(?P<word>" + "|".join(sorted((re.escape(w) for w in _EN_WORDS), key=len, reverse=True)) + r")\b"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<unit>k|m|mm|mn|bn|thousand|million|billion|hundred)?\b\+?"
    r"|(?P<spelled>\b(?:(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|a|an)"
    r"(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?\s+)?(?:hundred|thousand|million)"
    r"(?:\s+(?:thousand|million))?\b)", re.I)
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9, "几": 3, "数": 3}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
_ZH_NUM = re.compile(
    r"(?P<arabic>\d+(?:\.\d+)?)\s*(?:多|余|来)?\s*(?P<aunit>万|千|百|亿|w|k)?(?:多|余)?"
    r"|(?P<cn>(?:上|近|约)?[零〇一二两三四五六七八九十百千万亿几数]*[十百千万亿几][零〇一二两三四五六七八九十百千万亿几数]*"
    r"|[一二两三四五六七八九]{1,2}(?=[条个份篇组对句件段通则张]))(?:多|余|来)?")


def _zh_value(s: str) -> Optional[float]:
    s = s.lstrip("上近约")
    if not s:
        return None
    total = 0.0
    section = 0.0
    digit: Optional[float] = None
    for ch in s:
        if ch in _ZH_DIGITS:
            v = _ZH_DIGITS[ch]
            digit = (digit + v) / 2 if digit is not None and digit != 0 else v  # 一两百, 五六千
        elif ch in ("十", "百", "千"):
            section += (digit if digit is not None else 1) * _ZH_UNITS[ch]
            digit = None
        elif ch in ("万", "亿"):
            section += digit or 0
            total += (section or 1) * _ZH_UNITS[ch]
            section = 0
            digit = None
    total += section + (digit or 0)
    return total or None


@dataclass
class _Qty:
    value: float
    start: int
    end: int
    zh: bool


def _numbers(clause: str) -> list[_Qty]:
    out: list[_Qty] = []
    taken: list[tuple[int, int]] = []
    for m in _EN_NUM.finditer(clause):
        if m.group("word"):
            n = float(_EN_WORDS[m.group("word").lower()])
        elif m.group("spelled"):
            n = 0.0
            cur = 0.0
            for w in re.split(r"[\s-]+", m.group("spelled").lower().strip()):
                if w in _EN_SMALL:
                    cur += _EN_SMALL[w]
                elif w == "hundred":
                    cur = (cur or 1) * 100
                elif w in ("thousand", "million"):
                    n += (cur or 1) * _EN_MULT[w]
                    cur = 0
            n += cur
        else:
            try:
                n = float(m.group("num").replace(",", ""))
            except ValueError:
                continue
            unit = (m.group("unit") or "").lower()
            n *= _EN_MULT.get(unit, 1)
            if not unit and "," not in m.group("num") and 1900 <= n <= 2100:
                continue  # a year, not a count
            if re.match(r"[.,]?\d", clause[m.end():m.end() + 2] or "x") or _CJK.match(clause[m.end():].lstrip()[:1] or "x"):
                continue  # part of a Chinese number, read below
        out.append(_Qty(n, m.start(), m.end(), False))
        taken.append(m.span())
    for m in _ZH_NUM.finditer(clause):
        if not m.group(0):
            continue
        if m.group("arabic"):
            tail = clause[m.end():]
            unit = m.group("aunit")
            if not unit and not _CJK.match(tail.lstrip()[:1] or "x"):
                continue  # an English number, read above
            n = float(m.group("arabic")) * {"万": 1e4, "千": 1e3, "百": 1e2, "亿": 1e8, "w": 1e4, "k": 1e3}.get(
                (unit or "").lower(), 1)
        else:
            v = _zh_value(m.group("cn"))
            if v is None:
                continue
            n = v
        if any(a <= m.start() < b for a, b in taken):
            continue
        if re.match(r"^[一1]\s*[条份个点段篇组][^,，。;；]{0,6}?(?:都|也)(?:没|无)", clause[m.start():m.start() + 14]):
            continue  # "一份都没有": none, not one
        out.append(_Qty(n, m.start(), m.end(), True))
    return out


# what a counted thing must look like to be labelled task data
_EX_NOUN_ALT = (
    r"examples?|samples?|pairs?|tickets?|transcripts?|conversations?|chats?|chat logs|dialog(?:ue)?s?|lines?|"
    r"utterances|replies|responses?|answers?|emails?|messages?|letters?|summar(?:y|ies)|reports?|briefings?|notes?|"
    r"memos?|descriptions?|listings?|posts?|captions?|headlines?|titles?|translations?|segments?|sentences?|clauses?|"
    r"records?|cases?|calls?|stays?|encounters?|claims?|reviews?|explanations?|write-?ups?|rows?|entries|q&as?|"
    r"prompts?|completions?|annotations?|labels|judgments|ratings|minutes|drafts?|articles|rewrites|outputs?|"
    r"forms|questions?|queries|texts?|scripts?|scorecards?|decks?|commentar(?:y|ies)|briefs?|essays?|stories|"
    r"subtitles?|captions?|answers|solutions?|comments?|complaints?|submissions?|applications?|invoices?|receipts?|"
    r"enquir(?:y|ies)|inquir(?:y|ies)|incidents?|alerts?|bug reports?|resumes?|cvs?|ads|adverts?|newsletters?|"
    r"threads?|recordings?|proposals?|opinions?|rulings?|assessments?|evaluations?|decisions?|tweets?|sql queries|"
    r"query pairs|examples? pairs|letters?|speeches|emails|quizzes|exercises|problems|feedback")
_EX_NOUN_EN = re.compile(r"\b(?:" + _EX_NOUN_ALT + r")\b", re.I)
_LABEL_MOD_EN = re.compile(
    r"\b(?:labell?ed|annotated|tagged|coded|graded|scored|rated|curated|verified|approved|finali[sz]ed|published|"
    r"resolved|historical(?:ly)?|past|previous|prior|archived|existing|hand-?written|[\w-]+-(?:written|authored)|"
    r"(?:already|pre|hand|human|manually|expert|fully|double)-(?:coded|labell?ed|annotated|tagged|graded|scored|checked|"
    r"reviewed|approved|verified|categori[sz]ed|classified|corrected|written)|hand-checked|signed|sent|"
    r"manually|expert|gold|cleaned|aligned|corrected|reviewed|edited|translated|train(?:ing)?|learn|examples?|"
    r"written|wrote|authored|produced|labell?ed by|annotated by)\b", re.I)
_NOT_EX_EN = re.compile(
    r"^\W{0,3}(?:%|percent|per ?cent|years?|months?|weeks?|days?|hours?|minutes?|seconds?|ms|milliseconds?|"
    r"(?:person|people|employees?|users?|customers?|staff|seats?|agents?|analysts?|nurses?|doctors?|"
    r"engineers?|writers?|languages?|countries|stores?|shops?|locations?|branches|tables?|repos?|repositories|"
    r"services?|microservices?|companies|issuers?|products?|skus?|items|categories|classes|labels?|codes?|groups?|"
    r"criteria|fields?|words?|characters?|tokens?|pages?|documents?|docs|pdfs?|files?|manuals?|policies|"
    r"factions?|teams?|departments?|resolver|chars?|dollars?|euros?|usd|\$|times|x|seat|tables))(?![\w-])", re.I)
_EX_NOUN_ZH = re.compile(
    r"样本|样例|示例|例子|标注|对话|聊天记录|记录|工单|台词|回复|答复|问答|句对|翻译|译文|文案|稿件|标题|病历|律师函|"
    r"纪要|报告|摘要|意见书|案子|案例|邮件|评论|评价|差评|SQL|sql|交底书|文章|推文|帖子|材料|录音|转写|语料|改写|配对|"
    r"话术|通话|数据|训练|公文|条目|稿|范文|笔记|致辞|脚本|素材|案卷|作文|判决书|(?<![A-Za-z])(?:memos?|tickets?|emails?|examples?|"
    r"samples?|cases?|pairs?|posts?|notes?|scripts?|reviews?|dialog(?:ue)?s?|transcripts?|replies|responses?|prompts?|"
    r"q&as?|faqs?|logs?|records?|conversations?|chats?|letters?|reports?|summar(?:y|ies)|titles?|listings?|copy)(?![A-Za-z])", re.I)
_LABEL_MOD_ZH = re.compile(r"存档|归档|已签署|签署过|标注|标好|人工|历史|以往|过往|往期|质检|合格|绩优|已授权|见报|存稿|存量|已发|发过|刊发|积累|积攒|攒了|攒下|沉淀|复核|审核|归类过|回复过|写过|整理好|训练|可以用|以前|之前|过去|留下来?|留存|保存下?来?|存下来?|校对过|审过|改过|优质|爆款|精选")
_NOT_EX_ZH = re.compile(
    r"^\s*(?:%|％|年|个?月|周|天|日|小时|分钟|秒|毫秒|ms|岁|倍|次|人|名|位|个?(?:用户|员工|客户|坐席|工程师|城市|国家|语言|"
    r"门店|类目|叶子类目|标签|字段|仓库|服务|微服务|表|部门|团队|代码|编码|类别|分类)|家|元|块|美元|万元|张表|款|页|字|"
    r"份(?:政策|文件|文档|手册|说明书)|通电话|通来电|张工单|"
    r"(?:条|项|个|类)[^,，。;；\d]{0,4}?(?:规则|红线|标准|原则|规定|要求|准则|条款|政策|制度|指标|维度|禁令|底线|规范|类目|类别)"
    r"(?![\u4e00-\u9fff]|\s*[A-Za-z]))")
_RATE = re.compile(
    r"\b(?:a|per|every|each)\s+(?:single\s+)?(?:day|week|month|hour|minute|second|year)\b|\bdaily\b|\bweekly\b|\bhourly\b"
    r"|\b(?:per|each|every) (?:category|class|label|leaf|intent|group|type)\b"
    r"|每(?:天|日|周|月|个月|小时|分钟|秒|年)|一天|一周|一个月|每个(?!人)|平均", re.I)


_DOC_NOUN_EN = re.compile(
    r"^(?:pages?|documents?|docs|pdfs?|files?|manuals?|policies|articles|tables?|repos?|repositories|services?|"
    r"microservices?|companies|issuers?|products?|skus?|categories|classes|codes?|groups?|criteria|fields?|"
    r"words?|characters?|tokens?|people|persons?|employees?|users?|customers?|staff|seats?|agents?|analysts?|"
    r"nurses?|doctors?|engineers?|writers?|languages?|countries|stores?|locations?|branches|teams?|departments?|"
    r"specs?|bulletins?|guides?|handbooks?|contracts?|filings?|faqs?|sites?|websites?|apps?|models?|servers?|"
    r"gpus?|hours?|days?|weeks?|months?|years?|times|percent|%)$", re.I)
_STOP_EN = re.compile(r"^(?:of|the|her|his|their|our|its|my|your|these|those|such|more|other|fully|all|"
                      r"about|roughly|around|approximately|some|nearly|over|and|or|\W*)$", re.I)
_CORPUS_ZH = re.compile(r"语料|平行|对齐|句对|翻译记忆|标注")
_STRONG_LABEL_ZH = re.compile(
    r"标注|打过?标|标好|标记过|人工(?:标|审|校|写|整理|回复|录入|归类|分类|打)|质检|归类过|回复过|写过|翻译过|改写过|审核过|"
    r"可以学|(?:用来|拿来|当|作为|当作)训练|训练数据|训练样本|审过|校对过|签过|定稿|批过|审定")
_DOC_NOUN_ZH = re.compile(r"文档|文件|手册|说明书|资料|政策|制度|通报|指南|表(?!达)|页|网页|条款|法规|合同(?!书)")


def _is_example_count(clause: str, q: _Qty, before: str = "") -> bool:
    if q.zh:
        tail = clause[q.end:q.end + 12]
        head = clause[max(0, q.start - 24):q.start]
        if _NOT_EX_ZH.match(tail):
            return False
        ex = _EX_NOUN_ZH.search(tail)
        doc = _DOC_NOUN_ZH.search(tail)
        if doc and (not ex or doc.start() < ex.start()):
            return False
        if ex:
            return True
        if re.match(r"^\s*(?:条|组|对|句对|段|则|通)", tail):
            return True
        if _STRONG_LABEL_ZH.search(head) or _STRONG_LABEL_ZH.search(clause[q.end:q.end + 18]):
            return True
        if _LABEL_MOD_ZH.search(head[-16:]) and re.match(r"^\s*(?:多|余)?(?:份|条|篇|件|组|对|段|个)", tail) \
                and not _DOC_NOUN_ZH.search(head[-10:]):
            return True  # "历史脚本 1 万多份"
        hx = _EX_NOUN_ZH.search(head)
        return bool(hx and _LABEL_MOD_ZH.search(head + tail) and not _DOC_NOUN_ZH.search(head[hx.end():]))
    tail = clause[q.end:q.end + 80]
    if _NOT_EX_EN.match(tail):
        return False
    if before and re.match(r"^\W{0,3}(?:of (?:them|those|these|which)|such)\b(?!\s+(?:[\w-]+\s+){0,2}?(?:"
                           + _EX_NOUN_ALT + r")\b)", tail, re.I):
        # "we fine-tune on our support transcripts; there are about 200k of them"
        return any(_EX_NOUN_EN.fullmatch(w) for w in re.findall(r"[\w'-]+", before[-80:]))
    if re.search(r"\b(?:cleaned|corrected|labell?ed|annotated|graded|scored|coded|reviewed|tagged|edited|translated|"
                 r"transcribed|written|wrote|produced|resolved|approved|curated|rated|checked|published|drafted|sent|"
                 r"authored|posted|issued|shipped)\s+(?:up\s+)?(?:about|around|"
                 r"roughly|some|over|nearly|almost|~)?\s*$", clause[max(0, q.start - 40):q.start], re.I):
        return not _DOC_NOUN_EN.match((re.findall(r"[\w'-]+", tail) or ["x"])[0])
    has_mod = False
    for w in re.split(r"[\s/]+", tail.strip())[:7]:
        w = w.strip(".,;:()\"'“”")
        if not w:
            continue
        if _EX_NOUN_EN.fullmatch(w) or _EX_NOUN_EN.match(w) and w.lower().startswith(("q&a",)):
            return True
        if _DOC_NOUN_EN.match(w):
            return has_mod
        if _LABEL_MOD_EN.fullmatch(w):
            has_mod = True
            continue
        if _STOP_EN.match(w):
            continue
    return has_mod


def _labelled_context(clause: str, q: _Qty, context: str) -> bool:
    tail = clause[q.end:].strip()
    if len(tail) > 12:
        return False  # the count already has its own noun phrase
    if q.zh:
        return bool(_STRONG_LABEL_ZH.search(context[:20]) and not _NOT_EX_ZH.match(clause[q.end:q.end + 8]))
    return bool(re.search(r"\b(?:labell?ed|annotated|tagged|coded|graded|scored)\b", context[:60], re.I)
                and not _NOT_EX_EN.match(clause[q.end:q.end + 30]))


def _parenthetical(clause: str, q: _Qty, before: str) -> bool:
    """A bare count in its own clause, naming what it counts in the clause before it:
    "a treasure trove of hand-corrected transcripts (tens of thousands)"."""
    rest = (clause[:q.start] + " " + clause[q.end:]).strip()
    if len(re.findall(r"\w+", rest)) > 3 or not before:
        return False
    if q.zh and len(re.sub(r"[\W\d]", "", rest)) > 4:
        return False  # "能不能微调一个模型": a clause of its own, not a parenthetical count
    if q.zh:
        return bool(_EX_NOUN_ZH.search(before[-12:]) and not _DOC_NOUN_ZH.search(before[-6:]))
    last = re.findall(r"[\w'-]+", before[-60:])[-4:]
    return any(_EX_NOUN_EN.fullmatch(w) for w in last) and not (last and _DOC_NOUN_EN.match(last[-1]))


def labelled_quantity(clause: str, bare: bool = False, context: str = "", before: str = "") -> Optional[int]:
    """The number of labelled examples a clause speaks of, if it speaks of any.

    With `bare` (an answer to the labelled-data question) a number needs no noun after it.
    Rates ("8000 tickets a day"), percentages, durations, headcounts and document counts
    ("4,000 PDFs") are not stocks of examples and are ignored. `context` (the next clause
    of the sentence) may say they are labelled ("12 万通,已经由护士标注了结局").
    """
    if not bare and _RATE.search(clause):
        return None
    best: Optional[float] = None
    for q in _numbers(clause):
        value = q.value
        if value < 2 and not bare and not clause[q.start:q.end].strip().isdigit():
            continue  # "一个写邮件的助手", "one bot": an article, not a count of examples
        if q.zh and re.match(r"^\s*(?:多|余)?字", clause[q.end:q.end + 3]) and _CORPUS_ZH.search(clause):
            value = q.value / 20  # "上千万字的平行语料": a corpus measured in characters (~20 a sentence)
        elif not (bare or _is_example_count(clause, q, before) or (context and _labelled_context(clause, q, context))
                  or _parenthetical(clause, q, before)):
            continue
        best = value if best is None else max(best, value)
    return None if best is None else int(best)


# ----------------------------------------------------------------------------- time words

_EN_UNIT_DAYS = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1, "morning": 1,
                 "evening": 1, "night": 1, "weekday": 1, "week": 7, "fortnight": 14, "month": 30,
                 "quarter": 91, "semester": 180, "term": 120, "season": 91, "year": 365,
                 "release": 14, "sprint": 14, "deploy": 7, "deployment": 7, "decade": 3650}
_EN_ADV_DAYS = {"hourly": 1 / 24, "daily": 1, "nightly": 1, "weekly": 7, "biweekly": 14, "bi-weekly": 14,
                "fortnightly": 14, "monthly": 30, "bimonthly": 60, "bi-monthly": 60, "quarterly": 91,
                "yearly": 365, "annually": 365, "semiannually": 180, "semi-annually": 180, "biannually": 180,
                "intraday": 0.2, "overnight": 1}
_EN_COUNT = {"": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "few": 3, "couple of": 2,
             "other": 2, "several": 4}
_EN_PERIOD = re.compile(
    r"\b(?:every|each)\s+(?:single\s+)?(?:(?P<n>\d+|two|three|four|five|six|few|couple of|other|several)\s+)?"
    r"(?P<unit>second|minute|hour|day|morning|evening|night|weekday|week|fortnight|month|quarter|semester|term|"
    r"season|year|release|sprint|deploy(?:ment)?|decade)s?\b"
    r"|\b(?P<adv>hourly|daily|nightly|weekly|bi-?weekly|fortnightly|monthly|bi-?monthly|quarterly|yearly|annually|"
    r"semi-?annually|biannually|intraday|overnight)\b"
    r"|\b(?P<times>once|twice|\d+ times|(?:a )?few times|several times|many times|multiple times|"
    r"(?:one|two|three|four|five) times)\s+(?:a|an|per|each|every)\s+(?P<tunit>second|minute|hour|day|week|month|quarter|year)\b"
    r"|\b(?:several hundred|hundreds of|dozens of|\d+|many|a few|several)\s+(?:\w+\s+){0,2}(?:a|per)\s+(?P<runit>day|hour|week|minute)\b"
    r"|\bby the (?P<byunit>minute|hour|second)\b|\bby lunchtime\b|\bsecond by second\b"
    r"|\b(?:from )?(?:one )?(?P<x2x>second|minute|hour|day|week|month)(?: to | by )(?:the next )?(?:second|minute|hour|day|week|month)\b"
    r"|\bfrom one (?P<x2n>second|minute|hour|day|week|month) to the next\b"
    r"|\b(?:with|after|on) (?:every|each) (?:[\w-]+\s+)?(?P<evunit>release|deploy(?:ment)?|sprint|build|merge|commit|push)\b", re.I)
_ZH_UNIT_DAYS = {"quarter": 91, "month": 30, "week": 7, "day": 1, "year": 365, "sprint": 14, "release": 14,
                 "hour": 1 / 24, "秒": 1 / 86400, "分钟": 1 / 1440, "小时": 1 / 24, "天": 1, "日": 1, "早": 1, "晚": 1,
                 "工作日": 1, "周": 7, "星期": 7, "礼拜": 7, "月": 30, "季度": 91, "季": 91, "半年": 182,
                 "年": 365, "学期": 180, "版本": 14}
_ZH_PERIOD = re.compile(
    r"(?:每|隔)(?P<n>[一二两三四五六七八九十几\d]+)?(?:个)?\s*(?P<unit>秒|分钟|小时|工作日|天|日|早|晚|周|星期|礼拜|月|季度|季|半年|年|学期|版本|"
    r"(?<![A-Za-z])(?:quarter|month|week|day|year|sprint|release|hour)(?![A-Za-z]))"
    r"|(?P<daily>天天|日日|日更|周更|月更|隔三差五|三天两头|动不动)"
    r"|(?P<span>一天|一周|一星期|一个?月|一季度|一年|半年|一年之?内)(?:要|会|都|里|内|之内)?[^,，。;；]{0,6}?"
    r"(?P<times>好几|几|多|两|三|四|五|一两|一|[\d]+)次"
    r"|(?P<every2>两周|两个?月|两年|几天|几周|几年)一(?:更|次|版|改)"
    r"|(?P<once>一天|一周|一个?月|一季度?|半年|一年)(?P<k>一|两|一两)(?:改|变|更|调|次|版|修)"
    r"|(?P<rate>秒级|实时|盘中|随时|时刻|分分钟|每时每刻|时时刻刻)", re.I)
_ZH_N = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
         "十": 10, "几": 3}
_CHANGE_EN = re.compile(
    r"\b(?:updat\w*|chang\w*|revis\w*|edit\w*|new|add(?:s|ed|ing)?|refresh\w*|publish\w*|releas\w*|ship\w*|deploy\w*|"
    r"merge\w*|commit\w*|land(?:s|ing)?|arriv\w*|come out|comes out|expir\w*|rotat\w*|replac\w*|launch\w*|amend\w*|"
    r"evolv\w*|mov(?:e|es|ing)|differ\w*|different|out of date|stale|trickl\w*|restat\w*|migrat\w*|adjust\w*|"
    r"fluctuat\w*|review\w*|rewrit\w*|re-?index\w*|sync\w*|ingest\w*|crawl\w*|scrap\w*|shift\w*|var(?:y|ies|ied|ying)|"
    r"swing\w*|grow\w*|sell(?:s|ing)? out|runs? out|reprice\w*|recalculat\w*|redo\w*|redone|rebuil\w*|regenerat\w*|"
    r"recomput\w*|re-?plan\w*|reset\w*|re-?run\w*|reshuffl\w*|reassign\w*)\b", re.I)
_CHANGE_ZH = re.compile(r"更新|发[^,，。]{0,3}版|一改|一变|一更|同步|抓取|入库|出新|新的|变|改|调整|修订|新增|上新|上架|下架|发布|下发|推(?!荐)|迭代|刷新|出台|上线|有新|是新的|提交|合并|发版|变更|涨|跌|换|(?<![参增])加(?!班|工|速|密|油|盟|入我)|增|(?<![强协空音语格基曲色])调(?!查|研|用|取|试|度|侃|皮|子|性|调)|浮动|波动|补货|售罄|卖完")
_INPUT_ITEMS = re.compile(
    r"\b(?:tickets?|emails?|calls?|requests?|messages?|queries|questions?|reviews?|orders?|claims?|applications?|"
    r"submissions?|conversations?|chats?|enquir\w+|inquir\w+|users?|visitors|generations?)\b"
    r"|工单|邮件|来电|电话|咨询|请求|评论|评价|订单|申请|消息|调用|用户|访问", re.I)
_KNOWLEDGE_ITEMS = re.compile(
    r"\b(?:docs?|documents?|documentation|pages?|policy|policies|rules?|prices?|pricing|rates?|catalog\w*|inventory|"
    r"stock|schemas?|tables?|filings?|content|articles?|manuals?|handbooks?|regulations?|data|information|news|"
    r"products?|plans?|code|repo\w*|entries|deadlines?|events?|calendar|schedules?|terms|glossary|lore|routes?|rosters?|"
    r"shifts?|timetables?|planograms?|assignments?|menus?|availability)\b"
    r"|文档|手册|制度|政策|规则|价格|库存|数据|信息|内容|表结构|条款|公告|通知|商品|产品|版本|代码|术语", re.I)


def _zh_count(s: Optional[str]) -> float:
    if not s:
        return 1
    if s.isdigit():
        return float(s)
    v = _zh_value(s) if any(c in s for c in "十百千万") else None
    if v:
        return v
    if s in ("好几", "几", "多"):
        return 6.0  # "一年调整好几次": frequent enough not to call it static
    return float(_ZH_N.get(s[-1], 1))


def period_days(text: str) -> Optional[float]:
    """The shortest period (in days) a clause's time words give, if it has any."""
    best: Optional[float] = None

    def take(d: float) -> None:
        nonlocal best
        best = d if best is None else min(best, d)

    for m in _EN_PERIOD.finditer(text):
        if m.group("unit"):
            n = _EN_COUNT.get((m.group("n") or "").lower(), None)
            if n is None:
                n = float(m.group("n")) if (m.group("n") or "").isdigit() else 1
            take(_EN_UNIT_DAYS[m.group("unit").lower()] * n)
        elif m.group("adv"):
            take(_EN_ADV_DAYS[m.group("adv").lower().replace("-", "") if m.group("adv").lower().replace("-", "") in _EN_ADV_DAYS else m.group("adv").lower()])
        elif m.group("times"):
            t = m.group("times").lower()
            k = {"once": 1, "twice": 2, "one times": 1, "two times": 2, "three times": 3, "four times": 4,
                 "five times": 5}.get(t)
            if k is None:
                k = float(t.split()[0]) if t.split()[0].isdigit() else 6
            take(_EN_UNIT_DAYS[m.group("tunit").lower()] / k)
        elif m.group("runit"):
            take(_EN_UNIT_DAYS[m.group("runit").lower()] / 10)
        elif m.group("evunit"):
            take(7)
        elif m.group("x2x") or m.group("x2n"):
            take(_EN_UNIT_DAYS[(m.group("x2x") or m.group("x2n")).lower()])
        elif m.group("byunit"):
            take(_EN_UNIT_DAYS[m.group("byunit").lower()])
        else:
            take(0.5)
    for m in _ZH_PERIOD.finditer(text):
        if m.group("unit"):
            take(_ZH_UNIT_DAYS[m.group("unit").lower()] * _zh_count(m.group("n")))
        elif m.group("daily"):
            take({"天天": 1, "日日": 1, "日更": 1, "周更": 7, "月更": 30, "隔三差五": 4, "三天两头": 3,
                  "动不动": 3}[m.group("daily")])
        elif m.group("span"):
            span = m.group("span")
            days = 365 if "年" in span and "半" not in span else 182 if "半年" in span else 91 if "季" in span \
                else 30 if "月" in span else 7 if ("周" in span or "星期" in span) else 1
            take(days / max(1.0, _zh_count(m.group("times"))))
        elif m.group("every2"):
            e = m.group("every2")
            unit = 1 if "天" in e else 7 if "周" in e else 30 if "月" in e else 365
            take(unit * (3 if "几" in e else 2))
        elif m.group("once"):
            o = m.group("once")
            unit = 365 if o == "一年" else 182 if o == "半年" else 91 if "季" in o else 30 if "月" in o else 7 if "周" in o else 1
            take(unit / {"一": 1, "两": 2, "一两": 1.5}[m.group("k")])
        elif m.group("rate"):
            take(0.01)
    return best


def _dynamics_hit(clause: str, neighbour: str = "", previous: str = "") -> Optional[str]:
    """'yes'/'no' for data dynamics from time words with something changing, else None.

    The changing thing may sit in the next clause ("我们每周发一次版,文档跟着改")."""
    days = period_days(clause)
    if days is None:
        return None
    if len(clause) > 140:
        # a run-on clause (a voice memo without punctuation): judge the words around the time word
        m = _EN_PERIOD.search(clause) or _ZH_PERIOD.search(clause)
        if m:
            clause = clause[max(0, m.start() - 50):m.end() + 50]
            neighbour = previous = ""
    zh = bool(_CJK.search(clause))
    both = previous + " " + clause + " " + neighbour
    change = _CHANGE_ZH.search(both) if zh else _CHANGE_EN.search(both)
    if not change and zh:
        change = _CHANGE_EN.search(both)
    if not change:
        return None
    if _INPUT_ITEMS.search(clause) and not _KNOWLEDGE_ITEMS.search(clause):
        return None  # "new tickets arrive every day" is input volume, not changing knowledge
    if days <= DYNAMIC_DAYS:
        return "yes"
    if days >= STATIC_DAYS:
        return "no"
    return None


# ----------------------------------------------------------------------------- extraction

@dataclass
class Hit:
    dimension: str
    value: str
    strength: str
    clause: Clause
    order: int
    quantity: Optional[int] = None


@dataclass
class Extraction:
    """A profile plus what the extractor noticed on the way."""

    profile: Profile
    contradictions: list[str] = field(default_factory=list)
    ignored_instructions: list[str] = field(default_factory=list)
    on_topic: bool = True
    hits: list[Hit] = field(default_factory=list)


# words that make a negated topic mean "no requirement" ("no special voice needed")
_NEED = re.compile(
    r"\b(?:need|needs|needed|require[sd]?|requirement|special|particular|specific|any|house|fixed|strict|custom|"
    r"set|care|cares|trying|try|change|changes|have|has|mind|matter|must|should|fancy|dedicated|requirements)\b"
    r"|不需要|不用|没有|无需|不要求|没什么|不必|特别|特殊|专门|固定|讲究|刻意|要求|改|必要", re.I)
_FABRICATE = re.compile(r"编造|捏造|伪造|杜撰|瞎编|胡编|\b(?:invent\w*|fabricat\w*|make (?:\w+ )?up|made[- ]up|hallucinat\w*)", re.I)
_NEG_WINDOW_EN = 30
_NEG_WINDOW_ZH = 12


def _negated(lex: _Lexicon, clause: str, start: int) -> bool:
    zh = bool(_CJK.search(clause[start:start + 4]))
    window = clause[max(0, start - (_NEG_WINDOW_ZH if zh else _NEG_WINDOW_EN)):start]
    return _has_negator(lex, window)


def _has_negator(lex: _Lexicon, text: str) -> bool:
    return bool(lex.negator.search(text))


def _cue_match(cue: _Compiled, c: Clause) -> Optional[re.Match]:
    m = cue.pattern.search(c.text)
    if not m:
        return None
    ctx = c.sentence if cue.scope == "sentence" else c.text
    if cue.requires is not None and not cue.requires.search(ctx):
        return None
    if cue.unless is not None and cue.unless.search(ctx):
        return None
    return m


def _clause_hits(lex: _Lexicon, c: Clause, order: int, neighbour: str = "", before: str = "",
                 carried: bool = False) -> list[Hit]:
    """Hits of one clause. `carried`: the clause continues a negated list ("not looking for
    legal research, citations or anything that has to be looked up")."""
    hits: list[Hit] = []
    text = c.text
    shadow = Clause("not " + text, c.start, c.sentence, c.end, c.sent_start, c.sent_index) if carried else c
    for dim, vals in lex.cues.items():
        found = False
        for cue in vals["no"]:
            if _cue_match(cue, shadow):
                hits.append(Hit(dim, "no", cue.strength, c, order))
                found = True
                break
        if found:
            continue
        for cue in vals["yes"]:
            m = _cue_match(cue, c)
            if not m:
                continue
            negated = cue.negation != "keep" and (carried or _negated(lex, text, m.start()))
            indifferent = cue.topic and lex.indifference is not None and bool(lex.indifference.search(text))
            if negated and dim != "hallucination_critical" and _FABRICATE.search(text):
                continue  # "不允许编造参考文献", "never invent sources": about hallucination, not this
            if negated and (cue.negation == "drop" or (cue.negation == "need" and not carried
                                                      and not _NEED.search(text))):
                # a negated hint ("not medical") says too little either way; "no jargon"
                # is a rule about style, not the absence of a style requirement
                continue
            if negated or indifferent:
                hits.append(Hit(dim, "no", "stated", c, order))
            else:
                hits.append(Hit(dim, "yes", cue.strength, c, order))
            break
    dd = _dynamics_hit(text, neighbour, before if before and before in c.sentence else "")
    if dd is not None and not any(h.dimension == "data_dynamics" and h.strength == "stated" for h in hits):
        hits = [h for h in hits if h.dimension != "data_dynamics"]
        hits.append(Hit("data_dynamics", dd, "stated", c, order))
    q = labelled_quantity(text, context=neighbour, before=before)
    if q is not None:
        hits = [h for h in hits if h.dimension != "labeled_data"]
        hits.append(Hit("labeled_data", "yes" if q >= PLENTY else "no", "stated", c, order, quantity=q))
    return hits


def _resolve(hits: list[Hit]) -> tuple[dict[str, DimensionValue], list[str]]:
    """Stated beats inferred; the later statement wins; stated yes and no in different
    sentences is a contradiction. Counts of examples: the largest stock decides."""
    values: dict[str, DimensionValue] = {}
    contradictions = []
    by_dim: dict[str, list[Hit]] = {}
    for h in hits:
        by_dim.setdefault(h.dimension, []).append(h)
    for dim, hs in by_dim.items():
        counts = [h for h in hs if h.quantity is not None]
        if counts:
            top = max(counts, key=lambda h: (h.quantity, h.order))
            hs = [h for h in hs if h.quantity is None] + [top]
        stated = [h for h in hs if h.strength == "stated"]
        pool = stated or hs
        if stated:
            last_per_sentence: dict[int, Hit] = {}
            for h in sorted(stated, key=lambda h: h.order):
                last_per_sentence[h.clause.sent_index] = h
            if {h.value for h in last_per_sentence.values()} == {"yes", "no"}:
                contradictions.append(dim)
        else:
            # several hints: the majority decides, ties go to the later one
            yes = sum(h.value == "yes" for h in pool)
            no = len(pool) - yes
            if yes != no:
                pool = [h for h in pool if h.value == ("yes" if yes > no else "no")]
        chosen = max(pool, key=lambda h: h.order)
        values[dim] = DimensionValue(value=chosen.value, evidence=_evidence(chosen.clause),
                                     source="stated" if chosen.strength == "stated" else "inferred")
    return values, contradictions


def _evidence(c: Clause) -> str:
    """The sentence holding the clause (a verbatim span of the input, at most 300 chars)."""
    s = c.sentence
    if len(s) <= 300:
        return s
    rel = max(0, c.start - c.sent_start)
    a = max(0, min(rel - 80, len(s) - 300))
    return s[a:a + 300].strip()


# a clause that only continues a list ("citations or anything that has to be looked up")
_LIST_CONT = re.compile(
    r"^(?!(?:we|i|it|they|you|he|she|our|the|this|that|there|but|so|and|then|which|who|because|since|if)\b)"
    r"[\w'’-]+(?:\s+[\w'’-]+){0,2}\s+(?:or|nor)\s", re.I)


def _flag(rx: Optional[re.Pattern], text: str) -> bool:
    return bool(rx is not None and rx.search(text))


# same-length repairs: typographic apostrophes and quotes, odd spaces, full-width ASCII
_SAME_LEN = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'", "\u201c": '"', "\u201d": '"',
                           "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u3000": " ",
                           **{chr(0xFF01 + i): chr(0x21 + i) for i in range(94)
                              if chr(0x21 + i).isalnum() or chr(0x21 + i) in "%+&/-"}})
_TOKEN = re.compile(r"(?<![\w'/])(?:[A-Za-z]+(?:/[A-Za-z]+)?/?)(?![\w'])")
# "有没有", "是不是", "能不能" ask a question and negate nothing: read as "是否有", ...
_A_NOT_A = re.compile(r"((?!动)[\u4e00-\u9fff])[不没]\1")  # "动不动" (all the time) is no question
_CONTRACTION = re.compile(r"^(?:do|does|did|is|are|was|were|have|has|had|should|would|could|must|need|ca|wo|ai)nt$", re.I)


def _normalise(text: str) -> tuple[str, Optional[list[int]]]:
    """The text with everyday slips repaired ("有没有" reads "是否有"), and (when its length changed) the offset in
    `text` of every character of the result. Curly apostrophes become straight ones
    ("don’t"), apostrophe-less contractions are restored ("doesnt"), chat shorthand is
    spelled out ("abt", "w/o") and a dropped or swapped letter in a word the cues rely on
    is put back ("evry", "anwsers"); nothing else is touched."""
    text = text.translate(_SAME_LEN)
    if "不" in text or "没" in text:
        text = _A_NOT_A.sub(lambda m: "是否" + m.group(1), text)  # same length
    lex = lexicon()
    pieces: list[tuple[int, int, str]] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        low = tok.lower()
        rep = lex.shorthand.get(low)
        if rep is None and "/" not in tok:
            if _CONTRACTION.match(low):
                rep = {"cant": "can't", "wont": "won't", "aint": "ain't"}.get(low, low[:-1] + "'t")
            elif len(low) >= 4:
                rep = lex.misspelt.get(low)
        if rep is None or rep == low:
            continue
        if tok.isupper() and len(tok) > 1:
            rep = rep.upper()
        elif tok[0].isupper():
            rep = rep[0].upper() + rep[1:]
        pieces.append((m.start(), m.end(), rep))
    if not pieces:
        return text, None
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    for a, b, rep in pieces:
        out.append(text[pos:a])
        offsets.extend(range(pos, a))
        out.append(rep)
        offsets.extend(a + min(k, b - a - 1) for k in range(len(rep)))
        pos = b
    out.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    offsets.append(len(text))
    return "".join(out), offsets


def extract(text: str) -> Extraction:
    """Read a whole description into a profile (dimensions it is silent on stay unknown).

    Everyday slips are repaired first (_normalise); evidence is always quoted from `text`."""
    norm, offsets = _normalise(text)
    ex = _extract(norm)
    if norm != text:
        for dim, dv in ex.profile.known().items():
            k = norm.find(dv.evidence) if dv.evidence else -1
            if k >= 0:
                if offsets is None:
                    dv.evidence = text[k:k + len(dv.evidence)]
                else:
                    dv.evidence = text[offsets[k]:offsets[k + len(dv.evidence) - 1] + 1]
    return ex


_BULLET = re.compile(r"^\s*(?:[-*•·▪●◦–]|\d{1,2}[.)、]|[（(]\d{1,2}[)）]|[a-zA-Z][.)]\s)")
_LABEL_HEAD = re.compile(r"^\s*(?:#+\s*|\*\*)?([^:：]{1,40}?)\**\s*[:：]")
_LATER = re.compile(
    r"\b(?:nice[- ]to[- ]haves?|later|future|phase (?:2|two|ii)|v2|stretch(?: goals?)?|roadmap|someday|eventually|"
    r"optional|maybe|wishlist|wish list|parking lot)\b|以后|后期|二期|将来|未来|远期|可选|锦上添花|暂缓", re.I)


def _label_scope(lex: _Lexicon, sentence: str) -> tuple[Optional[str], bool]:
    """What a label opening a sentence does to what it introduces: ("neg", ...) for
    "Non-goals:", "Out of scope:", "不做:"; ("later", ...) for "Nice to have:", "二期:".
    The flag says whether the label stands alone (a heading over the bullets below)."""
    m = _LABEL_HEAD.match(sentence)
    if not m:
        return None, False
    label = m.group(1).strip()
    if not label or (len(label.split()) > 5 if not _CJK.search(label) else len(label) > 10):
        return None, False
    alone = not sentence[m.end():].strip()
    if _has_negator(lex, label):
        return "neg", alone
    if _LATER.search(label):
        return "later", alone
    return None, alone


def _extract(text: str) -> Extraction:
    lex = lexicon()
    hits: list[Hit] = []
    ignored: list[str] = []
    kept: list[str] = []
    cls = clauses(text)
    dropped = set()
    for i, c in enumerate(cls):
        if any(p.search(c.text) for p in lex.instructions):
            ignored.append(c.text)
            dropped.add(i)
    other = False
    hypo: list[Hit] = []
    prev_sent = -1
    heading: Optional[str] = None  # scope of a heading over the bullets that follow it
    inline: Optional[str] = None  # scope of a label over the rest of its sentence
    for i, c in enumerate(cls):
        if c.sent_index != prev_sent:
            other = False
            hypo = []
            prev_sent = c.sent_index
            if not (heading and _BULLET.match(c.sentence)):
                heading = None
            scope, alone = _label_scope(lex, c.sentence)
            inline = scope if scope and not alone else None
            if alone:
                heading = scope
        scope = heading or inline
        if scope == "later":
            continue  # "Nice to have: a brand voice" is not a requirement
        if i in dropped:
            continue  # a clause that speaks to the advisor is not evidence
        if _flag(lex.third_party, c.text):
            other = True
            continue
        if other:
            if _flag(lex.first_person, c.text):
                other = False
            elif _flag(lex.relative, c.text) or not _flag(lex.first_person, c.text):
                continue
        if _flag(lex.hypothetical, c.text):
            hypo = [h for h in _clause_hits(lex, c, i) if h.value == "yes"]
            continue
        if hypo and _flag(lex.bare_negation, c.text):
            # "if we had a big labelled set we'd train, but we don't": a plain no
            for h in hypo:
                hits.append(Hit(h.dimension, "no", "stated", c, i))
            hypo = []
            continue
        kept.append(c.text)
        nxt = cls[i + 1].text if i + 1 < len(cls) and cls[i + 1].sent_index == c.sent_index else ""
        prv = cls[i - 1].text if i > 0 else ""
        carried = scope == "neg" or bool(i > 0 and cls[i - 1].sent_index == c.sent_index
                                         and _has_negator(lex, prv) and _LIST_CONT.match(c.text))
        hits.extend(_clause_hits(lex, c, i, nxt, prv, carried))
    values, contradictions = _resolve(hits)
    core = [d for d in values if d in CORE_DIMENSIONS]
    on_topic = bool(core) or any(p.search("\n".join(kept)) for p in lex.on_topic)
    profile = Profile(**values)
    return Extraction(profile, contradictions, ignored, on_topic, hits)


# ----------------------------------------------------------------------------- answers

_YES = re.compile(r"^\W*(?:yes|yeah|yep|yup|ya|sure|correct|right|definitely|absolutely|of course|indeed|true|"
                  r"i think so|we do|it does|they do|it is|they are|we have|we need|very much|a lot|lots|plenty|"
                  r"mostly|certainly|affirmative|totally|ok|okay|"
                  r"是的?|对的?|需要|要的?|有的?|会的?|当然|没错|嗯+|是啊|对啊|必须|很多|大量|肯定|确实|有很多|挺多|不少|可以|好的?)"
                  r"(?![a-z])", re.I)
_NO = re.compile(r"^\W*(?:no|nope|nah|not really|none|never|not at all|we don't|we do not|it doesn't|it does not|"
                 r"they don't|not much|hardly|barely|negative|no need|nothing|zero|"
                 r"不是|不需要|不用|不要|没有|没|无|否|不会|不太|不怎么|并不|很少|几乎没有|不必|不)(?![a-z])", re.I)
UNKNOWN_ANSWER = re.compile(
    r"(?:don'?t know|do not know|not sure|unsure|no idea|dunno|can'?t say|cannot say|hard to say|maybe|perhaps|"
    r"it depends|depends|\btbd\b|not decided|haven'?t decided|undecided|unknown|no comment|rather not say|"
    r"^\W*(?:skip|pass|next|n/?a|\?+|-+)\W*$|"
    r"不知道|不清楚|不确定|不太清楚|不太确定|说不好|不好说|说不准|也许|可能吧|看情况|待定|还没定|没想好|跳过|略过|下一个|下一题|不方便说)",
    re.I)
_DD_ANSWER_YES = re.compile(r"\b(?:often|frequently|constantly|all the time|a lot|regularly|changes?|dynamic|fast)\b|经常|频繁|很快|一直|常常|不断", re.I)
_DD_ANSWER_NO = re.compile(r"\b(?:rarely|seldom|static|stable|fixed|hardly ever|almost never)\b|很少|稳定|固定|基本不|几乎不", re.I)


def _asked_value(answer: str, asked: str) -> Optional[str]:
    """What a short answer says about the asked dimension beyond the cue lexicon."""
    if asked == "labeled_data":
        q = labelled_quantity(answer, bare=True)
        if q is not None:
            return "yes" if q >= PLENTY else "no"  # "about 300", "maybe 40k", "两万条"
    if asked == "data_dynamics":
        days = period_days(answer)
        if days is not None and days <= DYNAMIC_DAYS:
            return "yes"
        if days is not None and days >= STATIC_DAYS:
            return "no"
    if UNKNOWN_ANSWER.search(answer):
        return None
    if asked == "data_dynamics":
        if _DD_ANSWER_NO.search(answer):
            return "no"
        if _DD_ANSWER_YES.search(answer) and not _NO.match(answer):
            return "yes"
    if _NO.match(answer):
        return "no"
    if _YES.match(answer):
        return "yes"
    return None


def _leading_word_only(answer: str) -> bool:
    """A bare yes/no word that runs straight into more CJK text (a verb, not an answer)."""
    m = _YES.match(answer) or _NO.match(answer)
    return bool(m) and m.end() < len(answer) and bool(re.match(r"[\u4e00-\u9fff]", answer[m.end()]))


def read_answer(answer: str, asked: Optional[str]) -> Extraction:
    """Read an answer to the question about `asked`: cues first, then a bare yes or no.

    "yes"/"是的" and "no"/"没有" settle `asked`; a number settles labelled data ("about 300"
    is not plenty); time words settle data dynamics ("weekly", "每天都更新"); "don't know",
    "skip", "跳过" leave it unknown.
    """
    ex = extract(answer)
    if asked is None or asked not in ALL_DIMENSIONS:
        return ex
    value = _asked_value(answer, asked)
    if value and _leading_word_only(answer) and any(d != asked for d in ex.profile.known()):
        # "要符合我们公司的话术风格" answers another question: 要 there is a verb, not a yes.
        value = None
    if value is None and UNKNOWN_ANSWER.search(answer):
        setattr(ex.profile, asked, DimensionValue())  # "not sure, maybe": say nothing about it
        return ex
    if ex.profile.get(asked).value == "unknown" and value:
        setattr(ex.profile, asked, DimensionValue(value=value, evidence=answer.strip()[:300], source="stated"))
        ex.on_topic = True
    return ex


def merge(base: Profile, update: Profile) -> Profile:
    """A profile with every known value of `update` laid over `base`."""
    data = base.model_copy(deep=True)
    for dim, dv in update.known().items():
        setattr(data, dim, dv.model_copy())
    return data


def core_known(profile: Profile) -> list[str]:
    return [d for d in CORE_DIMENSIONS if profile.get(d).value != "unknown"]
