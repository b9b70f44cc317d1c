"""Read-outs and runtime settings shared by ``/_emulator/*`` and the in-process object.

Example::

    messages(state, recipient="bob@example.com")      # stored recipient copies (dicts)
    copies_summary(state)                             # {"copies", "recipients", "duplicates"}
    events(state, event="failed", storage_base=url)   # Events API shaped dicts, oldest first
    set_faults(state, {"error_rate": 0.5})
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from airflow_provider_mailgun.testing.control.faults import FaultInjector, FaultSpec
from airflow_provider_mailgun.testing.model.events import ACCEPTED, KIND_NAMES
from airflow_provider_mailgun.testing.model.state import EmulatorState


def _copies(
    state: EmulatorState, recipient: str | None, domain: str | None, newest_first: bool
) -> Iterator[int]:
    if recipient is None:
        return state.messages.copies(domain, newest_first)
    # Every recipient copy has exactly one "accepted" event: the event log's recipient index
    # doubles as the message index, so messages need no index of their own.
    key = recipient.lower()
    found: list[int] = []
    for name, log in state.events.domains.items():
        if domain is None or name == domain:
            found.extend(log.copy[p] for p in log.by_recipient.get(key, ()) if log.kind[p] == ACCEPTED)
    found.sort(reverse=newest_first)
    return iter(found)


def messages(
    state: EmulatorState,
    recipient: str | None = None,
    domain: str | None = None,
    *,
    newest_first: bool = False,
    skip: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    with state.lock:
        state.tick()
        window = islice(
            _copies(state, recipient, domain, newest_first), skip, None if limit is None else skip + limit
        )
        return [state.messages.render(copy) for copy in window]


def count_messages(state: EmulatorState, recipient: str | None = None, domain: str | None = None) -> int:
    with state.lock:
        if recipient is None and domain is None:
            return state.messages.total_copies
        return sum(1 for _ in _copies(state, recipient, domain, False))


def copies_summary(state: EmulatorState) -> dict[str, int]:
    """Stored copies, distinct recipients with one, and duplicates (copies beyond the first)."""
    with state.lock:
        per_recipient: dict[str, int] = {}
        for log in state.events.domains.values():
            for key, positions in log.by_recipient.items():
                accepted = sum(1 for p in positions if log.kind[p] == ACCEPTED)
                if accepted:
                    per_recipient[key] = per_recipient.get(key, 0) + accepted
    copies = sum(per_recipient.values())
    return {"copies": copies, "recipients": len(per_recipient), "duplicates": copies - len(per_recipient)}


def _positions(
    state: EmulatorState, domain: str | None, recipient: str | None
) -> Iterator[tuple[float, str, int]]:
    """(timestamp, domain, position) of visible events, oldest first, across domains."""
    logs = state.events.domains
    names = [domain] if domain is not None else list(logs)
    streams = []
    for name in names:
        log = logs.get(name)
        if log is None:
            continue
        if recipient is None:
            streams.append((log.ts[i], name, i) for i in range(len(log)))
        else:
            found = log.by_recipient.get(recipient, ())
            streams.append((log.ts[i], name, i) for i in found)
    return heapq.merge(*streams)


def events(
    state: EmulatorState,
    event: str | None = None,
    domain: str | None = None,
    recipient: str | None = None,
    storage_base: str = "",
) -> list[dict[str, Any]]:
    """Visible events in the Events API shape (plus ``domain``), oldest first."""
    wanted = {e.strip() for e in event.split(" OR ")} if event else None
    out = []
    with state.lock:
        state.tick()
        for _ts, name, pos in _positions(state, domain, recipient.lower() if recipient else None):
            log = state.events.domains[name]
            if pos in log.hidden or (wanted is not None and KIND_NAMES[log.kind[pos]] not in wanted):
                continue
            item = state.events.render(name, pos, storage_base)
            item["domain"] = name
            out.append(item)
    return out


def requests(state: EmulatorState) -> list[dict[str, Any]]:
    with state.lock:
        return [dict(entry, form_keys=list(entry["form_keys"])) for entry in state.request_log]


def set_faults(state: EmulatorState, spec: Mapping[str, Any] | str | FaultSpec | None) -> FaultSpec | None:
    """Install a fault spec (fresh counters and RNG); ``None`` clears it."""
    parsed = spec if isinstance(spec, FaultSpec) or spec is None else FaultSpec.parse(spec)
    with state.lock:
        state.faults = FaultInjector(parsed, state.config.seed) if parsed is not None else None
        if parsed is not None and parsed.rate_limit:
            state.use_rate_limit(parsed.rate_limit, from_faults=True)
        elif state.rate_limit_from_faults:
            # The spec being replaced had installed the limiter: back to the constructor's setting.
            state.use_rate_limit(state.config.rate_limit)
    return parsed


def set_rate_limit(state: EmulatorState, rate: float | None) -> None:
    with state.lock:
        state.use_rate_limit(rate)


def set_delivery_delay(state: EmulatorState, seconds: float) -> None:
    if seconds < 0:
        raise ValueError("delivery delay cannot be negative")
    with state.lock:
        state.delivery_delay = float(seconds)


def find_file(state: EmulatorState, message_id: str, filename: str) -> tuple[str, bytes] | None:
    """``(content_type, bytes)`` of an attachment or inline part of a stored message."""
    bare = message_id.strip().strip("<>")
    with state.lock:
        batch = state.messages.by_message_id.get(bare)
        if batch is None:
            return None
        for part in (*batch.attachments, *batch.inline):
            if part.filename == filename:
                return part.content_type, part.data
    return None


def set_events_api(state: EmulatorState, enabled: bool, keys: Iterable[str] | None = None) -> None:
    """Retire (``enabled=False``) or restore the Events API, for the given API keys or everyone.

    A retired Events API answers every request with ``410 Gone`` and a message naming the Logs API.
    """
    accounts = {"*"} if keys is None else {f"{kind}:{key}" for key in keys for kind in ("mailgun", "maton")}
    with state.lock:
        if enabled:
            state.events_api_retired = set() if keys is None else state.events_api_retired - accounts
        else:
            state.events_api_retired |= accounts


def set_gateway_forwards_newer_apis(state: EmulatorState, forward: bool) -> None:
    """``False``: the gateway answers v1/v4-validation/v5 paths with a 404 of its own."""
    with state.lock:
        state.gateway_forwards_newer_apis = bool(forward)
