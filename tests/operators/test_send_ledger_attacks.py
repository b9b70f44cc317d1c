"""Exactly once, attacked: crashes at the instants between ledger writes, clears, clocks, retention.

DAGs run with ``dag.test()`` against the emulator; a crash at an exact instant is a store write
that raises, and a skewed clock is the send's clock. Each case says what must hold:

* With Airflow 3.3's ``[state_store] clear_on_success``, a cleared re-run returns the completed
  send's result (message ids and all), not an empty one, and nothing is sent again.
* With ``clear_on_success``, a crash right after the state store recorded the completion and before
  the Variable that outlives the success did: the retry returns the result, and a later clear still
  finds the send done.
* A worker whose clock runs ahead of Mailgun's finds an ambiguous batch in the events anyway.
* A clear of a task that failed after sending half sends only the other half; a clear of a
  completed send with ``retries=0`` sends nothing; a mapped task cleared as a whole sends nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import airflow
import pendulum
import pytest
from airflow.sdk import DAG
from packaging.version import Version

from airflow_provider_mailgun._send import ledger as send_ledger
from airflow_provider_mailgun._send import ledger_stores
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import clear_and_rerun, run_dag, task_states, xcom_result

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM = "News <news@mg.example.com>"
needs_airflow_3_3 = pytest.mark.skipif(
    Version(airflow.__version__).release < (3, 3), reason="[state_store] exists from Airflow 3.3"
)


def _people(count: int, prefix: str = "reader") -> list[str]:
    return [f"{prefix}{i:03d}@example.org" for i in range(count)]


def _copies(emu: MailgunEmulator) -> Counter[str]:
    return Counter(m["recipient"] for m in emu.messages())


def _send_dag(dag_id: str, conn_id: str, *, to: Any = None, retries: int = 1, **options: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        MailgunSendMessageOperator(
            task_id="send", mailgun_conn_id=conn_id, from_email=FROM, to=to or _people(6), subject="s",
            text="t", batch_size=2, max_concurrency=1, reconcile_timeout=1, retries=retries,
            retry_delay=timedelta(0), **options,
        )  # fmt: skip
    return dag


@needs_airflow_3_3
def test_with_clear_on_success_a_cleared_rerun_returns_the_earlier_result(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    dag = _send_dag("attack_clear_on_success_result", mailgun_conn_id)
    first_run = run_dag(dag)
    first = xcom_result(first_run, "send")
    assert len(first["message_ids"]) == 3

    again = clear_and_rerun(dag, first_run)

    assert task_states(again) == {"send": "success"}
    assert len(mailgun_emulator.messages()) == 6
    # What the delivery sensor downstream reads: the send's messages, not an empty list.
    assert xcom_result(again, "send") == first


@needs_airflow_3_3
def test_with_clear_on_success_a_crash_before_the_kept_record_is_written_is_not_forgotten(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    real_set = ledger_stores.VariableStore.set
    crashed = {"done": False}

    def crash_once(self: Any, key: str, value: Any) -> None:
        # The state store has just recorded the completion; the worker dies before the Variable does.
        if key == send_ledger.HEAD_KEY and value.get("completed_at") and not crashed["done"]:
            crashed["done"] = True
            raise RuntimeError("worker lost between the two completion records")
        real_set(self, key, value)

    monkeypatch.setattr(ledger_stores.VariableStore, "set", crash_once)
    dag = _send_dag("attack_clear_on_success_crash", mailgun_conn_id)
    first_run = run_dag(dag)
    (ti,) = first_run.get_task_instances()
    assert crashed["done"]
    assert task_states(first_run) == {"send": "success"}
    assert ti.try_number == 2
    assert len(mailgun_emulator.messages()) == 6  # the retry sent nothing

    again = clear_and_rerun(dag, first_run)  # Airflow erased the task's state on success

    assert task_states(again) == {"send": "success"}
    assert set(_copies(mailgun_emulator).values()) == {1}, "a clear after the crash mailed everyone again"


def test_a_worker_clock_ahead_of_mailgun_still_finds_an_ambiguous_batch(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    from airflow_provider_mailgun._send.execution import PlanSender
    from airflow_provider_mailgun._send.ledger import MemoryStore, SendLedger
    from airflow_provider_mailgun._send.plan import SendSpec, build_plan
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    # Mailgun stores the second batch, then the connection drops: the send is ambiguous.
    ahead = 15 * 60  # the worker's clock runs 15 minutes ahead of Mailgun's
    mailgun_emulator.set_faults({"drop_after_store": [2], "path": "/messages", "methods": ["POST"]})
    plan = build_plan(
        SendSpec(to=_people(6), from_email=FROM, subject="s", text="t", batch=True, batch_size=2),
        "dag__run__task__-1__g1",
    )
    ledger = SendLedger(MemoryStore())
    ledger.begin("g1", 1)
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    sender = PlanSender(
        hook, mailgun_emulator.domain, plan, ledger, max_concurrency=1, on_ambiguous="reconcile",
        reconcile_timeout=2, clock=lambda: time.time() + ahead,
    )  # fmt: skip
    try:
        outcome = sender.run()
    finally:
        hook.close()
    assert outcome.reconciled == 1
    assert outcome.unsettled == []
    assert set(_copies(mailgun_emulator).values()) == {1}


def test_a_clear_of_a_task_that_failed_after_sending_half_sends_only_the_rest(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # The third send is refused (400): provably not sent; the task fails, no retries left.
    mailgun_emulator.set_faults({"send_error_at": {"3": 400}, "path": "/messages", "methods": ["POST"]})
    dag = _send_dag("attack_clear_after_half", mailgun_conn_id, retries=0, resend_after_clear=True)
    first_run = run_dag(dag)
    assert task_states(first_run) == {"send": "failed"}
    assert len(mailgun_emulator.messages()) == 4
    mailgun_emulator.set_faults({})

    again = clear_and_rerun(dag, first_run)

    assert task_states(again) == {"send": "success"}
    copies = _copies(mailgun_emulator)
    assert set(copies) == set(_people(6))
    assert set(copies.values()) == {1}, copies
    assert len(xcom_result(again, "send")["message_ids"]) == 3


def test_a_clear_of_a_completed_send_with_no_retries_sends_nothing(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    dag = _send_dag("attack_clear_no_retries", mailgun_conn_id, retries=0)
    first_run = run_dag(dag)
    first = xcom_result(first_run, "send")
    again = clear_and_rerun(dag, first_run)
    again_twice = clear_and_rerun(dag, again)
    assert task_states(again_twice) == {"send": "success"}
    assert len(mailgun_emulator.messages()) == 6
    assert xcom_result(again_twice, "send") == first


def test_a_mapped_send_cleared_as_a_whole_sends_nothing_again(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    groups = [_people(3, f"g{k}x") for k in range(3)]
    with DAG("attack_clear_mapped", schedule=None, start_date=START, catchup=False) as dag:
        MailgunSendMessageOperator.partial(
            task_id="send", mailgun_conn_id=mailgun_conn_id, from_email=FROM, subject="s", text="t",
            batch_size=2, reconcile_timeout=1, retries=1, retry_delay=timedelta(0),
        ).expand(to=groups)  # fmt: skip
    first_run = run_dag(dag)
    assert len(mailgun_emulator.messages()) == 9
    again = clear_and_rerun(dag, first_run)
    assert set(task_states(again).values()) == {"success"}
    assert set(_copies(mailgun_emulator).values()) == {1}
    for index in range(3):
        assert xcom_result(again, "send", index) == xcom_result(first_run, "send", index)


class _CrashAfterExecuteOnTry2(MailgunSendMessageOperator):
    """The re-run after a clear (try 2) is lost after execute() returned; its retry is try 3."""

    def post_execute(self, context: Any, result: Any = None) -> None:
        if context["ti"].try_number == 2:
            raise RuntimeError("worker lost after execute() returned")


def test_a_retry_after_a_clear_that_resent_does_not_send_a_third_time(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    with DAG("attack_retry_after_clear", schedule=None, start_date=START, catchup=False) as dag:
        _CrashAfterExecuteOnTry2(
            task_id="send", mailgun_conn_id=mailgun_conn_id, from_email=FROM, to=_people(6), subject="s",
            text="t", batch_size=2, reconcile_timeout=1, retries=1, retry_delay=timedelta(0),
            resend_after_clear=True,
        )  # fmt: skip
    first_run = run_dag(dag)
    again = clear_and_rerun(dag, first_run)
    (ti,) = again.get_task_instances()
    assert task_states(again) == {"send": "success"}
    assert ti.try_number == 3
    assert set(_copies(mailgun_emulator).values()) == {2}  # the first send and the resend, once each


class _VariableLedger(MailgunSendMessageOperator):
    """As on Airflow 3.0 to 3.2: no task state store, the ledger is kept in Variables."""

    def execute(self, context: Any) -> Any:
        return super().execute({k: v for k, v in context.items() if k != "task_state_store"})

    def post_execute(self, context: Any, result: Any = None) -> None:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost after execute() returned")


def test_the_variable_ledger_works_with_the_longest_ids(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # dag_id and task_id at Airflow's 250-character limit: the Variable names must still fit.
    dag_id, task_id = "d" * 250, "t" * 250
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        _VariableLedger(
            task_id=task_id, mailgun_conn_id=mailgun_conn_id, from_email=FROM, to=_people(600), subject="s",
            text="t", batch_size=1, max_concurrency=8, reconcile_timeout=1, retries=1,
            retry_delay=timedelta(0),
        )  # fmt: skip
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {task_id: "success"}
    assert set(_copies(mailgun_emulator).values()) == {1}  # 600 batches in 3 chunks; the retry sent none
    assert len(xcom_result(dag_run, task_id)["message_ids"]) == 600


@pytest.mark.skipif(
    Version(airflow.__version__) < Version("3.1"),
    reason="Airflow 3.0's dag.test() deep-copies the DAG with the operator's original arguments, "
    "and a generator cannot be copied",
)
def test_a_retry_in_the_same_process_resends_a_generator_audience_only_where_it_stopped(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # A generator can be read once; a retry run by the same process (``dag.test()``, a retry of
    # the task runner) must still see every recipient, with the batch keys of the first try.
    mailgun_emulator.set_faults({"send_error_at": {"3": 400}, "path": "/messages", "methods": ["POST"]})
    dag = _send_dag("attack_generator_retry", mailgun_conn_id, to=(a for a in _people(6)), retries=1)
    run = run_dag(dag)
    assert task_states(run) == {"send": "success"}
    copies = _copies(mailgun_emulator)
    assert set(copies) == set(_people(6))
    assert set(copies.values()) == {1}, copies
