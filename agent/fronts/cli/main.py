"""The `advisor` command: parses arguments, calls agent.api, formats output. Nothing more."""
from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Optional

import click
import typer

try:  # typer >= 0.20 ships its own copy of click and raises that copy's exceptions
    from typer._click import exceptions as _tclick
except ImportError:  # pragma: no cover
    _tclick = click.exceptions

_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, getattr(typer, "Abort", click.exceptions.Abort))
_USAGE = (click.ClickException, _tclick.ClickException)
from ...errors import AdvisorError, UserError
from .options import BaseUrlOpt, EmbOpt, EngineOpt, ModelOpt, settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="RAG, fine-tuning, both, or neither? Advice cited from one article.")
sessions_app = typer.Typer(no_args_is_help=True, help="Saved interview sessions.")
app.add_typer(sessions_app, name="sessions")

if TYPE_CHECKING:
    from rich.console import Console

    from ...api import Settings


# The consoles, pydantic settings and the library load only when a command needs them, so
# `advisor --help` costs python + typer (see evals/bench.py).
@lru_cache(maxsize=None)
def _out() -> "Console":
    from rich.console import Console

    return Console()


@lru_cache(maxsize=None)
def _err() -> "Console":
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


MAX_STDIN = 1_000_000

def advisor(engine=None, model=None, base_url=None, embeddings=None):
    from ...api import Advisor

    s = settings(model, base_url, embeddings, engine)
    adv = Advisor(s, engine=engine)
    # A hint for people at a terminal; scripts get a clean stderr (an error stays one line).
    if adv.engine_choice == "auto" and not s.llm_configured and _err().is_terminal:
        _err().print("[dim]No LLM endpoint configured (OPENAI_API_KEY / OPENAI_BASE_URL): using the offline engine.[/dim]")
    return adv


def _need_embedding_endpoint(s: Settings) -> None:
    """OpenAI embeddings need a key (or a local server's URL): say which variable is missing."""
    if s.embeddings == "openai" and not s.llm_configured:
        raise UserError("--embeddings openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
                        "OpenAI-compatible server); or use --embeddings local")


