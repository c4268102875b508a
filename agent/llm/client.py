"""The OpenAI-compatible client: built lazily, retried with tenacity, failures in one line.

The `openai` package is imported on first use, not at import time, so commands that never
talk to a model do not pay for it. The openai client's own retries are off (max_retries=0):
tenacity does the retrying here, under one deadline that every attempt, wait and read shares
(`bounded` enforces it on the socket). Every completion carries a `max_tokens` cap.
"""
from __future__ import annotations

import email.utils
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit, urlunsplit

from ..errors import EndpointError, ModelBehaviorError
from ..settings import Settings
from . import bounded
from .forms import FormMemory, refusal_of_form, response_format
from .usage import Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0
# The most a reply may weigh on the wire; a server sending more is cut off.
MAX_REPLY_BYTES = 1_000_000
MAX_STREAM_BYTES = 2_000_000
# No call goes without a reply cap: a model that never stops would run to its full context.
DEFAULT_MAX_TOKENS = 512
# A reply the advisor gives up on is not cancelled by a server that is not streaming (llama-cpp-
# python keeps generating it, and the next request waits behind it). So where the endpoint is
# known to be slow, the cap is lowered to what it can write in the time left, with this margin.
FIT_MARGIN = 0.8
MIN_FIT = 32  # the smallest cap asked for
# Local servers ignore the key, but the openai client refuses to start without one.
NO_KEY = "no-key-needed"
_KEYLIKE = re.compile(r"\b(sk|key|api)[-_][A-Za-z0-9_\-]{6,}")


class EndpointFailure(EndpointError):
    """An EndpointError with a kind; permanent ones will not get better by retrying later."""

    # A 400 is left out: it may belong to one input (say, one too long), not to the setup.
    PERMANENT = {"auth", "html", "model", "path", "quota", "unreachable"}

    def __init__(self, message: str, kind: str, **detail: Any):
        super().__init__(message)
        self.kind = kind
        self.detail = detail  # what a translated notice needs: url, seconds, status, bytes

    @property
    def permanent(self) -> bool:
        return self.kind in self.PERMANENT


