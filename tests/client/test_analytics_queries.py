"""Analytics request bodies, their checks, the body pagers and the sliding Logs window (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_mailgun.client.analytics_query import (
    as_datetime,
    filter_group,
    logs_request,
    metrics_request,
    rfc2822,
    tags_request,
)
from airflow_provider_mailgun.client.logs_window import LogsWindow
from airflow_provider_mailgun.client.paging import body_pages, next_offset_body, next_token_body
from airflow_provider_mailgun.exceptions import MailgunQueryError

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 3, 9, tzinfo=timezone.utc)
T1 = datetime(2026, 3, 10, tzinfo=timezone.utc)


def test_logs_body_in_the_specs_shape() -> None:
    body = logs_request(
        start=T0,
        end="2026-03-10T00:00:00.250Z",
        events=["delivered", "failed", "delivered"],
        filter={"domain": "mg.example.com", "tag": ["a", "b"]},
        include_totals=True,
        now=NOW,
    )
    assert body == {
        "start": "Mon, 09 Mar 2026 00:00:00 +0000",
        "end": "Tue, 10 Mar 2026 00:00:01 +0000",  # rounded up: the window covers the one asked for
        "events": ["delivered", "failed"],
        "filter": {
            "AND": [
                {
                    "attribute": "domain",
                    "comparator": "=",
                    "values": [{"label": "mg.example.com", "value": "mg.example.com"}],
                },
                {
                    "attribute": "tag",
                    "comparator": "=",
                    "values": [{"label": "a", "value": "a"}, {"label": "b", "value": "b"}],
                },
            ]
        },
        "include_totals": True,
        "pagination": {"sort": "timestamp:asc", "limit": 100},
    }


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"start": T1, "end": T0}, "not before end"),
        ({"start": T0, "end": T0}, "not before end"),
        ({"start": NOW + timedelta(hours=1)}, "in the future"),
        ({"events": ["deliverd"]}, "Unknown event type(s) 'deliverd'"),
        ({"events": []}, "selects nothing"),
        ({"limit": 101}, "1..100"),
        ({"sort": "time:asc"}, "sort"),
        ({"start": "yesterday"}, "is not a time"),
        ({"filter": {"OR": []}}, "only 'AND'"),
        ({"filter": {"AND": [{"attribute": "domain", "comparator": "~", "values": ["x"]}]}}, "comparator"),
        ({"filter": {"AND": [{"attribute": "domain", "comparator": "=", "values": []}]}}, "no values"),
        ({"filter": {"AND": [{"attribute": "", "comparator": "=", "values": ["x"]}]}}, "attribute"),
        ({"filter": ["domain"]}, "mapping"),
        ({"filter": {"domain": [""]}}, "non-empty strings"),
    ],
)
def test_logs_bad_input_is_refused_with_one_clear_error(kwargs: dict, words: str) -> None:
    with pytest.raises(MailgunQueryError) as info:
        logs_request(now=NOW, **kwargs)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_metrics_body_and_its_checks() -> None:
    body = metrics_request(
        metrics=["delivered_count", "opened_rate"],
        dimensions=["time", "tag"],
        resolution="day",
        start=T0,
        end=T1,
        filter={"domain": "mg.example.com"},
        include_aggregates=True,
        now=NOW,
    )
    assert body["pagination"] == {"skip": 0, "limit": 1500}
    assert body["dimensions"] == ["time", "tag"]
    assert body["resolution"] == "day"
    assert (
        metrics_request(metrics="accepted_count", dimensions=["tag"], now=NOW)["pagination"]["limit"] == 1000
    )
    with pytest.raises(MailgunQueryError, match="Unknown dimension"):
        metrics_request(metrics=["delivered_count"], dimensions=["city"], now=NOW)
    with pytest.raises(MailgunQueryError, match="Unknown metric"):
        metrics_request(metrics=["delivered"], now=NOW)
    with pytest.raises(MailgunQueryError, match="Unknown filter attribute 'recipient'"):
        metrics_request(metrics=["delivered_count"], filter={"recipient": "a@x.org"}, now=NOW)
    with pytest.raises(MailgunQueryError, match="60 days"):
        metrics_request(
            metrics=["delivered_count"], resolution="hour", start=NOW - timedelta(days=61), now=NOW
        )
    with pytest.raises(MailgunQueryError, match="Duration"):
        metrics_request(metrics=["delivered_count"], duration="7 days", now=NOW)
    with pytest.raises(MailgunQueryError, match="Unknown dimension"):
        metrics_request(metrics=["email_validation_count"], dimensions=["tag"], usage=True, now=NOW)
    assert metrics_request(metrics=["email_validation_count"], usage=True, now=NOW)["dimensions"] == []


def test_tags_body() -> None:
    assert tags_request(tag="news", limit=50) == {
        "pagination": {"skip": 0, "limit": 50, "include_total": True},
        "tag": "news",
    }
    with pytest.raises(MailgunQueryError, match=r"1\.\.20"):
        tags_request(include_metrics=True, limit=50)


def test_times_in_every_accepted_form() -> None:
    expected = datetime(2026, 3, 9, 8, 30, tzinfo=timezone.utc)
    for value in (
        expected,
        expected.replace(tzinfo=None),
        expected.timestamp(),
        "2026-03-09T08:30:00Z",
        "Mon, 09 Mar 2026 09:30:00 +0100",
    ):
        assert as_datetime(value) == expected
    assert rfc2822(expected + timedelta(microseconds=1), round_up=True) == "Mon, 09 Mar 2026 08:30:01 +0000"


def test_shorthand_and_full_filters_agree() -> None:
    full = {"AND": [{"attribute": "tag", "comparator": "=", "values": [{"label": "x", "value": "x"}]}]}
    assert filter_group({"tag": "x"}) == full == filter_group(full)


def test_token_pager_follows_next_until_the_end_and_never_loops() -> None:
    replies = {
        None: {"items": [{"id": 1}], "pagination": {"next": "t1"}},
        "t1": {"items": [{"id": 2}], "pagination": {"next": "t2"}},
        "t2": {"items": [{"id": 3}], "pagination": {"next": "t1"}},  # a server handing back an old token
    }
    sent: list = []

    def post(body: dict) -> dict:
        sent.append(body["pagination"].get("token"))
        return replies[body["pagination"].get("token")]

    pages = list(body_pages(post, {"pagination": {"limit": 1}}, next_token_body))
    assert [p.items[0]["id"] for p in pages] == [1, 2, 3]
    assert sent == [None, "t1", "t2"]
    assert next_token_body({"pagination": {}}, {"items": [], "pagination": {"next": "x"}}) is None
    assert next_token_body({"pagination": {}}, {"items": [{}], "pagination": {}}) is None
    # A short page is not the end: the API does not promise full pages.
    assert next_token_body({"pagination": {"limit": 100}}, {"items": [{}], "pagination": {"next": "n"}})


def test_offset_pager_stops_on_a_short_page_or_the_total() -> None:
    body = {"pagination": {"skip": 0, "limit": 2}}
    assert next_offset_body(body, {"items": [{}, {}], "pagination": {"total": 5}}) == {
        "pagination": {"skip": 2, "limit": 2}
    }
    assert next_offset_body(body, {"items": [{}], "pagination": {"total": 5}}) is None
    assert next_offset_body(body, {"items": [{}, {}], "pagination": {"total": 2}}) is None


def test_sliding_window_counts_each_event_once_and_restarts_before_the_newest() -> None:
    window = LogsWindow(start=T0, overlap=timedelta(minutes=10))
    assert window.query_start() == T0
    first = [
        {"id": "a", "@timestamp": "2026-03-09T10:00:00.000Z"},
        {"id": "b", "@timestamp": "2026-03-09T10:05:00.000Z"},
    ]
    assert window.accept(first) == first
    assert window.query_start() == datetime(2026, 3, 9, 9, 55, tzinfo=timezone.utc)
    late = {"id": "c", "@timestamp": "2026-03-09T10:01:00.000Z"}  # indexed late, inside the overlap
    assert window.accept([*first, late]) == [late]
    assert len(window) == 3
    with pytest.raises(ValueError, match="overlap"):
        LogsWindow(start=T0, overlap=timedelta(seconds=-1))
