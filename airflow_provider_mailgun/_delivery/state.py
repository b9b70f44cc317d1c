"""What a delivery wait has seen so far, and what it means: the decision poke mode and the trigger share.

Pure (no Airflow, no HTTP), so the sensor's poke, the deferred trigger and the tests all decide with
the same code::

    goal = DeliveryGoal(message_ids=("2024...@mg.example.com",), expected={"2024...@mg.example.com": 3},
                        min_success_fraction=1.0)
    tracker = DeliveryTracker(goal)
    tracker.ingest(page.items)            # any events, in any order, as often as you like
    decision = tracker.decide()
    decision.status                       # "success", "failure" or "pending"
    decision.result(requests=7)           # {"delivered", "failed", "failed_count", "pending", "requests"}

Each (message id, recipient) keeps only its best outcome (success event > permanent failure >
temporary failure > accepted), so the state is a join: re-reading an event, or reading events in
another order, gives the same state. That is what makes re-reading event pages harmless.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mailgun.client.logs_window import item_time
from airflow_provider_mailgun.client.urls import strip_message_id

ACCEPTED, TEMPORARY, PERMANENT, SUCCESS = 0, 1, 2, 3
_RANK_NAMES = ("accepted", "temporary", "permanent", "success")
SUCCESS_STATUS, FAILURE_STATUS, PENDING_STATUS = "success", "failure", "pending"
MAX_REPORTED_FAILURES = 1000
MAX_FAILURES_IN_MESSAGE = 10
MAX_REASON_LENGTH = 200
STATE_VERSION = 1


@dataclass(frozen=True)
class DeliveryGoal:
    """What the wait is for.

    :param message_ids: ids to watch, without angle brackets.
    :param expected: recipients per id, where known; ids missing here count the recipients their
        events name (known counts are exact, counted ones only as good as the events seen so far).
    :param min_success_fraction: share of each id's recipients that must reach a success event.
    :param fail_on_permanent_failure: when permanent failures make the share unreachable, fail at
        once (True) or finish once every recipient has a final outcome, reporting the failures (False).
    :param success_events: event names that count as success (``delivered`` by default).
    """

    message_ids: tuple[str, ...]
    expected: Mapping[str, int] = field(default_factory=dict)
    min_success_fraction: float = 1.0
    fail_on_permanent_failure: bool = True
    success_events: tuple[str, ...] = ("delivered",)

    def __post_init__(self) -> None:
        ids = tuple(dict.fromkeys(strip_message_id(message_id) for message_id in self.message_ids))
        object.__setattr__(self, "message_ids", ids)
        expected = {strip_message_id(message_id): count for message_id, count in self.expected.items()}
        object.__setattr__(self, "expected", expected)
        object.__setattr__(self, "success_events", tuple(dict.fromkeys(self.success_events)))
        if not ids or not all(ids):
            raise ValueError("No message ids to wait for.")
        if not 0.0 < self.min_success_fraction <= 1.0:
            raise ValueError(f"min_success_fraction must be in (0, 1], got {self.min_success_fraction!r}.")
        if not self.success_events:
            raise ValueError("success_events must name at least one event, e.g. ['delivered'].")
        wrong = sorted(set(self.success_events) & {"accepted", "failed", "rejected"})
        if wrong:
            raise ValueError(f"success_events cannot include {', '.join(wrong)}: they are not a success.")
        unknown = sorted(set(self.expected) - set(self.message_ids))
        if unknown:
            raise ValueError(f"Expected recipient counts given for ids not waited on: {unknown[:3]}.")
        for message_id, count in self.expected.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"Expected recipients for {message_id!r} must be a positive integer.")

    def required(self, recipients: int) -> int:
        """Successes needed out of ``recipients`` (rounding up; tolerant of float noise)."""
        return math.ceil(self.min_success_fraction * recipients - 1e-9)

    def needs_accepted_events(self) -> bool:
        """Accepted events are only worth reading when some id's recipient count is unknown."""
        return any(message_id not in self.expected for message_id in self.message_ids)

    def event_names(self) -> tuple[str, ...]:
        """Event types to read: the success events, ``failed``, and ``accepted`` when counting."""
        names = list(dict.fromkeys((*self.success_events, "failed")))
        if self.needs_accepted_events():
            names.insert(0, "accepted")
        return tuple(names)