@dataclass
class Reply:
    """One chat completion, reduced to what the engine needs."""

    text: str
    refusal: Optional[str] = None
    finish_reason: Optional[str] = None
    form: Optional[str] = None  # the structured-output form that was accepted, if one was asked
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def is_loopback(url: str) -> bool:
    """Is the endpoint on this machine? A time-out there is load, not a blip: never retried."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _transient(exc: BaseException, *, loopback: bool, server_errors: bool = True) -> bool:
    import openai

    if isinstance(exc, openai.RateLimitError):
        return _code(exc) != "insufficient_quota"  # billing will not fix itself in seconds
    if isinstance(exc, openai.InternalServerError):
        return server_errors
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return not loopback  # a refused or overloaded local server will not recover in seconds
    return False


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
        self.loopback = is_loopback(self.base_url)
        self.forms = FormMemory(settings.home / "llm-forms.json")
        self.calls: list[dict] = []  # per-call log: kind, form, seconds, tokens, cap, outcome
        self.last_stream: dict = {}  # how the latest advice stream ended: finish_reason, cut
        self.turn = 0  # the engine numbers its turns; each logged call says which it was in
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
                max_retries=0, timeout=self.settings.llm_timeout,
                http_client=bounded.http_client(self.settings.llm_timeout))
        return self._client

    @property
    def form_key(self) -> str:
        return f"{display_url(self.base_url)} {self.model}"

    def _key(self) -> str:
        key = self.settings.openai_api_key
        return key.get_secret_value() if key else ""

    def _scrub(self, text: str) -> str:
        """Server text may echo the key: remove it (and anything key-shaped)."""
        key = self._key()
        if key:
            text = text.replace(key, "***")
        return _KEYLIKE.sub("***", text)

    def call(self, fn: Callable[[float], Any], *, until: Optional[float] = None,
             max_bytes: int = MAX_REPLY_BYTES, server_errors: bool = True,
             per_call: bool = True) -> Any:
        """Run fn(timeout) with retries; map the final failure to one line.

        `until` is the absolute deadline (time.monotonic) of the whole turn; without one the
        call gets `self.deadline`. Each attempt also ends after ADVISOR_LLM_TIMEOUT when
        `per_call`. Every read of every attempt, and every wait between them, ends by then.
        """
        import tenacity

        start = time.monotonic()
        until = start + self.deadline if until is None else until
        if until - start <= 0.05:
            raise EndpointFailure(f"the turn's time budget ({self.settings.llm_deadline:g} s) "
                                  "was used up before this call", "deadline",
                                  seconds=self.settings.llm_deadline)

        scopes: list[bounded.Scope] = []

        def attempt() -> Any:
            now = time.monotonic()
            limit = min(until, now + self.settings.llm_timeout) if per_call else until
            with bounded.scope(limit, max_bytes) as sc:
                scopes.append(sc)
                return fn(max(0.05, min(self.settings.llm_timeout, limit - now)))

        def wait(state: tenacity.RetryCallState) -> float:
            hinted = retry_after(state.outcome.exception()) if state.outcome else None
            if hinted is not None:
                return min(hinted, MAX_RETRY_AFTER)
            return backoff(state)

        def stop(state: tenacity.RetryCallState) -> bool:
            # Stop when the next wait (and a little work) would not fit in what is left.
            left = until - time.monotonic()
            return state.attempt_number >= self.attempts or (state.upcoming_sleep or 0) + 0.5 >= left

        def retry(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None or (scopes and scopes[-1].overflow):
                return False  # a reply too large will be as large next time
            return _transient(exc, loopback=self.loopback, server_errors=server_errors)

        # Exponential with jitter, spelled so that tenacity 8 and 9 agree.
        backoff = tenacity.wait_exponential(multiplier=0.5, max=8.0) + tenacity.wait_random(0, 0.5)
        retrying = tenacity.Retrying(retry=retry, stop=stop, wait=wait, sleep=self._sleep,
                                     reraise=True)
        try:
            return retrying(attempt)
        except EndpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - every openai failure becomes one line
            failure = self.describe(exc, retrying.statistics.get("attempt_number", 1),
                                    budget_spent=time.monotonic() >= until - 0.05,
                                    overflow=bool(scopes and scopes[-1].overflow))
            if failure is None:
                raise
            raise failure from exc

    def describe(self, exc: BaseException, attempts: int = 1, *, budget_spent: bool = False,
                 overflow: bool = False) -> Optional[EndpointFailure]:
        """One plain line (never the key) saying what went wrong and what to do."""
        import httpx2
        import openai

        url, tries = display_url(self.base_url), f" after {attempts} attempts" if attempts > 1 else ""
        if overflow:
            return EndpointFailure(f"the reply from {url} was cut off: it was larger than the "
                                   "reply-size cap", "too_large", url=url)
        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            if budget_spent:
                return EndpointFailure(f"{url} did not finish within the turn's time budget "
                                       f"({self.settings.llm_deadline:g} s, ADVISOR_LLM_DEADLINE)",
                                       "deadline", url=url, seconds=self.settings.llm_deadline)
            return EndpointFailure(f"{url} did not answer within {self.settings.llm_timeout:g} s"
                                   f"{tries}: try again later or raise ADVISOR_LLM_TIMEOUT",
                                   "timeout", url=url, seconds=self.settings.llm_timeout)
        if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
            return EndpointFailure(f"cannot reach {url}: is the server running?", "unreachable",
                                   url=url)
        if not isinstance(exc, openai.APIStatusError):
            return None
        status = exc.status_code
        if _is_html(exc.response):
            return _html_failure()
        if status == 401:
            return EndpointFailure(f"401 from {url}: check OPENAI_API_KEY", "auth", url=url)
        if status == 403:
            return EndpointFailure(f"403 from {url}: the key may not have access to model "
                                   f"'{self.model}'; check OPENAI_API_KEY", "auth", url=url)
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
                                   "try again later", "server", url=url, status=status)
        detail = self._scrub(str(exc.message or "")).splitlines()[0][:200] if exc.message else ""
        return EndpointFailure(f"{status} from {url}: {detail}".rstrip(": "), "bad_request",
                               url=url, status=status)

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

    def chat(self, messages: list[dict], *, max_tokens: int = DEFAULT_MAX_TOKENS, kind: str = "chat",
             until: Optional[float] = None, schema: Optional[dict] = None,
             schema_name: str = "reply") -> Reply:
        """One chat completion of at most `max_tokens` tokens; counts usage.

        With a `schema`, the reply is asked for as JSON in the form this endpoint accepts
        (learned on first use: a form it refuses is not retried, the next one is tried).
        """
        if schema is None:
            return self._complete({"model": self.model, "messages": messages,
                                   "max_tokens": max_tokens}, kind, until)
        key = self.form_key
        candidates = self.forms.candidates(key)
        known = self.forms.known(key)
        refused: list[str] = []
        for form in candidates:
            kwargs: dict[str, Any] = {"model": self.model, "messages": messages,
                                      "max_tokens": max_tokens}
            fmt = response_format(form, schema, schema_name)
            if fmt is not None:
                kwargs["response_format"] = fmt
            try:
                # Until a form has worked here, a 500 may just mean "not this form".
                reply = self._complete(kwargs, kind, until, server_errors=known is not None,
                                       form=form)
            except EndpointFailure as exc:
                cause = exc.__cause__
                if known is None and form != "text" and refusal_of_form(cause):
                    refused.append(form)
                    continue
                raise
            self.forms.took(key, form, tuple(refused))
            reply.form = form
            return reply
        raise AssertionError("the text form is always tried")  # pragma: no cover

    def fit(self, cap: int, until: Optional[float]) -> int:
        """The reply cap, lowered to what this endpoint writes in the time left (if known).

        Never below MIN_FIT: a short reply still gets asked for, and its speed is what lets
        a rate learned while the server was busy recover.
        """
        rate = self.forms.rate(self.form_key)
        if rate is None:
            return cap
        now = time.monotonic()
        # The call ends at the turn's deadline or after ADVISOR_LLM_TIMEOUT, whichever is first.
        left = min(now + self.deadline if until is None else until,
                   now + self.settings.llm_timeout) - now
        return min(cap, max(MIN_FIT, int(rate * left * FIT_MARGIN)))

    def _complete(self, kwargs: dict[str, Any], kind: str, until: Optional[float], *,
                  server_errors: bool = True, form: Optional[str] = None) -> Reply:
        kwargs = {**kwargs, "max_tokens": self.fit(kwargs["max_tokens"], until)}
        start = time.monotonic()
        try:
            completion = self.call(self._create(kwargs), until=until, server_errors=server_errors)
        except EndpointFailure as exc:
            status = exc.detail.get("status")
            probing = form is not None and not server_errors and form != "text"
            outcome = (f"refused ({status})" if probing and refusal_of_form(exc.__cause__)
                       else f"failed: {exc.kind}")
            self._log(kind, form, time.monotonic() - start, None, kwargs["max_tokens"],
                      outcome, status)
            if exc.kind in ("timeout", "deadline"):
                self.forms.saw_timeout(self.form_key)  # fit the next cap to a slower server
            raise
        if not getattr(completion, "choices", None):
            raise _not_openai(completion)
        prompt, completion_tokens = self._count(getattr(completion, "usage", None),
                                                kwargs["messages"], "")
        choice = completion.choices[0]
        msg = choice.message
        seconds = time.monotonic() - start
        if getattr(completion, "usage", None) is not None:
            self.forms.saw_rate(self.form_key, completion_tokens, seconds)
        self._log(kind, form, seconds, (prompt, completion_tokens), kwargs["max_tokens"],
                  choice.finish_reason or "ok")
        return Reply(text=msg.content or "", refusal=getattr(msg, "refusal", None),
                     finish_reason=choice.finish_reason, seconds=seconds,
                     prompt_tokens=prompt, completion_tokens=completion_tokens)

    def stream(self, messages: list[dict], *, max_tokens: int = DEFAULT_MAX_TOKENS, until: Optional[float] = None,
               max_chars: Optional[int] = None, kind: str = "advice") -> Iterator[str]:
        """Stream a chat completion's text; retries cover opening the stream, not its middle.

        Every read ends by `until` (the turn's deadline); the reply stops at `max_tokens`
        tokens and `max_chars` characters. `self.last_stream` then says how it ended.
        """
        kwargs = {"model": self.model, "messages": messages, "stream": True,
                  "max_tokens": max_tokens, "stream_options": {"include_usage": True}}
        start = time.monotonic()
        until = start + self.deadline if until is None else until
        self.last_stream = {"finish_reason": None, "cut": None}
        try:
            chunks = self.call(self._create(kwargs), until=until, max_bytes=MAX_STREAM_BYTES,
                               per_call=False)
        except EndpointFailure as exc:
            self._log(kind, None, time.monotonic() - start, None, max_tokens,
                      f"failed: {exc.kind}", exc.detail.get("status"))
            raise
        text: list[str] = []
        usage, refusal, finish, chars = None, None, None, 0
        outcome = "ok"
        # The whole stream, not just its opening, is held to the turn's deadline; the scope is
        # entered only around each read, never while this generator is suspended.
        sc = bounded.Scope(until, MAX_STREAM_BYTES)
        it = iter(chunks)
        try:
            while not self.last_stream["cut"]:
                with bounded.using(sc):
                    chunk = next(it, None)
                if chunk is None:
                    break
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or []:
                    finish = choice.finish_reason or finish
                    refusal = getattr(choice.delta, "refusal", None) or refusal
                    piece = choice.delta.content
                    if piece and not self.last_stream["cut"]:
                        if max_chars is not None and chars + len(piece) > max_chars:
                            piece = piece[:max(0, max_chars - chars)]
                            self.last_stream["cut"] = "chars"
                        chars += len(piece)
                        text.append(piece)
                        yield piece
        except GeneratorExit:
            outcome = "abandoned"
            raise
        except Exception as exc:  # noqa: BLE001 - a broken stream is an endpoint failure
            failure = self.describe(exc, budget_spent=time.monotonic() >= until - 0.05,
                                    overflow=sc.overflow)
            if failure is None or failure.kind == "unreachable":
                # It was reached: the connection broke in the middle of the stream.
                url = display_url(self.base_url)
                failure = EndpointFailure(f"the stream from {url} broke off", "broken", url=url)
            outcome = f"failed: {failure.kind}"
            raise failure from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None and (self.last_stream["cut"] or outcome != "ok"):
                try:
                    close()  # tell the server to stop generating
                except Exception:  # noqa: BLE001
                    pass
            counted = self._count(usage, messages, "".join(text))
            if outcome == "ok" and not self.last_stream["cut"]:
                self.forms.saw_stream(self.form_key, usage is not None)
            self.last_stream["finish_reason"] = finish
            self._log(kind, None, time.monotonic() - start, counted, max_tokens,
                      finish or outcome)
        if finish == "length":
            self.last_stream["cut"] = "tokens"
        elif finish is None and text and not self.last_stream["cut"]:
            self.last_stream["cut"] = "ended"  # closed without saying it was done
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

    def _count(self, usage: Any, messages: list[dict], completion: str) -> tuple[int, int]:
        """Add one call's tokens to the usage; returns (prompt, completion) tokens."""
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            cached = getattr(details, "cached_tokens", 0) or 0
            prompt, done = usage.prompt_tokens or 0, usage.completion_tokens or 0
            self.usage.add(self.model, prompt, done, cached)
            return prompt, done
        # Some servers send no usage: estimate about four characters per token.
        prompt = sum(len(str(m.get("content", ""))) for m in messages) // 4
        self.usage.add(self.model, prompt, len(completion) // 4, estimated=True)
        return prompt, len(completion) // 4

    def _log(self, kind: str, form: Optional[str], seconds: float,
             tokens: Optional[tuple[int, int]], cap: int, outcome: str,
             status: Optional[int] = None) -> None:
        entry = {"turn": self.turn, "kind": kind, "form": form,
                 "started": round(time.time() - seconds, 3), "seconds": round(seconds, 3),
                 "max_tokens": cap, "prompt_tokens": tokens[0] if tokens else None,
                 "completion_tokens": tokens[1] if tokens else None, "outcome": outcome}
        if status is not None:
            entry["status"] = status
        self.calls.append(entry)
        path = self.settings.llm_call_log
        if path is not None:
            # For measuring and debugging (the real-server test reads it); never the prompts.
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            except OSError:
                pass


def _html_failure() -> EndpointFailure:
    return EndpointFailure("endpoint answered HTML, not the OpenAI API: check OPENAI_BASE_URL "
                           "(it usually ends in /v1)", "html")


def _not_openai(obj: Any) -> EndpointFailure:
    if isinstance(obj, str) and "<html" in obj[:500].lower():
        return _html_failure()
    return EndpointFailure("endpoint answered something that is not the OpenAI API: check "
                           "OPENAI_BASE_URL (it usually ends in /v1)", "path")


def describe_endpoint_failure(settings: Settings, exc: BaseException) -> str:
    """One line for any failure talking to the endpoint (the client's wording when it knows the error)."""
    failure = LLMClient(settings).describe(exc)
    return str(failure) if failure else f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
