"""One settings object: the only place that reads the environment."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, SecretStr

EngineName = Literal["offline", "llm", "auto"]


class Settings(BaseModel):
    """Configuration from ADVISOR_*, OPENAI_* and SLACK_* variables (flags override it)."""

    home: Path
    engine: EngineName = "auto"
    embeddings: Literal["local", "openai"] = "local"
    model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    openai_api_key: Optional[SecretStr] = None
    openai_base_url: Optional[str] = None
    llm_timeout: float = 30.0
    llm_deadline: float = 90.0
    llm_call_log: Optional[Path] = None  # ADVISOR_LLM_CALL_LOG: one JSON line per model call
    slack_bot_token: Optional[SecretStr] = None
    slack_signing_secret: Optional[SecretStr] = None
    slack_app_token: Optional[SecretStr] = None
    slack_api_base_url: Optional[str] = None
    debug: bool = False
    log: bool = True  # ADVISOR_LOG=0: one-shot `recommend` results are not logged to the session store

    @property
    def llm_configured(self) -> bool:
        """An endpoint is configured when a key or a base URL is set."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def db_path(self) -> Path:
        return self.home / "sessions.db"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @classmethod
    def from_env(cls, env: Optional[dict[str, str]] = None, **overrides) -> "Settings":
        """Read settings from the environment; keyword overrides (flags) win when not None."""
        env = dict(os.environ if env is None else env)
        home = env.get("ADVISOR_HOME")
        if not home:
            from platformdirs import user_data_dir

            home = user_data_dir("advisor", appauthor=False)
        values = {
            "home": Path(home).expanduser(),
            "engine": env.get("ADVISOR_ENGINE") or "auto",
            "embeddings": env.get("ADVISOR_EMBEDDINGS") or "local",
            "model": env.get("ADVISOR_MODEL") or "gpt-4o-mini",
            "embedding_model": env.get("ADVISOR_EMBEDDING_MODEL") or "text-embedding-3-small",
            "openai_api_key": env.get("OPENAI_API_KEY") or None,
            "openai_base_url": env.get("OPENAI_BASE_URL") or None,
            "llm_timeout": float(env.get("ADVISOR_LLM_TIMEOUT") or 30.0),
            "llm_deadline": float(env.get("ADVISOR_LLM_DEADLINE") or 90.0),
            "llm_call_log": env.get("ADVISOR_LLM_CALL_LOG") or None,
            "slack_bot_token": env.get("SLACK_BOT_TOKEN") or None,
            "slack_signing_secret": env.get("SLACK_SIGNING_SECRET") or None,
            "slack_app_token": env.get("SLACK_APP_TOKEN") or None,
            "slack_api_base_url": env.get("SLACK_API_BASE_URL") or None,
            "debug": (env.get("ADVISOR_DEBUG") or "") not in ("", "0", "false"),
            "log": (env.get("ADVISOR_LOG") or "1").strip().lower() not in ("0", "false", "no", "off"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
