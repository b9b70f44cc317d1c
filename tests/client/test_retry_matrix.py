"""Which requests are retried, on what, and how long the client waits: over real HTTP on 127.0.0.1.

Reads, deletes, updates and idempotent writes (member upsert, suppression add) retry on 429, 420,
5xx and any connection failure; creates that would duplicate retry only when the server provably did
not take them; sends (``messages`` and ``messages.mime``) never retry once they may have arrived.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from urllib3.connection import HTTPConnection
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NameResolutionError, ProtocolError
from werkzeug import Request, Response

from airflow_provider_mailgun.client import ClientConfig, MailgunClient
from airflow_provider_mailgun.client.retrying import Safety
from airflow_provider_mailgun.client.transport import TransportStats, _connection_failure
from airflow_provider_mailgun.exceptions import (
    AmbiguousRequestError,
    AmbiguousSendError,
    MailgunConnectionError,
    MailgunRateLimitError,
    MailgunServerError,
    RequestMaybeSentError,
    RequestNotSentError,
)
from tests.client.conftest import FAST_RETRIES, MAILGUN_KEY
from tests.client.rawserver import SilentServer

DOMAIN = "mg.example.com"
LIST = "news@mg.example.com"
OK: dict[str, Any] = {"message": "ok", "route": {"id": "r1"}, "list": {}, "member": {}}
ClientFactory = Callable[..., MailgunClient]
Call = Callable[[MailgunClient], object]

# (method, path, call): requests that are safe to repeat.
IDEMPOTENT: list[tuple[str, str, Call]] = [
    ("GET", f"/v3/{DOMAIN}/tags/t1", lambda c: c.tags.get(DOMAIN, "t1")),
    ("PUT", f"/v3/lists/{LIST}", lambda c: c.lists.update(LIST, description="d")),
    (
        "PUT",
        f"/v3/domains/{DOMAIN}/tracking/click",
        lambda c: c.tracking.update(DOMAIN, "click", active=True),
    ),
    ("DELETE", "/v3/routes/r1", lambda c: c.routes.delete("r1")),
    ("DELETE", f"/v3/{DOMAIN}/bounces", lambda c: c.bounces.delete_all(DOMAIN)),
    ("POST", f"/v3/{DOMAIN}/unsubscribes", lambda c: c.unsubscribes.add(DOMAIN, "a@example.org")),
    ("POST", f"/v3/{DOMAIN}/bounces", lambda c: c.bounces.add_many(DOMAIN, [{"address": "a@example.org"}])),
    ("POST", f"/v3/lists/{LIST}/members", lambda c: c.members.add(LIST, "a@example.org", upsert=True)),
    ("POST", f"/v3/lists/{LIST}/members.json", lambda c: c.members.upsert_many(LIST, ["a@example.org"])),
]
# Creates that would duplicate when repeated after the server took them.
NON_IDEMPOTENT: list[tuple[str, str, Call]] = [
    ("POST", "/v3/routes", lambda c: c.routes.create(expression="catch_all()", actions=["stop()"])),
    ("POST", f"/v3/lists/{LIST}/members", lambda c: c.members.add(LIST, "a@example.org")),
    ("POST", "/v3/lists", lambda c: c.lists.create(LIST)),
    ("POST", f"/v3/{DOMAIN}/templates", lambda c: c.templates.create(DOMAIN, "t", template="x")),
]
SENDS: list[tuple[str, Call]] = [
    (f"/v3/{DOMAIN}/messages", lambda c: c.messages.send(DOMAIN, {"to": "a@example.org", "text": "x"})),
    (f"/v3/{DOMAIN}/messages.mime", lambda c: c.messages.send_mime(DOMAIN, ["a@example.org"], b"Subject: x")),
]
QUEUED = {"id": "<1.2@mg.example.com>", "message": "Queued. Thank you."}


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [f"{case[0]} {case[1]}" if len(case) == 3 else str(case[0]) for case in cases]


@pytest.mark.parametrize("status", [429, 420, 500, 502, 503, 504])
@pytest.mark.parametrize(("method", "path", "call"), IDEMPOTENT, ids=_ids(IDEMPOTENT))
def test_idempotent_requests_retry_on_transient_statuses(
    httpserver: HTTPServer, make_client: ClientFactory, method: str, path: str, call: Call, status: int
) -> None:
    httpserver.expect_ordered_request(path, method=method).respond_with_json(
        {"message": "busy"}, status=status
    )
    httpserver.expect_ordered_request(path, method=method).respond_with_json(OK)
    call(make_client())
    assert len(httpserver.log) == 2
    httpserver.check_assertions()


@pytest.mark.parametrize(("method", "path", "call"), NON_IDEMPOTENT, ids=_ids(NON_IDEMPOTENT))
def test_creates_are_not_retried_on_server_errors_but_are_on_rate_limits(
    httpserver: HTTPServer, make_client: ClientFactory, method: str, path: str, call: Call
) -> None:
    httpserver.expect_ordered_request(path, method=method).respond_with_json({"message": "oops"}, status=502)
    with pytest.raises(MailgunServerError, match="502"):
        call(make_client())
    assert len(httpserver.log) == 1

    httpserver.clear()
    httpserver.expect_ordered_request(path, method=method).respond_with_json({"message": "slow"}, status=429)
    httpserver.expect_ordered_request(path, method=method).respond_with_json(OK)
    call(make_client())
    assert len(httpserver.log) == 2


@pytest.mark.parametrize(("path", "call"), SENDS, ids=_ids(SENDS))
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_sends_on_server_error_are_ambiguous_and_not_retried(
    httpserver: HTTPServer, make_client: ClientFactory, path: str, call: Call, status: int
) -> None:
    httpserver.expect_request(path, method="POST").respond_with_json({"message": "oops"}, status=status)
    with pytest.raises(AmbiguousSendError) as caught:
        call(make_client())
    assert len(httpserver.log) == 1
    assert ("to", "a@example.org") in caught.value.fields
    assert str(status) in caught.value.cause


@pytest.mark.parametrize(("path", "call"), SENDS, ids=_ids(SENDS))
@pytest.mark.parametrize("status", [429, 420])
def test_sends_retry_on_rate_limits(
    httpserver: HTTPServer, make_client: ClientFactory, path: str, call: Call, status: int
) -> None:
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(
        {"message": "slow"}, status=status
    )
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(QUEUED)
    call(make_client())
    assert len(httpserver.log) == 2


@pytest.mark.parametrize(("path", "call"), SENDS, ids=_ids(SENDS))
def test_send_dropped_after_it_was_written_is_ambiguous(path: str, call: Call) -> None:
    with SilentServer() as server:
        client = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=server.url, **FAST_RETRIES))
        with pytest.raises(AmbiguousSendError, match="not resent"):
            call(client)
        assert len(server.requests) == 1
        assert server.requests[0].startswith(f"POST {path} ".encode())


def test_idempotent_write_is_retried_after_a_dropped_connection() -> None:
    with SilentServer() as server:
        client = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=server.url, **FAST_RETRIES))
        with pytest.raises(MailgunConnectionError, match="after it was sent"):
            client.bounces.add(DOMAIN, "a@example.org")
        assert len(server.requests) == FAST_RETRIES["max_attempts"]


def test_create_is_not_retried_after_a_dropped_connection() -> None:
    with SilentServer() as server:
        client = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=server.url, **FAST_RETRIES))
        with pytest.raises(RequestMaybeSentError):
            client.routes.create(expression="catch_all()", actions=["stop()"])
        assert len(server.requests) == 1


class _FailFirst(requests.Session):
    """A session whose first request fails with ``error`` before anything is written."""

    def __init__(self, error: requests.RequestException) -> None:
        super().__init__()
        self.error: requests.RequestException | None = error

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return super().request(*args, **kwargs)


def _dns_failure() -> requests.ConnectionError:
    reason = NameResolutionError(
        "api.example.invalid", HTTPConnection("api.example.invalid"), socket.gaierror(-2)
    )
    return requests.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def _connect_timeout() -> requests.ConnectTimeout:
    reason = ConnectTimeoutError(None, "timed out")
    return requests.ConnectTimeout(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize("failure", [_dns_failure, _connect_timeout], ids=["dns", "connect-timeout"])
def test_send_is_retried_when_the_request_never_left(
    httpserver: HTTPServer, failure: Callable[[], requests.RequestException]
) -> None:
    httpserver.expect_request(f"/v3/{DOMAIN}/messages", method="POST").respond_with_json(QUEUED)
    config = ClientConfig.for_mailgun(
        MAILGUN_KEY, base_url=httpserver.url_for("/").rstrip("/"), **FAST_RETRIES
    )
    client = MailgunClient(config, session=_FailFirst(failure()))
    assert client.messages.send(DOMAIN, {"to": "a@example.org", "text": "x"}).id == QUEUED["id"]
    assert len(httpserver.log) == 1
    assert client.transport.stats.snapshot()["attempts"] == 2


@pytest.mark.parametrize(
    ("failure", "sent"),
    [
        (_dns_failure, False),
        (_connect_timeout, False),
        (lambda: requests.ConnectionError(ProtocolError("Connection aborted.")), True),
        (lambda: requests.ReadTimeout("read timed out"), True),
    ],
    ids=["dns", "connect-timeout", "dropped", "read-timeout"],
)
def test_connection_failures_are_classified_by_whether_the_request_left(
    failure: Callable[[], requests.RequestException], sent: bool
) -> None:
    stats = TransportStats()
    as_send = _connection_failure(failure(), "POST", "/v3/d/messages", Safety.SEND, stats)
    as_read = _connection_failure(failure(), "GET", "/v3/d/events", Safety.SAFE, stats)
    if sent:
        assert isinstance(as_send, AmbiguousRequestError)
        assert isinstance(as_read, RequestMaybeSentError)
    else:
        assert isinstance(as_send, RequestNotSentError)
        assert isinstance(as_read, RequestNotSentError)


def _timed(answer: Response, *, then: str = '{"items": []}') -> tuple[list[float], Callable[..., Response]]:
    times: list[float] = []
    answers = [answer, Response(then, content_type="application/json")]

    def handler(request: Request) -> Response:
        times.append(time.monotonic())
        return answers[min(len(times), 2) - 1]

    return times, handler


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        (429, {"Retry-After": "1"}, "slow down"),
        (429, "x-ratelimit-reset", "slow down"),
        (429, "x-ratelimit-reset-ms", "slow down"),
        (420, {}, "recipient limit exceeded, try again after 1 seconds"),
        (503, {"Retry-After": "1"}, "maintenance"),
    ],
    ids=["retry-after", "x-ratelimit-reset", "x-ratelimit-reset-ms", "try-again-text", "503-retry-after"],
)
def test_server_wait_hints_are_honoured(
    httpserver: HTTPServer, make_client: ClientFactory, status: int, headers: Any, message: str
) -> None:
    if headers == "x-ratelimit-reset":
        headers = {"X-RateLimit-Reset": f"{time.time() + 1.2:.3f}"}
    elif headers == "x-ratelimit-reset-ms":
        headers = {"X-RateLimit-Reset": str(int((time.time() + 1.2) * 1000))}
    body = f'{{"message": "{message}"}}'
    times, handler = _timed(Response(body, status=status, headers=headers, content_type="application/json"))
    httpserver.expect_request(f"/v3/{DOMAIN}/tags/t").respond_with_handler(handler)
    make_client().tags.get(DOMAIN, "t")
    assert len(times) == 2
    # FAST_RETRIES backs off at most 10 ms on its own: a one-second gap is the server's hint.
    assert times[1] - times[0] >= 0.95


def test_a_server_asking_for_too_long_a_wait_fails_at_once(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    httpserver.expect_request("/v3/routes/r1").respond_with_json(
        {"message": "down"}, status=503, headers={"Retry-After": "3600"}
    )
    with pytest.raises(MailgunServerError) as caught:
        make_client(max_retry_wait=60).routes.get("r1")
    assert caught.value.retry_after == 3600
    assert len(httpserver.log) == 1

    httpserver.clear()
    httpserver.expect_request("/v3/routes/r1").respond_with_json(
        {"message": "slow"}, status=429, headers={"X-RateLimit-Reset": str(int(time.time()) + 3600)}
    )
    with pytest.raises(MailgunRateLimitError):
        make_client(max_retry_wait=60).routes.get("r1")
    assert len(httpserver.log) == 1
