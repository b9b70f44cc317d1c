"""What a transport met, counted: attempts, retries, statuses, failures (both transports keep one).

::

    stats = TransportStats()
    stats.add("attempts")
    stats.add("status_200")
    stats.snapshot()            # {"attempts": 1, "status_200": 1}
    describe(stats.snapshot())  # 'attempts 1, status_200 1'
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping


class TransportStats:
    """Thread-safe counters of what the transport met: attempts, retries, statuses, failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[key] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def describe(counts: Mapping[str, int]) -> str:
    """The counts in one log line, sorted by name (``"none"`` before the first request)."""
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items())) or "none"
