"""The Slack bot over HTTP against a fake Slack Web API: signatures, threads, buttons, retries, /advisor."""
from __future__ import annotations

import json
import threading
import time

import pytest
from slack_fakes import BOT_ID, BOT_USER, TEAM, USER, slack_settings

from agent.errors import UserError

WIKI = "We want a support bot that answers questions over our internal wiki."


def _question(call) -> dict:
    """The answer buttons of a question message, by action suffix."""
    return {b["action_id"].split(":", 1)[1]: b for _, b in call.buttons() if b["action_id"].startswith("advisor_answer:")}


# --------------------------------------------------------------------------- security

def test_unsigned_stale_and_forged_requests_are_refused(bot, fake_api):
    body = json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": "Ev1",
                       "event": {"type": "app_mention", "user": USER, "text": "hi", "ts": "1.0", "channel": "C1"}})
    assert bot.slack.send(body, sign=False)[0] == 401
    assert bot.slack.send(body, timestamp=int(time.time()) - 10 * 60)[0] == 401  # replayed: older than 5 min
    assert bot.slack.send(body, secret="not-the-signing-secret")[0] == 401
    bot.idle()
    assert fake_api.received("chat.postMessage") == []


def test_url_verification_echoes_the_challenge(bot):
    status, body = bot.slack.send(json.dumps({"type": "url_verification", "token": "t", "challenge": "abc123"}))
    assert status == 200 and json.loads(body)["challenge"] == "abc123"


def test_missing_settings_are_one_line_errors_naming_the_variable(tmp_path, fake_api):
    from agent.fronts.slack.app import create_app, serve

    with pytest.raises(UserError, match="SLACK_BOT_TOKEN"):
        create_app(slack_settings(tmp_path / "home", fake_api.api_url, SLACK_BOT_TOKEN=None))
    with pytest.raises(UserError, match="SLACK_SIGNING_SECRET"):
        create_app(slack_settings(tmp_path / "home", fake_api.api_url, SLACK_SIGNING_SECRET=None))
    with pytest.raises(UserError, match="SLACK_APP_TOKEN"):
        serve(slack_settings(tmp_path / "home", fake_api.api_url), socket=True)
    with pytest.raises(UserError, match="xapp-"):
        serve(slack_settings(tmp_path / "home", fake_api.api_url, SLACK_APP_TOKEN="xoxb-wrong-kind"), socket=True)


def test_a_rejected_token_is_reported_without_the_token(tmp_path, fake_api):
    from agent.fronts.slack.app import create_app

    wrong = "xoxb-wrong-token-1234567890"
    with pytest.raises(UserError) as err:
        create_app(slack_settings(tmp_path / "home", fake_api.api_url, SLACK_BOT_TOKEN=wrong))
    assert "invalid_auth" in str(err.value) and wrong not in str(err.value) and "\n" not in str(err.value)


def test_slack_api_base_url_points_the_client_at_the_fake(bot, fake_api):
    assert fake_api.received("auth.test")  # create_app checked the token there, not at slack.com


# --------------------------------------------------------------------------- the interview

def test_a_mention_starts_an_interview_in_a_thread_with_answer_buttons(bot, fake_api):
    ts, (status, _) = bot.slack.mention(WIKI, channel="C0ALPHA")
    assert status == 200
    [question] = fake_api.wait_for("chat.postMessage", channel="C0ALPHA")
    assert question.thread_ts == ts
    buttons = _question(question)
    assert {k: b["value"] for k, b in buttons.items()} == {
        "yes": "yes", "no": "no", "unknown": "don't know", "finish": "just recommend"}
    bot.idle()
    record = bot.store().find("slack", f"{TEAM}:C0ALPHA:{ts}")
    assert record is not None and record.state.pending and record.state.description.startswith("We want")


