"""The terminal interview: prompts on a terminal, one answer per line otherwise.

After the advice it takes what-ifs and changes (the library reads them). The session is saved
after every turn, so a kill at any point loses no answered turn.
"""
from __future__ import annotations

import sys
from typing import Optional

from rich.console import Console

from ...api import Advisor
from ...errors import UserError
from ...api import render_terminal
from ...api import SessionStore
from ...types import InterviewState, Turn
from ...api import wording


def _lines(console: Console):
    """Answers: interactive prompts on a terminal, else one per line of stdin (UTF-8 text only)."""
    if sys.stdin.isatty():
        while True:
            try:
                yield console.input("[bold green]> [/bold green]")
            except EOFError:
                return
    else:
        for n, raw in enumerate(sys.stdin.buffer, 1):
            if b"\x00" in raw:
                raise UserError(f"stdin looks binary (line {n}), not text: pipe in one answer per line")
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield None  # a line that is not UTF-8: skipped, counted


def _show(turn: Turn, out: Console, adv: Advisor) -> None:
    if turn.kind == "recommendation" and turn.recommendation:
        prose = ""
        for piece in adv.write_advice(turn.recommendation, own_turn=True):
            out.print(piece, end="")
            prose += piece
        if prose:
            out.print()
        render_terminal(turn.recommendation, out)
    elif turn.kind == "question" and turn.question:
        out.print(f"[bold]{turn.text}[/bold]\n[dim]  ({turn.question.why})[/dim]")
    else:
        out.print(f"[italic]{turn.text}[/italic]")


def _record_usage(store: SessionStore, sid: str, adv: Advisor) -> None:
    """Tokens and estimated cost of the LLM engine, accumulated per session."""
    usage = getattr(adv.engine, "usage", None)
    if usage is not None and hasattr(usage, "drain"):
        store.add_usage(sid, **usage.drain())


_LEAVE = {"quit", "exit", "bye", ":q", "退出", "再见", "结束对话"}


def _hint(out: Console, lang: str, *keys: str) -> None:
    replies = wording().replies[lang]
    for key in keys:
        out.print(f"[dim]{replies[key]}[/dim]")


def _after_advice(turn: Turn, out: Console) -> None:
    """A what-if or a change: what moved, then the new advice; anything else: the short reply."""
    if turn.change is not None and turn.recommendation:
        out.print(f"[bold]{turn.text}[/bold]")
        render_terminal(turn.recommendation, out)
    else:
        out.print(f"[italic]{turn.text}[/italic]")


def run_chat(adv: Advisor, out: Console, err: Console, *, resume: bool = False,
             session_id: Optional[str] = None, lang: Optional[str] = None) -> int:
    """Run an interview, then take what-ifs and changes until the input ends; returns the exit code.

    Ctrl-D (end of input) or "quit" leaves, Ctrl-C too (exit 130): every answered turn is
    saved already. Input that is not UTF-8 text stops the chat with a UserError.
    """
    store = SessionStore(adv.settings.db_path)
    seen: dict = {}  # the session id, once there is one
    try:
        return _converse(adv, store, out, err, resume=resume, session_id=session_id, lang=lang, seen=seen)
    except KeyboardInterrupt:
        # Every answered turn was saved when it was answered; a turn cut short by Ctrl-C was not.
        sid = seen.get("sid")
        where = f": session {sid} is saved (resume with: advisor chat --resume {sid})" if sid else ""
        err.print(f"\n[dim]Left the chat{where}.[/dim]")
        return 130


def _converse(adv: Advisor, store: SessionStore, out: Console, err: Console, *, resume: bool,
              session_id: Optional[str], lang: Optional[str], seen: dict) -> int:
    if resume:
        rec = store.get(session_id) if session_id else store.latest("cli")
        if rec is None:
            raise UserError("no saved session to resume: start one with advisor chat")
        sid, state = rec.id, rec.state
        seen["sid"] = sid
        err.print(f"[dim]Resuming session {sid}.[/dim]")
        if state.done and state.recommendation:
            render_terminal(state.recommendation, out)
            _hint(out, state.lang, "followup_hint", "leave")
        else:
            _hint(out, state.lang, "leave")
            _show(adv.current_turn(state), out, adv)
            store.save(sid, state)
            _record_usage(store, sid, adv)
    else:
        # The session is created with the first answer: quitting at once (Ctrl-D, empty or
        # unreadable input) leaves no empty session behind.
        sid = None
        state = InterviewState(lang=lang or "en")
        replies = wording().replies
        # Until the first answer shows the user's language, greet in both.
        if lang:
            out.print(replies[lang]["intro"])
            _hint(out, lang, "leave")
        else:
            out.print(replies["en"]["intro"] + "\n" + replies["zh"]["intro"])
            _hint(out, "en", "leave")
    bad = 0  # lines that were not UTF-8
    left = False  # "quit": leave as things are (the interview can be resumed), no advice forced
    for answer in _lines(out):
        if answer is None:
            bad += 1
            if sid is not None and bad == 1:
                err.print("[red]A line of input is not valid UTF-8: skipped (and any more like it).[/red]")
            continue
        if not answer.strip():
            continue
        if answer.strip().lower() in _LEAVE:
            left = True
            break
        was_done = state.done
        try:
            if not state.history and not state.description:
                state, turn = adv.start_interview(answer, lang)
            else:
                turn = adv.reply(state, answer)
        except UserError as exc:
            err.print(f"[red]{exc}[/red]")
            continue
        if sid is None:
            sid = seen["sid"] = store.create(state, channel="cli")
            err.print(f"[dim]Session {sid} (resume with: advisor chat --resume {sid})[/dim]")
            if bad:
                err.print(f"[red]Skipped {bad} line(s) of input that are not valid UTF-8.[/red]")
        else:
            store.save(sid, state)
        _record_usage(store, sid, adv)
        if was_done and state.done:
            _after_advice(turn, out)
            continue
        _show(turn, out, adv)
        if turn.kind == "recommendation":
            store.save(sid, state)  # the notices the advice raised
            _record_usage(store, sid, adv)  # a streamed advice is counted once its stream ends
            _hint(out, state.lang, "followup_hint", "leave")
    if sid is None:
        if bad:
            raise UserError(f"the input is not UTF-8 text ({bad} line(s) unreadable): nothing to advise on, "
                            "no session saved")
        err.print("No answer given: nothing to advise on, no session saved.")
        return 0
    if not state.done and not left:
        # End of input mid-interview: the best recommendation so far.
        rec = adv.finish(state)
        store.save(sid, state)
        _record_usage(store, sid, adv)
        render_terminal(rec, out)
    err.print(f"[dim]Session {sid} saved (resume with: advisor chat --resume {sid})[/dim]")
    return 0
