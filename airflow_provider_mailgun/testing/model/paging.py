"""Cursor paging shared by suppressions, list members, lists, templates and tags.

Records live in a dict; the sorted key list is rebuilt lazily after inserts, so bulk imports stay
cheap and each page is a bisect plus a slice. Paging links are absolute URLs on the host the
client called (direct entrance) or on ``https://api.mailgun.net`` (gateway entrance).

Example::

    table = SortedTable()
    table.put("bob@example.com", {...})
    keys = table.page("next", pivot="alice@example.com", limit=100)
    links = cursor_links(base, "/v3/mg.example.com/bounces", "address", 100, keys, "alice@...")
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar
from urllib.parse import quote, urlencode

T = TypeVar("T")

PAGE_NAMES = ("first", "last", "next", "previous", "prev")


class SortedTable(Generic[T]):
    """Records keyed by a lowercase string, paged alphabetically by key."""

    __slots__ = ("_sorted", "records")

    def __init__(self) -> None:
        self.records: dict[str, T] = {}
        self._sorted: list[str] | None = []

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __iter__(self) -> Iterator[str]:
        return iter(self.sorted_keys())

    def get(self, key: str) -> T | None:
        return self.records.get(key)

    def put(self, key: str, record: T) -> bool:
        """Insert or replace; returns True when the key is new."""
        new = key not in self.records
        if new:
            self._sorted = None
        self.records[key] = record
        return new

    def remove(self, key: str) -> T | None:
        record = self.records.pop(key, None)
        if record is not None:
            self._sorted = None
        return record

    def clear(self) -> None:
        self.records.clear()
        self._sorted = []

    def sorted_keys(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.records)
        return self._sorted

    def page(
        self,
        page: str,
        pivot: str | None,
        limit: int,
        prefix: str | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> list[str]:
        """Keys of one page in ascending order.

        ``page`` is first/last/next/previous (``prev`` accepted); ``pivot`` is the key the
        next/previous page starts after/before; ``prefix`` narrows to keys starting with it;
        ``keep`` filters records (e.g. ``subscribed=yes``).
        """
        keys = self.sorted_keys()
        lo, hi = 0, len(keys)
        if prefix:
            lo = bisect_left(keys, prefix)
            hi = bisect_left(keys, prefix + "\U0010ffff")
        if page == "next" and pivot is not None:
            return self._walk(keys, max(lo, bisect_right(keys, pivot)), hi, 1, limit, keep)
        if page in ("previous", "prev") and pivot is not None:
            found = self._walk(keys, min(hi, bisect_left(keys, pivot)) - 1, lo - 1, -1, limit, keep)
            return found[::-1]
        if page == "last":
            return self._walk(keys, hi - 1, lo - 1, -1, limit, keep)[::-1]
        return self._walk(keys, lo, hi, 1, limit, keep)

    def _walk(
        self, keys: list[str], start: int, stop: int, step: int, limit: int, keep: Callable[[T], bool] | None
    ) -> list[str]:
        if keep is None:
            if step == 1:
                return keys[start : max(start, min(stop, start + limit))]
            low = max(stop + 1, start - limit + 1)
            return keys[low : start + 1][::-1] if start >= low else []
        out = []
        for i in range(start, stop, step):
            if keep(self.records[keys[i]]):
                out.append(keys[i])
                if len(out) >= limit:
                    break
        return out


def slice_sorted(keys: list[str], page: str, pivot: str | None, limit: int) -> list[str]:
    """One cursor page of an already sorted key list (small tables: lists, tags, templates)."""
    if page == "next" and pivot is not None:
        start = bisect_right(keys, pivot)
        return keys[start : start + limit]
    if page in ("previous", "prev") and pivot is not None:
        end = bisect_left(keys, pivot)
        return keys[max(0, end - limit) : end]
    return keys[-limit:] if page == "last" else keys[:limit]


def page_url(base: str, path: str, params: dict[str, str | int]) -> str:
    """Absolute URL ``base + path + ?query`` with the path percent-encoded like Mailgun's."""
    return f"{base}{quote(path, safe='/@')}?{urlencode(params)}"


def cursor_links(
    base: str,
    path: str,
    pivot_name: str,
    limit: int,
    keys: list[str],
    pivot: str | None,
    extra: dict[str, str] | None = None,
    prev_value: str = "previous",
) -> dict[str, str]:
    """The four paging links; on an empty page next/previous keep the request's pivot valid."""
    extra = extra or {}
    after = keys[-1] if keys else (pivot or "")
    before = keys[0] if keys else (pivot or "")

    def link(page: str, at: str | None) -> str:
        params: dict[str, str | int] = {"page": page}
        if at is not None:
            params[pivot_name] = at
        params["limit"] = limit
        params.update(extra)
        return page_url(base, path, params)

    return {
        "first": link("first", None),
        "last": link("last", None),
        "next": link("next", after),
        "previous": link(prev_value, before),
    }
