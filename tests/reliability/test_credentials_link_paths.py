"""Links from a server never leave the configured root's path prefix either (the Maton gateway's
``/mailgun``), whatever their dot-segments say.

requests (urllib3) and httpx remove ``.`` and ``..`` segments from a URL's path before sending it:
``<gateway>/mailgun/../other-app/x`` goes out as ``<gateway>/other-app/x``, with the Maton key,
to another app behind the same gateway. A link is rebuilt on the configured root, so its host is
right; its path must stay under the root's prefix too. The stand-in gateway here records every
request, and none may land outside ``/mailgun/``.

Also here, each passing: the other link shapes tried against the same rules (userinfo, ports,
scheme downgrade, IPv6 and IDNA hosts, whitespace, very long links, scheme-relative links).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_mailgun.client import MailgunClient
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.urls import resolve_url
from airflow_provider_mailgun.exceptions import UnsafeURLError
from tests.reliability.servers import Answer, RecordingServer

KEY = "key-paths-sentinel-3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e1b"
DOMAIN = "mg.example.com"
FIRST_PAGE = f"/mailgun/v3/{DOMAIN}/bounces"
EMPTY = json.dumps({"items": [], "paging": {}}).encode()

# Links whose path leaves /mailgun/ once a client removes dot-segments (or a server decodes them).
ESCAPES = [
    "{gateway}/mailgun/../other-app/v3/x",  # a link on the gateway itself
    "https://api.mailgun.net/../other-app/v3/x",  # Mailgun's own host, rebased onto the gateway
    "https://api.mailgun.net/v3/../../other-app/v3/x",
    "{gateway}/mailgun/%2e%2e/other-app/v3/x",  # percent-encoded dots (requests decodes them)
    "{gateway}/mailgun/%2E%2E%2Fother-app/v3/x",  # and an encoded slash
    "{gateway}/mailgun/./../other-app/v3/x",
    "/../other-app/v3/x",  # a path-only link
]


@pytest.fixture
def gateway_with(request: pytest.FixtureRequest) -> Iterator[Callable[[str], RecordingServer]]:
    servers: list[RecordingServer] = []

    def start(template: str) -> RecordingServer:
        holder: dict[str, RecordingServer] = {}

        def answer(req: dict[str, Any]) -> Answer:
            if urlsplit(req["path"]).path == FIRST_PAGE:
                link = template.format(gateway=holder["server"].url)
                body = {"items": [{"address": "a@example.org"}], "paging": {"next": link}}
                return 200, {}, json.dumps(body).encode()
            return 200, {}, EMPTY

        server = RecordingServer(answer=answer).__enter__()
        holder["server"] = server
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _maton(url: str) -> ClientConfig:
    return ClientConfig.for_maton(
        KEY, gateway_url=url, ctrl_url=f"{url}/ctrl", max_attempts=1, backoff_base=0.001
    )


def _outside_the_prefix(server: RecordingServer) -> list[str]:
    return [r["path"] for r in server.requests if not r["path"].startswith("/mailgun/")]


@pytest.mark.parametrize("template", ESCAPES)
def test_a_paging_link_cannot_leave_the_gateway_prefix(
    gateway_with: Callable[[str], RecordingServer], template: str
) -> None:
    gateway = gateway_with(template)
    client = MailgunClient(_maton(gateway.url))
    try:
        with pytest.raises(UnsafeURLError, match="Refusing"):
            list(client.bounces.iter(DOMAIN))
    finally:
        client.close()
    assert _outside_the_prefix(gateway) == [], "the Maton key went to another app on the gateway"


@pytest.mark.parametrize("template", ESCAPES)
def test_the_async_client_cannot_leave_the_gateway_prefix(
    gateway_with: Callable[[str], RecordingServer], template: str
) -> None:
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient

    gateway = gateway_with(template)
    link = template.format(gateway=gateway.url)

    async def read() -> Any:
        async with AsyncMailgunClient(_maton(gateway.url)) as client:
            return await client.events.read_page(link)

    with pytest.raises(UnsafeURLError, match="Refusing"):
        asyncio.run(read())
    assert _outside_the_prefix(gateway) == []


@pytest.mark.parametrize("status", [302, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_redirect_cannot_leave_the_gateway_prefix(status: int, method: str) -> None:
    holder: dict[str, RecordingServer] = {}

    def answer(req: dict[str, Any]) -> Answer:
        if req["path"].startswith("/mailgun/v3/"):
            return status, {"Location": f"{holder['server'].url}/mailgun/../other-app/v3/x"}, b""
        return 200, {}, EMPTY

    with RecordingServer(answer=answer) as gateway:
        holder["server"] = gateway
        client = MailgunClient(_maton(gateway.url))
        try:
            with pytest.raises(UnsafeURLError, match="Refusing"):
                client.transport.request(method, f"/v3/{DOMAIN}/tags", data=[("x", "1")])
        finally:
            client.close()
        assert _outside_the_prefix(gateway) == []
        assert len(gateway.requests) == 1  # the body and the key were not sent again anywhere


def test_a_redirect_within_the_prefix_resends_a_post_body_only_to_the_configured_root() -> None:
    # 307/308 keep the method and the body: the transport follows them itself, onto the root only.
    holder: dict[str, RecordingServer] = {}

    def answer(req: dict[str, Any]) -> Answer:
        if req["path"] == f"/mailgun/v3/{DOMAIN}/tags":
            return 307, {"Location": f"{holder['server'].url}/mailgun/v3/{DOMAIN}/moved"}, b""
        return 200, {}, json.dumps({"message": "ok"}).encode()

    with RecordingServer(answer=answer) as gateway:
        holder["server"] = gateway
        client = MailgunClient(_maton(gateway.url))
        try:
            client.transport.request("POST", f"/v3/{DOMAIN}/tags", data=[("x", "1")])
        finally:
            client.close()
        assert [(r["method"], r["path"], r["body"]) for r in gateway.requests] == [
            ("POST", f"/mailgun/v3/{DOMAIN}/tags", b"x=1"),
            ("POST", f"/mailgun/v3/{DOMAIN}/moved", b"x=1"),
        ]


# -------------------------------------------------------------------------- shapes that pass
DIRECT = "https://api.mailgun.net"
GATEWAY = "https://gateway.maton.ai"
REFUSED = [
    "https://api.mailgun.net:8443/v3/x",  # another port on the same host
    "http://api.mailgun.net/v3/x",  # a downgrade to http
    "https://api.mailgun.net./v3/x",  # a trailing dot: another name
    "https://[::1]/v3/x",  # an IPv6 literal
    "https://[::1/v3/x",  # an unclosed IPv6 bracket (urllib.parse raises ValueError)
    "https://api.xn--mailgn-vxa.net/v3/x",  # an IDNA look-alike
    "https://api.mailgün.net/v3/x",
    "https://api.mailgun.net%2F@evil.example/v3/x",  # an encoded slash in userinfo: host is evil
    "https://api.mailgun.net%40evil.example/v3/x",  # an encoded @ in the host
    " https://evil.example/v3/x",  # leading whitespace
    "https://evil.example\x00@api.mailgun.net/v3/x",  # a control character
    "https:/evil.example/v3/x",
    "https:///evil.example/v3/x",
    "v3/x",  # a relative link with no host
    "https://api.eu.mailgun.net/v3/x",  # the other region
    "https://gateway.maton.ai/mailgunx/v3/x",  # a look-alike prefix
]


@pytest.mark.parametrize("link", REFUSED)
@pytest.mark.parametrize("entrance", ["mailgun", "maton"])
def test_other_link_shapes_are_refused(link: str, entrance: str) -> None:
    config = ClientConfig.for_maton(KEY) if entrance == "maton" else ClientConfig.for_mailgun(KEY)
    with pytest.raises(UnsafeURLError):
        resolve_url(config, link)


@pytest.mark.parametrize(
    ("link", "direct", "maton"),
    [
        ("https://u:p@API.MAILGUN.NET:443/v3/x?p=1#f", f"{DIRECT}/v3/x?p=1", f"{GATEWAY}/mailgun/v3/x?p=1"),
        ("//evil.example/v3/x", f"{DIRECT}//evil.example/v3/x", f"{GATEWAY}/mailgun//evil.example/v3/x"),
        ("https://api.mail\ngun.net/v3/x\r\n", f"{DIRECT}/v3/x", f"{GATEWAY}/mailgun/v3/x"),
        (f"https://api.mailgun.net/v3/{'a' * 20000}", f"{DIRECT}/v3/{'a' * 20000}", None),
    ],
)
def test_accepted_shapes_are_rebuilt_on_the_configured_root(
    link: str, direct: str, maton: str | None
) -> None:
    assert resolve_url(ClientConfig.for_mailgun(KEY), link) == direct
    if maton is not None:
        assert resolve_url(ClientConfig.for_maton(KEY), link) == maton