def test_a_button_click_answers_the_question_and_advances_the_interview(bot, fake_api):
    ts, _ = bot.slack.mention(WIKI)
    [question] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
    asked = bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}").state.pending
    assert bot.slack.click(question, "advisor_answer:yes")[0] == 200
    [update] = fake_api.wait_for("chat.update", ts=question.ts)
    assert f"<@{USER}>" in update.all_text() and not update.buttons()  # who answered; buttons gone
    fake_api.wait_for("chat.postMessage", count=2, thread_ts=ts)
    bot.idle()
    state = bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}").state
    answered = [e for e in state.history if e.dimension == asked]
    assert answered[0].answer == "yes" and state.pending != asked


def test_an_old_question_s_buttons_do_not_answer_twice(bot, fake_api):
    ts, _ = bot.slack.mention(WIKI)
    [question] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
    bot.slack.click(question, "advisor_answer:yes")
    fake_api.wait_for("chat.postMessage", count=2, thread_ts=ts)
    bot.idle()
    before = bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}").state
    bot.slack.click(question, "advisor_answer:no")  # the same, already answered, message again
    [stale] = fake_api.wait_for("response_url")
    assert stale.body["response_type"] == "ephemeral" and "already" in stale.body["text"]
    bot.idle()
    assert bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}").state == before
    assert len(fake_api.received("chat.postMessage", thread_ts=ts)) == 2


def test_free_text_in_the_thread_answers_and_other_threads_are_ignored(bot, fake_api):
    ts, _ = bot.slack.mention(WIKI)
    fake_api.wait_for("chat.postMessage", thread_ts=ts)
    bot.slack.message("yes, a particular tone and our jargon", thread_ts=ts)
    fake_api.wait_for("chat.postMessage", count=2, thread_ts=ts)
    bot.slack.message("an unrelated chat in another thread", thread_ts=bot.slack.new_ts())
    bot.slack.message("a top-level message in the channel")
    bot.idle()
    assert len(fake_api.received("chat.postMessage")) == 2


def test_a_direct_message_starts_an_interview_in_its_thread(bot, fake_api):
    ts, _ = bot.slack.message(WIKI, channel="D0DIRECT1", channel_type="im")
    [question] = fake_api.wait_for("chat.postMessage", channel="D0DIRECT1")
    assert question.thread_ts == ts and _question(question)


def test_a_retried_event_gets_no_second_reply(bot, fake_api):
    event = {"type": "app_mention", "user": USER, "text": f"<@{BOT_USER}> {WIKI}", "ts": "1690000999.000200",
             "channel": "C0RETRY", "event_ts": "1690000999.000200"}
    assert bot.slack.event(event, event_id="Ev0RETRY01")[0] == 200
    fake_api.wait_for("chat.postMessage", channel="C0RETRY")
    for attempt in (1, 2):
        assert bot.slack.event(event, event_id="Ev0RETRY01", retry=attempt)[0] == 200
    bot.idle()
    assert len(fake_api.received("chat.postMessage", channel="C0RETRY")) == 1


def test_the_bot_ignores_itself_and_other_bots(bot, fake_api):
    ts, _ = bot.slack.mention(WIKI)
    fake_api.wait_for("chat.postMessage", thread_ts=ts)
    bot.slack.message("yes", thread_ts=ts, user=BOT_USER, bot_id=BOT_ID)  # its own post, echoed back
    bot.slack.message("yes", thread_ts=ts, user=None, bot_id="B0OTHER", subtype="bot_message")
    bot.slack.message("yes", thread_ts=ts, user="U0OTHERBOT", bot_id="B0OTHER")
    bot.slack.message(WIKI, channel="D0DIRECT1", channel_type="im", user=BOT_USER, bot_id=BOT_ID)
    bot.slack.mention(WIKI, user="U0OTHERBOT", bot_id="B0OTHER")  # another bot mentioning this one
    bot.idle()
    assert len(fake_api.received("chat.postMessage")) == 1
    assert bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}").state.questions_asked == 1


