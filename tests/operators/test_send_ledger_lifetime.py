"""How long the send ledger lives, and what a retry or a clear does with it, DAGs run with dag.test().

* A crash after ``execute()`` returned and before Airflow recorded success (here: ``post_execute``
  failing on the first try) leaves a completed ledger: the retry returns the first try's result and
  sends nothing.
* Clearing a task instance whose send completed and running it again sends nothing again and says
  how to: ``resend_after_clear=True``, which then sends everything as a new send, whose batch keys
  differ from the first's, so an ambiguous resend is never matched to the first send's messages.
* Airflow 3.3's ``[state_store] clear_on_success`` and ``default_retention_days`` are honoured.
* The 3.0-3.2 Variable ledger follows the same rules, and removes records past the retention.

Each rule runs with the task state store (on Airflow 3.0-3.2 there is none, so both use Variables)
and with the Variable ledger.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import airflow
import pendulum
import pytest
from airflow.sdk import DAG
from packaging.version import Version

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import clear_and_rerun, run_dag, task_states, xcom_result

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM = "News <news@mg.example.com>"
needs_airflow_3_3 = pytest.mark.skipif(
    Version(airflow.__version__).release < (3, 3), reason="[state_store] exists from Airflow 3.3"
)
STORES = ["task_state_store", "variable"]


class _WithoutTaskStateStore:
    """Runs the operator as on Airflow 3.0 to 3.2, which have no ``task_state_store``."""

    def execute(self, context: Any) -> Any:
        without = {k: v for k, v in context.items() if k != "task_state_store"}
        return super().execute(without)  # type: ignore[misc]


class _CrashAfterExecute(MailgunSendMessageOperator):
    """The first try fails after execute() returned, before Airflow records success or pushes XCom."""

    def post_execute(self, context: Any, result: Any = None) -> None:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost after execute() returned")


class _VariableSend(_WithoutTaskStateStore, MailgunSendMessageOperator):
    pass


class _VariableCrashAfterExecute(_WithoutTaskStateStore, _CrashAfterExecute):
    pass


def _send_class(store: str, crash: bool = False) -> type[MailgunSendMessageOperator]:
    if store == "variable":
        return _VariableCrashAfterExecute if crash else _VariableSend
    return _CrashAfterExecute if crash else MailgunSendMessageOperator


def _people(count: int) -> list[str]:
    return [f"reader{i:03d}@example.org" for i in range(count)]


def _copies(emu: MailgunEmulator) -> Counter[str]:
    return Counter(m["recipient"] for m in emu.messages())


def _dag(dag_id: str, operator: type[MailgunSendMessageOperator], conn_id: str, **options: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        operator(
            task_id="send", mailgun_conn_id=conn_id, from_email=FROM, to=_people(6), subject="Issue 1",
            text="t", batch_size=2, max_concurrency=1, reconcile_timeout=1, retries=1,
            retry_delay=timedelta(0), **options,
        )  # fmt: skip
    return dag


@pytest.mark.parametrize("store", STORES)
def test_a_crash_after_execute_returned_is_retried_without_sending_again(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, store: str
) -> None:
    dag = _dag(f"ledger_crash_after_execute_{store}", _send_class(store, crash=True), mailgun_conn_id)
    dag_run = run_dag(dag)
    (ti,) = dag_run.get_task_instances()
    assert task_states(dag_run) == {"send": "success"}
    assert ti.try_number == 2
    copies = _copies(mailgun_emulator)
    assert set(copies) == set(_people(6))
    assert set(copies.values()) == {1}, copies
    result = xcom_result(dag_run, "send")
    assert len(result["message_ids"]) == 3
    assert sum(result["recipients_per_message"].values()) == 6


@pytest.mark.parametrize("store", STORES)
def test_clearing_a_completed_send_sends_nothing_again_and_says_how_to(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    store: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dag = _dag(f"ledger_clear_{store}", _send_class(store), mailgun_conn_id)
    first_run = run_dag(dag)
    first = xcom_result(first_run, "send")
    assert len(mailgun_emulator.messages()) == 6

    caplog.set_level(logging.WARNING)
    again = clear_and_rerun(dag, first_run)

    assert task_states(again) == {"send": "success"}
    assert len(mailgun_emulator.messages()) == 6  # nobody mailed twice
    assert xcom_result(again, "send") == first  # the result downstream tasks see is the send's
    logs = [r.getMessage() for r in caplog.records] + capsys.readouterr().out.splitlines()
    warned = [line for line in logs if "resend_after_clear" in line]
    assert warned, "the log must say how to send again"
    assert "nothing was sent again" in warned[0]


@pytest.mark.parametrize("store", STORES)
def test_resend_after_clear_sends_again_as_a_new_send_never_matched_to_the_first(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, store: str
) -> None:
    dag = _dag(f"ledger_resend_{store}", _send_class(store), mailgun_conn_id, resend_after_clear=True)
    first_run = run_dag(dag)
    first = xcom_result(first_run, "send")
    # The resend's first batch gets a 503 before Mailgun stores it: ambiguous. Its batch key must not
    # match the first send's accepted events, or the batch would be "reconciled" and never sent.
    mailgun_emulator.set_faults({"send_error_at": {"1": 503}, "path": "/messages", "methods": ["POST"]})

    again = clear_and_rerun(dag, first_run)

    assert task_states(again) == {"send": "success"}
    copies = _copies(mailgun_emulator)
    assert set(copies.values()) == {2}, copies  # everyone: the first send and the resend, once each
    second = xcom_result(again, "send")
    assert set(second["message_ids"]).isdisjoint(first["message_ids"])
    assert second["reconciled"] == 0


def _state_store_rows(dag_id: str) -> list[Any]:
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskStateStoreModel).filter_by(dag_id=dag_id).all()
        for row in rows:
            session.expunge(row)
        return rows


def _ledger_variables(dag_id: str) -> dict[str, Any]:
    from airflow.models import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(Variable).filter(Variable.key.like(f"mailgun-send-ledger%__{dag_id}__%")).all()
        return {row.key: json.loads(row.val) for row in rows}


@needs_airflow_3_3
def test_with_clear_on_success_the_completed_send_is_still_remembered(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    dag = _dag("ledger_clear_on_success", MailgunSendMessageOperator, mailgun_conn_id)
    first_run = run_dag(dag)
    assert task_states(first_run) == {"send": "success"}
    assert _state_store_rows(dag.dag_id) == []  # Airflow erased the task's state on success
    assert _ledger_variables(dag.dag_id), "the completion must be kept where clear_on_success does not reach"

    again = clear_and_rerun(dag, first_run)

    assert task_states(again) == {"send": "success"}
    assert len(mailgun_emulator.messages()) == 6


@needs_airflow_3_3
def test_the_kept_ledger_expires_after_default_retention_days(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__DEFAULT_RETENTION_DAYS", "7")
    dag = _dag("ledger_retention_days", MailgunSendMessageOperator, mailgun_conn_id)
    run_dag(dag)
    rows = _state_store_rows(dag.dag_id)
    assert rows, "the completed ledger is kept after success"
    for row in rows:
        assert row.expires_at is not None
        left = row.expires_at.timestamp() - time.time()
        assert 6.9 * 86400 < left <= 7 * 86400, row.key
    assert _ledger_variables(dag.dag_id) == {}  # no Variables where the state store keeps it


def test_the_variable_ledger_is_removed_after_its_retention(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    from airflow.models import Variable
    from airflow.utils.session import create_session

    dag = _dag("ledger_variable_retention", _VariableSend, mailgun_conn_id)
    old_run = run_dag(dag)
    kept = _ledger_variables(dag.dag_id)
    old = {name for name in kept if old_run.run_id in name}
    assert old, "the completed ledger is kept after success"
    # Time passes beyond the retention: age the old run's records in the ledger's index.
    (index_name,) = [name for name in kept if "index" in name]
    with create_session() as session:
        row = session.query(Variable).filter(Variable.key == index_name).one()
        row.val = json.dumps(
            {name: [time.time() - 1, *rest] for name, (_, *rest) in json.loads(row.val).items()}
        )

    new_run = run_dag(dag)  # the next completed run of the task removes what is past the retention

    left = _ledger_variables(dag.dag_id)
    assert not any(old_run.run_id in name for name in left)
    assert any(new_run.run_id in name for name in left)
    assert len(mailgun_emulator.messages()) == 12
