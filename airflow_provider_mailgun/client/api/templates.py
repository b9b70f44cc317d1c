"""Stored templates of a domain (handlebars): ``/v3/{domain}/templates``.

::

    client.templates.create("mg.example.com", "welcome", template="<p>Hi {{name}}</p>", tag="v1")
    client.messages.send("mg.example.com", {..., "template": "welcome", "t:variables": {"name": "A"}})
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_provider_mailgun.client.api.base import Resource, drop_none, form_fields
from airflow_provider_mailgun.client.paging import Page, cursor_pages
from airflow_provider_mailgun.client.urls import segment


class Templates(Resource):
    def pages(self, domain: str, *, limit: int = 100) -> Iterator[Page]:
        return cursor_pages(self._request, self._path(domain), {"limit": limit})

    def iter(self, domain: str, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        for page in self.pages(domain, limit=limit):
            yield from page.items

    def create(
        self,
        domain: str,
        name: str,
        *,
        template: str | None = None,
        description: str | None = None,
        tag: str | None = None,
        engine: str | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        fields = drop_none(
            name=name, description=description, template=template, tag=tag, engine=engine, comment=comment
        )
        return self._call("POST", self._path(domain), data=form_fields(fields))

    def get(self, domain: str, name: str, *, active: bool = False) -> dict[str, Any]:
        params = {"active": "yes"} if active else None
        return self._call("GET", self._path(domain, name), params=params, unwrap="template")

    def delete(self, domain: str, name: str) -> dict[str, Any]:
        return self._call("DELETE", self._path(domain, name))

    @staticmethod
    def _path(domain: str, name: str | None = None) -> str:
        path = f"/v3/{segment(domain, 'domain')}/templates"
        return f"{path}/{segment(name, 'template name')}" if name is not None else path
