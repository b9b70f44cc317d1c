"""The exported row: a Logs item, as canonical JSON, in a stable order.

Rows are Logs items as the API returns them. Events read from the Events API (the fallback) are
reshaped to the Logs names: ``timestamp`` becomes ``@timestamp`` (ISO 8601, milliseconds),
``domain`` an object, ``user-variables`` JSON text and ``storage.url`` a list.

Re-running an export must give the same bytes, so each row is written with sorted keys and no
spaces, and rows sharing one ``@timestamp`` (whose order the API does not promise) are sorted by
event id; only those rows are held in memory at once. A row seen twice in such a group (same id
and content) is written once::

    order = LineOrder()
    for chunk in ordered_chunks(pages_of_rows, order):
        out.write(chunk)
    order.rows
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator
from typing import Any

try:  # Airflow installs msgspec: its encoder writes the same canonical form many times faster
    from msgspec.json import Encoder as _Encoder

    _fast_encode: Any = _Encoder(order="sorted").encode
except ImportError:  # pragma: no cover
    _fast_encode = None


def canonical(row: dict[str, Any]) -> bytes:
    """One JSON Lines line: sorted keys, compact separators, UTF-8, newline-terminated."""
    if _fast_encode is not None:
        return _fast_encode(row) + b"\n"  # type: ignore[no-any-return]
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


class LineOrder:
    """Turns pages of rows (in time order) into canonical JSON Lines chunks, one per page.

    Rows sharing an ``@timestamp`` are held back until a later timestamp shows up, then written
    sorted by id (a repeat of the same id and content written once); :meth:`finish` writes the
    last ones. ``rows`` counts the lines produced.
    """

    def __init__(self) -> None:
        self.rows = 0
        self._group: list[tuple[str, bytes]] = []
        self._stamp: Any = None

    def add(self, rows: Iterable[dict[str, Any]]) -> bytes:
        out: list[bytes] = []
        group, stamp = self._group, self._stamp
        for row in rows:
            current = row.get("@timestamp")
            if current != stamp and group:
                self._flush(group, out)
                group = []
            stamp = current
            group.append((str(row.get("id", "")), canonical(row)))
        self._group, self._stamp = group, stamp
        return b"".join(out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        if self._group:
            self._flush(self._group, out)
            self._group = []
        return b"".join(out)

    def _flush(self, group: list[tuple[str, bytes]], out: list[bytes]) -> None:
        if len(group) == 1:
            out.append(group[0][1])
            self.rows += 1
            return
        previous = None
        for entry in sorted(group):
            if entry != previous:
                out.append(entry[1])
                self.rows += 1
            previous = entry


def ordered_chunks(pages: Iterable[list[dict[str, Any]]], order: LineOrder) -> Iterator[bytes]:
    """The chunks of ``order`` for every page, then its last held-back rows."""
    for rows in pages:
        chunk = order.add(rows)
        if chunk:
            yield chunk
    tail = order.finish()
    if tail:
        yield tail