@dataclass(frozen=True, order=True)
class Failure:
    """One recipient's permanent failure, as reported in the XCom result and the error."""

    message_id: str
    recipient: str
    code: int | str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "code": self.code,
            "reason": self.reason,
            "message_id": self.message_id,
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of one check: ``status`` plus the counts and failures behind it."""

    status: str
    delivered: int
    pending: int
    failures: tuple[Failure, ...]
    failed_count: int
    explanation: str

    @property
    def done(self) -> bool:
        return self.status != PENDING_STATUS

    def result(self, requests: int) -> dict[str, Any]:
        """The JSON-serialisable XCom result (failures capped at ``MAX_REPORTED_FAILURES``)."""
        return {
            "delivered": self.delivered,
            "failed": [failure.as_dict() for failure in self.failures],
            "failed_count": self.failed_count,
            "pending": self.pending,
            "requests": requests,
        }

    def message(self) -> str:
        """One-paragraph error text: why, counts, then the first failing recipients."""
        return failure_message(self.explanation, self.result(0))


def failure_message(explanation: str, result: Mapping[str, Any]) -> str:
    """The error a failed wait raises, built from its XCom result (poke and deferred alike)."""
    failed: Sequence[Mapping[str, Any]] = result.get("failed") or []
    total = int(result.get("failed_count", len(failed)))
    shown = "; ".join(
        f"{item['recipient']} ({item['code']}, {item['reason'] or 'no reason given'}) "
        f"in message {item['message_id']}"
        for item in failed[:MAX_FAILURES_IN_MESSAGE]
    )
    more = f" and {total - MAX_FAILURES_IN_MESSAGE} more" if total > MAX_FAILURES_IN_MESSAGE else ""
    return (
        f"Mailgun delivery failed: {explanation} Delivered {result.get('delivered', 0)}, "
        f"permanently failed {total}, pending {result.get('pending', 0)}. "
        f"Failed recipients (first {min(total, MAX_FAILURES_IN_MESSAGE)} of {total}): {shown}{more}."
    )


def _failure_detail(event: Mapping[str, Any]) -> tuple[int | str | None, str]:
    status = event.get("delivery-status")
    status = status if isinstance(status, Mapping) else {}
    code = status.get("code")
    detail = str(status.get("description") or status.get("message") or "").strip()
    kind = str(event.get("reason") or "").strip()
    reason = f"{kind}: {detail}" if kind and detail else kind or detail
    return code if isinstance(code, int | str) else None, reason[:MAX_REASON_LENGTH]


class DeliveryTracker:
    """Best outcome per (message id, recipient); see the module docstring.

    :param goal: what the wait is for (not part of the serialised state).
    """

    def __init__(self, goal: DeliveryGoal) -> None:
        self.goal = goal
        self._success = frozenset(goal.success_events)
        self._ranks: dict[str, dict[str, int]] = {message_id: {} for message_id in goal.message_ids}
        # (timestamp, code, reason) of the latest permanent failure seen per recipient.
        self._failures: dict[str, dict[str, tuple[float, int | str | None, str]]] = {}

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Fold events in; unknown ids, unknown event types and re-read events change nothing."""
        for event in events:
            self._ingest_one(event)

    def _ingest_one(self, event: Mapping[str, Any]) -> None:
        message = event.get("message")
        headers = message.get("headers") if isinstance(message, Mapping) else None
        raw_id = headers.get("message-id") if isinstance(headers, Mapping) else None
        recipient = event.get("recipient")
        if not isinstance(raw_id, str) or not isinstance(recipient, str) or not recipient:
            return
        message_id = strip_message_id(raw_id)
        ranks = self._ranks.get(message_id)
        if ranks is None:
            return
        name = event.get("event")
        if name in self._success:
            rank = SUCCESS
        elif name == "failed":
            rank = TEMPORARY if event.get("severity") == "temporary" else PERMANENT
        elif name == "accepted":
            rank = ACCEPTED
        else:
            return
        key = recipient.strip().lower()
        if rank == PERMANENT:
            self._keep_failure(message_id, key, event)
        if rank > ranks.get(key, -1):
            ranks[key] = rank

    def _keep_failure(self, message_id: str, recipient: str, event: Mapping[str, Any]) -> None:
        code, reason = _failure_detail(event)
        entry = (_event_time(event), code, reason)
        known = self._failures.setdefault(message_id, {})
        current = known.get(recipient)
        # The latest failure wins; ties are broken by content so any reading order agrees.
        if current is None or _order_key(entry) > _order_key(current):
            known[recipient] = entry

    def has_events(self, message_id: str) -> bool:
        """Whether any event of this id was seen (an id Mailgun never accepted has none)."""
        return bool(self._ranks.get(message_id))

    def decide(self, missing: Sequence[str] = ()) -> Decision:
        """Success, failure or pending, by the rules in :class:`DeliveryGoal`.

        :param missing: ids that have had time to be indexed and still have no event at all:
            the wait fails naming them (a mistyped id, or a message sent elsewhere).
        """
        goal = self.goal
        delivered = pending = 0
        all_met = True
        unreachable: list[str] = []
        settled = True
        for message_id in goal.message_ids:
            ranks = self._ranks[message_id]
            counts = [0, 0, 0, 0]
            for rank in ranks.values():
                counts[rank] += 1
            known = message_id in goal.expected
            recipients = max(goal.expected.get(message_id, 0), len(ranks))
            successes, failures = counts[SUCCESS], counts[PERMANENT]
            waiting = recipients - successes - failures
            delivered += successes
            pending += waiting
            required = goal.required(recipients)
            met = recipients > 0 and successes >= required
            final = recipients > 0 and waiting == 0
            # With a counted (not given) total, more recipients may still show up: only a full
            # share, or every seen recipient being final, makes a shortfall certain.
            if (
                recipients > 0
                and recipients - failures < required
                and (known or final or goal.min_success_fraction >= 1.0)
            ):
                unreachable.append(message_id)
            all_met = all_met and met
            settled = settled and (met or final)
        failures_found = self._all_failures()
        if missing:
            status = FAILURE_STATUS
            shown = ", ".join(missing[:MAX_FAILURES_IN_MESSAGE])
            more = (
                f" and {len(missing) - MAX_FAILURES_IN_MESSAGE} more"
                if len(missing) > MAX_FAILURES_IN_MESSAGE
                else ""
            )
            why = (
                f"no accepted event for id {shown}{more} after the grace period (missing_grace): "
                "check the message id and the domain."
            )
        elif all_met:
            status, why = SUCCESS_STATUS, "every message reached the required share."
        elif unreachable and goal.fail_on_permanent_failure:
            status = FAILURE_STATUS
            why = (
                f"permanent failures make the required {_percent(goal.min_success_fraction)} delivery "
                f"unreachable for {len(unreachable)} of {len(goal.message_ids)} message(s)."
            )
        elif unreachable and settled:
            status, why = SUCCESS_STATUS, "every recipient has a final outcome (failures reported)."
        else:
            status, why = PENDING_STATUS, "still waiting for delivery events."
        return Decision(
            status=status,
            delivered=delivered,
            pending=pending,
            failures=tuple(failures_found[:MAX_REPORTED_FAILURES]),
            failed_count=len(failures_found),
            explanation=why,
        )

    def _all_failures(self) -> list[Failure]:
        found = []
        for message_id, ranks in self._ranks.items():
            details = self._failures.get(message_id, {})
            for recipient, rank in ranks.items():
                if rank == PERMANENT:
                    _stamp, code, reason = details.get(recipient, (0.0, None, ""))
                    found.append(Failure(message_id, recipient, code, reason))
        found.sort(key=lambda failure: (failure.message_id, failure.recipient))
        return found

    def recipients_seen(self) -> int:
        return sum(len(ranks) for ranks in self._ranks.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable observations (the goal is not included: it travels separately)."""
        ids: dict[str, Any] = {}
        for message_id, ranks in self._ranks.items():
            if not ranks:
                continue
            by_rank: dict[str, list[str]] = {}
            for recipient, rank in sorted(ranks.items()):
                if rank != PERMANENT:
                    by_rank.setdefault(_RANK_NAMES[rank], []).append(recipient)
            failed = self._failures.get(message_id, {})
            by_rank_failed = {
                recipient: list(failed.get(recipient, (0.0, None, "")))
                for recipient, rank in sorted(ranks.items())
                if rank == PERMANENT
            }
            ids[message_id] = {**by_rank, "permanent": by_rank_failed} if by_rank_failed else by_rank
        return {"version": STATE_VERSION, "ids": ids}

    @classmethod
    def from_dict(cls, goal: DeliveryGoal, data: Mapping[str, Any] | None) -> DeliveryTracker:
        """Rebuild a tracker from :meth:`to_dict` output (ids not in ``goal`` are dropped)."""
        tracker = cls(goal)
        if not data:
            return tracker
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"Unsupported delivery state version {data.get('version')!r}.")
        for message_id, entry in (data.get("ids") or {}).items():
            ranks = tracker._ranks.get(message_id)
            if ranks is None:
                continue
            for rank, name in enumerate(_RANK_NAMES):
                if name == "permanent":
                    for recipient, (stamp, code, reason) in (entry.get(name) or {}).items():
                        ranks[recipient] = max(ranks.get(recipient, -1), PERMANENT)
                        tracker._failures.setdefault(message_id, {})[recipient] = (stamp, code, reason)
                else:
                    for recipient in entry.get(name) or ():
                        ranks[recipient] = max(ranks.get(recipient, -1), rank)
        return tracker


def _event_time(event: Mapping[str, Any]) -> float:
    """An event's time: ``timestamp`` (Events API) or ``@timestamp`` (Logs API); 0 when neither."""
    stamp = event.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return float(stamp)
    moment = item_time(dict(event)) if isinstance(event.get("@timestamp"), str) else None
    return moment.timestamp() if moment is not None else 0.0


def _order_key(entry: tuple[float, int | str | None, str]) -> tuple[float, str, str]:
    stamp, code, reason = entry
    return stamp, "" if code is None else str(code), reason


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"
