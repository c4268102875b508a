"""The eval suite: case loading, metrics, metamorphic tables, the simulated user, the gate.

Fast tests use small synthetic inputs and a scripted fake advisor (no index, no model).
The slow test runs the real offline suite against the committed baseline: the CI gate.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.errors import UserError
from agent.article.source import load_article
from agent.deciding.policy import decide
from agent.types import (Citation, DimensionValue, Exchange, GoldenCase, InterviewState, Profile, Reason,
                         Recommendation, Turn)
from evals import baselines, metamorphic, metrics, runner, simulate
from evals.cases import default_suite_path, load_suite
from evals.report import write_report

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "evals" / "baseline" / "offline.json"
fast = pytest.mark.no_index_seed  # these tests need no index in ADVISOR_HOME


def sections() -> set[str]:
    return set(load_article().by_id)


GOOD = """\
suite: test.suite.v1
cases:
  - id: en.wiki
    lang: en
    description: A bot over our wiki that changes every week.
    expected:
      decision: rag
      profile: {external_knowledge: "yes"}
      must_cite: [considerations.external-knowledge]
"""
BAD_DECISION = GOOD + """\
  - id: en.bad-decision
    lang: en
    description: Something.
    expected:
      decision: retrieval
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- case files

@fast
def test_malformed_case_names_the_file_the_case_and_the_field(tmp_path):
    path = write(tmp_path, "cases.yaml", BAD_DECISION)
    with pytest.raises(UserError) as exc:
        load_suite(path, known_sections=sections())
    msg = str(exc.value)
    assert str(path) in msg and "#2 (en.bad-decision)" in msg and "expected.decision" in msg
    assert "retrieval" in msg and "--keep-going" in msg and "\n" not in msg


@fast
def test_keep_going_skips_the_malformed_case_and_keeps_the_rest(tmp_path):
    loaded = load_suite(write(tmp_path, "cases.yaml", BAD_DECISION), keep_going=True, known_sections=sections())
    assert [c.id for c in loaded.cases] == ["en.wiki"]
    assert len(loaded.problems) == 1 and loaded.problems[0].field == "expected.decision"


@fast
@pytest.mark.parametrize("case, where, field", [
    ("  - lang: en\n    description: x\n    expected: {decision: rag}\n", "#2", "id"),
    ("  - id: en.typo\n    lang: en\n    description: x\n    expectd: {decision: rag}\n", "#2 (en.typo)", "expectd"),
    ("  - id: en.dim\n    lang: en\n    description: x\n    expected: {decision: rag, profile: {vibes: \"yes\"}}\n",
     "#2 (en.dim)", "expected.profile"),
    ("  - id: en.cite\n    lang: en\n    description: x\n    expected: {decision: rag, must_cite: [no.such.section]}\n",
     "#2 (en.cite)", "expected.must_cite"),
    ("  - id: en.wiki\n    lang: en\n    description: x\n    expected: {decision: rag}\n", "(en.wiki)", "id"),
])
def test_each_kind_of_problem_is_located(tmp_path, case, where, field):
    path = write(tmp_path, "cases.yaml", GOOD + case)
    with pytest.raises(UserError) as exc:
        load_suite(path, known_sections=sections())
    assert f"case {where}" in str(exc.value) and f"field {field}" in str(exc.value)


@fast
def test_a_file_that_is_not_yaml_is_named_with_its_line(tmp_path):
    good = write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "suite: x\ncases: [\n  - id: {\n")
    with pytest.raises(UserError, match=r"b\.yaml: not valid YAML at line \d+"):
        load_suite(tmp_path, known_sections=sections())
    loaded = load_suite(tmp_path, keep_going=True, known_sections=sections())
    assert loaded.files == [good, tmp_path / "b.yaml"] and len(loaded.cases) == 1


@fast
def test_a_folder_runs_every_yaml_file_in_it(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD.replace("test.suite.v1", "other.v1").replace("en.wiki", "en.wiki2"))
    write(tmp_path, "notes.txt", "not a case file")
    loaded = load_suite(tmp_path, known_sections=sections())
    assert [c.id for c in loaded.cases] == ["en.wiki", "en.wiki2"] and loaded.name == "test.suite.v1+other.v1"


