"""The delivery sensor deciding the same 100,000-recipient campaign through the Logs API.

As ``delivery_wait`` (100 message ids of 1,000, the last batch's outcomes held back: a first check,
an idle check, then the release and a deciding check), with ``event_source="logs"``: the Logs API
pages hold at most 100 events. Bound: the whole wait within 1.1 x ceil(events / 100) requests,
where events are the delivered events the wait has to read; an idle check costs one request.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.common import record
from benchmarks.delivery_wait import BATCHES, PER_BATCH, wait_checks

LOGS_PAGE = 100


def run() -> dict[str, Any]:
    total = BATCHES * PER_BATCH
    checks, result = wait_checks("logs")
    reads = sum(int(c["requests"]) for c in checks)
    pages = math.ceil(total / LOGS_PAGE)
    bound = 1.1 * pages
    figures = {
        "message_ids": BATCHES,
        "recipients": total,
        "checks": checks,
        "total_requests": reads,
        "events_read": total,
        "pages_ceil_events_over_100": pages,
        "bound_requests_1_1_x_pages": bound,
        "delivered": result.get("delivered"),
    }
    targets = {
        "decided on the third check": bool(checks[-1]["decided"] and not checks[0]["decided"]),
        "idle check costs 1 request": checks[1]["requests"] == 1,
        "total within 1.1 x ceil(events / 100)": reads <= bound,
        "every recipient delivered": result.get("delivered") == total,
    }
    per_check = ", ".join(f"{c['check']} {c['requests']} ({c['seconds']:.1f} s)" for c in checks)
    summary = (
        f"Logs, 100 ids / {total:,} recipients: {per_check}; total {reads} requests vs bound {bound:.0f}"
    )
    return record("delivery_wait_logs", figures, targets, summary)
