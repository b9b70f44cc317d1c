"""Reporting: stats totals, tags, and the account's sending IPs.

::

    client.stats.totals("mg.example.com", ["accepted", "delivered"], duration="1d")
    for tag in client.tags.iter("mg.example.com"): ...
    client.ips.list()
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_mailgun.client.api.base import Resource, drop_none
from airflow_provider_mailgun.client.paging import Page, cursor_pages
from airflow_provider_mailgun.client.urls import segment


class Stats(Resource):
    def totals(
        self,
        domain: str,
        events: Sequence[str],
        *,
        start: str | None = None,
        end: str | None = None,
        resolution: str | None = None,
        duration: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v3/{domain}/stats/total``; Mailgun requires at least one event type."""
        if not events:
            raise ValueError("Stats need at least one event type, e.g. ['accepted', 'delivered'].")
        params: list[tuple[str, str]] = [("event", event) for event in events]
        params += list(drop_none(start=start, end=end, resolution=resolution, duration=duration).items())
        return self._call("GET", f"/v3/{segment(domain, 'domain')}/stats/total", params=params)


class Tags(Resource):
    def pages(self, domain: str, *, limit: int = 100, prefix: str | None = None) -> Iterator[Page]:
        params = drop_none(limit=limit, prefix=prefix)
        return cursor_pages(self._request, f"/v3/{segment(domain, 'domain')}/tags", params)

    def iter(self, domain: str, **options: Any) -> Iterator[dict[str, Any]]:
        for page in self.pages(domain, **options):
            yield from page.items

    def get(self, domain: str, tag: str) -> dict[str, Any]:
        return self._call("GET", self._path(domain, tag))

    def delete(self, domain: str, tag: str) -> dict[str, Any]:
        return self._call("DELETE", self._path(domain, tag))

    @staticmethod
    def _path(domain: str, tag: str) -> str:
        return f"/v3/{segment(domain, 'domain')}/tags/{segment(tag, 'tag')}"


class Ips(Resource):
    def list(self, *, dedicated: bool | None = None) -> dict[str, Any]:
        params = {"dedicated": "yes" if dedicated else "no"} if dedicated is not None else None
        return self._call("GET", "/v3/ips", params=params)

    def get(self, ip: str) -> dict[str, Any]:
        return self._call("GET", f"/v3/ips/{segment(ip, 'ip address')}")
