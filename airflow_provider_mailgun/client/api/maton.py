"""Maton connections on the control host (``https://ctrl.maton.ai``), Maton connections only.

::

    client.connections.list(status="ACTIVE")
    new = client.connections.create()        # open new["url"] in a browser to finish OAuth
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mailgun.client.api.base import Resource, drop_none
from airflow_provider_mailgun.client.config import MATON_APP
from airflow_provider_mailgun.client.urls import segment


class MatonConnections(Resource):
    def list(self, *, app: str = MATON_APP, status: str | None = None) -> list[dict[str, Any]]:
        body = self._call("GET", "/connections", params=drop_none(app=app, status=status), base="ctrl")
        return list(body.get("connections") or [])

    def create(self, *, app: str = MATON_APP) -> dict[str, Any]:
        return self._call("POST", "/connections", json_body={"app": app}, base="ctrl", unwrap="connection")

    def get(self, connection_id: str) -> dict[str, Any]:
        return self._call("GET", self._path(connection_id), base="ctrl", unwrap="connection")

    def delete(self, connection_id: str) -> dict[str, Any]:
        return self._call("DELETE", self._path(connection_id), base="ctrl")

    @staticmethod
    def _path(connection_id: str) -> str:
        return f"/connections/{segment(connection_id, 'connection id')}"
