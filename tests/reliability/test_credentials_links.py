"""Links from a server never carry the key elsewhere, whatever parser reads them.

``urllib.parse`` and urllib3 disagree on a backslash in the authority: for
``http://other:1\\@configured:2/v3/...`` the first sees host ``configured`` while urllib3 (and so
requests) connects to ``other``. A link or redirect written that way must not deliver the key to
``other``. Every place the client follows a URL it was given by a server is covered, through both
entrances (direct Mailgun with Basic auth, the Maton gateway with Bearer): cursor paging links of
each resource style, events page tokens (sensor, trigger, async client), redirects on reads and on
sends. A second local server records every request it gets and must receive none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from airflow_provider_mailgun.client import MailgunClient
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.exceptions import UnsafeURLError
from tests.reliability.conftest import accepted_events, assert_the_wait_refuses_the_link, set_connection
from tests.reliability.servers import RecordingServer

KEY = "key-links-sentinel-8d1f3a5c7e9b4d2f6a8c0e1b3d5f7a9c"
DOMAIN = "mg.example.com"
LIST = "news@mg.example.com"
ENTRANCES = ("mailgun", "maton")


@pytest.fixture
def foreign() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def _prefix(entrance: str) -> str:
    return "/mailgun" if entrance == "maton" else ""


def _confusing(foreign: RecordingServer, httpserver: HTTPServer, path: str) -> str:
    """A link urllib.parse reads as the configured host and urllib3 as the foreign one."""
    configured = urlsplit(httpserver.url_for("/")).netloc
    return f"{foreign.url}\\@{configured}{path}"


def _client(httpserver: HTTPServer, entrance: str) -> MailgunClient:
    base = httpserver.url_for("/").rstrip("/")
    options: dict[str, Any] = {"max_attempts": 2, "backoff_base": 0.001, "backoff_max": 0.01}
    if entrance == "maton":
        config = ClientConfig.for_maton(KEY, gateway_url=base, ctrl_url=f"{base}/ctrl", **options)
    else:
        config = ClientConfig.for_mailgun(KEY, base_url=base, **options)
    return MailgunClient(config)


def _connection(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, entrance: str) -> str:
    host = httpserver.url_for("/").rstrip("/")
    extra: dict[str, Any] = {"default_domain": DOMAIN, "max_attempts": 2}
    return set_connection(
        monkeypatch, f"links_{entrance}", conn_type=entrance, host=host, password=KEY, extra=extra
    )


def _assert_refused(foreign: RecordingServer, action: Callable[[], Any]) -> None:
    with pytest.raises(UnsafeURLError, match="Refusing to send credentials"):
        action()
    assert foreign.requests == [], "the key went to the foreign server"


# ------------------------------------------------------------------------ cursor paging, per style
PAGED = [
    # (resource, path of the first page, how to read every item)
    ("bounces", f"/v3/{DOMAIN}/bounces", lambda c: list(c.bounces.iter(DOMAIN))),
    ("members", f"/v3/lists/{LIST}/members/pages", lambda c: list(c.members.iter(LIST))),
    ("lists", "/v3/lists/pages", lambda c: list(c.lists.iter())),
    ("tags", f"/v3/{DOMAIN}/tags", lambda c: list(c.tags.iter(DOMAIN))),
    ("templates", f"/v3/{DOMAIN}/templates", lambda c: list(c.templates.iter(DOMAIN))),
    ("events", f"/v3/{DOMAIN}/events", lambda c: list(c.events.iter(DOMAIN, ascending=True))),
]


@pytest.mark.parametrize("entrance", ENTRANCES)
@pytest.mark.parametrize(("resource", "path", "read_all"), PAGED, ids=[p[0] for p in PAGED])
def test_a_confusing_paging_link_is_refused(
    httpserver: HTTPServer,
    foreign: RecordingServer,
    entrance: str,
    resource: str,
    path: str,
    read_all: Callable[[MailgunClient], Any],
) -> None:
    served = _prefix(entrance) + path
    # Events page tokens sit in the path; the other resources put the cursor in the query.
    tail = "/TOKEN2" if resource == "events" else "?page=next&p=2"
    httpserver.expect_request(served).respond_with_json(
        {"items": [{"address": "a@example.org", "id": "1"}], "paging": {"next": _confusing(
            foreign, httpserver, served + tail)}}
    )  # fmt: skip
    client = _client(httpserver, entrance)
    try:
        _assert_refused(foreign, lambda: read_all(client))
    finally:
        client.close()


@pytest.mark.parametrize("entrance", ENTRANCES)
def test_a_followed_link_goes_to_the_configured_host_rebuilt(
    httpserver: HTTPServer, foreign: RecordingServer, entrance: str
) -> None:
    # A legitimate next link is followed; what is requested is the configured root plus the link's
    # path and query (a userinfo part and a fragment are dropped, never sent).
    served = _prefix(entrance) + f"/v3/{DOMAIN}/bounces"
    configured = urlsplit(httpserver.url_for("/")).netloc
    next_link = f"http://someone@{configured}{served}?page=next&address=a%40example.org#frag"
    httpserver.expect_ordered_request(served).respond_with_json(
        {"items": [{"address": "a@example.org"}], "paging": {"next": next_link}}
    )
    httpserver.expect_ordered_request(
        served, query_string={"page": "next", "address": "a@example.org"}
    ).respond_with_json({"items": [], "paging": {}})
    client = _client(httpserver, entrance)
    try:
        assert [b["address"] for b in client.bounces.iter(DOMAIN)] == ["a@example.org"]
    finally:
        client.close()
    second = httpserver.log[1][0]
    assert second.headers.get("Authorization") is not None
    assert foreign.requests == []


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:1\\@{configured}/v3/x",  # the parser confusion
        "http://127.0.0.1:1%5C@{configured}/v3/x",  # the same, percent-encoded in userinfo: allowed
        "http://{configured}\\/v3/x",  # a backslash ending the authority
        "http://127.0.0.1:1 @{configured}/v3/x",  # a space
        "http://127.0.0.1:1^@{configured}/v3/x",  # a character outside RFC 3986's authority set
    ],
)
def test_only_rfc3986_authorities_are_followed(httpserver: HTTPServer, link: str) -> None:
    from airflow_provider_mailgun.client.urls import resolve_url

    configured = urlsplit(httpserver.url_for("/")).netloc
    config = ClientConfig.for_mailgun(KEY, base_url=httpserver.url_for("/"))
    url = link.format(configured=configured)
    if "%5C" in url:
        # Percent-encoded characters are allowed; the userinfo is dropped in the rebuilt link.
        assert resolve_url(config, url) == f"http://{configured}/v3/x"
    else:
        with pytest.raises(UnsafeURLError):
            resolve_url(config, url)


# ------------------------------------------------------------------------------------- redirects
def _redirecting(foreign: RecordingServer, status: int) -> RecordingServer:
    """A configured host whose every reply redirects to the confusing twin of the same path.

    A plain ``http.server`` writes the ``Location`` header byte for byte, as a hostile or broken
    server would; werkzeug would percent-encode the backslash.
    """
    server = RecordingServer(answer=lambda request: (status, {"Location": location(request["path"])}, b""))

    def location(path: str) -> str:
        return f"{foreign.url}\\@{urlsplit(server.url).netloc}{path}"

    return server


def _client_for(url: str, entrance: str) -> MailgunClient:
    options: dict[str, Any] = {"max_attempts": 2, "backoff_base": 0.001, "backoff_max": 0.01}
    if entrance == "maton":
        return MailgunClient(ClientConfig.for_maton(KEY, gateway_url=url, ctrl_url=f"{url}/ctrl", **options))
    return MailgunClient(ClientConfig.for_mailgun(KEY, base_url=url, **options))


@pytest.mark.parametrize("entrance", ENTRANCES)
@pytest.mark.parametrize("status", [302, 307])
def test_a_confusing_redirect_of_a_read_is_refused(
    foreign: RecordingServer, entrance: str, status: int
) -> None:
    with _redirecting(foreign, status) as configured:
        client = _client_for(configured.url, entrance)
        try:
            _assert_refused(foreign, lambda: client.lists.get(LIST))
        finally:
            client.close()
        assert len(configured.requests) == 1


@pytest.mark.parametrize("entrance", ENTRANCES)
def test_a_confusing_redirect_of_a_send_is_refused(
    foreign: RecordingServer, entrance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

    with _redirecting(foreign, 307) as configured:
        conn_id = set_connection(
            monkeypatch, f"redirect_{entrance}", conn_type=entrance, host=configured.url, password=KEY,
            extra={"default_domain": DOMAIN, "max_attempts": 2},
        )  # fmt: skip
        operator = MailgunSendMessageOperator(
            task_id="send", mailgun_conn_id=conn_id, to="a@example.org", from_email="n@mg.example.com",
            subject="s", text="t",
        )  # fmt: skip
        _assert_refused(foreign, lambda: operator.execute({}))  # type: ignore[arg-type]
        assert [r["method"] for r in configured.requests] == ["POST"]


def test_a_redirect_on_the_configured_host_is_followed_rebuilt(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(f"/v3/lists/{LIST}").respond_with_response(
        Response("", status=302, headers={"Location": f"/v3/lists/{LIST}?moved=1"})
    )
    httpserver.expect_ordered_request(f"/v3/lists/{LIST}", query_string="moved=1").respond_with_json(
        {"list": {"address": LIST}}
    )
    client = _client(httpserver, "mailgun")
    try:
        assert client.lists.get(LIST)["address"] == LIST
    finally:
        client.close()


# ---------------------------------------------------------------------- operators, sensor, trigger
@pytest.mark.parametrize("entrance", ENTRANCES)
def test_a_bounce_clearing_dry_run_does_not_send_the_key_elsewhere(
    httpserver: HTTPServer, foreign: RecordingServer, entrance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator

    served = _prefix(entrance) + f"/v3/{DOMAIN}/bounces"
    httpserver.expect_request(served).respond_with_json(
        {
            "items": [{"address": "a@example.org", "code": "421", "error": "", "created_at": ""}],
            "paging": {"next": _confusing(foreign, httpserver, served + "?page=next")},
        }
    )
    operator = MailgunClearBouncesOperator(
        task_id="clear", mailgun_conn_id=_connection(monkeypatch, httpserver, entrance), codes=["4xx"],
        dry_run=True,
    )  # fmt: skip
    _assert_refused(foreign, lambda: operator.execute({}))  # type: ignore[arg-type]


@pytest.mark.parametrize("entrance", ENTRANCES)
def test_a_confusing_events_link_fails_the_sensor_and_the_trigger_without_sending_the_key(
    httpserver: HTTPServer, foreign: RecordingServer, entrance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = _connection(monkeypatch, httpserver, entrance)
    served = _prefix(entrance) + f"/v3/{DOMAIN}/events"
    # A full page (300 events): the wait must read on, through the confusing link.
    httpserver.expect_request(served).respond_with_json(
        {
            "items": accepted_events(300),
            "paging": {"next": _confusing(foreign, httpserver, served + "/TOKEN")},
        }
    )
    assert_the_wait_refuses_the_link(conn_id, DOMAIN, foreign.requests)


@pytest.mark.parametrize("entrance", ENTRANCES)
def test_the_async_client_rebuilds_and_refuses_links_too(
    httpserver: HTTPServer, foreign: RecordingServer, entrance: str
) -> None:
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient

    client = _client(httpserver, entrance)
    config = client.config
    client.close()
    served = _prefix(entrance) + f"/v3/{DOMAIN}/events/TOKEN"
    httpserver.expect_request(served).respond_with_json({"items": [], "paging": {}})
    configured = urlsplit(httpserver.url_for("/")).netloc

    async def read(url: str) -> Any:
        async with AsyncMailgunClient(config) as async_client:
            return await async_client.events.read_page(url)

    with pytest.raises(UnsafeURLError, match="Refusing to send credentials"):
        asyncio.run(read(_confusing(foreign, httpserver, served)))
    # A link on the configured host is requested as the root plus its path (its userinfo dropped).
    assert asyncio.run(read(f"http://someone@{configured}{served}")).items == []
    assert len(httpserver.log) == 1
    assert foreign.requests == []
