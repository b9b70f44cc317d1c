"""Mailing lists (account-level) and their members.

Members are keyed by lowercase address and paged alphabetically. :func:`make_member` turns form
fields or one entry of a ``members.json`` upload into a member record; it is shared with the
seeding helper ``emu.seed_list``.

A send whose ``to`` names a list is expanded by :func:`list_fanout`, as Mailgun expands it: one
copy per subscribed member, ``%recipient.x%`` read from the member's ``vars``.

Example::

    key, member = make_member({"address": "Alice <alice@x.com>", "vars": '{"age": 26}'})
    # ("alice@x.com", {"address": "alice@x.com", "name": "Alice", "vars": {"age": 26}, "subscribed": True})
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mailgun.testing.model.messages import Batch, CopyTarget, display_address
from airflow_provider_mailgun.testing.model.paging import SortedTable
from airflow_provider_mailgun.testing.util import ApiError, rfc2822, split_addresses

ACCESS_LEVELS = ("readonly", "members", "everyone")
REPLY_PREFERENCES = ("list", "sender")
MAX_MEMBERS_PAGE = 100
MAX_UPLOAD = 1000
SYNC_UPLOAD = 100


class MemberError(ApiError, ValueError):
    """Invalid member data (answered with 400)."""


@dataclass
class MailingList:
    address: str
    name: str = ""
    description: str = ""
    access_level: str = "readonly"
    reply_preference: str = "list"
    created_at: float = 0.0
    members: SortedTable[dict[str, Any]] = field(default_factory=SortedTable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "description": self.description,
            "access_level": self.access_level,
            "reply_preference": self.reply_preference,
            "created_at": rfc2822(self.created_at),
            "members_count": len(self.members),
        }

    def apply(self, entries: Iterable[tuple[str, dict[str, Any]]], upsert: bool) -> int:
        """Add members; existing ones are updated with ``upsert`` else left alone (bulk rule)."""
        changed = 0
        for key, member in entries:
            if key in self.members and not upsert:
                continue
            self.members.put(key, member)
            changed += 1
        return changed


def parse_vars(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(str(raw))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise MemberError("'vars' parameter is not a valid JSON")
    return value


def parse_subscribed(raw: Any, default: bool = True) -> bool:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in ("yes", "true", "1")


def make_member(data: Mapping[str, Any] | str) -> tuple[str, dict[str, Any]]:
    """``(key, member)`` from form fields, a bulk-upload object or a bare address string."""
    if isinstance(data, str):
        data = {"address": data}
    raw = str(data.get("address") or "").strip()
    if not raw:
        raise MemberError("Missing mandatory parameter: address")
    parsed = split_addresses([raw])
    if not parsed or len(parsed) != 1:
        raise MemberError(f"'{raw}' is not a valid address")
    _display, address, name = parsed[0]
    member = {
        "address": address,
        "name": str(data.get("name") or name),
        "vars": parse_vars(data.get("vars")),
        "subscribed": parse_subscribed(data.get("subscribed")),
    }
    return address.lower(), member


def list_fanout(lists: Mapping[str, MailingList], batch: Batch) -> list[CopyTarget] | None:
    """The copies of a send whose ``to`` names mailing lists (None when it names none).

    Each list becomes one copy per *subscribed* member (unsubscribed members get none), in the
    list's address order, with the member's ``vars``; other ``to`` addresses, cc and bcc keep one
    copy each. An address reached twice (a member of two lists, or also named in ``to``) gets one.
    """
    if not any(address.lower() in lists for address in batch.to_addr):
        return None
    targets: list[CopyTarget] = []
    seen: set[str] = set()

    def add(target: CopyTarget) -> None:
        key = target.address.lower()
        if key not in seen:
            seen.add(key)
            targets.append(target)

    for index, (address, display) in enumerate(zip(batch.to_addr, batch.to, strict=True)):
        mlist = lists.get(address.lower())
        if mlist is None:
            add(CopyTarget(address, display, index if batch.batch_mode else None))
            continue
        for key in mlist.members:
            member = mlist.members.records[key]
            if member["subscribed"]:
                address = member["address"]
                # As written: formataddr would RFC 2047-encode a name like "Zoë", and
                # %recipient_name% would show the encoded word.
                shown = display_address(member["name"], address)
                add(CopyTarget(address, shown, index, dict(member["vars"]), mlist.address))
    extras = zip(batch.cc_addr + batch.bcc_addr, batch.cc + batch.bcc, strict=True)
    for address, display in extras:
        add(CopyTarget(address, display, None))
    return targets


def unsubscribe_member(lists: Mapping[str, MailingList], list_address: str, address: str) -> bool:
    """Mark a member unsubscribed (what a list's unsubscribe link does); False if not a member."""
    mlist = lists.get(list_address.lower())
    member = mlist.members.get(address.lower()) if mlist is not None else None
    if member is None:
        return False
    mlist.members.put(address.lower(), {**member, "subscribed": False})  # type: ignore[union-attr]
    return True
