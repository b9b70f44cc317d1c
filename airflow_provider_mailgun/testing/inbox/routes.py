"""Routes of the web inbox (``/``, ``/inbox/...``) and its version counter for live updates.

* ``/``                            messages, newest first (``q``, ``before``, ``after``, ``limit``)
* ``/inbox/messages/{key}``        one recipient's copy (key = the copy's storage key)
* ``/inbox/lists``, ``/inbox/lists/{address}``   mailing lists and their members
* ``/inbox/suppressions``          bounces, unsubscribes, complaints, allowlists (``domain``, ``kind``)
* ``/_emulator/inbox/version``     ``{"version": "..."}``, changes whenever the state does

Example::

    requests.get(f"{emu.url}/?q=tag:newsletter").text          # the list, as HTML
    requests.get(f"{emu.url}/_emulator/inbox/version").json()  # {"version": "1.0.3.6.0"}
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import own_base_url
from airflow_provider_mailgun.testing.inbox.assets import INBOX_CSS, INBOX_JS
from airflow_provider_mailgun.testing.inbox.html import (
    INBOX_PREFIX,
    STATIC_PREFIX,
    VERSION_PATH,
    Html,
    esc,
    link,
    page,
)
from airflow_provider_mailgun.testing.inbox.listing import message_list
from airflow_provider_mailgun.testing.inbox.message import message_view
from airflow_provider_mailgun.testing.inbox.search import SearchCache
from airflow_provider_mailgun.testing.inbox.tables import list_view, lists_view, suppressions_view
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import json_response


def state_version(state: EmulatorState) -> str:
    """A token that changes whenever messages, events, lists or suppressions change.

    API writes are counted by the request log; the sizes catch in-process seeding
    (``emu.seed_list`` / ``emu.seed_suppressions``), which sends no request.
    """
    with state.lock:
        state.tick()
        sizes = sum(len(table) for dom in state.domains.values() for table in dom.suppressions.values())
        members = sum(len(mlist.members) for mlist in state.lists.values())
        parts = (
            state.generation,
            state.counters["writes"],
            state.messages.total_copies,
            state.events.count,
            sizes,
            len(state.lists),
            members,
        )
    return ".".join(str(p) for p in parts)


def _not_found(what: str, version: str) -> HTMLResponse:
    body = Html(f"<h1>Not found</h1><p>{esc(what)}</p><p>{link('/', 'Back to the messages')}</p>")
    return page("Not found", body, active="", version=version, status=404)


def routes(state: EmulatorState) -> list[Route]:
    searches = SearchCache()

    def shown(title: str, active: str, view: Callable[[], Html | None], missing: str = "") -> Response:
        """The page ``view`` builds (under the state lock), or a 404 page saying ``missing``."""
        version = state_version(state)
        with state.lock:
            body = view()
        if body is None:
            return _not_found(missing, version)
        return page(title, body, active=active, version=version)

    async def home(request: Request) -> Response:
        return shown("Messages", "messages", lambda: message_list(state, request.query_params, searches))

    async def message(request: Request) -> Response:
        version = state_version(state)
        with state.lock:
            found = message_view(state, request.path_params["key"], own_base_url(request.scope))
        if found is None:
            return _not_found("No stored message has this key (was the emulator reset?).", version)
        title, body = found
        return page(title, body, active="messages", version=version)

    async def lists(request: Request) -> Response:
        return shown("Mailing lists", "lists", lambda: lists_view(state, request.query_params))

    async def one_list(request: Request) -> Response:
        address = request.path_params["address"]
        return shown(
            address,
            "lists",
            lambda: list_view(state, address, request.query_params),
            missing="No mailing list has this address.",
        )

    async def suppressions(request: Request) -> Response:
        return shown("Suppressions", "suppressions", lambda: suppressions_view(state, request.query_params))

    async def version(request: Request) -> Response:
        return json_response({"version": state_version(state)}, headers={"Cache-Control": "no-store"})

    async def script(request: Request) -> Response:
        return Response(INBOX_JS, media_type="text/javascript; charset=utf-8")

    async def styles(request: Request) -> Response:
        return Response(INBOX_CSS, media_type="text/css; charset=utf-8")

    return [
        Route("/", home, methods=["GET"]),
        Route(f"{INBOX_PREFIX}/messages/{{key}}", message, methods=["GET"]),
        Route(f"{INBOX_PREFIX}/lists", lists, methods=["GET"]),
        Route(f"{INBOX_PREFIX}/lists/{{address}}", one_list, methods=["GET"]),
        Route(f"{INBOX_PREFIX}/suppressions", suppressions, methods=["GET"]),
        Route(VERSION_PATH, version, methods=["GET"]),
        Route(f"{STATIC_PREFIX}/inbox.js", script, methods=["GET"]),
        Route(f"{STATIC_PREFIX}/inbox.css", styles, methods=["GET"]),
    ]
