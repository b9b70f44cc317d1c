"""Event log: compact per-domain columns, delayed (pending) events and the Events API item shape.

Each domain keeps its events in timestamp order in parallel arrays (timestamp, kind, copy index),
so a page is found by bisecting and costs the same however many events exist. Secondary indexes
(by event name, recipient and message) keep filtered pages cheap too. Events scheduled in the
future (delivery delay, temporary-failure retries) wait in a heap and are appended when their
time comes, which keeps the arrays sorted: every append first releases what is due.

Example::

    log = EventStore(messages, seed=0)
    log.add("mg.example.com", ts, ACCEPTED, copy, "bob@example.com", batch.seq)
    log.render("mg.example.com", position, storage_base="http://127.0.0.1:8025")
"""

from __future__ import annotations

import base64
import hashlib
import heapq
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_mailgun.testing.model.messages import Batch, MessageStore, copy_key

ACCEPTED = 0
DELIVERED = 1
DELIVERED_TEST = 2
FAIL_SUPPRESS_BOUNCE = 3
FAIL_SUPPRESS_UNSUBSCRIBE = 4
FAIL_SUPPRESS_COMPLAINT = 5
FAIL_BOUNCE = 6
FAIL_TEMPORARY = 7
COMPLAINED = 8
# What recipients do with a delivered copy (added by the emulator's engagement seeding).
OPENED = 9
CLICKED = 10
UNSUBSCRIBED = 11
ENGAGEMENT = {"opened": OPENED, "clicked": CLICKED, "unsubscribed": UNSUBSCRIBED}

KIND_NAMES = (
    "accepted",
    "delivered",
    "delivered",
    "failed",
    "failed",
    "failed",
    "failed",
    "failed",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
)
_LEVELS = ("info", "info", "info", "error", "error", "error", "error", "warn", "warn", "info", "info", "info")
#: Where an engaged recipient was, as Mailgun reports it for opens, clicks and unsubscribes.
_CLIENT = {"client-name": "Thunderbird", "client-os": "Linux", "client-type": "mobile browser"}
_CLIENT.update({"device-type": "desktop", "user-agent": "Mozilla/5.0 (X11; Linux x86_64)"})
_GEO = {"city": "San Francisco", "country": "US", "region": "CA"}
CLICKED_URL = "https://example.org/"
_SENDING_IP = "192.0.2.10"
_EMPTY = array("q")

# kind -> (code, message, description, severity, reason); severity None = not a failure
STATUS: dict[int, tuple[int, str, str, str | None, str | None]] = {
    DELIVERED: (250, "OK", "", None, None),
    DELIVERED_TEST: (650, "OK", "Test mode: message accepted but not delivered", None, None),
    FAIL_SUPPRESS_BOUNCE: (
        605,
        "",
        "Not delivering to previously bounced address",
        "permanent",
        "suppress-bounce",
    ),
    FAIL_SUPPRESS_UNSUBSCRIBE: (
        606,
        "",
        "Not delivering to unsubscribed address",
        "permanent",
        "suppress-unsubscribe",
    ),
    FAIL_SUPPRESS_COMPLAINT: (
        607,
        "",
        "Not delivering to a user who marked your messages as spam",
        "permanent",
        "suppress-complaint",
    ),
    FAIL_BOUNCE: (
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try again.",
        "",
        "permanent",
        "bounce",
    ),
    FAIL_TEMPORARY: (
        452,
        "4.2.2 The email account that you tried to reach is over quota. Please try again later.",
        "",
        "temporary",
        "generic",
    ),
}


