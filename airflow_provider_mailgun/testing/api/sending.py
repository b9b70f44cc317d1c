"""``/messages`` and ``/messages.mime``: Mailgun's validation, batch expansion and event rules.

Validation follows Mailgun's messages (see ``SendError`` texts). An accepted request becomes one
:class:`~airflow_provider_mailgun.testing.model.messages.Batch` plus, per recipient copy, an
``accepted`` event and the outcome chosen by deterministic rules:

* recipient on the domain's bounce / unsubscribe / complaint list -> ``failed`` permanent,
  code 605 / 606 / 607, reason ``suppress-bounce`` / ``suppress-unsubscribe`` / ``suppress-complaint``
* test mode (``o:testmode=yes``) -> ``delivered`` with code 650
* local part starting ``bounce`` -> ``failed`` permanent 550 ``bounce``, address joins the bounce list
* local part starting ``tempfail`` -> ``failed`` temporary 452 ``generic``, then ``delivered``
  ``tempfail_retry`` seconds later
* local part starting ``complain`` -> ``delivered``, then ``complained`` (address joins complaints)
* anything else -> ``delivered`` (250)

Outcome events come ``delivery_delay`` seconds after ``accepted`` (immediately by default).

Example::

    batch = build_batch(state, dom, form, mime=False)   # raises SendError
    store_batch(state, dom, batch)
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from email.message import EmailMessage
from itertools import chain
from typing import Any

from airflow_provider_mailgun.testing.api.forms import FilePart, Form
from airflow_provider_mailgun.testing.model import events as ev
from airflow_provider_mailgun.testing.model.messages import Batch
from airflow_provider_mailgun.testing.model.state import DomainState, EmulatorState
from airflow_provider_mailgun.testing.model.suppressions import unsubscribe_applies
from airflow_provider_mailgun.testing.model.templates import Template, TemplateVersion, render_handlebars
from airflow_provider_mailgun.testing.util import (
    ApiError,
    dedupe,
    go_time,
    is_yes,
    json_object,
    parse_date,
    split_addresses,
)

MAX_RECIPIENTS = 1000
MAX_OPTIONS_BYTES = 16 * 1024
_TAG_RE = re.compile(r"[^\x20-\x7e]")
_HTML_TAG_RE = re.compile(r"<[^>]+>")


class SendError(ApiError):
    """A rejected send; ``message`` is Mailgun's text for it."""


def _invalid(field: str) -> SendError:
    return SendError(f"{field} parameter is not a valid address. please check documentation")


def _addresses(form: Form, field: str) -> list[tuple[str, str, str]]:
    parsed = split_addresses(form.getlist(field))
    if parsed is None:
        raise _invalid(field)
    return parsed


def build_batch(state: EmulatorState, dom: DomainState, form: Form, *, mime: bool) -> Batch:
    """Validate a send request and build its batch (not yet stored)."""
    if not mime and form.get("html") is not None and form.get("template"):
        raise SendError("Only one parameters 'html' or 'template' is allowed")
    template, version = _template(dom, form)
    tpl_headers = version.headers if version is not None else {}
    raw_from = form.get("from") or tpl_headers.get("From")
    if mime:
        if not form.is_multipart:
            got = form.content_type or "none"
            raise SendError(f"Invalid request content type. Expecting 'multipart/form-data' but got '{got}'")
        if not form.getlist("to"):
            raise SendError("to parameter is missing")
        parts = form.files("message")
        if not parts:
            if form.has("message"):
                raise SendError("'message' parameter is not a file")
            raise SendError("message parameter is missing")
        return _mime_batch(state, dom, form, parts[0])
    if not raw_from:
        raise SendError("from parameter is missing")
    if not form.getlist("to"):
        raise SendError("to parameter is missing")
    sender = split_addresses([raw_from])
    if not sender:
        raise _invalid("from")
    to = dedupe(_addresses(form, "to"))
    if not to:
        raise SendError("to parameter is missing")
    cc, bcc = _addresses(form, "cc"), _addresses(form, "bcc")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise SendError(f"Too many recipients, max is {MAX_RECIPIENTS}")
    subject = form.get("subject")
    if subject is None:
        subject = tpl_headers.get("Subject")
    if subject is None:
        raise SendError("subject parameter is missing")
    text, html, amp = form.get("text"), form.get("html"), form.get("amp-html")
    if not (text or html or amp or form.get("template")):
        raise SendError("Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified")
    batch = _new_batch(state, dom, form, sender[0], to, cc, bcc, subject)
    batch.text, batch.html, batch.amp_html = text, html, amp
    if template is not None and version is not None:
        variables: dict[str, Any] = dict(batch.variables)
        variables.update(_json_object(form.get("t:variables"), "t:variables"))
        batch.html = render_handlebars(version.template, variables)
        batch.template = {"name": template.name, "version": version.tag, "variables": variables}
        if is_yes(form.get("t:text")):
            batch.template["text"] = True
            batch.text = _HTML_TAG_RE.sub("", batch.html)
    batch.attachments = form.files("attachment")
    batch.inline = form.files("inline")
    batch.size = _size(batch)
    return batch


