"""Mailing lists (account-level) and their members.

Members are keyed by lowercase address and paged alphabetically. :func:`make_member` turns form
fields or one entry of a ``members.json`` upload into a member record; it is shared with the
seeding helper ``emu.seed_list``.

Example::

    key, member = make_member({"address": "Alice <alice@x.com>", "vars": '{"age": 26}'})
    # ("alice@x.com", {"address": "alice@x.com", "name": "Alice", "vars": {"age": 26}, "subscribed": True})
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
