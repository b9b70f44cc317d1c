"""Mailgun's two paging styles, as lazy iterators.

Cursor paging (events, suppressions, list and member pages, tags, templates): follow
``paging.next`` as returned (it embeds the filters and, for events, an opaque token in the path;
the transport requests it on the configured host) until a page's ``items`` is empty, missing or
null; stop too if a ``next`` link repeats or a page repeats the previous one's items under a new
link (a server ignoring its cursor). A source still handing out new pages after :data:`MAX_PAGES`
is cut off with :class:`PagingLimitError` rather than followed forever::

    for page in cursor_pages(transport.request, "/v3/lists/pages", {"limit": 100}):
        print(page.items, page.next_url)

Skip/limit paging (routes, domains, credentials): advance ``skip`` until ``total_count`` items
were seen or a page comes back empty (or short, when a reply has no ``total_count``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mailgun.client.errors import MailgunError

Getter = Callable[..., Any]
# 10 million list members at 100 a page, 30 million events at 300: far beyond any real listing.
MAX_PAGES = 100_000


class PagingLimitError(MailgunError):
    """A listing kept handing out new pages past :data:`MAX_PAGES`; what was read is incomplete."""


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
    """Yield non-empty pages by following ``paging.next``; see the module docstring.

    ``max_pages`` stops quietly after that many pages (a caller wanting only the first ones).
    """
    url, query = path, params
    seen: set[str] = set()
    previous: list[dict[str, Any]] | None = None
    count = 0
    while max_pages is None or count < max_pages:
        if count >= MAX_PAGES:
            raise PagingLimitError(
                f"Paging {urlsplit(path).path} did not end after {MAX_PAGES} pages: the server keeps "
                "handing out new pages; stopped rather than read forever."
            )
        page = read_page(request, url, query)
        if not page.items or page.items == previous:
            return
        yield page
        count += 1
        if page.next_url is None or page.next_url in seen or page.next_url == url:
            return
        seen.add(page.next_url)
        url, query, previous = page.next_url, None, page.items


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
