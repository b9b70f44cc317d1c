"""The web inbox's message view: one recipient's copy as that recipient would see it.

The HTML body is shown in ``<iframe sandbox="allow-same-origin" srcdoc=...>``: the sandbox gives
the mail no scripts, forms or popups, and the document carries its own Content-Security-Policy
that forbids every load except ``data:`` images (inline ``cid:`` images are turned into ``data:``
URIs first), so opening a mail never calls a tracking pixel. The same origin is granted only so
that the inbox's own script can read the document's height and size the frame to the mail; the
mail itself runs no script that could use it.

Example::

    with state.lock:
        body = message_view(state, "PDIwMjQw...", storage_base="http://127.0.0.1:8025")  # None if unknown
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

from airflow_provider_mailgun.testing.api.forms import FilePart
from airflow_provider_mailgun.testing.defaults import CONTROL_PREFIX
from airflow_provider_mailgun.testing.inbox.html import (
    Html,
    esc,
    fmt_time,
    join,
    key_values,
    link,
    table,
    tag_badges,
)
from airflow_provider_mailgun.testing.inbox.timeline import copy_events
from airflow_provider_mailgun.testing.model.events import parse_storage_key
from airflow_provider_mailgun.testing.model.messages import Batch
from airflow_provider_mailgun.testing.model.state import EmulatorState

#: Policy of the mail document itself (on top of the page's, which a srcdoc frame inherits).
FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
MAX_INLINE_BYTES = 2 * 1024 * 1024
_CID_RE = re.compile(r"cid:([^\"'\s)>]+)", re.IGNORECASE)


def locate_copy(state: EmulatorState, key: str) -> tuple[Batch, int] | None:
    """``(batch, local index)`` of the copy a storage key names, or None."""
    parsed = parse_storage_key(key)
    if parsed is None:
        return None
    batch = state.messages.by_message_id.get(parsed[0])
    if batch is None or not 0 <= parsed[1] < batch.n_copies:
        return None
    return batch, parsed[1]


def _inline_images(html: str, parts: list[FilePart]) -> str:
    """Replace ``cid:name`` references to inline parts with ``data:`` URIs (small parts only)."""
    by_name = {p.filename: p for p in parts if len(p.data) <= MAX_INLINE_BYTES}
    if not by_name:
        return html

    def swap(match: re.Match[str]) -> str:
        part = by_name.get(match.group(1))
        if part is None:
            return match.group(0)
        return f"data:{part.content_type};base64,{base64.b64encode(part.data).decode()}"

    return _CID_RE.sub(swap, html)


def mail_frame(html: str, inline: list[FilePart]) -> Html:
    """The sandboxed frame showing an HTML body."""
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{FRAME_CSP}">'
        f"</head><body>{_inline_images(html, inline)}</body></html>"
    )
    return Html(
        f'<iframe class="frame" id="html-body" title="HTML body" sandbox="allow-same-origin" '
        'referrerpolicy="no-referrer" '
        f'srcdoc="{esc(document)}"></iframe>'
    )


def _file_links(message_id: str, parts: list[FilePart]) -> Html:
    items = []
    for part in parts:
        name = quote(part.filename, safe="")
        href = f"{CONTROL_PREFIX}/messages/{quote(message_id, safe='@')}/attachments/{name}"
        size = esc(f"{len(part.data):,} bytes, {part.content_type}")
        anchor = link(href, part.filename, download=part.filename)
        items.append(Html(f'<li>{anchor} <span class="muted">{size}</span></li>'))
    return Html(f"<ul class=files>{join(items)}</ul>")


def _headers(item: dict[str, Any], batch: Batch) -> Html:
    pairs: list[tuple[str, Html]] = [
        ("From", esc(item["from"])),
        ("To", esc(", ".join(item["to"]))),
    ]
    if item["cc"]:
        pairs.append(("Cc", esc(", ".join(item["cc"]))))
    if item["bcc"]:
        pairs.append(("Bcc", esc(", ".join(item["bcc"]))))
    pairs += [
        ("Recipient of this copy", esc(item["recipient"])),
        ("Subject", esc(item["subject"])),
        ("Date", esc(item["date"])),
        ("Message-Id", esc(item["id"])),
        ("Sending domain", esc(item["domain"])),
    ]
    if item["tags"]:
        pairs.append(("Tags", tag_badges(item["tags"])))
    if item["template"]:
        pairs.append(("Template", esc(json.dumps(item["template"]))))
    if item["delivery_time"]:
        pairs.append(("Scheduled for", esc(item["delivery_time"])))
    if item["test_mode"]:
        pairs.append(("Test mode", esc("yes (accepted, not delivered)")))
    pairs += [(f"h:{name}", esc(value)) for name, value in item["headers"].items()]
    pairs += [(f"o:{name}", esc(value)) for name, value in item["options"].items()]
    if item["mailing_list"]:
        pairs.append(("Mailing list", esc(f"{item['mailing_list']}: one copy per subscribed member")))
    elif batch.batch_mode:
        pairs.append(("Batch send", esc(f"{len(batch.to_addr)} recipients, one copy each")))
    return key_values(pairs, table_id="headers")


def _variables(values: dict[str, Any] | None, table_id: str) -> Html:
    if not values:
        return Html('<p class="muted">None.</p>')
    pairs = [(k, esc(v if isinstance(v, str) else json.dumps(v))) for k, v in values.items()]
    return key_values(pairs, table_id=table_id)


def timeline(events: list[dict[str, Any]]) -> Html:
    rows = []
    for event in events:
        status = event.get("delivery-status") or {}
        detail = status.get("message") or status.get("description") or ""
        raw = Html(f"<details><summary>JSON</summary><pre>{esc(json.dumps(event, indent=2))}</pre></details>")
        rows.append(
            [
                Html(f'<span class="nowrap">{esc(fmt_time(event["timestamp"]))}</span>'),
                Html(f'<span class="status {esc(event["event"])}">{esc(event["event"])}</span>'),
                esc(status.get("code", "")),
                esc(event.get("severity", "")),
                esc(event.get("reason", "")),
                esc(detail),
                raw,
            ]
        )
    columns = ("Time (UTC)", "Event", "Code", "Severity", "Reason", "Detail", "Raw")
    return table(columns, rows, table_id="events", empty="No events yet.")


def message_view(state: EmulatorState, key: str, storage_base: str) -> tuple[str, Html] | None:
    """``(title, body)`` of one copy's page, or None for an unknown key (call under the lock)."""
    found = locate_copy(state, key)
    if found is None:
        return None
    batch, local = found
    store = state.messages
    copy = batch.copy_base + local
    item = store.render(copy)
    events = copy_events(store, state.events, copy, storage_base)
    html_part = (
        mail_frame(item["html"], batch.inline) if item["html"] else Html('<p class="muted">No HTML part.</p>')
    )
    text_part = (
        Html(f'<pre id="text-body">{esc(item["text"])}</pre>')
        if item["text"]
        else Html('<p class="muted">No text part.</p>')
    )
    files = batch.attachments + batch.inline
    attachments = _file_links(batch.bare_id, files) if files else Html('<p class="muted">None.</p>')
    subject = item["subject"] or "(no subject)"
    recipient_values = store.copy_values(batch, local)
    body = Html(
        f'<p>{link("/", "← All messages")}</p><h1 id="subject">{esc(subject)}</h1>'
        f"{_headers(item, batch)}"
        f"<h2>HTML</h2>{html_part}<h2>Text</h2>{text_part}"
        f'<h2>Attachments</h2><div id="attachments">{attachments}</div>'
        f"<h2>Variables (v:)</h2>{_variables(item['user_variables'], 'user-variables')}"
        f"<h2>Recipient variables</h2>{_variables(recipient_values, 'recipient-variables')}"
        f'<h2>Events</h2><section id="timeline" data-live>{timeline(events)}</section>'
    )
    return subject, body
