"""Test helpers for timing the emulator's delivery events around the sensor's checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_mailgun.testing import MailgunEmulator

HOLD_BACK = 1000.0  # seconds of event clock that outcome events wait for


def event_reads(emulator: MailgunEmulator) -> int:
    """Events API requests the emulator has answered since its last reset."""
    return sum(1 for r in emulator.requests() if r["method"] == "GET" and "/events" in r["path"])


@contextmanager
def outcomes_after_first_check(emulator: MailgunEmulator) -> Iterator[list[float]]:
    """Hold outcome events back until the first events request, then let them through.

    Append the time the send returned to the yielded list: the event clock is moved to exactly
    when the first outcomes fall due, so later ones (a redelivery 2 s after a temporary failure)
    still come in real time.
    """
    emulator.set_delivery_delay(HOLD_BACK)
    sent_at: list[float] = []
    stop = threading.Event()

    def release() -> None:
        while not stop.wait(0.05):
            if sent_at and event_reads(emulator):
                emulator.advance_events(sent_at[0] + HOLD_BACK - time.time() + 0.05)
                return

    watcher = threading.Thread(target=release, daemon=True)
    watcher.start()
    try:
        yield sent_at
    finally:
        stop.set()
        watcher.join()
