"""What a delivery wait reads from: the Events API's pages or the Logs API's bodies, sync or async.

A check is a sequence of requests (``("first_page", query)``, ``("read_page", url)`` of the Events
API, ``("logs", body)`` of the Logs API) that :class:`~.polling.DeliveryWait` produces; these
functions carry one out with the client they are given, so poke mode and the trigger share every
decision about what to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mailgun.exceptions import (
    MailgunConfigError,
    MailgunError,
    MailgunRetiredAPIError,
    MatonGatewayError,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.paging import Page

#: Where a wait reads: ``auto`` (Events while it answers, then Logs), or one API only.
EVENT_SOURCES = ("auto", "events", "logs")
#: Statuses of a gateway refusing the Events path (its own words, not Mailgun's).
GATEWAY_REFUSALS = (404, 405, 410, 501)
#: One request of a check (see the module docstring).
Request = tuple[str, Any]


class LogsSource(Protocol):
    """The client's Logs API: ``hook.logs`` (one request body in, one reply out)."""

    def query(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


class AsyncLogsSource(Protocol):
    """The async client's Logs API."""

    async def query(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


class PageSource(Protocol):
    """The client's events API: ``hook.events`` (what :meth:`DeliveryWait.check` reads)."""

    def first_page(self, domain: str, **query: Any) -> Page: ...

    def read_page(self, url: str) -> Page: ...


class AsyncPageSource(Protocol):
    """The async client's events API (what :meth:`DeliveryWait.acheck` reads)."""

    async def first_page(self, domain: str, **query: Any) -> Page: ...

    async def read_page(self, url: str) -> Page: ...


def events_unavailable(err: MailgunError) -> bool:
    """Mailgun says the Events API is retired for the account (410), or the gateway refuses it."""
    if isinstance(err, MailgunRetiredAPIError):
        return True
    return isinstance(err, MatonGatewayError) and err.status in GATEWAY_REFUSALS


def call(request: Request, domain: str, events: PageSource, logs: LogsSource | None) -> Any:
    kind, argument = request
    if kind == "first_page":
        return events.first_page(domain, **argument)
    if kind == "read_page":
        return events.read_page(argument)
    if logs is None:
        raise MailgunConfigError("This wait reads the Logs API but was given no Logs client.")
    return logs.query(argument)


async def acall(request: Request, domain: str, events: AsyncPageSource, logs: AsyncLogsSource | None) -> Any:
    kind, argument = request
    if kind == "first_page":
        return await events.first_page(domain, **argument)
    if kind == "read_page":
        return await events.read_page(argument)
    if logs is None:
        raise MailgunConfigError("This wait reads the Logs API but was given no Logs client.")
    return await logs.query(argument)
