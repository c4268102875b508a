"""The interview through the library API: few questions, commands in both languages, resumable state."""
from __future__ import annotations

import itertools

import pytest

from agent.deciding.interview import MAX_QUESTIONS, open_dimensions
from agent.deciding.policy import decide, swing_dimensions
from agent.types import CORE_DIMENSIONS, DimensionValue, InterviewState, Profile
from agent.wording import wording

ANSWER = {"en": {"yes": "yes", "no": "no", None: "I don't know"},
          "zh": {"yes": "是的", "no": "没有", None: "不知道"}}


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def run(advisor, facts: dict, lang: str = "en", start: str = "", limit: int = 30):
    """Answer every question from `facts` (missing: "I don't know"); returns state, turns, dims asked."""
    state, turn = advisor.start_interview(start, lang=lang)
    turns, asked = [turn], []
    while turn.kind != "recommendation" and len(turns) < limit:
        assert turn.kind == "question", turn
        dim = turn.question.dimension
        asked.append(dim)
        turn = advisor.reply(state, ANSWER[lang][facts.get(dim)])
        turns.append(turn)
    assert turn.kind == "recommendation", f"no recommendation after {limit} turns: {asked}"
    return state, turns, asked


def stated(facts: dict) -> Profile:
    return Profile(**{d: DimensionValue(value=v, evidence=v, source="stated") for d, v in facts.items() if v})


# ----------------------------------------------------------------------------- asking little

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_from_an_empty_start_it_asks_at_most_eight_and_stops_when_nothing_can_change(advisor, lang):
    """All 64 worlds of yes/no facts: at most 8 questions, no repeats, and the outcome is the
    one the full facts give (stopping early lost nothing)."""
    most = 0
    for combo in itertools.product(("yes", "no"), repeat=len(CORE_DIMENSIONS)):
        facts = dict(zip(CORE_DIMENSIONS, combo))
        state, turns, asked = run(advisor, facts, lang)
        most = max(most, len(asked))
        assert len(asked) <= MAX_QUESTIONS and state.questions_asked == len(asked)
        assert len(set(asked)) == len(asked), asked
        assert state.done and state.recommendation.lang == lang
        assert swing_dimensions(state.profile, open_dimensions(state)) == [], "stopped too early"
        assert state.recommendation.decision == decide(stated(facts)).decision, (facts, asked)
    assert 2 <= most <= MAX_QUESTIONS


@pytest.mark.parametrize("facts", [
    {},  # knows nothing: "I don't know" to everything
    {"model_adaptation": "yes"},
    {"external_knowledge": "no", "data_dynamics": "yes"},
    {"labeled_data": "no", "transparency": "yes"},
])
def test_with_unknown_answers_it_still_ends(advisor, facts):
    state, turns, asked = run(advisor, facts)
    assert len(asked) <= MAX_QUESTIONS and len(set(asked)) == len(asked)
    unknown = [d for d in asked if facts.get(d) is None]
    assert set(unknown) <= set(state.skipped)
    assert state.recommendation.decision in ("rag", "fine-tuning", "hybrid", "prompting", "undecided")


def test_the_question_limit_holds_even_if_every_answer_keeps_things_open(advisor, monkeypatch):
    import agent.deciding.interview as iv

    monkeypatch.setattr(iv, "swing_dimensions", lambda p, open_dims: list(open_dims))
    state, turns, asked = run(advisor, {}, limit=40)
    assert len(asked) <= MAX_QUESTIONS


def test_it_skips_what_the_description_already_settles(advisor):
    text = ("We want a bot that answers customer questions from our product docs, which change every day. "
            "Every reply must be written in our brand voice.")
    state, turn = advisor.start_interview(text)
    settled = {d for d in CORE_DIMENSIONS if state.profile.get(d).value != "unknown"}
    assert {"external_knowledge", "model_adaptation", "data_dynamics"} <= settled
    assert turn.kind == "question" and turn.question.dimension not in settled
    assert turn.question.dimension == "labeled_data", "the one fact that could still change the outcome"
    turn = advisor.reply(state, "yes, about 40k labelled conversations")
    assert turn.kind == "recommendation" and turn.recommendation.decision == "hybrid"
    assert state.questions_asked == 1