class DomainEvents:
    """One domain's events as parallel columns plus position indexes."""

    __slots__ = ("by_batch", "by_event", "by_recipient", "copy", "hidden", "kind", "ts")

    def __init__(self) -> None:
        self.ts = array("d")
        self.kind = array("B")
        self.copy = array("q")
        self.by_event: dict[str, array[int]] = {}
        self.by_recipient: dict[str, array[int]] = {}
        self.by_batch: dict[int, array[int]] = {}
        # Positions indexed late (fault injection): not shown by the events API until released.
        self.hidden: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.ts)

    def append(self, ts: float, kind: int, copy: int, recipient_key: str, batch_seq: int) -> int:
        pos = len(self.ts)
        self.ts.append(ts)
        self.kind.append(kind)
        self.copy.append(copy)
        name = KIND_NAMES[kind]
        slot = self.by_event.get(name)
        if slot is None:
            slot = self.by_event[name] = array("q")
        slot.append(pos)
        slot = self.by_recipient.get(recipient_key)
        if slot is None:
            slot = self.by_recipient[recipient_key] = array("q")
        slot.append(pos)
        slot = self.by_batch.get(batch_seq)
        if slot is None:
            slot = self.by_batch[batch_seq] = array("q")
        slot.append(pos)
        return pos

    def append_many(
        self, ts: float, batch_seq: int, base: int, keys: list[str], locals_: Sequence[int], kinds: list[int]
    ) -> None:
        """Append one event per copy ``base + locals_[i]`` (kind ``kinds[i]``), all at ``ts``.

        The send path's bulk version of :meth:`append`: columns grow with C-level ``extend``
        calls and only the recipient index needs a Python loop.
        """
        n = len(kinds)
        if n == 0:
            return
        pos0 = len(self.ts)
        positions = range(pos0, pos0 + n)
        self.ts.extend(array("d", (ts,)) * n)
        self.kind.extend(array("B", kinds))
        if isinstance(locals_, range):
            self.copy.extend(array("q", range(base + locals_.start, base + locals_.stop)))
        else:
            self.copy.extend(array("q", [base + local for local in locals_]))
        if kinds.count(kinds[0]) == n:
            self._slot(self.by_event, KIND_NAMES[kinds[0]]).extend(array("q", positions))
        else:
            for pos, kind in zip(positions, kinds, strict=True):
                self._slot(self.by_event, KIND_NAMES[kind]).append(pos)
        self._slot(self.by_batch, batch_seq).extend(array("q", positions))
        index = self.by_recipient
        for pos, local in zip(positions, locals_, strict=True):
            key = keys[local]
            slot = index.get(key)
            if slot is None:
                index[key] = array("q", (pos,))
            else:
                slot.append(pos)

    @staticmethod
    def _slot(index: dict[Any, array[int]], key: Any) -> array[int]:
        slot = index.get(key)
        if slot is None:
            slot = index[key] = array("q")
        return slot

    def positions(self, index: dict[Any, array[int]], key: Any) -> array[int]:
        found = index.get(key)
        return found if found is not None else _EMPTY


#: Called when an event becomes visible: (domain, kind, copy, timestamp).
ReleaseHook = Callable[[str, int, int, float], None]


