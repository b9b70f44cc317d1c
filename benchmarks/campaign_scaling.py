"""What a campaign costs as it grows: 10,000, 100,000 and 1,000,000 personalised recipients.

The emulator (its own process) has no rate limit, so the figures are the client's own cost. Each
task is the send operator in its own process; the 1,000,000-recipient campaign runs as a user
would run it, as 10 mapped chunks of 100,000 (one process each, 4 at a time, as a LocalExecutor
with a parallelism of 4 runs mapped task instances).

Targets: exactly ceil(recipients / 1000) send requests and no duplicates; client CPU per 1,000
recipients of the 1,000,000 within 1.25 x of the 100,000-recipient task's (cost linear in
recipients; the 10,000 one also carries a task's fixed cost, shown, no target); memory per task of
the chunked 1,000,000 at most 1.2 x the single 100,000-recipient task's (flat).
"""

from __future__ import annotations

import math
import statistics
import subprocess
import time
from typing import Any

from benchmarks.common import Emulator, emulator, record, use_connection
from benchmarks.sender import fresh_limit_dir, report, spawn

CHUNK = 100_000
CHUNKS = 10
PARALLEL = 4


def _campaign(emu: Emulator, conn_id: str, sizes: list[int]) -> dict[str, Any]:
    """Send ``sizes`` (one task each, ``PARALLEL`` at a time); figures per task and in total."""
    emu.post("/_emulator/reset")
    env = fresh_limit_dir()
    pending = list(enumerate(sizes))
    running: list[subprocess.Popen[str]] = []
    reports: list[dict[str, Any]] = []
    first = 0
    started = time.perf_counter()
    while pending or running:
        while pending and len(running) < PARALLEL:
            _, size = pending.pop(0)
            running.append(spawn("operator", size, env=env, conn_id=conn_id, first=first))
            first += size
        done = next((p for p in running if p.poll() is not None), None)
        if done is None:
            time.sleep(0.05)
            continue
        running.remove(done)
        reports.append(report(done))
    wall = time.perf_counter() - started
    recipients = sum(sizes)
    stats = emu.get("/_emulator/stats")
    sends = [r for r in emu.requests_log() if r["method"] == "POST" and r["path"].endswith("/messages")]
    copies = emu.get("/_emulator/copies")
    cpu = [r["cpu_seconds"] for r in reports]
    return {
        "recipients": recipients,
        "tasks": len(sizes),
        "send_requests": len(sends),
        "stored_sends": stats["sends"],
        "minimum_requests": math.ceil(recipients / 1000),
        "wall_seconds": round(wall, 2),
        "task_execute_seconds": [r["wall_seconds"] for r in reports],
        "client_cpu_seconds_total": round(sum(cpu), 2),
        "client_cpu_ms_per_1000": round(1000 * sum(cpu) / (recipients / 1000), 1),
        "task_above_baseline_mb": [r["above_baseline_mb"] for r in reports],
        "task_above_baseline_mb_max": max(r["above_baseline_mb"] for r in reports),
        "duplicates": copies["duplicates"],
        "recipients_reached": copies["recipients"],
        "errors": [r["error"] for r in reports if "error" in r],
    }


def run() -> dict[str, Any]:
    with emulator() as emu:
        conn_id = use_connection(emu, via="direct")
        runs = {
            "10000": _campaign(emu, conn_id, [10_000]),
            "100000": _campaign(emu, conn_id, [100_000]),
            "1000000": _campaign(emu, conn_id, [CHUNK] * CHUNKS),
        }
    base = runs["100000"]
    figures: dict[str, Any] = {"chunk": CHUNK, "parallel_tasks": PARALLEL, **runs}
    figures["cpu_per_1000_over_100000"] = {
        size: round(r["client_cpu_ms_per_1000"] / base["client_cpu_ms_per_1000"], 2)
        for size, r in runs.items()
    }
    chunked_memory = statistics.median(runs["1000000"]["task_above_baseline_mb"])
    figures["chunk_memory_over_single_task"] = round(chunked_memory / base["task_above_baseline_mb_max"], 2)
    targets = {
        "requests == ceil(recipients / 1000), no duplicates": all(
            r["stored_sends"] == r["minimum_requests"] == r["send_requests"]
            and r["duplicates"] == 0
            and r["recipients_reached"] == r["recipients"]
            for r in runs.values()
        ),
        "CPU per 1,000 recipients of the 1,000,000 within 1.25 x of the 100,000's": (
            figures["cpu_per_1000_over_100000"]["1000000"] <= 1.25
        ),
        "memory per task of the chunked campaign <= 1.2 x the 100,000 task's": max(
            runs["1000000"]["task_above_baseline_mb"]
        )
        <= 1.2 * base["task_above_baseline_mb_max"],
    }
    summary = "; ".join(
        f"{int(size):,}: {r['send_requests']} requests, {r['wall_seconds']} s, "
        f"CPU {r['client_cpu_ms_per_1000']} ms/1,000, +{r['task_above_baseline_mb_max']} MB per task"
        for size, r in runs.items()
    )
    return record("campaign_scaling", figures, targets, summary)