@fast
def test_the_bundled_suite_is_found_through_the_package_and_is_valid():
    loaded = load_suite(None, known_sections=sections())
    assert default_suite_path().name == "advisor.golden.v1.yaml"
    assert loaded.name == "advisor.golden.v1" and len(loaded.cases) == 97 and not loaded.problems


@fast
def test_a_malformed_suite_stops_the_command_before_anything_runs(tmp_path, monkeypatch):
    from agent.settings import Settings

    def boom(*a, **k):
        raise AssertionError("evaluate must not run")

    monkeypatch.setattr(runner, "evaluate", boom)
    with pytest.raises(UserError, match="expected.decision"):
        runner.run_eval(Settings.from_env(), suite=write(tmp_path, "c.yaml", BAD_DECISION), engine="offline")
    assert not (Settings.from_env().home / "index").exists()


# --------------------------------------------------------------------------- metrics

@fast
def test_confusion_matrix_accuracy_and_per_class():
    labels = ("rag", "fine-tuning", "hybrid")
    gold = ["rag", "rag", "hybrid", "fine-tuning"]
    pred = ["rag", "hybrid", "hybrid", "rag"]
    m = metrics.confusion_matrix(gold, pred, labels)
    assert m == [[1, 0, 1], [1, 0, 0], [0, 0, 1]]
    assert metrics.accuracy(gold, pred) == 0.5
    pc = metrics.per_class(m, labels)
    assert pc["rag"] == {"support": 2, "predicted": 2, "precision": 0.5, "recall": 0.5}
    assert pc["fine-tuning"]["precision"] is None and pc["fine-tuning"]["recall"] == 0.0


@fast
def test_citation_precision_and_recall_count_parents_and_children_as_relevant():
    parents = {"a": None, "a.x": "a", "a.x.1": "a.x", "b": None}
    # must_cite a.x: cited a.x (hit), a (its parent: relevant), a.x.1 (its child: relevant), b (not).
    p, r = metrics.citation_precision_recall(["a.x", "a", "a.x.1", "b"], ["a.x"], parents)
    assert (p, r) == (0.75, 1.0)
    # Recall is exact: citing only the parent does not recall the must_cite id.
    assert metrics.citation_precision_recall(["a"], ["a.x", "b"], parents) == (1.0, 0.0)
    assert metrics.citation_precision_recall([], ["a"], parents) == (None, 0.0)
    assert metrics.citation_precision_recall(["a"], [], parents) == (None, None)


@fast
def test_dimension_accuracy_counts_assumed_values_as_unknown():
    profile = Profile(external_knowledge=DimensionValue(value="yes", source="stated"),
                      model_adaptation=DimensionValue(value="no", source="assumed"))
    read = metrics.read_values(profile)
    assert read["external_knowledge"] == "yes" and read["model_adaptation"] == "unknown"
    acc = metrics.dimension_accuracy([({"external_knowledge": "yes", "model_adaptation": "no"}, read),
                                      ({"external_knowledge": "no"}, read)])
    assert acc["external_knowledge"] == {"correct": 1, "n": 2, "accuracy": 0.5}
    assert acc["model_adaptation"]["accuracy"] == 0.0
    assert list(acc) == ["external_knowledge", "model_adaptation"]
    assert metrics.pooled_accuracy(acc) == pytest.approx(1 / 3)


@fast
def test_percentile_is_nearest_rank():
    assert metrics.percentile([5, 1, 3, 2, 4], 50) == 3
    assert metrics.percentile(list(range(1, 101)), 95) == 95
    assert metrics.percentile([], 50) is None


@fast
def test_majority_label_breaks_ties_by_decision_order():
    assert baselines.majority_label(["hybrid", "rag", "rag", "hybrid"]) == "rag"


# --------------------------------------------------------------------------- metamorphic

CANONICAL = {  # a minimal stated profile for each decision
    "rag": {"external_knowledge": "yes"},
    "fine-tuning": {"model_adaptation": "yes"},
    "hybrid": {"external_knowledge": "yes", "model_adaptation": "yes"},
    "prompting": {"model_adaptation": "no"},  # nothing known at all is undecided
}


def _profile(values: dict) -> Profile:
    return Profile(**{d: DimensionValue(value=v, source="stated") for d, v in values.items()})


