"""The members a list sync should end with, read from a CSV file, a JSON Lines file or a list.

Files are streamed row by row; only one compact entry per distinct member is kept::

    source = read_source("/data/members.csv")      # or .jsonl / .ndjson, or a list, or JSON text
    source.members     # {"ann@x.org": SourceMember("ann@x.org", "Ann", '{"city":"Oslo"}', None)}
    source.invalid     # [("not-an-address", "line 3: An email address must have an @-sign.")]
    source.rows, source.duplicates

Accepted entries (list items and JSON Lines lines alike): an address string (``"a@x.org"`` or
``"Ann <a@x.org>"``), or an object with ``address`` and optionally ``name``, ``vars`` (an object, or
JSON text of one) and ``subscribed`` (true/false or yes/no). CSV: a header row with ``address``, and
optionally ``name`` and ``subscribed``; every other column becomes a var (values stay text, empty
cells are left out). A field an entry does not carry is ``None``: the sync keeps the member's
current value; in a CSV an empty ``name`` or ``subscribed`` cell is such a field. Addresses are
validated with email-validator and identified case-insensitively; when an address appears more
than once, later rows win for the fields they carry.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_mailgun._common.addresses import parse_address
from airflow_provider_mailgun._list_sync.plan import SourceMember, canonical_vars, merge_source
from airflow_provider_mailgun.exceptions import InvalidAddressError, ListSourceError

CSV_SUFFIXES = (".csv",)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
ENTRY_FIELDS = frozenset({"address", "name", "vars", "subscribed"})
CSV_SPECIAL_COLUMNS = ("address", "name", "subscribed")
SHOWN_VALUE_CHARS = 100
YES = frozenset({"yes", "true", "1", "y"})
NO = frozenset({"no", "false", "0", "n"})

MembersInput = str | os.PathLike[str] | Iterable[Any]


@dataclass
class SourceRead:
    """What a source held: valid members by key, invalid rows as (value, reason), and tallies."""

    members: dict[str, SourceMember] = field(default_factory=dict)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    rows: int = 0
    duplicates: int = 0

    def add(self, location: str, entry: Any) -> None:
        self.rows += 1
        try:
            member = parse_entry(entry)
        except (InvalidAddressError, ValueError) as err:
            self.invalid.append((_shown_value(entry), f"{location}: {err}"))
            return
        key = member.address.lower()
        earlier = self.members.get(key)
        if earlier is not None:
            self.duplicates += 1
            member = merge_source(earlier, member)
        self.members[key] = member


def read_source(members: MembersInput | None) -> SourceRead:
    """Read and validate every entry of ``members``; see the module docstring for the formats."""
    source = SourceRead()
    for location, entry in _entries(members):
        source.add(location, entry)
    return source


def parse_entry(entry: Any) -> SourceMember:
    """One entry as a :class:`SourceMember`; raises ValueError saying what is wrong with it."""
    if isinstance(entry, _RowError):
        raise ValueError(entry.reason)
    if isinstance(entry, str):
        address = parse_address(entry)
        return SourceMember(address.email, address.name or None, None, None)
    if not isinstance(entry, Mapping):
        raise ValueError(f"expected an address or an object with 'address', got {type(entry).__name__}")
    unknown = sorted(str(key) for key in entry if key not in ENTRY_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} (use vars for custom data)")
    raw_address, name = entry.get("address"), entry.get("name")
    if not isinstance(raw_address, str):
        raise ValueError("missing address")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"name must be text, got {type(name).__name__}")
    address = parse_address(raw_address, name or "")
    raw_vars = entry.get("vars")
    return SourceMember(
        address=address.email,
        # A display name given with the address fills in for a missing or empty name.
        name=name or address.name or name,
        vars_json=None if raw_vars is None else canonical_vars(raw_vars),
        subscribed=parse_subscribed(entry.get("subscribed")),
    )


def parse_subscribed(value: Any) -> bool | None:
    """``True``/``False`` from a bool or yes/no/true/false text; ``None`` when absent or empty."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in YES:
            return True
        if text in NO:
            return False
    raise ValueError(f"subscribed must be yes/no or true/false, got {value!r}")


def _entries(members: MembersInput | None) -> Iterator[tuple[str, Any]]:
    if members is None:
        raise ListSourceError("members is required: a list, an XCom of one, or a .csv/.jsonl path.")
    if isinstance(members, os.PathLike):
        yield from _file_entries(Path(members))
    elif isinstance(members, str):
        text = members.strip()
        if text.startswith("["):
            yield from _json_array_entries(text)
        else:
            yield from _file_entries(Path(text))
    elif isinstance(members, Mapping):
        raise ListSourceError("members must be a list of entries, not a single object.")
    else:
        for index, entry in enumerate(members, start=1):
            yield f"item {index}", entry


def _json_array_entries(text: str) -> Iterator[tuple[str, Any]]:
    try:
        items = json.loads(text)
    except ValueError:
        raise ListSourceError("members looks like a JSON array but is not valid JSON.") from None
    for index, entry in enumerate(items, start=1):
        yield f"item {index}", entry


def _file_entries(path: Path) -> Iterator[tuple[str, Any]]:
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSON_LINES_SUFFIXES:
        raise ListSourceError(
            f"members must be a list, or a path ending in .csv, .jsonl or .ndjson; got {str(path)[:200]!r}."
        )
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ListSourceError(f"members file {str(path)!r} does not exist.") from None
    with handle:
        if suffix in CSV_SUFFIXES:
            yield from _csv_entries(handle, path)
        else:
            yield from _json_lines_entries(handle)


def _csv_entries(handle: Iterable[str], path: Path) -> Iterator[tuple[str, Any]]:
    reader = csv.DictReader(handle)
    raw_columns = list(reader.fieldnames or [])
    by_name = {column.strip().lower(): column for column in raw_columns}
    if "address" not in by_name:
        shown = ", ".join(column.strip() for column in raw_columns) or "none"
        raise ListSourceError(f"{path.name} has no 'address' column (header: {shown}).")
    special = {name: by_name[name] for name in CSV_SPECIAL_COLUMNS if name in by_name}
    var_columns = [
        (column, column.strip())
        for column in raw_columns
        if column.strip() and column.strip().lower() not in CSV_SPECIAL_COLUMNS
    ]
    for row in reader:
        location = f"line {reader.line_num}"
        if None in row:
            yield location, _RowError("more cells than header columns", row.get(special["address"]))
            continue
        entry: dict[str, Any] = {"address": row.get(special["address"]) or ""}
        if "name" in special:
            # An empty cell says nothing (as for subscribed and the vars): the member's name is kept.
            entry["name"] = (row.get(special["name"]) or "").strip() or None
        if "subscribed" in special:
            entry["subscribed"] = row.get(special["subscribed"]) or None
        if var_columns:
            entry["vars"] = {clean: row[raw] for raw, clean in var_columns if row.get(raw)}
        yield location, entry


def _json_lines_entries(handle: Iterable[str]) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except ValueError:
            yield f"line {number}", _RowError("not valid JSON", line.strip())


class _RowError:
    """A row that is wrong before it is an entry (bad JSON, ragged CSV); parse_entry rejects it."""

    def __init__(self, reason: str, value: Any) -> None:
        self.reason = reason
        self.value = value


def _shown_value(entry: Any) -> str:
    if isinstance(entry, _RowError):
        entry = entry.value
    if isinstance(entry, Mapping) and isinstance(entry.get("address"), str):
        entry = entry["address"]
    text = entry if isinstance(entry, str) else repr(entry)
    return text[:SHOWN_VALUE_CHARS]
