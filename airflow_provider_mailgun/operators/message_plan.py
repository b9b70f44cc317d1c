"""Turning what a DAG author wrote into validated Mailgun sends: a pure plan, no I/O but file reads.

::

    plan = build_plan(SendSpec(to=[{"address": "a@x.org", "variables": {"name": "A"}}, "b@x.org"],
                               from_email="news@mg.example.com", subject="Hi %recipient.name%",
                               text="Hello"), ledger_scope="dag|run|task|-1")
    plan.batches[0].fields()      # form fields of the first request, recipient-variables included

Everything that can be wrong with the input is found here, before anything is sent: bad
addresses (all of them, named), incompatible body fields, too many tags, oversize attachments,
unparseable JSON or delivery times, and the 16 KB limit on o:/h:/v:/t: options.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from airflow_provider_mailgun.limits import (
    MAX_DELIVERY_AHEAD,
    MAX_MESSAGE_BYTES,
    MAX_OPTIONS_BYTES,
    MAX_RECIPIENTS_PER_REQUEST,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)
from airflow_provider_mailgun.utils.addresses import (
    Address,
    InvalidAddressError,
    check_addresses,
    offenders_message,
    parse_address,
    split_addresses,
)

BATCH_KEY_VARIABLE = "airflow-batch"
OPTION_PREFIXES = ("o:", "h:", "v:", "t:")
SHOWN_SKIPPED = 100


class SendInputError(ValueError):
    """The send operator's input is wrong; nothing was sent."""


FileInput = str | os.PathLike[str] | tuple[str, bytes] | Sequence[Any]


@dataclass(frozen=True)
class Recipient:
    address: Address
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendSpec:
    """The operator's rendered arguments (see MailgunSendMessageOperator for their meaning)."""

    to: Any
    from_email: str | None = None
    cc: Any = None
    bcc: Any = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template: str | None = None
    template_version: str | None = None
    template_variables: Any = None
    variables: Any = None
    recipient_variables: Any = None
    tags: Any = None
    tracking: bool | None = None
    tracking_clicks: bool | str | None = None
    tracking_opens: bool | None = None
    delivery_time: Any = None
    test_mode: bool = False
    require_tls: bool | None = None
    headers: Any = None
    reply_to: str | None = None
    attachments: Any = None
    inline: Any = None
    mime_message: str | None = None
    options: Any = None
    batch: bool | None = None
    batch_size: int = MAX_RECIPIENTS_PER_REQUEST
    on_invalid: str = "fail"


@dataclass(frozen=True)
class Batch:
    """One request: its recipients, the fields all batches share, and a deterministic key."""

    index: int
    key: str
    recipients: tuple[Recipient, ...]
    common: tuple[tuple[str, str], ...]
    personalised: bool
    variable_names: tuple[str, ...] = ()

    def fields(self) -> list[tuple[str, str]]:
        """Form fields of this request (files are added by the sender)."""
        pairs = [("to", r.address.formatted()) for r in self.recipients]
        pairs.extend(self.common)
        pairs.append((f"v:{BATCH_KEY_VARIABLE}", self.key))
        if self.personalised:
            table = {
                r.address.email: {name: _text(r.variables.get(name, "")) for name in self.variable_names}
                for r in self.recipients
            }
            pairs.append(
                ("recipient-variables", json.dumps(table, separators=(",", ":"), ensure_ascii=False))
            )
        return pairs

    @property
    def first_recipient(self) -> str:
        return self.recipients[0].address.email


@dataclass(frozen=True)
class SendPlan:
    batches: tuple[Batch, ...]
    files: tuple[tuple[str, tuple[str, bytes, str]], ...]
    mime: bytes | None
    skipped_invalid: tuple[tuple[str, str], ...]
    recipients: int
    fingerprint: str