@fast
@pytest.mark.parametrize("t", metamorphic.TRANSFORMS, ids=lambda t: t.id)
def test_each_transform_table_follows_the_policy(t):
    for decision, values in CANONICAL.items():
        assert decide(_profile(values)).decision == decision
        flipped = decide(_profile({**values, t.dimension: t.value})).decision
        assert t.table[decision] == flipped, (t.id, decision)


def _case(cid: str, lang: str, decision: str, profile: dict, text: str = "Some app.") -> GoldenCase:
    return GoldenCase.model_validate({"id": cid, "lang": lang, "description": text,
                                      "expected": {"decision": decision, "profile": profile}})


@fast
def test_transforms_apply_only_where_the_dimension_is_open():
    daily = next(t for t in metamorphic.TRANSFORMS if t.id == "daily-data")
    assert daily.applies(_case("a", "en", "rag", {"external_knowledge": "yes"}))
    assert not daily.applies(_case("b", "en", "rag", {"data_dynamics": "no"}))        # settled
    assert not daily.applies(_case("c", "en", "prompting", {"external_knowledge": "no"}))  # cancelled
    assert not daily.applies(_case("d", "en", "undecided", {}))                          # no table row
    known = _case("e", "en", "fine-tuning", {"model_adaptation": "yes"})
    known.facts = {"external_knowledge": "no", "data_dynamics": "no"}
    assert daily.applies(known)  # only the description counts: flipping what it leaves open is the point
    assert daily.apply("A wiki bot", "en") == "A wiki bot. The underlying data changes every day."
    assert daily.apply("一个知识库问答机器人", "zh") == "一个知识库问答机器人。这些数据每天都会更新。"


@fast
def test_variants_come_only_from_correctly_decided_cases():
    cases = [_case("right", "en", "rag", {"external_knowledge": "yes"}),
             _case("wrong", "zh", "rag", {"external_knowledge": "yes"})]
    variants = metamorphic.generate(cases, {"right": "rag", "wrong": "prompting"})
    assert {v.case_id for v in variants} == {"right"}
    brand = next(v for v in variants if v.transform == "brand-voice")
    assert brand.expected_decision == "hybrid" and brand.should_move
    summary = metamorphic.summarise(variants, ["rag"] * len(variants))
    assert summary["must_move"]["passed"] == 0 and summary["must_hold"]["pass_rate"] == 1.0


# --------------------------------------------------------------------------- the simulated user

@fast
def test_the_simulated_user_answers_only_what_it_is_asked_in_its_language():
    case = _case("x", "zh", "rag", {"external_knowledge": "yes"})
    case.facts = {"labeled_data": "no", "external_knowledge": "no"}  # the profile wins over facts
    user = simulate.SimulatedUser(case)
    assert user.answer("external_knowledge") == "是的。"
    assert user.answer("labeled_data") == "只有大约50条。"
    assert user.answer("transparency") == "不知道。"
    en = simulate.SimulatedUser(_case("y", "en", "rag", {"labeled_data": "yes", "model_adaptation": "no"}))
    assert en.answer("labeled_data") == "About 20000 labelled examples." and en.answer("model_adaptation") == "No."


class ScriptedInterview:
    """An advisor that asks `questions`, says 'not understood' to answers in `confusing`."""

    def __init__(self, questions, confusing=()):
        self.questions, self.confusing = list(questions), set(confusing)
        self.answers: list[str] = []

    def _rec(self, decision="rag"):
        return Recommendation(decision=decision, confidence=0.5, profile=Profile(), rationale=[], citations=[])

    def _next(self, state):
        if self.questions:
            dim = self.questions.pop(0)
            state.pending = dim
            state.history.append(Exchange(dimension=dim))
            return Turn(kind="question", text=dim, question={"dimension": dim, "question": dim, "why": ""})
        return Turn(kind="recommendation", text="", recommendation=self._rec())

    def start_interview(self, text="", lang=None):
        state = InterviewState(lang=lang or "en", description=text)
        return state, self._next(state)

    def reply(self, state, answer):
        self.answers.append(answer)
        if answer in self.confusing:
            return Turn(kind="info", text="not understood")
        return self._next(state)

    def finish(self, state):
        return self._rec()


