"""Both paging styles over real HTTP, gateway rebasing, and the host allow-list."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_provider_mailgun.client import MailgunClient
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.urls import resolve_url, segment, strip_message_id
from airflow_provider_mailgun.exceptions import MailgunConfigError, UnsafeURLError

ClientFactory = Callable[..., MailgunClient]
DOMAIN = "mg.example.com"


def _page(items: list[dict[str, Any]] | None, next_url: str) -> dict[str, Any]:
    return {"items": items, "paging": {"first": "f", "last": "l", "next": next_url, "previous": "p"}}


def test_cursor_paging_stops_on_empty_terminal_page_whose_next_is_present(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    base = httpserver.url_for("")
    httpserver.expect_ordered_request("/v3/lists/l@x.org/members/pages").respond_with_json(
        _page([{"address": "a@x.org"}], f"{base}/v3/lists/l@x.org/members/pages?page=next&address=a@x.org")
    )
    httpserver.expect_ordered_request(
        "/v3/lists/l@x.org/members/pages", query_string={"page": "next", "address": "a@x.org"}
    ).respond_with_json(
        _page([{"address": "b@x.org"}], f"{base}/v3/lists/l@x.org/members/pages?page=next&address=b@x.org")
    )
    httpserver.expect_ordered_request("/v3/lists/l@x.org/members/pages").respond_with_json(
        _page([], f"{base}/v3/lists/l@x.org/members/pages?page=next&address=b@x.org&again=1")
    )
    members = list(make_client().members.iter("l@x.org"))
    assert [m["address"] for m in members] == ["a@x.org", "b@x.org"]
    assert len(httpserver.log) == 3
    assert httpserver.log[0][0].args["limit"] == "100"


def test_items_null_past_the_last_page_ends_iteration(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    base = httpserver.url_for("")
    httpserver.expect_ordered_request(f"/v3/{DOMAIN}/bounces").respond_with_json(
        _page(
            [{"address": "a@x.org", "code": "550"}], f"{base}/v3/{DOMAIN}/bounces?page=next&address=a@x.org"
        )
    )
    httpserver.expect_ordered_request(f"/v3/{DOMAIN}/bounces").respond_with_json(
        _page(None, f"{base}/v3/{DOMAIN}/bounces?page=next&address=a@x.org")
    )
    assert [b["address"] for b in make_client().bounces.iter(DOMAIN)] == ["a@x.org"]
    assert httpserver.log[0][0].args["limit"] == "1000"


def test_a_repeated_next_link_stops_paging(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    base = httpserver.url_for("")
    loop = f"{base}/v3/{DOMAIN}/tags?page=next&tag=t"
    httpserver.expect_request(f"/v3/{DOMAIN}/tags").respond_with_json(_page([{"tag": "t"}], loop))
    # The second read repeats the first page's items: they are not yielded twice.
    assert len(list(make_client().tags.iter(DOMAIN))) == 1
    assert len(httpserver.log) == 2


def test_events_follow_path_tokens_exactly(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    base = httpserver.url_for("")
    httpserver.expect_ordered_request(f"/v3/{DOMAIN}/events").respond_with_json(
        _page([{"event": "accepted", "id": "1"}], f"{base}/v3/{DOMAIN}/events/TOKEN1")
    )
    httpserver.expect_ordered_request(f"/v3/{DOMAIN}/events/TOKEN1").respond_with_json(
        _page([{"event": "delivered", "id": "2"}], f"{base}/v3/{DOMAIN}/events/TOKEN2")
    )
    httpserver.expect_ordered_request(f"/v3/{DOMAIN}/events/TOKEN2").respond_with_json(
        _page([], f"{base}/v3/{DOMAIN}/events/TOKEN3")
    )
    client = make_client()
    events = list(client.events.iter(DOMAIN, ascending=True, begin=1700000000, message_id="<abc@x>"))
    assert [e["id"] for e in events] == ["1", "2"]
    first = httpserver.log[0][0].args
    assert first["message-id"] == "abc@x"
    assert first["ascending"] == "yes"
    assert first["limit"] == "300"
    assert first["begin"] == "1700000000.000000"
    assert "begin" not in httpserver.log[1][0].args


def test_skip_limit_paging_uses_total_count(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    def handler(request: Request) -> Response:
        skip, limit = int(request.args["skip"]), int(request.args["limit"])
        items = [{"id": str(i)} for i in range(skip, min(skip + limit, 5))]
        return Response(
            f'{{"total_count": 5, "items": {items!r}}}'.replace("'", '"'), content_type="application/json"
        )

    httpserver.expect_request("/v3/routes").respond_with_handler(handler)
    routes = list(make_client().routes.iter(limit=2))
    assert [r["id"] for r in routes] == ["0", "1", "2", "3", "4"]
    assert len(httpserver.log) == 3


def test_gateway_paging_links_are_rebased_onto_the_gateway(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    httpserver.expect_ordered_request("/mailgun/v3/lists/pages").respond_with_json(
        _page([{"address": "l1@x.org"}], "https://api.mailgun.net/v3/lists/pages?page=next&address=l1@x.org")
    )
    httpserver.expect_ordered_request(
        "/mailgun/v3/lists/pages", query_string={"page": "next", "address": "l1@x.org"}
    ).respond_with_json(_page([], "https://api.mailgun.net/v3/lists/pages?page=next&address=l1@x.org"))
    assert [item["address"] for item in make_client("maton").lists.iter()] == ["l1@x.org"]
    assert len(httpserver.log) == 2


def test_paging_link_to_another_host_is_refused_without_a_request(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    httpserver.expect_request(f"/v3/{DOMAIN}/bounces").respond_with_json(
        _page([{"address": "a@x.org"}], "https://evil.example.net/v3/steal?page=next")
    )
    with pytest.raises(UnsafeURLError, match=r"evil\.example\.net"):
        list(make_client().bounces.iter(DOMAIN))
    assert len(httpserver.log) == 1


def test_redirect_to_another_host_is_refused(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    httpserver.expect_request("/v3/routes/r").respond_with_data(
        "", status=302, headers={"Location": "https://evil.example.net/grab"}
    )
    with pytest.raises(UnsafeURLError, match=r"evil\.example\.net"):
        make_client().routes.get("r")


def test_resolve_url_rules() -> None:
    maton = ClientConfig.for_maton("k" * 20, gateway_url="https://gw.example.com/prefix")
    assert resolve_url(maton, "/v3/domains") == "https://gw.example.com/prefix/mailgun/v3/domains"
    assert (
        resolve_url(maton, "https://api.mailgun.net/v3/x/events/TOK?a=1")
        == "https://gw.example.com/prefix/mailgun/v3/x/events/TOK?a=1"
    )
    # A private gateway has no control host unless one is configured: the key stays with it.
    with pytest.raises(MailgunConfigError, match="ctrl_url"):
        resolve_url(maton, "/connections", "ctrl")
    public = ClientConfig.for_maton("k" * 20)
    assert resolve_url(public, "/connections", "ctrl") == "https://ctrl.maton.ai/connections"
    direct = ClientConfig.for_mailgun("k" * 20, region="eu")
    assert resolve_url(direct, "https://api.eu.mailgun.net/v3/a") == "https://api.eu.mailgun.net/v3/a"
    for foreign in (
        "https://api.mailgun.net/v3/a",
        "http://api.eu.mailgun.net/v3/a",
        "https://api.eu.mailgun.net.evil.org/v3/a",
    ):
        with pytest.raises(UnsafeURLError):
            resolve_url(direct, foreign)
    with pytest.raises(UnsafeURLError):
        resolve_url(maton, "https://gw.example.com/other/v3/a")


def test_path_segments_and_message_ids() -> None:
    assert segment("a+b@x.org") == "a%2Bb@x.org"
    with pytest.raises(ValueError, match="must not contain"):
        segment("mg.example.com/../v3", "domain")
    with pytest.raises(ValueError, match="Empty"):
        segment("  ")
    assert strip_message_id(" <abc@mg.x> ") == "abc@mg.x"


@pytest.mark.parametrize(
    ("pages", "expected_ids"),
    [
        # No total_count: a short page is the last one.
        ([{"items": [{"id": "1"}, {"id": "2"}]}, {"items": [{"id": "3"}]}], ["1", "2", "3"]),
        # A server that ignores skip answers the same page again: stop instead of looping.
        ([{"items": [{"id": "1"}, {"id": "2"}]}] * 3, ["1", "2"]),
    ],
    ids=["short-page", "skip-ignored"],
)
def test_skip_limit_paging_without_total_count_ends(
    httpserver: HTTPServer, make_client: ClientFactory, pages: list[dict[str, Any]], expected_ids: list[str]
) -> None:
    for page in pages:
        httpserver.expect_ordered_request("/v3/routes").respond_with_json(page)
    assert [r["id"] for r in make_client().routes.iter(limit=2)] == expected_ids
    assert len(httpserver.log) == 2


def test_default_ports_are_the_same_origin() -> None:
    direct = ClientConfig.for_mailgun("k" * 20, region="eu")
    link = "https://api.eu.mailgun.net:443/v3/d/bounces?page=next"
    # Followed on the configured root: the link's own spelling of the origin is not kept.
    assert resolve_url(direct, link) == "https://api.eu.mailgun.net/v3/d/bounces?page=next"
    with pytest.raises(UnsafeURLError):
        resolve_url(direct, "https://api.eu.mailgun.net:8443/v3/d/bounces")
    with pytest.raises(UnsafeURLError):
        resolve_url(direct, "https://api.eu.mailgun.net:bad/v3/d/bounces")
    maton = ClientConfig.for_maton("k" * 20)
    assert resolve_url(maton, "https://api.mailgun.net:443/v3/lists/pages?page=next") == (
        "https://gateway.maton.ai/mailgun/v3/lists/pages?page=next"
    )


def _endless(httpserver: HTTPServer, path: str, repeat_items: bool, limit: int = 250) -> None:
    """A server that hands out a new cursor with items on every page (stops answering at ``limit``)."""
    served = {"pages": 0}

    def handler(request: Request) -> Response:
        served["pages"] += 1
        if served["pages"] > limit:  # the client never stopped: fail the request, and so the test
            return Response('{"message": "endless"}', status=400, content_type="application/json")
        page = served["pages"]
        item = {"address": "same@x.org"} if repeat_items else {"address": f"a{page}@x.org"}
        body = _page([item], httpserver.url_for(f"{path}?page=next&cursor={page}"))
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(path).respond_with_handler(handler)


def test_a_source_that_never_stops_paging_is_cut_off_with_an_error(
    httpserver: HTTPServer, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mailgun.client import paging
    from airflow_provider_mailgun.exceptions import MailgunError

    monkeypatch.setattr(paging, "MAX_PAGES", 50, raising=False)
    _endless(httpserver, f"/v3/{DOMAIN}/bounces", repeat_items=False)
    with pytest.raises(MailgunError, match="did not end after 50 pages"):
        list(make_client().bounces.iter(DOMAIN))
    assert len(httpserver.log) == 50


def test_a_source_that_repeats_its_page_under_new_cursors_stops(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    _endless(httpserver, f"/v3/{DOMAIN}/bounces", repeat_items=True)
    assert [b["address"] for b in make_client().bounces.iter(DOMAIN)] == ["same@x.org"]
    assert len(httpserver.log) == 2
