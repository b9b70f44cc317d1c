"""Incremental event reading against an in-memory model of Mailgun's events API with late indexing.

The model pages by timestamp pivot, as Mailgun does: a link means "events after (timestamp, id)",
and an event indexed late with an older timestamp lands behind links already handed out. Mailgun
promises such back-fill settles within a threshold; the cursor must still count every event, once.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_provider_mailgun._delivery.polling import DeliveryWait, EventCursor
from airflow_provider_mailgun._delivery.state import DeliveryGoal, DeliveryTracker
from airflow_provider_mailgun.client.paging import Page

MESSAGE_ID = "20240101.1.AAAA@mg.example.com"
SETTLE = 30.0


@dataclass
class ModelEvents:
    """Mailgun's events API as a pure model: ascending, timestamp pivots, late indexing."""

    events: list[dict[str, Any]] = field(default_factory=list)
    now: float = 0.0
    requests: int = 0

    def add(self, ts: float, lag: float, recipient: str) -> None:
        self.events.append(
            {
                "event": "delivered",
                "id": f"e{len(self.events)}",
                "timestamp": ts,
                "recipient": recipient,
                "message": {"headers": {"message-id": MESSAGE_ID}},
                "_indexed_at": ts + lag,
            }
        )

    def _after(self, pivot: tuple[float, str], limit: int) -> Page:
        self.requests += 1
        visible = sorted(
            (e for e in self.events if e["_indexed_at"] <= self.now and (e["timestamp"], e["id"]) > pivot),
            key=lambda e: (e["timestamp"], e["id"]),
        )[:limit]
        last = (visible[-1]["timestamp"], visible[-1]["id"]) if visible else pivot
        url = f"page:{pivot[0]!r}:{pivot[1]}:{limit}"
        return Page(items=visible, url=url, next_url=f"page:{last[0]!r}:{last[1]}:{limit}")

    def first_page(self, domain: str, **query: Any) -> Page:
        assert query["ascending"] is True
        assert query["event"] == ["delivered", "failed"]
        return self._after((float(query["begin"]), ""), int(query["limit"]))

    def read_page(self, url: str) -> Page:
        _, ts, event_id, limit = url.split(":")
        return self._after((float(ts), event_id), int(limit))


def new_wait(recipients: int, *, limit: int = 3, settle: float = SETTLE) -> DeliveryWait:
    goal = DeliveryGoal((MESSAGE_ID,), expected={MESSAGE_ID: max(recipients, 1)})
    return DeliveryWait(goal, domain="mg.example.com", begin=-1.0, settle_seconds=settle, page_limit=limit)


def seen(wait: DeliveryWait) -> set[str]:
    state = wait.tracker.to_dict()["ids"].get(MESSAGE_ID, {})
    return set(state.get("success", []))


def checked(model: ModelEvents, wait: DeliveryWait, now: float) -> int:
    model.now = now
    before = model.requests
    wait.check(model, now=now)
    return model.requests - before


def test_first_check_reads_each_page_once_and_an_idle_check_costs_one_request() -> None:
    model = ModelEvents()
    for i in range(10):
        model.add(ts=float(i), lag=0.0, recipient=f"r{i}@x.org")
    wait = new_wait(10)
    assert checked(model, wait, now=20.0) == math.ceil(10 / 3)  # the short last page ends the check
    assert seen(wait) == {f"r{i}@x.org" for i in range(10)}
    assert checked(model, wait, now=21.0) == 1
    assert checked(model, wait, now=22.0) == 1
    model.add(ts=22.0, lag=0.0, recipient="late@x.org")
    assert checked(model, wait, now=23.0) == 1  # the kept link returns just the new event
    assert "late@x.org" in seen(wait)


def test_exactly_full_last_page_costs_one_extra_request() -> None:
    model = ModelEvents()
    for i in range(6):
        model.add(ts=float(i), lag=0.0, recipient=f"r{i}@x.org")
    assert checked(model, new_wait(6), now=10.0) == 3  # two full pages and one empty


def test_settled_pages_move_the_trusted_link_with_the_frontier() -> None:
    model = ModelEvents()
    for i in range(7):
        model.add(ts=float(i), lag=0.0, recipient=f"r{i}@x.org")
    wait = new_wait(7, settle=0.0)
    checked(model, wait, now=100.0)
    assert wait.cursor.trusted == wait.cursor.frontier
    assert wait.cursor.gate is None


