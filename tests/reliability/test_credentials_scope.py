"""Credentials only go to the configured host, over verified TLS unless a connection says otherwise.

A second local server records every request it gets, with its headers. Paging links and redirects
from the configured server that point at it (another port on the same 127.0.0.1) are refused
before a byte is sent, by the operators, the sensor and the trigger alike; a control test shows
the recorder does see the key when it *is* the configured host. TLS: a server with a self-signed
certificate is refused by default (nothing sent, no retries, not "ambiguous" for a send), and
accepted only with ``verify_tls: false``, which logs a warning.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator
from typing import Any

import certifi
import pytest
from pytest_httpserver import HTTPServer
from urllib3.exceptions import InsecureRequestWarning
from werkzeug import Response

from airflow_provider_mailgun.exceptions import UnsafeURLError
from tests.reliability.conftest import accepted_events, assert_the_wait_refuses_the_link, set_connection
from tests.reliability.servers import RecordingServer

KEY = "key-scope-sentinel-5b0c7e0d2f4a48d6a1f3c9e7b2d4f6a8"
DOMAIN = "mg.example.com"
LIST = "news@mg.example.com"


@pytest.fixture
def foreign() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def conn_id(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A direct connection whose configured host is the scripted ``httpserver``."""
    return set_connection(
        monkeypatch,
        "mailgun_scoped",
        conn_type="mailgun",
        host=httpserver.url_for("/").rstrip("/"),
        password=KEY,
        extra={"default_domain": DOMAIN, "max_attempts": 2},
    )


def _key_seen(server: RecordingServer) -> bool:
    basic = base64.b64encode(f"api:{KEY}".encode()).decode()
    return any(basic in str(r["headers"]) or KEY in str(r["headers"]) for r in server.requests)


