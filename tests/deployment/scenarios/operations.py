"""List sync, bounce clearing and both kinds of failure alert, run by Celery workers.

Before the run the emulator holds a list of 20 (17 to keep, one of whom unsubscribed, and 3 stale)
and 7 bounces (4 soft, 3 hard). Afterwards it must hold exactly the 50 source members (the one who
unsubscribed still unsubscribed), the 3 hard bounces, and two alert emails: one from
``MailgunNotifier`` (``on_failure_callback``), one through ``[email] email_backend``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.deployment.airflow_stack import Deployment
from tests.deployment.emulator_process import RemoteEmulator
from tests.deployment.scenarios import report

DAG_ID = "deploy_list_operations"
LIST_ADDRESS = "deploy-news@mg.example.com"
UNSUBSCRIBED = "member05@example.org"


def _seed(emu: RemoteEmulator) -> None:
    emu.api("POST", "/v3/lists", data={"address": LIST_ADDRESS, "name": "Deploy news"})
    existing: list[dict[str, Any]] = [
        {"address": f"member{i:02d}@example.org", "name": "Old name", "subscribed": i != 5} for i in range(17)
    ]
    existing += [{"address": f"stale{i}@example.org", "name": "Stale"} for i in range(3)]
    emu.api(
        "POST",
        f"/v3/lists/{LIST_ADDRESS}/members.json",
        data={"members": json.dumps(existing), "upsert": "yes"},
    )
    bounces = [{"address": f"soft{i}@example.org", "code": "421", "error": "try later"} for i in range(4)]
    bounces += [{"address": f"hard{i}@example.org", "code": "550", "error": "no such user"} for i in range(3)]
    emu.api("POST", f"/v3/{emu.domain}/bounces", json=bounces)


def _members(emu: RemoteEmulator) -> dict[str, dict[str, Any]]:
    items = emu.api("GET", f"/v3/lists/{LIST_ADDRESS}/members/pages", params={"limit": 100})["items"]
    return {m["address"]: m for m in items}


def _bounces(emu: RemoteEmulator) -> set[str]:
    return {b["address"] for b in emu.api("GET", f"/v3/{emu.domain}/bounces", params={"limit": 100})["items"]}


def list_sync_bounces_and_alerts(deploy: Deployment) -> None:
    """Run the scenario of the module docstring; assert on what the emulator and Airflow hold."""
    emu = deploy.require_emulator()
    emu.reset()
    _seed(emu)
    deploy.api.wait_for_dags([DAG_ID], timeout=120)
    began = time.monotonic()
    run_id = deploy.api.trigger(DAG_ID)
    state = deploy.api.wait_for_run(DAG_ID, run_id, 300, check=deploy.check_alive)
    wall = time.monotonic() - began

    tis = deploy.api.task_instances(DAG_ID, run_id)
    members = _members(emu)
    bounces = _bounces(emu)
    emails = {m["recipient"]: m for m in emu.messages()}
    report(
        "List sync, bounces and alerts on Celery workers",
        [
            ("run state", f"{state} (two tasks fail on purpose)"),
            ("processes started", deploy.processes_started),
            ("tasks", {key: (ti["state"], ti["hostname"], ti["try_number"]) for key, ti in tis.items()}),
            ("sync result", deploy.api.xcom(DAG_ID, run_id, "sync")),
            (
                "list members",
                f"{len(members)} ({sum(not m['subscribed'] for m in members.values())} unsubscribed)",
            ),
            ("bounces left", sorted(bounces)),
            ("alert emails", {to: m["subject"] for to, m in emails.items()}),
            ("wall time", f"{wall:.0f} s"),
        ],
    )
    assert state == "failed"
    assert {key: ti["state"] for key, ti in tis.items()} == {
        "sync": "success",
        "clear_soft_bounces": "success",
        "fails_with_notifier": "failed",
        "fails_with_email": "failed",
    }
    assert {ti["hostname"] for ti in tis.values()} <= set(deploy.live_workers())  # run by the workers
    assert set(members) == {f"member{i:02d}@example.org" for i in range(50)}
    assert [a for a, m in members.items() if not m["subscribed"]] == [UNSUBSCRIBED]
    assert all(m["name"] == f"Member {int(a[6:8])}" for a, m in members.items())
    assert bounces == {f"hard{i}@example.org" for i in range(3)}
    assert set(emails) == {"ops@example.org", "oncall@example.org"}
    assert emu.stats()["messages"] == 2
    assert emails["ops@example.org"]["subject"] == f"[deploy] fails_with_notifier failed in {DAG_ID}"
    notifier_email = emails["ops@example.org"]
    assert "the warehouse refused the load" in (notifier_email["text"] or "") + (notifier_email["html"] or "")
    backend_email = emails["oncall@example.org"]
    assert backend_email["subject"] == f"[Airflow] {DAG_ID}.fails_with_email failed (try 1)"
    assert (
        backend_email["html"] == f"<p>fails_with_email failed in {DAG_ID}: the export broke (on purpose)</p>"
    )