def test_a_description_that_settles_everything_asks_nothing(advisor):
    state, turn = advisor.start_interview(
        "Answer questions from our product database, which changes daily. No special tone or style is needed.")
    assert turn.kind == "recommendation" and turn.recommendation.decision == "rag"
    assert state.questions_asked == 0 and state.done


# ----------------------------------------------------------------------------- commands

COMMANDS = {
    "en": {"skip": "skip", "unknown": "I don't know", "why": "why?", "back": "back", "done": "just recommend"},
    "zh": {"skip": "跳过", "unknown": "不知道", "why": "为什么", "back": "返回", "done": "直接推荐"},
}
STARTS = {"en": "We are building an assistant for our sales team.", "zh": "我们在给销售团队做一个助手。"}


@pytest.fixture(params=["en", "zh"])
def lang(request):
    return request.param


def _first_question(advisor, lang):
    state, turn = advisor.start_interview(STARTS[lang])
    assert state.lang == lang and turn.kind == "question"
    return state, turn


@pytest.mark.parametrize("word", ["skip", "unknown"])
def test_skip_and_dont_know_move_on(advisor, lang, word):
    state, turn = _first_question(advisor, lang)
    dim = turn.question.dimension
    nxt = advisor.reply(state, COMMANDS[lang][word])
    assert dim in state.skipped and state.profile.get(dim).value == "unknown"
    assert nxt.kind in ("question", "recommendation")
    if nxt.kind == "question":
        assert nxt.question.dimension != dim
    assert [e.answer for e in state.history if e.dimension == dim] == [COMMANDS[lang][word]]


def test_why_explains_and_keeps_the_question_open(advisor, lang):
    state, turn = _first_question(advisor, lang)
    dim, asked = turn.question.dimension, state.questions_asked
    info = advisor.reply(state, COMMANDS[lang]["why"])
    spec = getattr(wording().questions[dim], lang)
    assert info.kind == "info" and spec.why in info.text
    assert state.pending == dim and state.questions_asked == asked
    nxt = advisor.reply(state, ANSWER[lang]["yes"])
    assert state.profile.get(dim).value == "yes" and state.profile.get(dim).source == "stated"
    assert nxt.kind in ("question", "recommendation")


def test_back_reopens_the_last_answer(advisor, lang):
    state, turn = _first_question(advisor, lang)
    dim = turn.question.dimension
    advisor.reply(state, ANSWER[lang]["yes"])
    assert state.profile.get(dim).value == "yes"
    again = advisor.reply(state, COMMANDS[lang]["back"])
    assert again.kind == "question" and again.question.dimension == dim
    assert state.profile.get(dim).value == "unknown" and state.pending == dim
    advisor.reply(state, ANSWER[lang]["no"])
    assert state.profile.get(dim).value == "no"


RICH_ANSWER = {"en": "yes, it answers from our product catalogue which changes weekly",
               "zh": "是的，要基于我们每周更新的产品目录回答"}


def test_back_withdraws_everything_the_answer_said(advisor, lang):
    """Issue 10: an answer that also settled another dimension (data changes weekly) leaves no
    value, evidence or probability behind once taken back, in the state or in the advice."""
    state, turn = _first_question(advisor, lang)
    before = (state.profile.model_copy(deep=True), dict(state.certainty))
    advisor.reply(state, RICH_ANSWER[lang])
    assert state.profile.data_dynamics.value == "yes", "the answer must say more than it was asked"
    advisor.reply(state, COMMANDS[lang]["back"])
    assert (state.profile, state.certainty) == before
    rec = advisor.finish(state)
    withdrawn = [d for d, dv in rec.profile.known().items() if dv.evidence and dv.evidence in RICH_ANSWER[lang]]
    assert withdrawn == [] and rec.profile.data_dynamics.source != "stated"


def test_back_twice_goes_two_answers_back(advisor, lang):
    state, first = _first_question(advisor, lang)
    snap = state.profile.model_copy(deep=True)
    second = advisor.reply(state, ANSWER[lang]["yes"])
    assert second.kind == "question"
    advisor.reply(state, ANSWER[lang]["no"])
    advisor.reply(state, COMMANDS[lang]["back"])
    again = advisor.reply(state, COMMANDS[lang]["back"])
    assert again.kind == "question" and again.question.dimension == first.question.dimension
    assert state.profile == snap


