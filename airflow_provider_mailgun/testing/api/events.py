"""``GET /v3/{domain}/events`` and its token pages ``/v3/{domain}/events/{token}``.

Example (ascending polling, as Mailgun recommends)::

    page = get(f"{emu.url}/v3/{emu.domain}/events?ascending=yes&limit=300").json()
    ... later ...
    newer = get(page["paging"]["next"]).json()   # only events that arrived since
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import context, domain_of
from airflow_provider_mailgun.testing.api.events_query import (
    EventQuery,
    parse_params,
    select_page,
)
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import json_response, message_response

#: What a retired Events API answers (410 Gone, Mailgun's usual ``{"message"}`` body); see
#: ``MailgunEmulator.retire_events_api``.
RETIRED = "The Events API has been retired for this account; use the Logs API (POST /v1/analytics/logs)"


def routes(state: EmulatorState) -> list[Route]:
    async def events(request: Request) -> Response:
        if not state.events_api_answers(context(request).account):
            return message_response(RETIRED, 410)
        domain = request.path_params["domain"].lower()
        token = request.path_params.get("token")
        if token:
            query, kind, pivot = EventQuery.from_token(token)
        else:
            query, kind, pivot = parse_params(request.query_params), "f", 0
        ctx = context(request)
        storage = ctx.storage_base
        with state.lock:
            domain_of(state, domain)
            state.tick()
            page = select_page(state.events, domain, query, kind, pivot)
            items = [state.events.render(domain, pos, storage) for pos in page.items]
        base = f"{ctx.base_url}/v3/{quote(domain, safe='@')}/events/"
        paging = {
            "first": base + query.token("f", 0),
            "last": base + query.token("l", 0),
            "next": base + query.token("n", page.next_pivot),
            "previous": base + query.token("p", page.previous_pivot),
        }
        return json_response({"items": items, "paging": paging})

    return [
        Route("/v3/{domain}/events", events, methods=["GET"]),
        Route("/v3/{domain}/events/{token}", events, methods=["GET"]),
    ]
