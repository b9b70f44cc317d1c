"""Helpers shared by the notifier tests: DAG builders, log capture, emulator read-outs.

Logs: inside dag.test() Airflow 3.3 writes task logs through structlog to stdout, Airflow 3.0 through
logging (caplog); ``captured_logs`` reads both.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
WRONG_KEY = "maton-wrong-key-9f8e7d6c5b4a39281706"


def captured_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything logged so far (caplog and stdout/stderr); reading consumes the captured output."""
    captured = capsys.readouterr()
    lines = (caplog.text + captured.out + captured.err).splitlines()
    # Airflow 3.0's in-process supervisor echoes its own MaskSecret message at debug level; that line
    # is Airflow's, not ours (in production it is the supervisor process's debug log).
    return "\n".join(line for line in lines if "MaskSecret(" not in line)


def notifier_lines(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """The notifier's own log lines, to explain a failed assertion."""
    return "\n".join(
        line
        for line in captured_logs(caplog, capsys).splitlines()
        if "Mailgun notification" in line or "Failed to send notification" in line
    )


def copies_by_id(emu: MailgunEmulator) -> dict[str, list[dict[str, Any]]]:
    """Stored recipient copies grouped by message id, in send order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for copy in emu.messages():
        grouped.setdefault(copy["id"], []).append(copy)
    return grouped


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """Define a connection for this test through an ``AIRFLOW_CONN_<ID>`` JSON variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def free_port() -> int:
    """A port nothing listens on (bound, then released): requests to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failing_dag(dag_id: str, callbacks: list[Callable[..., Any]], **task_args: Any) -> Any:
    """A DAG whose one task, ``explode``, raises ``ValueError("bad row <42> & more")``."""
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:

        @task(on_failure_callback=callbacks, **task_args)
        def explode() -> None:
            raise ValueError("bad row <42> & more")

        explode()
    return dag
