"""Mailgun's current APIs: v1 Logs, Metrics and account Tags, and v4 address validation.

Example (what a client does)::

    post(f"{emu.url}/v1/analytics/logs", auth=("api", key),
         json={"start": "Mon, 08 Jul 2024 00:00:00 +0000", "events": ["delivered"],
               "pagination": {"sort": "timestamp:asc", "limit": 100}})
    post(f"{emu.url}/v1/analytics/metrics", auth=("api", key),
         json={"metrics": ["delivered_count", "opened_rate"], "dimensions": ["time", "tag"],
               "resolution": "day", "duration": "7d"})
    get(f"{emu.url}/v4/address/validate?address=ada@example.org", auth=("api", key))
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun._common.mailgun_names import METRICS, USAGE_METRICS
from airflow_provider_mailgun.testing.api.context import context
from airflow_provider_mailgun.testing.api.logs_query import (
    ACCOUNT_ID,
    count_logs,
    iso_ms,
    logs_response,
    parse_logs_request,
    select_logs,
)
from airflow_provider_mailgun.testing.api.logs_render import LogItemRenderer
from airflow_provider_mailgun.testing.api.metrics_query import (
    MetricsQuery,
    aggregate,
    metric_values,
    metrics_response,
    parse_metrics_request,
    usage_groups,
    usage_values,
)
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import json_response, message_response, valid_address

_encode: Any
try:  # installed with Airflow; a Logs page encodes several times faster than with json.dumps
    from msgspec.json import encode as _encode
except ImportError:  # pragma: no cover
    _encode = None

ACCOUNT_TAG_LIMIT = 5000
ROLE_ACCOUNTS = (
    "admin",
    "info",
    "support",
    "sales",
    "postmaster",
    "abuse",
    "noreply",
    "no-reply",
    "webmaster",
)
DISPOSABLE_DOMAINS = ("mailinator.com", "10minutemail.com", "guerrillamail.com", "trashmail.com")
TYPOS = {
    "gmial.com": "gmail.com",
    "gamil.com": "gmail.com",
    "hotmial.com": "hotmail.com",
    "yaho.com": "yahoo.com",
}


def _page_response(body: dict[str, Any]) -> Response:
    if _encode is None:
        return json_response(body)
    return Response(_encode(body), media_type="application/json")


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return None


def routes(state: EmulatorState) -> list[Route]:
    async def logs(request: Request) -> Response:
        body = await _json(request)
        query = parse_logs_request(body, state.now())
        storage = context(request).storage_base
        with state.lock:
            state.tick()
            domains = query.domains(list(state.domains))
            page = select_logs(state.events, domains, query)
            renderer = LogItemRenderer(state.events, storage)
            items = [renderer.item(name, pos) for name, pos in page.positions]
            total = count_logs(state.events, domains, query) if query.include_totals else None
        return _page_response(logs_response(query, items, page, total))

    async def metrics(request: Request) -> Response:
        usage = request.url.path.endswith("/usage/metrics")
        body = await _json(request)
        known = USAGE_METRICS if usage else METRICS
        query = parse_metrics_request(body, state.now(), known, usage=usage)
        with state.lock:
            state.tick()
            groups = usage_groups(state, query) if usage else aggregate(state, query)
        return json_response(metrics_response(query, groups, usage_values if usage else metric_values))

    async def tags(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return message_response("Request body must be a JSON object")
        if request.method == "POST":
            return _list_tags(state, body)
        tag = str(body.get("tag") or "").lower()
        if not tag:
            return message_response("Missing mandatory parameter: tag")
        with state.lock:
            found = [dom for dom in state.domains.values() if tag in dom.tags]
            if not found:
                return message_response("tag not found", 404)
            for dom in found:
                if request.method == "DELETE":
                    del dom.tags[tag]
                else:
                    dom.tags[tag]["description"] = str(body.get("description") or "")
        return message_response("Tag deleted" if request.method == "DELETE" else "Tag updated", 200)

    async def tag_limits(request: Request) -> Response:
        with state.lock:
            count = len({tag for dom in state.domains.values() for tag in dom.tags})
        return json_response(
            {"limit": ACCOUNT_TAG_LIMIT, "count": count, "limit_reached": count >= ACCOUNT_TAG_LIMIT}
        )

    async def validate(request: Request) -> Response:
        address = (request.query_params.get("address") or "").strip()
        if not address:
            return message_response("Missing mandatory parameter: address")
        result = validation_result(address)
        with state.lock:
            state.validations.append((state.now(), result["result"] == "deliverable"))
        return json_response(result)

    return [
        Route("/v1/analytics/logs", logs, methods=["POST"]),
        Route("/v1/analytics/metrics", metrics, methods=["POST"]),
        Route("/v1/analytics/usage/metrics", metrics, methods=["POST"]),
        Route("/v1/analytics/tags", tags, methods=["POST", "PUT", "DELETE"]),
        Route("/v1/analytics/tags/limits", tag_limits, methods=["GET"]),
        Route("/v4/address/validate", validate, methods=["GET"]),
    ]


def _list_tags(state: EmulatorState, body: dict[str, Any]) -> Response:
    paging = body.get("pagination") or {}
    with_metrics = bool(body.get("include_metrics"))
    most = 20 if with_metrics else 1000
    skip, limit = paging.get("skip", 0), paging.get("limit", 10)
    if not isinstance(skip, int) or skip < 0 or not isinstance(limit, int) or not 1 <= limit <= most:
        return message_response(f"Invalid pagination: skip >= 0 and limit between 1 and {most}")
    sort = paging.get("sort") or "lastseen:desc"
    field, _, direction = sort.partition(":")
    if field not in ("tag", "lastseen", "firstseen") or direction not in ("asc", "desc"):
        return message_response(f"Invalid sort: {sort}")
    prefix = str(body.get("tag") or "").lower()
    with state.lock:
        records: dict[str, dict[str, Any]] = {}
        for dom in state.domains.values():
            for key, record in dom.tags.items():
                if key.startswith(prefix):
                    merged = records.setdefault(key, dict(record))
                    merged["first"] = min(merged["first"], record["first"])
                    merged["last"] = max(merged["last"], record["last"])
        ordering = {
            "tag": lambda r: r["tag"].lower(),
            "lastseen": lambda r: r["last"],
            "firstseen": lambda r: r["first"],
        }
        chosen = sorted(records.values(), key=ordering[field], reverse=direction == "desc")
        page = chosen[skip : skip + limit]
        items = [_tag_item(state, record, with_metrics) for record in page]
    out_paging: dict[str, Any] = {"sort": sort, "skip": skip, "limit": limit}
    if paging.get("include_total"):
        out_paging["total"] = len(chosen)
    return json_response({"items": items, "pagination": out_paging})


def _tag_item(state: EmulatorState, record: dict[str, Any], with_metrics: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "parent_account_id": ACCOUNT_ID,
        "tag": record["tag"],
        "description": record["description"],
        "first_seen": iso_ms(record["first"]),
        "last_seen": iso_ms(record["last"]),
        "account_name": "emulator",
    }
    if with_metrics:
        tag = ("tag", "=", (record["tag"].lower(),))
        query = MetricsQuery(0.0, state.now(), "day", None, [], [], [tag], 0, 1, False)
        counts = aggregate(state, query).get((), Counter())
        names = ["accepted_count", "delivered_count", "opened_count", "clicked_count", "failed_count"]
        item["metrics"] = metric_values(counts, names)
    return item


def validation_result(address: str) -> dict[str, Any]:
    """Deterministic verdicts: malformed, disposable, role, ``bounce*`` mailboxes and domain typos."""
    local, _, domain = address.lower().rpartition("@")
    result: dict[str, Any] = {
        "address": address,
        "is_disposable_address": domain in DISPOSABLE_DOMAINS,
        "is_role_address": local in ROLE_ACCOUNTS,
        "reason": [],
        "result": "deliverable",
        "risk": "low",
        "engagement": None,
    }
    if not valid_address(address):
        result.update(result="undeliverable", risk="high", reason=["malformed address"])
    elif domain in TYPOS:
        result.update(
            result="undeliverable", risk="high", reason=["no_mx"], did_you_mean=f"{local}@{TYPOS[domain]}"
        )
    elif local.startswith("bounce"):
        result.update(result="undeliverable", risk="high", reason=["mailbox_does_not_exist"])
    elif result["is_disposable_address"]:
        result.update(result="do_not_send", risk="high", reason=["disposable_address"])
    elif result["is_role_address"]:
        result.update(risk="medium", reason=["role_address"])
    return result
