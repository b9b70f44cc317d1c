"""Routes (account-level inbound rules): ``/v3/routes``, paged with skip/limit.

::

    client.routes.create(expression='match_recipient(".*@mg.example.com")',
                         actions=['forward("https://hooks.example.org/in")', "stop()"], priority=0)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_mailgun.client.api.base import Resource, drop_none, form_fields
from airflow_provider_mailgun.client.paging import skip_limit_items
from airflow_provider_mailgun.client.urls import segment


class Routes(Resource):
    def iter(self, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        return skip_limit_items(self._request, "/v3/routes", limit=limit)

    def create(
        self,
        *,
        expression: str,
        actions: Sequence[str],
        priority: int | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        fields = drop_none(
            priority=priority, description=description, expression=expression, action=list(actions)
        )
        return self._call("POST", "/v3/routes", data=form_fields(fields))

    def get(self, route_id: str) -> dict[str, Any]:
        return self._call("GET", _route_path(route_id), unwrap="route")

    def update(
        self,
        route_id: str,
        *,
        expression: str | None = None,
        actions: Sequence[str] | None = None,
        priority: int | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        fields = drop_none(
            priority=priority,
            description=description,
            expression=expression,
            action=list(actions) if actions is not None else None,
        )
        return self._call("PUT", _route_path(route_id), data=form_fields(fields))

    def delete(self, route_id: str) -> dict[str, Any]:
        return self._call("DELETE", _route_path(route_id))


def _route_path(route_id: str) -> str:
    return f"/v3/routes/{segment(route_id, 'route id')}"