def test_the_recorder_sees_the_key_when_it_is_the_configured_host(
    foreign: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Control: proves the assertions below would see a leak.
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    set_connection(monkeypatch, "mailgun_recorder", conn_type="mailgun", host=foreign.url, password=KEY)
    MailgunHook(mailgun_conn_id="mailgun_recorder").lists.get(LIST)
    assert _key_seen(foreign)


def test_a_paging_link_to_another_host_fails_the_list_sync_without_sending_the_key(
    httpserver: HTTPServer, conn_id: str, foreign: RecordingServer
) -> None:
    from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator

    httpserver.expect_request(f"/v3/lists/{LIST}").respond_with_json({"list": {"address": LIST}})
    httpserver.expect_request(f"/v3/lists/{LIST}/members/pages").respond_with_json(
        {
            "items": [{"address": "a@example.org", "name": "", "vars": {}, "subscribed": True}],
            "paging": {"next": f"{foreign.url}/v3/lists/{LIST}/members/pages?page=next"},
        }
    )
    operator = MailgunSyncListMembersOperator(
        task_id="sync", mailgun_conn_id=conn_id, list_address=LIST, members=["a@example.org"]
    )
    with pytest.raises(UnsafeURLError, match=r"Refusing to send credentials to http://127\.0\.0\.1:\d+"):
        operator.execute({})  # type: ignore[arg-type]
    assert foreign.requests == []
    assert [r.method for r, _ in httpserver.log] == ["GET", "GET"]  # no write either


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_fails_a_send_without_sending_the_key(
    httpserver: HTTPServer, conn_id: str, foreign: RecordingServer, status: int
) -> None:
    from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

    httpserver.expect_request(f"/v3/{DOMAIN}/messages", method="POST").respond_with_response(
        Response("", status=status, headers={"Location": f"{foreign.url}/v3/{DOMAIN}/messages"})
    )
    operator = MailgunSendMessageOperator(
        task_id="send", mailgun_conn_id=conn_id, to="a@example.org", from_email="n@mg.example.com",
        subject="s", text="t",
    )  # fmt: skip
    with pytest.raises(UnsafeURLError, match="Refusing to send credentials"):
        operator.execute({})  # type: ignore[arg-type]
    assert foreign.requests == []
    assert len(httpserver.log) == 1  # refused, and not retried


def test_a_redirect_to_another_host_fails_the_bounce_clearing_without_sending_the_key(
    httpserver: HTTPServer, conn_id: str, foreign: RecordingServer
) -> None:
    from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator

    httpserver.expect_request(f"/v3/{DOMAIN}/bounces").respond_with_response(
        Response("", status=302, headers={"Location": f"{foreign.url}/v3/{DOMAIN}/bounces?limit=1000"})
    )
    operator = MailgunClearBouncesOperator(task_id="clear", mailgun_conn_id=conn_id, codes=["4xx"])
    with pytest.raises(UnsafeURLError, match="Refusing to send credentials"):
        operator.execute({})  # type: ignore[arg-type]
    assert foreign.requests == []


def test_a_foreign_events_link_fails_the_sensor_and_the_trigger_without_sending_the_key(
    httpserver: HTTPServer, conn_id: str, foreign: RecordingServer
) -> None:
    # A full page (300 events) whose next link points elsewhere: the wait must read on, and cannot.
    httpserver.expect_request(f"/v3/{DOMAIN}/events").respond_with_json(
        {"items": accepted_events(300), "paging": {"next": f"{foreign.url}/v3/{DOMAIN}/events/token"}}
    )
    assert_the_wait_refuses_the_link(conn_id, DOMAIN, foreign.requests)


# ------------------------------------------------------------------------------------------- TLS
@pytest.fixture
def private_gateway() -> Iterator[RecordingServer]:
    with RecordingServer(tls=True) as server:
        yield server


def test_tls_is_verified_by_default_and_a_bad_certificate_sends_nothing(
    private_gateway: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mailgun.exceptions import AmbiguousSendError, MailgunConnectionError
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    set_connection(monkeypatch, "mailgun_tls", conn_type="mailgun", host=private_gateway.url, password=KEY)
    hook = MailgunHook(mailgun_conn_id="mailgun_tls")
    assert hook.config.verify_tls is True
    # Verification on: True, or the CA bundle the environment names (REQUESTS_CA_BUNDLE).
    assert hook.client.transport._session.verify not in (False, None, "")

    started = time.monotonic()
    with pytest.raises(MailgunConnectionError, match="certificate") as read_error:
        hook.lists.get(LIST)
    with pytest.raises(MailgunConnectionError, match="certificate") as send_error:
        hook.messages.send(
            DOMAIN, {"from": "n@mg.example.com", "to": "a@example.org", "subject": "s", "text": "t"}
        )
    elapsed = time.monotonic() - started

    assert private_gateway.requests == []  # the handshake failed: no request, no key
    # A rejected certificate is not a glitch: no retries, and a send that never left is not ambiguous.
    assert hook.client.transport.stats.snapshot().get("retries", 0) == 0
    assert not isinstance(send_error.value, AmbiguousSendError)
    assert elapsed < 2.0
    assert KEY not in str(read_error.value) + str(send_error.value)


def test_a_private_ca_named_in_requests_ca_bundle_is_trusted(
    private_gateway: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", private_gateway.certificate)
    set_connection(monkeypatch, "maton_private_ca", conn_type="maton", host=private_gateway.url, password=KEY)
    MailgunHook(mailgun_conn_id="maton_private_ca").lists.get(LIST)
    assert [r["path"] for r in private_gateway.requests] == [f"/mailgun/v3/lists/{LIST}"]


def test_only_an_explicit_verify_tls_false_reaches_a_self_signed_gateway_and_it_warns(
    private_gateway: RecordingServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    set_connection(
        monkeypatch, "maton_private", conn_type="maton", host=private_gateway.url, password=KEY,
        extra={"verify_tls": False},
    )  # fmt: skip
    # A CA bundle in the environment (common in containers) must not undo the explicit choice.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    caplog.set_level(logging.WARNING, logger="airflow_provider_mailgun")
    hook = MailgunHook(mailgun_conn_id="maton_private")
    with pytest.warns(InsecureRequestWarning):
        hook.lists.get(LIST)

    assert [r["path"] for r in private_gateway.requests] == [f"/mailgun/v3/lists/{LIST}"]
    assert any("TLS certificate verification is OFF" in r.getMessage() for r in caplog.records)
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_the_trigger_verifies_tls_too(
    private_gateway: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
    from airflow_provider_mailgun.client.config import ClientConfig
    from airflow_provider_mailgun.exceptions import MailgunConnectionError

    async def read(verify: bool) -> Any:
        config = ClientConfig.for_mailgun(KEY, base_url=private_gateway.url, verify_tls=verify)
        async with AsyncMailgunClient(config) as client:
            return await client.events.first_page(DOMAIN, limit=10)

    with pytest.raises(MailgunConnectionError, match="certificate"):
        asyncio.run(read(verify=True))
    assert private_gateway.requests == []
    assert asyncio.run(read(verify=False)).items == []
    assert len(private_gateway.requests) == 1
