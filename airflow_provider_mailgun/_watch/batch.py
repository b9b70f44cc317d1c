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

from airflow_provider_mailgun._watch.window import WatchedEvent

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