def _template(dom: DomainState, form: Form) -> tuple[Template | None, TemplateVersion | None]:
    """The stored template (and version) a send names; raises SendError when missing."""
    name = form.get("template")
    if not name:
        return None, None
    template = dom.templates.get(name.lower())
    if template is None:
        raise SendError(f"template '{name}' not found")
    tag = form.get("t:version")
    version = template.versions.get(tag) if tag else template.active_version()
    if version is None:
        raise SendError(f"template '{name}' has no version '{tag}'" if tag else f"template '{name}' is empty")
    return template, version


def _json_object(raw: str | None, field: str) -> dict[str, Any]:
    value = json_object(raw)
    if value is None:
        raise SendError(f"'{field}' parameter is not a valid JSON")
    return value


def _new_batch(
    state: EmulatorState,
    dom: DomainState,
    form: Form,
    sender: tuple[str, str, str],
    to: list[tuple[str, str, str]],
    cc: list[tuple[str, str, str]],
    bcc: list[tuple[str, str, str]],
    subject: str,
) -> Batch:
    """Options common to both send endpoints: o:, h:, v:, t:, recipient-variables."""
    headers: dict[str, str] = {}
    variables: dict[str, str] = {}
    options: dict[str, str] = {}
    option_bytes = 0
    for key, values in form.fields().items():
        if key[1:2] != ":" or key[0] not in "ohvt":
            continue
        for value in values:
            if not isinstance(value, str):
                continue
            option_bytes += len(key.encode()) + len(value.encode())
            if key[0] == "h":
                if not key.isascii():
                    raise SendError("Header name must be pure ASCII")
                headers[key[2:]] = value
            elif key[0] == "v":
                variables[key[2:]] = value
            elif key[0] == "o" and key not in ("o:tag", "o:testmode", "o:deliverytime"):
                options[key[2:]] = value
    if option_bytes > MAX_OPTIONS_BYTES:
        raise SendError("Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total")
    mailgun_vars = headers.get("X-Mailgun-Variables")
    if mailgun_vars:
        try:
            extra = json.loads(mailgun_vars)
        except ValueError:
            extra = None
        if isinstance(extra, dict):
            variables = {
                **{k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()},
                **variables,
            }
    tags = [t for t in (_TAG_RE.sub("", tag)[:128] for tag in form.getlist("o:tag")) if t]
    if len(tags) > state.config.tag_limit:
        raise SendError(f"Too many tags, max is {state.config.tag_limit}")
    rv_raw = form.get("recipient-variables")
    if rv_raw is not None:
        try:
            parsed = json.loads(rv_raw) if rv_raw.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise SendError("'recipient-variables' parameter is not a valid JSON")
    delivery = form.get("o:deliverytime")
    if delivery is not None and parse_date(delivery) is None:
        raise SendError(f"{delivery} is not an RFC-2822 compliant date")
    now = state.now()
    seq, message_id = state.new_message_id(dom.name, now)
    return Batch(
        seq=seq,
        message_id=message_id,
        domain=dom.name,
        time=now,
        sender=sender[0],
        sender_addr=sender[1],
        subject=subject,
        to=[t[0] for t in to],
        to_addr=[t[1] for t in to],
        cc=[t[0] for t in cc],
        cc_addr=[t[1] for t in cc],
        bcc=[t[0] for t in bcc],
        bcc_addr=[t[1] for t in bcc],
        headers=headers,
        variables=variables,
        options=options,
        tags=tags,
        test_mode=is_yes(form.get("o:testmode")),
        delivery_time=delivery,
        rv_raw=rv_raw if rv_raw is None or rv_raw.strip() else "{}",
    )


def _mime_batch(state: EmulatorState, dom: DomainState, form: Form, part: FilePart) -> Batch:
    try:
        msg = email.message_from_bytes(part.data, policy=email.policy.default)
    except Exception as exc:  # malformed MIME of any kind
        raise SendError("'message' parameter is not a valid MIME message") from exc
    recipients = dedupe(_addresses(form, "to"))
    if not recipients:
        raise SendError("to parameter is missing")
    if len(recipients) > MAX_RECIPIENTS:
        raise SendError(f"Too many recipients, max is {MAX_RECIPIENTS}")
    sender = split_addresses([str(msg.get("From", ""))]) or [("", "", "")]
    header_cc = split_addresses([str(v) for v in msg.get_all("Cc", [])]) or []
    batch = _new_batch(state, dom, form, sender[0], recipients, [], [], str(msg.get("Subject", "")))
    batch.cc = [c[0] for c in header_cc]  # shown, not extra recipients: "to" lists everyone
    batch.text = _part_text(msg, "plain")
    batch.html = _part_text(msg, "html")
    batch.attachments = [_mime_file(p) for p in msg.iter_attachments() if isinstance(p, EmailMessage)]
    for key, value in msg.items():
        if key.lower() not in ("from", "to", "cc", "subject", "content-type", "mime-version"):
            batch.headers.setdefault(key, str(value))
    batch.mime = part.data
    batch.size = len(part.data)
    return batch


