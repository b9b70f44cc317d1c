"""Shared helpers for the reliability suite: member CSVs, flaky connections, fault reports."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import dag_bag
from tests.reports import write_report

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "example_dags"
# Each report is also written here (ignored by git), so a run's figures can be read afterwards.
REPORTS = REPO_ROOT / "test-artifacts" / "reliability"
CSV_COLUMNS = ("address", "name", "first_name", "city", "plan", "subscribed")
CITIES = ("Nairobi", "Tallinn", "Quito", "Oslo", "Lima")
PLANS = ("free", "team", "pro")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes over a minute (deselect with -m 'not slow')")


def member_row(i: int) -> dict[str, str]:
    """Row ``i`` of a generated newsletter CSV: one in 100 bounces, one in 50 has unsubscribed."""
    local = f"bounce.m{i:05d}" if i % 100 == 7 else f"reader.m{i:05d}"
    first = f"R{i}"
    return {
        "address": f"{local}@example.org",
        "name": f"{first} Reader",
        "first_name": first,
        "city": CITIES[i % len(CITIES)],
        "plan": PLANS[i % len(PLANS)],
        "subscribed": "no" if i % 50 == 3 else "yes",
    }


def write_members_csv(path: Path, count: int) -> list[dict[str, str]]:
    """Write ``count`` generated members in the example DAG's CSV format; returns the rows."""
    rows = [member_row(i) for i in range(count)]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def example_dag(dag_id: str) -> Any:
    dag = dag_bag(str(EXAMPLES)).get_dag(dag_id)
    assert dag is not None, dag_id
    return dag


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    """Define ``conn_id`` through its ``AIRFLOW_CONN_*`` environment variable; returns the id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def direct_connection(
    monkeypatch: pytest.MonkeyPatch, emu: MailgunEmulator, conn_id: str, key: str | None = None, **extra: Any
) -> str:
    """A ``mailgun`` connection to the emulator's direct API (with ``extra`` options)."""
    return set_connection(
        monkeypatch,
        conn_id,
        conn_type="mailgun",
        host=emu.url,
        password=key or emu.mailgun_key,
        extra={"default_domain": emu.domain, **extra},
    )


def gateway_connection(
    monkeypatch: pytest.MonkeyPatch, emu: MailgunEmulator, conn_id: str, key: str | None = None, **extra: Any
) -> str:
    """A ``maton`` connection to the emulator's gateway (with ``extra`` options)."""
    return set_connection(
        monkeypatch,
        conn_id,
        conn_type="maton",
        host=emu.gateway_url,
        password=key or emu.maton_key,
        extra={
            "default_domain": emu.domain,
            "ctrl_url": emu.ctrl_url,
            "maton_connection": emu.maton_connection,
            **extra,
        },
    )


def write_requests(emu: MailgunEmulator) -> list[dict[str, Any]]:
    """Requests of the log that could change state (anything but GET/HEAD)."""
    return [r for r in emu.requests() if r["method"] in WRITE_METHODS]


def injected_faults(emu: MailgunEmulator) -> Counter[str]:
    """Faults the emulator injected, by kind (``http_503``, ``reset``, ``slow``, ``drop_after_store``)."""
    return Counter(r["fault"] for r in emu.requests() if r.get("fault"))


def copies_per_recipient(emu: MailgunEmulator) -> Counter[str]:
    return Counter(m["recipient"] for m in emu.messages())


def tries(dag_run: Any) -> dict[str, int]:
    """How many tries each task instance took."""
    return {ti.task_id: int(ti.try_number) for ti in dag_run.get_task_instances()}


def durations(dag_run: Any) -> dict[str, float]:
    """Seconds each task instance ran (its last try, as Airflow records it)."""
    return {
        ti.task_id: round((ti.end_date - ti.start_date).total_seconds(), 1)
        for ti in dag_run.get_task_instances()
        if ti.start_date and ti.end_date
    }


def print_report(title: str, lines: Iterable[tuple[str, Any]]) -> str:
    """Print a small aligned report (shown with ``pytest -s``), save it under test-artifacts/, return it."""
    return write_report(REPORTS, title, lines)


def assert_the_wait_refuses_the_link(conn_id: str, domain: str, foreign_requests: list[Any]) -> None:
    """The delivery sensor (poke) and the trigger both fail on an events link they must not follow."""
    import asyncio
    import time

    from airflow_provider_mailgun.exceptions import UnsafeURLError
    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor
    from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger

    sensor = MailgunDeliverySensor(
        task_id="wait", mailgun_conn_id=conn_id, message_ids=["m1@mg.example.com"], mode="poke",
        timeout=5, poke_interval=1,
    )  # fmt: skip
    with pytest.raises(UnsafeURLError, match="Refusing to send credentials"):
        sensor.execute({})  # type: ignore[arg-type]
    trigger = MailgunDeliveryTrigger(
        mailgun_conn_id=conn_id, domain=domain, message_ids=["m1@mg.example.com"], begin=time.time() - 600,
        poll_interval=0.1,
    )  # fmt: skip

    async def first_event() -> Any:
        return await trigger.run().__anext__()

    event = asyncio.run(first_event())
    assert event.payload["status"] == "error"
    assert "Refusing to send credentials" in event.payload["message"]
    assert foreign_requests == []


def accepted_events(count: int) -> list[dict[str, Any]]:
    """A page's worth of ``accepted`` events of message ``m1@mg.example.com``, a minute old."""
    import time

    now = time.time()
    return [
        {
            "id": f"e{i}",
            "event": "accepted",
            "timestamp": now - 60 + i * 0.01,
            "recipient": f"r{i}@example.org",
            "message": {"headers": {"message-id": "m1@mg.example.com"}},
        }
        for i in range(count)
    ]
