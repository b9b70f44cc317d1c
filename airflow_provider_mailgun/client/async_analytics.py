"""Logs and Metrics on an event loop: the same bodies and paging rules as the sync resources.

::

    async with AsyncMailgunClient(config) as client:
        async for event in client.logs.iter(start=t0, end=t1, events=["delivered", "failed"]):
            ...
        reply = await client.logs.query(body)          # one page, for a caller that keeps the body
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_mailgun.client.analytics_query import METRICS_PER_WINDOW, logs_request, metrics_request
from airflow_provider_mailgun.client.api.analytics import (
    LOGS_PATH,
    METRICS_PATH,
    USAGE_METRICS_PATH,
    gateway_refusal,
)
from airflow_provider_mailgun.client.paging import (
    Advance,
    BodyPage,
    check_page_bound,
    next_offset_body,
    next_token_body,
    reply_items,
)
from airflow_provider_mailgun.client.ratelimit import RateLimiter
from airflow_provider_mailgun.exceptions import MailgunUnexpectedResponseError

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.async_client import AsyncTransport


async def _body_pages(
    transport: AsyncTransport, path: str, body: Mapping[str, Any], advance: Advance
) -> AsyncIterator[BodyPage]:
    """The async twin of :func:`..paging.body_pages`."""
    seen: set[str] = set()
    for requests_made in itertools.count():
        check_page_bound(requests_made, path)
        reply = await _post(transport, path, body)
        page = BodyPage(items=reply_items(reply), body=body, raw=reply)
        if page.items:
            yield page
        following = advance(body, reply)
        if following is None:
            return
        key = json.dumps(following.get("pagination"), sort_keys=True, default=str)
        if key in seen:
            return
        seen.add(key)
        body = following


async def _post(transport: AsyncTransport, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        reply = await transport.post_json(path, body)
    except MailgunUnexpectedResponseError as err:
        if transport.config.via_maton:
            raise gateway_refusal(err) from None
        raise
    return reply if isinstance(reply, dict) else {}


class AsyncLogs:
    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    async def query(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return await _post(self._transport, LOGS_PATH, body)

    def pages(self, **query: Any) -> AsyncIterator[BodyPage]:
        return _body_pages(self._transport, LOGS_PATH, logs_request(**query), next_token_body)

    async def iter(self, **query: Any) -> AsyncIterator[dict[str, Any]]:
        async for page in self.pages(**query):
            for item in page.items:
                yield item


class AsyncMetrics:
    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport
        self.limiter = RateLimiter(METRICS_PER_WINDOW / 10)

    async def pages(self, *, usage: bool = False, **query: Any) -> AsyncIterator[BodyPage]:
        path = USAGE_METRICS_PATH if usage else METRICS_PATH
        await self.limiter.acquire_async()
        async for page in _body_pages(
            self._transport, path, metrics_request(usage=usage, **query), next_offset_body
        ):
            yield page
            await self.limiter.acquire_async()

    async def iter(self, *, usage: bool = False, **query: Any) -> AsyncIterator[dict[str, Any]]:
        async for page in self.pages(usage=usage, **query):
            for item in page.items:
                yield item
