"""Mailgun's paging styles, as lazy iterators.

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

The v1 analytics APIs page inside a JSON body that is POSTed again for every page: Logs with
``pagination.token`` (the previous reply's ``pagination.next``), Metrics and Tags with
``pagination.skip``. :func:`next_token_body` and :func:`next_offset_body` compute the next body
(or ``None`` at the end) for both the sync and the async client::

    for page in body_pages(post_logs, first_body, next_token_body):
        print(page.items)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mailgun.exceptions import PagingLimitError

Getter = Callable[..., Any]
# 10 million list members at 100 a page, 30 million events at 300: far beyond any real listing.
MAX_PAGES = 100_000


def check_page_bound(pages_read: int, path: str) -> None:
    """Raise :class:`PagingLimitError` once a listing has read :data:`MAX_PAGES` pages (every style)."""
    if pages_read >= MAX_PAGES:
        raise PagingLimitError(
            f"Paging {urlsplit(path).path} did not end after {MAX_PAGES} pages: the server keeps "
            "handing out new pages; stopped rather than read forever."
        )


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
        check_page_bound(count, path)
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
    for pages_read in itertools.count():
        check_page_bound(pages_read, path)
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


@dataclass(frozen=True)
class BodyPage:
    """One page of a body-paged API and the request body that produced it."""

    items: list[dict[str, Any]]
    body: Mapping[str, Any]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


#: Next request body from (this body, its reply), or ``None`` when the listing is complete.
Advance = Callable[[Mapping[str, Any], Mapping[str, Any]], "dict[str, Any] | None"]


def reply_items(reply: Any) -> list[dict[str, Any]]:
    """``items`` of a reply (missing or null counts as empty)."""
    items = reply.get("items") if isinstance(reply, Mapping) else None
    return list(items or [])


def _pagination(data: Any) -> Mapping[str, Any]:
    found = data.get("pagination") if isinstance(data, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def next_token_body(body: Mapping[str, Any], reply: Mapping[str, Any]) -> dict[str, Any] | None:
    """Logs: the same body with ``pagination.token`` set to the reply's ``next`` token.

    The end is an empty page, a reply without ``next``, or a ``next`` equal to the token just
    used. A short page is not the end: the API does not promise full pages.
    """
    token = _pagination(reply).get("next")
    current = _pagination(body)
    if not reply_items(reply) or not isinstance(token, str) or not token or token == current.get("token"):
        return None
    return {**body, "pagination": {**current, "token": token}}


def next_offset_body(body: Mapping[str, Any], reply: Mapping[str, Any]) -> dict[str, Any] | None:
    """Metrics and Tags: ``pagination.skip`` advanced by the page; the end is a short page or total."""
    current = _pagination(body)
    items = reply_items(reply)
    limit, skip = current.get("limit"), int(current.get("skip") or 0)
    if not items or (isinstance(limit, int) and len(items) < limit):
        return None
    total = _pagination(reply).get("total")
    if isinstance(total, int) and skip + len(items) >= total:
        return None
    return {**body, "pagination": {**current, "skip": skip + len(items)}}


def body_pages(
    post: Callable[[Mapping[str, Any]], Any],
    body: Mapping[str, Any],
    advance: Advance,
    *,
    max_pages: int | None = None,
) -> Iterator[BodyPage]:
    """Yield non-empty pages, POSTing ``body`` and then each body ``advance`` returns."""
    seen: set[str] = set()
    count = 0
    for requests_made in itertools.count():
        if max_pages is not None and count >= max_pages:
            return
        check_page_bound(requests_made, "the body-paged listing")
        reply = post(body) or {}
        page = BodyPage(items=reply_items(reply), body=body, raw=reply)
        if page.items:
            yield page
            count += 1
        following = advance(body, reply)
        if following is None:
            return
        key = json.dumps(_pagination(following), sort_keys=True, default=str)
        if key in seen:
            return  # the server handed back a page position already read: stop, never loop
        seen.add(key)
        body = following
