"""Four senders started together share one account's 10 requests/s through the gateway.

Four worker processes, each with its own 25,000 personalised recipients, are released at the same
instant against the emulated Maton gateway limiting the account to 10 requests/s (each sender's
connection says 10/s too, the Maton default). Three ways to share:

- ``host`` (the default): the senders pace as one through a state file on this host;
- ``redis``: through one Redis key (``rate_limit_redis_url``), as workers on several hosts would;
  run only when ``redis-server`` is installed;
- ``process``: each sender alone (``rate_limit_scope: "process"``), learning only from 429s: what
  workers on several hosts get without Redis. Shown for comparison, no target.

Bound: 100 send requests at 10/s with the bucket's starting half-burst of 5: 9.5 s from the first
request to the last. Targets (host and redis): within 1.15 x 10 s; 429s <= 2% of requests; no
duplicates and nobody missed.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from airflow_provider_mailgun.testing.redis_server import local_redis
from benchmarks.common import Emulator, emulator, record, use_connection
from benchmarks.sender import fresh_limit_dir, report, spawn, start_together

WORKERS = 4
PER_WORKER = 25_000
RATE = 10.0
SPAN_LIMIT = 1.15 * (WORKERS * PER_WORKER / 1000) / RATE


def _round(emu: Emulator, extra: dict[str, Any]) -> dict[str, Any]:
    emu.post("/_emulator/reset")
    time.sleep(1.5)
    conn_id = use_connection(emu, via="gateway", extra=extra)
    env = fresh_limit_dir()
    workers = [
        spawn("operator", PER_WORKER, env=env, conn_id=conn_id, first=i * PER_WORKER, wait_for_go=True)
        for i in range(WORKERS)
    ]
    start_together(workers)
    reports = [report(worker) for worker in workers]
    log = emu.requests_log()
    sends = sorted(r["time"] for r in log if r["method"] == "POST" and r["path"].endswith("/messages"))
    accepted = [r for r in log if r["method"] == "POST" and r["status"] == 200]
    copies = emu.get("/_emulator/copies")
    limited = sum(1 for r in log if r["status"] == 429)
    return {
        "requests": len(log),
        "send_requests": len(sends),
        "accepted_sends": len(accepted),
        "responses_429": limited,
        "share_429": round(limited / max(1, len(log)), 4),
        "first_to_last_seconds": round(sends[-1] - sends[0], 3) if sends else None,
        "duplicates": copies["duplicates"],
        "recipients_reached": copies["recipients"],
        "worker_wall_seconds": [r["wall_seconds"] for r in reports],
        "worker_cpu_seconds": [r["cpu_seconds"] for r in reports],
        "worker_above_baseline_mb": [r["above_baseline_mb"] for r in reports],
        "errors": [r["error"] for r in reports if "error" in r],
    }


def _meets(result: dict[str, Any]) -> bool:
    return (
        result["send_requests"] >= WORKERS * PER_WORKER // 1000
        and result["first_to_last_seconds"] is not None
        and result["first_to_last_seconds"] <= SPAN_LIMIT
        and result["share_429"] <= 0.02
        and result["duplicates"] == 0
        and result["recipients_reached"] == WORKERS * PER_WORKER
    )


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {
        "workers": WORKERS,
        "recipients_per_worker": PER_WORKER,
        "rate_limit": RATE,
        "span_limit_seconds": round(SPAN_LIMIT, 2),
    }
    with emulator("--rate-limit", str(RATE)) as emu:
        figures["host"] = _round(emu, {})
        figures["process"] = _round(emu, {"rate_limit_scope": "process"})
        with local_redis() as url:
            if url is None or importlib.util.find_spec("redis") is None:
                figures["redis"] = "skipped: install redis-server and the redis extra to run it"
            else:
                figures["redis"] = _round(emu, {"rate_limit_scope": "process", "rate_limit_redis_url": url})
    targets = {"host-shared: 100 sends within 1.15 x 10 s, <= 2% 429, no duplicates": _meets(figures["host"])}
    if isinstance(figures["redis"], dict):
        targets["redis-shared: 100 sends within 1.15 x 10 s, <= 2% 429, no duplicates"] = _meets(
            figures["redis"]
        )

    def line(name: str) -> str:
        result = figures[name]
        if not isinstance(result, dict):
            return f"{name}: skipped"
        return (
            f"{name}: {result['send_requests']} sends in {result['first_to_last_seconds']} s, "
            f"{result['responses_429']} x 429 ({100 * result['share_429']:.1f}%), "
            f"{result['duplicates']} duplicates"
        )

    summary = "; ".join(line(name) for name in ("host", "redis", "process"))
    return record("shared_rate_limit", figures, targets, summary)
