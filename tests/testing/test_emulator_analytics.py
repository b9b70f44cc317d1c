"""The emulator's Logs, Metrics, engagement and switches, over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from airflow_provider_mailgun.client.logs_window import LogsWindow
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.testing.api.logs_query import log_item
from airflow_provider_mailgun.testing.api.logs_render import LogItemRenderer
from airflow_provider_mailgun.testing.util import rfc2822


def _logs(api, **body):
    return api.post("/v1/analytics/logs", json=body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": ["bounced"]}, "Invalid event type in 'events': bounced"),
        ({"metric_events": ["nope"]}, "Invalid event type in 'metric_events'"),
        ({"start": "1700000000"}, "not an RFC 2822 date"),
        (
            {"start": "Tue, 10 Mar 2026 00:00:00 +0000", "end": "Mon, 09 Mar 2026 00:00:00 +0000"},
            "before 'end'",
        ),
        ({"pagination": {"limit": 101}}, "between 1 and 100"),
        ({"pagination": {"sort": "id:asc"}}, "pagination.sort"),
        ({"filter": {"OR": []}}, "Invalid 'filter'"),
        (
            {"filter": {"AND": [{"attribute": "message-id", "comparator": "=", "values": [{"value": "x"}]}]}},
            "attribute",
        ),
        ({"pagination": {"token": "garbage"}}, "Invalid pagination token"),
        ({"duration": "1w"}, "Invalid 'duration'"),
    ],
)
def test_logs_validation_errors(api, body, message) -> None:
    reply = _logs(api, **body)
    assert reply.status_code == 400
    assert message in reply.json()["message"]


def test_a_token_belongs_to_its_query(api, send) -> None:
    send(to=["a@example.com", "b@example.com"], **{"recipient-variables": "{}"})
    first = _logs(api, pagination={"limit": 1}).json()
    other = _logs(api, events=["delivered"], pagination={"limit": 1, "token": first["pagination"]["next"]})
    assert other.status_code == 400
    assert "another query" in other.json()["message"]


def test_domains_merge_in_time_order_and_filter(api, emu, send) -> None:
    emu.add_domain("second.example.com")
    send(to="a@example.com")
    send(to="b@example.com", domain="second.example.com")
    send(to="c@example.com", **{"o:tag": "x"})
    items = _logs(api).json()["items"]
    assert [i["domain"]["name"] for i in items] == [emu.domain] * 2 + ["second.example.com"] * 2 + [
        emu.domain
    ] * 2
    only = _logs(
        api,
        filter={
            "AND": [
                {
                    "attribute": "domain",
                    "comparator": "=",
                    "values": [{"label": "s", "value": "second.example.com"}],
                }
            ]
        },
    )
    assert {i["recipient"] for i in only.json()["items"]} == {"b@example.com"}
    newest_first = _logs(api, events=["accepted"], pagination={"sort": "timestamp:desc", "limit": 2}).json()
    assert [i["recipient"] for i in newest_first["items"]] == ["c@example.com", "b@example.com"]
    rest = _logs(
        api,
        events=["accepted"],
        pagination={"sort": "timestamp:desc", "limit": 2, "token": newest_first["pagination"]["next"]},
    )
    assert [i["recipient"] for i in rest.json()["items"]] == ["a@example.com"]
    tagged = _logs(
        api,
        filter={"AND": [{"attribute": "tag", "comparator": "!=", "values": [{"label": "x", "value": "x"}]}]},
    )
    assert "c@example.com" not in {i["recipient"] for i in tagged.json()["items"]}


def test_late_indexed_events_reach_a_sliding_window_once(mailgun_emulator_factory) -> None:
    emu: MailgunEmulator = mailgun_emulator_factory(
        faults={"late_event_rate": 0.5, "late_event_seconds": 2.0}
    )
    import requests

    session = requests.Session()
    session.auth = ("api", emu.mailgun_key)
    start = time.time() - 5
    fields = {"from": "a@mg.example.com", "subject": "s", "text": "t", "recipient-variables": "{}"}
    fields["to"] = [f"r{i}@example.com" for i in range(40)]
    session.post(f"{emu.url}/v3/{emu.domain}/messages", data=fields, timeout=10)
    window = LogsWindow(start=start, overlap=timedelta(minutes=5))
    counted: list[str] = []

    def poll() -> None:
        body = {
            "start": rfc2822(window.query_start().timestamp()),
            "events": ["delivered"],
            "pagination": {"limit": 100},
        }
        while True:
            page = session.post(f"{emu.url}/v1/analytics/logs", json=body, timeout=10).json()
            counted.extend(item["recipient"] for item in window.accept(page["items"]))
            token = page["pagination"].get("next")
            if not token:
                return
            body = {**body, "pagination": {"limit": 100, "token": token}}

    poll()
    assert 0 < len(counted) < 40  # about half are indexed late
    emu.advance_events(3)
    poll()
    assert sorted(counted) == sorted(f"r{i}@example.com" for i in range(40))


def test_fast_items_equal_the_reference_rendering(emu, send) -> None:
    send(
        to=["Ada <a@example.com>", "bounce@example.com", "complain@example.com"],
        cc="cc@example.com",
        files=[("attachment", ("a.txt", b"abc", "text/plain"))],
        **{
            "o:tag": "t",
            "recipient-variables": '{"a@example.com": {"n": "1"}}',
            "v:x": "%recipient.n%",
            "subject": "Hi %recipient.n%",
        },
    )
    send(to=["x@example.com", "y@example.com"], **{"o:deliverytime": "Thu, 01 Jan 2099 00:00:00 +0000"})
    emu.engage("clicked", recipient="a@example.com")
    emu.engage("unsubscribed", recipient="x@example.com")
    state = emu.state
    with state.lock:
        log = state.events.domains[emu.domain]
        renderer = LogItemRenderer(state.events, "http://h")
        for pos in range(len(log)):
            assert renderer.item(emu.domain, pos) == log_item(state.events, emu.domain, pos, "http://h")


def test_engagement_and_its_side_effects(api, emu, send) -> None:
    send(to=["a@example.com", "bounce@example.com"], **{"o:tag": "promo", "recipient-variables": "{}"})
    assert emu.engage("opened", tag="promo") == 1  # the bounced copy cannot be opened
    reply = api.post(
        f"{emu.url}/_emulator/engage", json={"event": "unsubscribed", "recipient": "a@example.com"}
    )
    assert reply.json() == {"added": 1}
    assert api.get(f"/v3/{emu.domain}/unsubscribes/a@example.com").json()["tags"] == ["promo"]
    assert [e["event"] for e in emu.events(recipient="a@example.com")] == [
        "accepted",
        "delivered",
        "opened",
        "unsubscribed",
    ]
    assert api.post(f"{emu.url}/_emulator/engage", json={"event": "read"}).status_code == 400


def test_switches_over_http(api, gw, emu) -> None:
    api.post(f"{emu.url}/_emulator/events_api", json={"enabled": False})
    assert api.get(f"/v3/{emu.domain}/events").status_code == 410
    api.post(f"{emu.url}/_emulator/events_api", json={"enabled": True})
    assert api.get(f"/v3/{emu.domain}/events").status_code == 200
    api.post(f"{emu.url}/_emulator/gateway", json={"forward_newer_apis": False})
    refused = gw.post("/v1/analytics/logs", json={})
    assert refused.status_code == 404
    assert "error" in refused.json()
    assert gw.get(f"/v3/{emu.domain}/events").status_code == 200


def test_metrics_validation_errors(api) -> None:
    old = rfc2822(time.time() - 61 * 86400)
    cases = [
        ({"metrics": []}, "'metrics' is required"),
        ({"metrics": ["x_count"]}, "Invalid metric: x_count"),
        ({"metrics": ["delivered_count"], "dimensions": ["planet"]}, "Invalid dimension: planet"),
        ({"metrics": ["delivered_count"], "resolution": "week"}, "Invalid resolution"),
        ({"metrics": ["delivered_count"], "resolution": "hour", "start": old}, "60 days"),
        ({"metrics": ["delivered_count"], "pagination": {"limit": 5000}}, "between 1 and"),
    ]
    for body, message in cases:
        reply = api.post("/v1/analytics/metrics", json=body)
        assert reply.status_code == 400, (body, reply.text)
        assert message in reply.json()["message"], (body, reply.text)