def test_event_indexed_late_behind_the_frontier_is_found_by_the_sweep() -> None:
    model = ModelEvents()
    for i in range(5):
        model.add(ts=float(i), lag=0.0, recipient=f"r{i}@x.org")
    model.add(ts=2.5, lag=10.0, recipient="backfilled@x.org")  # indexed at 12.5, behind the frontier
    wait = new_wait(6)
    checked(model, wait, now=5.0)
    assert "backfilled@x.org" not in seen(wait)
    assert wait.cursor.gate is not None
    checked(model, wait, now=20.0)  # indexed by now, but the frontier is past its timestamp
    assert "backfilled@x.org" not in seen(wait)
    assert wait.tracker.decide().status == "pending"
    cost = checked(model, wait, now=5.0 + SETTLE)  # the first page has settled: sweep from trusted
    assert "backfilled@x.org" in seen(wait)
    assert wait.tracker.decide().status == "success"
    assert cost <= 3 + 1
    assert checked(model, wait, now=100.0) <= 2  # settled now: the sweep catches up, then idles
    assert checked(model, wait, now=101.0) == 1
    assert wait.cursor.gate is None


def test_cursor_round_trips() -> None:
    cursor = EventCursor("a", "b", 1.5)
    assert EventCursor.from_dict(cursor.to_dict()) == cursor
    assert EventCursor.from_dict(None) == EventCursor()


def test_resume_continues_where_the_state_stopped() -> None:
    model = ModelEvents()
    for i in range(8):
        model.add(ts=float(i), lag=0.0, recipient=f"r{i}@x.org")
    first = new_wait(8)
    checked(model, first, now=10.0)
    resumed = DeliveryWait.resume(
        first.goal, first.state(), domain="mg.example.com", begin=-1.0, settle_seconds=SETTLE, page_limit=3
    )
    assert checked(model, resumed, now=11.0) == 1
    assert resumed.tracker.decide().status == "success"


arrivals = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda x: round(x, 1)),
        st.sampled_from([0.0, 0.0, 0.0, 1.0, 5.0, 20.0, 29.0]),  # indexing lag, always under SETTLE
    ),
    max_size=40,
)
check_times = st.lists(st.floats(min_value=0, max_value=160, allow_nan=False), max_size=25).map(sorted)


@settings(max_examples=300, deadline=None)
@given(arrivals, check_times, st.sampled_from([1, 2, 3, 300]))
def test_every_event_is_counted_once_whatever_the_indexing_order(
    events: list[tuple[float, float]], times: list[float], limit: int
) -> None:
    model = ModelEvents()
    for i, (ts, lag) in enumerate(events):
        model.add(ts=ts, lag=lag, recipient=f"r{i}@x.org")
    wait = new_wait(len(events), limit=limit)
    for now in times:
        checked(model, wait, now)
        if all(lag == 0.0 for _, lag in events):  # no late indexing: every visible event is counted
            assert seen(wait) == {e["recipient"] for e in model.events if e["_indexed_at"] <= now}
        assert seen(wait) <= {e["recipient"] for e in model.events if e["_indexed_at"] <= now}
    end = 100 + 30 + SETTLE + 1  # everything indexed and settled
    checked(model, wait, end)
    checked(model, wait, end + 1)
    assert seen(wait) == {e["recipient"] for e in model.events}
    reference = DeliveryTracker(wait.goal)
    reference.ingest(model.events)
    assert wait.tracker.to_dict() == reference.to_dict()
    # Once all is settled and read, an idle check costs one request.
    assert checked(model, wait, end + 2) == 1
    # Each region of the log is read about twice at most (fresh, then settled), plus one per check.
    pages = math.ceil(len(events) / limit) + 1
    assert model.requests <= 2 * pages + 3 * (len(times) + 3)


def test_a_check_reads_a_bounded_number_of_pages_and_the_next_check_continues(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over real HTTP: an events source that never runs out of full pages (each with a new token).
    from airflow_provider_mailgun._delivery import polling as event_polling
    from airflow_provider_mailgun.client import ClientConfig, MailgunClient

    monkeypatch.setattr(event_polling, "MAX_PAGES_PER_CHECK", 20, raising=False)
    served = {"pages": 0}

    def handler(request: Request) -> Response:
        served["pages"] += 1
        if served["pages"] > 100:  # the check never stopped: fail the request, and so the test
            return Response('{"message": "endless"}', status=400, content_type="application/json")
        page = served["pages"]
        items = [
            {"event": "delivered", "id": f"e{page}.{i}", "timestamp": 1.0 + page + i / 1000,
             "recipient": f"r{page}.{i}@x.org", "message": {"headers": {"message-id": MESSAGE_ID}}}
            for i in range(3)
        ]  # fmt: skip
        next_url = httpserver.url_for(f"/v3/mg.example.com/events/T{page}")
        return Response(
            json.dumps({"items": items, "paging": {"next": next_url}}), content_type="application/json"
        )

    httpserver.expect_request(re.compile(r"/v3/mg\.example\.com/events.*")).respond_with_handler(handler)
    client = MailgunClient(ClientConfig.for_mailgun("k" * 20, base_url=httpserver.url_for("/")))
    wait = new_wait(10_000)
    try:
        wait.check(client.events, now=1e9)
        assert served["pages"] == 20
        wait.check(client.events, now=1e9)  # carries on where the first check stopped
    finally:
        client.close()
    assert served["pages"] == 40
    assert len(seen(wait)) == 40 * 3
