"""Every example DAG loads, and runs to success end to end against the emulator with dag.test()."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import DAG_TEST_PASSES_EXCEPTION, dag_bag, run_dag, task_states, xcom_result

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"
MEMBERS_CSV = EXAMPLES / "data" / "newsletter_members.csv"
DAG_IDS = {
    "mailgun_campaign",
    "mailgun_etl_notifications",
    "mailgun_transactional",
    "mailgun_large_campaign_mapped",
    "mailgun_engagement_export",
    "mailgun_list_send",
}


def _dag(dag_id: str) -> Any:
    return dag_bag(str(EXAMPLES)).get_dag(dag_id)


def test_every_example_dag_loads_without_import_errors() -> None:
    bag = dag_bag(str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= DAG_IDS


def _csv_rows() -> list[dict[str, str]]:
    with MEMBERS_CSV.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_campaign_sends_each_subscribed_valid_member_exactly_one_copy(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    from airflow_provider_mailgun._common.addresses import parse_address
    from airflow_provider_mailgun.exceptions import InvalidAddressError

    rows = _csv_rows()
    valid, invalid = [], []
    for row in rows:
        try:
            valid.append((parse_address(row["address"]).email.lower(), row))
        except InvalidAddressError:
            invalid.append(row["address"])
    subscribed = {address for address, row in valid if row["subscribed"] == "yes"}
    unsubscribed = {address for address, row in valid if row["subscribed"] == "no"}
    soft = sorted(subscribed)[:20]
    mailgun_emulator.seed_suppressions(
        mailgun_emulator.domain, "bounces", [{"address": a, "code": "421", "error": "outage"} for a in soft]
    )

    dag_run = run_dag(_dag("mailgun_campaign"))

    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    copies = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert set(copies) == subscribed
    assert set(copies.values()) == {1}
    assert not unsubscribed & set(copies)
    assert not {a.lower() for a in invalid} & set(copies)
    summary = xcom_result(dag_run, "summary")
    assert summary["members_invalid"] == len(invalid)
    assert summary["emails_sent"] == len(subscribed)
    bouncing = sum(1 for a in subscribed if a.startswith("bounce"))
    assert summary["failed"] == bouncing + len(soft)
    assert summary["delivered"] == len(subscribed) - bouncing - len(soft)
    assert summary["soft_bounces_cleared"] == len(soft)


def test_list_send_gives_each_subscribed_member_one_personal_copy_and_the_sensor_waits_for_them(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    from airflow_provider_mailgun._common.addresses import parse_address
    from airflow_provider_mailgun.exceptions import InvalidAddressError

    rows = {}
    for row in _csv_rows():
        try:
            rows[parse_address(row["address"]).email.lower()] = row
        except InvalidAddressError:
            continue
    subscribed = {address for address, row in rows.items() if row["subscribed"] == "yes"}

    dag_run = run_dag(_dag("mailgun_list_send"))

    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    copies = mailgun_emulator.messages()
    by_recipient = Counter(m["recipient"] for m in copies)
    assert set(by_recipient) == subscribed  # unsubscribed and invalid rows get none
    assert set(by_recipient.values()) == {1}
    sent = xcom_result(dag_run, "send_to_list")
    assert len(sent["message_ids"]) == 1  # one request; Mailgun made the copies
    assert sent["mailing_list"] == "newsletter@mg.example.com"
    assert sent["recipients_per_message"] == {}  # counted by the sensor from the events
    assert {m["id"].strip("<>") for m in copies} == set(sent["message_ids"])
    for copy in copies[:50]:
        row = rows[copy["recipient"]]
        assert copy["subject"].startswith(f"{row['first_name']}, your weekly picks")
        assert f"readers in {row['city']}." in copy["text"]
        assert "/_emulator/unsubscribe/" in copy["text"]
    delivery = xcom_result(dag_run, "wait_for_delivery")
    bouncing = {a for a in subscribed if a.startswith("bounce")}
    assert delivery["delivered"] == len(subscribed) - len(bouncing)
    assert {f["recipient"] for f in delivery["failed"]} == bouncing
    assert delivery["pending"] == 0


def test_etl_notifications_report_on_success(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    dag_run = run_dag(_dag("mailgun_etl_notifications"))
    assert set(task_states(dag_run).values()) == {"success"}
    (report,) = mailgun_emulator.messages()
    assert report["recipient"] == "ops@example.org"
    assert "loaded 250 rows" in report["subject"]


def test_etl_notifications_alert_on_failure(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    dag_run = run_dag(_dag("mailgun_etl_notifications"), run_conf={"fail_load": True})
    states = task_states(dag_run)
    assert states["load"] == "failed"
    (alert,) = mailgun_emulator.messages()
    assert "FAILED" in alert["subject"]
    assert "load" in alert["subject"]
    assert "Task: load" in alert["text"]
    if DAG_TEST_PASSES_EXCEPTION:  # before 3.3, dag.test() passes no exception to callbacks
        assert "warehouse rejected the load" in alert["text"]


def test_transactional_sends_template_and_attachment(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    dag_run = run_dag(_dag("mailgun_transactional"))
    assert set(task_states(dag_run).values()) == {"success"}
    (message,) = mailgun_emulator.messages()
    assert message["recipient"] == "ada@example.org"
    assert "invoice 2026-0042 for 170.00" in message["html"]
    assert [a["filename"] for a in message["attachments"]] == ["invoice-2026-0042.csv"]


@pytest.mark.timeout(900)
def test_large_mapped_campaign_reaches_every_recipient_once(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # The direct connection: through the gateway the 10 requests/s limit alone makes this a minute.
    dag_run = run_dag(_dag("mailgun_large_campaign_mapped"), run_conf={"mailgun_conn_id": mailgun_conn_id})
    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    copies = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert len(copies) == 100_000
    assert set(copies.values()) == {1}
    assert xcom_result(dag_run, "total") == {"chunks": 10, "delivered": 100_000}


def test_engagement_export_writes_the_day_and_reports_per_tag(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    import gzip
    import json

    import pendulum
    import requests

    fields = {"from": "n@mg.example.com", "subject": "s", "text": "t", "recipient-variables": "{}"}
    auth = ("api", mailgun_emulator.mailgun_key)
    url = f"{mailgun_emulator.url}/v3/{mailgun_emulator.domain}/messages"
    to = [f"reader{i}@example.org" for i in range(20)] + ["bounce@example.org"]
    requests.post(url, auth=auth, data={**fields, "to": to, "o:tag": "newsletter"}, timeout=10)
    requests.post(url, auth=auth, data={**fields, "to": ["vip@example.org"], "o:tag": "vip"}, timeout=10)
    mailgun_emulator.engage("opened", tag="newsletter", limit=10)
    mailgun_emulator.engage("clicked", tag="newsletter", limit=3)
    # The run's interval is the day before its logical date: a logical date just ahead covers now.
    logical = pendulum.now("UTC").add(minutes=1)
    conf = {"mailgun_conn_id": mailgun_conn_id, "export_root": f"file://{tmp_path}"}
    dag_run = run_dag(_dag("mailgun_engagement_export"), logical_date=logical, run_conf=conf)

    assert set(task_states(dag_run).values()) == {"success"}
    exported = xcom_result(dag_run, "export_events")
    day = logical.subtract(days=1).to_date_string()
    assert exported["path"] == f"file://{tmp_path}/events/{day}.jsonl.gz"
    with gzip.open(tmp_path / "events" / f"{day}.jsonl.gz") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == exported["rows"] == 2 * 22 + 13
    report = {row["tag"]: row for row in xcom_result(dag_run, "engagement_report")["rows"]}
    assert (report["newsletter"]["delivered"], report["newsletter"]["bounced"]) == (20, 1)
    assert (report["newsletter"]["opened_rate"], report["newsletter"]["clicked_rate"]) == (0.5, 0.15)
    assert report["vip"]["delivered_rate"] == 1.0
    assert xcom_result(dag_run, "summary") == {"events": 57, "path": exported["path"], "tags": 2}


@pytest.mark.mailgun_emulator(domains=("mg.acme.example.org",))
@pytest.mark.parametrize(
    ("dag_id", "conf", "sender"),
    [
        ("mailgun_transactional", {}, "billing@mg.acme.example.org"),
        ("mailgun_etl_notifications", {}, "airflow@mg.acme.example.org"),
        ("mailgun_large_campaign_mapped", {"recipients": 40, "chunk_size": 20}, "launch@mg.acme.example.org"),
    ],
)
def test_examples_send_from_the_connections_default_domain_when_no_domain_is_given(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    dag_id: str,
    conf: Any,
    sender: str,
) -> None:
    # No domain param or Variable: the sending domain and the sender's domain are both the
    # connection's default_domain, so a real account never mails from a placeholder domain.
    dag_run = run_dag(_dag(dag_id), run_conf=conf)
    assert set(task_states(dag_run).values()) == {"success"}
    messages = mailgun_emulator.messages()
    assert messages
    assert {m["from"].rsplit("<", 1)[-1].rstrip(">") for m in messages} == {sender}


# ------------------------------------------------------------------------------ make demo
# scripts/demo.py with `airflow db migrate` and `airflow dags test` stubbed out: what it promises
# around them (the environment it prepares, the report, the exit status, stopping the emulator on
# every path) is checked against a real emulator process in seconds. `make demo` itself runs them.


def _demo_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_script", EXAMPLES.parent / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stub_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dag_test: Any) -> tuple[Any, list[Any]]:
    """The demo module with its Airflow commands replaced; returns it and the emulators it started."""
    demo = _demo_module()
    started: list[Any] = []
    start = demo._start_emulator

    def start_and_keep() -> Any:
        process, urls = start()
        started.append(process)
        return process, urls

    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / ".demo")
    monkeypatch.setattr(demo, "_start_emulator", start_and_keep)
    monkeypatch.setattr(demo, "_run", lambda command, env, quiet=False: None)  # airflow db migrate
    monkeypatch.setattr(demo.subprocess, "run", dag_test)
    monkeypatch.setenv("MATON_API_KEY", "must-not-reach-the-demo")
    return demo, started


@pytest.mark.parametrize("returncode", [0, 1], ids=["dag_succeeds", "dag_fails"])
def test_demo_prepares_airflow_reports_and_exits_with_the_dag_status(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    returncode: int,
) -> None:
    import json
    import subprocess

    seen: list[tuple[list[str], dict[str, str]]] = []

    def dag_test(command: list[str], env: dict[str, str], **kwargs: Any) -> Any:
        seen.append((command, env))
        return subprocess.CompletedProcess(command, returncode)

    demo, started = _stub_demo(monkeypatch, tmp_path, dag_test)

    assert demo.main() == returncode

    ((command, env),) = seen
    assert command[1:] == ["dags", "test", "mailgun_campaign"]
    connection = json.loads(env["AIRFLOW_CONN_MATON_DEFAULT"])
    assert connection["conn_type"] == "maton"
    assert connection["host"].startswith("http://127.0.0.1:")
    assert env["AIRFLOW_HOME"].startswith(str(tmp_path))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert "MATON_API_KEY" not in env  # the demo never falls back to a real key
    out = capsys.readouterr().out
    assert ("Demo succeeded" if returncode == 0 else "Demo FAILED") in out
    for line in ("members synced", "emails sent:", "delivered:", "failed:", "bounces cleared:"):
        assert line in out
    (emulator,) = started
    assert emulator.poll() is not None  # stopped


def test_demo_stops_the_emulator_when_the_run_is_interrupted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def dag_test(command: list[str], env: dict[str, str], **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    demo, started = _stub_demo(monkeypatch, tmp_path, dag_test)

    with pytest.raises(KeyboardInterrupt):
        demo.main()
    (emulator,) = started
    assert emulator.poll() is not None
