"""A whole interview's model calls, and the calls each turn may make."""
from __future__ import annotations

import json
import re

import pytest
from fake_openai import chat
from llm_fakes import TEST_KEY, FakeFallback, FakeRetriever, make_rec

from agent.llm.client import LLMClient
from agent.engines.llm import LLMEngine

CJK = re.compile(r"[\u4e00-\u9fff]")

SCRIPTS = {
    "en": {
        "description": ("We want a bot that answers customer questions from our product manuals. "
                        "The manuals are updated every month and answers must cite the manual."),
        "facts": [("external_knowledge", "answers customer questions from our product manuals"),
                  ("data_dynamics", "updated every month"),
                  ("transparency", "answers must cite the manual")],
        "question": "Do you have many past customer questions with good answers written down?",
        "answer": "Yes, about 40,000 labelled support tickets with answers.",
        "answer_fact": ("labeled_data", "about 40,000 labelled support tickets"),
        "advice": "RAG is the right fit: the manuals hold the answers [1], and they change [2].",
    },
    "zh": {
        "description": "我们想做一个客服机器人，根据产品手册回答客户的问题。手册每个月更新，回答必须注明出处。",
        "facts": [("external_knowledge", "根据产品手册回答客户的问题"),
                  ("data_dynamics", "手册每个月更新"), ("transparency", "回答必须注明出处")],
        "question": "你们有没有大量已标注的历史问答，比如带标准答案的工单？",
        "answer": "有，大约四万条带答案的已标注工单。",
        "answer_fact": ("labeled_data", "大约四万条带答案的已标注工单"),
        "advice": "建议采用 RAG：答案来自产品手册【1】，而且手册会更新[2]。",
    },
}


def facts_json(*facts: tuple[str, str]) -> str:
    return json.dumps({"findings": [{"dimension": d, "value": "yes", "evidence": e,
                                     "source": "stated"} for d, e in facts]}, ensure_ascii=False)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_full_interview(endpoint, cassette, settings_for, sleeps, lang):
    s = SCRIPTS[lang]
    endpoint.fake.enqueue(chat(facts_json(*s["facts"])), chat(s["question"]),
                          chat(facts_json(s["answer_fact"])), chat(s["advice"]))
    settings = settings_for(endpoint.url, endpoint.key, model=endpoint.model)
    fallback, retriever = FakeFallback(), FakeRetriever()
    engine = LLMEngine(settings, fallback, retriever, client=LLMClient(settings, sleep=sleeps))

    first = engine.extract(s["description"], lang)
    question = engine.phrase_question("labeled_data", lang, first)
    answer = engine.extract(s["answer"], lang, asked="labeled_data")
    advice = "".join(engine.write_advice(make_rec(lang)))

    assert first.external_knowledge.value == "yes"
    assert answer.labeled_data.value == "yes"
    assert question.endswith(("?", "？")) and bool(CJK.search(question)) == (lang == "zh")
    assert advice and set(re.findall(r"\[(\d+)\]", advice)) <= {"1", "2"}
    assert not re.search(r"【\d+】", advice)  # full-width markers normalised
    assert engine.drain_notices() == [] and fallback.used("extract") == 0
    assert fallback.used("write_advice") == 0
    assert len(cassette.chats()) == 4 and engine.usage.calls == 4
    assert engine.usage.prompt_tokens > 0 and engine.usage.completion_tokens > 0
    if not endpoint.real:
        assert engine.usage.est_cost_usd == pytest.approx(4 * (120 * 0.15 + 40 * 0.60) / 1e6)
        assert question == s["question"]
    # The question call carries what is known, with the user's words delimited as data.
    q_user = cassette.chats()[1]["messages"][1]["content"]
    assert f"<lang>\n{lang}\n</lang>" in q_user and "<user_words>" in q_user


def test_calls_per_turn_by_kind(fake, cassette, settings_for, sleeps):
    fake.enqueue(chat("not json at all"), chat(facts_json(("external_knowledge", "our wiki"))),
                 chat("Do you have labelled data?"), chat("Use RAG [1]."),
                 chat(facts_json(("labeled_data", "yes"))))
    settings = settings_for(fake.url, TEST_KEY)
    fallback = FakeFallback()
    engine = LLMEngine(settings, fallback, client=LLMClient(settings, sleep=sleeps))

    profile = engine.extract("Answers from our wiki, please.", "en")  # call 1 + repair = 2
    question = engine.phrase_question("labeled_data", "en", profile)  # its own call
    again = engine.phrase_question("labeled_data", "en", profile)  # one question per turn
    advice = "".join(engine.write_advice(make_rec()))  # the repair did not starve the advice
    assert len(cassette.chats()) == 4
    assert question == "Do you have labelled data?"
    assert again == "Could you tell me more about labeled_data?"
    assert advice == "Use RAG [1]." and fallback.used("write_advice") == 0
    assert engine.drain_notices() == []
    assert [c["kind"] for c in engine.calls] == ["extract", "extract", "question", "advice"]
    engine.extract("yes", "en", asked="labeled_data")  # a new turn may call again
    assert len(cassette.chats()) == 5


def test_a_question_in_the_wrong_language_is_replaced(fake, cassette, settings_for, sleeps):
    fake.enqueue(chat("Do you have labelled data?"))
    settings = settings_for(fake.url, TEST_KEY)
    fallback = FakeFallback()
    engine = LLMEngine(settings, fallback, client=LLMClient(settings, sleep=sleeps))
    engine.new_turn()
    question = engine.phrase_question("labeled_data", "zh", make_rec("zh").profile)
    assert question == "关于labeled_data：您能多说一点吗？"
    assert len(cassette.chats()) == 1
