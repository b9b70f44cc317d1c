"""The web inbox's views of mailing lists (with members) and of the suppression tables.

Both kinds of records are kept sorted by address, so a page is a bisect and a slice: the search box
narrows to addresses starting with what was typed, and paging uses the address as cursor.

Example::

    with state.lock:
        body = suppressions_view(state, {"domain": "mg.example.com", "kind": "bounces"})
        body = list_view(state, "newsletter@mg.example.com", {"after": "bob@example.com"})
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_mailgun.testing.inbox.html import (
    INBOX_PREFIX,
    Html,
    esc,
    key_values,
    link,
    pager,
    search_form,
    table,
    url,
)
from airflow_provider_mailgun.testing.model.state import SUPPRESSION_KINDS, EmulatorState
from airflow_provider_mailgun.testing.util import rfc2822

PAGE_SIZE = 50
KIND_TITLES = {
    "bounces": "Bounces",
    "unsubscribes": "Unsubscribes",
    "complaints": "Complaints",
    "whitelists": "Allowlists",
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "bounces": ("Address", "Code", "Error", "Created"),
    "unsubscribes": ("Address", "Tags", "Created"),
    "complaints": ("Address", "Created"),
    "whitelists": ("Address or domain", "Type", "Reason", "Created"),
}


_MEMBER_COLUMNS = ("Address", "Name", "Subscribed", "Variables")


@dataclass
class Window:
    """One page of sorted keys and whether pages exist before and after it."""

    keys: list[str]
    has_previous: bool
    has_next: bool


def key_window(keys: list[str], params: Mapping[str, str], limit: int = PAGE_SIZE) -> Window:
    """The page of ``keys`` (sorted) that ``q`` (prefix), ``after``, ``before`` or ``page=last`` ask for."""
    prefix = params.get("q", "").strip().lower()
    lo, hi = 0, len(keys)
    if prefix:
        lo, hi = bisect_left(keys, prefix), bisect_left(keys, prefix + "\U0010ffff")
    after, before = params.get("after"), params.get("before")
    if after is not None:
        start = max(lo, bisect_right(keys, after))
        end = min(hi, start + limit)
    elif before is not None:
        end = min(hi, bisect_left(keys, before))
        start = max(lo, end - limit)
    elif params.get("page") == "last":
        end = hi
        start = max(lo, hi - limit)
    else:
        start, end = lo, min(hi, lo + limit)
    if start >= end and (after is not None or before is not None):
        start, end = lo, min(hi, lo + limit)  # a stale cursor: back to the first page
    return Window(keys[start:end], has_previous=start > lo, has_next=end < hi)


def _pager(path: str, window: Window, keep: dict[str, str | None]) -> Html:
    first, last = (window.keys[0], window.keys[-1]) if window.keys else (None, None)
    return pager(
        [
            ("First", url(path, **keep) if window.has_previous else None),
            ("Previous", url(path, **keep, before=first) if window.has_previous else None),
            ("Next", url(path, **keep, after=last) if window.has_next else None),
            ("Last", url(path, **keep, page="last") if window.has_next else None),
        ]
    )


def list_href(address: str) -> str:
    return f"{INBOX_PREFIX}/lists/{quote(address, safe='@')}"


def lists_view(state: EmulatorState, params: Mapping[str, str]) -> Html:
    """All mailing lists, by address (call under the lock)."""
    path = f"{INBOX_PREFIX}/lists"
    window = key_window(sorted(state.lists), params)
    rows = []
    for key in window.keys:
        mlist = state.lists[key]
        rows.append(
            [
                link(list_href(mlist.address), mlist.address),
                esc(mlist.name),
                esc(mlist.description),
                esc(mlist.access_level),
                esc(mlist.reply_preference),
                esc(f"{len(mlist.members):,}"),
                esc(rfc2822(mlist.created_at)),
            ]
        )
    columns = ("Address", "Name", "Description", "Access level", "Reply preference", "Members", "Created")
    q = params.get("q", "")
    return Html(
        "<h1>Mailing lists</h1>"
        f"{search_form(path, q, 'address starts with...')}"
        f'<section id="lists-section" data-live><p class="summary">{esc(f"{len(state.lists):,} lists")}</p>'
        f"{table(columns, rows, table_id='lists', empty='No mailing lists.')}"
        f"{_pager(path, window, {'q': q or None})}</section>"
    )


def list_view(state: EmulatorState, address: str, params: Mapping[str, str]) -> Html | None:
    """One list with a page of its members, or None when there is no such list."""
    mlist = state.lists.get(address.lower())
    if mlist is None:
        return None
    path = list_href(mlist.address)
    members = mlist.members
    window = key_window(members.sorted_keys(), params)
    rows = []
    for key in window.keys:
        member = members.records[key]
        rows.append(
            [
                esc(member["address"]),
                esc(member.get("name", "")),
                esc("yes" if member.get("subscribed") else "no"),
                esc(json.dumps(member.get("vars") or {})),
            ]
        )
    details = key_values(
        [
            ("Name", esc(mlist.name)),
            ("Description", esc(mlist.description)),
            ("Access level", esc(mlist.access_level)),
            ("Reply preference", esc(mlist.reply_preference)),
            ("Created", esc(rfc2822(mlist.created_at))),
        ],
        table_id="list-details",
    )
    q = params.get("q", "")
    summary = f"{len(members):,} members"
    return Html(
        f"<p>{link(f'{INBOX_PREFIX}/lists', '← All lists')}</p><h1>{esc(mlist.address)}</h1>{details}"
        f"<h2>Members</h2>{search_form(path, q, 'address starts with...')}"
        f'<section id="members-section" data-live><p class="summary">{esc(summary)}</p>'
        f"{table(_MEMBER_COLUMNS, rows, table_id='members', empty='No members.')}"
        f"{_pager(path, window, {'q': q or None})}</section>"
    )


def _suppression_row(kind: str, record: dict[str, Any]) -> list[Html]:
    if kind == "bounces":
        return [esc(record["address"]), esc(record["code"]), esc(record["error"]), esc(record["created_at"])]
    if kind == "unsubscribes":
        return [esc(record["address"]), esc(", ".join(record["tags"])), esc(record["created_at"])]
    if kind == "complaints":
        return [esc(record["address"]), esc(record["created_at"])]
    return [esc(record["value"]), esc(record["type"]), esc(record["reason"]), esc(record["createdAt"])]


def suppressions_view(state: EmulatorState, params: Mapping[str, str]) -> Html:
    """One domain's bounces, unsubscribes, complaints or allowlist, with counts of each."""
    path = f"{INBOX_PREFIX}/suppressions"
    names = list(state.domains)
    domain = params.get("domain", "").lower()
    if domain not in state.domains:
        domain = names[0] if names else ""
    kind = params.get("kind", "bounces")
    if kind not in SUPPRESSION_KINDS:
        kind = "bounces"
    if not domain:
        return Html('<h1>Suppressions</h1><p class="muted">No domains.</p>')
    tables = state.domains[domain].suppressions
    domain_links = " ".join(
        link(url(path, domain=name, kind=kind), name, **({"aria-current": "true"} if name == domain else {}))
        for name in names
    )
    kind_links = " ".join(
        link(
            url(path, domain=domain, kind=k),
            f"{KIND_TITLES[k]} ({len(tables[k]):,})",
            **({"aria-current": "page"} if k == kind else {}),
        )
        for k in SUPPRESSION_KINDS
    )
    records = tables[kind]
    window = key_window(records.sorted_keys(), params)
    rows = [_suppression_row(kind, records.records[key]) for key in window.keys]
    q = params.get("q", "")
    keep: dict[str, str | None] = {"domain": domain, "kind": kind, "q": q or None}
    title = KIND_TITLES[kind]
    return Html(
        f'<h1>Suppressions</h1><p class="tabs">Domain: {domain_links}</p>'
        f'<p class="tabs" id="kinds">{kind_links}</p>'
        f"{search_form(path, q, 'address starts with...', {'domain': domain, 'kind': kind})}"
        f'<section id="suppressions-section" data-live><h2>{esc(title)} of {esc(domain)}</h2>'
        f"{table(_COLUMNS[kind], rows, table_id='suppressions', empty=f'No {title.lower()}.')}"
        f"{_pager(path, window, keep)}</section>"
    )
