"""Receiving Mailgun webhooks safely: signature check, freshness, replay protection, parsing.

Mailgun signs each webhook with HMAC-SHA256 over ``timestamp + token`` using the account's HTTP
webhook signing key (not the API key). In a receiver (Flask, FastAPI, an Airflow asset watcher...)::

    from airflow_provider_mailgun.webhooks import ReplayCache, parse_webhook, verify_signature

    replays = ReplayCache()
    body = request.get_json()
    sig = body["signature"]
    ok = verify_signature(SIGNING_KEY, sig["timestamp"], sig["token"], sig["signature"], replay_cache=replays)
    if not ok:
        return "", 406            # 406 tells Mailgun not to retry
    event = parse_webhook(body)   # the same dict shape the events API returns

The comparison is constant-time; stale timestamps (default: older than 15 minutes, or more than a
minute in the future) and reused tokens are rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from airflow_provider_mailgun.exceptions import WebhookError

DEFAULT_MAX_AGE = 15 * 60.0
ALLOWED_CLOCK_SKEW = 60.0


class ReplayCache:
    """Tokens seen recently (bounded, thread-safe): a token accepted once is refused afterwards.

    A token is kept for ``ttl`` seconds, and by :func:`verify_signature` at least until its
    timestamp is too old to pass ``max_age``, so a replay is refused by one check or the other.
    Past ``max_entries`` the oldest tokens are forgotten first.
    """

    def __init__(self, max_entries: int = 100_000, ttl: float = DEFAULT_MAX_AGE * 2) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_add(self, token: str, now: float | None = None, *, keep_until: float | None = None) -> bool:
        """True the first time ``token`` is seen (and remember it), False for a replay.

        :param keep_until: remember the token at least until this time (epoch seconds).
        """
        current = time.time() if now is None else now
        expires = current + self.ttl if keep_until is None else max(current + self.ttl, keep_until)
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < current:
                self._seen.popitem(last=False)
            if token in self._seen:
                return False
            while len(self._seen) >= self.max_entries:
                self._seen.popitem(last=False)
            self._seen[token] = expires
            return True


def signature_for(signing_key: str, timestamp: str | int, token: str) -> str:
    """The hex signature Mailgun sends for ``timestamp`` and ``token`` (also what the emulator uses)."""
    message = f"{timestamp}{token}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def _digest_bytes(text: str) -> bytes:
    # compare_digest refuses non-ASCII text (TypeError): a body crafted that way must fail the
    # check, not crash the receiver. Lone surrogates (valid in JSON) pass through surrogatepass.
    return text.lower().encode("utf-8", "surrogatepass")


def verify_signature(
    signing_key: str,
    timestamp: str | int,
    token: str,
    signature: str,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    replay_cache: ReplayCache | None = None,
    now: float | None = None,
) -> bool:
    """Whether a webhook's signature block is genuine, fresh and not a replay.

    :param signing_key: the account's HTTP webhook signing key.
    :param timestamp: the signature's ``timestamp`` as sent (hashed as the raw string).
    :param token: the signature's 50-character ``token``.
    :param signature: the hex HMAC-SHA256 to check.
    :param max_age: seconds a timestamp stays acceptable; ``None`` skips the freshness check.
    :param replay_cache: when given, a token is accepted only once.

    Never raises for what a sender controls (odd characters, a non-numeric timestamp): such a
    webhook is simply not genuine.
    """
    if not (signing_key and token and signature and str(timestamp)):
        return False
    try:
        expected = signature_for(signing_key, timestamp, token).encode()
        given = _digest_bytes(str(signature))
    except UnicodeEncodeError:  # a lone surrogate in the key, timestamp or token
        return False
    if not hmac.compare_digest(expected, given):
        return False
    current = time.time() if now is None else now
    keep_until: float | None = None
    if max_age is not None:
        try:
            sent = float(timestamp)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(sent) or current - sent > max_age or sent - current > ALLOWED_CLOCK_SKEW:
            return False
        keep_until = sent + max_age  # until then the timestamp alone would not stop a replay
    return replay_cache is None or replay_cache.check_and_add(token, current, keep_until=keep_until)


def parse_webhook(body: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The ``event-data`` of a webhook body: the same dict the events API returns for that event.

    Accepts the JSON body (text, bytes or already decoded). Legacy form-encoded webhooks (before
    June 2018) are not supported: Mailgun has not sent them for years. Raises
    :class:`WebhookError` for anything else.
    """
    data = _decoded(body)
    if not isinstance(data, Mapping):
        raise WebhookError("A Mailgun webhook body is a JSON object.")
    event = data.get("event-data")
    if not isinstance(event, Mapping) or "event" not in event:
        raise WebhookError("Not a Mailgun webhook: no 'event-data' object with an 'event'.")
    return dict(event)


def verify_webhook(
    signing_key: str,
    body: str | bytes | Mapping[str, Any],
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    replay_cache: ReplayCache | None = None,
) -> dict[str, Any] | None:
    """Verify and parse in one step: the event dict, or ``None`` when the signature fails.

    A body that is not JSON raises :class:`WebhookError`, as does a genuine one without event data.
    """
    data = _decoded(body)
    signature = data.get("signature") if isinstance(data, Mapping) else None
    if not isinstance(signature, Mapping):
        return None
    ok = verify_signature(
        signing_key,
        str(signature.get("timestamp", "")),
        str(signature.get("token", "")),
        str(signature.get("signature", "")),
        max_age=max_age,
        replay_cache=replay_cache,
    )
    return parse_webhook(data) if ok else None


def decode_body(body: str | bytes) -> Any:
    """The JSON value of a raw webhook body, or :class:`WebhookError` for anything that is not
    JSON: invalid text, bytes in no Unicode encoding, or nesting deeper than the decoder goes."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WebhookError(f"A Mailgun webhook body is JSON; this one is not ({err}).") from None


def _decoded(body: str | bytes | Mapping[str, Any]) -> Any:
    return decode_body(body) if isinstance(body, str | bytes) else body
