"""Logs items rendered fast: what is the same for every copy of a send is built once per send.

A Logs page is 100 events, mostly copies of a few sends; :func:`log_item` in :mod:`.logs_query` builds
each from scratch through the Events API renderer. :class:`LogItemRenderer` keeps, per send, the
parts every copy shares (tags, flags, headers, attachments, template) and fills in only the
per-event fields. It returns exactly what :func:`.logs_query.log_item` returns (a test holds them
equal); shared parts are shared objects, so callers serialise items and never mutate them::

    renderer = LogItemRenderer(store, storage_base)
    items = [renderer.item(domain, pos) for domain, pos in page.positions]
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from airflow_provider_mailgun.testing.model.events import (
    _LEVELS,
    KIND_NAMES,
    STATUS,
    EventStore,
    add_outcome,
    storage_key,
)
from airflow_provider_mailgun.testing.model.messages import Batch
from airflow_provider_mailgun.testing.util import parse_date

ACCOUNT = {"id": "000000000000000000000001"}
_CACHE_SIZE = 256


class _Shared:
    """What every copy of one send has in common, in the Logs shape."""

    __slots__ = (
        "attachments",
        "flags",
        "personal",
        "scheduled",
        "static_to",
        "static_vars",
        "tags",
        "template",
    )

    def __init__(self, batch: Batch) -> None:
        self.tags = list(batch.tags)
        self.flags = {
            "is-routed": False,
            "is-authenticated": True,
            "is-system-test": False,
            "is-test-mode": batch.test_mode,
            "is-delayed-bounce": False,
            "is-callback": False,
        }
        self.attachments = [
            {"filename": f.filename, "content-type": f.content_type, "size": len(f.data)}
            for f in batch.attachments
        ]
        self.template = None
        if batch.template is not None:
            self.template = {
                "name": batch.template["name"],
                "version": batch.template.get("version") or "",
                "is-text": bool(batch.template.get("text")),
            }
        self.scheduled = (
            int(parse_date(batch.delivery_time) or 0) if batch.delivery_time is not None else None
        )
        # Personal fields need the recipient's substitutions; most sends have none.
        texts = [batch.subject or "", *batch.variables.values()]
        self.personal = batch.personal and any("%recipient" in t for t in texts)
        self.static_vars = json.dumps(batch.variables, separators=(",", ":"))
        self.static_to = ", ".join(batch.to)


class LogItemRenderer:
    """Renders Logs items of one store for one storage base, caching per-send parts."""

    def __init__(self, store: EventStore, storage_base: str) -> None:
        self.store = store
        self.storage_base = storage_base
        cache = store.__dict__.get("_logs_shared")
        if cache is None:
            cache = store.__dict__["_logs_shared"] = {}
        self._cache: dict[int, _Shared] = cache

    def _shared(self, batch: Batch) -> _Shared:
        found = self._cache.get(batch.seq)
        if found is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            found = self._cache[batch.seq] = _Shared(batch)
        return found

    def item(self, domain: str, pos: int) -> dict[str, Any]:
        store = self.store
        log = store.domains[domain]
        kind = log.kind[pos]
        batch, local = store.messages.locate(log.copy[pos])
        shared = self._shared(batch)
        recipient, _display, to_idx = batch.copy_recipient(local)
        to_header = batch.to[to_idx] if to_idx is not None else shared.static_to
        subject, variables = batch.subject or "", shared.static_vars
        if shared.personal:
            sub = store.messages.substituter(batch, local)[1]
            if sub is not None:
                subject = sub(batch.subject) or ""
                variables = json.dumps({k: sub(v) for k, v in batch.variables.items()}, separators=(",", ":"))
        key = storage_key(batch, local)
        ts = log.ts[pos]
        whole = math.floor(ts)
        headers = {"to": to_header, "message-id": batch.bare_id, "from": batch.sender, "subject": subject}
        message: dict[str, Any] = {"headers": headers, "attachments": shared.attachments, "size": batch.size}
        if shared.scheduled is not None:
            message["scheduled-for"] = shared.scheduled
        item: dict[str, Any] = {
            "id": store.event_id(domain, pos),
            "event": KIND_NAMES[kind],
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            + f".{int((ts - whole) * 1000):03d}Z",
            "log-level": _LEVELS[kind],
            "recipient": recipient,
            "recipient-domain": recipient.rpartition("@")[2],
            "tags": shared.tags,
            "user-variables": variables,
            "flags": shared.flags,
            "envelope": {"sender": batch.sender_addr, "transport": "smtp", "targets": recipient},
            "message": message,
            "storage": {
                "url": [f"{self.storage_base}/v3/domains/{batch.domain}/messages/{key}"],
                "key": key,
                "region": "us-east4",
            },
            "domain": {"name": domain},
            "account": ACCOUNT,
        }
        if shared.template is not None:
            item["template"] = shared.template
        add_outcome(item, kind, recipient)
        severity = STATUS[kind][3] if kind in STATUS else None
        if severity is not None:
            item["delivery-status"]["bounce-type"] = "hard" if severity == "permanent" else "soft"
        return item
