"""Reading Mailgun's replies: success bodies, error bodies in all their shapes, and retry hints.

Pure functions of (status, headers, body), shared by the sync and async transports::

    body = parse_success(200, b'{"message": "ok"}', "GET", "/v3/domains")
    err = error_for(429, headers, body, "POST", "/v3/mg.example.com/messages", via_maton=False)
    err.retry_after  # seconds, from Retry-After, X-RateLimit-Reset or the message text
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_mailgun.exceptions import (
    MailgunAPIError,
    MailgunAuthError,
    MailgunBadRequestError,
    MailgunNotFoundError,
    MailgunRateLimitError,
    MailgunRetiredAPIError,
    MailgunServerError,
    MailgunUnexpectedResponseError,
    MatonGatewayError,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.config import ClientConfig

try:  # Airflow installs msgspec; its decoder is several times faster on large pages (Logs, events)
    from msgspec.json import Decoder as _Decoder

    _fast_decode: Any = _Decoder().decode
except ImportError:  # pragma: no cover - the client also works without it
    _fast_decode = None

RATE_LIMIT_STATUSES = frozenset({420, 429})
MAX_MESSAGE_CHARS = 300
# Epoch seconds reach 1e11 in the year 5138; a larger X-RateLimit-Reset is in milliseconds.
EPOCH_MILLISECONDS_FROM = 1e11

_TRY_AGAIN_SECONDS = re.compile(r"try again after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_TRY_AGAIN_DATE = re.compile(r"try again after ([A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{4} [\d:]+ \S+)")


def loads(body: bytes) -> Any:
    """JSON from bytes: msgspec's decoder when installed, else (and for anything it refuses) the stdlib's."""
    if _fast_decode is not None:
        try:
            return _fast_decode(body)
        except ValueError:
            pass
    return json.loads(body)


def parse_success(status: int, body: bytes, method: str, path: str) -> Any:
    """Decode a 2xx body as JSON; anything else is an error, never a silent success."""
    if not body.strip():
        return {}
    try:
        return loads(body)
    except ValueError:
        text = _snippet(body.decode("utf-8", "replace"))
        raise MailgunUnexpectedResponseError(
            status,
            method,
            path,
            f"reply is not JSON: {text!r}",
            "Mailgun answers a malformed path this way; check the domain and path",
        ) from None


def api_message(body: bytes) -> str:
    """Mailgun's own words from any of its error formats (JSON message/Error/Reason/error, or text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return _snippet(text) or "(empty body)"
    if isinstance(data, dict):
        for key in ("message", "Error", "Reason", "error", "msg"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return _snippet(value)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return _snippet(value["message"])
        if "retry-seconds" in data:
            return f"rate limited, retry in {data['retry-seconds']} seconds"
    return _snippet(text)


def retry_after_seconds(
    headers: Mapping[str, str], message: str, *, now: float | None = None, body: bytes = b""
) -> float | None:
    """When the server says we may try again, in seconds from now.

    Order: ``Retry-After`` (seconds or HTTP date), then ``X-RateLimit-Reset`` (epoch seconds or
    milliseconds, or a delay in seconds), then Mailgun's "try again after N seconds / <date>" text,
    then the webhooks API's ``{"retry-seconds": N}`` body. ``None`` when the reply gives no hint.
    """
    current = time.time() if now is None else now
    seconds = _retry_after_header(headers, now=current)
    if seconds is not None:
        return seconds
    lowered = {key.lower(): value for key, value in headers.items()}
    seconds = reset_seconds(lowered.get("x-ratelimit-reset"), current)
    if seconds is not None:
        return seconds
    found = _TRY_AGAIN_SECONDS.search(message)
    if found:
        return float(found.group(1))
    found = _TRY_AGAIN_DATE.search(message)
    if found:
        seconds = _seconds_or_date(found.group(1), current)
        if seconds is not None:
            return seconds
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("retry-seconds"), int | float):
        return float(data["retry-seconds"])
    return None


