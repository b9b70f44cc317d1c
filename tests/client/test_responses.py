"""Pure reply parsing: retry hints in every form Mailgun uses, and the retry decision."""

from __future__ import annotations

import pytest

from airflow_provider_mailgun.client.ratelimit import RateLimiter
from airflow_provider_mailgun.client.responses import api_message, retry_after_seconds
from airflow_provider_mailgun.client.retrying import Safety, should_retry
from airflow_provider_mailgun.exceptions import (
    MailgunRateLimitError,
    MailgunServerError,
    RequestMaybeSentError,
    RequestNotSentError,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "message", "expected"),
    [
        ({"Retry-After": "7"}, "", 7.0),
        ({"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"}, "", 10.0),
        ({"X-RateLimit-Reset": str(NOW + 4.5)}, "", 4.5),
        # Epoch milliseconds, as some gateways give it, is the same instant, not a 54-year wait.
        ({"X-RateLimit-Reset": str(int((NOW + 4.5) * 1000))}, "", 4.5),
        ({"X-RateLimit-Reset": "3"}, "", 3.0),  # a small number is a delay in seconds
        ({"Retry-After": "2", "X-RateLimit-Reset": str(NOW + 30)}, "", 2.0),
        ({}, "account-requests-per-sec limit exceeded, try again after 120 seconds", 120.0),
        (
            {},
            "Domain x is not allowed to send: request limit exceeded, try again after "
            "Tue, 14 Nov 2023 22:14:20 UTC",
            60.0,
        ),
        ({}, "slow down", None),
    ],
)
def test_retry_after_sources_in_order(headers: dict[str, str], message: str, expected: float | None) -> None:
    assert retry_after_seconds(headers, message, now=NOW) == expected


def test_webhooks_api_retry_seconds_body() -> None:
    assert retry_after_seconds({}, "", now=NOW, body=b'{"retry-seconds": 60}') == 60.0
    assert "60" in api_message(b'{"retry-seconds": 60}')


def test_retry_decision_matrix() -> None:
    limited = MailgunRateLimitError(429, "POST", "/p", "slow", retry_after=5)
    too_long = MailgunRateLimitError(420, "POST", "/p", "slow", retry_after=7200)
    server = MailgunServerError(502, "GET", "/p", "bad gateway")
    for safety in Safety:
        assert should_retry(limited, safety, 60)
        assert not should_retry(too_long, safety, 60)
        assert should_retry(RequestNotSentError("refused"), safety, 60)
    assert should_retry(server, Safety.SAFE, 60)
    assert not should_retry(server, Safety.SEND, 60)
    assert not should_retry(server, Safety.UNSAFE, 60)
    assert should_retry(RequestMaybeSentError("reset"), Safety.SAFE, 60)
    assert not should_retry(RequestMaybeSentError("reset"), Safety.SEND, 60)


def test_rate_limiter_spaces_slots_evenly() -> None:
    now = [0.0]
    limiter = RateLimiter(10, clock=lambda: now[0], sleep=lambda s: None)
    delays = [limiter.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    now[0] = 10.0
    assert limiter.reserve() == 0.0
    assert RateLimiter(None).reserve() == 0.0
