"""test_connection names the fix, for each set-up mistake, against the emulator answering as Mailgun
and Maton do. The region hosts are pointed at the emulator's US and EU hosts, as a connection
without a host reaches Mailgun's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_mailgun.client import config as client_config
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.testing.defaults import DEFAULT_PUBLIC_KEY

EU_DOMAIN = "mg.example.eu"


@pytest.fixture
def emu(mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> MailgunEmulator:
    monkeypatch.setitem(client_config.MAILGUN_REGIONS, "us", mailgun_emulator.url)
    monkeypatch.setitem(client_config.MAILGUN_REGIONS, "eu", mailgun_emulator.eu_url)
    mailgun_emulator.add_domain(EU_DOMAIN, region="eu")
    return mailgun_emulator


def check(monkeypatch: pytest.MonkeyPatch, conn_type: str, password: str, **extra: Any) -> tuple[bool, str]:
    host = extra.pop("host", None)
    connection = {"conn_type": conn_type, "password": password, "extra": extra}
    if host:
        connection["host"] = host
    monkeypatch.setenv("AIRFLOW_CONN_CHECKED", json.dumps(connection))
    ok, message = MailgunHook(mailgun_conn_id="checked").test_connection()
    assert password not in message
    return ok, message


def maton(emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> tuple[bool, str]:
    extra = {"ctrl_url": emu.ctrl_url, "default_domain": emu.domain, **extra}
    return check(monkeypatch, "maton", emu.maton_key, host=emu.gateway_url, **extra)


def statuses(emu: MailgunEmulator) -> list[tuple[str, str, int]]:
    return [(r["method"], r["path"], r["status"]) for r in emu.requests()]


@pytest.mark.parametrize(("region", "domain"), [("us", "mg.example.com"), ("eu", EU_DOMAIN)])
def test_a_right_connection_says_where_it_connected(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, region: str, domain: str
) -> None:
    ok, message = check(monkeypatch, "mailgun", emu.mailgun_key, region=region, default_domain=domain)
    assert ok, message
    assert message == (
        f"Connected to Mailgun ({region.upper()} region, {emu.url[7:]}{'/_eu' if region == 'eu' else ''}); "
        f"domain {domain!r} is active."
    )
    assert len(emu.requests()) == 1  # all well: one request


def test_a_us_connection_to_an_eu_domain_says_set_region_eu(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = check(monkeypatch, "mailgun", emu.mailgun_key, region="us", default_domain=EU_DOMAIN)
    assert not ok
    assert message.startswith(
        f"Domain {EU_DOMAIN!r} is in Mailgun's EU region but the connection uses the US"
    )
    assert message.endswith("set the connection's region extra to 'eu'.")
    assert statuses(emu) == [
        ("GET", f"/v3/domains/{EU_DOMAIN}", 404),  # Mailgun's answer on the wrong region's host
        ("GET", f"/v3/domains/{EU_DOMAIN}", 200),  # on the EU host
    ]


def test_an_eu_connection_to_a_us_domain_says_set_region_us(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = check(monkeypatch, "mailgun", emu.mailgun_key, region="eu", default_domain=emu.domain)
    assert not ok
    assert "is in Mailgun's US region but the connection uses the EU one" in message
    assert message.endswith("set the connection's region extra to 'us'.")


def test_an_unknown_default_domain_is_named(emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = check(monkeypatch, "mailgun", emu.mailgun_key, default_domain="mg.nowhere.example")
    assert not ok
    assert message == (
        "Domain 'mg.nowhere.example' is not a domain of this Mailgun account (not found in the US or EU "
        "region): fix the connection's default_domain extra or add the domain in Mailgun."
    )
    own_host = emu.url.replace("127.0.0.1", "localhost")  # not a region's host: no region to try
    ok, message = check(
        monkeypatch, "mailgun", emu.mailgun_key, host=own_host, default_domain="mg.nowhere.example"
    )
    assert not ok
    assert message.startswith("Domain 'mg.nowhere.example' was not found at localhost:")


def test_a_public_validation_key_is_recognised(emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = check(monkeypatch, "mailgun", DEFAULT_PUBLIC_KEY, default_domain=emu.domain)
    assert not ok
    assert message.startswith("The password is the account's public validation key")
    assert message.endswith("use a private API key from Mailgun's API Security page.")
    assert statuses(emu) == [("GET", f"/v3/domains/{emu.domain}", 401)]


def test_a_domain_sending_key_is_recognised_and_nothing_is_sent(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = emu.add_sending_key(emu.domain)
    ok, message = check(monkeypatch, "mailgun", key, default_domain=emu.domain)
    assert not ok
    assert message == (
        f"The password is a domain sending key of {emu.domain!r}: it can only send messages, while "
        "events, lists and suppressions need a private API key from Mailgun's API Security page."
    )
    assert statuses(emu) == [
        ("GET", f"/v3/domains/{emu.domain}", 401),
        ("POST", f"/v3/{emu.domain}/messages", 400),  # an empty send: refused as incomplete
    ]
    assert emu.messages() == []


def test_a_wrong_private_key_says_use_a_private_key(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = check(
        monkeypatch, "mailgun", "key-not-this-one-0123456789abcdef", default_domain=emu.domain
    )
    assert not ok
    assert message.startswith("Mailgun refused the API key (401 ")
    assert message.endswith("use a private API key from Mailgun's API Security page.")


def test_maton_connections_that_are_not_active_or_not_mailgun_are_named(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = maton(emu, monkeypatch, maton_connection=emu.maton_connection)
    assert ok, message
    assert message == (
        f"Connected to Mailgun through the Maton gateway, connection {emu.maton_connection}; "
        f"domain {emu.domain!r} is active."
    )

    pending = emu.add_maton_connection(status="PENDING")
    ok, message = maton(emu, monkeypatch, maton_connection=pending)
    assert not ok
    assert message.startswith(f"Maton connection {pending} is PENDING, not ACTIVE: open the url")

    slack = emu.add_maton_connection(app="slack")
    ok, message = maton(emu, monkeypatch, maton_connection=slack)
    assert not ok
    assert message.startswith(f"Maton connection {slack} belongs to the 'slack' app, not 'mailgun'")

    ok, message = maton(emu, monkeypatch, maton_connection="8d9e5c3a-0000-0000-0000-00000000dead")
    assert not ok
    assert message.startswith("Maton connection 8d9e5c3a-0000-0000-0000-00000000dead does not exist")

    emu.state.connections[emu.maton_connection]["status"] = "FAILED"
    ok, message = maton(emu, monkeypatch)
    assert not ok
    assert message.startswith("This Maton API key has no ACTIVE Mailgun connection (2 not ACTIVE)")


def test_maton_says_what_the_gateway_cannot_reach_and_a_refused_key(
    emu: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = maton(emu, monkeypatch, default_domain=EU_DOMAIN)
    assert not ok
    assert message.startswith(f"Domain {EU_DOMAIN!r} is not reachable through the Maton gateway")
    assert "use a direct 'mailgun' connection with region 'eu'" in message

    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKED",
        json.dumps({"conn_type": "maton", "host": emu.gateway_url, "password": "maton-wrong-0123456789"}),
    )
    ok, message = MailgunHook(mailgun_conn_id="checked").test_connection()
    assert not ok
    assert message.startswith("The Maton API key was refused (401)")


@pytest.mark.parametrize("kind", ["private", "sending", "sending_other_domain", "public", "wrong"])
def test_the_sending_key_probe_carries_no_field_and_sends_nothing_whatever_the_key(
    emu: MailgunEmulator, kind: str
) -> None:
    """The probe is an empty form: with any key, even one that may send, there is nothing to send."""
    from airflow_provider_mailgun._connection.check import _can_send_only
    from airflow_provider_mailgun.client import ClientConfig, MailgunClient

    keys = {
        "private": emu.mailgun_key,
        "sending": emu.add_sending_key(emu.domain),
        "sending_other_domain": emu.add_sending_key(EU_DOMAIN),
        "public": DEFAULT_PUBLIC_KEY,
        "wrong": "key-not-this-one-0123456789abcdef",
    }
    with MailgunClient(ClientConfig.for_mailgun(keys[kind], base_url=emu.url)) as client:
        can_send = _can_send_only(client, emu.domain)
    probes = [r for r in emu.requests() if r["path"].endswith("/messages")]
    assert [(r["method"], r["form_keys"]) for r in probes] == [("POST", [])]
    assert can_send is (kind in ("private", "sending"))  # 400 "from is missing", never 200
    assert emu.messages() == []
