"""The campaign example DAG, 10,000 members, under a mixed fault load, with task retries on.

Every recipient must end with exactly one copy, the list must equal the CSV and exactly the soft
bounces must be cleared, whatever the emulator throws: 20% of requests answered 429/420/500/502/503,
connection resets, slow replies that outlast the client's read timeout, one send whose connection
is dropped after Mailgun stored it and one answered 503 before it was stored. Tasks get retries
(the example has none): a try that cannot settle a send fails, and Airflow's retry reconciles it.
The 10,000-member run takes a minute and a half (marked ``slow``); the gateway run is smaller.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.reliability.conftest import (
    copies_per_recipient,
    direct_connection,
    durations,
    example_dag,
    gateway_connection,
    injected_faults,
    print_report,
    tries,
    write_members_csv,
)

MIXED_FAULTS: dict[str, Any] = {
    "error_rate": 0.2,
    "statuses": [429, 420, 500, 502, 503],
    "reset_rate": 0.03,
    "slow_rate": 0.03,
    "slow_seconds": 1.5,
    "drop_after_store": [2],
    "send_error_at": {"4": 503},  # answered before Mailgun stores it: ambiguous, and really lost
    "retry_after": 1,
}
# Longer than the slow replies' 1.5 s on reads would cost 1.5 s each; 1 s makes them time out.
READ_TIMEOUT = 1.0
TASK_RETRIES = 4


def _campaign_with_retries(reconcile_timeout: float) -> Any:
    dag = example_dag("mailgun_campaign")
    for task in dag.tasks:
        task.retries = TASK_RETRIES
        task.retry_delay = timedelta(0)
    dag.get_task("send_newsletter").reconcile_timeout = reconcile_timeout
    return dag


def _seed_bounces(emu: MailgunEmulator, rows: list[dict[str, str]]) -> tuple[set[str], set[str]]:
    """Soft (4xx) bounces on one member in 250 and hard (5xx) ones on 40 outsiders."""
    subscribed = [r["address"] for r in rows if r["subscribed"] == "yes" and "bounce" not in r["address"]]
    soft = set(subscribed[: len(rows) // 250])
    hard = {f"gone{i}@example.net" for i in range(40)}
    emu.seed_suppressions(
        emu.domain,
        "bounces",
        [{"address": a, "code": "421", "error": "try again later"} for a in soft]
        + [{"address": a, "code": "550", "error": "no such user"} for a in hard],
    )
    return soft, hard


def _expected_list(rows: list[dict[str, str]]) -> dict[str, tuple[str, dict[str, str], bool]]:
    return {
        r["address"]: (
            r["name"],
            {"first_name": r["first_name"], "city": r["city"], "plan": r["plan"]},
            r["subscribed"] == "yes",
        )
        for r in rows
    }


def _stored_list(emu: MailgunEmulator, address: str) -> dict[str, tuple[str, dict[str, Any], bool]]:
    with emu.state.lock:
        records = dict(emu.state.lists[address].members.records)
    return {key: (m["name"], m["vars"], m["subscribed"]) for key, m in records.items()}


def _bounce_table(emu: MailgunEmulator) -> set[str]:
    with emu.state.lock:
        return set(emu.state.domains[emu.domain].suppressions["bounces"].records)


def _run_campaign(
    emu: MailgunEmulator,
    conn_id: str,
    csv_path: Path,
    rows: list[dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> dict[str, Any]:
    caplog.set_level(logging.INFO)
    soft, hard = _seed_bounces(emu, rows)
    emu.set_faults(MIXED_FAULTS)
    dag = _campaign_with_retries(reconcile_timeout=2)

    dag_run = run_dag(dag, run_conf={"mailgun_conn_id": conn_id, "members_csv": str(csv_path)})

    faults = injected_faults(emu)
    emu.clear_faults()
    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    subscribed = {r["address"] for r in rows if r["subscribed"] == "yes"}
    copies = copies_per_recipient(emu)
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    lost = len(subscribed - set(copies))
    assert duplicates == 0
    assert lost == 0
    assert set(copies) == subscribed  # nobody who unsubscribed got mail
    list_address = f"newsletter@{emu.domain}"
    assert _stored_list(emu, list_address) == _expected_list(rows)
    bouncing = {a for a in subscribed if a.startswith("bounce")}
    # Soft bounces cleared; hard ones stay, with the new 550s of this send.
    assert _bounce_table(emu) == hard | bouncing
    sent = xcom_result(dag_run, "send_newsletter")
    cleared = xcom_result(dag_run, "clear_soft_bounces")
    assert cleared["deleted"] + cleared["not_found"] == len(soft)
    assert sent["recipients"] == len(subscribed)
    # At most once per batch: every planned batch was stored exactly once by Mailgun, however many
    # send requests it took (a batch whose reply was lost after it was stored was never resent).
    send_requests = [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]
    assert emu.stats()["sends"] == sent["batches"]
    task_tries = tries(dag_run)
    messages = [record.getMessage() for record in caplog.records]
    return {
        "faults": dict(faults),
        "faults_total": sum(faults.values()),
        "requests": emu.stats()["requests"],
        # How the faults were absorbed: the client retried what was safe to retry, ambiguous sends
        # were reconciled against the events, and anything left over failed a try that Airflow retried.
        "client_retries": sum(1 for m in messages if m.startswith("Retrying after")),
        "send_requests": len(send_requests),
        # Faults on sends: a dropped or too slow reply after Mailgun stored the batch is reconciled
        # (found, not resent); an error or reset before it was stored is resent after reconciling.
        "send_faults": dict(Counter(r["fault"] for r in send_requests if r["fault"])),
        "batches_stored": emu.stats()["sends"],
        "reconciled": sent["reconciled"],
        "task_retries": sum(n - 1 for n in task_tries.values()),
        "retried_tasks": {k: n for k, n in task_tries.items() if n > 1},
        "recipients": len(subscribed),
        "duplicates": duplicates,
        "lost": lost,
        "seconds_per_task": durations(dag_run),
    }


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_campaign_of_10000_members_survives_mixed_faults_direct(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csv_path = tmp_path / "members.csv"
    rows = write_members_csv(csv_path, 10_000)
    conn_id = direct_connection(monkeypatch, mailgun_emulator, "mailgun_flaky", timeout=READ_TIMEOUT)

    report = _run_campaign(mailgun_emulator, conn_id, csv_path, rows, caplog)

    print_report("Campaign, 10,000 members, direct, mixed faults", report.items())
    assert report["client_retries"] >= 20
    assert report["faults_total"] >= 30
    assert report["faults"]["drop_after_store"] == 1
    assert {"reset", "slow"} <= set(report["faults"])
    assert report["send_requests"] > report["batches_stored"]  # sends were lost and made good
    assert report["reconciled"] >= 1  # the stored-then-dropped batch was found, not resent
    # The 4th send's 503 left a batch unsettled: the try failed, Airflow retried, the retry
    # reconciled (not accepted) and sent it once.
    assert report["retried_tasks"].get("send_newsletter", 1) >= 2


@pytest.mark.timeout(600)
def test_campaign_of_1200_members_survives_mixed_faults_through_the_gateway(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csv_path = tmp_path / "members.csv"
    rows = write_members_csv(csv_path, 1_200)
    conn_id = gateway_connection(monkeypatch, mailgun_emulator, "maton_flaky", timeout=READ_TIMEOUT)

    report = _run_campaign(mailgun_emulator, conn_id, csv_path, rows, caplog)

    print_report("Campaign, 1,200 members, Maton gateway, mixed faults", report.items())
    assert report["faults_total"] >= 3
    assert report["faults"]["drop_after_store"] == 1
    assert report["reconciled"] >= 1  # the stored-then-dropped batch was found, not resent
