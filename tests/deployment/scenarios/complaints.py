"""Complaints and permanent bounces unsubscribe their addresses, driven by the real triggerer.

The example ``mailgun_complaints_unsubscribe`` is added to the running deployment. Its asset's
watcher (``MailgunEventTrigger`` on the gateway connection, polling every 2 s) runs in the
triggerer process; each poll with news records one asset event; the scheduler starts one run per
asset event; Celery workers unsubscribe the addresses from the emulator's mailing lists.

Four bursts of complaints and permanent bounces, each recorded at once (a poll sees all or none):

1. and 2. while the first triggerer watches (a temporary failure beside them must not count),
   each waited for until its asset event has a run (so that no two fold into one run);
   then, once the cursor in the asset state store covers both (no batch is pending), a complaint
   stamped now but indexed 5 s late, and the triggerer's whole tree is SIGKILLed;
3. while no triggerer runs; once the late complaint is indexed a replacement starts and takes
   the trigger over when the dead one misses its heartbeats;
4. after the replacement took over.

Airflow 3.3 keeps the cursor in the asset state store: four asset events (the third carrying the
late complaint and the downtime's three), four runs, every address reported once, none missed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.deployment.airflow_stack import Deployment
from tests.deployment.emulator_process import RemoteEmulator
from tests.deployment.ledger_probe import sql
from tests.deployment.processes import HarnessError, wait_until
from tests.deployment.scenarios import report

EXAMPLE = Path(__file__).resolve().parents[3] / "example_dags" / "mailgun_complaints_unsubscribe.py"
DAG_ID = "mailgun_complaints_unsubscribe"
ASSET = "mailgun_complaints"
#: Settings of every process: the example watches the gateway connection and polls every 2 s.
EXAMPLE_SETTINGS = {"MAILGUN_EVENTS_CONN_ID": "maton_deploy", "MAILGUN_EVENTS_POLL_INTERVAL": "2"}
NEWS = "deploy-news@mg.example.com"
PROMO = "deploy-promo@mg.example.com"
KEPT = ["kim@example.org", "lee@example.org"]
NOISE = "tempfail-noise@example.org"  # fails temporarily: not a permanent bounce
BURSTS = [
    {"ann@example.org": "complained", "bob@example.org": "complained", "cid@example.org": "failed"},
    {"dan@example.org": "complained", "eve@example.org": "complained"},
    {"gus@example.org": "complained", "hal@example.org": "failed", "ida@example.org": "complained"},
    {"jon@example.org": "complained", "kay@example.org": "failed"},
]
LATE = "fay@example.org"
LATE_INDEX_DELAY = 5.0
#: Seconds a burst may take to reach an asset event and a DAG run (it takes about 5).
BATCH_TIMEOUT = 45.0
EVERYONE = [address for burst in BURSTS for address in burst] + [LATE]
EXPECTED_BATCHES = [set(BURSTS[0]), set(BURSTS[1]), {LATE, *BURSTS[2]}, set(BURSTS[3])]


def _seed(emu: RemoteEmulator) -> None:
    """Two lists holding everyone who will complain or bounce and two who will not; one message
    to each (complaints and bounces attach to mail that was sent)."""
    split = [*EVERYONE, NOISE]  # each of them on one list, the kept two on both
    for list_address, people in ((NEWS, split[::2] + KEPT), (PROMO, split[1::2] + KEPT)):
        emu.api("POST", "/v3/lists", data={"address": list_address, "name": list_address})
        members_json = json.dumps([{"address": address} for address in people])
        emu.api("POST", f"/v3/lists/{list_address}/members.json", data={"members": members_json})
    mail = {"from": "News <news@mg.example.com>", "subject": "News", "text": "Hello"}
    emu.api("POST", f"/v3/{emu.domain}/messages", data={**mail, "to": [*EVERYONE, *KEPT]})


def _burst(emu: RemoteEmulator, burst: dict[str, str], index_delay: float = 0.0) -> list[dict[str, Any]]:
    events = [{"event": e, "recipient": a, "index_delay": index_delay} for a, e in burst.items()]
    return emu.record_events(events)


def _asset_id(deploy: Deployment) -> int | None:
    assets = deploy.api.call("GET", "assets", params={"name_pattern": ASSET})["assets"]
    return next((int(a["id"]) for a in assets if a["name"] == ASSET), None)


def _cursor(deploy: Deployment, asset_id: int) -> dict[str, Any] | None:
    """The watch's window kept in the asset state store (Airflow 3.3), read through the REST API."""
    entries = deploy.api.call("GET", f"assets/{asset_id}/state-store")["asset_state_store"]
    kept = [e["value"] for e in entries if e["key"].startswith("mailgun_event_watch_")]
    return kept[0] if kept else None


