"""100,000 recipients with personal variables through the emulated Maton gateway at 10 requests/s.

Bound: the gateway's rate limit makes 100 requests take at least 100 / 10 = 10 s. Targets: exactly
100 send requests, zero 429 responses, wall time within 15% of the bound.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from benchmarks.common import PeakMemory, Stopwatch, emulator, record, use_connection

RECIPIENTS = 100_000
RATE = 10.0


def run() -> dict[str, Any]:
    with emulator("--rate-limit", str(RATE)) as emu:
        conn_id = use_connection(emu, via="gateway")
        from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

        people = [
            {
                "address": f"reader{i:06d}@example.org",
                "name": f"Reader {i}",
                "variables": {"first": f"R{i}", "code": f"C{i:06d}"},
            }
            for i in range(RECIPIENTS)
        ]
        operator = MailgunSendMessageOperator(
            task_id="bench_send",
            mailgun_conn_id=conn_id,
            from_email="Launch <launch@mg.example.com>",
            to=people,
            subject="%recipient.first%, it is launch day",
            text="Hello %recipient.first%, your code is %recipient.code%.",
        )
        logging.getLogger("airflow").setLevel(logging.WARNING)
        with PeakMemory() as memory, Stopwatch() as clock:
            result = operator.execute({})  # type: ignore[arg-type]
        log = emu.requests_log()
    sends = [r for r in log if r["method"] == "POST" and r["path"].endswith("/messages")]
    limited = sum(1 for r in log if r["status"] == 429)
    bound = math.ceil(RECIPIENTS / 1000) / RATE
    figures = {
        "recipients": result["recipients"],
        "send_requests": len(sends),
        "minimum_requests": math.ceil(RECIPIENTS / 1000),
        "responses_429": limited,
        "wall_seconds": clock.wall,
        "bound_seconds": bound,
        "wall_over_bound": round(clock.wall / bound, 3),
        "client_cpu_seconds": clock.cpu,
        "peak_rss_mb": memory.peak_mb,
        "peak_rss_above_baseline_mb": memory.above_baseline_mb,
    }
    targets = {
        "send_requests == 100": len(sends) == 100,
        "zero 429": limited == 0,
        "wall within 15% of bound": clock.wall <= bound * 1.15,
    }
    summary = (
        f"{figures['send_requests']} sends for {RECIPIENTS:,} recipients in {clock.wall:.2f} s "
        f"(bound {bound:.1f} s, x{figures['wall_over_bound']}), {limited} x 429, "
        f"client CPU {clock.cpu:.2f} s, "
        f"peak RSS {memory.peak_mb} MB (+{memory.above_baseline_mb} MB)"
    )
    return record("send_campaign", figures, targets, summary)
