"""Sending: ``POST /v3/{domain}/messages`` and ``/messages.mime``.

::

    result = client.messages.send(
        "mg.example.com",
        {"from": "News <news@mg.example.com>", "to": ["a@x.org", "b@x.org"], "subject": "Hi",
         "text": "Hello %recipient.name%", "recipient-variables": {"a@x.org": {"name": "A"}}},
        files=[("attachment", ("report.csv", b"...", "text/csv"))],
    )
    result.message_id   # without angle brackets, as the events API shows it

A send is never retried once it may have reached Mailgun: such a failure, and a success reply
without a usable message id, raise
:class:`~airflow_provider_mailgun.exceptions.AmbiguousSendError` carrying the fields sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_mailgun.client.api.base import FieldsInput, Resource, form_fields
from airflow_provider_mailgun.client.retrying import Safety
from airflow_provider_mailgun.client.urls import segment, strip_message_id
from airflow_provider_mailgun.exceptions import (
    AmbiguousRequestError,
    AmbiguousSendError,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.transport import FilePart


@dataclass(frozen=True)
class SendResult:
    """Mailgun's reply to a send: ``id`` as returned (with angle brackets) and its message."""

    id: str
    message: str

    @property
    def message_id(self) -> str:
        return strip_message_id(self.id)


class Messages(Resource):
    def send(self, domain: str, fields: FieldsInput, files: Sequence[FilePart] = ()) -> SendResult:
        """Send one message (or one batch of up to 1000 recipients); multipart when files are given."""
        pairs = form_fields(fields)
        return self._send(domain, "messages", pairs, list(files))

    def send_mime(self, domain: str, to: Sequence[str], mime: bytes, fields: FieldsInput = ()) -> SendResult:
        """Send a ready MIME message; ``to`` must list every recipient (to, cc and bcc)."""
        pairs = [("to", address) for address in to] + form_fields(fields)
        files: list[FilePart] = [("message", ("message.mime", mime, "message/rfc822"))]
        return self._send(domain, "messages.mime", pairs, files)

    def _send(
        self, domain: str, endpoint: str, pairs: list[tuple[str, str]], files: list[FilePart]
    ) -> SendResult:
        path = f"/v3/{segment(domain, 'domain')}/{endpoint}"
        try:
            body = self._request("POST", path, data=pairs, files=files or None, safety=Safety.SEND)
        except AmbiguousRequestError as err:
            raise AmbiguousSendError(domain, pairs, err.cause) from None
        message_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(message_id, str) or not strip_message_id(message_id):
            # A success reply without an id (an intermediary's answer, say) says nothing about whether
            # Mailgun took the send: ambiguous, to be reconciled, never resent blindly.
            raise AmbiguousSendError(domain, pairs, f"the reply has no message id: {str(body)[:200]!r}")
        return SendResult(id=message_id, message=str(body.get("message", "")))
