"""The shared decision: a join of best outcomes per recipient, and the rules built on it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._delivery.state import (
    MAX_FAILURES_IN_MESSAGE,
    DeliveryGoal,
    DeliveryTracker,
    failure_message,
)

ID_A, ID_B = "20240101.1.AAAA@mg.example.com", "20240101.2.BBBB@mg.example.com"


def event(
    kind: str,
    recipient: str,
    message_id: str = ID_A,
    *,
    ts: float = 1.0,
    severity: str | None = None,
    code: int | None = None,
    reason: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event": kind,
        "recipient": recipient,
        "timestamp": ts,
        "message": {"headers": {"message-id": message_id}},
    }
    if kind == "failed":
        item["severity"] = severity or "permanent"
        item["reason"] = reason or ("generic" if severity == "temporary" else "bounce")
        item["delivery-status"] = {"code": code or 550, "description": description, "message": "5.1.1 nope"}
    return item


def decide(goal: DeliveryGoal, events: list[dict[str, Any]]) -> Any:
    tracker = DeliveryTracker(goal)
    tracker.ingest(events)
    return tracker.decide()


def test_all_delivered_is_success_and_result_shape() -> None:
    goal = DeliveryGoal((f"<{ID_A}>",), expected={ID_A: 2})
    decision = decide(goal, [event("delivered", "a@x.org"), event("delivered", "B@x.org")])
    assert decision.status == "success"
    assert decision.result(requests=3) == {
        "delivered": 2,
        "failed": [],
        "failed_count": 0,
        "pending": 0,
        "requests": 3,
    }


def test_waiting_until_every_expected_recipient_is_delivered() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 3})
    assert decide(goal, [event("delivered", "a@x.org")]).status == "pending"
    assert decide(goal, []).pending == 3


def test_permanent_failure_at_full_share_fails_at_once_with_details() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 3})
    failed = event("failed", "bounce@x.org", code=550, description="mailbox unknown")
    decision = decide(goal, [failed, event("accepted", "a@x.org")])
    assert decision.status == "failure"
    assert [f.as_dict() for f in decision.failures] == [
        {"recipient": "bounce@x.org", "code": 550, "reason": "bounce: mailbox unknown", "message_id": ID_A}
    ]
    assert "bounce@x.org (550, bounce: mailbox unknown)" in decision.message()
    assert "unreachable" in decision.message()


def test_reason_falls_back_to_delivery_status_message() -> None:
    failed = event("failed", "b@x.org", code=605, reason="suppress-bounce")
    decision = decide(DeliveryGoal((ID_A,), expected={ID_A: 1}), [failed])
    assert decision.failures[0].reason == "suppress-bounce: 5.1.1 nope"


def test_temporary_failure_waits_and_later_delivery_succeeds() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 1})
    temp = event("failed", "t@x.org", severity="temporary", code=452)
    assert decide(goal, [temp]).status == "pending"
    assert decide(goal, [temp, event("delivered", "t@x.org", ts=3.0)]).status == "success"


def test_fraction_tolerates_bounces_until_unreachable() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 100}, min_success_fraction=0.98)
    delivered = [event("delivered", f"u{i}@x.org") for i in range(98)]
    bounces = [event("failed", f"bounce{i}@x.org") for i in range(3)]
    assert decide(goal, delivered + bounces[:2]).status == "success"
    # Two bounces and 97 deliveries so far: 98 are still reachable, so wait.
    assert decide(goal, delivered[:97] + bounces[:2]).status == "pending"
    # Three bounces leave at most 97 of 100: the 98% share can no longer be met.
    assert decide(goal, delivered[:10] + bounces).status == "failure"


def test_fail_on_permanent_failure_false_finishes_when_all_final() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 3}, fail_on_permanent_failure=False)
    partial = [event("failed", "b@x.org"), event("delivered", "a@x.org")]
    assert decide(goal, partial).status == "pending"
    done = decide(goal, [*partial, event("delivered", "c@x.org")])
    assert done.status == "success"
    assert done.failed_count == 1


def test_counted_recipients_without_expected_counts() -> None:
    goal = DeliveryGoal((ID_A,), min_success_fraction=0.5)
    assert goal.event_names() == ("accepted", "delivered", "failed")
    assert decide(goal, []).status == "pending"  # no events yet is never success
    # One bounce out of one recipient seen so far: more may appear, so keep waiting...
    assert decide(goal, [event("accepted", "b@x.org"), event("accepted", "c@x.org")]).status == "pending"
    seen = [event("accepted", "b@x.org"), event("failed", "b@x.org"), event("accepted", "c@x.org")]
    assert decide(goal, seen).status == "pending"
    # ...until every recipient seen is final and the share is short.
    assert decide(goal, [*seen, event("failed", "c@x.org")]).status == "failure"
    assert decide(goal, [*seen, event("delivered", "c@x.org")]).status == "success"


def test_counted_recipients_at_full_share_fail_on_the_first_bounce() -> None:
    goal = DeliveryGoal((ID_A,))
    seen = [event("accepted", "a@x.org"), event("accepted", "b@x.org"), event("failed", "b@x.org")]
    assert decide(goal, seen).status == "failure"


def test_known_counts_skip_accepted_events() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 1}, success_events=("delivered", "opened"))
    assert goal.event_names() == ("delivered", "opened", "failed")
    assert decide(goal, [event("opened", "a@x.org")]).status == "success"


def test_every_id_must_reach_the_share() -> None:
    goal = DeliveryGoal((ID_A, ID_B), expected={ID_A: 1, ID_B: 1})
    assert decide(goal, [event("delivered", "a@x.org")]).status == "pending"
    both = [event("delivered", "a@x.org"), event("delivered", "a@x.org", ID_B)]
    assert decide(goal, both).status == "success"


def test_events_of_other_messages_and_shapes_are_ignored() -> None:
    goal = DeliveryGoal((ID_A,), expected={ID_A: 1})
    noise = [
        event("delivered", "a@x.org", "other@mg.example.com"),
        {"event": "delivered", "recipient": "a@x.org"},
        {"event": "delivered", "message": {"headers": {"message-id": ID_A}}},
        event("complained", "a@x.org"),
    ]
    assert decide(goal, noise).status == "pending"


def test_error_message_lists_ten_and_counts_the_rest() -> None:
    result = {
        "delivered": 1,
        "pending": 0,
        "failed": [
            {"recipient": f"b{i}@x.org", "code": 550, "reason": "bounce", "message_id": ID_A}
            for i in range(12)
        ],
        "failed_count": 12,
    }
    message = failure_message("too many bounces.", result)
    assert "b9@x.org" in message
    assert "b10@x.org" not in message
    assert f"first {MAX_FAILURES_IN_MESSAGE} of 12" in message
    assert "and 2 more" in message


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"message_ids": ()}, "No message ids"),
        ({"min_success_fraction": 0.0}, "min_success_fraction"),
        ({"min_success_fraction": 1.5}, "min_success_fraction"),
        ({"expected": {ID_B: 1}}, "not waited on"),
        ({"expected": {ID_A: 0}}, "positive integer"),
        ({"success_events": ()}, "success_events"),
        ({"success_events": ("delivered", "failed")}, "not a success"),
    ],
)
def test_goal_rejects_bad_input(kwargs: dict[str, Any], text: str) -> None:
    arguments: dict[str, Any] = {"message_ids": (ID_A,), **kwargs}
    with pytest.raises(ValueError, match=text):
        DeliveryGoal(**arguments)


# -- properties ------------------------------------------------------------------------------------

RECIPIENTS = [f"r{i}@x.org" for i in range(6)]
events_strategy = st.lists(
    st.builds(
        lambda kind, recipient, message_id, ts, code: (
            event("failed", recipient, message_id, ts=ts, severity=kind, code=code)
            if kind in ("temporary", "permanent")
            else event(kind, recipient, message_id, ts=ts)
        ),
        st.sampled_from(["accepted", "delivered", "temporary", "permanent"]),
        st.sampled_from(RECIPIENTS),
        st.sampled_from([ID_A, ID_B]),
        st.sampled_from([1.0, 2.0, 3.0]),
        st.sampled_from([550, 605]),
    ),
    max_size=40,
)
goals = st.builds(
    lambda fraction, known, fail: DeliveryGoal(
        (ID_A, ID_B),
        expected={ID_A: 6, ID_B: 6} if known else {},
        min_success_fraction=fraction,
        fail_on_permanent_failure=fail,
    ),
    st.sampled_from([0.5, 0.8, 1.0]),
    st.booleans(),
    st.booleans(),
)


def snapshot(goal: DeliveryGoal, events: list[dict[str, Any]]) -> tuple[Any, Any]:
    tracker = DeliveryTracker(goal)
    tracker.ingest(events)
    return tracker.to_dict(), tracker.decide()


@settings(max_examples=300, deadline=None)
@given(goals, events_strategy, st.randoms(use_true_random=False))
def test_reading_order_does_not_matter(goal: DeliveryGoal, events: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert snapshot(goal, events) == snapshot(goal, shuffled)


@settings(max_examples=300, deadline=None)
@given(goals, events_strategy, st.data())
def test_re_reading_events_never_counts_twice(
    goal: DeliveryGoal, events: list[dict[str, Any]], data: Any
) -> None:
    again = data.draw(st.lists(st.sampled_from(events), max_size=20)) if events else []
    assert snapshot(goal, events) == snapshot(goal, events + again + events)


@settings(max_examples=300, deadline=None)
@given(goals, events_strategy)
def test_more_events_only_move_recipients_forward(goal: DeliveryGoal, events: list[dict[str, Any]]) -> None:
    tracker = DeliveryTracker(goal)
    delivered, seen, succeeded = 0, 0, False
    exact_counts = set(goal.expected) == set(goal.message_ids)
    for item in events:
        tracker.ingest([item])
        decision = tracker.decide()
        assert decision.delivered >= delivered
        assert tracker.recipients_seen() >= seen
        if succeeded and exact_counts:
            assert decision.status == "success"  # with exact counts a met goal is never taken back
        delivered, seen = decision.delivered, tracker.recipients_seen()
        succeeded = succeeded or decision.status == "success"


@settings(max_examples=300, deadline=None)
@given(goals, events_strategy)
def test_state_round_trips_through_json(goal: DeliveryGoal, events: list[dict[str, Any]]) -> None:
    tracker = DeliveryTracker(goal)
    tracker.ingest(events)
    restored = DeliveryTracker.from_dict(goal, json.loads(json.dumps(tracker.to_dict())))
    assert restored.to_dict() == tracker.to_dict()
    assert restored.decide() == tracker.decide()
    # A resumed tracker keeps joining: the rest of the events land the same way.
    restored.ingest(events)
    assert restored.to_dict() == tracker.to_dict()


def test_unknown_state_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        DeliveryTracker.from_dict(DeliveryGoal((ID_A,)), {"version": 99, "ids": {}})
