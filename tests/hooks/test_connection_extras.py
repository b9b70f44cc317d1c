"""Connection extras a user mistypes: a near miss of a known field is an error naming the field
meant (a typo such as ``regoin: eu`` would otherwise send from the US region); an unrelated field
is a warning; ``region`` on a ``maton`` connection says Maton reaches the US region only."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_mailgun.exceptions import MailgunConfigError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook

MAILGUN_KEY = "key-0123456789abcdef0123456789abcdef"
MATON_KEY = "maton-0123456789abcdef0123456789"


def config_of(monkeypatch: pytest.MonkeyPatch, conn_type: str, **extra: Any) -> Any:
    password = MAILGUN_KEY if conn_type == "mailgun" else MATON_KEY
    connection = {"conn_type": conn_type, "password": password, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TYPO", json.dumps(connection))
    return MailgunHook(mailgun_conn_id="typo").config


@pytest.mark.parametrize(
    ("conn_type", "typo", "meant"),
    [
        ("mailgun", "regoin", "region"),
        ("mailgun", "Region", "region"),
        ("mailgun", "default_domian", "default_domain"),
        ("maton", "maton_conection", "maton_connection"),
        ("maton", "ctrl_ur", "ctrl_url"),
        ("mailgun", "max_requests_per_sec", "max_requests_per_second"),
    ],
)
def test_a_near_miss_of_a_known_extra_is_an_error_saying_what_was_meant(
    monkeypatch: pytest.MonkeyPatch, conn_type: str, typo: str, meant: str
) -> None:
    with pytest.raises(MailgunConfigError) as caught:
        config_of(monkeypatch, conn_type, **{typo: "eu"})
    assert str(caught.value) == (
        f"Connection 'typo': unknown extra field {typo!r}: did you mean {meant!r}? "
        "Nothing was sent; fix the field's name in the connection."
    )


def test_an_unrelated_extra_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        config = config_of(monkeypatch, "mailgun", team="growth", region="eu")
    assert config.api_base == "https://api.eu.mailgun.net"
    assert "Connection 'typo': ignoring unknown extra field(s) team" in caplog.text


def test_region_eu_on_a_maton_connection_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MailgunConfigError) as caught:
        config_of(monkeypatch, "maton", region="eu")
    assert str(caught.value) == (
        "Connection 'typo': Maton reaches the US region only, so region 'eu' cannot be honoured; "
        "use a 'mailgun' connection (the Mailgun API key, region 'eu') for an EU domain."
    )


def test_region_us_on_a_maton_connection_is_explained(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        config = config_of(monkeypatch, "maton", region="us")
    assert config.via_maton
    assert "Connection 'typo': region is ignored: Maton reaches the US region only" in caplog.text


def test_a_field_of_the_other_connection_type_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        config_of(monkeypatch, "mailgun", maton_connection="78b5a036")
    assert "Connection 'typo': ignoring maton_connection, a field of 'maton' connections" in caplog.text