class EventStore:
    """All domains' event logs and the pending heap; the emulator state holds the lock."""

    def __init__(self, messages: MessageStore, seed: int, generation: int = 0) -> None:
        self.messages = messages
        self.domains: dict[str, DomainEvents] = {}
        self.pending: list[tuple[float, int, str, int, int]] = []
        self.late: list[tuple[float, str, int]] = []
        self.count = 0
        self.on_release: ReleaseHook | None = None
        self._seq = 0
        self._id_key = f"{seed}:{generation}".encode()

    def log(self, domain: str) -> DomainEvents:
        found = self.domains.get(domain)
        if found is None:
            found = self.domains[domain] = DomainEvents()
        return found

    def add(self, domain: str, ts: float, kind: int, copy: int, recipient_key: str, batch_seq: int) -> None:
        """Append a visible event now (caller has released due pending events first)."""
        self.log(domain).append(ts, kind, copy, recipient_key, batch_seq)
        self.count += 1

    def schedule(self, domain: str, ts: float, kind: int, copy: int) -> None:
        """Keep an event hidden until the event clock reaches ``ts``."""
        self._seq += 1
        heapq.heappush(self.pending, (ts, self._seq, domain, kind, copy))

    def release(self, now: float) -> None:
        """Append every pending event that is due, in timestamp order."""
        pending = self.pending
        while pending and pending[0][0] <= now:
            ts, _seq, domain, kind, copy = heapq.heappop(pending)
            batch, local = self.messages.locate(copy)
            recipient = batch.copy_recipient(local)[0]
            self.add(domain, ts, kind, copy, recipient.lower(), batch.seq)
            if self.on_release is not None:
                self.on_release(domain, kind, copy, ts)

    def hide(self, domain: str, pos: int, until: float) -> None:
        """Index the event at ``pos`` late: the events API skips it until ``until``, then shows it
        where it always was, behind any paging link handed out meanwhile."""
        self.log(domain).hidden[pos] = until
        heapq.heappush(self.late, (until, domain, pos))

    def reveal(self, now: float) -> None:
        """Show the late events whose time has come."""
        while self.late and self.late[0][0] <= now:
            _until, domain, pos = heapq.heappop(self.late)
            self.domains[domain].hidden.pop(pos, None)

    def event_id(self, domain: str, pos: int) -> str:
        digest = hashlib.blake2b(f"{domain}:{pos}".encode(), digest_size=16, key=self._id_key).digest()
        return base64.urlsafe_b64encode(digest).decode()[:22]

    def render(self, domain: str, pos: int, storage_base: str) -> dict[str, Any]:
        """One event in the Events API shape."""
        log = self.domains[domain]
        kind = log.kind[pos]
        batch, local = self.messages.locate(log.copy[pos])
        recipient, sub = self.messages.substituter(batch, local)
        to_idx = batch.copy_recipient(local)[2]  # a list copy shows the list, as Mailgun's To does
        to_header = batch.to[to_idx] if to_idx is not None else ", ".join(batch.to)
        subject = sub(batch.subject) if sub is not None else batch.subject
        variables = {k: (sub(v) if sub is not None else v) for k, v in batch.variables.items()}
        event: dict[str, Any] = {
            "id": self.event_id(domain, pos),
            "event": KIND_NAMES[kind],
            "timestamp": log.ts[pos],
            "log-level": _LEVELS[kind],
            "recipient": recipient,
            "recipient-domain": recipient.rpartition("@")[2],
            "tags": list(batch.tags),
            "user-variables": variables,
            "campaigns": [],
            "flags": {
                "is-routed": False,
                "is-authenticated": True,
                "is-system-test": False,
                "is-test-mode": batch.test_mode,
            },
            "envelope": {"sender": batch.sender_addr, "transport": "smtp", "targets": recipient},
            "message": {
                "headers": {
                    "to": to_header,
                    "message-id": batch.bare_id,
                    "from": batch.sender,
                    "subject": subject or "",
                },
                "attachments": [
                    {"filename": f.filename, "content-type": f.content_type, "size": len(f.data)}
                    for f in batch.attachments
                ],
                "size": batch.size,
            },
            "storage": _storage(batch, local, storage_base),
        }
        if batch.template is not None:
            event["template"] = {
                "name": batch.template["name"],
                "version": batch.template.get("version") or "",
                "is-text": "yes" if batch.template.get("text") else "no",
            }
        if batch.delivery_time is not None:
            event["message"]["scheduled-for"] = batch.delivery_time
        add_outcome(event, kind, recipient)
        return event

    @staticmethod
    def _add_status(event: dict[str, Any], kind: int, recipient: str) -> None:
        code, message, description, severity, reason = STATUS[kind]
        status: dict[str, Any] = {
            "code": code,
            "message": message,
            "description": description,
            "attempt-no": 1,
            "session-seconds": 0.0 if severity == "permanent" and code >= 600 else 0.25,
        }
        event["envelope"]["sending-ip"] = _SENDING_IP
        if code < 600:
            status.update(
                {
                    "mx-host": "mx." + recipient.rpartition("@")[2],
                    "tls": True,
                    "certificate-verified": True,
                    "utf8": True,
                }
            )
        if kind == FAIL_TEMPORARY:
            status["retry-seconds"] = 600
            status["enhanced-code"] = "4.2.2"
        elif kind == FAIL_BOUNCE:
            status["enhanced-code"] = "5.1.1"
            status["bounce-code"] = "5.1.1"
        event["delivery-status"] = status
        if severity is not None:
            event["severity"] = severity
            event["reason"] = reason


def add_outcome(event: dict[str, Any], kind: int, recipient: str) -> None:
    """What happened, by kind: the method of an acceptance, where an engaged recipient was, or the
    delivery status of a delivery or failure."""
    if kind == ACCEPTED:
        event["method"] = "HTTP"
    elif kind >= OPENED:
        add_engagement(event, kind)
    elif kind in STATUS:
        EventStore._add_status(event, kind, recipient)


def add_engagement(event: dict[str, Any], kind: int) -> None:
    """Where an engaged recipient was (opens, clicks, unsubscribes), and the clicked link."""
    event.update({"ip": "198.51.100.7", "geolocation": dict(_GEO), "client-info": dict(_CLIENT)})
    if kind == CLICKED:
        event["url"] = CLICKED_URL


def storage_key(batch: Batch, local: int) -> str:
    return copy_key(batch, local)


def parse_storage_key(key: str) -> tuple[str, int] | None:
    """``(bare message id, local copy index)`` from a storage key, or None."""
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
        bare, _, local = raw.rpartition("|")
        return bare, int(local)
    except (ValueError, UnicodeDecodeError):
        return None


def _storage(batch: Batch, local: int, base: str) -> dict[str, str]:
    key = storage_key(batch, local)
    return {"url": f"{base}/v3/domains/{batch.domain}/messages/{key}", "key": key, "region": "us-east4"}