def test_back_with_nothing_to_undo(advisor, lang):
    state, turn = _first_question(advisor, lang)
    info = advisor.reply(state, COMMANDS[lang]["back"])
    assert info.kind == "info" and info.text == wording().replies[lang]["nothing_to_undo"]
    assert state.pending == turn.question.dimension


def test_just_recommend_ends_with_the_best_so_far(advisor, lang):
    state, turn = _first_question(advisor, lang)
    final = advisor.reply(state, COMMANDS[lang]["done"])
    assert final.kind == "recommendation" and state.done and state.pending is None
    rec = final.recommendation
    assert rec.lang == lang and final.text == rec.headline
    assert rec.headline in wording().headline[lang].values()
    # after the end, further replies return the same recommendation
    assert advisor.reply(state, "yes").recommendation == rec
    assert advisor.finish(state) == rec


@pytest.mark.parametrize("answer", ["Да, у нас много данных", "نعم، لدينا الكثير من البيانات", "はい、たくさんあります"])
def test_a_third_language_gets_the_language_reply(advisor, lang, answer):
    state, turn = _first_question(advisor, lang)
    dim, asked = turn.question.dimension, state.questions_asked
    info = advisor.reply(state, answer)
    assert info.kind == "info" and info.text == wording().replies[lang]["third_language"]
    assert state.pending == dim and state.questions_asked == asked and state.profile.get(dim).value == "unknown"
    assert dim not in state.skipped
    advisor.reply(state, ANSWER[lang]["no"])
    assert state.profile.get(dim).value == "no"


def test_an_answer_it_cannot_read_twice_moves_on(advisor, lang):
    state, turn = _first_question(advisor, lang)
    dim = turn.question.dimension
    first = advisor.reply(state, "blorf wibble")
    assert first.kind == "info" and first.text == wording().replies[lang]["not_understood"]
    assert state.pending == dim
    second = advisor.reply(state, "zzz qqq")
    assert second.kind in ("question", "recommendation"), "it must not ask a third time"
    assert dim in state.skipped and state.pending != dim
    if second.kind == "question":
        assert second.question.dimension != dim


def test_unreadable_answers_never_loop(advisor):
    state, turn = advisor.start_interview("")
    for i in range(3 * MAX_QUESTIONS + 2):
        turn = advisor.reply(state, f"gibberish {i}")
        if turn.kind == "recommendation":
            break
    assert turn.kind == "recommendation"
    assert state.questions_asked <= MAX_QUESTIONS


def test_after_back_a_question_gets_its_own_two_tries(advisor):
    state, turn = advisor.start_interview("")
    dim = turn.question.dimension
    advisor.reply(state, "yes")
    advisor.reply(state, "back")
    assert state.pending == dim
    assert advisor.reply(state, "blorf").kind == "info", "a fresh question: the first miss asks again"
    assert state.pending == dim


def test_a_hedged_number_is_an_answer_not_a_dont_know(advisor):
    state, turn = advisor.start_interview(
        "We want the bot to write in our brand voice; it answers from our product catalogue.")
    assert turn.question.dimension == "labeled_data"
    advisor.reply(state, "maybe 300 examples")
    assert state.profile.labeled_data.value == "no" and "labeled_data" not in state.skipped


# ----------------------------------------------------------------------------- state and language

def test_state_survives_a_json_round_trip_mid_interview(advisor):
    state, turn = advisor.start_interview("We are building a help desk assistant.")
    advisor.reply(state, "yes")
    advisor.reply(state, "why?")
    assert not state.done and state.pending
    copy = InterviewState.model_validate(state.model_dump(mode="json"))
    assert copy == state
    assert advisor.current_turn(copy).question.dimension == state.pending
    for answer in ("no", "I don't know", "yes", "yes", "no", "no"):
        a, b = advisor.reply(state, answer), advisor.reply(copy, answer)
        assert a == b
        if a.kind == "recommendation":
            break
    assert copy == state and state.done


def test_resuming_a_finished_state(advisor):
    state, _ = advisor.start_interview("Answer from our wiki; no special style. We have no labelled data.")
    advisor.finish(state)
    copy = InterviewState.model_validate(state.model_dump(mode="json"))
    turn = advisor.current_turn(copy)
    assert turn.kind == "recommendation" and turn.recommendation == state.recommendation


