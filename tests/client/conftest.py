"""Fixtures for client tests: configs pointed at a local HTTP server, and a client factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from airflow_provider_mailgun.client import ClientConfig, MailgunClient

MAILGUN_KEY = "key-test-0123456789abcdef0123456789abcdef"
MATON_KEY = "maton-test-key-0123456789abcdef0123456789"
FAST_RETRIES: dict[str, Any] = {"backoff_base": 0.001, "backoff_max": 0.01, "max_attempts": 4}


@pytest.fixture
def make_client(httpserver: HTTPServer) -> Iterator[Callable[..., MailgunClient]]:
    """Build a direct (``mode="mailgun"``) or gateway (``mode="maton"``) client for the test server."""
    clients: list[MailgunClient] = []

    def build(mode: str = "mailgun", **options: Any) -> MailgunClient:
        merged = {**FAST_RETRIES, **options}
        base = httpserver.url_for("/").rstrip("/")
        if mode == "maton":
            config = ClientConfig.for_maton(MATON_KEY, gateway_url=base, ctrl_url=f"{base}/ctrl", **merged)
        else:
            config = ClientConfig.for_mailgun(MAILGUN_KEY, base_url=base, **merged)
        client = MailgunClient(config)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()
