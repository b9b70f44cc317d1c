"""Runners for the bad-input table: each builds and runs one piece the way a DAG would.

A runner is ``runner(**arguments) -> run(env)``; arguments that depend on the test (paths, URLs,
keys) are given as functions of the :class:`Env` and resolved at run time. The notifier never
raises, so its runner raises :class:`NotifierFailed` with the error it logged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.notifications.support import captured_logs
from tests.reliability.conftest import set_connection

FROM = "News <news@mg.example.com>"
LIST = "news@mg.example.com"


@dataclass
class Env:
    emu: MailgunEmulator
    monkeypatch: pytest.MonkeyPatch
    tmp_path: Path
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]
    conn_id: str

    def connection(self, conn_id: str, **fields: Any) -> str:
        return set_connection(self.monkeypatch, conn_id, **fields)


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Env], Any]
    match: str
    server_decides: bool = False


# ------------------------------------------------------------------------------------ runners
def resolve(value: Any, env: Env) -> Any:
    """Values that depend on the test (paths, URLs) are given as functions of the Env."""
    if callable(value):
        return value(env)
    if isinstance(value, list):
        return [resolve(item, env) for item in value]
    return value


def send(**options: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

        arguments = {"to": "ann@example.org", "from_email": FROM, "subject": "s", "text": "t", **options}
        arguments.setdefault("mailgun_conn_id", env.conn_id)
        arguments = {name: resolve(value, env) for name, value in arguments.items()}
        return MailgunSendMessageOperator(task_id="send", **arguments).execute({})  # type: ignore[arg-type]

    return run


def sync(seed: int = 10, **options: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator

        if seed:
            env.emu.seed_list(LIST, [f"m{i}@example.org" for i in range(seed)])
        arguments = {"list_address": LIST, "members": [f"m{i}@example.org" for i in range(seed)], **options}
        arguments.setdefault("mailgun_conn_id", env.conn_id)
        arguments = {name: resolve(value, env) for name, value in arguments.items()}
        operator = MailgunSyncListMembersOperator(task_id="sync", **arguments)
        return operator.execute({})  # type: ignore[arg-type]

    return run


def clear(seed: bool = True, **options: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator

        if seed:
            env.emu.seed_suppressions(
                env.emu.domain,
                "bounces",
                [{"address": f"b{i}@example.org", "code": "421", "error": "later"} for i in range(5)],
            )
        arguments = dict(options)
        arguments.setdefault("mailgun_conn_id", env.conn_id)
        arguments = {name: resolve(value, env) for name, value in arguments.items()}
        return MailgunClearBouncesOperator(task_id="clear", **arguments).execute({})  # type: ignore[arg-type]

    return run


def sense(**options: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

        arguments = {"message_ids": ["20260101.1.ABC@mg.example.com"], "mode": "poke", **options}
        arguments.setdefault("mailgun_conn_id", env.conn_id)
        sensor = MailgunDeliverySensor(task_id="wait", timeout=5, poke_interval=1, **arguments)
        return sensor.execute({})  # type: ignore[arg-type]

    return run


def notify(**options: Any) -> Callable[[Env], Any]:
    """The notifier's error reaches the user as ``BaseNotifier`` logs it: return that line."""

    def run(env: Env) -> Any:
        from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier

        arguments = {"to": "ops@example.org", "subject": "s", "text": "t", **options}
        arguments.setdefault("mailgun_conn_id", env.conn_id)
        arguments = {name: resolve(value, env) for name, value in arguments.items()}
        notifier = MailgunNotifier(**arguments)
        captured_logs(env.caplog, env.capsys)  # forget earlier output
        with env.caplog.at_level(logging.ERROR), contextlib.suppress(Exception):
            # The callback entry point; from Airflow 3.1 BaseNotifier also raises the error on to
            # Airflow's callback runner, which logs it and leaves the task's outcome alone.
            notifier({"dag": None})
        lines = captured_logs(env.caplog, env.capsys).splitlines()
        errors = [line for line in lines if "Failed to send notification" in line]
        assert errors, "the notifier logged no error"
        raise NotifierFailed(" | ".join(errors))

    return run


class NotifierFailed(Exception):
    """The notifier's logged error, raised so every row is checked the same way."""


def conn(fields: dict[str, Any], runner: Callable[..., Callable[[Env], Any]] = sync) -> Callable[[Env], Any]:
    """Run ``runner`` on a connection ``bad_conn`` made of ``fields`` (callables get the Env)."""

    def run(env: Env) -> Any:
        resolved = {name: resolve(value, env) for name, value in fields.items()}
        env.connection("bad_conn", **resolved)
        return runner(mailgun_conn_id="bad_conn")(env)

    return run


def missing_file(env: Env) -> str:
    return str(env.tmp_path / "nowhere" / "report.pdf")


def oversize_file(env: Env) -> str:
    path = env.tmp_path / "huge.bin"
    with path.open("wb") as handle:
        handle.truncate(26 * 1024 * 1024)  # sparse: 26 MB on paper, nothing written to disk
    return str(path)


def csv_without_address(env: Env) -> str:
    path = env.tmp_path / "members.csv"
    path.write_text("email,name\na@example.org,A\n")
    return str(path)


def url(env: Env) -> str:
    return env.emu.url


def key(env: Env) -> str:
    return env.emu.mailgun_key


def gateway(env: Env) -> str:
    return env.emu.gateway_url


def clear_soft_bounces(**options: Any) -> Callable[[Env], Any]:
    return clear(codes=["4xx"], **options)


def direct(**extra: Any) -> dict[str, Any]:
    return {
        "conn_type": "mailgun",
        "host": url,
        "password": key,
        "extra": {"default_domain": "mg.example.com", **extra},
    }
