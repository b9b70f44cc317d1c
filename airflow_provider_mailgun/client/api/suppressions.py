"""Suppression tables of a domain: bounces, unsubscribes, complaints and whitelists.

::

    for bounce in client.bounces.iter("mg.example.com"):            # 1000 a page
        ...
    client.bounces.add_many("mg.example.com", [{"address": "a@x.org", "code": "550"}])
    client.bounces.delete("mg.example.com", "a@x.org")
    client.bounces.delete_all("mg.example.com")                      # clears the whole table
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_mailgun.client.api.base import Resource, chunks, drop_none, form_fields
from airflow_provider_mailgun.client.paging import Page, cursor_pages
from airflow_provider_mailgun.client.retrying import Safety
from airflow_provider_mailgun.client.urls import segment

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.transport import Transport

SuppressionKind = Literal["bounces", "unsubscribes", "complaints", "whitelists"]
SUPPRESSION_KINDS: tuple[SuppressionKind, ...] = ("bounces", "unsubscribes", "complaints", "whitelists")
MAX_SUPPRESSION_PAGE = 1000
MAX_SUPPRESSION_BATCH = 1000


class SuppressionTable(Resource):
    """One suppression table; ``kind`` is the path segment (``bounces``, ``unsubscribes``...)."""

    def __init__(self, transport: Transport, kind: SuppressionKind) -> None:
        super().__init__(transport)
        self.kind = kind

    def pages(
        self, domain: str, *, limit: int = MAX_SUPPRESSION_PAGE, term: str | None = None
    ) -> Iterator[Page]:
        if not 1 <= limit <= MAX_SUPPRESSION_PAGE:
            raise ValueError(f"Suppression page limit must be 1..{MAX_SUPPRESSION_PAGE}, got {limit}.")
        return cursor_pages(self._request, self._path(domain), drop_none(limit=limit, term=term))

    def iter(self, domain: str, **options: Any) -> Iterator[dict[str, Any]]:
        for page in self.pages(domain, **options):
            yield from page.items

    def get(self, domain: str, address: str) -> dict[str, Any]:
        return self._call("GET", self._path(domain, address))

    def add(self, domain: str, address: str | None = None, /, **fields: Any) -> dict[str, Any]:
        """Add (or update) one record; whitelists take ``address`` or ``domain=``.

        ``domain`` and ``address`` are positional-only, so a whitelist's own ``domain=`` field (the
        domain to allow) reaches Mailgun instead of clashing with the sending domain::

            client.whitelists.add("mg.example.com", domain="partner.example.org")
        """
        data = form_fields(drop_none(address=address, **fields))
        # Adding an existing record updates it, so an add is safe to retry.
        return self._call("POST", self._path(domain), data=data, safety=Safety.SAFE)

    def add_many(self, domain: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Bulk add as JSON arrays of at most 1000 records (not available for whitelists)."""
        if self.kind == "whitelists":
            raise ValueError("Mailgun has no bulk insert for whitelists; add them one by one.")
        return [
            self._request("POST", self._path(domain), json_body=list(chunk), safety=Safety.SAFE)
            for chunk in chunks(records, MAX_SUPPRESSION_BATCH)
        ]

    def delete(self, domain: str, address: str, *, tag: str | None = None) -> dict[str, Any]:
        params = {"tag": tag} if tag else None
        return self._call("DELETE", self._path(domain, address), params=params)

    def delete_all(self, domain: str) -> dict[str, Any]:
        return self._call("DELETE", self._path(domain))

    def _path(self, domain: str, address: str | None = None) -> str:
        path = f"/v3/{segment(domain, 'domain')}/{self.kind}"
        return f"{path}/{segment(address, 'address')}" if address is not None else path
