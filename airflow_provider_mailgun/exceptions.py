"""Every error this provider raises, in one family: catch :class:`MailgunError` to catch them all.

Import-free (no Airflow, no HTTP library), so the client, the hook and the emulator's users can all
use it. Errors about input (a bad address, query, connection or source) are ``ValueError`` too, as
in requests; nothing is sent when one is raised::

    from airflow_provider_mailgun.exceptions import MailgunError, MailgunNotFoundError

    try:
        client.messages.send("mg.example.com", fields)
    except MailgunNotFoundError as err:
        print(err.status, err.api_message, err.hint)
    except MailgunError as err:
        ...

HTTP errors carry the status, method, path and Mailgun's own message, and render as one line that
says what happened and, where we know it, what to do. None of them ever carries an API key: the
transport builds them from the response and the request path only, never from headers.

The delivery sensor's ``MailgunDeliveryError`` is the one member that lives elsewhere
(:mod:`airflow_provider_mailgun.sensors.delivery`): it is also Airflow's ``AirflowFailException``,
so that retrying stops, and this module imports nothing of Airflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MailgunError(Exception):
    """Base class of every error this provider raises."""


class MailgunConfigError(MailgunError, ValueError):
    """The client or connection is configured wrongly (missing key, bad region, bad URL...)."""


class MailgunQueryError(MailgunError, ValueError):
    """A query the API would refuse, caught before anything is sent.

    A start after its end, an unknown event name or metric, a malformed filter: the message names
    the offending value and what the API accepts.
    """


class UnsafeURLError(MailgunError):
    """A URL (paging link, redirect) points at a host other than the configured one.

    Credentials are only ever sent to the configured base host, so the request is refused.
    """


class MailgunConnectionError(MailgunError):
    """The server could not be reached, or the connection failed, after all retries."""


class RequestNotSentError(MailgunConnectionError):
    """The request provably never reached the server (refused, DNS failure, connect timeout)."""


class RequestMaybeSentError(MailgunConnectionError):
    """The connection failed after the request may have reached the server."""


class PagingLimitError(MailgunError):
    """A listing kept handing out new pages past the client's limit; what was read is incomplete."""


class MailgunAPIError(MailgunError):
    """Mailgun (or the Maton gateway) answered with an error status.

    :param status: HTTP status code.
    :param method: HTTP method of the request.
    :param path: request path (no host, no query: the query may hold addresses).
    :param api_message: the message Mailgun gave, parsed from its JSON or plain-text body.
    :param hint: what to do about it, when we know.
    """

    def __init__(
        self,
        status: int,
        method: str,
        path: str,
        api_message: str,
        hint: str = "",
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.api_message = api_message
        self.hint = hint
        self.retry_after = retry_after
        super().__init__(self._one_line())

    def _one_line(self) -> str:
        text = f"Mailgun API error {self.status} on {self.method} {self.path}: {self.api_message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (Airflow may ship exceptions between processes).
        return (
            _rebuild_api_error,
            (type(self), self.status, self.method, self.path, self.api_message, self.hint, self.retry_after),
        )


def _rebuild_api_error(
    cls: type[MailgunAPIError],
    status: int,
    method: str,
    path: str,
    api_message: str,
    hint: str,
    retry_after: float | None,
) -> MailgunAPIError:
    return cls(status, method, path, api_message, hint, retry_after=retry_after)


class MailgunBadRequestError(MailgunAPIError):
    """400, 413 and other client-side errors: the request itself is wrong; do not retry."""


class MailgunAuthError(MailgunAPIError):
    """401 or 403: the key is wrong, lacks permission, or the domain may not send."""


class MailgunNotFoundError(MailgunAPIError):
    """404: the domain, list, address or endpoint does not exist (in this region)."""


class MailgunRateLimitError(MailgunAPIError):
    """429 or 420: too many requests or recipients; ``retry_after`` says when to try again."""


class MailgunServerError(MailgunAPIError):
    """5xx from Mailgun or the gateway."""


class MailgunRetiredAPIError(MailgunAPIError):
    """410: the endpoint was retired for this account (e.g. the Events API); use its successor."""


class MatonGatewayError(MailgunAPIError):
    """An error produced by the Maton gateway itself (no connection, expired OAuth, bad key)."""


class MailgunUnexpectedResponseError(MailgunAPIError):
    """A reply that is not what the API promises, e.g. a 200 whose body is not JSON.

    Mailgun answers a malformed path with ``200 Mailgun Magnificent API``; treating that as success
    would silently lose a send.
    """


class AmbiguousRequestError(MailgunError):
    """A non-idempotent request went out but no clear answer came back (see AmbiguousSendError)."""

    def __init__(self, method: str, path: str, cause: str) -> None:
        self.method = method
        self.path = path
        self.cause = cause
        super().__init__(f"{method} {path} is ambiguous: {cause}. It may or may not have been accepted.")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.method, self.path, self.cause))


class AmbiguousSendError(MailgunError):
    """A send may or may not have been accepted: the request went out but no clear answer came back.

    Raised for a read timeout, a connection dropped after the request was sent, or a 5xx on
    ``POST .../messages``. Resending blindly could deliver twice, so the client never does; the
    caller reconciles (e.g. looks for an ``accepted`` event carrying its own ``v:`` key).

    :param domain: the sending domain.
    :param fields: the form fields that were sent, as (name, value) pairs (no files, no credentials).
    :param cause: what happened, in one line.
    """

    def __init__(self, domain: str, fields: Sequence[tuple[str, str]], cause: str) -> None:
        self.domain = domain
        self.fields = list(fields)
        self.cause = cause
        recipients = _count_recipients(self.fields)
        super().__init__(
            f"Send to {recipients} recipient(s) on {domain} is ambiguous: {cause}. It may or may not "
            "have been accepted; it was not resent. Reconcile with the events API before resending."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.domain, self.fields, self.cause))


def _count_recipients(fields: Sequence[tuple[str, str]]) -> int:
    from email.utils import getaddresses

    # getaddresses, not a split on commas: '"Doe, Jane" <jane@x.org>' is one recipient.
    values = [value for key, value in fields if key in ("to", "cc", "bcc")]
    return sum(1 for _, address in getaddresses(values) if address)


# -- input checked before anything is sent ------------------------------------------------------


class InvalidAddressError(MailgunError, ValueError):
    """An address that email-validator (or the display-name rules) rejects."""


class SendInputError(MailgunError, ValueError):
    """The send operator's input is wrong; nothing was sent."""


class ListSourceError(MailgunError, ValueError):
    """A list sync's source as a whole cannot be read (wrong type, missing file, no address column)."""


class ListSyncGuardError(MailgunError, ValueError):
    """A guard stopped the sync before anything was written; the message says what would have happened."""


class RuleError(MailgunError, ValueError):
    """A suppression-clearing rule or target list is invalid; raised before any request is made."""


class WebhookError(MailgunError, ValueError):
    """A webhook body that is not a Mailgun webhook."""


# -- outcomes an operator or trigger could not settle -----------------------------------------


class LedgerConflictError(MailgunError):
    """The recipients changed since an earlier try that already sent some of them."""


class UnsettledSendError(MailgunError):
    """Some batches may or may not have been accepted; they were not resent."""


class IncompleteOperationError(MailgunError):
    """Part of an operation failed after the client's retries, or did not take effect.

    Every write of the operators that raise it is an upsert or a delete, so running the task again
    completes it.
    """


class CursorUnavailableError(MailgunError):
    """An event watch's kept cursor could not be read; the watch waits rather than start from "now"."""
