"""Every paging style is bounded: a source that keeps handing out new pages is cut off with an error.

Cursor paging already stops after ``MAX_PAGES`` (``test_paging``). The same source, in the other
styles: Logs with a new ``pagination.next`` token and new items on every reply, Metrics and skip/limit
listings (domains) with full pages and no total, for ever, in the sync and the async client. Each
server stops answering (400) past a limit, so a client that never stops fails the test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_provider_mailgun.client import MailgunClient, paging
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.exceptions import MailgunError

ClientFactory = Callable[..., MailgunClient]
BOUND = 30
SERVED_AT_MOST = 200
_HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def _small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "MAX_PAGES", BOUND)


Reply = Callable[[int, dict[str, Any]], dict[str, Any]]


def _endless(httpserver: HTTPServer, path: str, page: Reply) -> None:
    served = {"pages": 0}

    def handler(request: Request) -> Response:
        served["pages"] += 1
        if served["pages"] > SERVED_AT_MOST:  # the client never stopped
            return Response('{"message": "endless"}', status=400, content_type="application/json")
        body = json.loads(request.data or b"{}")
        return Response(json.dumps(page(served["pages"], body)), content_type="application/json")

    httpserver.expect_request(path).respond_with_handler(handler)


def _logs_reply(n: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"id": f"e{n}", "@timestamp": "2026-01-01T00:00:00Z"}], "pagination": {"next": f"t{n}"}}


def _metrics_reply(n: int, body: dict[str, Any]) -> dict[str, Any]:
    limit = body["pagination"]["limit"]
    return {"items": [{"dimensions": [], "metrics": {"n": n}}] * limit, "pagination": {}}


def _domains_reply(n: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"name": f"d{n}-{i}.example.com"} for i in range(100)]}


def test_logs_token_paging_is_bounded(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    _endless(httpserver, "/v1/analytics/logs", _logs_reply)
    with pytest.raises(MailgunError, match=f"did not end after {BOUND} pages"):
        list(make_client().logs.iter(start=0, end=60))
    assert len(httpserver.log) == BOUND


def test_metrics_paging_is_bounded(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    _endless(httpserver, "/v1/analytics/metrics", _metrics_reply)
    with pytest.raises(MailgunError, match=f"did not end after {BOUND} pages"):
        list(make_client().metrics.iter(metrics=["delivered_count"], start=_HOUR_AGO))
    assert len(httpserver.log) == BOUND


def test_skip_limit_paging_is_bounded(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    _endless(httpserver, "/v3/domains", _domains_reply)
    with pytest.raises(MailgunError, match=f"did not end after {BOUND} pages"):
        list(make_client().domains.iter())
    assert len(httpserver.log) == BOUND


def test_async_logs_and_metrics_paging_is_bounded(httpserver: HTTPServer, make_client: ClientFactory) -> None:
    _endless(httpserver, "/v1/analytics/logs", _logs_reply)
    _endless(httpserver, "/v1/analytics/metrics", _metrics_reply)
    config = make_client().config

    async def read_logs() -> list[Any]:
        async with AsyncMailgunClient(config) as client:
            return [item async for item in client.logs.iter(start=0, end=60)]

    async def read_metrics() -> list[Any]:
        async with AsyncMailgunClient(config) as client:
            return [item async for item in client.metrics.iter(metrics=["delivered_count"], start=_HOUR_AGO)]

    with pytest.raises(MailgunError, match=f"did not end after {BOUND} pages"):
        asyncio.run(read_logs())
    assert len(httpserver.log) == BOUND
    with pytest.raises(MailgunError, match=f"did not end after {BOUND} pages"):
        asyncio.run(read_metrics())
    assert len(httpserver.log) == 2 * BOUND