def _asset_events(deploy: Deployment, asset_id: int) -> list[dict[str, Any]]:
    params = {"asset_id": asset_id, "order_by": "timestamp", "limit": 100}
    return list(deploy.api.call("GET", "assets/events", params=params)["asset_events"])


def _runs(deploy: Deployment) -> list[dict[str, Any]]:
    params = {"order_by": "run_after", "limit": 100}
    return list(deploy.api.call("GET", f"dags/{DAG_ID}/dagRuns", params=params)["dag_runs"])


def _consumed(deploy: Deployment, run_id: str) -> list[int]:
    """Ids of the asset events a run consumed (``triggering_asset_events``)."""
    body = deploy.api.call("GET", f"dags/{DAG_ID}/dagRuns/{run_id}/upstreamAssetEvents")
    return [int(event["id"]) for event in body["asset_events"]]


def _trigger_owner(deploy: Deployment) -> int | None:
    """Job id of the triggerer running the watch (None: not assigned)."""
    rows = sql(deploy, "SELECT triggerer_id FROM trigger WHERE classpath LIKE %s", "%.MailgunEventTrigger")
    return rows[0][0] if rows else None


def _reported(events: list[dict[str, Any]]) -> list[str]:
    return [address for event in events for address in event["extra"]["payload"]["addresses"]]


def _caught_up(deploy: Deployment, asset_id: int, addresses: set[str]) -> bool:
    """The asset events carry these addresses and the scheduler has a run for each asset event
    (so the next burst cannot fold into a run still being created)."""
    events = _asset_events(deploy, asset_id)
    return addresses <= set(_reported(events)) and len(_runs(deploy)) >= len(events)


def _wait_for_batch(deploy: Deployment, asset_id: int, addresses: set[str], what: str) -> None:
    """Wait for :func:`_caught_up`; a batch that never comes is a miss, asserted on at the end."""
    try:
        wait_until(lambda: _caught_up(deploy, asset_id, addresses), BATCH_TIMEOUT, what, 1.0)
    except HarnessError:
        deploy.check_alive()


def _visible(emu: RemoteEmulator) -> set[str]:
    """Recipients of the complaints the Events API shows now."""
    return {event["recipient"] for event in emu.events("complained")}


def _subscribed(emu: RemoteEmulator, list_address: str) -> dict[str, bool]:
    items = emu.api("GET", f"/v3/lists/{list_address}/members/pages", params={"limit": 100})["items"]
    return {m["address"]: m["subscribed"] for m in items}


def complaints_unsubscribe_with_a_triggerer_killed(deploy: Deployment) -> None:
    """Run the scenario of the module docstring; assert on what Airflow and the emulator hold."""
    emu = deploy.require_emulator()
    emu.reset()
    _seed(emu)
    began = time.monotonic()
    deploy.add_dag_file(EXAMPLE)
    try:
        _run(deploy, emu, began)
    finally:  # a paused DAG's watcher is retired at the file's next parse
        deploy.api.call("PATCH", f"dags/{DAG_ID}", json={"is_paused": True})


