"""The payload of one watch poll's trigger event: what the asset event carries to the DAG.

One payload per poll with new matches, however many emails they concern::

    {"domain": "mg.example.com", "source": "events", "count": 3,
     "events": {"complained": 1, "failed": 2},
     "addresses": ["ann@example.org", "bob@example.org"], "addresses_truncated": false,
     "first_timestamp": 1718000000.1, "last_timestamp": 1718000042.9,
     "batch_id": "5f0c...", "cursor": {"horizon": 1717998242.0},
     "watch": {"events": ["complained", "failed"], "severity": "permanent", "tags": [], "lists": []}}

``addresses`` are the distinct recipients (lower case, in event order), at most ``max_addresses``;
``count`` and ``events`` count every event. ``batch_id`` is a digest of the batch's event ids: the
same batch always has the same id, so a consumer can use it as an idempotency key. With more
addresses than the cap, the DAG can re-read the window ``first_timestamp``..``last_timestamp``.
In the consuming DAG it is ``triggering_asset_events[asset][0].extra["payload"]``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_mailgun.triggers.watch_window import WatchedEvent

DEFAULT_MAX_ADDRESSES = 1000


def batch_payload(
    fresh: Sequence[WatchedEvent],
    *,
    domain: str,
    source: str,
    watch: Mapping[str, Any],
    horizon: float,
    max_addresses: int = DEFAULT_MAX_ADDRESSES,
) -> dict[str, Any]:
    """The trigger event payload for ``fresh`` (non-empty, in timestamp order)."""
    if not fresh:
        raise ValueError("a batch has at least one event")
    addresses: dict[str, None] = {}
    for event in fresh:
        if event.recipient:
            addresses.setdefault(event.recipient.lower(), None)
    distinct = list(addresses)
    digest = hashlib.sha256()
    for event in fresh:
        digest.update(f"{event.id}:{event.timestamp:.3f}\n".encode())
    return {
        "domain": domain,
        "source": source,
        "count": len(fresh),
        "events": dict(Counter(event.event for event in fresh)),
        "addresses": distinct[:max_addresses],
        "addresses_truncated": len(distinct) > max_addresses,
        "first_timestamp": fresh[0].timestamp,
        "last_timestamp": fresh[-1].timestamp,
        "batch_id": digest.hexdigest()[:32],
        "cursor": {"horizon": horizon},
        "watch": dict(watch),
    }


def addresses_of_batches(payloads: Sequence[Mapping[str, Any]], *, mailgun_conn_id: str) -> dict[str, Any]:
    """What a consuming DAG needs from the batches that triggered it, in one dict::

        {"addresses": [...distinct, lower case...], "batch_ids": [...], "events": {"complained": 2}}

    A batch that listed only its first ``max_addresses`` is read again from Mailgun over its time
    window (``first_timestamp``..``last_timestamp``) with the watch's filter, so no address is
    left out (the window may add addresses that were reported in a neighbouring batch too).
    """
    found: dict[str, None] = {}
    events: Counter[str] = Counter()
    batch_ids = []
    for payload in payloads:
        batch_ids.append(str(payload["batch_id"]))
        events.update(payload.get("events") or {})
        listed = _read_again(payload, mailgun_conn_id) if payload.get("addresses_truncated") else None
        for address in listed if listed is not None else payload.get("addresses") or []:
            found.setdefault(str(address).lower(), None)
    return {"addresses": list(found), "batch_ids": batch_ids, "events": dict(events)}


def _read_again(payload: Mapping[str, Any], mailgun_conn_id: str) -> list[str]:
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook
    from airflow_provider_mailgun.triggers.event_sources import from_events_item
    from airflow_provider_mailgun.triggers.watch_window import EventFilter

    watch = payload.get("watch") or {}
    wanted = EventFilter(
        tuple(watch.get("events") or ()), watch.get("severity"), tuple(watch.get("tags") or ())
    )
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    try:
        items = hook.events.iter(
            payload["domain"],
            begin=float(payload["first_timestamp"]),
            end=float(payload["last_timestamp"]) + 0.001,
            event=list(wanted.events),
        )
        recipients = []
        for item in items:
            event = from_events_item(item)
            if event is not None and wanted.matches(event) and event.recipient:
                recipients.append(event.recipient)
        return recipients
    finally:
        hook.close()
