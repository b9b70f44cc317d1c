"""Test helpers for timing the emulator's delivery events around the sensor's checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_mailgun.testing import MailgunEmulator

HOLD_BACK = 1000.0  # seconds of event clock that outcome events wait for


#: How a delivery wait reads, as the tests run it: one API, or "auto" with the Events API
#: retired for the account in the middle of the wait (right after its first read).
EVENT_SOURCES = ("events", "logs", "auto-retired")


def is_event_read(request: dict[str, Any]) -> bool:
    """A read of the Events API (``GET .../events``) or of the Logs API (``POST .../logs``)."""
    path = request["path"]
    return (request["method"] == "GET" and "/events" in path) or (
        request["method"] == "POST" and path.endswith("/v1/analytics/logs")
    )


def event_reads(emulator: MailgunEmulator) -> int:
    """Events and Logs API requests the emulator has answered since its last reset."""
    return sum(1 for r in emulator.requests() if is_event_read(r))


def sensor_source(source: str) -> str:
    """The ``event_source`` the sensor is given for one of :data:`EVENT_SOURCES`."""
    return "auto" if source == "auto-retired" else source


@contextmanager
def events_retired_mid_wait(emulator: MailgunEmulator, source: str) -> Iterator[None]:
    """For "auto-retired": retire the Events API once the wait has read it once (then it must go on
    with the Logs API); for the other sources, nothing. The Events API is restored afterwards."""
    if source != "auto-retired":
        yield
        return
    stop = threading.Event()

    def retire() -> None:
        while not stop.wait(0.02):
            if any(r["method"] == "GET" and "/events" in r["path"] for r in emulator.requests()):
                emulator.retire_events_api()
                return

    watcher = threading.Thread(target=retire, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        emulator.restore_events_api()


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
