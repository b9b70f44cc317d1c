"""Maton's connection control host, served at ``/_maton/ctrl/connections``.

Example::

    get(f"{emu.ctrl_url}/connections?app=mailgun&status=ACTIVE", headers={"Authorization": f"Bearer {key}"})
    # -> {"connections": [{"connection_id": "...", "status": "ACTIVE", ...}]}
    post(f"{emu.ctrl_url}/connections", json={"app": "mailgun"})   # PENDING; open its "url" to activate
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import own_base_url
from airflow_provider_mailgun.testing.defaults import CONTROL_PREFIX, CTRL_PREFIX
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import iso_time, json_response


def connection_dict(conn: dict[str, Any], base: str) -> dict[str, Any]:
    """Public shape of a connection (the activation URL lives on the emulator's control plane)."""
    url = (
        f"{base}{CONTROL_PREFIX}/maton/connect/{conn['connection_id']}?session_token={conn['session_token']}"
    )
    return {
        "connection_id": conn["connection_id"],
        "status": conn["status"],
        "creation_time": iso_time(conn["creation_time"]),
        "last_updated_time": iso_time(conn["last_updated_time"]),
        "url": url,
        "app": conn["app"],
        "method": conn["method"],
        "metadata": dict(conn["metadata"]),
    }


def routes(state: EmulatorState) -> list[Route]:
    async def connections(request: Request) -> Response:
        base = own_base_url(request.scope)
        if request.method == "POST":
            try:
                data = json.loads(await request.body() or b"{}")
            except ValueError:
                data = None
            if not isinstance(data, dict) or not data.get("app"):
                return json_response({"error": "Request body must be JSON with an 'app' field"}, 400)
            with state.lock:
                conn = state.add_connection(status="PENDING")
                conn["app"] = str(data["app"])
                return json_response({"connection": connection_dict(conn, base)})
        app, status = request.query_params.get("app"), request.query_params.get("status")
        with state.lock:
            found = [
                connection_dict(c, base)
                for c in sorted(state.connections.values(), key=lambda c: c["creation_time"])
                if (app is None or c["app"] == app) and (status is None or c["status"] == status)
            ]
        return json_response({"connections": found})

    async def one(request: Request) -> Response:
        conn_id = request.path_params["conn_id"]
        base = own_base_url(request.scope)
        with state.lock:
            conn = state.connections.get(conn_id)
            if conn is None:
                return json_response({"error": f"Connection {conn_id} not found"}, 404)
            if request.method == "DELETE":
                del state.connections[conn_id]
            return json_response({"connection": connection_dict(conn, base)})

    return [
        Route(f"{CTRL_PREFIX}/connections", connections, methods=["GET", "POST"]),
        Route(f"{CTRL_PREFIX}/connections/{{conn_id}}", one, methods=["GET", "DELETE"]),
    ]