def test_a_chinese_start_is_answered_in_chinese(advisor):
    state, turn = advisor.start_interview("我们想做一个客服机器人，回答用户关于订单的问题。")
    assert state.lang == "zh" and turn.kind == "question"
    spec = getattr(wording().questions[turn.question.dimension], "zh")
    assert turn.text == spec.q and has_cjk(turn.text) and turn.question.why == spec.why
    info = advisor.reply(state, "为什么")
    assert has_cjk(info.text)
    final = advisor.reply(state, "直接推荐")
    rec = final.recommendation
    assert rec.lang == "zh" and has_cjk(final.text)
    assert all(has_cjk(r.text) for r in rec.rationale) and all(has_cjk(q.question) for q in rec.open_questions)


def test_an_empty_start_follows_the_language_of_the_first_answer(advisor):
    state, turn = advisor.start_interview("")
    assert state.lang == "en" and turn.kind == "question"
    nxt = advisor.reply(state, "我们做客服机器人，回答要基于我们的产品手册。")
    assert state.lang == "zh"
    if nxt.kind == "question":
        assert has_cjk(nxt.text)
    else:
        assert nxt.recommendation.lang == "zh"


def test_a_bare_number_does_not_switch_the_language(advisor):
    state, turn = advisor.start_interview("", lang="zh")
    advisor.reply(state, "40000")
    assert state.lang == "zh"


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "x" * 100_001])
def test_bad_answers_are_user_errors(advisor, bad):
    from agent.errors import UserError

    state, _ = advisor.start_interview("")
    with pytest.raises(UserError):
        advisor.reply(state, bad)
    assert state.questions_asked == 1 and not state.done


# ----------------------------------------------------------------------------- answers read against the question

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_bare_yes_answers_only_the_question_asked(advisor, lang):
    """Issue 14 (6): a "yes" meant for one question is never taken as the answer to another."""
    state, turn = advisor.start_interview("", lang=lang)
    asked = [turn.question.dimension]
    before = {d: state.profile.get(d).value for d in CORE_DIMENSIONS}
    advisor.reply(state, ANSWER[lang]["yes"])
    changed = [d for d in CORE_DIMENSIONS if state.profile.get(d).value != before[d]]
    assert changed == asked and state.profile.get(asked[0]).value == "yes"


@pytest.mark.parametrize("answer", ["I'm not sure", "no idea, honestly", "我不清楚"])
def test_dont_know_in_other_words_moves_on(advisor, answer):
    state, turn = advisor.start_interview("", lang="en")
    dim = turn.question.dimension
    advisor.reply(state, answer)
    assert dim in state.skipped and state.profile.get(dim).value == "unknown"


def test_a_number_answers_the_labelled_data_question_whatever_the_hedge(advisor):
    for answer, want in (("maybe 300", "no"), ("roughly 40k, I think", "yes"), ("大概两万条", "yes")):
        state = InterviewState(lang="en", pending="labeled_data")
        advisor.reply(state, answer)
        assert state.profile.labeled_data.value == want, answer


# ----------------------------------------------------------------------------- after the advice: what if, change

from agent.deciding import followup  # noqa: E402

WEEKLY = {"en": "We want a support bot that answers from our product docs, which change weekly. No special style is needed.",
          "zh": "我们要做一个客服机器人，根据每周更新的产品文档回答问题，不需要特别的风格。"}
WHAT_IF_STATIC = {"en": "what if our data were static?", "zh": "我们的数据如果是静态的呢?"}
CHANGE_DATA_NO = {"en": "change the data answer to no", "zh": "把数据的回答改成否"}
WHAT_IF_VOICE = {"en": "what if we needed our brand voice?", "zh": "要是需要品牌语气呢？"}


def _finished(advisor, lang):
    state, turn = advisor.start_interview(WEEKLY[lang])
    while turn.kind != "recommendation":
        turn = advisor.reply(state, ANSWER[lang]["yes"] if turn.question.dimension == "external_knowledge"
                             else ANSWER[lang]["no"])
    assert state.done and state.profile.data_dynamics.value == "yes"
    return state


