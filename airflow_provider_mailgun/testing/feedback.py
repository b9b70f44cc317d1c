"""Complaints and permanent bounces on demand, for mail that was already delivered.

Sending to ``complain...@`` or ``bounce...@`` addresses produces them at send time; real ones
also arrive later (a recipient marks a newsletter as spam days after it was delivered, a mailbox
is closed and the message bounces afterwards). This records such an event for the latest copy
sent to a recipient, with the same side effects (the address joins the complaints or bounces
table) and webhook posts as any other event::

    record(state, "complained", "ann@example.org")                    # visible at once
    record(state, "failed", "bob@example.org", index_delay=30)        # indexed 30 s late

Served as ``POST /_emulator/events`` and as ``emu.complain(...)`` / ``emu.bounce(...)``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mailgun.testing.events import ACCEPTED, COMPLAINED, FAIL_BOUNCE
from airflow_provider_mailgun.testing.state import EmulatorState

KINDS = {"complained": COMPLAINED, "failed": FAIL_BOUNCE}


class FeedbackError(ValueError):
    """Nothing to attach the event to, or an event type this cannot produce."""


def record(
    state: EmulatorState,
    event: str,
    recipient: str,
    domain: str | None = None,
    *,
    index_delay: float = 0.0,
    storage_base: str = "",
) -> dict[str, Any]:
    """Add a ``complained`` or permanent ``failed`` event; return it in the Events API shape."""
    kind = KINDS.get(event)
    if kind is None:
        raise FeedbackError(f"event must be one of {', '.join(KINDS)} (a permanent bounce is 'failed')")
    if index_delay < 0:
        raise FeedbackError("index_delay cannot be negative")
    key = recipient.strip().lower()
    with state.lock:
        state.tick()  # release due events first: the log stays in timestamp order
        found = _latest_copy(state, key, domain.lower() if domain else None)
        if found is None:
            where = f" on {domain}" if domain else ""
            raise FeedbackError(f"No message was sent to {recipient}{where}: send one first")
        name, copy, batch_seq = found
        now = state.now()
        log = state.events.log(name)
        position = log.append(now, kind, copy, key, batch_seq)
        state.events.count += 1
        state.apply_side_effects(name, kind, copy, now)
        if index_delay > 0:
            state.events.hide(name, position, now + index_delay)
        state.webhooks.poke()
        item = state.events.render(name, position, storage_base)
        item["domain"] = name
        return item


def _latest_copy(state: EmulatorState, key: str, domain: str | None) -> tuple[str, int, int] | None:
    """(domain, copy, batch seq) of the newest copy sent to ``key``."""
    best: tuple[float, str, int, int] | None = None
    for name, log in state.events.domains.items():
        if domain is not None and name != domain:
            continue
        for position in reversed(log.by_recipient.get(key, ())):
            if log.kind[position] == ACCEPTED:
                batch, _local = state.messages.locate(log.copy[position])
                if best is None or log.ts[position] > best[0]:
                    best = (log.ts[position], name, log.copy[position], batch.seq)
                break
    return None if best is None else best[1:]
