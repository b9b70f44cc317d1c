"""Shared plumbing of the resource classes: the transport, and form-field normalisation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.transport import Transport


FormFields = list[tuple[str, str]]
FieldsInput = Mapping[str, Any] | Iterable[tuple[str, Any]]


class Resource:
    """A group of endpoints sharing one transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._request = transport.request

    def _call(self, method: str, path: str, *, unwrap: str | None = None, **options: Any) -> dict[str, Any]:
        """One request whose reply is a JSON object; ``unwrap`` returns the object under that key."""
        body = self._request(method, path, **options)
        if not isinstance(body, dict):
            return {"items": body}
        inner = body.get(unwrap) if unwrap else None
        return inner if isinstance(inner, dict) else body


def form_value(value: Any) -> str:
    """Mailgun's form encoding of one value: booleans as yes/no, dicts and lists as JSON."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, datetime):
        return str(value.timestamp())
    return str(value)


def form_fields(fields: FieldsInput) -> FormFields:
    """Normalise a mapping or pairs into (name, value) pairs; sequences become repeated keys.

    >>> form_fields({"to": ["a@x.org", "b@x.org"], "o:testmode": True, "cc": None})
    [('to', 'a@x.org'), ('to', 'b@x.org'), ('o:testmode', 'yes')]
    """
    items = fields.items() if isinstance(fields, Mapping) else fields
    pairs: FormFields = []
    for name, value in items:
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            pairs.extend((name, form_value(each)) for each in value)
        else:
            pairs.append((name, form_value(value)))
    return pairs


def drop_none(**fields: Any) -> dict[str, Any]:
    """Keyword arguments minus the ones left at None (Mailgun treats absent and empty differently)."""
    return {name: value for name, value in fields.items() if value is not None}


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
