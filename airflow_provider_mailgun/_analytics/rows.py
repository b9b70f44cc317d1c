"""The exported row: a Logs item, as canonical JSON, in a stable order.

Rows are Logs items as the API returns them. Events read from the Events API (the fallback) are
reshaped to the Logs names: ``timestamp`` becomes ``@timestamp`` (ISO 8601, milliseconds),
``domain`` an object, ``user-variables`` JSON text and ``storage.url`` a list.

Re-running an export must give the same bytes, so each row is written with sorted keys and no
spaces, and rows sharing one ``@timestamp`` (whose order the API does not promise) are sorted by
event id; only those rows are held in memory at once. A row seen twice in such a group (same id
and content) is written once::

    for line in ordered_lines(rows):
        out.write(line)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator
from typing import Any


def canonical(row: dict[str, Any]) -> bytes:
    """One JSON Lines line: sorted keys, compact separators, UTF-8, newline-terminated."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _iso_ms(epoch: float) -> str:
    whole = math.floor(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((epoch - whole) * 1000):03d}Z"


def from_events_api(event: dict[str, Any], domain: str) -> dict[str, Any]:
    """An Events API event in the Logs item shape (see the module docstring)."""
    row = dict(event)
    stamp = row.pop("timestamp", None)
    if isinstance(stamp, int | float):
        row["@timestamp"] = _iso_ms(float(stamp))
    row["domain"] = {"name": domain}
    variables = row.get("user-variables")
    if not isinstance(variables, str):
        row["user-variables"] = json.dumps(variables or {}, separators=(",", ":"), ensure_ascii=False)
    storage = row.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("url"), str):
        row["storage"] = {**storage, "url": [storage["url"]]}
    return row


def ordered_lines(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """Canonical lines, rows of equal ``@timestamp`` sorted by id (input is in time order)."""
    group: list[tuple[str, bytes]] = []
    current: Any = None
    for row in rows:
        stamp = row.get("@timestamp")
        if stamp != current and group:
            yield from _flush(group)
            group = []
        current = stamp
        group.append((str(row.get("id", "")), canonical(row)))
    if group:
        yield from _flush(group)


def _flush(group: list[tuple[str, bytes]]) -> Iterator[bytes]:
    if len(group) == 1:
        yield group[0][1]
        return
    previous = None
    for entry in sorted(group):
        if entry != previous:
            yield entry[1]
        previous = entry
