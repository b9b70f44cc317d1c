"""Compact storage of accepted messages and their per-recipient copies.

One :class:`Batch` holds everything a send request carried, once. A *recipient copy* is just an
integer (its global copy index): which batch and which recipient follow from the batch's
``copy_base``. Per-recipient substitutions (``%recipient.x%``) are applied lazily when a copy is
read, so 100,000 stored copies cost little more than their recipient addresses.

Example::

    store = MessageStore()
    store.add(batch, n_copies=3)        # assigns batch.copy_base
    store.render(batch.copy_base)       # the first copy as an introspection dict
    list(store.copies(domain="mg.example.com", newest_first=True))

Measured: 100,000 stored copies (100 batch sends of 1,000 recipients with recipient-variables)
plus their 200,000 events add about 26 MB to the emulator's peak RSS.

The recipient index lives in the event log (every copy has one ``accepted`` event), so this
store keeps no per-recipient structure of its own.
"""

from __future__ import annotations

import base64
import json
import re
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mailgun.testing.api.forms import FilePart
from airflow_provider_mailgun.testing.defaults import CONTROL_PREFIX
from airflow_provider_mailgun.testing.util import rfc2822

_SUBST_RE = re.compile(
    r"%(?:recipient(?:\.([^%\s]+)|(_email|_name|_fname|_lname))?|(mailing_list_unsubscribe_url))%"
)
_RV_CACHE_SIZE = 64
_QUOTED_PAIR_RE = re.compile(r"\\(.)")
_SPECIALS = frozenset('()<>@,;:\\".[]')


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def display_name(display: str) -> str:
    """``Bob`` from ``Bob <bob@x.com>``, ``Lee, "A" Ann`` from ``"Lee, \\"A\\" Ann" <a@x.com>``
    (``""`` for a bare address)."""
    if display.endswith(">") and "<" in display:
        name = display[: display.rindex("<")].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = _QUOTED_PAIR_RE.sub(r"\1", name[1:-1])
        return name
    return ""


