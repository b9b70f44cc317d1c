"""Webhook verification: genuine, tampered, stale, future and replayed signatures; parsing."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from airflow_provider_mailgun.exceptions import WebhookError
from airflow_provider_mailgun.webhooks import ReplayCache, parse_webhook, verify_signature, verify_webhook

KEY = "key-webhook-signing-0123456789abcdef"
NOW = 1_800_000_000.0
TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"


def _sign(timestamp: str, token: str = TOKEN, key: str = KEY) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def test_genuine_signature_passes() -> None:
    timestamp = str(int(NOW) - 10)
    assert verify_signature(KEY, timestamp, TOKEN, _sign(timestamp), now=NOW)
    assert verify_signature(KEY, timestamp, TOKEN, _sign(timestamp).upper(), now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "token", "signature_of"),
    [
        (str(int(NOW)), TOKEN + "x", str(int(NOW))),  # token changed after signing
        (str(int(NOW) - 1), TOKEN, str(int(NOW))),  # timestamp changed after signing
    ],
)
def test_tampered_fields_fail(timestamp: str, token: str, signature_of: str) -> None:
    assert not verify_signature(KEY, timestamp, token, _sign(signature_of), now=NOW)


def test_wrong_key_and_empty_values_fail() -> None:
    timestamp = str(int(NOW))
    assert not verify_signature(KEY, timestamp, TOKEN, _sign(timestamp, key="other-key"), now=NOW)
    assert not verify_signature("", timestamp, TOKEN, _sign(timestamp), now=NOW)
    assert not verify_signature(KEY, timestamp, "", _sign(timestamp, token=""), now=NOW)


def test_stale_and_future_timestamps_fail() -> None:
    old, future = str(int(NOW) - 16 * 60), str(int(NOW) + 5 * 60)
    assert not verify_signature(KEY, old, TOKEN, _sign(old), now=NOW)
    assert verify_signature(KEY, old, TOKEN, _sign(old), now=NOW, max_age=None)
    assert not verify_signature(KEY, future, TOKEN, _sign(future), now=NOW)


def test_replayed_token_fails_the_second_time() -> None:
    cache = ReplayCache()
    timestamp = str(int(NOW))
    assert verify_signature(KEY, timestamp, TOKEN, _sign(timestamp), now=NOW, replay_cache=cache)
    assert not verify_signature(KEY, timestamp, TOKEN, _sign(timestamp), now=NOW, replay_cache=cache)


def test_replay_cache_is_bounded_and_expires() -> None:
    cache = ReplayCache(max_entries=2, ttl=10)
    assert cache.check_and_add("a", now=0)
    assert cache.check_and_add("b", now=1)
    assert cache.check_and_add("c", now=2)  # evicts "a"
    assert cache.check_and_add("a", now=3)
    assert not cache.check_and_add("c", now=4)
    assert cache.check_and_add("c", now=50)  # expired


def test_parse_and_verify_a_whole_body() -> None:
    timestamp = str(int(NOW))
    event = {
        "event": "delivered",
        "recipient": "a@example.org",
        "message": {"headers": {"message-id": "m@x"}},
    }
    body = json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": TOKEN, "signature": _sign(timestamp)},
            "event-data": event,
        }
    )
    assert parse_webhook(body) == event
    assert verify_webhook(KEY, body, max_age=None) == event
    assert verify_webhook("wrong", body, max_age=None) is None
    with pytest.raises(WebhookError):
        parse_webhook('{"signature": {}}')


@pytest.mark.parametrize(
    ("timestamp", "token", "signature"),
    [
        (str(int(NOW)), TOKEN, "é" * 64),  # non-ASCII: compare_digest on text would raise TypeError
        (str(int(NOW)), TOKEN, "\ud800"),  # a lone surrogate, which JSON allows
        (str(int(NOW)), "\ud800", "ab" * 32),
        ("nan", TOKEN, None),  # signed, but not a time: never fresh
        ("inf", TOKEN, None),
        ("soon", TOKEN, None),
    ],
)
def test_what_a_sender_controls_never_raises(timestamp: str, token: str, signature: str | None) -> None:
    if signature is None:
        signature = _sign(timestamp, token)
    assert not verify_signature(KEY, timestamp, token, signature, now=NOW)
    body = json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": {}}
    )
    assert verify_webhook(KEY, body) is None


def test_a_token_is_remembered_until_its_timestamp_is_stale() -> None:
    # A cache that forgets sooner than max_age would let a replay through in between.
    cache = ReplayCache(ttl=10)
    timestamp = str(int(NOW))
    signature = _sign(timestamp)
    assert verify_signature(KEY, timestamp, TOKEN, signature, now=NOW, max_age=3600, replay_cache=cache)
    for later in (NOW + 11, NOW + 1800, NOW + 3600):
        assert not verify_signature(
            KEY, timestamp, TOKEN, signature, now=later, max_age=3600, replay_cache=cache
        )
    assert not verify_signature(KEY, timestamp, TOKEN, signature, now=NOW + 3601, max_age=3600)  # stale


@pytest.mark.parametrize(
    "body", [b"{not json", b"\xff\xfe", "", "[1]", '"text"', "[" * 30_000 + "]" * 30_000]
)
def test_a_body_that_is_not_a_json_object_is_a_webhook_error(body: str | bytes) -> None:
    with pytest.raises(WebhookError):
        parse_webhook(body)
    if body in ("[1]", '"text"'):
        assert verify_webhook(KEY, body) is None  # JSON, but no signature block
    else:
        with pytest.raises(WebhookError, match="is JSON; this one is not"):
            verify_webhook(KEY, body)
