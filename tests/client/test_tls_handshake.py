"""A TLS handshake that failed sent nothing: a send that fails there is never "ambiguous", and a
plain-HTTP server addressed as https is named as such at once, not after a round of retries.
Real sockets on 127.0.0.1: the emulator (plain HTTP) and a server that hangs up on every hello."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_mailgun._connection.config import config_from_connection
from airflow_provider_mailgun.client import ClientConfig, MailgunClient
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.exceptions import (
    AmbiguousRequestError,
    AmbiguousSendError,
    MailgunConfigError,
    MailgunConnectionError,
    RequestMaybeSentError,
    RequestNotSentError,
)
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.client.conftest import FAST_RETRIES

FIELDS = {"from": "me@mg.example.com", "to": "bob@example.com", "subject": "Hi", "text": "Hello"}


def as_https(url: str) -> str:
    return url.replace("http://", "https://", 1)


def test_a_send_to_a_plain_http_server_addressed_as_https_fails_at_once_as_not_sent(
    mailgun_emulator: MailgunEmulator,
) -> None:
    config = ClientConfig.for_mailgun(mailgun_emulator.mailgun_key, base_url=as_https(mailgun_emulator.url))
    with MailgunClient(config) as client:
        started = time.monotonic()
        with pytest.raises(MailgunConnectionError) as caught:
            client.messages.send(mailgun_emulator.domain, FIELDS)
        elapsed = time.monotonic() - started
    error = caught.value
    assert not isinstance(error, AmbiguousRequestError | AmbiguousSendError | RequestMaybeSentError)
    assert "nothing was sent" in str(error)
    assert "http://" in str(error)  # says how to write the host
    assert elapsed < 3.0, elapsed  # one attempt: a wrong scheme does not fix itself
    assert client.transport.stats.snapshot().get("attempts") == 1
    assert mailgun_emulator.messages() == []


def test_a_read_of_a_plain_http_server_addressed_as_https_is_not_retried(
    mailgun_emulator: MailgunEmulator,
) -> None:
    config = ClientConfig.for_mailgun(
        mailgun_emulator.mailgun_key, base_url=as_https(mailgun_emulator.url), **FAST_RETRIES
    )
    with MailgunClient(config) as client:
        with pytest.raises(MailgunConnectionError, match="plain HTTP"):
            client.domains.get(mailgun_emulator.domain)
        assert client.transport.stats.snapshot().get("attempts") == 1


def test_the_trigger_client_says_the_same(mailgun_emulator: MailgunEmulator) -> None:
    config = ClientConfig.for_mailgun(
        mailgun_emulator.mailgun_key, base_url=as_https(mailgun_emulator.url), **FAST_RETRIES
    )

    async def read() -> None:
        async with AsyncMailgunClient(config) as client:
            await client.transport.get(f"/v3/domains/{mailgun_emulator.domain}")

    with pytest.raises(MailgunConnectionError, match="plain HTTP") as caught:
        asyncio.run(read())
    assert "nothing was sent" in str(caught.value)


@pytest.fixture
def hangs_up_on_hello() -> Iterator[tuple[str, list[int]]]:
    """A TCP server that closes every connection as soon as the client's TLS hello arrives."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted[0] += 1
            conn.recv(1024)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    server.close()


def test_a_handshake_cut_short_is_not_sent_so_a_send_is_retried_safely(
    hangs_up_on_hello: tuple[str, list[int]],
) -> None:
    url, accepted = hangs_up_on_hello
    config = ClientConfig.for_mailgun("key-0123456789abcdef0123456789abcdef", base_url=url, **FAST_RETRIES)
    with MailgunClient(config) as client, pytest.raises(RequestNotSentError, match="TLS handshake"):
        client.messages.send("mg.example.com", FIELDS)
    assert accepted[0] == FAST_RETRIES["max_attempts"]  # retried: nothing had been sent


def test_a_host_without_a_scheme_is_explained_when_the_connection_is_read(
    mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    host = mailgun_emulator.url.removeprefix("http://")  # "127.0.0.1:<port>"
    connection = {"conn_type": "mailgun", "host": host, "password": mailgun_emulator.mailgun_key}
    monkeypatch.setenv("AIRFLOW_CONN_NO_SCHEME", json.dumps(connection))
    with caplog.at_level(logging.WARNING):
        hook = MailgunHook(mailgun_conn_id="no_scheme")
        client = hook.get_conn()
    assert client.config.api_base == f"https://{host}"
    assert f"host {host!r} has no scheme, so https://{host} is used" in caplog.text
    assert f"write 'http://{host}'" in caplog.text
    ok, message = hook.test_connection()
    assert not ok
    assert "plain HTTP" in message
    assert "nothing was sent" in message


@pytest.mark.parametrize("host", ["127.0.0.1:80a", "http://127.0.0.1:99999"])
def test_a_host_with_a_port_that_is_not_one_is_refused(host: str) -> None:
    with pytest.raises(MailgunConfigError, match="is not a valid URL"):
        config_from_connection("mailgun", host=host, password="key-0123456789", extra=None)
