"""Exporting 1,000,000 events of one interval to a gzip JSON Lines object (``file://``).

The emulator (its own process) holds 500,000 recipient copies: 500 sends of 1,000 recipients,
each with an ``accepted`` and a ``delivered`` event. The export operator reads them through the
Logs API (100 a page, the API's maximum) and writes them to a temporary folder. Targets: at most
ceil(events / 100) + 1 Logs requests, peak memory at most 100 MB above the interpreter's before
the export, at least 20,000 events a second.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.request import Request, urlopen

from benchmarks.common import Emulator, PeakMemory, Stopwatch, emulator, record, use_connection

SENDS = int(os.environ.get("EXPORT_BENCH_SENDS", "500"))
PER_SEND = 1000
EVENTS = 2 * SENDS * PER_SEND


def _send(emu: Emulator, key: str, batch: int) -> None:
    import base64
    from urllib.parse import urlencode

    # Batch sending (recipient-variables): each copy is addressed to its recipient alone.
    fields = [("from", "news@mg.example.com"), ("subject", "Issue"), ("text", "Hello"), ("o:tag", "bench")]
    fields.append(("recipient-variables", "{}"))
    fields += [("to", f"reader{batch:03d}-{i:04d}@example.org") for i in range(PER_SEND)]
    token = base64.b64encode(f"api:{key}".encode()).decode()
    request = Request(
        f"{emu.url}/v3/mg.example.com/messages",
        data=urlencode(fields).encode(),
        headers={"Authorization": f"Basic {token}"},
        method="POST",
    )
    with urlopen(request, timeout=120) as response:
        json.load(response)


def run() -> dict[str, Any]:
    from airflow_provider_mailgun.testing import DEFAULT_MAILGUN_KEY

    folder = tempfile.mkdtemp(prefix="mailgun-export-bench-")
    try:
        with emulator() as emu:
            conn_id = use_connection(emu, via="direct")
            start = datetime.now(timezone.utc) - timedelta(seconds=1)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda n: _send(emu, DEFAULT_MAILGUN_KEY, n), range(SENDS)))
            end = datetime.now(timezone.utc) + timedelta(seconds=1)
            time.sleep(0.1)
            from airflow_provider_mailgun.operators.analytics import MailgunExportEventsOperator

            operator = MailgunExportEventsOperator(
                task_id="bench_export",
                mailgun_conn_id=conn_id,
                path=f"file://{folder}/events.jsonl.gz",
                start=start,
                end=end,
            )
            logging.getLogger("airflow").setLevel(logging.WARNING)
            before = len(emu.requests_log())
            with PeakMemory() as memory, Stopwatch() as clock:
                result = operator.execute({})  # type: ignore[arg-type]
            log = emu.requests_log()[before:]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    logs_requests = sum(1 for r in log if r["path"] == "/v1/analytics/logs")
    bound = math.ceil(EVENTS / 100) + 1
    rate = result["rows"] / clock.wall if clock.wall else 0.0
    figures = {
        "events": result["rows"],
        "logs_requests": logs_requests,
        "bound_requests": bound,
        "gzip_bytes": result["bytes"],
        "wall_seconds": clock.wall,
        "events_per_second": round(rate),
        "client_cpu_seconds": clock.cpu,
        "peak_rss_mb": memory.peak_mb,
        "peak_rss_above_baseline_mb": memory.above_baseline_mb,
    }
    targets = {
        "all 1,000,000 events exported": result["rows"] == EVENTS,
        "requests <= ceil(events / 100) + 1": logs_requests <= bound,
        "peak memory <= +100 MB": memory.above_baseline_mb <= 100,
        ">= 20,000 events/s": rate >= 20_000,
    }
    summary = (
        f"{result['rows']:,} events in {clock.wall:.1f} s ({rate:,.0f}/s), {logs_requests} requests "
        f"(bound {bound}), +{memory.above_baseline_mb} MB, {result['bytes'] / 2**20:.1f} MiB gzip"
    )
    return record("export_events", figures, targets, summary)
