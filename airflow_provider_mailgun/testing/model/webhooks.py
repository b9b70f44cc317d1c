"""Webhook posts: registered URLs receive each event of their type, signed as Mailgun signs them.

Register a URL with the v3 webhooks API (``POST /v3/domains/{domain}/webhooks``, ``id`` one of
``accepted``, ``delivered``, ``permanent_fail``, ``temporary_fail``, ``complained``, ...); from
then on every matching event is posted to it as JSON::

    {"signature": {"timestamp": "1718000000", "token": "<50 hex>", "signature": "<hex>"},
     "event-data": {...the same dict the events API returns...}}

``signature`` is HMAC-SHA256 of ``timestamp + token`` with the webhook signing key
(``MailgunEmulator(webhook_signing_key=...)``, CLI ``--webhook-signing-key``, default
:data:`~airflow_provider_mailgun.testing.defaults.DEFAULT_WEBHOOK_SIGNING_KEY`). As on Mailgun, a
reply of 200 is success, 406 means "rejected, do not retry", and anything else (or no reply) is
retried, here after ``retry_delays`` seconds (short, for tests), each attempt freshly signed.
Posts happen in a background thread, so sends stay fast; ``emu.webhook_deliveries()`` lists them::

    [{"url", "webhook", "event", "event_id", "attempt", "status", "time"}]   # status 0: no reply
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_mailgun.testing.model import events as ev

if TYPE_CHECKING:
    from airflow_provider_mailgun.testing.model.state import EmulatorState

WEBHOOK_FOR_KIND = {
    ev.ACCEPTED: "accepted",
    ev.DELIVERED: "delivered",
    ev.DELIVERED_TEST: "delivered",
    ev.FAIL_SUPPRESS_BOUNCE: "permanent_fail",
    ev.FAIL_SUPPRESS_UNSUBSCRIBE: "permanent_fail",
    ev.FAIL_SUPPRESS_COMPLAINT: "permanent_fail",
    ev.FAIL_BOUNCE: "permanent_fail",
    ev.FAIL_TEMPORARY: "temporary_fail",
    ev.COMPLAINED: "complained",
    ev.OPENED: "opened",
    ev.CLICKED: "clicked",
    ev.UNSUBSCRIBED: "unsubscribed",
}
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0)
POST_TIMEOUT = 5.0
IDLE_WAIT = 0.25  # how often delayed events are released when no request arrives


def sign(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's webhook signature: hex HMAC-SHA256 of ``timestamp + token``."""
    return hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Post:
    url: str
    webhook: str
    event: dict[str, Any]
    attempt: int
    generation: int


class WebhookDispatcher:
    """Finds new events of domains with webhooks and posts them; one background thread."""

    def __init__(
        self,
        state: EmulatorState,
        signing_key: str,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self._state = state
        self.signing_key = signing_key
        self.retry_delays = tuple(retry_delays)
        self.storage_base = ""
        self.deliveries: list[dict[str, Any]] = []
        self._marks: dict[str, int] = {}
        self._generation = 0
        self._due: list[tuple[float, int, _Post]] = []
        self._order = itertools.count()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- called with state.lock held ------------------------------------------------------------
    def reset(self) -> None:
        self._marks.clear()
        self.deliveries = []
        self._generation += 1

    def follow(self, domain: str) -> None:
        """Post the domain's events from now on (a webhook was registered)."""
        if domain not in self._marks:
            log = self._state.events.domains.get(domain)
            self._marks[domain] = len(log) if log is not None else 0
        self._wake.set()

    def poke(self) -> None:
        """New events may be visible: look soon."""
        if self._marks:
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name="mailgun-emu-webhooks")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # -- the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            next_due = self._due[0][0] - time.monotonic() if self._due else IDLE_WAIT
            self._wake.wait(timeout=max(0.0, min(next_due, IDLE_WAIT)))
            self._wake.clear()
            if self._stop.is_set():
                return
            for post in self._collect():
                self._schedule(post, 0.0)
            now = time.monotonic()
            while self._due and self._due[0][0] <= now and not self._stop.is_set():
                self._deliver(heapq.heappop(self._due)[2])

    def _collect(self) -> list[_Post]:
        state = self._state
        posts: list[_Post] = []
        with state.lock:
            if not self._marks:
                return posts
            if state.events.pending:
                state.tick()
            for name, start in list(self._marks.items()):
                dom = state.domains.get(name)
                log = state.events.domains.get(name)
                end = len(log) if log is not None else 0
                self._marks[name] = end
                if dom is None or log is None or not dom.webhooks:
                    continue
                for pos in range(start, end):
                    webhook = WEBHOOK_FOR_KIND.get(log.kind[pos])
                    urls = dom.webhooks.get(webhook or "")
                    if not urls:
                        continue
                    event = state.events.render(name, pos, self.storage_base)
                    posts += [_Post(url, str(webhook), event, 1, self._generation) for url in urls]
        return posts

    def _schedule(self, post: _Post, delay: float) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), post))

    def _deliver(self, post: _Post) -> None:
        if post.generation != self._generation:
            return  # the emulator was reset since
        status = self._send(post)
        with self._state.lock:
            if post.generation != self._generation:
                return
            self.deliveries.append(
                {
                    "url": post.url,
                    "webhook": post.webhook,
                    "event": post.event.get("event"),
                    "event_id": post.event.get("id"),
                    "attempt": post.attempt,
                    "status": status,
                    "time": time.time(),
                }
            )
        if status not in (200, 406) and post.attempt <= len(self.retry_delays):
            retry = _Post(post.url, post.webhook, post.event, post.attempt + 1, post.generation)
            self._schedule(retry, self.retry_delays[post.attempt - 1])

    def _send(self, post: _Post) -> int:
        """POST one signed body; the HTTP status, or 0 when no reply came."""
        timestamp, token = str(int(time.time())), secrets.token_hex(25)
        body = {
            "signature": {
                "timestamp": timestamp,
                "token": token,
                "signature": sign(self.signing_key, timestamp, token),
            },
            "event-data": post.event,
        }
        # Registration accepts only http(s) URLs (api.domains._check_webhook).
        request = urllib.request.Request(  # noqa: S310
            post.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "mailgun-emulator-webhooks"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=POST_TIMEOUT) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except (OSError, ValueError):
            return 0
