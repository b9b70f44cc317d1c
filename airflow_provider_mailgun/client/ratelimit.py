"""A client-side rate limiter shared by every thread (or task) using one client.

Requests are spaced evenly, ``1 / rate`` seconds apart, so a job never bursts above the rate a
gateway enforces (Maton: 10 requests/s per account) and never provokes a 429 it would then have to
sit out::

    limiter = RateLimiter(10)
    limiter.acquire()            # blocks until this caller's slot
    await limiter.acquire_async()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


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
