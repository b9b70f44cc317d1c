"""Transport rules over real HTTP on 127.0.0.1: auth, encoding, retries, errors, rate limit, secrets."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_provider_mailgun.client import ClientConfig, MailgunClient
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.client.limit_state import BURST_SECONDS, START_FILL
from airflow_provider_mailgun.exceptions import (
    AmbiguousSendError,
    MailgunAuthError,
    MailgunBadRequestError,
    MailgunConnectionError,
    MailgunNotFoundError,
    MailgunRateLimitError,
    MailgunServerError,
    MailgunUnexpectedResponseError,
    MatonGatewayError,
)
from tests.client.conftest import FAST_RETRIES, MAILGUN_KEY, MATON_KEY
from tests.client.rawserver import SilentServer, closed_port

DOMAIN = "mg.example.com"
QUEUED = {"id": "<20260101.1@mg.example.com>", "message": "Queued. Thank you."}
ClientFactory = Callable[..., MailgunClient]


def test_direct_mode_sends_basic_auth_with_user_api(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    expected = "Basic " + base64.b64encode(f"api:{MAILGUN_KEY}".encode()).decode()
    httpserver.expect_request("/v3/domains", headers={"Authorization": expected}).respond_with_json(
        {"total_count": 0, "items": []}
    )
    assert list(make_client().domains.iter()) == []
    httpserver.check_assertions()


def test_maton_mode_sends_bearer_and_connection_header(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response('{"total_count": 0, "items": []}', content_type="application/json")

    httpserver.expect_request("/mailgun/v3/domains").respond_with_handler(handler)
    list(make_client("maton", maton_connection="conn-123").domains.iter())
    list(make_client("maton").domains.iter())
    assert seen[0]["Authorization"] == f"Bearer {MATON_KEY}"
    assert seen[0]["Maton-Connection"] == "conn-123"
    assert "Maton-Connection" not in seen[1]


def test_form_encoding_repeats_keys_for_lists(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    bodies: list[tuple[str, list[tuple[str, str]]]] = []

    def handler(request: Request) -> Response:
        bodies.append((request.content_type or "", parse_qsl(request.get_data(as_text=True))))
        return Response('{"id": "<a@b>", "message": "Queued. Thank you."}', content_type="application/json")

    httpserver.expect_request(f"/v3/{DOMAIN}/messages", method="POST").respond_with_handler(handler)
    result = make_client().messages.send(
        DOMAIN,
        {
            "from": "a@mg.example.com",
            "to": ["x@example.org", "y@example.org"],
            "o:tag": ["t1", "t2"],
            "subject": "s",
            "text": "t",
            "o:testmode": True,
            "v:ids": {"k": 1},
        },
    )
    content_type, pairs = bodies[0]
    assert content_type.startswith("application/x-www-form-urlencoded")
    assert [v for k, v in pairs if k == "to"] == ["x@example.org", "y@example.org"]
    assert [v for k, v in pairs if k == "o:tag"] == ["t1", "t2"]
    assert ("o:testmode", "yes") in pairs
    assert ("v:ids", '{"k":1}') in pairs
    assert result.message_id == "a@b"


def test_multipart_keeps_filenames_and_content_types(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    parts: dict[str, list[tuple[str | None, str | None, bytes]]] = {}
    fields: list[tuple[str, str]] = []

    def handler(request: Request) -> Response:
        for name, storage in request.files.items(multi=True):
            parts.setdefault(name, []).append((storage.filename, storage.mimetype, storage.read()))
        fields.extend(request.form.items(multi=True))
        return Response('{"id": "<a@b>", "message": "Queued. Thank you."}', content_type="application/json")

    httpserver.expect_request(f"/v3/{DOMAIN}/messages", method="POST").respond_with_handler(handler)
    make_client().messages.send(
        DOMAIN,
        {"from": "a@mg.example.com", "to": ["x@example.org", "y@example.org"], "subject": "s", "html": "<p>"},
        files=[
            ("attachment", ("report.csv", b"a,b\n1,2\n", "text/csv")),
            ("inline", ("logo.png", b"\x89PNG", "image/png")),
        ],
    )
    assert parts["attachment"] == [("report.csv", "text/csv", b"a,b\n1,2\n")]
    assert parts["inline"] == [("logo.png", "image/png", b"\x89PNG")]
    assert [v for k, v in fields if k == "to"] == ["x@example.org", "y@example.org"]


def test_send_mime_is_multipart_with_message_file(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    got: dict[str, object] = {}

    def handler(request: Request) -> Response:
        got["message"] = request.files["message"].read()
        got["to"] = request.form.getlist("to")
        return Response('{"id": "<m@b>", "message": "Queued. Thank you."}', content_type="application/json")

    httpserver.expect_request(f"/v3/{DOMAIN}/messages.mime", method="POST").respond_with_handler(handler)
    make_client().messages.send_mime(DOMAIN, ["a@example.org", "b@example.org"], b"Subject: hi\r\n\r\nbody")
    assert got == {"message": b"Subject: hi\r\n\r\nbody", "to": ["a@example.org", "b@example.org"]}


@pytest.mark.parametrize("status", [429, 420, 500, 502, 503, 504])
def test_reads_are_retried_on_transient_statuses(
    httpserver: HTTPServer, make_client: ClientFactory, status: int
) -> None:
    httpserver.expect_ordered_request("/v3/lists/a@mg.example.com").respond_with_json(
        {"message": "busy"}, status=status
    )
    httpserver.expect_ordered_request("/v3/lists/a@mg.example.com").respond_with_json(
        {"list": {"address": "a@mg.example.com"}}
    )
    assert make_client().lists.get("a@mg.example.com") == {"address": "a@mg.example.com"}
    assert len(httpserver.log) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, MailgunBadRequestError),
        (401, MailgunAuthError),
        (403, MailgunAuthError),
        (404, MailgunNotFoundError),
    ],
)
def test_client_errors_are_not_retried(
    httpserver: HTTPServer, make_client: ClientFactory, status: int, error: type[Exception]
) -> None:
    httpserver.expect_request("/v3/routes/r1").respond_with_json({"message": "nope"}, status=status)
    with pytest.raises(error, match="nope"):
        make_client().routes.get("r1")
    assert len(httpserver.log) == 1


def test_retries_stop_after_max_attempts(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    httpserver.expect_request("/v3/routes/r1").respond_with_json({"message": "down"}, status=503)
    with pytest.raises(MailgunServerError, match="503"):
        make_client(max_attempts=3).routes.get("r1")
    assert len(httpserver.log) == 3


@pytest.mark.parametrize("status", [429, 420])
def test_send_is_retried_when_rejected_for_rate(
    httpserver: HTTPServer, make_client: ClientFactory, status: int
) -> None:
    path = f"/v3/{DOMAIN}/messages"
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(
        {"message": f"Domain {DOMAIN} is not allowed to send: request limit exceeded"}, status=status
    )
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(QUEUED)
    result = make_client().messages.send(DOMAIN, {"to": "a@example.org", "text": "x"})
    assert result.id == QUEUED["id"]
    assert len(httpserver.log) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_send_is_never_retried_on_server_error(
    httpserver: HTTPServer, make_client: ClientFactory, status: int
) -> None:
    httpserver.expect_request(f"/v3/{DOMAIN}/messages", method="POST").respond_with_json(
        {"message": "Internal Server Error"}, status=status
    )
    with pytest.raises(AmbiguousSendError) as caught:
        make_client().messages.send(DOMAIN, {"to": ["a@example.org", "b@example.org"], "text": "x"})
    assert len(httpserver.log) == 1
    assert caught.value.domain == DOMAIN
    assert ("to", "a@example.org") in caught.value.fields
    assert "2 recipient(s)" in str(caught.value)


def test_send_dropped_after_sending_is_ambiguous_and_not_retried() -> None:
    with SilentServer() as server:
        client = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=server.url, **FAST_RETRIES))
        with pytest.raises(AmbiguousSendError, match="ambiguous"):
            client.messages.send(DOMAIN, {"to": "a@example.org", "text": "x"})
        assert len(server.requests) == 1


def test_send_read_timeout_is_ambiguous_and_not_retried() -> None:
    with SilentServer(delay=1.0) as server:
        config = ClientConfig.for_mailgun(
            MAILGUN_KEY, base_url=server.url, timeout=(1.0, 0.3), **FAST_RETRIES
        )
        with pytest.raises(AmbiguousSendError, match="read timeout"):
            MailgunClient(config).messages.send(DOMAIN, {"to": "a@example.org", "text": "x"})
        assert len(server.requests) == 1


def test_read_dropped_connection_is_retried() -> None:
    with SilentServer() as server:
        client = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=server.url, **FAST_RETRIES))
        with pytest.raises(MailgunConnectionError, match="failed after it was sent"):
            client.routes.get("r1")
        assert len(server.requests) == FAST_RETRIES["max_attempts"]


def test_send_to_refused_connection_is_retried_then_fails() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    client = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=url, **FAST_RETRIES))
    with pytest.raises(MailgunConnectionError, match="could not reach the server"):
        client.messages.send(DOMAIN, {"to": "a@example.org", "text": "x"})
    assert client.transport.stats.snapshot()["attempts"] == FAST_RETRIES["max_attempts"]


def test_retry_after_header_is_honoured(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    times: list[float] = []

    def limited(request: Request) -> Response:
        times.append(time.monotonic())
        return Response(
            '{"message": "slow down"}',
            status=429,
            headers={"Retry-After": "1"},
            content_type="application/json",
        )

    def ok(request: Request) -> Response:
        times.append(time.monotonic())
        return Response('{"items": []}', content_type="application/json")

    httpserver.expect_ordered_request("/v3/routes/r1").respond_with_handler(limited)
    httpserver.expect_ordered_request("/v3/routes/r1").respond_with_handler(ok)
    make_client().routes.get("r1")
    assert times[1] - times[0] >= 1.0


def test_rate_limit_hint_beyond_cap_fails_at_once(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    httpserver.expect_request("/v3/routes/r1").respond_with_json(
        {
            "message": "Domain x is not allowed to send: recipient limit exceeded, "
            "try again after 3600 seconds"
        },
        status=420,
    )
    with pytest.raises(MailgunRateLimitError) as caught:
        make_client(max_retry_wait=60).routes.get("r1")
    assert caught.value.retry_after == 3600
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"message": "to parameter is missing"}', "application/json", "to parameter is missing"),
        ('{"Error": "unauthorized"}', "application/json", "unauthorized"),
        ('{"Reason": "https://x/ is not a valid url"}', "application/json", "https://x/ is not a valid url"),
        ('{"error": "bad filter"}', "application/json", "bad filter"),
        ("Forbidden", "text/plain", "Forbidden"),
    ],
)
def test_each_error_body_format_is_parsed(
    httpserver: HTTPServer, make_client: ClientFactory, body: str, content_type: str, expected: str
) -> None:
    httpserver.expect_request("/v3/routes/r1").respond_with_data(body, status=400, content_type=content_type)
    with pytest.raises(MailgunBadRequestError) as caught:
        make_client().routes.get("r1")
    assert caught.value.api_message == expected
    assert str(caught.value).startswith("Mailgun API error 400 on GET /v3/routes/r1: ")


def test_non_json_success_is_an_error(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    from airflow_provider_mailgun.exceptions import AmbiguousSendError

    httpserver.expect_request(f"/v3/{DOMAIN}/bounces/a@example.org").respond_with_data(
        "Mailgun Magnificent API"
    )
    with pytest.raises(MailgunUnexpectedResponseError, match="Magnificent"):
        make_client().bounces.get(DOMAIN, "a@example.org")
    # For a send the same reply says nothing about whether it was taken: ambiguous, not resent.
    httpserver.expect_request(f"/v3/{DOMAIN}/messages").respond_with_data("Mailgun Magnificent API")
    with pytest.raises(AmbiguousSendError, match="Magnificent"):
        make_client().messages.send(DOMAIN, {"to": "a@example.org"})
    assert len([r for r, _ in httpserver.log if r.path.endswith("/messages")]) == 1


def test_domain_not_found_hints_at_the_region(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    httpserver.expect_request(f"/v3/{DOMAIN}/bounces").respond_with_json(
        {"message": "Domain not found"}, status=404
    )
    with pytest.raises(MailgunNotFoundError, match="EU region"):
        list(make_client().bounces.iter(DOMAIN))


def test_maton_gateway_errors_say_what_to_do(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    httpserver.expect_request("/mailgun/v3/routes/a").respond_with_json(
        {"error": "No connection found for app mailgun"}, status=400
    )
    httpserver.expect_request("/mailgun/v3/routes/b").respond_with_json(
        {"error": "Invalid API key"}, status=401
    )
    httpserver.expect_request("/mailgun/v3/routes/c").respond_with_json({"message": "oops"}, status=500)
    client = make_client("maton", max_attempts=1)
    with pytest.raises(MatonGatewayError, match="maton_connection"):
        client.routes.get("a")
    with pytest.raises(MatonGatewayError, match="Maton API key"):
        client.routes.get("b")
    with pytest.raises(MailgunServerError, match="OAuth connection expired"):
        client.routes.get("c")


def test_rate_limiter_holds_the_configured_rate(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    arrivals: list[float] = []
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            arrivals.append(time.monotonic())
        return Response('{"route": {}}', content_type="application/json")

    httpserver.expect_request("/v3/routes/r").respond_with_handler(handler)
    client = make_client(max_requests_per_second=20)
    threads = [threading.Thread(target=lambda: [client.routes.get("r") for _ in range(8)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arrivals.sort()
    assert len(arrivals) == 32
    # A token bucket at 20/s that starts with half of its one-second burst: 10 at once, then the
    # other 22 at 50 ms intervals; no one-second window above 10 + 20 (+1 slack).
    start_burst = int(20 * BURST_SECONDS * START_FILL)
    assert arrivals[-1] - arrivals[0] >= (32 - start_burst) * 0.05 * 0.9
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 20 + start_burst + 1


async def _async_get(config: ClientConfig, path: str) -> None:
    async with AsyncMailgunClient(config) as client:
        await client.transport.get(path)


@pytest.mark.parametrize("mode", ["mailgun", "maton"])
def test_key_never_appears_in_logs_errors_or_reprs(
    httpserver: HTTPServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    prefix = "/mailgun" if mode == "maton" else ""
    httpserver.expect_request(f"{prefix}/v3/{DOMAIN}/messages").respond_with_json(
        {"message": "boom"}, status=500
    )
    httpserver.expect_request(f"{prefix}/v3/routes/r").respond_with_json({"message": "busy"}, status=503)
    httpserver.expect_request(f"{prefix}/v3/routes/u").respond_with_json({"message": "bad key"}, status=401)
    key = MATON_KEY if mode == "maton" else MAILGUN_KEY

    def echo(request: Request) -> Response:  # a gateway that quotes what it was sent
        said = f"Invalid key {key} in {request.headers.get('Authorization')}"
        return Response(f'{{"message": "{said}"}}', status=401, content_type="application/json")

    httpserver.expect_request(f"{prefix}/v3/routes/echo").respond_with_handler(echo)
    client = make_client(mode)
    refused_url = f"http://127.0.0.1:{closed_port()}"
    if mode == "maton":
        refused = MailgunClient(ClientConfig.for_maton(MATON_KEY, gateway_url=refused_url, **FAST_RETRIES))
    else:
        refused = MailgunClient(ClientConfig.for_mailgun(MAILGUN_KEY, base_url=refused_url, **FAST_RETRIES))
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    for call in (
        lambda: client.messages.send(DOMAIN, {"to": "a@example.org"}),
        lambda: client.routes.get("r"),
        lambda: client.routes.get("u"),
        lambda: client.routes.get("echo"),
        lambda: asyncio.run(_async_get(client.config, "/v3/routes/echo")),
        lambda: refused.routes.get("r"),
    ):
        try:
            call()
        except Exception as err:
            errors.append(err)
    texts = [
        caplog.text,
        *map(str, errors),
        *map(repr, errors),
        repr(client),
        repr(client.config),
        repr(client.transport),
    ]
    basic = base64.b64encode(f"api:{key}".encode()).decode()
    assert "Retrying" in caplog.text  # the retries were logged, with their errors
    for text in texts:
        assert key not in text
        assert basic not in text
    assert len(errors) == 6


def test_the_environments_proxy_is_used(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test server plays the proxy: a request for another host arrives at it in absolute form.
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/").rstrip("/"))
    httpserver.expect_request("/v3/routes/r").respond_with_json({"route": {"id": "r"}})
    config = ClientConfig.for_mailgun(MAILGUN_KEY, base_url="http://api.mailgun.invalid", **FAST_RETRIES)
    with MailgunClient(config) as client:
        assert client.routes.get("r") == {"id": "r"}
        assert client.routes.get("r") == {"id": "r"}  # the second request goes the same way
    assert [request.host for request, _ in httpserver.log] == ["api.mailgun.invalid"] * 2


def test_no_proxy_hosts_are_reached_directly(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("no_proxy", raising=False)
    httpserver.expect_request("/v3/routes/r").respond_with_json({"route": {"id": "r"}})
    config = ClientConfig.for_mailgun(
        MAILGUN_KEY, base_url=httpserver.url_for("/").rstrip("/"), **FAST_RETRIES
    )
    with MailgunClient(config) as client:
        assert client.routes.get("r") == {"id": "r"}
