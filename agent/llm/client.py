"""The OpenAI-compatible client: built lazily, retried with tenacity, failures in one line.

The `openai` package is imported on first use, not at import time, so commands that never
talk to a model do not pay for it. The openai client's own retries are off (max_retries=0):
tenacity does the retrying here, under one overall deadline.
"""
from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit, urlunsplit

from ..errors import EndpointError, ModelBehaviorError
from ..settings import Settings
from .usage import Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0
# Local servers ignore the key, but the openai client refuses to start without one.
NO_KEY = "no-key-needed"
_KEYLIKE = re.compile(r"\b(sk|key|api)[-_][A-Za-z0-9_\-]{6,}")


class EndpointFailure(EndpointError):
    """An EndpointError with a kind; permanent ones will not get better by retrying later."""

    # A 400 is left out: it may belong to one input (say, one too long), not to the setup.
    PERMANENT = {"auth", "html", "model", "path", "quota", "unreachable"}

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind

    @property
    def permanent(self) -> bool:
        return self.kind in self.PERMANENT


@dataclass
class Reply:
    """One chat completion, reduced to what the engine needs."""

    text: str
    refusal: Optional[str] = None
    finish_reason: Optional[str] = None


def display_url(url: str) -> str:
    """The URL without credentials or query, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def retry_after(exc: BaseException) -> Optional[float]:
    """Seconds the server asked us to wait (retry-after-ms, Retry-After seconds or date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / scale)
        except ValueError:
            pass
        parsed = email.utils.parsedate_to_datetime(raw) if name == "retry-after" else None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - time.time())
    return None


def _transient(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.RateLimitError):
        return _code(exc) != "insufficient_quota"  # billing will not fix itself in seconds
    return isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError,
                            openai.InternalServerError))


def _code(exc: BaseException) -> Optional[str]:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return err.get("code") or err.get("type")
    return None


def _is_html(response: Any) -> bool:
    headers = getattr(response, "headers", None) or {}
    return "html" in (headers.get("content-type") or "").lower()


