"""Mailgun's current analytics APIs (v1 Logs, Metrics, Tags) and email validation (v4).

::

    for event in client.logs.iter(start=t0, end=t1, events=["delivered", "failed"],
                                  filter={"domain": "mg.example.com"}):
        print(event["@timestamp"], event["event"], event["recipient"])

    for row in client.metrics.iter(start=t0, end=t1, resolution="day", dimensions=["time", "tag"],
                                   metrics=["accepted_count", "delivered_count", "opened_count"]):
        print(row["dimensions"], row["metrics"])

    client.analytics_tags.iter(tag="news")           # account tags, 100 a page
    client.validations.validate("someone@example.org")["result"]

Queries are checked before anything is sent (:mod:`..analytics_query`). Every call here only
reads (or updates a tag idempotently), so each is retried like a GET. Through the Maton gateway
these paths go to ``/mailgun/v1/...``; a gateway that does not forward them raises
:class:`~airflow_provider_mailgun.exceptions.MatonGatewayError` saying to use a direct ``mailgun`` connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_mailgun.client.analytics_query import (
    METRICS_PER_WINDOW,
    logs_request,
    metrics_request,
    tags_request,
)
from airflow_provider_mailgun.client.api.base import Resource
from airflow_provider_mailgun.client.paging import BodyPage, body_pages, next_offset_body, next_token_body
from airflow_provider_mailgun.client.ratelimit import RateLimiter
from airflow_provider_mailgun.client.retrying import Safety
from airflow_provider_mailgun.exceptions import (
    MailgunQueryError,
    MailgunUnexpectedResponseError,
    MatonGatewayError,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.transport import Transport

LOGS_PATH = "/v1/analytics/logs"
METRICS_PATH = "/v1/analytics/metrics"
USAGE_METRICS_PATH = "/v1/analytics/usage/metrics"
TAGS_PATH = "/v1/analytics/tags"
TAG_LIMITS_PATH = "/v1/analytics/tags/limits"
VALIDATE_PATH = "/v4/address/validate"
GATEWAY_HINT = (
    "the Maton gateway did not forward this Mailgun path; use a direct 'mailgun' connection "
    "(Mailgun private API key, region us or eu)"
)


def gateway_refusal(error: MailgunUnexpectedResponseError) -> MatonGatewayError:
    """A non-JSON success through the gateway: the path went somewhere other than the API."""
    return MatonGatewayError(error.status, error.method, error.path, error.api_message, GATEWAY_HINT)


class _AnalyticsResource(Resource):
    """A JSON-body endpoint group; requests are safe to repeat (reads and idempotent updates)."""

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            reply = self._request(method, path, json_body=body, safety=Safety.SAFE)
        except MailgunUnexpectedResponseError as err:
            if self._transport.config.via_maton:
                raise gateway_refusal(err) from None
            raise
        return reply if isinstance(reply, dict) else {"items": reply}


class Logs(_AnalyticsResource):
    """``POST /v1/analytics/logs``: account-wide events, at most 100 a page, paged by token."""

    def query(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """One raw reply for a body (from :func:`..analytics_query.logs_request`, or the next one)."""
        return self._json("POST", LOGS_PATH, body)

    def pages(self, **query: Any) -> Iterator[BodyPage]:
        """Non-empty pages; keyword arguments as :func:`..analytics_query.logs_request`."""
        return body_pages(self.query, logs_request(**query), next_token_body)

    def iter(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every matching event, lazily, in the requested order (oldest first by default)."""
        for page in self.pages(**query):
            yield from page.items


class Metrics(_AnalyticsResource):
    """``POST /v1/analytics/metrics`` (and ``/usage/metrics``), skip/limit paged.

    The Metrics API has its own rate limit (500 requests per 10 s); every client keeps under it
    on top of the connection's own limit.
    """

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.limiter = RateLimiter(METRICS_PER_WINDOW / 10)

    def query(self, body: Mapping[str, Any], *, usage: bool = False) -> dict[str, Any]:
        """One raw reply for a body from :func:`..analytics_query.metrics_request`."""
        self.limiter.acquire()
        return self._json("POST", USAGE_METRICS_PATH if usage else METRICS_PATH, body)

    def pages(self, *, usage: bool = False, **query: Any) -> Iterator[BodyPage]:
        """Non-empty pages of ``{"dimensions", "metrics"}`` items; see :func:`metrics_request`."""
        body = metrics_request(usage=usage, **query)
        return body_pages(lambda b: self.query(b, usage=usage), body, next_offset_body)

    def iter(self, *, usage: bool = False, **query: Any) -> Iterator[dict[str, Any]]:
        for page in self.pages(usage=usage, **query):
            yield from page.items


class AnalyticsTags(_AnalyticsResource):
    """The account's tags (``/v1/analytics/tags``), the successor of the per-domain v3 tags."""

    def pages(self, **query: Any) -> Iterator[BodyPage]:
        """Pages of tags; keyword arguments as :func:`..analytics_query.tags_request`."""
        return body_pages(lambda b: self._json("POST", TAGS_PATH, b), tags_request(**query), next_offset_body)

    def iter(self, **query: Any) -> Iterator[dict[str, Any]]:
        for page in self.pages(**query):
            yield from page.items

    def update(self, tag: str, description: str) -> dict[str, Any]:
        return self._json("PUT", TAGS_PATH, {"tag": _tag(tag), "description": description})

    def delete(self, tag: str) -> dict[str, Any]:
        return self._json("DELETE", TAGS_PATH, {"tag": _tag(tag)})

    def limits(self) -> dict[str, Any]:
        """``{"limit", "count", "limit_reached"}``."""
        return self._json("GET", TAG_LIMITS_PATH)


class Validations(_AnalyticsResource):
    """``GET /v4/address/validate``: one address (result, risk, reason, did_you_mean...)."""

    def validate(self, address: str, *, provider_lookup: bool | None = None) -> dict[str, Any]:
        text = str(address or "").strip()
        if not text:
            raise MailgunQueryError("No address to validate.")
        params: dict[str, str] = {"address": text}
        if provider_lookup is not None:
            params["provider_lookup"] = "true" if provider_lookup else "false"
        try:
            reply = self._request("GET", VALIDATE_PATH, params=params)
        except MailgunUnexpectedResponseError as err:
            if self._transport.config.via_maton:
                raise gateway_refusal(err) from None
            raise
        return reply if isinstance(reply, dict) else {}


def _tag(tag: str) -> str:
    text = str(tag or "").strip()
    if not text:
        raise MailgunQueryError("An empty tag name.")
    return text
