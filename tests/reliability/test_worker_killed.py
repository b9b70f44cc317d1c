"""A worker killed during a send, or just after it, then retried by Airflow: one copy per recipient.

The send task runs in a real child process (``dag.test()``), against an emulator that answers
each send slowly, so batches are in flight when the test SIGKILLs the process. The test then does
what the scheduler does with a task instance whose worker vanished (marks it ``up_for_retry``), and
a second process resumes the same DAG run: the retry is try 2 of the same task instance, reads the
ledger the first try left in the metadata DB (the task state store on Airflow 3.3+, a Variable
before), reconciles the batches that were in flight against Mailgun's events and sends only what
was never accepted.

The second test kills the worker after ``execute()`` returned, before Airflow recorded success (in
``post_execute``, which runs before the XCom push and the success message): every batch had been
accepted, and the retry must send none of them again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun._send.ledger import KEY_PREFIX
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.reliability.conftest import REPO_ROOT, copies_per_recipient, direct_connection, print_report
from tests.sensors.delivery_helpers import EVENT_SOURCES, is_event_read, sensor_source

DAG_ID = "mailgun_worker_killed"
RECIPIENTS = 5_000
BATCH_SIZE = 500
BATCHES = RECIPIENTS // BATCH_SIZE
SEND_SECONDS = 0.6
DAG_FILE = """
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

