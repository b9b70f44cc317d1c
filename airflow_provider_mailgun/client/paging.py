"""Mailgun's two paging styles, as lazy iterators.

Cursor paging (events, suppressions, list and member pages, tags, templates): follow
``paging.next`` exactly as returned (it embeds the filters and, for events, an opaque token in the
path) until a page's ``items`` is empty, missing or null; stop too if a ``next`` link repeats::

    for page in cursor_pages(transport.request, "/v3/lists/pages", {"limit": 100}):
        print(page.items, page.next_url)

Skip/limit paging (routes, domains, credentials): advance ``skip`` until ``total_count`` items
were seen or a page comes back empty (or short, when a reply has no ``total_count``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Getter = Callable[..., Any]


@dataclass(frozen=True)
class Page:
    """One page of results and the link to the next one (``None`` when there is none)."""

    items: list[dict[str, Any]]
    url: str
    next_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def read_page(request: Getter, url: str, params: Mapping[str, Any] | None = None) -> Page:
    """Fetch one cursor page (``items`` null or missing counts as empty)."""
    body = request("GET", url, params=params) or {}
    items = body.get("items") or []
    paging = body.get("paging") or {}
    next_url = paging.get("next") if isinstance(paging, Mapping) else None
    return Page(items=list(items), url=url, next_url=next_url or None, raw=body)


def cursor_pages(
    request: Getter, path: str, params: Mapping[str, Any] | None = None, *, max_pages: int | None = None
) -> Iterator[Page]:
    """Yield non-empty pages by following ``paging.next``; see the module docstring."""
    url, query = path, params
    seen: set[str] = set()
    count = 0
    while max_pages is None or count < max_pages:
        page = read_page(request, url, query)
        if not page.items:
            return
        yield page
        count += 1
        if page.next_url is None or page.next_url in seen or page.next_url == url:
            return
        seen.add(page.next_url)
        url, query = page.next_url, None


def skip_limit_items(
    request: Getter, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 100
) -> Iterator[dict[str, Any]]:
    """Yield every item of a ``{"total_count", "items"}`` listing, ``limit`` per request."""
    skip = 0
    previous: list[Any] | None = None
    while True:
        query = {**(params or {}), "skip": skip, "limit": limit}
        body = request("GET", path, params=query) or {}
        items = list(body.get("items") or [])
        if items == previous:
            return  # the server ignores ``skip``: the same page again would loop forever
        yield from items
        skip += len(items)
        total = body.get("total_count")
        if not items or (isinstance(total, int) and skip >= total):
            return
        if not isinstance(total, int) and len(items) < limit:
            return  # no total to count against: a short page is the last one
        previous = items
