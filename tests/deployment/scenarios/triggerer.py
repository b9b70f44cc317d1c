"""The deferrable delivery sensor with its triggerer SIGKILLed mid-wait and a new one started.

The trigger's in-memory progress dies with the triggerer; the new triggerer takes the trigger over
(once the old one misses its heartbeats) and resumes from what the sensor handed over at deferral.
Every event must still be counted once: 190 delivered (150 at once, 40 after a temporary failure),
10 permanently failed, as the emulator recorded them.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tests.deployment.airflow_stack import Deployment
from tests.deployment.ledger_probe import sql
from tests.deployment.processes import wait_until
from tests.deployment.scenarios import report

DAG_ID = "deploy_delivery_wait"
RECIPIENTS = 200


def _trigger_owner(deploy: Deployment, run_id: str) -> int | None:
    """Job id of the triggerer running the sensor's trigger (None: not deferred or not assigned)."""
    rows = sql(
        deploy,
        "SELECT t.triggerer_id FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id"
        " WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = 'wait'",
        DAG_ID,
        run_id,
    )
    return rows[0][0] if rows else None


def _api_requests(deploy: Deployment) -> int:
    """Requests Mailgun received so far (while the sensor is deferred, only the trigger makes any)."""
    return int(deploy.require_emulator().stats()["requests"])


def _emulator_outcomes(deploy: Deployment) -> Counter[str]:
    """Events the emulator holds, by kind (failed split into temporary and permanent)."""
    counts: Counter[str] = Counter()
    for event in deploy.require_emulator().events():
        kind = event["event"]
        counts[f"failed {event.get('severity')}" if kind == "failed" else kind] += 1
    return counts


def triggerer_killed_mid_wait(deploy: Deployment) -> None:
    """Run the scenario of the module docstring; assert on what the emulator and Airflow hold."""
    emu = deploy.require_emulator()
    emu.reset()
    deploy.api.wait_for_dags([DAG_ID], timeout=120)
    began = time.monotonic()
    run_id = deploy.api.trigger(DAG_ID)

    wait_until(
        lambda: _trigger_owner(deploy, run_id) is not None, 180, "the sensor to defer to the triggerer"
    )
    first_owner = _trigger_owner(deploy, run_id)
    requests_at_assignment = _api_requests(deploy)
    wait_until(lambda: _api_requests(deploy) > requests_at_assignment, 60, "the trigger to poll Mailgun")
    state_at_kill = deploy.api.task_instances(DAG_ID, run_id)["wait"]["state"]
    deploy.kill_triggerer()
    killed_at = time.monotonic() - began
    deploy.start_triggerer()
    new_owners: list[int] = []

    def taken_over() -> bool:
        owner = _trigger_owner(deploy, run_id)
        if owner is not None and owner != first_owner:
            new_owners.append(owner)
        return bool(new_owners) or deploy.api.run_state(DAG_ID, run_id) in ("success", "failed")

    wait_until(taken_over, 180, "a new triggerer to take the trigger over", 1.0)
    state = deploy.api.wait_for_run(DAG_ID, run_id, 300, check=deploy.check_alive)
    wall = time.monotonic() - began

    tis = deploy.api.task_instances(DAG_ID, run_id)
    result: dict[str, Any] = deploy.api.xcom(DAG_ID, run_id, "wait")
    outcomes = _emulator_outcomes(deploy)
    report(
        "Delivery sensor, triggerer killed mid-wait",
        [
            ("recipients", RECIPIENTS),
            ("run state", state),
            ("processes started", deploy.processes_started),
            ("triggerers killed", 1),
            ("sensor state at the kill", f"{state_at_kill} ({killed_at:.0f} s after the trigger)"),
            ("trigger moved", f"triggerer job {first_owner} -> {new_owners[0] if new_owners else '?'}"),
            ("tries", {key: ti["try_number"] for key, ti in tis.items()}),
            ("emulator events", dict(outcomes)),
            ("sensor counted", {k: result.get(k) for k in ("delivered", "failed_count", "pending")}),
            ("sensor requests", result.get("requests")),
            ("wall time", f"{wall:.0f} s"),
        ],
    )
    assert state == "success"
    assert state_at_kill == "deferred"
    assert new_owners, "no other triggerer took the trigger over"
    assert tis["wait"]["try_number"] == 1  # resumed from the deferral, not retried
    assert {ti["hostname"] for ti in tis.values()} <= set(deploy.live_workers())
    assert outcomes["delivered"] == 190
    assert outcomes["failed permanent"] == 10
    # Every event counted once: what the sensor reports is exactly what Mailgun holds.
    assert result["delivered"] == outcomes["delivered"]
    assert result["failed_count"] == outcomes["failed permanent"]
    assert result["pending"] == 0
