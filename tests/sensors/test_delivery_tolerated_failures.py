"""A wait that succeeds despite permanent failures (``min_success_fraction`` < 1) names them in its log.

The task log is read as a user sees it: the sensor's log lines as printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

pytestmark = pytest.mark.timeout(60)


def test_the_log_names_the_first_twenty_failed_recipients_and_counts_them_all(
    mailgun_conn_id: str, send: Callable[[list[str]], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    bounced = [f"bounce-{i:02d}@example.org" for i in range(25)]
    sent = send([f"reader{i:02d}@example.org" for i in range(75)] + bounced)
    sensor = MailgunDeliverySensor(
        task_id="wait", mailgun_conn_id=mailgun_conn_id, message_ids=sent, min_success_fraction=0.7
    )
    value = sensor.poke({})  # type: ignore[arg-type]
    assert getattr(value, "is_done", False)
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "despite" in line]
    assert "Delivery succeeded despite 25 permanently failed recipient(s) (first 20 of 25)" in line
    named = [address for address in bounced if address in line]
    assert len(named) == 20
    assert "(550, bounce: 5.1.1" in line
    assert "and 5 more" in line


def test_no_such_line_when_nothing_failed(
    mailgun_conn_id: str, send: Callable[[list[str]], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    sent = send(["ann@example.org", "bob@example.org"])
    sensor = MailgunDeliverySensor(task_id="wait", mailgun_conn_id=mailgun_conn_id, message_ids=sent)
    assert getattr(sensor.poke({}), "is_done", False)  # type: ignore[arg-type]
    output = capsys.readouterr().out
    assert "Delivery confirmed" in output  # the sensor's log is where this test reads it
    assert "despite" not in output