def _mime_file(part: EmailMessage) -> FilePart:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return FilePart(part.get_filename() or "attachment", part.get_content_type(), data)


def _part_text(msg: EmailMessage, subtype: str) -> str | None:
    try:
        body = msg.get_body(preferencelist=(subtype,))
        return str(body.get_content()) if body is not None else None
    except (KeyError, LookupError, AttributeError):
        return None


def _size(batch: Batch) -> int:
    size = 512 + len(batch.subject) + len(batch.text or "") + len(batch.html or "")
    return size + sum(len(f.data) for f in chain(batch.attachments, batch.inline))


def store_batch(state: EmulatorState, dom: DomainState, batch: Batch) -> None:
    """Store the batch and emit its events (caller holds ``state.lock``).

    All ``accepted`` events come first, then the outcomes, then immediate follow-ups
    (``complained``); delayed ones wait in the pending heap.
    """
    state.tick()  # release due delayed events first so the log stays in timestamp order
    if batch.fanout is not None:
        recipients = [target.address for target in batch.fanout]
    elif batch.batch_mode:
        extras = batch.cc_addr + batch.bcc_addr
        recipients = [r for t in batch.to_addr for r in (t, *extras)]
    else:
        recipients = batch.to_addr + batch.cc_addr + batch.bcc_addr
    keys = [r.lower() for r in recipients]
    n = len(keys)
    state.messages.add(batch, n)
    _record_tags(dom, batch)
    kinds, follows = _outcomes(state, dom, batch, keys)
    log = state.events.log(dom.name)
    now, seq, base = batch.time, batch.seq, batch.copy_base
    log.append_many(now, seq, base, keys, range(n), [ev.ACCEPTED] * n)
    emitted = n
    delay, retry = state.delivery_delay, state.config.tempfail_retry
    if delay <= 0:
        first = len(log)
        log.append_many(now, seq, base, keys, range(n), kinds)
        state.index_some_late(dom.name, first, n, now)
        emitted += n
        complained = [local for local, kind in follows if kind == ev.COMPLAINED]
        log.append_many(now, seq, base, keys, complained, [ev.COMPLAINED] * len(complained))
        emitted += len(complained)
        for local, kind in enumerate(kinds):
            if kind == ev.FAIL_BOUNCE:
                state.apply_side_effects(dom.name, kind, base + local, now)
        for local in complained:
            state.apply_side_effects(dom.name, ev.COMPLAINED, base + local, now)
    else:
        for local, kind in enumerate(kinds):
            state.events.schedule(dom.name, now + delay, kind, base + local)
    for local, kind in follows:
        if kind == ev.DELIVERED:
            state.events.schedule(dom.name, now + delay + retry, kind, base + local)
        elif delay > 0:
            state.events.schedule(dom.name, now + delay, kind, base + local)
    state.events.count += emitted
    state.counters["sends"] += 1
    state.webhooks.poke()


def _outcomes(
    state: EmulatorState, dom: DomainState, batch: Batch, keys: list[str]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Outcome kind per copy, plus follow-up events as (local index, kind)."""
    sup = dom.suppressions
    bounces, unsubs, complaints = sup["bounces"], sup["unsubscribes"], sup["complaints"]
    check_lists = bool(len(bounces) or len(unsubs) or len(complaints))
    tags = {t.lower() for t in batch.tags}
    test_mode = batch.test_mode
    kinds: list[int] = []
    follows: list[tuple[int, int]] = []
    for local, key in enumerate(keys):
        if not check_lists and not test_mode and key[0] not in "btc":
            kinds.append(ev.DELIVERED)  # the common case, kept short
            continue
        kind = -1
        if check_lists:
            if key in bounces and not state.is_whitelisted(dom, key):
                kind = ev.FAIL_SUPPRESS_BOUNCE
            elif key in unsubs and unsubscribe_applies(unsubs.records[key], tags):
                kind = ev.FAIL_SUPPRESS_UNSUBSCRIBE
            elif key in complaints:
                kind = ev.FAIL_SUPPRESS_COMPLAINT
        if kind < 0:
            if test_mode:
                kind = ev.DELIVERED_TEST
            elif key.startswith("bounce"):
                kind = ev.FAIL_BOUNCE
            elif key.startswith("tempfail"):
                kind = ev.FAIL_TEMPORARY
                follows.append((local, ev.DELIVERED))
            elif key.startswith("complain"):
                kind = ev.DELIVERED
                follows.append((local, ev.COMPLAINED))
            else:
                kind = ev.DELIVERED
        kinds.append(kind)
    return kinds, follows


def _record_tags(dom: DomainState, batch: Batch) -> None:
    for tag in batch.tags:
        record = dom.tags.get(tag.lower())
        if record is None:
            dom.tags[tag.lower()] = {"tag": tag, "description": "", "first": batch.time, "last": batch.time}
        else:
            record["last"] = batch.time


def tag_dict(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "tag": record["tag"],
        "description": record["description"],
        "first-seen": go_time(record["first"]),
        "last-seen": go_time(record["last"]),
    }
