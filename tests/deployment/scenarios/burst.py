"""Four send chunks at once through the Maton gateway, which allows 10 requests/s per account.

Each chunk runs in its own worker process; their limiters share what they learn of the account's
limit, so together they stay near what the gateway allows, and the client retries every 429 after
its ``Retry-After``. At most 2% of the gateway's answers may be 429. A chunk refused past the
client's last attempt fails and is retried by Airflow; whatever the share, everyone is mailed
exactly once.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tests.deployment.airflow_stack import Deployment
from tests.deployment.scenarios import report

DAG_ID = "deploy_campaign_burst"
CHUNKS = 4
RECIPIENTS = 20_000
GATEWAY_LIMIT = 10.0
#: The largest share of the gateway's answers that may be 429 (one limit shared by the chunks).
MAX_SHARE_429 = 0.02


def _most_at_once(tis: list[dict[str, Any]]) -> int:
    """The largest number of task instances that were running at the same moment."""
    edges: list[tuple[datetime, int]] = []
    for ti in tis:
        edges.append((datetime.fromisoformat(ti["start_date"]), 1))
        edges.append((datetime.fromisoformat(ti["end_date"]), -1))
    running = peak = 0
    for _, step in sorted(edges):
        running += step
        peak = max(peak, running)
    return peak


def four_chunks_through_the_gateway(deploy: Deployment) -> None:
    """Run the scenario of the module docstring; the 429 share is reported, then asserted."""
    emu = deploy.require_emulator()
    emu.reset()
    emu.set_rate_limit(GATEWAY_LIMIT)
    deploy.api.wait_for_dags([DAG_ID], timeout=120)
    began = time.monotonic()
    run_id = deploy.api.trigger(DAG_ID)
    try:
        state = deploy.api.wait_for_run(DAG_ID, run_id, 400, check=deploy.check_alive)
    finally:
        emu.set_rate_limit(None)
    wall = time.monotonic() - began

    tis = deploy.api.task_instances(DAG_ID, run_id)
    sends = [ti for key, ti in tis.items() if key.startswith("send[")]
    # Every try of every chunk (a chunk refused too often fails and runs again later).
    send_tries = [t for ti in sends for t in deploy.api.tries(DAG_ID, run_id, "send", ti["map_index"])]
    through_gateway = [r for r in emu.requests() if r["entrance"] == "gateway"]
    limited = sum(1 for r in through_gateway if r["status"] == 429)
    share = limited / len(through_gateway) if through_gateway else 0.0
    copies = emu.copies_per_recipient()
    expected = {f"burst{i:05d}@example.org" for i in range(RECIPIENTS)}
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    lost = len(expected - set(copies))
    at_once = _most_at_once(send_tries)
    report(
        "Four chunks at once through the gateway (10 requests per s)",
        [
            ("recipients / chunks", f"{RECIPIENTS} / {CHUNKS}"),
            ("run state", state),
            ("processes started", deploy.processes_started),
            ("chunks running at once", at_once),
            ("chunks ran on", sorted({t["hostname"] for t in send_tries})),
            ("send tries", {key: ti["try_number"] for key, ti in tis.items() if key.startswith("send[")}),
            ("failed tries", sum(1 for t in send_tries if t["state"] == "failed")),
            ("gateway requests", len(through_gateway)),
            ("answered 429", limited),
            ("share of 429", f"{share:.1%}"),
            ("duplicates", duplicates),
            ("lost", lost),
            ("wall time", f"{wall:.0f} s"),
        ],
    )
    assert state == "success"
    assert at_once == CHUNKS
    assert duplicates == 0
    assert lost == 0
    assert share <= MAX_SHARE_429, (
        f"{limited} of {len(through_gateway)} gateway answers were 429 ({share:.1%})"
    )
