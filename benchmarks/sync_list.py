"""Mirroring a 100,000-member list with 5% churn (adds, updates, removals as unsubscribes).

Minimum requests: 1,000 member pages (100 a page, the API's maximum) plus one ``members.json``
upsert per 1,000 changes. The sync also reads the list once (to check it exists) and the empty
page that ends the member pages; both are counted. ``verify`` is off here: it re-reads every page
to prove the result, which doubles the reads and is measured by the tests instead.

Run twice: on the direct API (no rate limit: requests, wall time, peak memory above the
interpreter's baseline, target < 150 MB) and through the gateway at 10 requests/s (wall time
against the bound that limit sets for the same requests).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from benchmarks.common import Emulator, PeakMemory, Stopwatch, emulator, record, use_connection

MEMBERS = 100_000
CHURN = 5_000  # a third each: added, updated, removed
LIST = "bench-list@mg.example.com"
RATE = 10.0


def _member(i: int, name: str = "Member") -> dict[str, Any]:
    return {"address": f"member{i:06d}@example.org", "name": f"{name} {i}", "vars": {"n": str(i)}}


def _seed(emu: Emulator) -> None:
    from airflow_provider_mailgun.testing import DEFAULT_MAILGUN_KEY

    auth = base64.b64encode(f"api:{DEFAULT_MAILGUN_KEY}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}
    from urllib.parse import urlencode

    create = urlencode({"address": LIST, "name": "Benchmark"}).encode()
    with urlopen(Request(f"{emu.url}/v3/lists", data=create, headers=headers, method="POST"), timeout=60):
        pass
    for start in range(0, MEMBERS, 1000):
        chunk = [_member(i) for i in range(start, start + 1000)]
        body = urlencode({"members": json.dumps(chunk), "upsert": "yes"}).encode()
        url = f"{emu.url}/v3/lists/{LIST}/members.json"
        with urlopen(Request(url, data=body, headers=headers, method="POST"), timeout=60):
            pass


def _source(folder: Path) -> Path:
    """JSON Lines: the list minus the removed third, with the updated third renamed, plus new members."""
    third = CHURN // 3
    removed = set(range(0, third))
    updated = set(range(third, 2 * third))
    path = folder / "members.jsonl"
    with path.open("w") as handle:
        for i in range(MEMBERS):
            if i not in removed:
                handle.write(json.dumps(_member(i, "Renamed" if i in updated else "Member")) + "\n")
        for i in range(MEMBERS, MEMBERS + CHURN - 2 * third):
            handle.write(json.dumps(_member(i)) + "\n")
    return path


def _sync(emu: Emulator, via: str, source: Path) -> tuple[dict[str, Any], list[dict[str, Any]], float, float]:
    conn_id = use_connection(emu, via=via)
    from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator

    before = len(emu.requests_log())
    operator = MailgunSyncListMembersOperator(
        task_id=f"bench_sync_{via}",
        mailgun_conn_id=conn_id,
        list_address=LIST,
        members=str(source),
        mode="mirror",
        removal="unsubscribe",
        max_removal_fraction=0.5,
        verify=False,
    )
    with PeakMemory() as memory, Stopwatch() as clock:
        result = operator.execute({})  # type: ignore[arg-type]
    return result, emu.requests_log()[before:], clock.wall, memory.above_baseline_mb


def run() -> dict[str, Any]:
    logging.getLogger("airflow").setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    source = _source(folder)
    with emulator() as emu:
        _seed(emu)
        direct, direct_log, direct_wall, memory_mb = _sync(emu, "direct", source)
    with emulator() as emu:
        _seed(emu)
        emu.post("/_emulator/rate_limit", {"rate": RATE})
        gateway, gateway_log, gateway_wall, _ = _sync(emu, "gateway", source)
    changes = direct["added"] + direct["updated"] + direct["removed"]
    minimum = math.ceil(MEMBERS / 100) + math.ceil(changes / 1000)
    bound = len(gateway_log) / RATE
    figures = {
        "members": MEMBERS,
        "changes": changes,
        "result": direct,
        "direct_requests": len(direct_log),
        "minimum_requests": minimum,
        "direct_wall_seconds": direct_wall,
        "peak_rss_above_baseline_mb": memory_mb,
        "gateway_requests": len(gateway_log),
        "gateway_responses_429": sum(1 for r in gateway_log if r["status"] == 429),
        "gateway_wall_seconds": gateway_wall,
        "gateway_bound_seconds": round(bound, 1),
        "gateway_wall_over_bound": round(gateway_wall / bound, 3),
    }
    targets = {
        "requests within minimum + 2 (list read, end page)": len(direct_log) <= minimum + 2,
        "peak memory < 150 MB above baseline": memory_mb < 150,
        "gateway within 15% of bound": gateway_wall <= bound * 1.15,
        "gateway result equals direct": gateway == direct,
    }
    summary = (
        f"{changes:,} changes on {MEMBERS:,} members: {len(direct_log)} requests (minimum {minimum}) in "
        f"{direct_wall:.1f} s, +{memory_mb} MB; gateway at {RATE:.0f}/s {gateway_wall:.1f} s "
        f"(bound {bound:.1f} s, x{figures['gateway_wall_over_bound']})"
    )
    return record("sync_list", figures, targets, summary)
