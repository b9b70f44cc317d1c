"""The web inbox's message list: newest first, searchable, paged with cursors.

Rows are built from the stored batch directly (recipient, substituted subject, tags, latest event),
never from a full message rendering, so a page of 50 costs the same with 100 or 100,000 copies.

Example::

    with state.lock:
        body = message_list(state, {"q": "tag:newsletter", "before": "120"}, SearchCache())
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_mailgun.testing.inbox.html import (
    INBOX_PREFIX,
    Html,
    esc,
    fmt_time,
    link,
    pager,
    search_form,
    table,
    tag_badges,
    url,
)
from airflow_provider_mailgun.testing.inbox.search import SearchCache, parse_query
from airflow_provider_mailgun.testing.inbox.timeline import latest_kinds, status_label
from airflow_provider_mailgun.testing.model.events import storage_key
from airflow_provider_mailgun.testing.model.state import EmulatorState

_COLUMNS = ("Received (UTC)", "From", "To", "Subject", "Tags", "Status")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_HELP = (
    "Words match a recipient, the subject or a tag. Narrow with to:bob, to:bob@example.com (exact), "
    'subject:"june news", tag:newsletter, domain:mg.example.com, status:failed (or delivered, '
    "complained, accepted), id:<message id> (any of several)."
)


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def message_href(key: str) -> str:
    return f"{INBOX_PREFIX}/messages/{key}"


def _row(state: EmulatorState, copy: int, kind: int | None) -> list[Html]:
    store = state.messages
    batch, local = store.locate(copy)
    _address, display, _to_idx = batch.copy_recipient(local)
    sub = store.substituter(batch, local)[1]
    subject = (sub(batch.subject) if sub is not None else batch.subject) or "(no subject)"
    css, label = status_label(kind)
    return [
        Html(f'<span class="nowrap">{esc(fmt_time(batch.time))}</span>'),
        esc(batch.sender),
        esc(display),
        link(message_href(storage_key(batch, local)), subject, class_="subject"),
        tag_badges(batch.tags),
        Html(f'<span class="status {esc(css)}">{esc(label)}</span>'),
    ]


def message_list(state: EmulatorState, params: Mapping[str, str], cache: SearchCache) -> Html:
    """The list page's body (call with ``state.lock`` held)."""
    text = params.get("q", "").strip()
    query = parse_query(text)
    limit = min(max(int_or_none(params.get("limit")) or PAGE_SIZE, 1), MAX_PAGE_SIZE)
    found = cache.page(
        state,
        query,
        before=int_or_none(params.get("before")),
        after=int_or_none(params.get("after")),
        limit=limit,
    )
    kinds = latest_kinds(state.messages, state.events, found.copies)
    rows = [_row(state, copy, kinds.get(copy)) for copy in found.copies]
    size = limit if limit != PAGE_SIZE else None
    q = text or None
    links = [
        ("Newest", url("/", q=q, limit=size) if found.has_newer else None),
        ("Newer", url("/", q=q, after=found.copies[0], limit=size) if found.has_newer else None),
        ("Older", url("/", q=q, before=found.copies[-1], limit=size) if found.has_older else None),
        ("Oldest", url("/", q=q, after=-1, limit=size) if found.has_older else None),
    ]
    total = found.total
    noun = "message" if total == 1 else "messages"
    summary = f"{total:,} {noun}" + (f" match {text!r}" if text else " stored")
    if rows:
        summary += f", showing {found.newer + 1:,} to {found.newer + len(rows):,} (newest first)."
    empty = "No message matches this search." if text else "No messages yet: send one through the API."
    messages = table(_COLUMNS, rows, table_id="messages", empty=empty)
    form = search_form("/", text, "to:bob subject:news tag:weekly status:failed", label="Search messages")
    return Html(
        f'<h1>Messages</h1>{form}<p class="muted">{esc(_HELP)}</p>'
        f'<section id="message-list" data-live><p class="summary" id="summary">{esc(summary)}</p>'
        f"{messages}{pager(links)}</section>"
    )