def build_plan(spec: SendSpec, ledger_scope: str) -> SendPlan:
    """Validate ``spec`` completely and cut it into batches; raises SendInputError naming every problem."""
    problems: list[str] = []
    to, cc, bcc, skipped = _recipients(spec, problems)
    mime = _read_mime(spec.mime_message, problems) if spec.mime_message else None
    common = _common_fields(spec, problems, needs_from=not spec.template and not spec.mime_message)
    files = _files(spec, problems)
    _check_body(spec, mime is not None, files, problems)
    personalised = _choose_batch_mode(spec, to, cc, bcc, problems)
    if not to and not problems:
        problems.append("no valid recipient in 'to'")
    if problems:
        raise SendInputError("Nothing was sent. " + " | ".join(problems))
    size = _batch_size(spec, personalised, len(cc) + len(bcc))
    # A stable order that does not depend on the input's: the same recipients give the same batches
    # on every try. Hashing (not sorting by address) spreads look-alike addresses, and the failures
    # they share (one bouncing domain, one suppressed prefix), evenly over the batches, so each
    # message id's delivery share reflects the campaign's.
    ordered = sorted(to, key=_spread_key) if personalised else to
    names = tuple(sorted({name for r in ordered for name in r.variables}))
    batches = []
    for index, start in enumerate(range(0, len(ordered), size)):
        chunk = tuple(ordered[start : start + size])
        batch_common = common + _copy_recipients(cc, bcc)
        batches.append(
            Batch(index, _batch_key(ledger_scope, chunk), chunk, tuple(batch_common), personalised, names)
        )
    fingerprint = hashlib.sha256("|".join(b.key for b in batches).encode()).hexdigest()[:16]
    return SendPlan(
        batches=tuple(batches),
        files=tuple(files),
        mime=mime,
        skipped_invalid=tuple(skipped),
        recipients=len(to) + len(cc) + len(bcc),
        fingerprint=fingerprint,
    )


def _recipients(
    spec: SendSpec, problems: list[str]
) -> tuple[list[Recipient], list[Address], list[Address], list[tuple[str, str]]]:
    invalid: list[tuple[str, str]] = []
    to = _to_recipients(spec.to, spec.recipient_variables, invalid, problems)
    cc = _plain_addresses(spec.cc, "cc", invalid)
    bcc = _plain_addresses(spec.bcc, "bcc", invalid)
    seen = {r.address.key for r in to}
    cc = [a for a in cc if a.key not in seen and not seen.add(a.key)]  # type: ignore[func-returns-value]
    bcc = [a for a in bcc if a.key not in seen and not seen.add(a.key)]  # type: ignore[func-returns-value]
    if invalid and spec.on_invalid != "skip":
        problems.append(offenders_message("recipient", invalid))
    return to, cc, bcc, invalid


def _to_recipients(
    value: Any, recipient_variables: Any, invalid: list[tuple[str, str]], problems: list[str]
) -> list[Recipient]:
    extra = _json_mapping(recipient_variables, "recipient_variables", problems)
    extra_by_key = {str(k).strip().lower(): v for k, v in extra.items()}
    result: list[Recipient] = []
    seen: set[str] = set()
    for item in _as_items(value, split_addresses):
        try:
            if isinstance(item, dict | Mapping):
                address = parse_address(
                    str(item.get("address") or item.get("email") or ""), str(item.get("name") or "")
                )
                raw = item.get("variables")
                variables = (
                    raw
                    if type(raw) is dict
                    else dict(_json_mapping(raw, f"variables of {address.email}", problems))
                )
            else:
                address, variables = parse_address(str(item)), {}
        except InvalidAddressError as err:
            invalid.append((_shown(item), str(err)))
            continue
        if address.key in seen:
            continue
        seen.add(address.key)
        personal = extra_by_key.get(address.key)
        if isinstance(personal, Mapping):
            variables = {**personal, **variables}
        result.append(Recipient(address, variables))
    return result


def _plain_addresses(value: Any, what: str, invalid: list[tuple[str, str]]) -> list[Address]:
    checked = check_addresses(str(item) for item in _as_items(value, split_addresses))
    invalid.extend((f"{what}: {bad}", reason) for bad, reason in checked.invalid)
    return checked.valid


def _as_items(value: Any, split: Callable[[str], list[str]] | None = None) -> list[Any]:
    """A string (comma or semicolon separated), a mapping, or an iterable of either.

    ``split`` cuts a string into items (addresses: :func:`split_addresses`, which keeps a quoted
    ``"Doe, Jane"`` together); plain commas and semicolons otherwise.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            parsed = _structured(text)
            if parsed is not _UNPARSED and not isinstance(parsed, str):
                return _as_items(parsed, split)
        if split is not None:
            return list(split(text))
        return [part for part in text.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


_UNPARSED = object()


def _structured(text: str) -> Any:
    """JSON, or the Python repr a Jinja template renders a list or dict to (``{{ ti.xcom_pull(...) }}``
    without ``render_template_as_native_obj``); ``_UNPARSED`` when it is neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNPARSED


def _shown(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("address") or item.get("email") or item)
    return str(item)


