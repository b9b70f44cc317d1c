"""The one place that decides whether a failed request may be tried again, and when.

Sending email is not idempotent, so requests come in three kinds::

    Safety.SAFE    reads, deletes, updates, upserts: retried on 429, 420, 5xx and any
                   connection failure
    Safety.UNSAFE  creates that would duplicate (a route, a list member without upsert): retried
                   only when the server provably did not take them (429/420, or a failure
                   before the request left: refused, DNS, connect timeout)
    Safety.SEND    POST .../messages: as UNSAFE, and a failure after the request left (read
                   timeout, dropped connection, 5xx) becomes an "ambiguous" error, never a resend

Both transports build their tenacity loop from :func:`should_retry` and :class:`BackoffWait`, and
tell a failed TLS handshake (nothing sent, so never ambiguous) with :func:`handshake_failure`.
"""

from __future__ import annotations

import enum
import random
import ssl
from typing import Any
from urllib.parse import urlsplit

from tenacity import RetryCallState

from airflow_provider_mailgun.exceptions import (
    MailgunAPIError,
    MailgunConnectionError,
    MailgunError,
    MailgunRateLimitError,
    MailgunServerError,
    RequestMaybeSentError,
    RequestNotSentError,
)

RETRYABLE_STATUSES = frozenset({420, 429, 500, 502, 503, 504})


class Safety(enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"
    SEND = "send"


def should_retry(error: BaseException, safety: Safety, max_retry_wait: float) -> bool:
    """Whether ``error`` may be retried for a request of this ``safety``."""
    if isinstance(error, MailgunRateLimitError):
        wait = error.retry_after
        return wait is None or wait <= max_retry_wait
    if isinstance(error, RequestNotSentError):
        return True
    if safety is not Safety.SAFE:
        return False
    if isinstance(error, MailgunServerError):
        wait = error.retry_after
        return error.status in RETRYABLE_STATUSES and (wait is None or wait <= max_retry_wait)
    return isinstance(error, RequestMaybeSentError)


class BackoffWait:
    """Tenacity wait: the server's own hint when it gave one, else capped exponential full jitter."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, MailgunAPIError) and error.retry_after is not None:
            # A little jitter on top, so parallel workers released together do not collide again.
            return error.retry_after + self._rng.uniform(0, min(self.base, 1.0))
        ceiling = min(self.cap, self.base * 2 ** (state.attempt_number - 1))
        return self._rng.uniform(0, ceiling)


# What OpenSSL reports when the server answered the TLS hello in plain text (an HTTP server).
PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"})


def handshake_failure(exc: BaseException, method: str, url: str, reason: str) -> MailgunError | None:
    """The error for a request that failed in the TLS handshake, else ``None``.

    The request never left (TLS sends it only after the handshake), so a send that fails this way is
    not ambiguous. A rejected certificate, or a server that answered in plain HTTP, cannot be fixed
    by retrying: the error is final. Any other handshake failure (a reset, a cut connection) is
    :class:`RequestNotSentError`, which every request may retry.
    """
    parts = urlsplit(url)
    where = f"{method} {parts.path}"
    for current in _causes(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return MailgunConnectionError(
                f"{where}: the server's TLS certificate was rejected ({reason}); nothing was sent. "
                "Use a trusted certificate (REQUESTS_CA_BUNDLE/SSL_CERT_FILE for a private CA); set the "
                "connection extra verify_tls=false only for a private gateway you trust."
            )
        if not (isinstance(current, OSError) and _raised_in_handshake(current)):
            continue
        if getattr(current, "reason", None) in PLAIN_HTTP_REASONS:
            plain = parts._replace(scheme="http", path="", query="", fragment="").geturl()
            return MailgunConnectionError(
                f"{where}: the server at {parts.netloc} answered in plain HTTP, not TLS ({reason}); "
                f"nothing was sent. If it speaks plain HTTP (a local emulator or gateway), write the "
                f"connection's host as {plain!r}."
            )
        return RequestNotSentError(
            f"{where}: the TLS handshake with {parts.netloc} failed ({reason}); nothing was sent."
        )
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (requests and urllib3 nest them in args and reasons)."""
    found: list[BaseException] = []
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        pending.extend(
            [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
        )
    return found


def _raised_in_handshake(error: BaseException) -> bool:
    """Whether ``error`` was raised inside the TLS handshake (its traceback passes through it)."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "do_handshake":
            return True
        frame = frame.tb_next
    return False
