"""Account-level routes, stats totals, tags and IPs.

Example::

    post(f"{emu.url}/v3/routes", data={"expression": 'match_recipient(".*@x.com")', "action": "stop()"})
    get(f"{emu.url}/v3/{emu.domain}/stats/total?event=accepted&event=delivered&duration=1d")
    get(f"{emu.url}/v3/{emu.domain}/tags?limit=100")
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import context, cursor_page, domain_of, form_of, found
from airflow_provider_mailgun.testing.api.sending import tag_dict
from airflow_provider_mailgun.testing.model.events import KIND_NAMES, STATUS
from airflow_provider_mailgun.testing.model.paging import cursor_links, slice_sorted
from airflow_provider_mailgun.testing.model.state import IPS, EmulatorState
from airflow_provider_mailgun.testing.util import (
    floor_time,
    int_param,
    json_response,
    message_response,
    parse_date,
    rfc2822,
)

STAT_EVENTS = ("accepted", "delivered", "failed", "opened", "clicked", "unsubscribed", "complained", "stored")
_UNITS = {"h": 3600, "d": 86400, "m": 30 * 86400}


def routes(state: EmulatorState) -> list[Route]:
    async def list_routes(request: Request) -> Response:
        skip = int_param(request.query_params.get("skip"), 0) or 0
        limit = int_param(request.query_params.get("limit"), 100) or 100
        with state.lock:
            items = sorted(state.routes.values(), key=lambda r: (r["priority"], r["_seq"]))
        shown = [_public(r) for r in items[skip : skip + limit]]
        return json_response({"total_count": len(items), "items": shown})

    async def create_route(request: Request) -> Response:
        form = await form_of(request)
        expression, actions = form.get("expression"), form.getlist("action")
        if not expression:
            return message_response("Missing mandatory parameter: expression")
        if not actions:
            return message_response("Missing mandatory parameter: action")
        priority = int_param(form.get("priority"), 0)
        if priority is None:
            return message_response("Invalid priority: must be an integer")
        with state.lock:
            route_id = f"{len(state.routes) + 1:08x}{int(state.now() * 1000):016x}"
            route = {
                "id": route_id,
                "priority": priority,
                "description": form.get("description") or "",
                "expression": expression,
                "actions": actions,
                "created_at": rfc2822(state.now()),
                "_seq": len(state.routes),
            }
            state.routes[route_id] = route
        return json_response({"message": "Route has been created", "route": _public(route)})

    async def one_route(request: Request) -> Response:
        route_id = request.path_params["id"]
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            route = found(state.routes, route_id, "Route not found")
            if request.method == "GET":
                return json_response({"route": _public(route)})
            if request.method == "DELETE":
                del state.routes[route_id]
                return json_response({"message": "Route has been deleted", "id": route_id})
            assert form is not None
            if form.get("priority") is not None:
                priority = int_param(form.get("priority"), 0)
                if priority is None:
                    return message_response("Invalid priority: must be an integer")
                route["priority"] = priority
            for name in ("description", "expression"):
                if form.get(name) is not None:
                    route[name] = form.get(name)
            if form.getlist("action"):
                route["actions"] = form.getlist("action")
            return json_response({"message": "Route has been updated", "route": _public(route)})

    async def stats_total(request: Request) -> Response:
        params = request.query_params
        wanted = params.getlist("event")
        if not wanted:
            return message_response("Missing mandatory parameter: event")
        unknown = [e for e in wanted if e not in STAT_EVENTS]
        if unknown:
            return message_response(f"Invalid event type: {unknown[0]}")
        resolution = params.get("resolution") or "day"
        if resolution not in ("hour", "day", "month"):
            return message_response(f"Invalid resolution: {resolution}")
        domain = request.path_params["domain"].lower()
        with state.lock:
            domain_of(state, domain)
            state.tick()
            window = _window(params.get("start"), params.get("end"), params.get("duration"), state.now())
            if isinstance(window, str):
                return message_response(window)
            buckets = _buckets(window[0], window[1], resolution)
            counts = _count(state, domain, buckets, window[1])
        stats = [_stat_entry(b, counts.get(b, {}), wanted) for b in buckets]
        body = {
            "description": "",
            "start": rfc2822(window[0]),
            "end": rfc2822(window[1]),
            "resolution": resolution,
            "stats": stats,
        }
        return json_response(body)

    async def tags(request: Request) -> Response:
        page, limit = cursor_page(request, max_limit=1000, over_max="Invalid parameter: limit")
        params = request.query_params
        pivot, prefix = params.get("tag"), (params.get("prefix") or "").lower()
        domain = request.path_params["domain"].lower()
        with state.lock:
            dom = domain_of(state, domain)
            keys = sorted(k for k in dom.tags if k.startswith(prefix))
            keys = slice_sorted(keys, page, pivot.lower() if pivot else pivot, limit)
            items = [tag_dict(dom.tags[k]) for k in keys]
        extra = {"prefix": prefix} if prefix else None
        links = cursor_links(
            context(request).base_url, f"/v3/{domain}/tags", "tag", limit, keys, pivot, extra
        )
        return json_response({"items": items, "paging": links})

    async def one_tag(request: Request) -> Response:
        domain = request.path_params["domain"].lower()
        tag = request.path_params.get("tag") or request.query_params.get("tag") or ""
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            dom = domain_of(state, domain)
            record = found(dom.tags, tag.lower(), "tag not found")
            if request.method == "GET":
                return json_response(tag_dict(record))
            if request.method == "DELETE":
                del dom.tags[tag.lower()]
                return message_response("Tag deleted", 200)
            assert form is not None
            record["description"] = form.get("description") or ""
        return message_response("Tag updated", 200)

    async def ips(request: Request) -> Response:
        details = [{"ip": ip, "is_on_warmup": False} for ip in IPS]
        return json_response(
            {"assignable_to_pools": [], "details": details, "items": list(IPS), "total_count": 2}
        )

    async def one_ip(request: Request) -> Response:
        ip = request.path_params["ip"]
        if ip not in IPS:
            return message_response("ip not found", 404)
        return json_response(
            {"dedicated": True, "ip": ip, "rdns": f"ip-{ip.replace('.', '-')}.mailgun.example"}
        )

    return [
        Route("/v3/routes", list_routes, methods=["GET"]),
        Route("/v3/routes", create_route, methods=["POST"]),
        Route("/v3/routes/{id}", one_route, methods=["GET", "PUT", "DELETE"]),
        Route("/v3/ips", ips, methods=["GET"]),
        Route("/v3/ips/{ip}", one_ip, methods=["GET"]),
        Route("/v3/{domain}/stats/total", stats_total, methods=["GET"]),
        Route("/v3/{domain}/tags", tags, methods=["GET"]),
        Route("/v3/{domain}/tags/{tag}", one_tag, methods=["GET", "PUT", "DELETE"]),
        Route("/v3/{domain}/tag", one_tag, methods=["GET", "PUT", "DELETE"]),
    ]


def _public(route: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in route.items() if not k.startswith("_")}


def _window(
    start: str | None, end: str | None, duration: str | None, now: float
) -> tuple[float, float] | str:
    end_ts = parse_date(end) if end else now
    if end_ts is None:
        return f"Invalid end date: {end}"
    if start:
        start_ts = parse_date(start)
        if start_ts is None:
            return f"Invalid start date: {start}"
        return start_ts, end_ts
    span = 7 * 86400.0
    if duration:
        unit = _UNITS.get(duration[-1:])
        count = int_param(duration[:-1], 0)
        if unit is None or not count:
            return f"Invalid duration: {duration}"
        span = float(count * unit)
    return end_ts - span, end_ts


def _buckets(start: float, end: float, resolution: str) -> list[float]:
    out: list[float] = []
    current = floor_time(start, resolution)
    while current <= end and len(out) < 2000:
        out.append(current)
        step = 3600 if resolution == "hour" else 86400
        current = current + step if resolution != "month" else floor_time(current + 32 * 86400, "month")
    return out


def _count(
    state: EmulatorState, domain: str, buckets: list[float], end: float
) -> dict[float, dict[str, int]]:
    log = state.events.domains.get(domain)
    counts: dict[float, dict[str, int]] = {}
    if log is None or not buckets:
        return counts
    for pos in range(bisect_left(log.ts, buckets[0]), len(log)):
        ts = log.ts[pos]
        if ts > end:
            break
        bucket = buckets[bisect_left(buckets, ts + 1e-9) - 1]
        kind = log.kind[pos]
        slot = counts.setdefault(bucket, {})
        name = KIND_NAMES[kind]
        slot[name] = slot.get(name, 0) + 1
        status = STATUS.get(kind)
        if name == "failed" and status is not None:
            detail = f"{status[3]}:{status[4]}"
            slot[detail] = slot.get(detail, 0) + 1
    return counts


def _stat_entry(bucket: float, c: dict[str, int], wanted: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"time": rfc2822(bucket)}
    for name in wanted:
        n = c.get(name, 0)
        if name == "accepted":
            entry[name] = {"incoming": 0, "outgoing": n, "total": n}
        elif name == "delivered":
            entry[name] = {"smtp": n, "http": 0, "optimized": 0, "total": n}
        elif name == "failed":
            perm = {r: c.get(f"permanent:{r}", 0) for r in ("suppress-bounce", "suppress-unsubscribe")}
            perm.update({r: c.get(f"permanent:{r}", 0) for r in ("suppress-complaint", "bounce")})
            perm.update({"delayed-bounce": 0, "webhook": 0, "optimized": 0})
            perm["total"] = sum(perm.values())
            temp = c.get("temporary:generic", 0)
            entry[name] = {"temporary": {"espblock": 0, "total": temp}, "permanent": perm}
        elif name in ("opened", "clicked"):
            entry[name] = {"total": n, "unique": n}
        else:
            entry[name] = {"total": n}
    return entry