def test_threads_of_different_channels_and_workspaces_never_share_a_session(bot, fake_api):
    ts = "1690000777.000200"  # the same thread ts in three places
    bot.slack.mention(WIKI, channel="C0ALPHA", ts=ts)
    bot.slack.mention("我们要做一个基于内部知识库的客服问答机器人。", channel="C0BETA", ts=ts)
    bot.slack.mention(WIKI, channel="C0ALPHA", ts=ts, team="T0OTHERWS")
    fake_api.wait_for("chat.postMessage", count=3, thread_ts=ts)
    bot.idle()
    store = bot.store()
    alpha, beta = store.find("slack", f"{TEAM}:C0ALPHA:{ts}"), store.find("slack", f"{TEAM}:C0BETA:{ts}")
    other = store.find("slack", f"T0OTHERWS:C0ALPHA:{ts}")
    assert len({alpha.id, beta.id, other.id}) == 3
    assert (alpha.state.lang, beta.state.lang) == ("en", "zh")
    # An answer in one channel's thread moves only that interview.
    bot.slack.message("no", channel="C0BETA", thread_ts=ts)
    fake_api.wait_for("chat.postMessage", count=2, channel="C0BETA")
    bot.idle()
    assert store.find("slack", f"{TEAM}:C0ALPHA:{ts}").state == alpha.state
    assert store.find("slack", f"T0OTHERWS:C0ALPHA:{ts}").state == other.state


def test_a_chinese_interview_gets_chinese_button_values(bot, fake_api):
    ts, _ = bot.slack.mention("我们要做一个基于内部知识库的客服问答机器人。")
    [question] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
    assert {k: b["value"] for k, b in _question(question).items()} == {
        "yes": "是", "no": "否", "unknown": "不知道", "finish": "直接推荐"}


def test_a_slow_answer_is_acknowledged_at_once_and_completed_afterwards(make_bot, fake_api, shared_advisor):
    release = threading.Event()

    class SlowAdvisor:
        def __getattr__(self, name):
            return getattr(shared_advisor, name)

        def start_interview(self, text, lang=None):
            assert release.wait(10), "the test never released the advisor"
            return shared_advisor.start_interview(text, lang)

    bot = make_bot(SlowAdvisor())
    started = time.monotonic()
    ts, (status, _) = bot.slack.mention(WIKI)
    assert status == 200 and time.monotonic() - started < 3  # acknowledged while the advisor still works
    assert fake_api.received("chat.postMessage") == []
    release.set()
    fake_api.wait_for("chat.postMessage", thread_ts=ts)


# --------------------------------------------------------------------------- advice

def test_just_recommend_gives_block_kit_advice_and_why_expands_a_citation(bot, fake_api):
    ts, _ = bot.slack.mention(WIKI)
    [question] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
    bot.slack.click(question, "advisor_answer:finish")
    advice = fake_api.wait_for("chat.postMessage", count=2, thread_ts=ts)[-1]
    types = [b["type"] for b in advice.blocks]
    assert types[0] == "header" and "RAG" in advice.blocks[0]["text"]["text"]
    assert "Why not the others" in advice.all_text() and "What would change it" in advice.all_text()  # the short view
    text = advice.all_text()
    record = bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}")
    rec = record.state.recommendation
    assert record.state.done and rec.decision == "rag"
    first = rec.rationale[0].citations[0]
    assert first.quote in text and first.heading_path[-1] in text  # verbatim quote and section title
    bot.slack.click(advice, "advisor_why:r0")
    expanded = fake_api.wait_for("chat.postMessage", count=3, thread_ts=ts)[-1]
    shown = expanded.all_text()
    assert " › ".join(first.heading_path) in shown and first.quote in shown
    assert first.title_en in shown and first.summary_en in shown


