"""Recipients acting on delivered mail: opens, clicks and unsubscribes, seeded on demand.

Real recipients open, click and unsubscribe; the emulator has none, so a test says who did::

    engage(state, "opened", tag="newsletter")                 # every delivered copy so tagged
    engage(state, "clicked", recipient="ada@example.org")
    engage(state, "unsubscribed", message_id="<2026...@mg.example.com>", limit=1)

Only copies with a visible ``delivered`` event can be engaged with. Each call adds one event per
chosen copy at the current event-clock time (so the event log stays in time order), posts the
matching webhooks and, for ``unsubscribed``, adds the address to the domain's unsubscribes (with
the message's tags, as Mailgun's tag-level unsubscribe link does). The same is reachable over
HTTP as ``POST /_emulator/engage`` with a JSON body of the same keywords.
"""

from __future__ import annotations

from airflow_provider_mailgun.testing.model.events import DELIVERED, DELIVERED_TEST, ENGAGEMENT
from airflow_provider_mailgun.testing.model.messages import Batch
from airflow_provider_mailgun.testing.model.state import EmulatorState

ENGAGEMENT_EVENTS = tuple(ENGAGEMENT)


def engage(
    state: EmulatorState,
    event: str,
    *,
    recipient: str | None = None,
    message_id: str | None = None,
    tag: str | None = None,
    domain: str | None = None,
    limit: int | None = None,
) -> int:
    """Add ``event`` for the matching delivered copies; returns how many events were added."""
    kind = ENGAGEMENT.get(event)
    if kind is None:
        raise ValueError(f"event must be one of {', '.join(ENGAGEMENT_EVENTS)}, got {event!r}")
    if limit is not None and limit < 0:
        raise ValueError("limit cannot be negative")
    wanted_recipient = recipient.lower() if recipient else None
    wanted_id = message_id.strip().strip("<>") if message_id else None
    wanted_tag = tag.lower() if tag else None
    added = 0
    with state.lock:
        state.tick()
        now = state.now()
        for batch in _batches(state, wanted_id, domain.lower() if domain else None):
            if wanted_tag is not None and wanted_tag not in {t.lower() for t in batch.tags}:
                continue
            log = state.events.domains.get(batch.domain)
            if log is None:
                continue
            delivered = sorted(
                {
                    log.copy[pos]
                    for pos in log.by_batch.get(batch.seq, ())
                    if log.kind[pos] in (DELIVERED, DELIVERED_TEST) and pos not in log.hidden
                }
            )
            for copy in delivered:
                if limit is not None and added >= limit:
                    break
                address = batch.copy_recipient(copy - batch.copy_base)[0].lower()
                if wanted_recipient is not None and address != wanted_recipient:
                    continue
                log.append(now, kind, copy, address, batch.seq)
                state.events.count += 1
                state.apply_side_effects(batch.domain, kind, copy, now)
                added += 1
        if added:
            state.counters["writes"] += 1
            state.webhooks.poke()
    return added


def _batches(state: EmulatorState, message_id: str | None, domain: str | None) -> list[Batch]:
    if message_id is not None:
        found = state.messages.by_message_id.get(message_id)
        return [found] if found is not None and (domain is None or found.domain == domain) else []
    return [b for b in state.messages.batches if domain is None or b.domain == domain]
