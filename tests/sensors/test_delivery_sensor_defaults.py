"""The sensor's defaults: ``deferrable`` follows ``[operators] default_deferrable``."""

from __future__ import annotations

import pytest

from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor


@pytest.mark.parametrize(("configured", "expected"), [(None, False), ("True", True), ("False", False)])
def test_deferrable_defaults_to_operators_default_deferrable(
    monkeypatch: pytest.MonkeyPatch, configured: str | None, expected: bool
) -> None:
    if configured is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", configured)
    sensor = MailgunDeliverySensor(task_id="wait", message_ids="a@mg.example.com")
    assert sensor.deferrable is expected
    # An explicit value always wins over the configuration.
    explicit = MailgunDeliverySensor(task_id="w2", message_ids="a@mg.example.com", deferrable=not expected)
    assert explicit.deferrable is (not expected)