def display_address(name: str, address: str) -> str:
    """``Name <address>`` as written (never RFC 2047-encoded), quoted when the name needs it."""
    if not name:
        return address
    if any(char in _SPECIALS for char in name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


@dataclass(slots=True, frozen=True)
class CopyTarget:
    """One copy of a send that addressed a mailing list: a list member's copy, or a plain one.

    ``to_index`` is the position in ``to`` the copy came from (the list's, for a member copy; None
    for a plain copy outside batch mode). ``values`` are the member's ``vars`` (what
    ``%recipient.x%`` reads) and ``list_address`` the list it came through (None for a plain copy).
    """

    address: str
    display: str
    to_index: int | None
    values: dict[str, Any] | None = None
    list_address: str | None = None


@dataclass(slots=True, eq=False)
class Batch:
    """One accepted send request (``/messages`` or ``messages.mime``)."""

    seq: int
    message_id: str  # with angle brackets, as the send response returns it
    domain: str
    time: float
    sender: str
    sender_addr: str
    subject: str
    to: list[str]  # display forms ("Bob <bob@x.com>" or "bob@x.com")
    to_addr: list[str]  # plain addresses, same order
    cc: list[str] = field(default_factory=list)
    cc_addr: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    bcc_addr: list[str] = field(default_factory=list)
    text: str | None = None
    html: str | None = None
    amp_html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    attachments: list[FilePart] = field(default_factory=list)
    inline: list[FilePart] = field(default_factory=list)
    template: dict[str, Any] | None = None
    test_mode: bool = False
    delivery_time: str | None = None
    rv_raw: str | None = None  # recipient-variables JSON; None = not a batch send
    mime: bytes | None = None
    #: Set when ``to`` named a mailing list: every copy, member copies expanded (see CopyTarget).
    fanout: list[CopyTarget] | None = None
    #: Where a member copy's ``%mailing_list_unsubscribe_url%`` points (the emulator's own host).
    unsubscribe_base: str = ""
    copy_base: int = 0
    n_copies: int = 0
    size: int = 0

    @property
    def batch_mode(self) -> bool:
        return self.rv_raw is not None

    @property
    def personal(self) -> bool:
        """Whether copies differ by recipient (a batch send, or a send to a mailing list)."""
        return self.rv_raw is not None or self.fanout is not None

    @property
    def bare_id(self) -> str:
        """The id as events show it (``message.headers.message-id``): no angle brackets."""
        return self.message_id[1:-1]

    def copy_recipient(self, local: int) -> tuple[str, str, int | None]:
        """``(address, display, to_index)`` of a copy; ``to_index`` is None outside batch mode."""
        if self.fanout is not None:
            target = self.fanout[local]
            return target.address, target.display, target.to_index
        if self.batch_mode:
            per_to = 1 + len(self.cc_addr) + len(self.bcc_addr)
            to_idx, j = divmod(local, per_to)
            if j == 0:
                return self.to_addr[to_idx], self.to[to_idx], to_idx
            j -= 1
            if j < len(self.cc_addr):
                return self.cc_addr[j], self.cc[j], to_idx
            j -= len(self.cc_addr)
            return self.bcc_addr[j], self.bcc[j], to_idx
        if local < len(self.to_addr):
            return self.to_addr[local], self.to[local], None
        local -= len(self.to_addr)
        if local < len(self.cc_addr):
            return self.cc_addr[local], self.cc[local], None
        local -= len(self.cc_addr)
        return self.bcc_addr[local], self.bcc[local], None


class Substituter:
    """Applies ``%recipient...%`` placeholders for one to-recipient of a batch send."""

    __slots__ = ("addr", "display", "name", "unsubscribe_url", "values")

    def __init__(
        self, addr: str, display: str, values: dict[str, Any] | None, unsubscribe_url: str | None = None
    ) -> None:
        self.addr = addr
        self.display = display
        self.name = display_name(display)
        self.values = values
        self.unsubscribe_url = unsubscribe_url

    def __call__(self, text: str | None) -> str | None:
        if text is None or ("%recipient" not in text and "%mailing_list" not in text):
            return text
        return _SUBST_RE.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        key, builtin = match.group(1), match.group(2)
        if match.group(3) is not None:
            # Only a copy sent through a mailing list has one; elsewhere it stays as written.
            return self.unsubscribe_url if self.unsubscribe_url is not None else match.group(0)
        if key is not None:
            # Unknown keys (or a recipient missing from recipient-variables) stay literal,
            # exactly what Mailgun does; there is no fallback syntax.
            if self.values is None or key not in self.values:
                return match.group(0)
            return _as_text(self.values[key])
        if builtin is None:
            return self.display
        if builtin == "_email":
            return self.addr
        if builtin == "_name":
            return self.name
        parts = self.name.split(None, 1)
        if builtin == "_fname":
            return parts[0] if parts else ""
        return parts[1] if len(parts) > 1 else ""


class MessageStore:
    """All batches in send order plus a recipient index; not thread-safe (state holds the lock)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self._bases = array("q")
        self.total_copies = 0
        self.by_message_id: dict[str, Batch] = {}
        self._rv_cache: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def add(self, batch: Batch, n_copies: int) -> None:
        """Register a batch; its copies get the global indices ``copy_base .. copy_base + n - 1``."""
        batch.n_copies = n_copies
        batch.copy_base = self.total_copies
        self.total_copies += n_copies
        self.batches.append(batch)
        self._bases.append(batch.copy_base)
        self.by_message_id[batch.bare_id] = batch

    def locate(self, copy: int) -> tuple[Batch, int]:
        """``(batch, local index)`` of a global copy index (every batch has >= 1 copy)."""
        batch = self.batches[bisect_right(self._bases, copy) - 1]
        return batch, copy - batch.copy_base

    def recipient_values(self, batch: Batch, to_idx: int | None) -> dict[str, Any] | None:
        """recipient-variables entry of one to-recipient (parsed JSON is cached per batch)."""
        if batch.rv_raw is None or to_idx is None:
            return None
        parsed = self._rv_cache.get(batch.seq)
        if parsed is None:
            parsed = json.loads(batch.rv_raw)
            self._rv_cache[batch.seq] = parsed
            if len(self._rv_cache) > _RV_CACHE_SIZE:
                self._rv_cache.popitem(last=False)
        else:
            self._rv_cache.move_to_end(batch.seq)
        addr = batch.to_addr[to_idx]
        values = parsed.get(addr)
        if values is None:
            lowered = addr.lower()
            values = next((v for k, v in parsed.items() if k.lower() == lowered), None)
        return values if isinstance(values, dict) else None

    def copy_values(self, batch: Batch, local: int) -> dict[str, Any] | None:
        """What ``%recipient.x%`` reads for one copy: list member vars, or recipient-variables."""
        if batch.fanout is not None and batch.fanout[local].list_address is not None:
            return batch.fanout[local].values
        return self.recipient_values(batch, batch.copy_recipient(local)[2])

    def substituter(self, batch: Batch, local: int) -> tuple[str, Substituter | None]:
        """The copy's recipient and, in batch mode or a list send, the substituter for its copy."""
        if batch.fanout is not None:
            target = batch.fanout[local]
            if target.list_address is not None:
                url = f"{batch.unsubscribe_base}{CONTROL_PREFIX}/unsubscribe/{copy_key(batch, local)}"
                return target.address, Substituter(target.address, target.display, target.values, url)
        addr, _display, to_idx = batch.copy_recipient(local)
        if to_idx is None:
            return addr, None
        values = self.recipient_values(batch, to_idx)
        return addr, Substituter(batch.to_addr[to_idx], batch.to[to_idx], values)

    def render(self, copy: int) -> dict[str, Any]:
        """The introspection dict of one recipient copy (``/_emulator/messages`` items)."""
        batch, local = self.locate(copy)
        recipient, _display, to_idx = batch.copy_recipient(local)
        sub = self.substituter(batch, local)[1]
        apply = sub if sub is not None else _identity
        to = [batch.to[to_idx]] if to_idx is not None else batch.to
        target = batch.fanout[local] if batch.fanout is not None else None
        return {
            "id": batch.message_id,
            "domain": batch.domain,
            "from": batch.sender,
            "to": list(to),
            "cc": list(batch.cc),
            "bcc": list(batch.bcc),
            "recipient": recipient,
            "subject": apply(batch.subject),
            "text": apply(batch.text),
            "html": apply(batch.html),
            "amp_html": apply(batch.amp_html),
            "tags": list(batch.tags),
            "user_variables": {k: apply(v) for k, v in batch.variables.items()},
            "headers": {k: apply(v) for k, v in batch.headers.items()},
            "options": dict(batch.options),
            "attachments": [_file_info(f) for f in batch.attachments],
            "inline": [_file_info(f) for f in batch.inline],
            "template": dict(batch.template) if batch.template is not None else None,
            "test_mode": batch.test_mode,
            "delivery_time": batch.delivery_time,
            "time": batch.time,
            "date": rfc2822(batch.time),
            "batch_mode": batch.batch_mode,
            "mailing_list": target.list_address if target is not None else None,
            "mime": batch.mime is not None,
            "copy": copy,
        }

    def copies(self, domain: str | None = None, newest_first: bool = False) -> Iterator[int]:
        """Global copy indices in send order (or newest first), optionally of one domain."""
        batches = reversed(self.batches) if newest_first else iter(self.batches)
        for batch in batches:
            if domain is not None and batch.domain != domain:
                continue
            span = range(batch.copy_base, batch.copy_base + batch.n_copies)
            yield from (reversed(span) if newest_first else span)


def copy_key(batch: Batch, local: int) -> str:
    """An opaque key naming one copy (also the stored-message key of its events)."""
    return base64.urlsafe_b64encode(f"{batch.bare_id}|{local}".encode()).decode().rstrip("=")


def _identity(text: str | None) -> str | None:
    return text


def _file_info(part: FilePart) -> dict[str, Any]:
    return {"filename": part.filename, "size": len(part.data), "content_type": part.content_type}