@fast
def test_a_simulated_interview_counts_questions_and_gets_past_a_stuck_question():
    case = _case("x", "en", "rag", {"external_knowledge": "yes", "labeled_data": "yes"})
    adv = ScriptedInterview(["external_knowledge", "labeled_data", "transparency"],
                            confusing={"About 20000 labelled examples."})
    run = simulate.simulate(adv, case, "empty")
    assert run.decision == "rag" and run.questions == 3 and run.error is None
    assert run.asked == ["external_knowledge", "labeled_data", "transparency"]
    assert run.stuck and run.not_understood == 2
    assert adv.answers == ["Yes.", "About 20000 labelled examples.", "About 20000 labelled examples.", "skip",
                           "I don't know."]


# --------------------------------------------------------------------------- evaluate, report, gate

class FakeAdvisor(ScriptedInterview):
    """One-shot decisions by keyword; the interview asks nothing."""

    def __init__(self, by_keyword: dict[str, str], quote: str, section: str):
        super().__init__([])
        self.by_keyword, self.quote, self.section = by_keyword, quote, section
        self.engine = SimpleNamespace(name="fake")

    def recommend(self, text, lang=None):
        decision = next((d for k, d in self.by_keyword.items() if k in text), "prompting")
        cite = Citation(section_id=self.section, quote=self.quote)
        bad = Citation(section_id=self.section, quote="this sentence is not in the article")
        return Recommendation(decision=decision, confidence=0.5, profile=_profile({"external_knowledge": "yes"}),
                              rationale=[Reason(dimension="external_knowledge", text="", citations=[cite])],
                              citations=[cite] + ([bad] if "bad quote" in text else []))


def _tiny_result(tmp_path):
    art = load_article()
    sec = art.by_id["considerations.external-knowledge"]
    write(tmp_path, "t.yaml", GOOD + """\
  - id: en.style
    lang: en
    description: Write like our brand, bad quote included.
    expected: {decision: fine-tuning, profile: {model_adaptation: "yes"}}
""")
    loaded = load_suite(tmp_path / "t.yaml", known_sections=set(art.by_id))
    adv = FakeAdvisor({"wiki": "rag"}, quote=sec.text[:40], section=sec.id)
    return runner.evaluate(adv, loaded, nearest=False)


@fast
def test_evaluate_scores_a_tiny_suite_end_to_end(tmp_path):
    r = _tiny_result(tmp_path)
    m = r["metrics"]
    assert r["n_cases"] == 2 and m["decision_accuracy"] == 0.5
    assert m["confusion"]["matrix"][0][0] == 1                     # rag -> rag
    assert m["citation_validity"] == pytest.approx(4 / 5)          # the one bad quote
    assert m["citation_recall"] == 1.0 and m["citation_precision"] == 1.0
    assert m["dimension_accuracy"]["external_knowledge"]["accuracy"] == 1.0
    assert m["dimension_accuracy"]["model_adaptation"]["accuracy"] == 0.0
    # variants of the one right case: all stay rag; only brand-voice should have moved
    assert m["metamorphic"]["must_move"] == {"passed": 0, "n": 1, "pass_rate": 0.0}
    assert m["interview"]["max_questions"] == 0 and m["llm"]["calls_per_case"] == 0
    assert set(r["baselines"]) == {"majority", "always-rag"}


@fast
def test_report_writes_markdown_json_and_charts(tmp_path):
    r = _tiny_result(tmp_path)
    written = write_report(r, baselines.compare(r, None), tmp_path / "rep")
    names = {p.name for p in written}
    assert {"report.md", "report.json", "confusion_matrix.png", "per_dimension.png", "baselines.png"} <= names
    md = (tmp_path / "rep" / "report.md").read_text("utf-8")
    assert "## Definitions" in md and "citation_precision" in md and "## Baselines" in md
    assert json.loads((tmp_path / "rep" / "report.json").read_text("utf-8"))["n_cases"] == 2


