"""HTML building blocks of the web inbox: the page frame, escaping, tables, pagers, headers.

Every value that came from a request or from stored mail goes through :func:`esc` (``html.escape``);
functions return :data:`Html`, so mypy tells escaped markup from raw text. Pages are sent with a
Content-Security-Policy that allows only the emulator's own scripts and style sheets, and no
remote loads.

Example::

    body = table(("Address", "Code"), [[esc(r["address"]), esc(r["code"])] for r in records])
    return page("Bounces", body, active="suppressions", version="1.4.2")
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from typing import NewType
from urllib.parse import urlencode

from starlette.responses import HTMLResponse

from airflow_provider_mailgun.testing.defaults import CONTROL_PREFIX

Html = NewType("Html", str)

INBOX_PREFIX = "/inbox"
STATIC_PREFIX = f"{INBOX_PREFIX}/static"
VERSION_PATH = f"{CONTROL_PREFIX}/inbox/version"

#: Inline styles stay allowed because a sandboxed ``srcdoc`` frame inherits this policy and mail
#: relies on them; scripts only from the emulator itself; images only local or ``data:``.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_NAV = (
    ("messages", "/", "Messages"),
    ("lists", f"{INBOX_PREFIX}/lists", "Mailing lists"),
    ("suppressions", f"{INBOX_PREFIX}/suppressions", "Suppressions"),
)


def esc(value: object) -> Html:
    """Escape any value for HTML text or a quoted attribute."""
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[Html], sep: str = "") -> Html:
    return Html(sep.join(parts))


def fmt_time(ts: float) -> str:
    """``2024-06-01 12:00:05`` in UTC (the emulator's clock)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def url(path: str, **params: str | int | None) -> str:
    """``path?query`` keeping only parameters that are set."""
    kept = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(kept)}" if kept else path


def link(href: str, text: object, **attrs: str) -> Html:
    extra = "".join(f' {name.rstrip("_")}="{esc(value)}"' for name, value in attrs.items())
    return Html(f'<a href="{esc(href)}"{extra}>{esc(text)}</a>')


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Html]],
    *,
    table_id: str = "",
    empty: str = "Nothing here yet.",
) -> Html:
    """A table of already escaped cells; ``empty`` is shown when there are no rows."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    ident = f' id="{esc(table_id)}"' if table_id else ""
    if not body:
        body = f'<tr class="empty"><td colspan="{len(columns)}">{esc(empty)}</td></tr>'
    return Html(f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def tag_badges(tags: Iterable[str]) -> Html:
    return join(Html(f'<span class="tag">{esc(t)}</span>') for t in tags)


def key_values(pairs: Iterable[tuple[str, Html]], *, table_id: str = "") -> Html:
    """A two-column table of names and escaped values (headers, variables)."""
    rows = "".join(f"<tr><th scope=row>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return Html(f'<table class="kv"{ident}><tbody>{rows}</tbody></table>') if rows else Html("")


def pager(links: Sequence[tuple[str, str | None]]) -> Html:
    """Paging links ``(label, href)``; a missing href renders the label disabled."""
    parts = [
        link(href, label, rel=label.lower()) if href else Html(f'<span class="off">{esc(label)}</span>')
        for label, href in links
    ]
    return Html(f'<nav class="pager" aria-label="pages">{" ".join(parts)}</nav>')


def search_form(
    action: str, value: str, placeholder: str, hidden: dict[str, str] | None = None, label: str = "Search"
) -> Html:
    """A GET form with the search box ``q`` (plus hidden fields), and a Clear link when filled."""
    fields = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in (hidden or {}).items()
    )
    clear = link(url(action, **dict(hidden or {})), "Clear") if value else ""
    return Html(
        f'<form class="search" method="get" action="{esc(action)}" role="search">{fields}'
        f'<input type="search" name="q" value="{esc(value)}" placeholder="{esc(placeholder)}" '
        f'aria-label="{esc(label)}"><button type="submit">Search</button>{clear}</form>'
    )


def page(title: str, body: Html, *, active: str, version: str, status: int = 200) -> HTMLResponse:
    """The full page: navigation, live-update script, and the security headers."""
    nav = "".join(
        f'<a href="{esc(href)}"{" aria-current=page" if key == active else ""}>{esc(label)}</a>'
        for key, href, label in _NAV
    )
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Mailgun emulator</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{STATIC_PREFIX}/inbox.css">'
        f'<script src="{STATIC_PREFIX}/inbox.js" defer></script></head>'
        f'<body data-version-url="{VERSION_PATH}" data-version="{esc(version)}">'
        f'<header><a class="brand" href="/">Mailgun emulator</a><nav class="main">{nav}</nav>'
        '<span id="live" class="live" title="This page refreshes itself when the emulator changes">'
        "live</span></header>"
        f"<main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=SECURITY_HEADERS)