def _json_mapping(value: Any, what: str, problems: list[str]) -> Mapping[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            value = _structured(value.strip())  # a Jinja-rendered dict is its Python repr
            if value is _UNPARSED:
                problems.append(f"{what} is not valid JSON ({err})")
                return {}
    if not isinstance(value, Mapping):
        problems.append(f"{what} must be a JSON object (dict), got {type(value).__name__}")
        return {}
    return value


def _common_fields(spec: SendSpec, problems: list[str], *, needs_from: bool) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if spec.from_email:
        try:
            pairs.append(("from", parse_address(spec.from_email).formatted()))
        except InvalidAddressError as err:
            problems.append(f"from_email {spec.from_email!r} is invalid ({err})")
    elif needs_from:
        problems.append("from_email is required (unless a stored template provides it)")
    for name, value in (("subject", spec.subject), ("text", spec.text), ("html", spec.html)):
        if value:
            pairs.append((name, value))
    if spec.template:
        pairs.append(("template", spec.template))
    elif spec.template_version or spec.template_variables:
        problems.append("template_version and template_variables need a template")
    options: list[tuple[str, str]] = []
    if spec.template_version:
        options.append(("t:version", spec.template_version))
    if spec.template_variables:
        variables = _json_mapping(spec.template_variables, "template_variables", problems)
        options.append(("t:variables", json.dumps(variables, separators=(",", ":"), ensure_ascii=False)))
    options += [("o:tag", tag) for tag in _tags(spec.tags, problems)]
    options += _yes_no_options(spec)
    if spec.delivery_time:
        options.append(("o:deliverytime", _delivery_time(spec.delivery_time, problems)))
    if spec.reply_to:
        options.append(("h:Reply-To", spec.reply_to))
    for name, value in _json_mapping(spec.headers, "headers", problems).items():
        if not str(name).isascii() or not str(name).strip():
            problems.append(f"header name {name!r} must be non-empty ASCII")
        options.append((f"h:{name}", _text(value)))
    for name, value in _json_mapping(spec.variables, "variables", problems).items():
        if name == BATCH_KEY_VARIABLE:
            problems.append(f"variable name {BATCH_KEY_VARIABLE!r} is reserved")
        options.append((f"v:{name}", _text(value)))
    for name, value in _json_mapping(spec.options, "options", problems).items():
        if not str(name).startswith(OPTION_PREFIXES):
            problems.append(f"option {name!r} must start with o:, h:, v: or t:")
        values = value if isinstance(value, list | tuple) else [value]
        options += [(str(name), _text(each)) for each in values]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in options)
    if size > MAX_OPTIONS_BYTES:
        problems.append(f"o:/h:/v:/t: options total {size} bytes, over Mailgun's 16 KB limit")
    return pairs + options


def _yes_no_options(spec: SendSpec) -> list[tuple[str, str]]:
    pairs = []
    if spec.tracking is not None:
        pairs.append(("o:tracking", _yes_no(spec.tracking)))
    if spec.tracking_clicks is not None:
        clicks = spec.tracking_clicks
        pairs.append(("o:tracking-clicks", clicks if clicks == "htmlonly" else _yes_no(clicks)))
    if spec.tracking_opens is not None:
        pairs.append(("o:tracking-opens", _yes_no(spec.tracking_opens)))
    if spec.test_mode:
        pairs.append(("o:testmode", "yes"))
    if spec.require_tls is not None:
        pairs.append(("o:require-tls", _yes_no(spec.require_tls)))
    return pairs


def _tags(value: Any, problems: list[str]) -> list[str]:
    tags = [str(tag) for tag in _as_items(value)]
    if len(tags) > MAX_TAGS:
        problems.append(f"{len(tags)} tags given; Mailgun allows at most {MAX_TAGS} per message")
    for tag in tags:
        if not tag.isascii() or not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            problems.append(f"tag {tag!r} must be non-empty ASCII of at most {MAX_TAG_LENGTH} characters")
    return tags


def _delivery_time(value: Any, problems: list[str]) -> str:
    when: datetime | None = value if isinstance(value, datetime) else None
    if when is None and isinstance(value, str):
        when = _parse_time_text(value.strip())
    if when is None:
        problems.append(f"delivery_time {value!r} is not a datetime, ISO 8601 or RFC 2822 time")
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when - datetime.now(timezone.utc) > MAX_DELIVERY_AHEAD:
        problems.append(f"delivery_time {when.isoformat()} is more than 7 days ahead (Mailgun's maximum)")
    return format_datetime(when.astimezone(timezone.utc))


