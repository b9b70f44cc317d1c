"""The watch window: each event reported once, late ones too, and a kept state that resumes exactly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._watch.batch import batch_payload
from airflow_provider_mailgun._watch.window import EventFilter, WatchedEvent, WatchWindow

SETTLE = 100.0


def ev(event_id: str, ts: float, event: str = "complained", **fields: object) -> WatchedEvent:
    return WatchedEvent(id=event_id, timestamp=ts, event=event, recipient=f"{event_id}@example.org", **fields)  # type: ignore[arg-type]


def test_each_event_is_reported_once_across_overlapping_reads() -> None:
    window = WatchWindow.starting_at(1000.0)
    first = window.take([ev("a", 1001), ev("b", 1002)], now=1010, settle_seconds=SETTLE)
    again = window.take([ev("a", 1001), ev("b", 1002), ev("c", 1005)], now=1020, settle_seconds=SETTLE)
    assert [e.id for e in first] == ["a", "b"]
    assert [e.id for e in again] == ["c"]


def test_an_event_indexed_late_is_still_reported_once() -> None:
    window = WatchWindow.starting_at(1000.0)
    assert [e.id for e in window.take([ev("b", 1050)], now=1060, settle_seconds=SETTLE)] == ["b"]
    # "a" happened before "b" but Mailgun indexed it only now: still inside the settle window.
    late = window.take([ev("a", 1040), ev("b", 1050)], now=1120, settle_seconds=SETTLE)
    assert [e.id for e in late] == ["a"]


def test_the_horizon_moves_to_the_settled_part_and_forgets_ids_before_it() -> None:
    window = WatchWindow.starting_at(1000.0)
    window.take([ev("a", 1001), ev("b", 1150)], now=1200, settle_seconds=SETTLE)
    assert window.horizon == 1100
    assert window.seen == {"b": 1150}
    assert window.read_from() < window.horizon  # rounding of ``begin`` cannot drop an event at it
    # An event older than the horizon (re-read through the margin) is never reported again.
    assert window.take([ev("a", 1001), ev("x", 1099.5)], now=1201, settle_seconds=SETTLE) == []


def test_a_read_stopped_by_the_page_cap_never_moves_the_horizon_past_what_it_read() -> None:
    window = WatchWindow.starting_at(1000.0)
    window.take([ev("a", 1010)], now=5000, settle_seconds=SETTLE, read_until=1010)
    assert window.horizon == 1010
    rest = window.take([ev("a", 1010), ev("b", 1010), ev("c", 2000)], now=5001, settle_seconds=SETTLE)
    assert [e.id for e in rest] == ["b", "c"]


def test_an_event_a_source_stamps_a_fraction_of_a_millisecond_earlier_is_neither_lost_nor_doubled() -> None:
    """The Logs API rounds times down to the millisecond: an event 0.4 ms after the horizon in the
    Events API reads 0.6 ms before it in Logs (a watch that moved from one API to the other)."""
    window = WatchWindow(horizon=1000.0005)
    assert [e.id for e in window.take([ev("late", 1000.000)], now=1010, settle_seconds=SETTLE)] == ["late"]

    window = WatchWindow.starting_at(999.0)
    window.take([ev("a", 1000.0009)], now=1100.0005, settle_seconds=SETTLE)  # Events; horizon 1000.0005
    assert window.take([ev("a", 1000.000)], now=1100.0006, settle_seconds=SETTLE) == []  # Logs
    restored = WatchWindow.from_state(json.loads(json.dumps(window.to_state())))
    assert restored.take([ev("a", 1000.000)], now=1100.0007, settle_seconds=SETTLE) == []


def test_an_id_reused_on_another_day_is_a_new_event() -> None:
    window = WatchWindow.starting_at(0.0)
    window.take([ev("a", 10)], now=20, settle_seconds=10**6)
    assert [e.timestamp for e in window.take([ev("a", 86_410)], now=86_420, settle_seconds=10**6)] == [86_410]


def test_state_round_trips_through_json_and_rejects_garbage() -> None:
    window = WatchWindow.starting_at(1000.0)
    window.take([ev("a", 1001)], now=1010, settle_seconds=SETTLE)
    restored = WatchWindow.from_state(json.loads(json.dumps({**window.to_state(), "watch": {"x": 1}})))
    assert restored == window
    for bad in ({}, {"version": 1, "horizon": "soon"}, {"version": 1, "horizon": 1.0, "seen": []}, None):
        with pytest.raises(ValueError):
            WatchWindow.from_state(bad)  # type: ignore[arg-type]


def test_merging_copies_keeps_the_furthest_horizon_and_every_reported_id() -> None:
    older = WatchWindow(1000.0, {"a": 1001.0, "b": 1200.0})
    newer = WatchWindow(1100.0, {"c": 1150.0})
    merged = WatchWindow.merged([older, newer])
    assert merged.horizon == 1100.0
    assert merged.seen == {"b": 1200.0, "c": 1150.0}


def test_filter_severity_applies_to_failures_only_and_tags_to_any() -> None:
    wanted = EventFilter(("complained", "failed"), severity="permanent", tags=("news", "promo"))
    assert wanted.matches(ev("a", 1, tags=("news",)))
    assert wanted.matches(ev("b", 1, "failed", severity="permanent", tags=("promo",)))
    assert not wanted.matches(ev("c", 1, "failed", severity="temporary", tags=("news",)))
    assert not wanted.matches(ev("d", 1, tags=("other",)))
    assert not wanted.matches(ev("e", 1, "delivered", tags=("news",)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events": ()}, "at least one event type"),
        ({"events": ("complaint",)}, "Unknown Mailgun event type"),
        ({"events": ("complained",), "severity": "permanent"}, "add 'failed'"),
        ({"events": ("failed",), "severity": "hard"}, "severity must be"),
    ],
)
def test_filter_refuses_what_mailgun_would_never_match(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventFilter(**kwargs)  # type: ignore[arg-type]


def test_batch_payload_counts_everything_and_caps_the_addresses() -> None:
    events = [ev(f"id{i}", 1000 + i, "failed" if i % 2 else "complained") for i in range(5)]
    payload = batch_payload(
        events, domain="mg.example.com", source="events", watch={}, horizon=900.0, max_addresses=3
    )
    assert payload["count"] == 5
    assert payload["events"] == {"complained": 3, "failed": 2}
    assert payload["addresses"] == ["id0@example.org", "id1@example.org", "id2@example.org"]
    assert payload["addresses_truncated"] is True
    assert (payload["first_timestamp"], payload["last_timestamp"]) == (1000, 1004)
    again = batch_payload(events, domain="mg.example.com", source="events", watch={}, horizon=1.0)
    assert again["batch_id"] == payload["batch_id"]  # same events, same id
    assert json.loads(json.dumps(payload)) == payload


arrivals = st.lists(
    st.tuples(st.floats(min_value=0, max_value=500), st.floats(min_value=0, max_value=90)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.lists(st.floats(min_value=1, max_value=60), min_size=1, max_size=30))
def test_every_event_indexed_within_the_settle_window_is_reported_exactly_once(
    happened: list[tuple[float, float]], poll_gaps: list[float]
) -> None:
    """Events stamped at t appear in reads from t + delay (delay < settle); polls at any times."""
    events = [ev(f"e{i}", 1000 + stamp, "complained") for i, (stamp, _delay) in enumerate(happened)]
    visible_at = {e.id: e.timestamp + delay for e, (_stamp, delay) in zip(events, happened, strict=True)}
    window = WatchWindow.starting_at(1000.0)
    reported: list[str] = []
    now = 1000.0
    for gap in [*poll_gaps, 10_000]:  # a last poll long after everything settled
        now += gap
        readable = [e for e in events if visible_at[e.id] <= now and e.timestamp >= window.read_from()]
        reported += [e.id for e in window.take(readable, now=now, settle_seconds=SETTLE)]
    assert sorted(reported) == sorted(e.id for e in events)