def reset_seconds(value: str | None, now: float) -> float | None:
    """An ``X-RateLimit-Reset`` value as seconds from ``now`` (``None`` when absent or unreadable)."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # Epoch seconds per Mailgun's Go SDK; some gateways give epoch milliseconds (13 digits, which
    # read as seconds would be a wait of decades); small numbers can only be a delay in seconds.
    if number > EPOCH_MILLISECONDS_FROM:
        number /= 1000.0
    return max(0.0, number - now) if number > 1e9 else max(0.0, number)


def reply_error(
    config: ClientConfig, status: int, headers: Mapping[str, str], body: bytes, method: str, path: str
) -> MailgunAPIError:
    """:func:`error_for` a reply to a request made with ``config`` (both transports use it)."""
    return error_for(
        status, headers, body, method, path, via_maton=config.via_maton, secrets=config.secrets()
    )


def error_for(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    path: str,
    *,
    via_maton: bool,
    secrets: Sequence[str] = (),
) -> MailgunAPIError:
    """The exception for an error reply, with a hint that says what to do when we know.

    ``secrets`` (the key, as sent) are cut out of the server's words: a gateway may quote them.
    """
    message = api_message(body)
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    if status in RATE_LIMIT_STATUSES:
        return MailgunRateLimitError(
            status,
            method,
            path,
            message,
            "rate limited; retried with backoff where safe",
            retry_after=retry_after_seconds(headers, message, body=body),
        )
    if status in (401, 403):
        return _auth_error(status, method, path, message, via_maton)
    if via_maton and _gateway_did_not_forward(status, body, path):
        return MatonGatewayError(
            status,
            method,
            path,
            message,
            "the Maton gateway did not forward this Mailgun path; use a direct 'mailgun' connection "
            "(Mailgun private API key, region us or eu) for the Logs, Metrics, analytics Tags and "
            "validation APIs",
        )
    if status == 410:
        return MailgunRetiredAPIError(
            status, method, path, message, "Mailgun retired this endpoint for the account; use its successor"
        )
    if status == 404:
        return MailgunNotFoundError(status, method, path, message, _not_found_hint(message, via_maton))
    if status >= 500:
        hint = ""
        if via_maton and status == 500:
            hint = (
                "through the Maton gateway a 500 usually means the Mailgun OAuth connection expired; "
                "re-authorise it or create a new one at ctrl.maton.ai"
            )
        # A 503 may announce when the service is back (RFC 9110); honour it like a rate limit's hint.
        return MailgunServerError(
            status, method, path, message, hint, retry_after=_retry_after_header(headers)
        )
    if via_maton and status == 400 and "connection" in message.lower():
        return MatonGatewayError(
            status,
            method,
            path,
            message,
            "the Maton gateway found no usable Mailgun connection: create one "
            "(POST ctrl.maton.ai/connections) or set the maton_connection extra to an ACTIVE one",
        )
    return MailgunBadRequestError(status, method, path, message)


#: Mailgun paths the Maton skill document does not show; a gateway may not forward them.
_NEWER_API_PREFIXES = ("/v1/", "/v4/address/", "/v5/")


def _gateway_did_not_forward(status: int, body: bytes, path: str) -> bool:
    """A 404/405/501 on a newer API path whose body is not Mailgun's ``{"message": ...}``.

    Mailgun's own errors carry ``message``; a gateway refusing a route answers in its own words
    (``error``, an HTML page, or nothing), so the two can be told apart.
    """
    if status not in (404, 405, 501):
        return False
    native = path.split("/mailgun", 1)[-1] if "/mailgun/" in path else path
    if not native.startswith(_NEWER_API_PREFIXES):
        return False
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        return True
    return not (isinstance(data, dict) and isinstance(data.get("message"), str))


def _auth_error(status: int, method: str, path: str, message: str, via_maton: bool) -> MailgunAPIError:
    if via_maton and status == 401:
        hint = "the Maton API key is missing, wrong or expired: check the connection's password"
        return MatonGatewayError(status, method, path, message, hint)
    if "sandbox" in message.lower():
        hint = "sandbox domains only send to authorised recipients"
    elif status == 401:
        hint = (
            "check the private API key (a domain sending key can only send) and the region: "
            "keys and domains of the EU region only work on api.eu.mailgun.net"
        )
    else:
        hint = "the key is valid but not allowed to do this"
    return MailgunAuthError(status, method, path, message, hint)


def _not_found_hint(message: str, via_maton: bool) -> str:
    if "domain not found" not in message.lower():
        return ""
    if via_maton:
        return (
            "the Maton gateway reaches Mailgun's US region only; a domain in the EU region needs a "
            "direct 'mailgun' connection with region 'eu'"
        )
    return "if the domain is in Mailgun's EU region, set the connection's region to 'eu' (or back to 'us')"


def _retry_after_header(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The ``Retry-After`` header alone (seconds or HTTP date), or ``None``."""
    for key, value in headers.items():
        if key.lower() == "retry-after" and value:
            return _seconds_or_date(value.strip(), time.time() if now is None else now)
    return None


def _seconds_or_date(value: str, now: float) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."
