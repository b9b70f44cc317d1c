"""A ``maton`` connection to a private gateway (its own host) sends the key only to hosts the user
configured: without a ``ctrl_url`` extra the control check is skipped and said so, never made
against Maton's public control host."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from airflow_provider_mailgun._connection import config as connection_config
from airflow_provider_mailgun.client import config as client_config
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator


@pytest.fixture
def public_ctrl(
    mailgun_emulator_factory: Callable[..., MailgunEmulator], monkeypatch: pytest.MonkeyPatch
) -> MailgunEmulator:
    """A local server standing in for Maton's public control host (nothing leaves 127.0.0.1)."""
    stand_in = mailgun_emulator_factory()
    monkeypatch.setattr(client_config, "MATON_CTRL_URL", stand_in.ctrl_url)
    monkeypatch.setattr(connection_config, "MATON_CTRL_URL", stand_in.ctrl_url, raising=False)
    return stand_in


def check_refused_connection(gateway: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, **extra: str) -> str:
    """test_connection of a maton connection to ``gateway``, which refuses it (400, no ACTIVE
    connection): the check would then ask a control host why. Returns the message."""
    gateway.state.connections[gateway.maton_connection]["status"] = "FAILED"
    connection = {
        "conn_type": "maton",
        "host": gateway.gateway_url,
        "password": gateway.maton_key,
        "extra": {"default_domain": gateway.domain, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_PRIVATE_GATEWAY", json.dumps(connection))
    ok, message = MailgunHook(mailgun_conn_id="private_gateway").test_connection()
    assert not ok
    assert gateway.maton_key not in message
    return message


def test_a_private_gateway_without_ctrl_url_keeps_the_key_at_home(
    mailgun_emulator: MailgunEmulator, public_ctrl: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = check_refused_connection(mailgun_emulator, monkeypatch)
    assert public_ctrl.requests() == []
    assert "ctrl_url" in message
    paths = [r["path"] for r in mailgun_emulator.requests()]
    assert all(path.startswith("/_maton/gateway") for path in paths), paths


def test_a_private_gateway_with_ctrl_url_is_checked_there(
    mailgun_emulator: MailgunEmulator, public_ctrl: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = check_refused_connection(mailgun_emulator, monkeypatch, ctrl_url=mailgun_emulator.ctrl_url)
    assert message.startswith("This Maton API key has no ACTIVE Mailgun connection")
    assert public_ctrl.requests() == []


def test_the_default_gateway_keeps_the_default_control_host() -> None:
    config = connection_config.config_from_connection("maton", host=None, password="maton-key", extra=None)
    assert config.ctrl_base == client_config.MATON_CTRL_URL
    custom = connection_config.config_from_connection(
        "maton", host="https://gateway.internal.example", password="maton-key", extra=None
    )
    assert custom.ctrl_base is None