@pytest.mark.parametrize("said, kind, dim", [
    ("what if our data were static?", "what_if", "data_dynamics"),
    ("What if we had 40k labelled examples?", "what_if", "labeled_data"),
    ("suppose answers had to cite sources", "what_if", "transparency"),
    ("change the data answer to no", "change", "data_dynamics"),
    ("Change my style answer to yes.", "change", "model_adaptation"),
    ("我们的数据如果是静态的呢?", "what_if", "data_dynamics"),
    ("假如有两万条标注数据呢", "what_if", "labeled_data"),
    ("把数据的回答改成否", "change", "data_dynamics"),
    ("yes", None, None), ("thanks!", None, None), ("我们做客服", None, None),
])
def test_follow_ups_are_told_apart_and_name_their_fact(said, kind, dim):
    got = followup.parse(said)
    assert (got.kind, got.dimension) == (kind, dim) if kind else got is None


def test_a_what_if_shows_what_moved_and_saves_nothing(advisor, lang):
    state = _finished(advisor, lang)
    saved = state.model_dump(mode="json")
    turn = advisor.reply(state, WHAT_IF_STATIC[lang])
    assert state.model_dump(mode="json") == saved, "a what-if must not touch the saved answers"
    ch = turn.change
    assert turn.kind == "recommendation" and ch.kind == "what_if" and not ch.saved
    assert [(f.dimension, f.before, f.after) for f in ch.facts] == [("data_dynamics", "yes", "no")]
    assert turn.recommendation.profile.data_dynamics.value == "no"
    assert ch.decision_before == state.recommendation.decision
    assert wording().replies[lang]["hypothetical"] in turn.text
    assert wording().dimension_names[lang]["data_dynamics"] in turn.text


def test_a_what_if_that_flips_the_decision_says_so(advisor, lang):
    state = _finished(advisor, lang)
    turn = advisor.reply(state, WHAT_IF_VOICE[lang])
    ch = turn.change
    assert ("model_adaptation", "no", "yes") in [(f.dimension, f.before, f.after) for f in ch.facts]
    assert ch.decision_after == decide(turn.recommendation.profile).decision != ch.decision_before
    names = wording().decision_names[lang]
    assert names[ch.decision_before] in turn.text and names[ch.decision_after] in turn.text


def test_change_updates_the_saved_answers(advisor, lang):
    state = _finished(advisor, lang)
    turn = advisor.reply(state, CHANGE_DATA_NO[lang])
    assert turn.change.saved and turn.change.kind == "change"
    assert state.profile.data_dynamics.value == "no" and state.recommendation == turn.recommendation
    assert state.history[-1].answer == CHANGE_DATA_NO[lang]
    copy = InterviewState.model_validate(state.model_dump(mode="json"))
    assert copy.profile.data_dynamics.value == "no" and copy.done


def test_a_named_fact_is_read_with_that_question_asked(advisor, monkeypatch):
    state = _finished(advisor, "en")
    calls = []
    real = advisor.engine.read
    monkeypatch.setattr(advisor.engine, "read", lambda text, lang, asked=None: calls.append((text, asked)) or
                        real(text, lang, asked))
    advisor.reply(state, "change the labelled data answer to yes")
    assert calls == [("yes", "labeled_data")]
    assert state.profile.labeled_data.value == "yes"


def test_anything_else_after_the_advice_says_what_can_be_asked(advisor, lang):
    state = _finished(advisor, lang)
    saved = state.model_dump(mode="json")
    turn = advisor.reply(state, "thanks")
    assert turn.kind == "info" and turn.text == wording().replies[lang]["followup_hint"]
    unclear = advisor.reply(state, "what if it rained on Tuesdays?")
    assert unclear.kind == "info" and unclear.text == wording().replies[lang]["followup_unclear"]
    assert state.model_dump(mode="json") == saved


def test_back_after_the_advice_with_nothing_answered_keeps_the_advice(advisor, lang):
    state, _ = _first_question(advisor, lang)
    turn = advisor.reply(state, COMMANDS[lang]["done"])  # advice with no question answered
    info = advisor.reply(state, COMMANDS[lang]["back"])
    assert info.kind == "info" and info.text == wording().replies[lang]["nothing_to_undo"]
    assert state.done and state.recommendation == turn.recommendation


def test_back_after_the_advice_reopens_the_last_answer(advisor, lang):
    state, turn = _first_question(advisor, lang)
    while turn.kind != "recommendation":
        turn = advisor.reply(state, ANSWER[lang]["no"])
    last = [e for e in state.history if e.dimension][-1]
    turn = advisor.reply(state, COMMANDS[lang]["back"])
    assert turn.kind == "question" and turn.question.dimension == last.dimension
    assert not state.done and state.recommendation is None
