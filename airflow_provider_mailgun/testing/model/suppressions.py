"""Suppression records (bounces, unsubscribes, complaints, whitelists) and Mailgun's wording.

Records are stored in the shape the API returns them, keyed by lowercase address (or domain for
domain whitelist entries). :func:`make_record` validates one input record (form fields or a JSON
object of a bulk upload) and is shared with the seeding helpers.

Example::

    key, record = make_record("bounces", {"address": "Bob@x.com", "code": 554}, now)
    # ("bob@x.com", {"address": "bob@x.com", "code": "554", "error": "", "created_at": "..."})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_mailgun.testing.util import ApiError, parse_date, rfc2822, valid_address

#: Per kind: added (single), added (bulk, %d), not found, removed one, removed all.
WORDING: dict[str, dict[str, str]] = {
    "bounces": {
        "added": "Address has been added to the bounces table",
        "bulk": "{n} addresses have been added to the bounces table",
        "missing": "Address not found in bounces table",
        "removed": "Bounced address has been removed",
        "cleared": "Bounced addresses for this domain have been removed",
    },
    "unsubscribes": {
        "added": "Address has been added to the unsubscribes table",
        "bulk": "{n} addresses have been added to the unsubscribes table",
        "missing": "Address not found in unsubscribers table",
        "removed": "Unsubscribe event has been removed",
        "cleared": "Unsubscribe addresses for this domain have been removed",
    },
    "complaints": {
        "added": "Address has been added to the complaints table",
        "bulk": "{n} complaint addresses have been added to the complaints table",
        "missing": "No spam complaints found for this address",
        "removed": "Spam complaint has been removed",
        "cleared": "Complaint addresses for this domain have been removed",
    },
    "whitelists": {
        "added": "Address/Domain has been added to the allowlists table",
        "bulk": "",
        "missing": "Address/Domain not found in allowlist table",
        "removed": "Allowlist address/domain has been removed",
        "cleared": "Allowlist addresses/domains for this domain have been removed",
    },
}
MAX_BULK = 1000
MAX_PAGE = 1000


class RecordError(ApiError, ValueError):
    """An input record is invalid; the message is returned with a 400."""


def _created(value: Any, now: float) -> str:
    if value in (None, ""):
        return rfc2822(now)
    parsed = parse_date(str(value))
    if parsed is None:
        raise RecordError(f"Invalid created_at: {value}")
    return rfc2822(parsed)


def make_record(kind: str, data: Mapping[str, Any], now: float) -> tuple[str, dict[str, Any]]:
    """``(key, record)`` for one suppression entry; raises :class:`RecordError`."""
    if kind == "whitelists":
        address, domain = data.get("address"), data.get("domain")
        if bool(address) == bool(domain):
            raise RecordError("Missing mandatory parameter: address/domain")
        value = str(address or domain).strip().lower()
        rtype = "address" if address else "domain"
        if rtype == "address" and not valid_address(value):
            raise RecordError(f"'{value}' is not a valid address")
        record = {"value": value, "reason": str(data.get("reason") or ""), "type": rtype}
        record["createdAt"] = _created(data.get("created_at") or data.get("createdAt"), now)
        return value, record
    address = str(data.get("address") or "").strip().lower()
    if not address:
        raise RecordError("Missing mandatory parameter: address")
    if not valid_address(address):
        raise RecordError(f"'{address}' is not a valid address")
    created = _created(data.get("created_at"), now)
    if kind == "bounces":
        code = data.get("code")
        return address, {
            "address": address,
            "code": str(code) if code not in (None, "") else "550",
            "error": str(data.get("error") or ""),
            "created_at": created,
        }
    if kind == "unsubscribes":
        tags = data.get("tags")
        if tags is None:
            tag = data.get("tag")
            tags = [str(tag)] if tag not in (None, "") else ["*"]
        elif isinstance(tags, str):
            tags = [tags]
        return address, {"address": address, "tags": [str(t) for t in tags], "created_at": created}
    return address, {"address": address, "created_at": created}


def merge_unsubscribe(existing: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Adding an unsubscribe for an already unsubscribed address adds its tags."""
    if existing is None:
        return new
    tags = list(existing["tags"])
    tags.extend(t for t in new["tags"] if t not in tags)
    return {**existing, "tags": tags}


def unsubscribe_applies(record: dict[str, Any], message_tags: set[str]) -> bool:
    """``*`` suppresses everything; other tags only messages carrying one of them."""
    tags = record["tags"]
    return "*" in tags or any(t.lower() in message_tags for t in tags)
