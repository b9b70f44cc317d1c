"""Clearing bounces by rule: 10,000 bounces, 30% of them soft (4xx) and matching ``codes=["4xx"]``.

Minimum requests: the pages of the table (1000 a page, plus the empty page that ends it) and one
DELETE per match (the API has no bulk delete by rule). Runs on the direct API (no rate limit).
"""

from __future__ import annotations

import base64
import json
import logging
import math
from typing import Any
from urllib.request import Request, urlopen

from benchmarks.common import Emulator, Stopwatch, emulator, record, use_connection

BOUNCES = 10_000
MATCHING = 3_000


def _seed(emu: Emulator) -> None:
    from airflow_provider_mailgun.testing import DEFAULT_DOMAIN, DEFAULT_MAILGUN_KEY

    records = [
        {"address": f"person{i:05d}@example.org", "code": "421" if i % 10 < 3 else "550", "error": "seeded"}
        for i in range(BOUNCES)
    ]
    auth = base64.b64encode(f"api:{DEFAULT_MAILGUN_KEY}".encode()).decode()
    for start in range(0, BOUNCES, 1000):
        body = json.dumps(records[start : start + 1000]).encode()
        headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
        request = Request(f"{emu.url}/v3/{DEFAULT_DOMAIN}/bounces", data=body, headers=headers, method="POST")
        with urlopen(request, timeout=60):
            pass


def run() -> dict[str, Any]:
    with emulator() as emu:
        conn_id = use_connection(emu, via="direct")
        _seed(emu)
        before = len(emu.requests_log())
        from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator

        operator = MailgunClearBouncesOperator(task_id="bench_clear", mailgun_conn_id=conn_id, codes=["4xx"])
        logging.getLogger("airflow").setLevel(logging.WARNING)
        with Stopwatch() as clock:
            result = operator.execute({})  # type: ignore[arg-type]
        made = emu.requests_log()[before:]
    pages = math.ceil(BOUNCES / 1000) + 1
    minimum = pages + MATCHING
    deletes = sum(1 for r in made if r["method"] == "DELETE")
    figures = {
        "bounces": BOUNCES,
        "matched": result["matched"],
        "deleted": result["deleted"],
        "requests": len(made),
        "delete_requests": deletes,
        "minimum_requests": minimum,
        "wall_seconds": clock.wall,
        "deletes_per_second": round(deletes / clock.wall, 1) if clock.wall else None,
        "client_cpu_seconds": clock.cpu,
    }
    targets = {"matched == 3000": result["matched"] == MATCHING, "requests == minimum": len(made) == minimum}
    summary = (
        f"{result['deleted']} of {BOUNCES:,} bounces cleared with {len(made)} requests "
        f"(minimum {minimum}: {pages} pages + {MATCHING} deletes) in {clock.wall:.2f} s"
    )
    return record("clear_bounces", figures, targets, summary)
