"""The learned reader: clauses, roles and facts from heads on the bundled encoder, plus precise rules.

1. The text is cut into clauses (agent/reading/clauses.py); clauses addressed to the advisor
   (rule R-INSTR) are dropped.
2. Each clause is encoded once; the heads give, for every dimension, none / yes / no, and the
   role of what the clause mentions. A clause about someone else, a hypothetical or the
   advisor says nothing about the project.
3. Where a precise rule applies to a clause the heads say speaks to labelled data (R-COUNT) or
   to change (R-PERIOD), the rule gives the value; within one sentence the later of two opposite
   statements wins ("no special tone — well, it must sound like us").
4. Per dimension, the clause scores are turned into calibrated probabilities of unknown / yes /
   no by a calibrator fitted on descriptions the heads never saw; below its threshold a
   dimension stays unknown.
5. An interview answer is read against the question asked (rule R-ANSWER): a bare "yes" answers
   only that question, a number answers the labelled-data question, a period the change one.
"""
from __future__ import annotations

from functools import cached_property
from typing import Optional

import numpy as np

from ..types import ALL_DIMENSIONS, CORE_DIMENSIONS, ClauseReading, DimensionValue, Profile, Reading
from . import rules
from .clauses import Span, clauses, sentence_of
from .encoder import ClauseEncoder
from .heads import Heads, shipped

_NOT_OURS = ("other", "hypo", "instruction")
LD, DD = ALL_DIMENSIONS.index("labeled_data"), ALL_DIMENSIONS.index("data_dynamics")
MENTION = 0.5  # a clause speaks to a dimension when its none-probability falls below this
STATED = 0.5  # a clause that speaks to the dimension (mention above this) states its value
CLASH = 0.85  # yes and no both this sure, in different sentences, is a contradiction
RULE_P = 0.97  # probability given to a value a precise rule settled


