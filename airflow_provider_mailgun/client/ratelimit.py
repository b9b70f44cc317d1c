"""Client-side rate limits: a fixed pace, and the adaptive limit every Mailgun request goes through.

:class:`RateLimiter` spaces calls evenly at a known rate (the Metrics API's documented window)::

    limiter = RateLimiter(10)
    limiter.acquire()            # blocks until this caller's slot
    await limiter.acquire_async()

:class:`AdaptiveRateLimiter` starts from the connection's ``max_requests_per_second`` (or no
limit), learns the account's real limit from 429/420 replies and rate-limit headers, and shares
what it learned with every other sender of the account through its store (this process, every
process on the host, or Redis; see :mod:`.limit_stores`). The rules are in :mod:`.limit_state`::

    limiter = AdaptiveRateLimiter(10.0, store)
    ticket = limiter.acquire()   # blocks until a slot is free
    ...                          # the request
    limiter.finish(ticket, response.status_code, response.headers, response.content)

While no limit is known and nobody on the store has probed for one, a process sends one request
at a time for its first ``PROBE_SECONDS``: when the server cuts a burst off, one request is
refused rather than one per thread in flight.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.limit_state import (
    BucketState,
    current,
    cut,
    effective,
    observe_remaining,
    reserve,
)
from airflow_provider_mailgun.client.limit_stores import BucketStore, LocalStore, account_key, store_for
from airflow_provider_mailgun.client.responses import api_message, reset_seconds, retry_after_seconds

log = logging.getLogger(__name__)
R = TypeVar("R")
RATE_LIMITED = frozenset({420, 429})
#: How long a process probes one request at a time when no limit is known.
PROBE_SECONDS = 1.0
#: A 429 teaches a rate only if a caller was held back by the limit this recently (seconds).
PUSHING_SECONDS = 1.0


class RateLimiter:
    """Evenly spaced slots at ``rate`` per second; ``None`` or a non-positive rate means no limit."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0

    def reserve(self) -> float:
        """Claim the next free slot and return how long to wait for it."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
            return slot - now

    def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)

    async def acquire_async(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(frozen=True)
class Ticket:
    """One admitted request: the cut generation it was paced under, and whether it probes."""

    generation: int
    probing: bool


@dataclass(frozen=True)
class _Slot:
    wait: float
    generation: int
    pauses: int
    probing: bool

    @classmethod
    def of(cls, state: BucketState, wait: float) -> _Slot:
        return cls(wait, state.generation, state.pauses, state.rate is None and not state.probed)


class AdaptiveRateLimiter:
    """The account's learned limit, shared through ``store``; see the module docstring.

    :param max_rate: the configured ceiling and starting rate (``None``: none known).
    :param store: where the state lives (default: this process only).
    :param clock: wall-clock seconds (shared stores compare times across processes).
    """

    def __init__(
        self,
        max_rate: float | None,
        store: BucketStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        probe_seconds: float = PROBE_SECONDS,
    ) -> None:
        self.max_rate = max_rate
        self.store: BucketStore = store or LocalStore()
        self._clock = clock
        self._sleep = sleep
        self._probe_seconds = probe_seconds
        self._gate = threading.Condition()
        self._in_flight = 0
        self._probing = max_rate is None
        self._probe_started: float | None = None
        # When a caller of this process was last held back (at the probe's gate or for a slot).
        self._held_at = float("-inf")

    def acquire(self) -> Ticket:
        """Block until this caller may send; pass the ticket to :meth:`finish` afterwards."""
        with self._gate:
            while self._probing and self._in_flight > 0:
                self._held_at = self._clock()
                self._gate.wait(0.05)
            self._in_flight += 1
        try:
            slot = self._take()
            while slot.wait > 0:
                self._held_at = self._clock() + slot.wait
                self._sleep(slot.wait)
                again = self._take_if_paused(slot.pauses)
                if again is None:
                    break
                slot = again
        except BaseException:
            self._leave()
            raise
        return self._admit(slot)

    async def acquire_async(self) -> Ticket:
        """The same without blocking the event loop (no probing: the async client only reads)."""
        slot = await self._run(self._take)
        while slot.wait > 0:
            self._held_at = self._clock() + slot.wait
            await asyncio.sleep(slot.wait)
            again = await self._run(partial(self._take_if_paused, slot.pauses))
            if again is None:
                break
            slot = again
        with self._gate:
            self._in_flight += 1
        return Ticket(slot.generation, probing=False)

    def finish(
        self,
        ticket: Ticket,
        status: int | None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        """Report how the request ended (``status`` None: no reply) and what the server said."""
        now = self._clock()
        try:
            if status in RATE_LIMITED:
                pause = _pause_hint(headers or {}, body, now)
                generation, quota = ticket.generation, status == 420
                pushing = now - self._held_at < PUSHING_SECONDS

                def refused(state: BucketState) -> float | None:
                    if not cut(
                        state,
                        self.max_rate,
                        now=now,
                        retry_after=pause,
                        generation=generation,
                        quota=quota,
                        pushing=pushing,
                    ):
                        return None
                    return effective(state, self.max_rate)

                pace = self._update(refused)
                if pace is not None:
                    log.info("Rate limited (HTTP %s): pacing at %.1f requests/s from now.", status, pace)
                self._end_probe()
            elif headers is not None:
                self._observe(headers, now)
            if ticket.probing and status is not None and status < 400 and self._probe_expired(now):
                self._update(_mark_probed)
                self._end_probe()
        finally:
            self._leave()

    @property
    def rate(self) -> float | None:
        """The rate this client paces at now (``None``: unpaced)."""
        return self._update(lambda s: effective(s, self.max_rate))

    def _take(self) -> _Slot:
        now = self._clock()

        def take(state: BucketState) -> _Slot:
            return _Slot.of(state, reserve(state, self.max_rate, now=now))

        slot = self._update(take)
        if slot.probing and self._probe_started is None:
            self._probe_started = now
        return slot

    def _take_if_paused(self, pauses: int) -> _Slot | None:
        """After waiting: a new slot when a pause came meanwhile (it moved everyone), else None."""
        now = self._clock()

        def check(state: BucketState) -> _Slot | None:
            if state.pauses == pauses:
                return None
            return _Slot.of(state, reserve(state, self.max_rate, now=now))

        return self._update(check)

    def _admit(self, slot: _Slot) -> Ticket:
        if not slot.probing:
            self._end_probe()
        return Ticket(slot.generation, probing=slot.probing)

    def _observe(self, headers: Mapping[str, str], now: float) -> None:
        remaining = _header(headers, "X-RateLimit-Remaining")
        if remaining is None:
            return
        try:
            left = int(float(remaining))
        except ValueError:
            return
        reset_in = reset_seconds(_header(headers, "X-RateLimit-Reset"), now)
        self._update(
            lambda s: observe_remaining(s, self.max_rate, now=now, remaining=left, reset_in=reset_in)
        )

    def _update(self, apply: Callable[[BucketState], R]) -> R:
        now = self._clock()

        def change(state: BucketState | None) -> tuple[BucketState, R]:
            live = current(state, self.max_rate, now=now)
            return live, apply(live)

        return self.store.update(change)

    def _probe_expired(self, now: float) -> bool:
        started = self._probe_started
        return started is not None and now - started >= self._probe_seconds

    def _end_probe(self) -> None:
        if self._probing:
            with self._gate:
                self._probing = False
                self._gate.notify_all()

    def _leave(self) -> None:
        with self._gate:
            self._in_flight -= 1
            self._gate.notify()

    async def _run(self, call: Callable[[], R]) -> R:
        # A store that may wait on the network (Redis) must not hold up the event loop.
        return await asyncio.to_thread(call) if self.store.remote else call()


def _pause_hint(headers: Mapping[str, str], body: bytes, now: float) -> float | None:
    """How long everyone pauses after a 429/420: the earliest time the server names.

    ``Retry-After`` counts whole seconds and ``X-RateLimit-Reset`` names a whole epoch second, both
    rounded up; the earlier of the two is still no earlier than the server allows. (The refused
    request itself waits as the retry policy says.)
    """
    hint = retry_after_seconds(headers, api_message(body), now=now, body=body)
    reset = reset_seconds(_header(headers, "X-RateLimit-Reset"), now)
    if hint is None or reset is None:
        return hint if reset is None else reset
    return min(hint, reset)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())


def _mark_probed(state: BucketState) -> None:
    state.probed = True


def limiter_for(config: ClientConfig) -> AdaptiveRateLimiter:
    """The adaptive limiter a client of ``config`` paces its requests with."""
    key = account_key(config.api_base, config.auth_scheme, config.api_key)
    store = store_for(config.rate_limit_scope, config.rate_limit_redis_url, key)
    return AdaptiveRateLimiter(config.max_requests_per_second, store)
