"""With a sentinel API key, the example DAGs leak it nowhere: logs, XCom, rendered fields, errors.

The emulator accepts only sentinel keys (unique per run, long enough for Airflow's masker). All
four example DAGs run end to end: the campaign (through the Maton gateway), the ETL alerts
(success and failure, whose alert mails the exception), the mapped campaign (on 600 recipients)
and the transactional DAG (once with the right key, once with a wrong one, so the client's errors
are exercised). Then every place a key could end up is read: the captured task logs, log files
under AIRFLOW_HOME, every XCom and rendered-field row, the metadata DB file itself (Variables, task
state, anything), the stored emails and events, and the emulator's request log, whose entries must
not even have a header field.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import DAG_TEST_PASSES_EXCEPTION, run_dag, task_states
from tests.reliability.conftest import direct_connection, example_dag, gateway_connection, write_members_csv

SENTINEL = f"key-sentinel-{uuid.uuid4().hex}{uuid.uuid4().hex}"
MATON_SENTINEL = f"maton-sentinel-{uuid.uuid4().hex}{uuid.uuid4().hex}"
WRONG_SENTINEL = f"key-sentinel-wrong-{uuid.uuid4().hex}{uuid.uuid4().hex}"
AIRFLOW_3_1_PLUS = Version(airflow.__version__) >= Version("3.1")
REQUEST_LOG_FIELDS = {
    *("method", "path", "status", "time", "entrance", "query", "form_keys", "fault", "connection")
}


def _forms(*keys: str) -> list[str]:
    """Each key as it could leak: raw, and inside a Basic auth header."""
    forms = list(keys)
    forms += [base64.b64encode(f"api:{key}".encode()).decode() for key in keys]
    return forms


FORBIDDEN = _forms(SENTINEL, MATON_SENTINEL, WRONG_SENTINEL)


def _leaks(places: dict[str, str | bytes]) -> list[str]:
    """``place: form`` for every forbidden form found in any place."""
    found = []
    for place, content in places.items():
        text = content.decode("latin-1") if isinstance(content, bytes) else content
        found += [f"{place}: {form[:24]}..." for form in FORBIDDEN if form in text]
    return found


def test_the_leak_finder_finds_a_planted_key() -> None:
    # Control: a place holding the key in any of its forms is reported.
    assert _leaks({"log": f"x {SENTINEL} y"}) == [f"log: {SENTINEL[:24]}..."]
    assert _leaks({"header": base64.b64encode(f"api:{WRONG_SENTINEL}".encode())})
    assert _leaks({"clean": "nothing here"}) == []


def _without_mask_echoes(text: str) -> tuple[str, int]:
    """The log without Airflow 3.0's debug echo of its own MaskSecret requests, and how many there were.

    dag.test() on Airflow 3.0 runs the supervisor in-process and logs every message a task sends it
    at debug level, including ``MaskSecret(value=...)``, the request that registers the key with
    the masker. That line is Airflow's (a task log at INFO never holds it, and 3.1+ does not write
    it); anything else holding the key is ours.
    """
    lines = text.splitlines()
    kept = [line for line in lines if "MaskSecret(" not in line]
    return "\n".join(kept), len(lines) - len(kept)


def _database_rows() -> dict[str, str]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = [(x.dag_id, x.task_id, x.key, str(x.value)) for x in session.query(XComModel).all()]
        rendered = [(r.dag_id, r.task_id, json.dumps(r.rendered_fields, default=str)) for r in
                    session.query(RenderedTaskInstanceFields).all()]  # fmt: skip
    assert xcoms, "no XCom rows: the runs did not happen"
    assert rendered, "no rendered-field rows: nothing to check"
    assert any(task == "send_newsletter" for _, task, _ in rendered)
    return {"xcom": json.dumps(xcoms), "rendered_fields": json.dumps(rendered)}


def _airflow_home_files() -> dict[str, bytes]:
    """The metadata DB (with its WAL) and every log file Airflow wrote."""
    home = Path(os.environ["AIRFLOW_HOME"])
    files = {}
    for path in home.rglob("*"):
        if path.is_file() and (path.suffix in (".log", ".json") or path.name.startswith("airflow.db")):
            files[str(path.relative_to(home))] = path.read_bytes()
    assert any(name.startswith("airflow.db") for name in files)
    return files


@pytest.mark.timeout(300)
@pytest.mark.mailgun_emulator(mailgun_keys=(SENTINEL,), maton_keys=(MATON_SENTINEL,))
def test_a_sentinel_key_appears_in_no_log_xcom_rendered_field_error_or_request_log(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = mailgun_emulator
    direct = direct_connection(monkeypatch, emu, "mailgun_sentinel", key=SENTINEL)
    maton = gateway_connection(monkeypatch, emu, "maton_sentinel", key=MATON_SENTINEL)
    wrong = direct_connection(monkeypatch, emu, "mailgun_wrong_sentinel", key=WRONG_SENTINEL, max_attempts=1)
    members = tmp_path / "members.csv"
    write_members_csv(members, 300)

    runs: dict[str, Any] = {
        "campaign": run_dag(
            example_dag("mailgun_campaign"), run_conf={"mailgun_conn_id": maton, "members_csv": str(members)}
        ),
        "etl": run_dag(example_dag("mailgun_etl_notifications"), run_conf={"mailgun_conn_id": direct}),
        "etl_failing": run_dag(
            example_dag("mailgun_etl_notifications"), run_conf={"mailgun_conn_id": direct, "fail_load": True}
        ),
        "transactional": run_dag(example_dag("mailgun_transactional"), run_conf={"mailgun_conn_id": direct}),
        # Mapped tasks render and store their fields per map index: scanned too, on a small audience.
        "mapped": run_dag(
            example_dag("mailgun_large_campaign_mapped"),
            run_conf={"mailgun_conn_id": direct, "recipients": 600, "chunk_size": 200},
        ),
        "wrong_key": run_dag(example_dag("mailgun_transactional"), run_conf={"mailgun_conn_id": wrong}),
    }
    captured = capfd.readouterr()
    logs, mask_echoes = _without_mask_echoes(captured.out + captured.err + caplog.text)
    if AIRFLOW_3_1_PLUS:
        assert mask_echoes == 0

    # The runs did what they should, so the places below hold real content.
    assert set(task_states(runs["campaign"]).values()) == {"success"}
    assert set(task_states(runs["etl"]).values()) == {"success"}
    assert task_states(runs["etl_failing"])["load"] == "failed"
    assert set(task_states(runs["transactional"]).values()) == {"success"}
    assert set(task_states(runs["mapped"]).values()) == {"success"}
    assert "failed" in task_states(runs["wrong_key"]).values()
    assert "401" in logs  # the wrong key's error was logged, and is scanned
    alerts = [m for m in emu.messages() if "FAILED" in m["subject"]]
    assert alerts, "the failure alert was not mailed"
    if DAG_TEST_PASSES_EXCEPTION:  # before 3.3, dag.test() passes no exception to callbacks
        assert "warehouse rejected the load" in alerts[0]["text"]  # the alert mailed the exception

    requests_log = emu.requests()
    assert requests_log
    assert all(set(entry) == REQUEST_LOG_FIELDS for entry in requests_log)  # no headers stored at all
    places: dict[str, str | bytes] = {
        "task logs": logs,
        **_database_rows(),
        **_airflow_home_files(),
        "stored emails": json.dumps(emu.messages(), default=str),
        "events": json.dumps(emu.events(), default=str),
        "emulator request log": json.dumps(requests_log),
    }
    assert _leaks(places) == []
