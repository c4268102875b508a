"""Slack's assistant surface (the AI-app thread) through Bolt's Assistant middleware, against the fake Web API."""
from __future__ import annotations

import json

from slack_fakes import BOT_USER, TEAM, USER

DM = "D0ASSIST1"
THREAD = "1697000001.000100"
WIKI = "We want a support bot that answers questions over our internal wiki."


def _started(bot, *, event_id: str = "EvSTART01", retry=None):
    event = {"type": "assistant_thread_started", "event_ts": THREAD,
             "assistant_thread": {"user_id": USER, "channel_id": DM, "thread_ts": THREAD,
                                  "context": {"channel_id": "C0VIEWING", "team_id": TEAM}}}
    return bot.slack.event(event, event_id=event_id, retry=retry)


def _say(bot, text: str, *, event_id: str, ts: str, retry=None):
    event = {"type": "message", "channel": DM, "channel_type": "im", "user": USER, "text": text,
             "ts": ts, "event_ts": ts, "thread_ts": THREAD}
    return bot.slack.event(event, event_id=event_id, retry=retry)


def test_a_new_assistant_thread_greets_with_suggested_prompts(bot, fake_api):
    assert _started(bot)[0] == 200
    [prompts] = fake_api.wait_for("assistant.threads.setSuggestedPrompts")
    [greeting] = fake_api.wait_for("chat.postMessage", channel=DM)
    assert prompts.body["channel_id"] == DM and prompts.body["thread_ts"] == THREAD
    offered = json.loads(prompts.body["prompts"]) if isinstance(prompts.body["prompts"], str) else prompts.body["prompts"]
    titles = [p["title"] for p in offered]
    assert "We want a bot over our docs" in titles and "Should we fine-tune for our tone?" in titles
    assert len(offered) <= 4 and all(p["message"] for p in offered)
    assert greeting.thread_ts == THREAD and "LLM project" in greeting.body["text"]
    bot.idle()
    assert bot.store().find("slack", f"{TEAM}:{DM}:{THREAD}") is None  # a greeting is no session yet


def test_the_interview_runs_in_the_assistant_thread_with_a_status_while_it_works(bot, fake_api):
    _started(bot)
    fake_api.wait_for("chat.postMessage", channel=DM)
    assert _say(bot, WIKI, event_id="EvMSG0001", ts="1697000002.000100")[0] == 200

    [status] = fake_api.wait_for("assistant.threads.setStatus")
    question = fake_api.wait_for("chat.postMessage", count=2, channel=DM)[-1]
    assert status.body["channel_id"] == DM and status.body["thread_ts"] == THREAD and status.body["status"]
    assert fake_api.calls.index(status) < fake_api.calls.index(question)  # the status shows before the answer
    assert question.thread_ts == THREAD and question.buttons()  # the same question, with answer buttons
    bot.idle()
    record = bot.store().find("slack", f"{TEAM}:{DM}:{THREAD}")
    assert record is not None and record.state.description.startswith("We want")

    # A button in the assistant thread moves the interview on, as anywhere else.
    bot.slack.click(question, "advisor_answer:finish")
    advice = fake_api.wait_for("chat.postMessage", count=3, channel=DM)[-1]
    assert advice.thread_ts == THREAD and "advisor_why" in json.dumps(advice.blocks)


def test_assistant_events_are_stored_before_the_ack_and_a_retry_is_not_answered_again(bot, fake_api):
    _started(bot)
    fake_api.wait_for("chat.postMessage", channel=DM)
    _say(bot, WIKI, event_id="EvMSG0002", ts="1697000003.000100")
    fake_api.wait_for("chat.postMessage", count=2, channel=DM)
    bot.idle()
    with bot.store() as store:
        assert store.inbox_get("event:EvMSG0002").status == "done"
    for attempt in (1, 2):
        assert _say(bot, WIKI, event_id="EvMSG0002", ts="1697000003.000100", retry=attempt)[0] == 200
        assert _started(bot, retry=attempt)[0] == 200
    bot.idle()
    assert len(fake_api.received("chat.postMessage", channel=DM)) == 2
    assert len(fake_api.received("assistant.threads.setSuggestedPrompts")) == 1


def test_mentions_still_work_beside_the_assistant(bot, fake_api):
    ts, (status, _) = bot.slack.mention(WIKI, channel="C0BESIDE")
    assert status == 200
    [question] = fake_api.wait_for("chat.postMessage", channel="C0BESIDE")
    assert question.thread_ts == ts and not fake_api.received("assistant.threads.setStatus")
    bot.idle()


def test_the_bots_own_messages_in_an_assistant_thread_are_only_acknowledged(bot, fake_api):
    event = {"type": "message", "channel": DM, "channel_type": "im", "bot_id": "B0ADVISOR", "user": BOT_USER,
             "text": "a reply of mine", "ts": "1697000009.000100", "thread_ts": THREAD}
    assert bot.slack.event(event, event_id="EvBOT0001")[0] == 200
    bot.idle()
    assert fake_api.received("chat.postMessage") == []


def test_the_manifest_enables_the_assistant_with_its_events_and_scopes():
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[2] / "slack" / "manifest.yaml").read_text("utf-8"))
    assert manifest["features"]["assistant_view"]["assistant_description"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # assistant.threads.* need assistant:write; the thread messages arrive as message.im (im:history);
    # conversations.replies (no double post after a crash) needs the history scopes.
    assert {"assistant:write", "chat:write", "im:history", "channels:history", "groups:history",
            "app_mentions:read", "commands"} <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"assistant_thread_started", "assistant_thread_context_changed", "app_mention", "message.im"} <= events