def _need_writable(folder, what: str) -> None:
    """Fail fast, in one line, when `folder` cannot be created or written."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"cannot write {what} in {folder} ({e.strerror or e}): "
                        "set ADVISOR_HOME to a writable folder") from None


def read_input(text: str, what: str = "description") -> str:
    """TEXT itself, or stdin when TEXT is '-' (strict UTF-8, at most 1 MB)."""
    if text != "-":
        return text
    data = sys.stdin.buffer.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise UserError(f"the {what} on stdin is over {MAX_STDIN:,} bytes")
    if b"\x00" in data:
        raise UserError(f"the {what} on stdin looks binary, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"the {what} on stdin is not valid UTF-8") from None


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------- commands

@app.command()
def search(query: str = typer.Argument(..., help="A question in English or Chinese, or - for stdin."),
           k: int = typer.Option(5, "--k", "-k", min=1, max=50, help="How many passages."),
           as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
           embeddings: Optional[str] = EmbOpt):
    """Ranked passages of the article for a question."""
    from ...api import Advisor
    from ...api import render_search

    s = settings(embeddings=embeddings)
    _need_embedding_endpoint(s)
    adv = Advisor(s, engine="offline")
    query = read_input(query, "query")
    with _err().status("Searching…") if not as_json and _err().is_terminal else nullcontext():
        resp = adv.search(query, k)
    if as_json:
        emit_json(resp.model_dump(mode="json"))
    else:
        render_search(resp, _out())


@app.command()
def index(rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild even if the cache is valid."),
          embeddings: Optional[str] = EmbOpt):
    """Build (or rebuild) the knowledge index cache."""
    from ...api import Advisor

    s = settings(embeddings=embeddings)
    _need_embedding_endpoint(s)
    if rebuild or not s.index_dir.exists():
        _need_writable(s.index_dir, "the index cache")  # fail now, not after a minute of building
    adv = Advisor(s, engine="offline")
    with _err().status("Building the index…"):
        ix = adv.rebuild_index() if rebuild else adv.index
    d = ix.data
    if d.path is None:
        raise UserError(f"the index was built but could not be saved in {s.index_dir}: "
                        "set ADVISOR_HOME to a writable folder")
    state = f"built in {d.build_seconds:.1f}s" if d.built else "already up to date"
    _out().print(f"Index {state}: {len(d.chunks)} chunks, "
              f"{len(ix.article.sections)} sections, model {ix.embedder.name}\n  {d.path}")


@app.command()
def recommend(text: str = typer.Argument(None, help="Project description, or - for stdin."),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
              markdown: bool = typer.Option(False, "--markdown", help="Print the full advice as markdown."),
              full: bool = typer.Option(False, "--full", help="Every quote, caveat and readiness line, and the article's coverage."),
              about_self: bool = typer.Option(False, "--about-self", help="Apply the framework to the advisor itself."),
              no_log: bool = typer.Option(False, "--no-log", help="Do not log this result to the session store."),
              engine: Optional[str] = EngineOpt, model: Optional[str] = ModelOpt,
              base_url: Optional[str] = BaseUrlOpt):
    """One-shot recommendation: a short view (40 lines), --full for every quote, --markdown or --json."""
    from ...api import render_coverage, render_terminal, to_json, to_markdown

    if sum((as_json, markdown, full)) > 1:
        raise UserError("--json, --markdown and --full are three formats: choose one")
    if about_self and text is not None:
        raise UserError("--about-self describes the advisor itself: give it no description")
    if about_self:
        from ...api import SELF_DESCRIPTION_FILE

        text = SELF_DESCRIPTION_FILE.read_text("utf-8")
    elif text is None:
        raise UserError("give a description, '-' to read it from stdin, or --about-self")
    else:
        text = read_input(text)
    adv = advisor(engine, model, base_url)
    with _err().status("Thinking…") if _err().is_terminal and not as_json else nullcontext():
        rec = adv.recommend(text)
    if as_json:
        _log_result(adv, text, rec, no_log)
        emit_json(to_json(rec))
        return
    prose = "".join(adv.write_advice(rec))
    _log_result(adv, text, rec, no_log)
    if markdown:
        sys.stdout.write(to_markdown(rec, prose))
    else:
        render_terminal(rec, _out(), prose, full=full)
        if full:
            render_coverage(adv.coverage(), _out(), rec.lang)


def _log_result(adv, text: str, rec, no_log: bool) -> None:
    """Log a one-shot result as a finished session (channel `recommend`), as `llm` logs prompts.

    Off with --no-log or ADVISOR_LOG=0. A store that cannot be written costs the log, not the
    advice: one line on stderr says so.
    """
    if no_log or not adv.settings.log:
        return
    from ...api import SessionStore
    from ...types import InterviewState

    state = InterviewState(lang=rec.lang, description=text, profile=rec.profile, done=True, recommendation=rec)
    try:
        with SessionStore(adv.settings.db_path) as store:
            sid = store.create(state, channel="recommend")
            usage = getattr(adv.engine, "usage", None)
            if usage is not None and hasattr(usage, "drain"):
                store.add_usage(sid, **usage.drain())
    except UserError as e:
        _err().print(f"note: not logged ({e}); --no-log or ADVISOR_LOG=0 skips logging", highlight=False, markup=False)
        return
    if _err().is_terminal:
        _err().print(f"[dim]Logged as session {sid} (ask what if: advisor chat --resume {sid})[/dim]")


@app.command()
def chat(resume: bool = typer.Option(False, "--resume", help="Continue a saved session (the latest, or ID)."),
         session_id: Optional[str] = typer.Argument(None, metavar="[ID]", help="Session to resume."),
         lang: Optional[str] = typer.Option(None, "--lang", help="en or zh (default: from your first answer)."),
         engine: Optional[str] = EngineOpt, model: Optional[str] = ModelOpt,
         base_url: Optional[str] = BaseUrlOpt):
    """The interview: asks only what could change the advice, then recommends."""
    from .chat import run_chat

    if session_id and not resume:
        raise UserError("to continue a session use: advisor chat --resume ID")
    if lang not in (None, "en", "zh"):
        raise UserError("--lang must be en or zh")
    adv = advisor(engine, model, base_url)
    raise typer.Exit(run_chat(adv, _out(), _err(), resume=resume, session_id=session_id, lang=lang))


@sessions_app.command("list")
def sessions_list(limit: int = typer.Option(50, "-n", "--count", min=1, help="How many, newest first."),
                  query: Optional[str] = typer.Option(None, "-q", "--query",
                                                      help="Only sessions whose text holds every word of this."),
                  as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")):
    """Saved sessions (chats, Slack threads, logged recommend results), newest first."""
    from rich.table import Table

    from ...api import SessionStore

    recs = SessionStore(settings().db_path, read_only=True).list(limit, query)
    if as_json:
        emit_json({"sessions": [{"id": r.id, "channel": r.channel, "title": r.title, "decision": r.decision,
                                 "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat()}
                                for r in recs]})
        return
    if not recs and query:
        _out().print(f"No sessions match {query!r}", highlight=False, markup=False)
        return
    table = Table("id", "channel", "updated", "decision", "title")
    for r in recs:
        table.add_row(r.id, r.channel, r.updated_at.strftime("%Y-%m-%d %H:%M"), r.decision or "…", r.title)
    _out().print(table if recs else "No sessions yet: start one with advisor chat")


@sessions_app.command("show")
def sessions_show(session_id: str):
    """A session's transcript, decision and token usage."""
    from rich.markdown import Markdown

    from ...api import SessionStore

    _out().print(Markdown(_session_markdown(SessionStore(settings().db_path, read_only=True).get(session_id))))


