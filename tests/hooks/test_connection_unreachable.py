"""test_connection against a host that is not there answers in about the connect timeout: the
check makes one attempt, since the user is waiting for a verdict, not for a run to get through."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from tests.client.rawserver import closed_port

CONNECT_TIMEOUT = 1.5


def check(monkeypatch: pytest.MonkeyPatch, host: str) -> tuple[bool, str, float]:
    extra = {"timeout": CONNECT_TIMEOUT, "default_domain": "mg.example.com"}
    connection = {"conn_type": "mailgun", "host": host, "password": "key-0123456789abcdef", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_UNREACHABLE", json.dumps(connection))
    started = time.monotonic()
    ok, message = MailgunHook(mailgun_conn_id="unreachable").test_connection()
    return ok, message, time.monotonic() - started


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port whose connection attempts hang: a listening socket whose queue is full, never accepted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    address = server.getsockname()
    fillers = []
    # Fill the accept queue; the SYNs of later connections are then dropped, so they hang.
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    time.sleep(0.2)
    yield f"http://127.0.0.1:{address[1]}"
    for filler in fillers:
        filler.close()
    server.close()


def test_a_closed_port_is_answered_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message, elapsed = check(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    assert not ok
    assert "could not reach the server" in message
    assert elapsed < 1.0, elapsed


def test_a_host_that_never_answers_is_answered_after_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch, blackhole: str
) -> None:
    ok, message, elapsed = check(monkeypatch, blackhole)
    assert not ok
    assert "connect timeout" in message
    assert CONNECT_TIMEOUT * 0.8 < elapsed < CONNECT_TIMEOUT * 2 + 1, elapsed
