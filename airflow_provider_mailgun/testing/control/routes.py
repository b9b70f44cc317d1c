"""The emulator's control plane ``/_emulator/*`` (no auth); the web inbox is in ``inbox.routes``.

Example::

    get(f"{emu.url}/_emulator/messages?recipient=bob@example.com").json()["items"]
    post(f"{emu.url}/_emulator/faults", json={"error_rate": 0.2, "path": "/messages"})
    post(f"{emu.url}/_emulator/reset")
    post(f"{emu.url}/_emulator/events", json={"event": "complained", "recipient": "ann@example.org"})
    get(f"{emu.url}/_emulator/copies").json()    # {"copies", "recipients", "duplicates"}
    post(f"{emu.url}/_emulator/events", json={"events": [{"event": "failed", "recipient": "bob@..."}]})
    post(f"{emu.url}/_emulator/engage", json={"event": "opened", "tag": "newsletter"})
    post(f"{emu.url}/_emulator/events_api", json={"enabled": False})      # Events answers 410
    post(f"{emu.url}/_emulator/gateway", json={"forward_newer_apis": False})
    get(copy["html"] link)   # a list copy's %mailing_list_unsubscribe_url%: /_emulator/unsubscribe/<key>
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import own_base_url
from airflow_provider_mailgun.testing.control import feedback, introspect
from airflow_provider_mailgun.testing.control.engagement import engage
from airflow_provider_mailgun.testing.defaults import CONTROL_PREFIX
from airflow_provider_mailgun.testing.model.events import parse_storage_key
from airflow_provider_mailgun.testing.model.lists import unsubscribe_member
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import int_param, is_yes, json_response, message_response

_SETTINGS = ("rate_limit", "delivery_delay", "advance", "domains")


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def routes(state: EmulatorState) -> list[Route]:
    p = CONTROL_PREFIX

    async def messages(request: Request) -> Response:
        q = request.query_params
        skip = int_param(q.get("skip"), 0) or 0
        limit = int_param(q.get("limit"), 0) or None
        items = introspect.messages(
            state,
            q.get("recipient"),
            q.get("domain"),
            newest_first=is_yes(q.get("newest_first")),
            skip=skip,
            limit=limit,
        )
        total = introspect.count_messages(state, q.get("recipient"), q.get("domain"))
        return json_response({"items": items, "total_count": total})

    async def attachment(request: Request) -> Response:
        found = introspect.find_file(
            state, request.path_params["message_id"], request.path_params["filename"]
        )
        if found is None:
            return message_response("Attachment not found", 404)
        content_type, data = found
        disposition = f"attachment; filename*=UTF-8''{quote(request.path_params['filename'])}"
        return Response(data, media_type=content_type, headers={"Content-Disposition": disposition})

    async def events(request: Request) -> Response:
        q = request.query_params
        items = introspect.events(
            state, q.get("event"), q.get("domain"), q.get("recipient"), own_base_url(request.scope)
        )
        return json_response({"items": items, "total_count": len(items)})

    async def add_event(request: Request) -> Response:
        """A complaint or permanent bounce for mail already sent (see :mod:`.feedback`)."""
        data = await _json_body(request)
        if data is None:
            return message_response("Body must be a JSON object")
        if "events" in data:  # several at once: recorded as one step, or none when one is bad
            try:
                items = feedback.record_many(state, data["events"], storage_base=own_base_url(request.scope))
            except (TypeError, ValueError) as exc:
                return message_response(str(exc))
            return json_response({"message": "Events recorded", "events": items})
        try:
            item = feedback.record(
                state,
                str(data.get("event", "")),
                str(data.get("recipient", "")),
                data.get("domain"),
                index_delay=float(data.get("index_delay") or 0.0),
                storage_base=own_base_url(request.scope),
            )
        except (TypeError, ValueError) as exc:
            return message_response(str(exc))
        return json_response({"message": "Event recorded", "event": item})

    async def requests_log(request: Request) -> Response:
        items = introspect.requests(state)
        return json_response({"items": items, "total_count": len(items)})

    async def stats(request: Request) -> Response:
        return json_response(state.stats())

    async def copies(request: Request) -> Response:
        return json_response(introspect.copies_summary(state))

    async def reset(request: Request) -> Response:
        state.reset()
        return message_response("Emulator state has been reset", 200)

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            data = await _json_body(request)
            if data is None:
                return message_response("Body must be a JSON object (a fault spec)")
            try:
                spec = introspect.set_faults(state, data or None)
            except ValueError as exc:
                return message_response(str(exc))
        elif request.method == "DELETE":
            spec = introspect.set_faults(state, None)
        else:
            spec = state.faults.spec if state.faults is not None else None
        return json_response({"faults": spec.to_dict() if spec is not None else None})

    async def settings(request: Request) -> Response:
        data = await _json_body(request)
        if data is None:
            return message_response("Body must be a JSON object")
        what = request.scope["path"].rsplit("/", 1)[-1]
        try:
            if what == "rate_limit":
                introspect.set_rate_limit(state, data.get("rate"))
            elif what == "delivery_delay":
                introspect.set_delivery_delay(state, float(data.get("seconds", 0.0)))
            elif what == "advance":
                state.advance(float(data.get("seconds", 0.0)))
            else:
                state.add_domain(str(data["name"]).lower(), region=str(data.get("region") or "us"))
        except (KeyError, TypeError, ValueError) as exc:
            return message_response(f"Invalid settings: {exc}")
        return message_response("ok", 200)

    async def engagement(request: Request) -> Response:
        data = await _json_body(request)
        if data is None:
            return message_response("Body must be a JSON object")
        try:
            added = engage(state, **data)
        except (TypeError, ValueError) as exc:
            return message_response(f"Invalid engagement: {exc}")
        return json_response({"added": added})

    async def switches(request: Request) -> Response:
        data = await _json_body(request)
        if data is None:
            return message_response("Body must be a JSON object")
        what = request.scope["path"].rsplit("/", 1)[-1]
        if what == "events_api":
            keys = data.get("keys")
            introspect.set_events_api(state, bool(data.get("enabled", True)), keys)
        else:
            introspect.set_gateway_forwards_newer_apis(state, bool(data.get("forward_newer_apis", True)))
        return message_response("ok", 200)

    async def unsubscribe(request: Request) -> Response:
        """A list copy's ``%mailing_list_unsubscribe_url%``: unsubscribes its member from the list."""
        parsed = parse_storage_key(request.path_params["key"])
        with state.lock:
            batch = state.messages.by_message_id.get(parsed[0]) if parsed else None
            fanout = batch.fanout if batch is not None and batch.fanout is not None else []
            local = parsed[1] if parsed else -1
            target = fanout[local] if 0 <= local < len(fanout) else None
            if target is None or target.list_address is None:
                return HTMLResponse("<p>Unknown unsubscribe link.</p>", 404)
            if not unsubscribe_member(state.lists, target.list_address, target.address):
                shown = f"{escape(target.address)} is not on {escape(target.list_address)}."
                return HTMLResponse(f"<p>{shown}</p>", 404)
        return HTMLResponse(
            f"<p>{escape(target.address)} has been unsubscribed from {escape(target.list_address)}.</p>"
        )

    async def connect(request: Request) -> Response:
        conn_id = request.path_params["conn_id"]
        with state.lock:
            conn = state.connections.get(conn_id)
            token = request.query_params.get("session_token")
            if conn is None or token != conn["session_token"]:
                return HTMLResponse("<p>Unknown connection or session token.</p>", 404)
            conn["status"] = "ACTIVE"
            conn["last_updated_time"] = state.now()
        return HTMLResponse(f"<p>Connection {conn_id} is now ACTIVE. You can close this page.</p>")

    return [
        Route(f"{p}/messages", messages, methods=["GET"]),
        Route(f"{p}/messages/{{message_id}}/attachments/{{filename}}", attachment, methods=["GET"]),
        Route(f"{p}/events", events, methods=["GET"]),
        Route(f"{p}/events", add_event, methods=["POST"]),
        Route(f"{p}/requests", requests_log, methods=["GET"]),
        Route(f"{p}/stats", stats, methods=["GET"]),
        Route(f"{p}/copies", copies, methods=["GET"]),
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{p}/maton/connect/{{conn_id}}", connect, methods=["GET"]),
        Route(f"{p}/engage", engagement, methods=["POST"]),
        Route(f"{p}/unsubscribe/{{key}}", unsubscribe, methods=["GET", "POST"]),
        Route(f"{p}/events_api", switches, methods=["POST"]),
        Route(f"{p}/gateway", switches, methods=["POST"]),
        *(Route(f"{p}/{name}", settings, methods=["POST"]) for name in _SETTINGS),
    ]
