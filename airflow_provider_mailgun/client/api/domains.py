"""Domains and their settings: tracking, SMTP credentials and webhooks.

::

    for domain in client.domains.iter():
        print(domain["name"], domain["state"])
    client.tracking.update("mg.example.com", "open", active=True)
    client.webhooks.create("mg.example.com", "delivered", ["https://hooks.example.org/mg"])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from airflow_provider_mailgun._common.mailgun_names import WEBHOOK_EVENTS
from airflow_provider_mailgun.client.api.base import Resource, drop_none, form_fields
from airflow_provider_mailgun.client.paging import skip_limit_items
from airflow_provider_mailgun.client.urls import segment

TrackingKind = Literal["open", "click", "unsubscribe"]


def _domain_path(domain: str) -> str:
    return f"/v3/domains/{segment(domain, 'domain')}"


class Domains(Resource):
    def iter(self, *, limit: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        return skip_limit_items(self._request, "/v3/domains", filters, limit=limit)

    def get(self, domain: str) -> dict[str, Any]:
        return self._call("GET", _domain_path(domain))

    def create(self, name: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/v3/domains", data=form_fields({"name": name, **fields}))

    def delete(self, domain: str) -> dict[str, Any]:
        return self._call("DELETE", _domain_path(domain))


class Tracking(Resource):
    def get(self, domain: str) -> dict[str, Any]:
        return self._call("GET", f"{_domain_path(domain)}/tracking")

    def update(
        self,
        domain: str,
        kind: TrackingKind,
        *,
        active: bool | str,
        html_footer: str | None = None,
        text_footer: str | None = None,
    ) -> dict[str, Any]:
        """Turn open, click or unsubscribe tracking on or off (click also takes ``"htmlonly"``)."""
        if kind not in ("open", "click", "unsubscribe"):
            raise ValueError(f"Tracking kind must be open, click or unsubscribe, got {kind!r}.")
        fields = drop_none(active=active, html_footer=html_footer, text_footer=text_footer)
        return self._call("PUT", f"{_domain_path(domain)}/tracking/{kind}", data=form_fields(fields))


class Credentials(Resource):
    def iter(self, domain: str, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        return skip_limit_items(self._request, f"{_domain_path(domain)}/credentials", limit=limit)

    def create(self, domain: str, login: str, password: str) -> dict[str, Any]:
        data = form_fields({"login": login, "password": password})
        return self._call("POST", f"{_domain_path(domain)}/credentials", data=data)

    def delete(self, domain: str, login: str) -> dict[str, Any]:
        path = f"{_domain_path(domain)}/credentials/{segment(login, 'login')}"
        return self._call("DELETE", path)


class Webhooks(Resource):
    """Per-event webhooks of a domain (v3): at most three URLs per event."""

    def list(self, domain: str) -> dict[str, Any]:
        return self._call("GET", f"{_domain_path(domain)}/webhooks", unwrap="webhooks")

    def create(self, domain: str, event: str, urls: Sequence[str]) -> dict[str, Any]:
        data = form_fields({"id": _webhook_event(event), "url": list(urls)})
        return self._call("POST", f"{_domain_path(domain)}/webhooks", data=data)

    def get(self, domain: str, event: str) -> dict[str, Any]:
        return self._call("GET", self._path(domain, event))

    def update(self, domain: str, event: str, urls: Sequence[str]) -> dict[str, Any]:
        return self._call("PUT", self._path(domain, event), data=form_fields({"url": list(urls)}))

    def delete(self, domain: str, event: str) -> dict[str, Any]:
        return self._call("DELETE", self._path(domain, event))

    @staticmethod
    def _path(domain: str, event: str) -> str:
        return f"{_domain_path(domain)}/webhooks/{_webhook_event(event)}"


def _webhook_event(event: str) -> str:
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}; expected one of {', '.join(WEBHOOK_EVENTS)}.")
    return event
