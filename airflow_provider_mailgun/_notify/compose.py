"""One email's parts turned into the form fields and file parts of ``messages.send``.

Shared by the notifier and the ``[email] email_backend`` so both check input the same way::

    message = compose_message(
        from_email="Airflow <airflow@mg.example.com>",
        to="ops@example.org; oncall@example.org",
        subject="Load failed",
        html="<p>Load failed</p>",
        tags=["airflow", "alert"],
        attachments=["/tmp/report.csv"],
    )
    hook.messages.send(domain, message.fields, message.files)

Addresses may be a list or one string separated by commas or semicolons (``"Doe, Jane"
<jane@example.org>`` keeps its quoted comma). Every address is checked with
:mod:`airflow_provider_mailgun._common.addresses`; bad input raises one ``ValueError`` that names the
offenders, before anything is sent.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mailgun._common.addresses import check_addresses, offenders_message, split_addresses
from airflow_provider_mailgun._common.limits import (
    MAX_MESSAGE_BYTES,
    MAX_RECIPIENTS_PER_REQUEST,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)
from airflow_provider_mailgun._common.rendered import structured_text

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.transport import FilePart

AddressInput = str | Iterable[str] | None
PathInput = str | os.PathLike[str]
#: A file path, or a ``(filename, bytes)`` pair.
AttachmentInput = PathInput | tuple[str, bytes]


@dataclass(frozen=True)
class ComposedMessage:
    """What ``messages.send`` takes, plus counts for logs (never the addresses themselves)."""

    fields: dict[str, Any]
    files: list[FilePart]

    def summary(self) -> str:
        """One log-safe line: subject, recipient counts and attachment names.

        >>> ComposedMessage({"subject": "Hi", "to": ["a@x.org"]}, []).summary()
        "'Hi' to 1 recipient(s)"
        """
        counts = {kind: len(self.fields.get(kind) or ()) for kind in ("to", "cc", "bcc")}
        text = f"{self.fields.get('subject', '')!r} to {counts['to']} recipient(s)"
        if counts["cc"] or counts["bcc"]:
            text += f" (cc {counts['cc']}, bcc {counts['bcc']})"
        if self.files:
            text += ", attachments " + ", ".join(part[1][0] for part in self.files)
        return text


def checked_addresses(value: AddressInput, what: str) -> list[str]:
    """Validated addresses (duplicates dropped), formatted ``Name <email>`` or bare.

    :raises ValueError: naming every offender, e.g. ``1 invalid recipient: 'x' (...)``.
    """
    checked = check_addresses(split_addresses(value))
    if checked.invalid:
        raise ValueError(offenders_message(what, checked.invalid))
    return [address.formatted() for address in checked.valid]


def checked_sender(value: str) -> str:
    """The one sender address, checked and formatted."""
    senders = checked_addresses(value, "sender")
    if len(senders) != 1:
        raise ValueError(f"The sender must be exactly one address, got {len(senders)}.")
    return senders[0]


def compose_message(
    *,
    from_email: str,
    to: AddressInput,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    cc: AddressInput = None,
    bcc: AddressInput = None,
    template: str | None = None,
    template_variables: Mapping[str, Any] | None = None,
    tags: str | Iterable[str] | None = None,
    headers: Mapping[str, Any] | None = None,
    user_variables: Mapping[str, Any] | None = None,
    attachments: Sequence[AttachmentInput] | PathInput | None = None,
) -> ComposedMessage:
    """Check every part and build the fields and file parts of one message.

    :param template: name of a template stored on the sending domain (instead of ``html``).
    :param template_variables: sent as ``t:variables`` (JSON) for the template.
    :param tags: up to 10 ``o:tag`` values (ASCII, at most 128 characters each).
    :param headers: extra MIME headers, sent as ``h:<Name>``.
    :param user_variables: custom data, sent as ``v:<name>`` (shows up in events and webhooks).
    :param attachments: local file paths (attached under their base names) or ``(filename, bytes)``
        pairs.
    :raises ValueError: on any invalid part; nothing has been sent.
    """
    recipients = {
        "to": checked_addresses(to, "recipient"),
        "cc": checked_addresses(cc, "cc recipient"),
        "bcc": checked_addresses(bcc, "bcc recipient"),
    }
    if not recipients["to"]:
        raise ValueError("No recipient: give at least one address in 'to'.")
    total = sum(len(addresses) for addresses in recipients.values())
    if total > MAX_RECIPIENTS_PER_REQUEST:
        raise ValueError(
            f"{total} recipients in to, cc and bcc; Mailgun takes at most {MAX_RECIPIENTS_PER_REQUEST}."
        )
    if not (text or html or template):
        raise ValueError("The message has no body: give text, html or a template.")
    if html and template:
        raise ValueError("Give either html or a template, not both (Mailgun refuses the pair).")

    fields: dict[str, Any] = {"from": checked_sender(from_email)}
    fields.update({kind: addresses for kind, addresses in recipients.items() if addresses})
    if subject is not None:
        # A line break in a header value would let text spill into other headers.
        fields["subject"] = " ".join(str(subject).split())
    optional = {"text": text, "html": html, "template": template}
    fields.update({name: value for name, value in optional.items() if value})
    if template_variables:
        fields["t:variables"] = dict(template_variables)
    tag_list = _checked_tags(tags)
    if tag_list:
        fields["o:tag"] = tag_list
    fields.update(_header_fields(headers))
    for name, value in (user_variables or {}).items():
        fields[f"v:{name}"] = value
    files = _attachment_parts(attachments or [])
    return ComposedMessage(fields=fields, files=files)


def _checked_tags(tags: str | Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    values = [tags] if isinstance(tags, str) else [str(tag) for tag in tags]
    values = [tag.strip() for tag in values if tag.strip()]
    if len(values) > MAX_TAGS:
        raise ValueError(f"{len(values)} tags given; Mailgun takes at most {MAX_TAGS} per message.")
    for tag in values:
        if not tag.isascii() or len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"Tag {tag!r} must be ASCII and at most {MAX_TAG_LENGTH} characters.")
    return values


def _header_fields(headers: Mapping[str, Any] | None) -> dict[str, str]:
    fields = {}
    for name, value in (headers or {}).items():
        if not name or not name.isascii() or any(char in name for char in ": \t\r\n"):
            raise ValueError(f"Header name {name!r} must be ASCII, without spaces or colons.")
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"Header {name!r} must not contain line breaks.")
        fields[f"h:{name}"] = text
    return fields


def _attachment_parts(items: Sequence[AttachmentInput] | PathInput) -> list[FilePart]:
    """File parts from paths (one path alone too) or ``(filename, bytes)`` pairs, as the send operator."""
    parts: list[FilePart] = []
    total = 0
    for item in _attachment_items(items):
        if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[1], bytes | bytearray):
            name, data = str(item[0]), bytes(item[1])
        else:
            file = Path(item.strip() if isinstance(item, str) else item)  # type: ignore[arg-type]
            if not file.is_file():
                raise ValueError(f"Attachment {str(file)!r} is not a readable file.")
            # Sized before it is read: a file far over the limit must not fill the worker's memory.
            _check_total(total + file.stat().st_size)
            name, data = file.name, file.read_bytes()
        total += len(data)
        _check_total(total)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        parts.append(("attachment", (name, data, content_type)))
    return parts


def _attachment_items(items: Sequence[AttachmentInput] | PathInput) -> list[Any]:
    """Read as the send operator reads them: one path, paths separated by commas or semicolons, or a
    list, also as the text Jinja renders a list to (``"['a.csv', 'b.csv']"``)."""
    if isinstance(items, os.PathLike):
        return [items]
    if not isinstance(items, str):
        return list(items)
    text = items.strip()
    if text.startswith("["):
        try:
            parsed = structured_text(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _check_total(total: int) -> None:
    if total > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"Attachments add up to more than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB, "
            "Mailgun's limit for one message."
        )
