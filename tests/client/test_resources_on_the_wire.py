"""What the resource methods put on the wire: bulk chunking, JSON vs form bodies, Maton's control host."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_provider_mailgun.client import MailgunClient
from airflow_provider_mailgun.exceptions import MailgunConfigError
from tests.client.conftest import MATON_KEY

ClientFactory = Callable[..., MailgunClient]
DOMAIN = "mg.example.com"
LIST = "news@mg.example.com"


def _recorder(reply: str = '{"message": "ok"}') -> tuple[list[Request], Callable[[Request], Response]]:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        request.get_data()  # read the body while the request is alive
        seen.append(request)
        return Response(reply, content_type="application/json")

    return seen, handler


def _form(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.get_data(as_text=True), keep_blank_values=True)


def test_member_bulk_upsert_goes_to_members_json_in_chunks_of_1000(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    seen, handler = _recorder('{"message": "Mailing list upload started in background", "task-id": "1"}')
    httpserver.expect_request(f"/v3/lists/{LIST}/members.json", method="POST").respond_with_handler(handler)
    members = [{"address": f"m{i:04d}@example.org", "vars": {"n": i}} for i in range(2500)]
    replies = make_client().members.upsert_many(LIST, members)
    assert len(replies) == 3
    uploads = []
    for request in seen:
        assert (request.content_type or "").startswith("application/x-www-form-urlencoded")
        fields = dict(_form(request))
        assert fields["upsert"] == "yes"
        uploads.append(json.loads(fields["members"]))
    assert [len(chunk) for chunk in uploads] == [1000, 1000, 500]
    assert [m for chunk in uploads for m in chunk] == members


def test_member_upload_of_more_than_1000_in_one_call_is_refused(make_client: ClientFactory) -> None:
    with pytest.raises(ValueError, match="At most 1000"):
        make_client().members.upload_chunk(LIST, ["a@example.org"] * 1001)


@pytest.mark.parametrize("kind", ["bounces", "unsubscribes", "complaints"])
def test_suppression_bulk_add_is_json_arrays_of_at_most_1000(
    httpserver: HTTPServer, make_client: ClientFactory, kind: str
) -> None:
    seen, handler = _recorder('{"message": "2001 addresses have been added"}')
    httpserver.expect_request(f"/v3/{DOMAIN}/{kind}", method="POST").respond_with_handler(handler)
    records = [{"address": f"s{i:04d}@example.org"} for i in range(2001)]
    make_client().suppressions(kind).add_many(DOMAIN, records)
    assert [r.mimetype for r in seen] == ["application/json"] * 3
    batches = [json.loads(r.get_data()) for r in seen]
    assert [len(b) for b in batches] == [1000, 1000, 1]
    assert [r for b in batches for r in b] == records


def test_whitelists_have_no_bulk_add(make_client: ClientFactory) -> None:
    with pytest.raises(ValueError, match="no bulk insert"):
        make_client().whitelists.add_many(DOMAIN, [{"address": "a@example.org"}])


def test_suppression_single_add_delete_and_delete_all(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    seen, handler = _recorder()
    httpserver.expect_request(f"/v3/{DOMAIN}/whitelists", method="POST").respond_with_handler(handler)
    httpserver.expect_request(
        f"/v3/{DOMAIN}/unsubscribes/a+b@example.org", method="DELETE"
    ).respond_with_handler(handler)
    httpserver.expect_request(f"/v3/{DOMAIN}/complaints", method="DELETE").respond_with_handler(handler)
    client = make_client()
    client.whitelists.add(DOMAIN, domain="partner.example.org")
    client.unsubscribes.delete(DOMAIN, "a+b@example.org", tag="weekly")
    client.complaints.delete_all(DOMAIN)
    assert _form(seen[0]) == [("domain", "partner.example.org")]
    assert seen[1].args["tag"] == "weekly"
    assert [r.method for r in seen] == ["POST", "DELETE", "DELETE"]


def test_form_fields_of_routes_webhooks_tracking_and_stats(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    seen, handler = _recorder('{"message": "ok", "stats": []}')
    for path in (
        "/v3/routes",
        f"/v3/domains/{DOMAIN}/webhooks",
        f"/v3/domains/{DOMAIN}/tracking/click",
        f"/v3/domains/{DOMAIN}/tracking/unsubscribe",
        f"/v3/{DOMAIN}/stats/total",
    ):
        httpserver.expect_request(path).respond_with_handler(handler)
    client = make_client()
    client.routes.create(expression="catch_all()", actions=['forward("https://h.example.org/")', "stop()"])
    client.webhooks.create(DOMAIN, "delivered", ["https://h.example.org/a", "https://h.example.org/b"])
    client.tracking.update(DOMAIN, "click", active="htmlonly")
    client.tracking.update(DOMAIN, "unsubscribe", active=False, text_footer="bye")
    client.stats.totals(DOMAIN, ["accepted", "delivered"], duration="1d")
    route, webhook, click, unsubscribe = (_form(r) for r in seen[:4])
    assert [v for k, v in route if k == "action"] == ['forward("https://h.example.org/")', "stop()"]
    assert webhook == [
        ("id", "delivered"),
        ("url", "https://h.example.org/a"),
        ("url", "https://h.example.org/b"),
    ]
    assert (seen[2].method, click) == ("PUT", [("active", "htmlonly")])
    assert (seen[3].method, unsubscribe) == ("PUT", [("active", "no"), ("text_footer", "bye")])
    assert seen[4].args.getlist("event") == ["accepted", "delivered"]
    assert seen[4].args["duration"] == "1d"
    with pytest.raises(ValueError, match="open, click or unsubscribe"):
        client.tracking.update(DOMAIN, "bounce", active=True)  # type: ignore[arg-type]


def test_maton_connections_live_on_the_control_host(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    seen, handler = _recorder(
        '{"connections": [{"connection_id": "c1", "status": "ACTIVE"}],'
        ' "connection": {"connection_id": "c2", "status": "PENDING"}}'
    )
    httpserver.expect_request("/ctrl/connections").respond_with_handler(handler)
    httpserver.expect_request("/ctrl/connections/c2").respond_with_handler(handler)
    client = make_client("maton", maton_connection="c1")
    assert client.connections.list(status="ACTIVE") == [{"connection_id": "c1", "status": "ACTIVE"}]
    assert client.connections.create() == {"connection_id": "c2", "status": "PENDING"}
    assert client.connections.get("c2")["status"] == "PENDING"
    client.connections.delete("c2")
    assert [(r.method, r.path) for r in seen] == [
        ("GET", "/ctrl/connections"),
        ("POST", "/ctrl/connections"),
        ("GET", "/ctrl/connections/c2"),
        ("DELETE", "/ctrl/connections/c2"),
    ]
    assert dict(seen[0].args) == {"app": "mailgun", "status": "ACTIVE"}
    assert json.loads(seen[1].get_data()) == {"app": "mailgun"}
    assert {r.headers["Authorization"] for r in seen} == {f"Bearer {MATON_KEY}"}


def test_control_host_redirects_stay_on_the_control_host(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    httpserver.expect_request("/ctrl/connections/old").respond_with_data(
        "", status=302, headers={"Location": "/ctrl/connections/new"}
    )
    httpserver.expect_request("/ctrl/connections/new").respond_with_json(
        {"connection": {"connection_id": "new"}}
    )
    assert make_client("maton").connections.get("old") == {"connection_id": "new"}


def test_a_direct_connection_has_no_control_host(make_client: ClientFactory) -> None:
    with pytest.raises(MailgunConfigError, match="control host"):
        make_client().connections.list()
