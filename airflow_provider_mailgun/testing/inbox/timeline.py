"""What happened to each stored copy: its events (for the message view) and its latest state.

Events of one send request are found through the event log's per-batch index, so looking up the
copies of one page reads only the events of the batches on that page.

Example::

    with state.lock:
        kinds = latest_kinds(state.messages, state.events, [12, 11, 10])   # {12: DELIVERED, ...}
        timeline = copy_events(state.messages, state.events, 12, "http://127.0.0.1:8025")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_mailgun.testing.model.events import KIND_NAMES, STATUS, EventStore
from airflow_provider_mailgun.testing.model.messages import MessageStore


def _positions(store: MessageStore, events: EventStore, copy: int) -> tuple[str, list[int]]:
    batch, _local = store.locate(copy)
    log = events.domains.get(batch.domain)
    if log is None:
        return batch.domain, []
    return batch.domain, [p for p in log.by_batch.get(batch.seq, ()) if log.copy[p] == copy]


def copy_events(
    store: MessageStore, events: EventStore, copy: int, storage_base: str
) -> list[dict[str, Any]]:
    """The visible events of one copy in the Events API shape, oldest first."""
    domain, positions = _positions(store, events, copy)
    return [events.render(domain, pos, storage_base) for pos in positions]


def latest_kinds(store: MessageStore, events: EventStore, copies: Iterable[int]) -> dict[int, int]:
    """The kind of the newest visible event of each copy (copies without events are left out)."""
    wanted = set(copies)
    out: dict[int, int] = {}
    seen: set[int] = set()
    for copy in sorted(wanted):
        batch, _local = store.locate(copy)
        if batch.seq in seen:
            continue
        seen.add(batch.seq)
        log = events.domains.get(batch.domain)
        if log is None:
            continue
        for pos in log.by_batch.get(batch.seq, ()):
            found = log.copy[pos]
            if found in wanted:
                out[found] = log.kind[pos]  # positions are in time order: the last one wins
    return out


def status_label(kind: int | None) -> tuple[str, str]:
    """``(css class, text)`` for a copy's latest event kind, e.g. ``("failed", "failed 550")``."""
    if kind is None:
        return "pending", "queued"
    name = KIND_NAMES[kind]
    status = STATUS.get(kind)
    if name == "failed" and status is not None:
        severity = status[3] or ""
        return ("tempfail" if severity == "temporary" else "failed"), f"failed {status[0]}"
    if name == "delivered" and status is not None and status[0] != 250:
        return "delivered", f"delivered {status[0]}"
    return name, name
