"""A worker killed in the middle of a send, then retried by Airflow: one copy per recipient.

The send task runs in a real child process (``dag.test()``), against an emulator that answers
each send slowly, so batches are in flight when the test SIGKILLs the process. The test then does
what the scheduler does with a task instance whose worker vanished (marks it ``up_for_retry``), and
a second process resumes the same DAG run: the retry is try 2 of the same task instance, reads the
ledger the first try left in the metadata DB (the task state store on Airflow 3.3+, a Variable
before), reconciles the batches that were in flight against Mailgun's events and sends only what
was never accepted.
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

from airflow_provider_mailgun.operators.send_ledger import KEY_PREFIX
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.reliability.conftest import REPO_ROOT, copies_per_recipient, direct_connection, print_report

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
    )
"""


def _start(command: str, dag_file: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.task_process", command, str(dag_file), DAG_ID, *extra],
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


def _task_instance() -> Any:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=DAG_ID, task_id="send").one()
        session.expunge(ti)
        return ti


def _mark_up_for_retry() -> None:
    """What the scheduler does once a running task's heartbeat stops (its worker was killed)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=DAG_ID, task_id="send").one()
        assert ti.state == TaskInstanceState.RUNNING  # nobody told Airflow: the process just vanished
        ti.state = TaskInstanceState.UP_FOR_RETRY
        ti.end_date = datetime.now(timezone.utc)


def _ledger_states() -> Counter[str]:
    """Batch states of the send ledger as the killed try left them in the metadata DB."""
    from airflow.utils.session import create_session

    values: list[str] = []
    with create_session() as session:
        try:
            from airflow.models.task_state_store import TaskStateStoreModel
        except ImportError:  # Airflow 3.0: the ledger is kept in Variables
            from airflow.models.variable import Variable

            # Only this DAG's ledger: other tests' failed tasks rightly keep theirs in the shared DB.
            rows = session.query(Variable).filter(Variable.key.like(f"{KEY_PREFIX}:%__{DAG_ID}__%")).all()
            values = [row.val for row in rows]
        else:
            rows = session.query(TaskStateStoreModel).filter_by(dag_id=DAG_ID, task_id="send").all()
            values = [row.value for row in rows if row.key.startswith(KEY_PREFIX)]
    states: Counter[str] = Counter()
    for value in values:
        chunk = json.loads(value)
        states.update(record["s"] for record in chunk["batches"].values())
    return states


@pytest.mark.timeout(300)
def test_a_send_killed_mid_batch_and_retried_mails_everyone_exactly_once(
    airflow_db: None, mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu = mailgun_emulator
    conn_id = direct_connection(monkeypatch, emu, "mailgun_killed")
    dag_file = tmp_path / "killed_dag.py"
    dag_file.write_text(
        textwrap.dedent(
            DAG_FILE.format(dag_id=DAG_ID, conn_id=conn_id, count=RECIPIENTS, batch_size=BATCH_SIZE)
        )
    )
    log = tmp_path / "task.log"
    # Every send waits before Mailgun takes it, so the kill finds batches in flight.
    emu.set_faults({"slow_rate": 1.0, "slow_seconds": SEND_SECONDS, "path": "/messages", "methods": ["POST"]})

    first = _start("run", dag_file, log)
    _wait_for_sends(emu, 3, first, log)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    time.sleep(SEND_SECONDS + 0.5)  # let requests already inside Mailgun finish (or not) on their own
    sent_before_kill = emu.stats()["sends"]
    ledger = _ledger_states()
    assert first.returncode == -signal.SIGKILL
    assert 3 <= sent_before_kill < BATCHES
    assert ledger["accepted"] >= 1
    assert ledger["in_flight"] >= 1, ledger  # the kill landed while a batch was in flight
    # Written before each request: every batch Mailgun took is in the ledger, accepted or in flight.
    assert ledger["accepted"] + ledger["in_flight"] >= sent_before_kill

    _mark_up_for_retry()
    run_id = _task_instance().run_id
    second = _start("resume", dag_file, log, run_id)
    assert second.wait(timeout=240) == 0, log.read_text()[-5000:]

    ti = _task_instance()
    copies = copies_per_recipient(emu)
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    expected = {f"killed.m{i:05d}@example.org" for i in range(RECIPIENTS)}
    lost = len(expected - set(copies))
    sends = [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]
    print_report(
        "Worker killed mid-send, then retried",
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