def _result(acc=0.8, validity=1.0, dims=None, meta=0.9, max_q=4) -> dict:
    dims = dims or {"external_knowledge": 0.9, "model_adaptation": 0.8}
    return {"suite": "s.v1", "engine": "offline", "n_cases": 10,
            "metrics": {"decision_accuracy": acc, "citation_validity": validity, "citation_recall": 0.7,
                        "citation_precision": 0.6,
                        "dimension_accuracy": {d: {"correct": 0, "n": 10, "accuracy": a} for d, a in dims.items()},
                        "metamorphic": {"pass_rate": meta},
                        "interview": {"max_questions": max_q, "description": {"agreement": 0.9},
                                      "empty": {"agreement": 0.8}}},
            "baselines": {"majority": {"accuracy": 0.3}, "always-rag": {"accuracy": 0.3}},
            "cases": [{"id": "a", "expected": "rag", "decision": "rag", "ok": True}]}


@fast
def test_the_gate_passes_an_equal_result_and_catches_each_regression(tmp_path):
    saved = tmp_path / "base.json"
    baselines.save(_result(), saved)
    assert runner.gate(_result(), saved)[0] == 0
    assert runner.gate(_result(acc=0.79), saved)[0] == 0          # within 0.02
    for worse, metric in [(_result(acc=0.75), "decision_accuracy"),
                          (_result(validity=0.99), "citation_validity"),
                          (_result(dims={"external_knowledge": 0.84, "model_adaptation": 0.8}),
                           "dimension_accuracy.external_knowledge"),
                          (_result(meta=0.8), "metamorphic.pass_rate"),
                          (_result(max_q=9), "interview.max_questions"),
                          (_result(acc=0.3), "margin over majority")]:
        code, checks = runner.gate(worse, saved)
        assert code == runner.EXIT_REGRESSION, metric
        assert metric in [c.metric for c in checks if not c.ok]


@fast
def test_the_command_exits_3_and_names_the_metric_on_a_regression(tmp_path, monkeypatch, capsys):
    from agent.settings import Settings

    saved = tmp_path / "base.json"
    baselines.save(_result(), saved)
    worse = _result(acc=0.7)
    worse["cases"][0].update(decision="hybrid", ok=False)
    full = {**_tiny_result(tmp_path), **{k: worse[k] for k in ("suite", "engine", "n_cases", "cases")}}
    full["metrics"].update(worse["metrics"])
    full["baselines"] = {k: {**v, "margin": 0.4} for k, v in worse["baselines"].items()}
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: json.loads(json.dumps(full)))
    code = runner.run_eval(Settings.from_env(), engine="offline", baseline=saved, as_json=True)
    out, err = capsys.readouterr()
    assert code == 3
    assert "REGRESSED: decision_accuracy" in err and "wrong now: a" in err
    obj = json.loads(out)  # --json: exactly one JSON object on stdout
    assert obj["gate"]["passed"] is False and out.count("\n") == 1


@fast
def test_the_advisor_command_itself_exits_3_on_a_regression(tmp_path, monkeypatch):
    from agent.fronts.cli.main import main

    saved = tmp_path / "base.json"
    baselines.save(_result(), saved)
    full = _tiny_result(tmp_path)
    full["metrics"].update(_result(acc=0.5)["metrics"])
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: full)
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--engine", "offline", "--json", "--baseline", str(saved)])
    assert exc.value.code == runner.EXIT_REGRESSION


@fast
def test_save_baseline_round_trips_without_timings(tmp_path):
    r = _tiny_result(tmp_path)
    path = tmp_path / "b" / "offline.json"
    baselines.save(r, path)
    data = baselines.load_saved(path)
    assert "latency_ms" not in data["metrics"] and data["n_cases"] == 2
    assert runner.gate(r, path)[0] == (3 if any(not c.ok for c in baselines.compare(r, None)) else 0)
    with pytest.raises(UserError, match="--save-baseline"):
        baselines.load_saved(tmp_path / "missing.json")


# --------------------------------------------------------------------------- the CI gate

@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_offline_suite_does_not_regress_against_the_committed_baseline(tmp_path):
    """`advisor eval --baseline evals/baseline/offline.json` must exit 0 (the index is seeded once per session)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", "eval", "--engine", "offline", "--json",
                           "--baseline", str(BASELINE), "--report", str(tmp_path / "report")],
                          capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["n_cases"] == 97 and result["gate"]["passed"]
    assert result["metrics"]["citation_validity"] == 1.0
    assert result["metrics"]["interview"]["max_questions"] <= 8
    assert (tmp_path / "report" / "report.md").exists()
    print(f"offline eval suite: {elapsed:.1f} s wall, {result['runtime_s']} s evaluating")