def _session_markdown(record) -> str:
    """The transcript, then the full advice (when the session has one)."""
    from ...api import to_markdown

    rec = record.state.recommendation
    return record.to_markdown(to_markdown(rec) if rec else "")


@sessions_app.command("export")
def sessions_export(session_id: str, fmt: str = typer.Option("md", "--format", help="md or json")):
    """Print a session as markdown or JSON."""
    from ...api import SessionStore

    if fmt not in ("md", "json"):
        raise UserError("--format must be md or json")
    rec = SessionStore(settings().db_path, read_only=True).get(session_id)
    if fmt == "json":
        emit_json(rec.to_json())
    elif fmt == "md":
        sys.stdout.write(_session_markdown(rec))
    else:
        raise UserError("--format must be md or json")


@sessions_app.command("delete")
def sessions_delete(session_id: str):
    """Delete a saved session."""
    from ...api import SessionStore

    SessionStore(settings().db_path).delete(session_id)
    _out().print(f"Deleted session {session_id}.")


def _version(value: bool) -> None:
    if value:
        from ...api import version

        _out().print(f"advisor {version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="Print the version and exit.")):
    """RAG, fine-tuning, both, or neither? Advice cited from one article."""


def _register_optional_commands() -> None:
    """Commands that live in their own modules (batch, eval, slack, doctor)."""
    from . import commands as cli_commands

    cli_commands.register(app)


# ----------------------------------------------------------------------------- entry point

def main(argv: Optional[list[str]] = None) -> None:
    """Run the CLI; errors become one line on stderr and a non-zero exit (ADVISOR_DEBUG=1 re-raises)."""
    _register_optional_commands()
    try:
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _ABORT:
        _err().print("aborted")
        sys.exit(130)
    except _USAGE as exc:
        if type(exc).__name__.startswith("NoArgsIsHelp"):
            sys.exit(0)  # click already printed the help
        msg = exc.format_message().replace("\n", " ")
        _err().print(f"error: {msg} (see advisor --help)", highlight=False, markup=False)
        sys.exit(2)
    except AdvisorError as exc:
        if _debug():
            raise
        _err().print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        _err().print("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)

def _debug() -> bool:
    """ADVISOR_DEBUG, read only when an error is about to be shown (keeps pydantic off --help)."""
    from ...api import Settings

    try:
        return Settings.from_env().debug
    except ValueError:  # settings that do not validate: show the error, not a second one
        return False


if __name__ == "__main__":  # pragma: no cover
    main()