def _parse_time_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _files(spec: SendSpec, problems: list[str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    files = []
    for kind, value in (("attachment", spec.attachments), ("inline", spec.inline)):
        for item in _as_items(value):
            loaded = _load_file(item, kind, problems)
            if loaded:
                files.append((kind, loaded))
    return files


def _load_file(item: Any, kind: str, problems: list[str]) -> tuple[str, bytes, str] | None:
    import mimetypes

    if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[1], bytes | bytearray):
        name, content = str(item[0]), bytes(item[1])
    else:
        path = os.fspath(item)
        if not os.path.isfile(path):
            problems.append(f"{kind} file {path!r} does not exist")
            return None
        size = os.path.getsize(path)
        if size > MAX_MESSAGE_BYTES:
            problems.append(f"{kind} file {path!r} is {size} bytes, over Mailgun's 25 MB message limit")
            return None
        with open(path, "rb") as handle:
            name, content = os.path.basename(path), handle.read()
    if not name:
        problems.append(f"an {kind} needs a file name (Mailgun drops parts without one)")
        return None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return name, content, content_type


def _read_mime(path: str, problems: list[str]) -> bytes | None:
    if not os.path.isfile(path):
        problems.append(f"mime_message file {path!r} does not exist")
        return None
    size = os.path.getsize(path)
    if size > MAX_MESSAGE_BYTES:
        problems.append(f"mime_message file {path!r} is {size} bytes, over Mailgun's 25 MB message limit")
        return None
    with open(path, "rb") as handle:
        return handle.read()


def _check_body(
    spec: SendSpec, has_mime: bool, files: Sequence[tuple[str, tuple[str, bytes, str]]], problems: list[str]
) -> None:
    if has_mime:
        clashing = [n for n in ("text", "html", "template", "subject") if getattr(spec, n)]
        if clashing or files:
            problems.append(
                f"mime_message carries its own body; remove {', '.join(clashing) or 'attachments'}"
            )
        return
    if spec.html and spec.template:
        problems.append("html and template cannot be combined (Mailgun allows only one)")
    if not (spec.text or spec.html or spec.template):
        problems.append("give text, html or a template")
    if not spec.subject and not spec.template:
        problems.append("subject is required (unless a stored template provides it)")
    body = sum(len(x.encode()) for x in (spec.text or "", spec.html or ""))
    total = body + sum(len(f[1][1]) for f in files)
    if total > MAX_MESSAGE_BYTES:
        problems.append(f"message with attachments is {total} bytes, over Mailgun's 25 MB limit")


def _choose_batch_mode(
    spec: SendSpec, to: list[Recipient], cc: list[Address], bcc: list[Address], problems: list[str]
) -> bool:
    """Batch mode (each recipient its own copy) unless one plain recipient or ``batch=False``."""
    wants_personal = any(r.variables for r in to)
    if spec.batch is False:
        if wants_personal:
            problems.append("personal variables need batch sending (batch=False was given)")
        total = len(to) + len(cc) + len(bcc)
        if total > MAX_RECIPIENTS_PER_REQUEST:
            problems.append(
                f"{total} recipients in a single non-batch send; Mailgun allows {MAX_RECIPIENTS_PER_REQUEST}"
            )
        return False
    personalised = spec.batch is True or wants_personal or len(to) > 1
    if personalised and (cc or bcc):
        problems.append(
            "cc/bcc cannot be combined with a batch send to several recipients: Mailgun would copy each "
            "cc/bcc recipient once per 'to' recipient; use batch=False for one shared message"
        )
    if not 1 <= spec.batch_size <= MAX_RECIPIENTS_PER_REQUEST:
        problems.append(f"batch_size must be 1..{MAX_RECIPIENTS_PER_REQUEST}, got {spec.batch_size}")
    return personalised


def _batch_size(spec: SendSpec, personalised: bool, copies: int) -> int:
    if not personalised:
        return MAX_RECIPIENTS_PER_REQUEST - copies
    return spec.batch_size


def _copy_recipients(cc: Sequence[Address], bcc: Sequence[Address]) -> list[tuple[str, str]]:
    return [("cc", a.formatted()) for a in cc] + [("bcc", a.formatted()) for a in bcc]


def _spread_key(recipient: Recipient) -> bytes:
    return hashlib.blake2b(recipient.address.key.encode(), digest_size=8).digest()


def _batch_key(scope: str, recipients: Sequence[Recipient]) -> str:
    """The scope (task instance and ledger generation) and the set of recipients, in any order."""
    digest = hashlib.sha256(scope.encode())
    for key in sorted(recipient.address.key for recipient in recipients):
        digest.update(b"\0" + key.encode())
    return digest.hexdigest()[:24]


def _yes_no(value: Any) -> str:
    return "yes" if value in (True, "yes", "true", "True", 1) else "no"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def shown_skipped(skipped: Sequence[tuple[str, str]]) -> list[str]:
    """The skipped invalid recipients as shown in XCom: at most the first 100 addresses."""
    return [value for value, _ in skipped[:SHOWN_SKIPPED]]