def _run(deploy: Deployment, emu: RemoteEmulator, began: float) -> None:
    deploy.api.wait_for_dags([DAG_ID], timeout=120)
    wait_until(lambda: _asset_id(deploy) is not None, 60, "the asset", 1.0)
    asset_id = _asset_id(deploy) or 0
    wait_until(lambda: _cursor(deploy, asset_id) is not None, 120, "the watch's first cursor", 1.0)
    watching_after = time.monotonic() - began
    first_owner = _trigger_owner(deploy)
    mail = {"from": "News <news@mg.example.com>", "subject": "News", "text": "Hello"}
    emu.api("POST", f"/v3/{emu.domain}/messages", data={**mail, "to": NOISE})  # a temporary failure

    ids = [e["id"] for e in _burst(emu, BURSTS[0])]
    _wait_for_batch(deploy, asset_id, set(BURSTS[0]), "batch 1 and its run")
    ids += [e["id"] for e in _burst(emu, BURSTS[1])]
    _wait_for_batch(deploy, asset_id, set(BURSTS[1]), "batch 2 and its run")
    # The watch moves its cursor a few seconds after each batch; killed before, it would report
    # that batch again (at least once). Killed now, nothing is pending: mid-watch, between polls.
    wait_until(lambda: set(ids) <= set((_cursor(deploy, asset_id) or {}).get("seen", {})), 60, "the cursor")
    _burst(emu, {LATE: "complained"}, index_delay=LATE_INDEX_DELAY)
    deploy.kill_triggerer()
    killed_at = time.monotonic() - began
    late_hidden_at_kill = LATE not in _visible(emu)  # so the first triggerer cannot have seen it
    _burst(emu, BURSTS[2])  # while no triggerer runs
    # The replacement starts once the late complaint is indexed: its first poll finds all four.
    wait_until(lambda: LATE in _visible(emu), 30, "the late complaint to be indexed")
    deploy.start_triggerer()
    wait_until(
        lambda: _trigger_owner(deploy) not in (None, first_owner),
        120,
        "the replacement triggerer to take the watch over",
        1.0,
    )
    second_owner = _trigger_owner(deploy)
    moved_after = time.monotonic() - began - killed_at
    _wait_for_batch(deploy, asset_id, {LATE, *BURSTS[2]}, "batch 3 and its run")
    _burst(emu, BURSTS[3])
    _wait_for_batch(deploy, asset_id, set(BURSTS[3]), "batch 4 and its run")

    runs = _runs(deploy)
    for run in runs:
        deploy.api.wait_for_run(DAG_ID, run["dag_run_id"], 300, check=deploy.check_alive)
    wall = time.monotonic() - began
    events = _asset_events(deploy, asset_id)  # read last: a batch reported twice would show by now
    runs = _runs(deploy)
    consumed = {run["dag_run_id"]: _consumed(deploy, run["dag_run_id"]) for run in runs}
    reported = _reported(events)
    copies = Counter(reported)
    duplicates = sum(n - 1 for n in copies.values())
    missed = sorted(set(EVERYONE) - set(copies))
    summaries = [deploy.api.xcom(DAG_ID, run["dag_run_id"], "summary") for run in runs]
    news, promo = _subscribed(emu, NEWS), _subscribed(emu, PROMO)
    cursor = _cursor(deploy, asset_id) or {}
    states = Counter(f"{run['run_type']} {run['state']}" for run in runs)
    late_state = "still unindexed" if late_hidden_at_kill else "ALREADY INDEXED"
    report(
        "Complaints unsubscribed by an asset watcher, triggerer killed mid-watch",
        [
            ("complaints and bounces", f"{len(EVERYONE)} addresses in {len(BURSTS)} bursts + 1 indexed late"),
            ("not watched", "1 temporary failure, 2 members who never complained"),
            ("processes started", f"{deploy.processes_started} (deployment so far; 1 triggerer here)"),
            ("watch polling after", f"{watching_after:.0f} s (the DAG file added at 0 s)"),
            ("triggerers killed", f"1, at {killed_at:.0f} s (late complaint {late_state})"),
            ("trigger moved", f"triggerer job {first_owner} -> {second_owner}, {moved_after:.0f} s after"),
            ("asset events", f"{len(events)}, addresses each {[len(_reported([e])) for e in events]}"),
            ("DAG runs", f"{len(runs)}: {dict(states)}"),
            ("asset events per run", [len(ids_) for ids_ in consumed.values()]),
            ("addresses reported", f"{len(copies)} of {len(EVERYONE)}"),
            ("duplicates", duplicates),
            ("missed", len(missed)),
            ("unsubscribed per run", [summary["unsubscribed"] for summary in summaries]),
            ("cursor kept", f"{len(cursor.get('seen', {}))} event ids in the asset state store"),
            ("wall time", f"{wall:.0f} s"),
        ],
    )
    assert late_hidden_at_kill, "the late complaint was indexed before the kill: too slow a kill"
    assert duplicates == 0, copies
    assert not missed
    assert set(copies) == set(EVERYONE)  # neither the temporary failure nor the kept members
    assert [set(e["extra"]["payload"]["addresses"]) for e in events] == EXPECTED_BATCHES
    assert len(runs) == len(events)  # once per batch
    assert sorted(i for ids_ in consumed.values() for i in ids_) == sorted(int(e["id"]) for e in events)
    assert all(len(ids_) == 1 for ids_ in consumed.values())
    assert {r["state"] for r in runs} == {"success"}
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    assert sum(s["unsubscribed"] for s in summaries) == len(EVERYONE)  # each is on one list
    memberships = [*news.items(), *promo.items()]
    assert {address for address, on in memberships if not on} == set(EVERYONE)
    assert all(on for address, on in memberships if address not in EVERYONE)  # KEPT and NOISE