def aggregate_features(p: np.ndarray, text_p: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-dimension description features from clause probabilities (n, dims, 3) -> (dims, 5 or 7).

    With a description head, its yes and no probabilities for the whole text are the last two.
    """
    dims = p.shape[1] if p.ndim == 3 else len(ALL_DIMENSIONS)
    if len(p) == 0:
        base = np.tile(np.array([0, 0, 0, 0, 1], dtype=np.float32), (dims, 1))
    else:
        yes, no = p[:, :, 1], p[:, :, 2]
        base = np.stack([yes.max(0), no.max(0), np.minimum(yes.sum(0), 3) / 3, np.minimum(no.sum(0), 3) / 3,
                         np.ones(p.shape[1], dtype=np.float32)], axis=1).astype(np.float32)
    if text_p is None:
        return base
    return np.hstack([base, text_p[:, 1:]]).astype(np.float32)


def calibrate(cal: dict[str, np.ndarray], agg: np.ndarray, dims=ALL_DIMENSIONS) -> np.ndarray:
    """(dims, 3) probabilities of unknown / yes / no from aggregate features and fitted calibrators."""
    out = np.zeros((len(dims), 3), dtype=np.float32)
    for i, d in enumerate(dims):
        z = agg[i] @ cal[d]
        z = np.exp(z - z.max())
        out[i] = z / z.sum()
    return out


def clause_probabilities(heads: Heads, vecs: np.ndarray, spans: list[Span], text: str
                         ) -> tuple[np.ndarray, np.ndarray, list[Optional[str]]]:
    """Clause probabilities after role gating, the precise rules and later-wins; the rule id per clause."""
    dim_p, role_p = heads.read_clauses(vecs, [s.text for s in spans]) if len(vecs) else (np.zeros((0, len(ALL_DIMENSIONS), 3)),
                                                                      np.zeros((0, len(heads.roles))))
    dim_p = dim_p.copy()
    fired: list[Optional[str]] = [None] * len(spans)
    for i, s in enumerate(spans):
        role = heads.roles[int(role_p[i].argmax())]
        if role in _NOT_OURS and role_p[i].max() > 0.5:
            dim_p[i, :, 0], dim_p[i, :, 1:] = 1.0, 0.0
            continue
        for col, value in ((LD, _count_value(s.text)), (DD, rules.dynamics_value(s.text))):
            mention = 1.0 - dim_p[i, col, 0]
            if value and mention >= MENTION:
                dim_p[i, col] = (1 - mention, mention, 0.0) if value == "yes" else (1 - mention, 0.0, mention)
                fired[i] = rules.R_COUNT.id if col == LD else rules.R_PERIOD.id
    _later_wins(dim_p, spans, text)
    return dim_p, role_p, fired


def _count_value(clause: str) -> Optional[str]:
    n = rules.labelled_count(clause)
    if n is None:
        return None
    negated = bool(rules._NEGATION.search(clause))
    return "no" if negated or n < rules.PLENTY else "yes"


def _later_wins(p: np.ndarray, spans: list[Span], text: str) -> None:
    """Within one sentence, a later statement overrides an opposite earlier one."""
    sent = [sentence_of(text, s) for s in spans]
    last: dict[tuple, int] = {}  # (sentence, dimension) -> the value said last in it (1 yes, 2 no)
    for i in range(len(spans) - 1, -1, -1):
        for d in np.nonzero(p[i, :, 0] < MENTION)[0]:
            v = int(p[i, d, 1:].argmax()) + 1
            key = (sent[i], int(d))
            if last.setdefault(key, v) != v:
                p[i, d] = (1.0, 0.0, 0.0)


class LearnedReader:
    """Reads text with the shipped heads (or given ones) over the bundled encoder."""

    name = "learned"

    def __init__(self, heads: Optional[Heads] = None, encoder: Optional[ClauseEncoder] = None):
        self._heads = heads
        self._encoder = encoder

    @cached_property
    def heads(self) -> Heads:
        return self._heads or shipped()

    @cached_property
    def encoder(self) -> ClauseEncoder:
        return self._encoder or ClauseEncoder()

    def read(self, text: str, asked: Optional[str] = None, lang: Optional[str] = None) -> Reading:
        """A Reading of `text`; with `asked`, read as the answer to that question."""
        body = text
        bare = rules.bare_answer(text) if asked else None
        if bare is not None:
            body = rules.answer_rest(text)
        shift = len(text) - len(body)  # where body starts in text
        dropped = [s for s in clauses(body) if rules.is_instruction(s.text)]
        if dropped:  # read the text as if they were never written (blanked: offsets stay true)
            body = _blank(body, dropped)
        spans = clauses(body)
        vecs = self.encoder.encode([s.text for s in spans]) if spans else np.zeros((0, self.encoder.dim), np.float32)
        dim_p, role_p, fired = clause_probabilities(self.heads, vecs, spans, body)
        text_p = self.heads.read_text(vecs, body)
        probs = calibrate(self.heads.cal, aggregate_features(dim_p, text_p))
        profile = Profile()
        contradictions: list[str] = []
        for j, dim in enumerate(ALL_DIMENSIONS):
            k = int(probs[j].argmax())
            if k == 0 or not spans:
                continue
            col = dim_p[:, j, k] if len(spans) else np.zeros(0)
            i = int(col.argmax())
            source = "stated" if col[i] >= STATED else "inferred"
            setattr(profile, dim, DimensionValue(value=("yes", "no")[k - 1], evidence=spans[i].text,
                                                 source=source, probability=round(float(probs[j, k]), 3)))
            other = dim_p[:, j, 3 - k] if len(spans) else np.zeros(0)
            if col[i] >= CLASH and len(other) and other.max() >= CLASH \
                    and sentence_of(body, spans[i]) != sentence_of(body, spans[int(other.argmax())]):
                contradictions.append(dim)
        for j, dim in enumerate(ALL_DIMENSIONS):
            if profile.get(dim).value == "unknown":
                profile.get(dim).probability = round(float(probs[j, 0]), 3)
        if asked:
            self._answer(profile, text, body, asked, bare)
        cl = [ClauseReading(text=s.text, start=s.start + shift, end=s.end + shift,
                            role=self.heads.roles[int(role_p[i].argmax())],
                            facts={d: ("yes", "no")[int(dim_p[i, j, 1:].argmax())] for j, d in enumerate(ALL_DIMENSIONS)
                                   if dim_p[i, j, 0] < MENTION},
                            probabilities={d: round(float(1 - dim_p[i, j, 0]), 3) for j, d in enumerate(ALL_DIMENSIONS)
                                           if dim_p[i, j, 0] < MENTION},
                            rule=fired[i]) for i, s in enumerate(spans)]
        on_topic = bool(any(c.facts for c in cl)) or any(profile.get(d).value != "unknown" for d in CORE_DIMENSIONS)
        dists = {d: {"unknown": float(probs[j, 0]), "yes": float(probs[j, 1]), "no": float(probs[j, 2])}
                 for j, d in enumerate(ALL_DIMENSIONS)}
        if asked and profile.get(asked).probability == RULE_P:
            v = profile.get(asked).value
            dists[asked] = {"unknown": 0.0, "yes": 0.0, "no": 0.0, v: 1.0}
        return Reading(profile=profile, contradictions=contradictions, on_topic=on_topic,
                       instructions_dropped=[s.text for s in dropped], clauses=cl, distributions=dists,
                       answer=bare if asked else None, reader=self.name)

    def _answer(self, profile: Profile, text: str, body: str, asked: str, bare: Optional[str]) -> None:
        """Settle the asked dimension from a bare word, a count or a period in the answer."""
        value = None
        if asked == "labeled_data":  # "maybe 300", "no, only 300", "yes, about 40k": the count decides
            n = rules.labelled_count(text)
            if n is None:
                n = _bare_number(text)
            if n is not None:
                value = "yes" if n >= rules.PLENTY else "no"  # R-COUNT
        elif asked == "data_dynamics":
            value = rules.dynamics_value(text)  # R-PERIOD
        if value is None and bare in ("yes", "no"):
            value = bare  # R-ANSWER
        if bare == "unknown" and value is None:
            setattr(profile, asked, DimensionValue())
            return
        if value:
            setattr(profile, asked, DimensionValue(value=value, evidence=text.strip()[:300], source="stated",
                                                   probability=RULE_P))


def _blank(text: str, spans: list[Span]) -> str:
    """`text` with the given clauses blanked out, same length (words to the advisor are not the project's)."""
    for sp in spans:
        text = text[:sp.start] + " " * (sp.end - sp.start) + text[sp.end:]
    return text.rstrip()  # a text that ended with them ends where the project's words end


def _bare_number(text: str) -> Optional[int]:
    vals = [q.value for q in rules.numbers(text)]
    return int(max(vals)) if vals else None
