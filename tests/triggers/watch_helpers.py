"""Running an event trigger for a while in a test, and stores that keep its cursor like Airflow's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from airflow.triggers.base import BaseTrigger

Payloads = list[dict[str, Any]]


async def watch(
    trigger: BaseTrigger,
    *,
    seconds: float,
    stop_when: Callable[[Payloads], bool] | None = None,
    on_event: Callable[[Payloads], Any] | None = None,
    stop: asyncio.Event | None = None,
) -> Payloads:
    """Run ``trigger`` for up to ``seconds`` (or until ``stop_when`` or ``stop`` is set), then cancel
    it as a triggerer shutting down would; return the payloads it yielded."""
    payloads: Payloads = []
    done = stop or asyncio.Event()

    async def consume() -> None:
        async for event in trigger.run():
            payloads.append(dict(event.payload))
            if on_event is not None:
                on_event(payloads)
            if stop_when is not None and stop_when(payloads):
                done.set()

    task = asyncio.create_task(consume())
    deadline = time.monotonic() + seconds
    while not done.is_set() and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return payloads


def run_watch(trigger: BaseTrigger, **kwargs: Any) -> Payloads:
    return asyncio.run(watch(trigger, **kwargs))


class JsonAssetStore:
    """An asset's state store as the trigger sees it (``aget``/``aset``), values kept as JSON text.

    Stands in for Airflow's accessor where the real one cannot run (Airflow before 3.3 has none);
    the 3.3 tests also use the real accessor against the metadata DB.
    """

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        await asyncio.sleep(0)
        return json.loads(self.rows[key]) if key in self.rows else default

    async def aset(self, key: str, value: Any) -> None:
        await asyncio.sleep(0)
        self.rows[key] = json.dumps(value)
        self.writes += 1


def addresses(payloads: Payloads) -> list[str]:
    return [address for payload in payloads for address in payload["addresses"]]


def error_lines(captured_out: str, records: list[logging.LogRecord], text: str) -> list[str]:
    """Lines logged at ERROR level that contain ``text``: Airflow 3.3 prints trigger logs through
    structlog (``[error ...]``), 3.0 through the logging module (``ERROR - ...``)."""
    printed = [
        line
        for line in captured_out.splitlines()
        if text in line and ("[error" in line or " ERROR - " in line)
    ]
    return printed + [
        r.getMessage() for r in records if r.levelno == logging.ERROR and text in r.getMessage()
    ]
