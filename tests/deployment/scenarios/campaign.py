"""The mapped large campaign with a Celery worker SIGKILLed while its chunk's batches are in flight.

::

    outcome = run_campaign_with_worker_kill(deploy)
    outcome.duplicates, outcome.lost, outcome.killed_tries

The emulator answers every send after ``SEND_SECONDS``, so batches stay in flight long enough to be
seen. The harness watches the running ``send`` chunks through the REST API and their ledgers in
the metadata DB; the first chunk whose ledger shows a batch in flight gets its worker killed (the
whole process tree, as a dying machine). A replacement worker starts; the scheduler notices the
missing heartbeats, the chunk's retry runs on a live worker, reads the ledger the killed try left and
reconciles the in-flight batches against Mailgun's events instead of resending them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.deployment.airflow_stack import Deployment
from tests.deployment.ledger_probe import ledger_batch_states
from tests.deployment.processes import HarnessError
from tests.deployment.scenarios import report

DAG_ID = "mailgun_large_campaign_mapped"
RECIPIENTS = 20_000
CHUNK_SIZE = 2_500
CHUNKS = RECIPIENTS // CHUNK_SIZE
SEND_SECONDS = 1.0
KILL_TIMEOUT = 240.0
RUN_TIMEOUT = 420.0


@dataclass
class CampaignOutcome:
    run_id: str
    state: str
    victim: str
    replacement: str
    killed_chunk: int
    ledger_at_kill: Counter[str]
    killed_tries: list[dict[str, Any]]
    send_hosts: set[str]
    copies: Counter[str]
    stats: dict[str, Any]
    wall_seconds: float
    processes_started: int
    started_during: int
    startup_seconds: float
    tries_by_task: dict[str, int] = field(default_factory=dict)
    #: In-flight batches the retry found accepted by Mailgun (the rest it sent again).
    reconciled: int = 0

    @property
    def expected(self) -> set[str]:
        return {f"reader{i:06d}@example.org" for i in range(RECIPIENTS)}

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.copies.values() if n > 1)

    @property
    def lost(self) -> int:
        return len(self.expected - set(self.copies))

    def report_lines(self) -> list[tuple[str, Any]]:
        final = self.killed_tries[-1] if self.killed_tries else {}
        return [
            ("recipients / chunks", f"{RECIPIENTS} / {CHUNKS}"),
            ("run state", self.state),
            ("processes started", f"{self.processes_started} ({self.started_during} during the run)"),
            ("deployment start-up", f"{self.startup_seconds:.0f} s"),
            ("workers killed", f"1 ({self.victim}, replaced by {self.replacement})"),
            ("killed chunk", f"send[{self.killed_chunk}]"),
            ("its ledger at the kill", dict(self.ledger_at_kill)),
            (
                "in flight at the kill",
                f"{self.ledger_at_kill['in_flight']}: {self.reconciled} stored by Mailgun and reconciled, "
                f"{self.ledger_at_kill['in_flight'] - self.reconciled} never stored and sent again",
            ),
            ("its tries", [(t["try_number"], t["hostname"], t["state"]) for t in self.killed_tries]),
            ("retry ran on", final.get("hostname")),
            ("send chunks ran on", sorted(self.send_hosts)),
            ("task tries in all", sum(self.tries_by_task.values())),
            ("send requests / stored", f"{self.stats.get('send_requests')} / {self.stats.get('sends')}"),
            ("recipients stored", len(self.copies)),
            ("duplicates", self.duplicates),
            ("lost", self.lost),
            ("wall time", f"{self.wall_seconds:.0f} s"),
        ]


def _send_index(key: str) -> int | None:
    if key.startswith("send[") and key.endswith("]"):
        return int(key[5:-1])
    return None


def _kill_a_worker_mid_send(deploy: Deployment, run_id: str) -> tuple[str, int, Counter[str]]:
    """Wait for a running chunk with a batch in flight; SIGKILL the worker running it."""
    deadline = time.monotonic() + KILL_TIMEOUT
    while time.monotonic() < deadline:
        live = set(deploy.live_workers())
        for key, ti in deploy.api.task_instances(DAG_ID, run_id).items():
            index = _send_index(key)
            if index is None or ti["state"] != "running" or ti.get("hostname") not in live:
                continue
            ledger = ledger_batch_states(deploy, DAG_ID, run_id, "send", index)
            if ledger["in_flight"] >= 1:
                deploy.kill_worker(ti["hostname"])
                return ti["hostname"], index, ledger
        if deploy.api.run_state(DAG_ID, run_id) in ("success", "failed"):
            break
        time.sleep(0.1)
    raise HarnessError("no send chunk was ever seen with a batch in flight on a live worker")


def run_campaign_with_worker_kill(deploy: Deployment, replacement: str = "w3") -> CampaignOutcome:
    emu = deploy.require_emulator()
    emu.reset()
    emu.set_faults({"slow_rate": 1.0, "slow_seconds": SEND_SECONDS, "path": "/messages", "methods": ["POST"]})
    deploy.api.wait_for_dags([DAG_ID], timeout=120)
    started_before = deploy.processes_started
    began = time.monotonic()
    run_id = deploy.api.trigger(
        DAG_ID, {"mailgun_conn_id": "mailgun_deploy", "recipients": RECIPIENTS, "chunk_size": CHUNK_SIZE}
    )
    victim, chunk, ledger = _kill_a_worker_mid_send(deploy, run_id)
    deploy.start_worker(replacement)
    state = deploy.api.wait_for_run(DAG_ID, run_id, RUN_TIMEOUT, check=deploy.check_alive)
    wall = time.monotonic() - began
    emu.set_faults(None)
    tis = deploy.api.task_instances(DAG_ID, run_id)
    send_hosts = set()
    for key in tis:
        index = _send_index(key)
        if index is not None:
            send_hosts.update(t["hostname"] for t in deploy.api.tries(DAG_ID, run_id, "send", index))
    requests = emu.requests()
    stats = emu.stats()
    stats["send_requests"] = sum(
        1 for r in requests if r["method"] == "POST" and r["path"].endswith("/messages")
    )
    return CampaignOutcome(
        run_id=run_id,
        state=state,
        victim=victim,
        replacement=replacement,
        killed_chunk=chunk,
        ledger_at_kill=ledger,
        killed_tries=deploy.api.tries(DAG_ID, run_id, "send", chunk),
        send_hosts={h for h in send_hosts if h},
        copies=emu.copies_per_recipient(),
        stats=stats,
        wall_seconds=wall,
        processes_started=deploy.processes_started,
        started_during=deploy.processes_started - started_before,
        startup_seconds=deploy.startup_seconds,
        tries_by_task={key: int(ti["try_number"]) for key, ti in tis.items()},
        reconciled=int((deploy.api.xcom(DAG_ID, run_id, "send", chunk) or {}).get("reconciled", 0)),
    )


def campaign_with_a_worker_killed(deploy: Deployment, label: str) -> CampaignOutcome:
    """Run the scenario, report it under ``label``, assert: success, no duplicate, no gap, the
    kill landed mid-send and the retry ran on a worker that was alive."""
    initial_workers = deploy.live_workers()
    outcome = run_campaign_with_worker_kill(deploy)
    report(f"Campaign of {RECIPIENTS} on {label}, a worker killed mid-send", outcome.report_lines())
    assert outcome.state == "success", outcome.report_lines()
    assert outcome.duplicates == 0
    assert outcome.lost == 0
    assert set(outcome.copies) == outcome.expected
    # The kill landed mid-send: the killed try left a batch in flight in its ledger.
    assert outcome.ledger_at_kill["in_flight"] >= 1
    first, *_, last = outcome.killed_tries
    assert first["hostname"] == outcome.victim
    assert last["state"] == "success"
    assert last["hostname"] != outcome.victim  # the retry ran on a worker that was alive
    assert last["hostname"] in deploy.live_workers()
    assert last["try_number"] >= 2
    # The chunks were spread over both workers the deployment started with.
    assert set(initial_workers) <= outcome.send_hosts
    assert outcome.tries_by_task.keys() >= {f"send[{i}]" for i in range(CHUNKS)}
    return outcome