class LLMClient:
    """Chat, streaming, model listing and embeddings against one endpoint, with retries."""

    def __init__(self, settings: Settings, *, attempts: int = MAX_ATTEMPTS,
                 deadline: Optional[float] = None, sleep: Callable[[float], None] = time.sleep,
                 usage: Optional[Usage] = None):
        self.settings = settings
        self.model = settings.model
        self.base_url = (settings.openai_base_url or DEFAULT_BASE_URL).rstrip("/")
        self.attempts = attempts
        self.deadline = settings.llm_deadline if deadline is None else deadline
        self.usage = usage if usage is not None else Usage()
        self._sleep = sleep
        self._client: Any = None

    # ------------------------------------------------------------------ plumbing
    @property
    def openai(self) -> Any:
        """The openai.OpenAI client, built on first use."""
        if self._client is None:
            import openai

            key = self.settings.openai_api_key
            self._client = openai.OpenAI(
                api_key=key.get_secret_value() if key else NO_KEY, base_url=self.base_url,
                max_retries=0, timeout=self.settings.llm_timeout)
        return self._client

    def _key(self) -> str:
        key = self.settings.openai_api_key
        return key.get_secret_value() if key else ""

    def _scrub(self, text: str) -> str:
        """Server text may echo the key: remove it (and anything key-shaped)."""
        key = self._key()
        if key:
            text = text.replace(key, "***")
        return _KEYLIKE.sub("***", text)

    def call(self, fn: Callable[[float], Any]) -> Any:
        """Run fn(timeout) with retries under the deadline; map the final failure."""
        import tenacity

        start = time.monotonic()

        def attempt() -> Any:
            remaining = self.deadline - (time.monotonic() - start)
            # Each attempt gets at most what is left of the overall deadline.
            return fn(max(0.05, min(self.settings.llm_timeout, remaining)))

        def wait(state: tenacity.RetryCallState) -> float:
            hinted = retry_after(state.outcome.exception()) if state.outcome else None
            if hinted is not None:
                return min(hinted, MAX_RETRY_AFTER)
            return backoff(state)

        # Exponential with jitter, spelled so that tenacity 8 and 9 agree.
        backoff = tenacity.wait_exponential(multiplier=0.5, max=8.0) + tenacity.wait_random(0, 0.5)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_transient),
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.deadline),
            wait=wait, sleep=self._sleep, reraise=True)
        try:
            return retrying(attempt)
        except EndpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - every openai failure becomes one line
            failure = self.describe(exc, retrying.statistics.get("attempt_number", 1))
            if failure is None:
                raise
            raise failure from exc

    def describe(self, exc: BaseException, attempts: int = 1) -> Optional[EndpointFailure]:
        """One plain line (never the key) saying what went wrong and what to do."""
        import openai

        url, tries = display_url(self.base_url), f" after {attempts} attempts" if attempts > 1 else ""
        if isinstance(exc, openai.APITimeoutError):
            return EndpointFailure(f"{url} did not answer within {self.settings.llm_timeout:g} s"
                                   f"{tries}: try again later or raise ADVISOR_LLM_TIMEOUT", "timeout")
        if isinstance(exc, openai.APIConnectionError):
            return EndpointFailure(f"cannot reach {url}: is the server running?", "unreachable")
        if not isinstance(exc, openai.APIStatusError):
            return None
        status = exc.status_code
        if _is_html(exc.response):
            return _html_failure()
        if status == 401:
            return EndpointFailure(f"401 from {url}: check OPENAI_API_KEY", "auth")
        if status == 403:
            return EndpointFailure(f"403 from {url}: the key may not have access to model "
                                   f"'{self.model}'; check OPENAI_API_KEY", "auth")
        if status == 404:
            if "model" in str(getattr(exc, "body", "") or exc.message).lower():
                return EndpointFailure(f"model '{self.model}' not found at {url}: "
                                       "set ADVISOR_MODEL or --model", "model")
            return EndpointFailure(f"404 from {url}: check OPENAI_BASE_URL (it usually ends in /v1)",
                                   "path")
        if status == 429:
            if _code(exc) == "insufficient_quota":
                return EndpointFailure(f"429 from {url}: quota exhausted; check the account's "
                                       "plan and billing", "quota")
            return EndpointFailure(f"rate limited by {url} (429){tries}: try again later", "rate")
        if status >= 500:
            return EndpointFailure(f"{status} from {url}{tries}: the server is failing; "
                                   "try again later", "server")
        detail = self._scrub(str(exc.message or "")).splitlines()[0][:200] if exc.message else ""
        return EndpointFailure(f"{status} from {url}: {detail}".rstrip(": "), "bad_request")

    # ------------------------------------------------------------------ calls
    def _create(self, kwargs: dict[str, Any]):
        """One attempt at a chat completion, for `call` to retry; an HTML page is not the API."""
        def once(timeout: float) -> Any:
            raw = self.openai.with_options(timeout=timeout).chat.completions \
                .with_raw_response.create(**kwargs)
            if _is_html(raw):
                raise _html_failure()
            return raw.parse()

        return once

    def chat(self, messages: list[dict], *, json_mode: bool = False) -> Reply:
        """One chat completion (JSON mode on request); counts usage."""
        # No max_tokens: reasoning models reject it, and the prompts ask for short replies.
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}

        completion = self.call(self._create(kwargs))
        if not getattr(completion, "choices", None):
            raise _not_openai(completion)
        self._count(getattr(completion, "usage", None), messages, "")
        choice = completion.choices[0]
        msg = choice.message
        return Reply(text=msg.content or "", refusal=getattr(msg, "refusal", None),
                     finish_reason=choice.finish_reason)

    def stream(self, messages: list[dict]) -> Iterator[str]:
        """Stream a chat completion's text; retries cover opening the stream, not its middle."""
        kwargs = {"model": self.model, "messages": messages, "stream": True,
                  "stream_options": {"include_usage": True}}

        chunks = self.call(self._create(kwargs))
        text, usage, refusal, finish = [], None, None, None
        try:
            for chunk in chunks:
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or []:
                    finish = choice.finish_reason or finish
                    refusal = getattr(choice.delta, "refusal", None) or refusal
                    if choice.delta.content:
                        text.append(choice.delta.content)
                        yield choice.delta.content
        except Exception as exc:  # noqa: BLE001 - a broken stream is an endpoint failure
            failure = self.describe(exc)
            raise (failure or EndpointFailure(
                f"the stream from {display_url(self.base_url)} broke off", "server")) from exc
        finally:
            self._count(usage, messages, "".join(text))
        if not text and (refusal or finish == "content_filter"):
            raise ModelBehaviorError("the model declined to write the advice", refusal)

    def models(self) -> list[str]:
        """Model ids the endpoint lists."""
        def once(timeout: float) -> Any:
            raw = self.openai.with_options(timeout=timeout).models.with_raw_response.list()
            if _is_html(raw):
                raise _html_failure()
            return raw.parse()

        page = self.call(once)
        data = getattr(page, "data", None)
        if data is None:
            raise _not_openai(page)
        return [m.id for m in data]

    def embed(self, texts: list[str], model: str) -> list[list[float]]:
        """Embeddings for texts, in input order."""
        def once(timeout: float) -> Any:
            raw = self.openai.with_options(timeout=timeout).embeddings.with_raw_response.create(
                model=model, input=texts, encoding_format="float")
            if _is_html(raw):
                raise _html_failure()
            return raw.parse()

        result = self.call(once)
        if not hasattr(result, "data"):
            raise _not_openai(result)
        usage = getattr(result, "usage", None)
        self.usage.add(model, getattr(usage, "prompt_tokens", 0) or 0, 0)
        return [d.embedding for d in sorted(result.data, key=lambda d: d.index)]

    def _count(self, usage: Any, messages: list[dict], completion: str) -> None:
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            cached = getattr(details, "cached_tokens", 0) or 0
            self.usage.add(self.model, usage.prompt_tokens or 0, usage.completion_tokens or 0,
                           cached)
            return
        # Some servers send no usage: estimate about four characters per token.
        prompt = sum(len(str(m.get("content", ""))) for m in messages) // 4
        self.usage.add(self.model, prompt, len(completion) // 4)


def _html_failure() -> EndpointFailure:
    return EndpointFailure("endpoint answered HTML, not the OpenAI API: check OPENAI_BASE_URL "
                           "(it usually ends in /v1)", "html")


def _not_openai(obj: Any) -> EndpointFailure:
    if isinstance(obj, str) and "<html" in obj[:500].lower():
        return _html_failure()
    return EndpointFailure("endpoint answered something that is not the OpenAI API: check "
                           "OPENAI_BASE_URL (it usually ends in /v1)", "path")