with DAG(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    MailgunSendMessageOperator(
        task_id="send",
        mailgun_conn_id="{conn_id}",
        from_email="News <news@mg.example.com>",
        to=[{{"address": f"killed.m{{i:05d}}@example.org", "variables": {{"n": i}}}} for i in range({count})],
        subject="Hello %recipient.n%",
        text="One copy each.",
        batch_size={batch_size},
        max_concurrency=2,
        reconcile_timeout=2,
        retries=1,
        retry_delay=timedelta(0),
        event_source="{event_source}",
    )
"""


KILLED_AFTER_EXECUTE_DAG = """
import os
import signal
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator


class KilledAfterExecute(MailgunSendMessageOperator):
    def post_execute(self, context, result=None):
        # After execute() returned, before the XCom push and the success message: the worker dies.
        if context["ti"].try_number == 1:
            os.kill(os.getpid(), signal.SIGKILL)


with DAG(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    KilledAfterExecute(
        task_id="send",
        mailgun_conn_id="{conn_id}",
        from_email="News <news@mg.example.com>",
        to=[f"after.m{{i:05d}}@example.org" for i in range({count})],
        subject="Once",
        text="One copy each.",
        batch_size={batch_size},
        retries=1,
        retry_delay=timedelta(0),
    )
"""


def _dag_file(folder: Path, template: str, **values: Any) -> Path:
    path = folder / f"{values['dag_id']}.py"
    path.write_text(textwrap.dedent(template.format(batch_size=BATCH_SIZE, **values)))
    return path


def _start(
    command: str, dag_file: Path, log: Path, *extra: str, dag_id: str = DAG_ID
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.task_process", command, str(dag_file), dag_id, *extra],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for_sends(emu: MailgunEmulator, count: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while emu.stats()["sends"] < count:
        if proc.poll() is not None:
            pytest.fail(f"the task process ended before the kill:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no sends accepted in time:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def _fresh_connections() -> None:
    """Read what the task's process committed: a pooled sqlite connection of this process may still
    hold a read snapshot from before (WAL mode), which would hide the child's writes."""
    from airflow import settings

    assert settings.engine is not None
    settings.engine.dispose()


def _task_instance(dag_id: str = DAG_ID) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    _fresh_connections()

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id="send").one()
        session.expunge(ti)
        return ti


def _mark_up_for_retry(dag_id: str = DAG_ID) -> None:
    """What the scheduler does once a running task's heartbeat stops (its worker was killed)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    _fresh_connections()
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id="send").one()
        assert ti.state == TaskInstanceState.RUNNING  # nobody told Airflow: the process just vanished
        ti.state = TaskInstanceState.UP_FOR_RETRY
        ti.end_date = datetime.now(timezone.utc)


def _after_the_retry(emu: MailgunEmulator, dag_id: str = DAG_ID) -> tuple[Any, Counter[str], int, list[Any]]:
    """The task instance, copies per recipient, duplicates and send requests once the retry ran."""
    copies = copies_per_recipient(emu)
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    sends = [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]
    return _task_instance(dag_id), copies, duplicates, sends


def _ledger_states(dag_id: str = DAG_ID) -> Counter[str]:
    """Batch states of the send ledger as the killed try left them in the metadata DB."""
    from airflow.utils.session import create_session

    values: list[str] = []
    _fresh_connections()
    with create_session() as session:
        try:
            from airflow.models.task_state_store import TaskStateStoreModel
        except ImportError:  # Airflow 3.0: the ledger is kept in Variables
            from airflow.models.variable import Variable

            # Only this DAG's ledger: other tests' failed tasks rightly keep theirs in the shared DB.
            rows = session.query(Variable).filter(Variable.key.like(f"{KEY_PREFIX}:%__{dag_id}__%")).all()
            # get_val() decrypts (the column holds Fernet text when a key is set, as on Airflow 3.1).
            values = [row.get_val() for row in rows]
        else:
            rows = session.query(TaskStateStoreModel).filter_by(dag_id=dag_id, task_id="send").all()
            values = [row.value for row in rows if row.key.startswith(KEY_PREFIX)]
    states: Counter[str] = Counter()
    for value in values:
        record = json.loads(value)
        if "batches" in record:  # a chunk of batch records (not the head, nor the retention index)
            states.update(batch["state"] for batch in record["batches"].values())
        elif record.get("completed_at"):
            states["completed"] += 1
    return states


@pytest.mark.timeout(300)
@pytest.mark.parametrize("event_source", EVENT_SOURCES)
def test_a_send_killed_mid_batch_and_retried_mails_everyone_exactly_once(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    event_source: str,
) -> None:
    # The retry reconciles the batches in flight against the accepted events, read from the Events
    # API, the Logs API, or "auto" with the Events API retired between the kill and the retry.
    emu = mailgun_emulator
    dag_id = f"{DAG_ID}_{event_source.replace('-', '_')}"
    conn_id = direct_connection(monkeypatch, emu, "mailgun_killed")
    dag_file = _dag_file(
        tmp_path,
        DAG_FILE,
        dag_id=dag_id,
        conn_id=conn_id,
        count=RECIPIENTS,
        event_source=sensor_source(event_source),
    )
    log = tmp_path / "task.log"
    # Every send waits before Mailgun takes it, so the kill finds batches in flight.
    emu.set_faults({"slow_rate": 1.0, "slow_seconds": SEND_SECONDS, "path": "/messages", "methods": ["POST"]})

    first = _start("run", dag_file, log, dag_id=dag_id)
    _wait_for_sends(emu, 3, first, log)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    time.sleep(SEND_SECONDS + 0.5)  # let requests already inside Mailgun finish (or not) on their own
    sent_before_kill = emu.stats()["sends"]
    ledger = _ledger_states(dag_id)
    assert first.returncode == -signal.SIGKILL
    assert 3 <= sent_before_kill < BATCHES
    assert ledger["accepted"] >= 1
    assert ledger["in_flight"] >= 1, ledger  # the kill landed while a batch was in flight
    # Written before each request: every batch Mailgun took is in the ledger, accepted or in flight.
    assert ledger["accepted"] + ledger["in_flight"] >= sent_before_kill

    _mark_up_for_retry(dag_id)
    run_id = _task_instance(dag_id).run_id
    if event_source == "auto-retired":
        emu.retire_events_api()
    second = _start("resume", dag_file, log, run_id, dag_id=dag_id)
    assert second.wait(timeout=240) == 0, log.read_text()[-5000:]

    ti, copies, duplicates, sends = _after_the_retry(emu, dag_id)
    apis = {"logs" if r["path"].endswith("/logs") else "events" for r in emu.requests() if is_event_read(r)}
    expected = {f"killed.m{i:05d}@example.org" for i in range(RECIPIENTS)}
    lost = len(expected - set(copies))
    print_report(
        f"Worker killed mid-send, then retried ({event_source})",
        [
            ("batches", BATCHES),
            ("accepted before the kill", sent_before_kill),
            ("ledger at the kill", dict(ledger)),
            ("send requests in all", len(sends)),
            ("try that finished", ti.try_number),
            ("duplicates", duplicates),
            ("lost", lost),
        ],
    )
    assert str(ti.state).endswith("success")
    assert ti.try_number == 2
    assert duplicates == 0
    assert lost == 0
    assert set(copies) == expected
    # Only batches the first try never got accepted were sent again.
    assert len(sends) <= BATCHES + ledger["in_flight"]
    assert "logs" in apis or event_source == "events"


AFTER_DAG_ID = "mailgun_killed_after_execute"
AFTER_RECIPIENTS = 2_500


@pytest.mark.timeout(300)
def test_a_worker_killed_after_execute_returned_is_retried_without_mailing_anyone_again(
    airflow_db: None, mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu = mailgun_emulator
    conn_id = direct_connection(monkeypatch, emu, "mailgun_killed_after")
    dag_file = _dag_file(
        tmp_path, KILLED_AFTER_EXECUTE_DAG, dag_id=AFTER_DAG_ID, conn_id=conn_id, count=AFTER_RECIPIENTS
    )
    log = tmp_path / "task.log"

    first = _start("run", dag_file, log, dag_id=AFTER_DAG_ID)
    assert first.wait(timeout=180) == -signal.SIGKILL, log.read_text()[-3000:]
    sent_by_the_first_try = emu.stats()["sends"]
    ledger = _ledger_states(AFTER_DAG_ID)
    assert sent_by_the_first_try == AFTER_RECIPIENTS // BATCH_SIZE
    assert ledger["accepted"] == sent_by_the_first_try
    assert ledger["completed"] >= 1, ledger  # the send completed before the kill

    _mark_up_for_retry(AFTER_DAG_ID)
    run_id = _task_instance(AFTER_DAG_ID).run_id
    second = _start("resume", dag_file, log, run_id, dag_id=AFTER_DAG_ID)
    assert second.wait(timeout=240) == 0, log.read_text()[-5000:]

    ti, copies, duplicates, sends = _after_the_retry(emu, AFTER_DAG_ID)
    print_report(
        "Worker killed after execute() returned, then retried",
        [
            ("recipients", AFTER_RECIPIENTS),
            ("batches accepted by try 1", sent_by_the_first_try),
            ("ledger at the kill", dict(ledger)),
            ("send requests in all", len(sends)),
            ("try that finished", ti.try_number),
            ("duplicates", duplicates),
        ],
    )
    assert str(ti.state).endswith("success")
    assert ti.try_number == 2
    assert duplicates == 0
    assert len(copies) == AFTER_RECIPIENTS
    assert len(sends) == sent_by_the_first_try  # the retry sent nothing
