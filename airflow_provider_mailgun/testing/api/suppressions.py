"""Suppressions: ``/v3/{domain}/bounces|unsubscribes|complaints|whitelists``.

Cursor paging is alphabetical: ``?page=next&address=<last address of the page>&limit=N``
(limit <= 1000). Adds take form fields (one record) or a JSON array (bulk, <= 1000 records).

Example::

    requests.post(f"{emu.url}/v3/{emu.domain}/bounces", auth=auth,
                  json=[{"address": "a@x.com", "code": "550"}])
    # -> {"message": "1 addresses have been added to the bounces table"}
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import context, cursor_page, domain_of, form_of
from airflow_provider_mailgun.testing.api.forms import read_body
from airflow_provider_mailgun.testing.model.paging import cursor_links
from airflow_provider_mailgun.testing.model.state import SUPPRESSION_KINDS, DomainState, EmulatorState
from airflow_provider_mailgun.testing.model.suppressions import (
    MAX_BULK,
    MAX_PAGE,
    WORDING,
    RecordError,
    make_record,
    merge_unsubscribe,
)
from airflow_provider_mailgun.testing.util import json_response, message_response

_FIELDS = ("address", "code", "error", "created_at", "tag", "tags", "domain", "reason")


def routes(state: EmulatorState) -> list[Route]:
    out: list[Route] = []
    for kind in SUPPRESSION_KINDS:
        out.extend(_kind_routes(state, kind))
    return out


def _put(dom: DomainState, kind: str, key: str, record: dict[str, Any]) -> None:
    table = dom.suppressions[kind]
    if kind == "unsubscribes":
        record = merge_unsubscribe(table.get(key), record)
    table.put(key, record)


def _kind_routes(state: EmulatorState, kind: str) -> list[Route]:
    words = WORDING[kind]

    async def list_page(request: Request) -> Response:
        domain = request.path_params["domain"].lower()
        page, limit = cursor_page(request, max_limit=MAX_PAGE)
        params = request.query_params
        pivot, term = params.get("address"), params.get("term")
        ctx = context(request)
        with state.lock:
            dom = domain_of(state, domain)
            table = dom.suppressions[kind]
            keys = table.page(page, pivot, limit, prefix=term.lower() if term else None)
            items: list[dict[str, Any]] | None = [table.records[k] for k in keys]
            injector = state.faults
            if (
                not keys
                and page in ("next", "previous", "prev")
                and injector is not None
                and injector.spec.null_items_past_end
                and injector.matches(request.method, request.scope["path"], ctx.entrance)
            ):
                # The 2023 behaviour clients must survive: "items": null past the last page.
                items = None
                state.fault_counts["null_items"] += 1
                ctx.fault = "null_items"
        extra = {"term": term} if term else None
        links = cursor_links(ctx.base_url, f"/v3/{domain}/{kind}", "address", limit, keys, pivot, extra)
        return json_response({"items": items, "paging": links})

    async def add(request: Request) -> Response:
        domain = request.path_params["domain"].lower()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            return await _bulk(request, domain)
        form = await form_of(request)
        data = {k: form.get(k) for k in _FIELDS if form.get(k) is not None}
        with state.lock:
            dom = domain_of(state, domain)
            key, record = make_record(kind, data, state.now())
            _put(dom, kind, key, record)
        if kind == "whitelists":
            return json_response({"message": words["added"], "type": record["type"], "value": key})
        return json_response({"message": words["added"], "address": key})

    async def _bulk(request: Request, domain: str) -> Response:
        if kind == "whitelists":
            return message_response("Bulk JSON upload is not supported for whitelists; use /import")
        try:
            data = json.loads(await read_body(request))
        except ValueError:
            return message_response("Invalid JSON body: expected an array of records")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            return message_response("Invalid JSON body: expected an array of records")
        if len(data) > MAX_BULK:
            return message_response("Batch size should be less than 1000")
        with state.lock:
            dom = domain_of(state, domain)
            now = state.now()
            records = [make_record(kind, r, now) for r in data]
            for key, record in records:
                _put(dom, kind, key, record)
        return message_response(words["bulk"].format(n=len(records)), 200)

    async def import_csv(request: Request) -> Response:
        domain = request.path_params["domain"].lower()
        form = await form_of(request)
        files = [f for _k, f in form.items if not isinstance(f, str)]
        if not files:
            return message_response("file parameter is missing")
        rows = list(csv.DictReader(io.StringIO(files[0].data.decode("utf-8", "replace"))))
        needed = {"address", "domain"} if kind == "whitelists" else {"address"}
        if rows and not needed & set(rows[0]):
            return message_response("while reading csv header")
        with state.lock:
            dom = domain_of(state, domain)
            now = state.now()
            for row in rows:
                clean = {k: v for k, v in row.items() if k and v}
                if kind == "unsubscribes" and "tags" in clean:
                    clean["tags"] = [t.strip() for t in str(clean["tags"]).split(",") if t.strip()]
                try:
                    _put(dom, kind, *make_record(kind, clean, now))
                except RecordError:
                    continue  # Mailgun skips bad rows of an asynchronous import
        return message_response("file uploaded successfully for processing. standby...", 202)

    async def clear(request: Request) -> Response:
        with state.lock:
            dom = domain_of(state, request.path_params["domain"].lower())
            dom.suppressions[kind].clear()
        return message_response(words["cleared"], 200)

    async def one(request: Request) -> Response:
        domain, address = request.path_params["domain"].lower(), request.path_params["address"]
        key = address.strip().lower()
        with state.lock:
            dom = domain_of(state, domain)
            table = dom.suppressions[kind]
            record = table.get(key)
            if request.method == "GET":
                return json_response(record) if record else message_response(words["missing"], 404)
            if record is None:
                return message_response(words["missing"], 404)
            tag = request.query_params.get("tag")
            if kind == "unsubscribes" and tag:
                if tag not in record["tags"]:
                    return message_response("Unsubscribe event for this tag does not exist", 404)
                remaining = [t for t in record["tags"] if t != tag]
                if remaining:
                    table.put(key, {**record, "tags": remaining})
                else:
                    table.remove(key)
            else:
                table.remove(key)
        field = "value" if kind == "whitelists" else "address"
        return json_response({"message": words["removed"], field: key})

    base = f"/v3/{{domain}}/{kind}"
    return [
        Route(base, list_page, methods=["GET"]),
        Route(base, add, methods=["POST"]),
        Route(base, clear, methods=["DELETE"]),
        Route(base + "/import", import_csv, methods=["POST"]),
        Route(base + "/{address}", one, methods=["GET", "DELETE"]),
    ]
