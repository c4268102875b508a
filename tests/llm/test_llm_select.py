"""Engine choice: offline, llm, or auto (llm when an endpoint is configured)."""
from __future__ import annotations

import pytest
from llm_fakes import FakeFallback, make_rec

from agent.errors import UserError
from agent.llm import make_engine
from agent.llm.engine import LLMEngine
from agent.llm.select import AUTO_OFFLINE


def test_offline_is_the_fallback_itself(settings_for):
    fallback = FakeFallback()
    assert make_engine(settings_for("http://127.0.0.1:9/v1", engine="offline"), fallback) is fallback


def test_auto_without_endpoint_says_so_once(settings_for):
    fallback = FakeFallback()
    fallback.notices.append("offline note")
    engine = make_engine(settings_for(None, None, engine="auto"), fallback)
    assert engine.name == "offline"
    assert engine.drain_notices() == [AUTO_OFFLINE, "offline note"]
    assert engine.drain_notices() == []
    assert "".join(engine.write_advice(make_rec())) and fallback.used("write_advice") == 1


def test_auto_with_endpoint_is_the_llm_engine(settings_for):
    engine = make_engine(settings_for("http://127.0.0.1:9/v1", engine="auto"), FakeFallback())
    assert isinstance(engine, LLMEngine) and engine.name == "llm"
    assert engine.usage.calls == 0


def test_llm_without_endpoint_is_a_user_error(settings_for):
    with pytest.raises(UserError, match="--engine llm needs an endpoint"):
        make_engine(settings_for(None, None, engine="llm"), FakeFallback())
