"""The Slack bot's durable inbox: a request is stored, then acknowledged, then worked from the store.

    signed request -> `classify` -> SessionStore.inbox_add (committed) -> 200 (the ack)
                   -> InboxWorker runs the item: the turn and its replies are committed together
                      (status "answered"), then the replies are posted one by one -> "done"

A crash or restart loses nothing: `recover()` runs the items still "pending" and posts the
stored replies of the "answered" ones (never running their turn twice). A retry from Slack
(same event_id) finds its row already there and is acknowledged without any work.
"""
from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from ...api import InboxItem, SessionStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # an item whose work crashed the process this often is given up (a poison message)
HANDLED_EVENTS = ("app_mention", "message")
_SECRET_FIELDS = ("token",)  # the legacy verification token Slack puts in every payload


def classify(body: dict) -> Optional[tuple[str, str]]:
    """(inbox id, kind) of a request the bot works on, or None for anything else."""
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event") or {}
        if event.get("type") in HANDLED_EVENTS and body.get("event_id"):
            return f"event:{body['event_id']}", "event"
        return None
    if kind == "block_actions" and body.get("actions"):
        # Slack does not retry interactions; the trigger id is unique to each click.
        return f"action:{body.get('trigger_id') or secrets.token_hex(8)}", "action"
    if body.get("command"):
        return f"command:{body.get('trigger_id') or secrets.token_hex(8)}", "command"
    return None


def stored_body(body: dict) -> dict:
    """The payload as kept in the inbox: without the verification token."""
    return {k: v for k, v in body.items() if k not in _SECRET_FIELDS}


class InboxWorker:
    """Runs inbox items in a thread pool; each item at most once at a time in this process."""

    def __init__(self, store: SessionStore, run_item: Callable[[InboxItem], None], max_workers: int = 4):
        self.store = store
        self.run_item = run_item
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="slack-inbox")
        self._idle = threading.Condition()
        self._running: set[str] = set()

    def submit(self, item_id: str) -> None:
        """Work on an item (already committed to the inbox) in the background."""
        with self._idle:
            if item_id in self._running:
                return
            self._running.add(item_id)
        try:
            self._pool.submit(self._run, item_id)
        except RuntimeError:  # shutting down: the item stays in the inbox for the next start
            self._finished(item_id)

    def recover(self) -> int:
        """Queue every unfinished item (after a crash or restart); returns how many."""
        items = self.store.inbox_unfinished()
        for item in items:
            self.submit(item.id)
        if items:
            log.info("Slack inbox: %d unfinished request(s) from before the restart queued", len(items))
        return len(items)

    def _run(self, item_id: str) -> None:
        try:
            item = self.store.inbox_get(item_id)
            if item is None or item.status not in ("pending", "answered"):
                return
            attempts = self.store.inbox_attempt(item_id)
            if attempts > MAX_ATTEMPTS:
                log.warning("Slack inbox: %s failed %d times; given up", item_id, attempts - 1)
                self.store.inbox_finish(item_id, "failed")
                return
            item.attempts = attempts
            self.run_item(item)
        except Exception:  # noqa: BLE001 - the item stays unfinished; a restart tries it again
            log.warning("Slack inbox: %s not finished; it is retried on the next start", item_id, exc_info=True)
        finally:
            self._finished(item_id)

    def _finished(self, item_id: str) -> None:
        with self._idle:
            self._running.discard(item_id)
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no item is queued or running; False if `timeout` passes first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def close(self, wait: bool = True) -> None:
        """Stop taking items; unfinished ones stay in the inbox for the next start."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