def test_slash_command_answers_privately_with_a_share_button(bot, fake_api):
    status, body = bot.slack.slash("a support bot over our internal wiki, which changes every week",
                                   channel="C0SHARE", name="cmd1")
    assert status == 200 and body == ""
    [private] = fake_api.wait_for("response_url")
    assert private.body["response_type"] == "ephemeral"
    assert private.blocks[0]["type"] == "header"
    assert private.button("advisor_share")[1]["text"]["text"] == "Share in channel"
    bot.slack.click(private, "advisor_share", ephemeral=True, channel="C0SHARE")
    [shared] = fake_api.wait_for("chat.postMessage", channel="C0SHARE")
    assert shared.blocks[0]["type"] == "header" and f"<@{USER}>" in shared.all_text()
    assert not [b for _, b in shared.buttons() if b["action_id"] == "advisor_share"]
    fake_api.wait_for("response_url", where=lambda c: c.body.get("delete_original") is True)


def test_share_falls_back_to_the_response_url_when_the_bot_is_not_in_the_channel(bot, fake_api):
    bot.slack.slash(WIKI, channel="D0SOMEDM", name="cmd2")
    [private] = fake_api.wait_for("response_url")
    fake_api.errors["chat.postMessage"] = "channel_not_found"
    bot.slack.click(private, "advisor_share", ephemeral=True, channel="D0SOMEDM")
    fake_api.wait_for("response_url", where=lambda c: c.body.get("response_type") == "in_channel")


def test_slash_command_without_a_description_shows_usage(bot, fake_api):
    status, body = bot.slack.slash("")
    assert status == 200 and "/advisor DESCRIPTION" in body
    bot.idle()
    assert fake_api.received("response_url") == []


@pytest.mark.slow
def test_a_whole_interview_by_buttons_ends_in_advice_listed_with_the_cli_sessions(bot, fake_api):
    ts, _ = bot.slack.mention("We need an assistant for our support team.")
    for n in range(1, 12):
        last = fake_api.wait_for("chat.postMessage", count=n, thread_ts=ts)[-1]
        if last.blocks and last.blocks[0]["type"] == "header":
            break
        bot.slack.click(last, "advisor_answer:yes")
    else:
        pytest.fail("the interview never ended")
    bot.idle()
    [record] = [r for r in bot.store().list() if r.key == f"{TEAM}:C0CHANNEL1:{ts}"]
    assert record.channel == "slack" and record.decision == record.state.recommendation.decision
    assert record.state.done and all(e.answer == "yes" for e in record.state.history if e.dimension)
    # A later message in the finished thread says so instead of starting over.
    bot.slack.message("and now?", thread_ts=ts)
    final = fake_api.wait_for("chat.postMessage", count=n + 1, thread_ts=ts)[-1]
    assert "finished" in final.body["text"]


def test_a_bare_mention_gets_the_intro_and_the_next_thread_message_starts_the_interview(bot, fake_api):
    ts, _ = bot.slack.mention("")
    [intro] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
    assert "Tell me about your LLM project" in intro.body["text"]
    bot.slack.message(WIKI, thread_ts=ts)
    question = fake_api.wait_for("chat.postMessage", count=2, thread_ts=ts)[-1]
    assert _question(question)
    bot.idle()
    assert bot.store().find("slack", f"{TEAM}:C0CHANNEL1:{ts}").state.description.startswith("We want")


def test_why_on_private_advice_answers_privately(bot, fake_api):
    bot.slack.slash(WIKI, channel="C0PRIV", name="cmd3")
    [private] = fake_api.wait_for("response_url")
    bot.slack.click(private, "advisor_why:r0", ephemeral=True, channel="C0PRIV")
    why = fake_api.wait_for("response_url", count=2)[-1]
    assert why.body["response_type"] == "ephemeral" and why.body["replace_original"] is False
    assert "›" in why.all_text()
    bot.idle()
    assert fake_api.received("chat.postMessage") == []


def test_a_button_from_another_channel_cannot_read_a_session(bot, fake_api):
    bot.slack.slash(WIKI, channel="C0PRIV", name="cmd4")
    [private] = fake_api.wait_for("response_url")
    bot.slack.click(private, "advisor_why:r0", ephemeral=True, channel="C0ELSEWHERE")
    refused = fake_api.wait_for("response_url", count=2)[-1]
    assert "no longer have" in refused.body["text"] and "›" not in refused.all_text()


