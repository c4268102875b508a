"""Block Kit renderings and message-text helpers, without a server: Slack's limits and our ids."""
from __future__ import annotations

import json

import pytest

from agent.explaining import slack_blocks as kit
from agent.fronts.slack.app import plain_text, thread_key
from agent.types import (CORE_DIMENSIONS, Citation, DimensionValue, Flip, OpenQuestion, Profile, Reason,
                         Recommendation, Turn, WhyNot)

QUOTE = "在微调 LLM 或使用 RAG 之间进行选择时,一个关键考虑因素是应用程序是否需要访问外部数据源。"


def _citation(n: int = 0, quote: str = QUOTE) -> Citation:
    return Citation(section_id="considerations.external-knowledge",
                    heading_path=["提高性能的关键考虑因素", f"我们的用例是否需要访问外部数据源? {n}"],
                    quote=quote, title_en="Does the use case need access to external data sources?",
                    summary_en="RAG retrieves before it generates <b> & keeps Q&A current.")


def _rec(reasons: int = 2, caveats: int = 1, lang: str = "en", quote: str = QUOTE) -> Recommendation:
    profile = Profile(external_knowledge=DimensionValue(value="yes", evidence="our wiki", source="stated"),
                      latency=DimensionValue(value="yes", evidence="real time", source="stated"))
    rs = [Reason(dimension="external_knowledge", text=f"reason {i} <needs> & knowledge", citations=[_citation(i, quote)])
          for i in range(reasons)]
    cs = [Reason(dimension="latency", text=f"caveat {i}", citations=[_citation(i)]) for i in range(caveats)]
    return Recommendation(decision="rag", confidence=0.9, lang=lang, profile=profile, rationale=rs, caveats=cs,
                          citations=[c for r in rs for c in r.citations],
                          open_questions=[OpenQuestion(dimension="data_dynamics", question="How often?", why="staleness")],
                          notices=["a notice"])


def _limits_hold(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for b in blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
            assert len(b.get("fields", [])) <= 10
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        for el in b.get("elements", []) + ([b["accessory"]] if "accessory" in b else []):
            if el.get("type") == "button":
                assert len(el["text"]["text"]) <= 75 and len(el["value"]) <= 2000 and len(el["action_id"]) <= 255
    ids = [el["action_id"] for b in blocks for el in b.get("elements", []) + ([b["accessory"]] if "accessory" in b else [])
           if el.get("type") == "button"]
    assert len(ids) == len(set(ids)), "action_ids must be unique within a message"


def test_short_advice_blocks_show_decision_cited_reasons_why_not_and_what_would_change():
    rec = _rec().model_copy(update={"headline": "one story",
                                    "why_not": [WhyNot(decision="fine-tuning", text="no style need", citations=[_citation()])],
                                    "what_would_change": [Flip(changes={"external_knowledge": "no"}, decision="prompting",
                                                               text="If no outside knowledge → prompting")]})
    blocks = kit.recommendation_blocks(rec, "abcd1234")
    _limits_hold(blocks)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "one story" in text and "✗ no style need" in text and "→ If no outside knowledge" in text
    assert "? How often?" in text and not [b for b in blocks if b.get("fields")]  # no profile, no caveats
    assert "caveat 0" not in text
    why = [b["accessory"]["value"] for b in blocks if (b.get("accessory") or {}).get("action_id", "").startswith(kit.WHY_ACTION)]
    assert why == ["abcd1234:r:0", "abcd1234:r:1"]


def test_advice_blocks_show_decision_profile_cited_reasons_and_why_buttons():
    blocks = kit.recommendation_blocks(_rec(), "abcd1234", full=True)
    _limits_hold(blocks)
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].startswith("RAG")
    [profile] = [b for b in blocks if b.get("fields")]
    names = "".join(f["text"] for f in profile["fields"])
    assert len(profile["fields"]) == len(CORE_DIMENSIONS) + 1 and "real-time latency" in names
    reasons = [b for b in blocks if (b.get("accessory") or {}).get("action_id", "").startswith(kit.WHY_ACTION)]
    assert [b["accessory"]["value"] for b in reasons] == ["abcd1234:r:0", "abcd1234:r:1", "abcd1234:c:0"]
    assert QUOTE in reasons[0]["text"]["text"] and "(Does the use case need" in reasons[0]["text"]["text"]
    assert "&lt;needs&gt; &amp; knowledge" in reasons[0]["text"]["text"]  # user-ish text escaped for mrkdwn
    assert not [b for b in blocks if b["type"] == "actions"]  # no share button unless asked


def test_advice_blocks_stay_within_slack_limits_with_many_long_reasons():
    blocks = kit.recommendation_blocks(_rec(reasons=40, caveats=40, quote="长" * 5000), "abcd1234",
                                       advice_text="x" * 10_000, shareable=True, shared_by="U1", full=True)
    _limits_hold(blocks)
    assert blocks[-1]["elements"][0]["action_id"] == kit.SHARE_ACTION


def test_question_buttons_send_yes_no_dont_know_and_name_the_question():
    turn = Turn(kind="question", text="Is it <b>?", question=OpenQuestion(dimension="labeled_data",
                                                                          question="Is it?", why="because"))
    blocks = kit.question_blocks(turn, "en", step=3)
    _limits_hold(blocks)
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert kit.parse_question_block(actions["block_id"]) == ("labeled_data", 3)
    assert [e["value"] for e in actions["elements"]] == ["yes", "no", "don't know", "just recommend"]
    assert actions["elements"][0]["text"]["text"] == "Plenty (thousands)"  # says what "yes" means here
    assert "&lt;b&gt;" in blocks[0]["text"]["text"]
    zh = kit.question_blocks(turn, "zh", step=3)
    assert [e["value"] for e in zh[2]["elements"]] == ["是", "否", "不知道", "直接推荐"]
    assert kit.answer_label("en", "labeled_data", "no") == "Few or none"
    assert kit.answer_label("zh", "transparency", "是") == "是"


def test_citation_blocks_carry_heading_path_quote_title_and_summary():
    reason = _rec().rationale[0]
    text = json.dumps(kit.citation_blocks(reason, "en"), ensure_ascii=False)
    assert "提高性能的关键考虑因素 › 我们的用例是否需要访问外部数据源? 0" in text and QUOTE in text
    assert "Does the use case need access" in text and "&lt;b&gt; &amp; keeps Q&amp;A" in text


@pytest.mark.parametrize("value, parsed", [
    ("abcd1234:r:0", ("abcd1234", "r", 0)), ("abcd1234:c:12", ("abcd1234", "c", 12)),
    ("abcd1234:x:0", None), ("", None), ("../etc:r:1", None)])
def test_why_values_parse_strictly(value, parsed):
    assert kit.parse_why_value(value) == parsed


def test_message_text_loses_mentions_links_and_escapes():
    assert plain_text("<@U0ADVISOR> we need a bot &amp; a wiki &lt;3 <https://x.org|our wiki>") == \
        "we need a bot & a wiki <3 our wiki"
    assert plain_text("<@U0ADVISOR|advisor>  <!here> 知识库\nchanges weekly") == "知识库\nchanges weekly"
    assert thread_key("T1", "C1", "1.2") != thread_key("T2", "C1", "1.2") != thread_key("T1", "C2", "1.2")
