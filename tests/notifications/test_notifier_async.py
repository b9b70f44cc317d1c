"""MailgunNotifier's async side: async_notify off the event loop, ``await notifier`` (deadline
alerts), errors handled by ``BaseNotifier``, and a cheap import."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import BaseNotifier

from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier, send_mailgun_notification
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag
from tests.notifications.support import captured_logs, copies_by_id, failing_dag, notifier_lines, set_conn


def test_async_notify_sends_the_same_email_without_blocking_the_loop(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk import Connection

    contexts: list[Any] = []
    notifier = MailgunNotifier(to="oncall@example.org", cc="lead@example.org")
    run_dag(failing_dag("mg_notify_async", [notifier, contexts.append]))
    sent = copies_by_id(mailgun_emulator)
    assert len(sent) == 1, notifier_lines(caplog, capsys)
    (sync_copies,) = sent.values()

    lookups = _spy_sync_connection_lookups(monkeypatch)
    # The send takes a second: a blocking send would freeze the ticker for that long.
    mailgun_emulator.set_faults(
        {"slow_at": [1], "slow_seconds": 1.0, "path": "/messages", "methods": ["POST"]}
    )

    async def notify_while_ticking() -> tuple[list[float], float]:
        ticks: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        await notifier.async_notify(contexts[0])
        finished = time.monotonic()
        done.set()
        await ticking
        # The loop's heartbeat from the call to its return, both ends included.
        return [started, *(tick for tick in ticks if tick < finished), finished], finished - started

    ticks, elapsed = asyncio.run(notify_while_ticking())

    messages = copies_by_id(mailgun_emulator)
    assert len(messages) == 2
    async_copies = list(messages.values())[1]
    for field in ("subject", "text", "html", "from", "to", "cc"):
        assert async_copies[0][field] == sync_copies[0][field]
    assert elapsed >= 1.0
    longest_pause = max(b - a for a, b in itertools.pairwise(ticks))
    assert longest_pause < 0.5, f"the event loop stalled for {longest_pause:.2f} s"
    assert len(ticks) >= 20
    assert not [name for name, on_loop in lookups if on_loop], "a sync connection lookup ran on the loop"
    if hasattr(Connection, "aextra_dejson"):  # Airflow 3.3.2+: no sync lookup at all
        assert lookups == []
    # Before 3.3.2, BaseHook.aget_connection masks secrets with a blocking call to the supervisor, so
    # common-compat's get_async_connection runs the sync lookup in a worker thread instead (never on
    # the loop, as checked above).


def _spy_sync_connection_lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Record every sync connection lookup and whether it ran on a thread with a running loop."""
    from airflow.models.connection import Connection as ModelConnection
    from airflow.sdk import Connection

    from airflow_provider_mailgun._common.compat import BaseHook

    calls: list[tuple[str, bool]] = []

    def spy(name: str, original: Callable[..., Any]) -> classmethod[Any, Any, Any]:
        def wrapper(cls: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            calls.append((name, on_loop))
            return original(*args, **kwargs)

        return classmethod(wrapper)

    monkeypatch.setattr(BaseHook, "get_connection", spy("BaseHook.get_connection", BaseHook.get_connection))
    monkeypatch.setattr(Connection, "get", spy("Connection.get", Connection.get))
    monkeypatch.setattr(
        ModelConnection,
        "get_connection_from_secrets",
        spy("Connection.get_connection_from_secrets", ModelConnection.get_connection_from_secrets),
    )
    return calls


DEADLINE_CONTEXT = {
    "dag_run": {
        "dag_id": "etl",
        "dag_run_id": "scheduled__2026-01-01",
        "logical_date": "2026-01-01T00:00:00Z",
    },
    "deadline": {"id": "d-1", "deadline_time": "2026-01-01T01:00:00+00:00"},
}


AWAITABLE = pytest.mark.skipif(
    not hasattr(BaseNotifier, "__await__"), reason="Airflow 3.1+: notifiers are awaited (deadline alerts)"
)


@AWAITABLE
def test_awaiting_the_notifier_renders_its_context_and_sends(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    """Deadline alerts build the notifier with ``context=`` and await it (in the triggerer)."""
    notifier = MailgunNotifier(
        to="oncall@example.org", subject="Late: {{ dag_run.dag_id }}", context=DEADLINE_CONTEXT
    )

    async def await_notifier() -> None:
        await notifier

    asyncio.run(await_notifier())

    (copies,) = copies_by_id(mailgun_emulator).values()
    assert copies[0]["subject"] == "Late: etl"
    assert "DAG run etl missed its deadline." in copies[0]["text"]
    assert "Run: scheduled__2026-01-01" in copies[0]["text"]
    assert "Deadline: 2026-01-01T01:00:00+00:00" in copies[0]["text"]


def test_deadline_callback_trigger_runs_the_notifier(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    """Airflow 3.1+'s CallbackTrigger imports the class, passes ``context=`` and awaits it."""
    callback_module = pytest.importorskip("airflow.triggers.callback")
    trigger = callback_module.CallbackTrigger(
        callback_path="airflow_provider_mailgun.notifications.mailgun.MailgunNotifier",
        callback_kwargs={"to": "oncall@example.org", "context": dict(DEADLINE_CONTEXT)},
    )

    async def run_trigger() -> list[Any]:
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(run_trigger())

    assert [payload["state"] for payload in payloads] == ["running", "success"]
    (copies,) = copies_by_id(mailgun_emulator).values()
    assert copies[0]["subject"] == "[Airflow] DEADLINE MISSED etl"


@pytest.mark.parametrize(
    ("notifier_args", "connection", "expected"),
    [
        ({"mailgun_conn_id": "mg_not_defined"}, None, "Connection 'mg_not_defined' is not defined"),
        ({}, {"default_domain": None}, "no default_domain extra"),
        ({"to": "not-an-address"}, {}, "1 invalid recipient: 'not-an-address'"),
        ({"subject": "{{ missing.attribute }}"}, {}, "UndefinedError"),
    ],
)
def test_bad_setup_is_reported_by_base_notifier_and_sends_nothing(
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    notifier_args: dict[str, Any],
    connection: dict[str, Any] | None,
    expected: str,
) -> None:
    """What the user sees is BaseNotifier's: a logged line, and on Airflow 3.1+ the error raised on to
    Airflow's callback runner (which logs it and leaves the task alone); a template error is raised."""
    if connection is not None:
        extra = {"default_domain": mailgun_emulator.domain, **connection}
        extra = {key: value for key, value in extra.items() if value is not None}
        set_conn(
            monkeypatch,
            "maton_default",
            conn_type="maton",
            host=mailgun_emulator.gateway_url,
            password=mailgun_emulator.maton_key,
            extra=extra,
        )
    notifier = MailgunNotifier(**{"to": "a@example.org", **notifier_args})
    context = {"dag": None, "run_id": "r1"}

    reported = _reported(lambda: notifier(context), caplog, capsys)  # the callback entry point
    assert expected in reported

    if hasattr(BaseNotifier, "__await__"):
        awaited = MailgunNotifier(**{"to": "a@example.org", **notifier_args}, context=context)
        assert expected in _reported(lambda: asyncio.run(_await(awaited)), caplog, capsys)
    assert mailgun_emulator.messages() == []


def _reported(call: Callable[[], Any], caplog: pytest.LogCaptureFixture, capsys: Any) -> str:
    """What a failed notification leaves: the lines logged, and the error raised on, if any."""
    caplog.clear()
    try:
        call()
        raised = ""
    except Exception as err:
        raised = f"{type(err).__name__}: {err}"
    return captured_logs(caplog, capsys) + "\n" + raised


async def _await(notifier: MailgunNotifier) -> None:
    await notifier


def test_public_names_and_cheap_import() -> None:
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    assert send_mailgun_notification is MailgunNotifier
    with pytest.raises(ValueError, match="kind must be one of"):
        MailgunNotifier(to="a@example.org", kind="falure")
    assert MailgunNotifier(to="a@example.org").mailgun_conn_id == MailgunHook.default_conn_name
    code = (
        "import json, sys, time; import airflow.sdk; before = set(sys.modules); t = time.perf_counter(); "
        "import airflow_provider_mailgun.notifications.mailgun; "
        "print(json.dumps([time.perf_counter() - t, sorted(set(sys.modules) - before)]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    # The hook comes along (cheap); the clients, and what they stand on, wait for the first alert.
    assert "airflow_provider_mailgun.hooks.mailgun" in loaded
    assert not {
        "airflow_provider_mailgun.client.client",
        "airflow_provider_mailgun.client.async_client",
        "requests",
        "email_validator",
    } & set(loaded)
    assert seconds < 0.1
