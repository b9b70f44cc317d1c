"""The non-blocking twin of the transport, for code on an event loop (the delivery trigger).

Same rules as :mod:`.transport` (auth, host allow-list, rate limit, retries, error mapping), built
from the same pure functions, with ``httpx.AsyncClient`` for the I/O. It only reads (the Logs and
Metrics queries are POSTs that read), so every request is safe to retry::

    async with AsyncMailgunClient(config) as client:
        page = await client.events.first_page("mg.example.com", ascending=True, begin=t0)
        page = await client.events.read_page(page.next_url)
        async for event in client.logs.iter(start=t0, events=["delivered", "failed"]):
            ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from airflow_provider_mailgun.client.api.events import events_query
from airflow_provider_mailgun.client.async_analytics import AsyncLogs, AsyncMetrics
from airflow_provider_mailgun.client.config import USER_AGENT, ClientConfig
from airflow_provider_mailgun.client.paging import Page
from airflow_provider_mailgun.client.ratelimit import limiter_for
from airflow_provider_mailgun.client.responses import parse_success, reply_error
from airflow_provider_mailgun.client.retrying import BackoffWait, Safety, handshake_failure, should_retry
from airflow_provider_mailgun.client.stats import TransportStats
from airflow_provider_mailgun.client.urls import resolve_url, segment
from airflow_provider_mailgun.exceptions import RequestMaybeSentError, RequestNotSentError

log = logging.getLogger(__name__)


class AsyncTransport:
    """Read requests on an event loop; see the module docstring."""

    def __init__(self, config: ClientConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.limiter = limiter_for(config)
        self.stats = TransportStats()
        connect, read = config.timeout
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(read, connect=connect),
            verify=config.verify_tls,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    async def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("GET", path_or_url, params=params)

    async def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        """A POST whose JSON body asks a question (Logs, Metrics): reads, so retried like a GET."""
        return await self.request("POST", path, json_body=body)

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> Any:
        url = resolve_url(self.config, path_or_url)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=BackoffWait(self.config.backoff_base, self.config.backoff_max),
            retry=retry_if_exception(lambda err: should_retry(err, Safety.SAFE, self.config.max_retry_wait)),
            sleep=asyncio.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(method, url, params, json_body)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _attempt(
        self, method: str, url: str, params: Mapping[str, Any] | None, json_body: Mapping[str, Any] | None
    ) -> Any:
        path = urlsplit(url).path
        ticket = await self.limiter.acquire_async()
        self.stats.add("attempts")
        try:
            response = await self._http.request(
                method,
                url,
                params=dict(params) if params else None,
                json=dict(json_body) if json_body is not None else None,
                headers=self._auth(),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self.limiter.finish(ticket, None)
            self.stats.add("not_sent_failures")
            in_handshake = handshake_failure(exc, method, url, f"{type(exc).__name__}: {exc}")
            if in_handshake is not None:
                raise in_handshake from None
            raise RequestNotSentError(
                f"{method} {path} could not reach the server: {type(exc).__name__}"
            ) from None
        except httpx.HTTPError as exc:
            self.limiter.finish(ticket, None)
            self.stats.add("maybe_sent_failures")
            raise RequestMaybeSentError(f"{method} {path} failed: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        self.limiter.finish(ticket, status, response.headers, response.content)
        self.stats.add(f"status_{status}")
        if status >= 300:
            raise reply_error(self.config, status, response.headers, response.content, method, path)
        return parse_success(status, response.content, method, path)

    def _auth(self) -> dict[str, str]:
        return self.config.auth_headers()

    async def aclose(self) -> None:
        await self._http.aclose()


class AsyncEvents:
    """Events pages on an event loop (the same queries as the sync ``Events``)."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    async def first_page(self, domain: str, **query: Any) -> Page:
        path = f"/v3/{segment(domain, 'domain')}/events"
        return await self._read(path, events_query(**query))

    async def read_page(self, url: str) -> Page:
        return await self._read(url, None)

    async def _read(self, url: str, params: Mapping[str, Any] | None) -> Page:
        body = await self._transport.get(url, params) or {}
        paging = body.get("paging") or {}
        return Page(
            items=list(body.get("items") or []), url=url, next_url=paging.get("next") or None, raw=body
        )


class AsyncMailgunClient:
    """What the trigger needs, non-blocking: the Events API, and Logs and Metrics."""

    def __init__(self, config: ClientConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.transport = AsyncTransport(config, http=http)
        self.events = AsyncEvents(self.transport)
        self.logs = AsyncLogs(self.transport)
        self.metrics = AsyncMetrics(self.transport)

    def request_stats(self) -> dict[str, int]:
        """Requests made so far, counted as :meth:`MailgunClient.request_stats` counts them."""
        return self.transport.stats.snapshot()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncMailgunClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
