"""What a DAG author gave the send operator, read and checked: copies, form fields, files.

Each reader appends what is wrong to ``problems`` instead of raising, so one error can name every
problem of the input at once (see :func:`~.plan.build_plan`; the ``to`` recipients are read by
:mod:`.audience`)::

    problems: list[str] = []
    cc, bcc = read_copies(spec, audience.keys, invalid)
    fields = common_fields(spec, problems, needs_from=True)
    files = read_files(spec, problems)
    check_body(spec, has_mime=False, files=files, problems=problems)

Values may come as Python objects, JSON text, or the text Jinja renders a list or dict to.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, NamedTuple

from airflow_provider_mailgun._common.addresses import (
    Address,
    check_addresses,
    parse_address,
    split_addresses,
)
from airflow_provider_mailgun._common.limits import (
    MAX_DELIVERY_AHEAD,
    MAX_MESSAGE_BYTES,
    MAX_OPTIONS_BYTES,
    MAX_RECIPIENTS_PER_REQUEST,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)
from airflow_provider_mailgun._common.rendered import structured_text
from airflow_provider_mailgun.exceptions import InvalidAddressError

BATCH_KEY_VARIABLE = "airflow-batch"
#: What a send does with a batch whose answer was lost (see the send operator's ``on_ambiguous``).
ON_AMBIGUOUS = ("reconcile", "skip", "resend", "fail")
OPTION_PREFIXES = ("o:", "h:", "v:", "t:")
FilePart = tuple[str, tuple[str, bytes, str]]


@dataclass(frozen=True, slots=True)
class Recipient:
    address: Address
    variables: Mapping[str, Any] = field(default_factory=dict)


class SendSpec(NamedTuple):
    """The operator's rendered message arguments (see MailgunSendMessageOperator for their meaning).

    A named tuple rather than a dataclass: it is defined when a DAG file imports the operator, and
    a frozen dataclass of 28 fields costs several milliseconds to define.
    """

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
    to_list: bool = False
    allow_missing_recipient_vars: bool | Sequence[str] = False


def read_copies(
    spec: SendSpec, to_keys: Callable[[], set[str]], invalid: list[tuple[str, str]]
) -> tuple[list[Address], list[Address]]:
    """The cc and bcc addresses, without those already in ``to`` (``to_keys``, asked only when needed)."""
    cc = _plain_addresses(spec.cc, "cc", invalid)
    bcc = _plain_addresses(spec.bcc, "bcc", invalid)
    if not cc and not bcc:
        return cc, bcc
    seen = to_keys()
    cc = [a for a in cc if a.key not in seen and not seen.add(a.key)]  # type: ignore[func-returns-value]
    bcc = [a for a in bcc if a.key not in seen and not seen.add(a.key)]  # type: ignore[func-returns-value]
    return cc, bcc


def _plain_addresses(value: Any, what: str, invalid: list[tuple[str, str]]) -> list[Address]:
    checked = check_addresses(str(item) for item in as_items(value, split_addresses))
    invalid.extend((f"{what}: {bad}", reason) for bad, reason in checked.invalid)
    return checked.valid


def as_items(value: Any, split: Callable[[str], list[str]] | None = None) -> Sequence[Any]:
    """A string (comma or semicolon separated), a mapping, or an iterable of either.

    ``split`` cuts a string into items (addresses: :func:`split_addresses`, which keeps a quoted
    ``"Doe, Jane"`` together); plain commas and semicolons otherwise.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            try:
                parsed = structured_text(text)
            except ValueError:
                parsed = text
            if not isinstance(parsed, str):
                return as_items(parsed, split)
        if split is not None:
            return list(split(text))
        return [part for part in text.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list | tuple):
        return value  # not copied: a campaign's audience can be large
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def json_mapping(value: Any, what: str, problems: list[str]) -> Mapping[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = structured_text(value)  # JSON, or the Python repr Jinja renders a dict to
        except ValueError:
            problems.append(f"{what} is not valid JSON: {value[:80]!r}")
            return {}
    if not isinstance(value, Mapping):
        problems.append(f"{what} must be a JSON object (dict), got {type(value).__name__}")
        return {}
    return value


def common_fields(spec: SendSpec, problems: list[str], *, needs_from: bool) -> list[tuple[str, str]]:
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
        variables = json_mapping(spec.template_variables, "template_variables", problems)
        options.append(("t:variables", json.dumps(variables, separators=(",", ":"), ensure_ascii=False)))
    options += [("o:tag", tag) for tag in _tags(spec.tags, problems)]
    options += _yes_no_options(spec)
    if spec.delivery_time:
        options.append(("o:deliverytime", _delivery_time(spec.delivery_time, problems)))
    if spec.reply_to:
        options.append(("h:Reply-To", spec.reply_to))
    for name, value in json_mapping(spec.headers, "headers", problems).items():
        if not str(name).isascii() or not str(name).strip():
            problems.append(f"header name {name!r} must be non-empty ASCII")
        options.append((f"h:{name}", as_text(value)))
    for name, value in json_mapping(spec.variables, "variables", problems).items():
        if name == BATCH_KEY_VARIABLE:
            problems.append(f"variable name {BATCH_KEY_VARIABLE!r} is reserved")
        options.append((f"v:{name}", as_text(value)))
    for name, value in json_mapping(spec.options, "options", problems).items():
        if not str(name).startswith(OPTION_PREFIXES):
            problems.append(f"option {name!r} must start with o:, h:, v: or t:")
        values = value if isinstance(value, list | tuple) else [value]
        options += [(str(name), as_text(each)) for each in values]
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
    tags = [str(tag) for tag in as_items(value)]
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


def read_files(spec: SendSpec, problems: list[str]) -> list[FilePart]:
    files = []
    for kind, value in (("attachment", spec.attachments), ("inline", spec.inline)):
        for item in as_items(value):
            loaded = _load_file(item, kind, problems)
            if loaded:
                files.append((kind, loaded))
    return files


def _load_file(item: Any, kind: str, problems: list[str]) -> tuple[str, bytes, str] | None:
    if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[1], bytes | bytearray):
        name, content = str(item[0]), bytes(item[1])
    else:
        # Spaces around a path come from the list it was cut from ("a.csv, b.csv"), not the path.
        path = str(os.fspath(item)).strip()
        loaded = _read_file(path, kind, problems)
        if loaded is None:
            return None
        name, content = os.path.basename(path), loaded
    if not name:
        problems.append(f"an {kind} needs a file name (Mailgun drops parts without one)")
        return None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return name, content, content_type


def read_mime(path: str, problems: list[str]) -> bytes | None:
    return _read_file(path, "mime_message", problems)


def _read_file(path: str, kind: str, problems: list[str]) -> bytes | None:
    """The file's bytes, unless it is missing or over Mailgun's message size (then a problem)."""
    if not os.path.isfile(path):
        problems.append(f"{kind} file {path!r} does not exist")
        return None
    size = os.path.getsize(path)
    if size > MAX_MESSAGE_BYTES:
        problems.append(f"{kind} file {path!r} is {size} bytes, over Mailgun's 25 MB message limit")
        return None
    with open(path, "rb") as handle:
        return handle.read()


def check_body(spec: SendSpec, has_mime: bool, files: Sequence[FilePart], problems: list[str]) -> None:
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


def _yes_no(value: Any) -> str:
    return "yes" if value in (True, "yes", "true", "True", 1) else "no"


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