def test_socket_mode_needs_no_signing_secret(tmp_path, fake_api, shared_advisor):
    from agent.fronts.slack.app import create_app

    app = create_app(slack_settings(tmp_path / "home", fake_api.api_url, SLACK_SIGNING_SECRET=None),
                     shared_advisor, socket=True)
    assert app.client.base_url == fake_api.api_url


def test_socket_mode_requests_go_through_the_same_durable_inbox(tmp_path, fake_api, shared_advisor):
    """Socket Mode hands Bolt unsigned requests: stored, acknowledged, answered once, retries dropped."""
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app
    from slack_sdk.socket_mode.request import SocketModeRequest

    from agent.fronts.slack.app import close_app, create_app, wait_idle

    app = create_app(slack_settings(tmp_path / "home", fake_api.api_url, SLACK_SIGNING_SECRET=None),
                     shared_advisor, socket=True)
    try:
        event = {"type": "app_mention", "user": USER, "text": f"<@{BOT_USER}> {WIKI}", "ts": "1690000500.000100",
                 "channel": "C0SOCKET", "event_ts": "1690000500.000100"}
        payload = {"team_id": TEAM, "api_app_id": "A0ADVISOR", "type": "event_callback", "event_id": "EvSOCKET1",
                   "event": event, "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}
        for attempt in (None, 1):
            response = run_bolt_app(app, SocketModeRequest(type="events_api", envelope_id=f"env-{attempt}",
                                                           payload=payload, retry_attempt=attempt))
            assert response.status == 200
        assert wait_idle(app, 10)
        [reply] = fake_api.wait_for("chat.postMessage", channel="C0SOCKET")
        assert reply.thread_ts == "1690000500.000100"
        assert len(fake_api.received("chat.postMessage", channel="C0SOCKET")) == 1
    finally:
        close_app(app)


# --------------------------------------------------------------------------- after the advice

def test_thread_replies_after_the_advice_take_what_ifs_and_changes(bot, fake_api):
    """Issue 10: a finished thread can be asked "what if …?" (nothing saved) and told "change …" (saved)."""
    weekly = "We want a support bot that answers from our product docs, which change weekly. No special style is needed."
    ts, _ = bot.slack.mention(weekly)
    [advice] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
    assert advice.blocks[0]["type"] == "header", "the description settles it: advice at once"
    key = f"{TEAM}:C0CHANNEL1:{ts}"
    assert bot.store().find("slack", key).state.profile.data_dynamics.value == "yes"

    bot.slack.message("what if our data were static?", thread_ts=ts)
    what_if = fake_api.wait_for("chat.postMessage", count=2, thread_ts=ts)[-1].all_text()
    assert "What-if: what if our data were static?" in what_if
    assert "data changes often yes → no" in what_if
    bot.idle()
    assert bot.store().find("slack", key).state.profile.data_dynamics.value == "yes", "a what-if saves nothing"

    bot.slack.message("我们的数据如果是静态的呢?", thread_ts=ts)
    zh = fake_api.wait_for("chat.postMessage", count=3, thread_ts=ts)[-1].all_text()
    assert "data changes often yes → no" in zh, "the thread keeps the interview's language"

    bot.slack.message("change the data answer to no", thread_ts=ts)
    posts = fake_api.wait_for("chat.postMessage", count=5, thread_ts=ts)
    assert "Change saved: change the data answer to no" in posts[-2].all_text()
    assert posts[-1].blocks[0]["type"] == "header", "the changed advice, with its buttons"
    bot.idle()
    record = bot.store().find("slack", key)
    assert record.state.profile.data_dynamics.value == "no" and record.state.done
    assert record.decision == record.state.recommendation.decision

    bot.slack.message("back", thread_ts=ts)
    nothing = fake_api.wait_for("chat.postMessage", count=6, thread_ts=ts)[-1].all_text()
    assert "no earlier answer to change" in nothing, "no question was answered: nothing to take back"
    bot.idle()
    assert bot.store().find("slack", key).state.done, "the advice stands"
