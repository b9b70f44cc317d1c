"""The emulator's ASGI application: one server, several "hosts" told apart by path.

* ``/v3/...``, ``/v4/...``: the Mailgun API, US region (HTTP Basic ``api:<key>``)
* ``/_eu/v3/...``: the same API as Mailgun's EU host; domain-scoped paths of a domain in the
  other region answer ``404 Domain not found``, as Mailgun's do
* ``/_maton/gateway/mailgun/...``: the Maton gateway (Bearer Maton key, ``Maton-Connection``)
* ``/_maton/ctrl/connections...``: Maton's connection control host (Bearer Maton key)
* ``/_emulator/...``: the emulator's own control plane (no auth)
* ``/`` and ``/inbox/...``: the web inbox (no auth)

The outer layer (:class:`EmulatorASGI`) is a plain ASGI callable so that it sees the server's own
``send`` and can drop a TCP connection for fault injection. It authenticates, rate-limits,
injects faults, records the request, then hands the request to a FastAPI app whose routes are
lean Starlette routes (no per-request models).

Example::

    state = EmulatorState(EmulatorConfig())
    asgi = create_app(state)          # give it to uvicorn
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

from airflow_provider_mailgun.testing.api import (
    account,
    analytics,
    domains,
    events,
    lists,
    maton,
    messages,
    suppressions,
    templates,
)
from airflow_provider_mailgun.testing.api.context import SCOPE_KEY, RequestContext, context
from airflow_provider_mailgun.testing.control import routes as control_routes
from airflow_provider_mailgun.testing.control.faults import is_send, retry_headers
from airflow_provider_mailgun.testing.defaults import CTRL_PREFIX, EU_PREFIX, GATEWAY_PREFIX
from airflow_provider_mailgun.testing.inbox import routes as inbox_routes
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import (
    ApiError,
    json_response,
    message_response,
    rfc2822,
    text_response,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
MAGNIFICENT = "Mailgun Magnificent API"
NEWER_API_PREFIXES = ("v1/", "v4/address/", "v5/")


def create_app(state: EmulatorState) -> EmulatorASGI:
    """Build the full application for ``state``."""
    routes: list[BaseRoute] = []
    for module in (
        messages,
        events,
        suppressions,
        lists,
        domains,
        account,
        templates,
        analytics,
        maton,
        control_routes,
        inbox_routes,
    ):
        routes.extend(module.routes(state))
    api = FastAPI(
        routes=routes,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    return EmulatorASGI(state, api, routes)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return message_response(exc.message, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    ctx = context(request)
    if status == 404 and ctx.entrance in ("direct", "gateway"):
        # What the real API answers for a path that matches nothing (e.g. "%2F" in a domain).
        return text_response(MAGNIFICENT)
    return message_response(HTTPStatus(status).phrase, status)


async def _server_error(request: Request, exc: Exception) -> Response:
    return message_response("Internal Server Error", 500)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _basic_key(value: str | None) -> str | None:
    if not value or value[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(value[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return password if user == "api" else None


def _bearer(value: str | None) -> str | None:
    if not value or value[:7].lower() != "bearer ":
        return None
    return value[7:].strip()


async def abort_connection(send: Send) -> bool:
    """Close the client's TCP connection at once (RST), without any HTTP response.

    The outermost ASGI ``send`` is the server's bound ``RequestResponseCycle.send``; its
    ``transport`` is the connection. Linger 0 turns the close into a reset. We then yield to the
    loop until the server has noticed the disconnect, so it does not try to answer with a 500.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(50):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
    return True


class EmulatorASGI:
    """Outer ASGI layer: entrance, auth, rate limit, faults, request log."""

    def __init__(self, state: EmulatorState, api: FastAPI, routes: list[BaseRoute]) -> None:
        self.state = state
        self.api = api
        self.routes = routes

    def _matches_route(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] != Match.NONE for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        path: str = scope["path"]
        region = "us"
        if path.startswith(EU_PREFIX + "/v"):
            region, path = "eu", path[len(EU_PREFIX) :]
            scope = dict(scope, path=path, raw_path=path.encode())
        if path.startswith(GATEWAY_PREFIX + "/"):
            entrance = "gateway"
        elif path.startswith(CTRL_PREFIX + "/") or path == CTRL_PREFIX:
            entrance = "ctrl"
        elif path[:2] == "/v" and path[2:3].isdigit():
            entrance = "direct"
        else:
            entrance = "control"
        if entrance == "control":
            scope[SCOPE_KEY] = RequestContext(scope, entrance)
            await self.api(scope, receive, send)
            return
        await self._serve(scope, receive, send, entrance, time.time(), region)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, entrance: str, started: float, region: str = "us"
    ) -> None:
        state = self.state
        if state.timers or state.events.pending:
            with state.lock:
                state.tick()  # delayed work (events, uploads) becomes visible lazily, on traffic
        method: str = scope["method"]
        ctx = RequestContext(scope, entrance, region)
        inner: Scope = scope
        early = self._authenticate(scope, ctx)
        if isinstance(early, Response):
            response: Response | None = early
        else:
            inner = early
            inner[SCOPE_KEY] = ctx
            ctx.scope = inner
            response = self._other_region(inner, ctx, method) or self._limit(inner, ctx, method)
        status = [0]
        if response is None and state.faults is not None:
            response = await self._fault(inner, ctx, method, send)
            if ctx.fault == "reset":
                self._log(scope, ctx, 0, started)
                return
        if response is not None:
            await response(inner, receive, send)
            self._log(scope, ctx, response.status_code, started)
            return

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if ctx.drop:
                    await abort_connection(send)
                    return
            elif ctx.drop:
                return
            await send(message)

        await self.api(inner, receive, send_wrapper)
        self._log(scope, ctx, 0 if ctx.drop else status[0], started)

    def _authenticate(self, scope: Scope, ctx: RequestContext) -> Scope | Response:
        """The scope to route (gateway paths rewritten to Mailgun's) or an error response."""
        cfg = self.state.config
        auth = _header(scope, b"authorization")
        path: str = scope["path"]
        if ctx.entrance == "direct":
            key = _basic_key(auth)
            if key is None or not self._key_opens(key, scope["method"], path):
                if not self._matches_route(scope):
                    return text_response(MAGNIFICENT)
                return _unauthorized(path)
            ctx.account = "mailgun:" + key
            return scope
        key = _bearer(auth)
        if key is None or key not in cfg.maton_keys:
            return json_response({"error": "Invalid or missing Maton API key"}, 401)
        ctx.account = "maton:" + key
        if ctx.entrance == "ctrl":
            return scope
        app, _, rest = path[len(GATEWAY_PREFIX) + 1 :].partition("/")
        if app != "mailgun":
            return json_response({"error": f"Invalid app name '{app}': this gateway serves 'mailgun'"}, 400)
        if not rest:
            return text_response(MAGNIFICENT)  # the gateway forwards "/" to Mailgun's root
        if not self.state.gateway_forwards_newer_apis and rest.startswith(NEWER_API_PREFIXES):
            # A gateway that proxies only the v3 paths it knows answers the rest in its own words.
            return json_response({"error": f"No route for /{rest} on app 'mailgun'"}, 404)
        with self.state.lock:
            conn, error = self.state.pick_connection(_header(scope, b"maton-connection"))
        if conn is None:
            return json_response({"error": error}, 400)
        ctx.connection = conn["connection_id"]
        return dict(scope, path="/" + rest, raw_path=("/" + rest).encode())

    def _key_opens(self, key: str, method: str, path: str) -> bool:
        """An account key opens everything; a domain sending key only sends, on its own domain."""
        if key in self.state.config.mailgun_keys:
            return True
        domain = self.state.sending_keys.get(key)
        return domain is not None and is_send(method, path) and path_domain(path) == domain

    def _other_region(self, scope: Scope, ctx: RequestContext, method: str) -> Response | None:
        """Mailgun keeps a domain's data in one region: on the other region's host it is unknown."""
        name = path_domain(scope["path"])
        with self.state.lock:
            dom = self.state.domains.get(name) if name else None
            if dom is None or dom.region == ctx.region:
                return None
        return message_response(
            f"Domain not found: {name}" if is_send(method, scope["path"]) else "Domain not found", 404
        )

    def _limit(self, scope: Scope, ctx: RequestContext, method: str) -> Response | None:
        limiter = self.state.rate_limiter
        if limiter is None or ctx.account is None or ctx.entrance == "ctrl":
            return None
        now = time.time()
        with self.state.lock:
            wait = limiter.take(ctx.account, now)
            if wait is None:
                return None
            self.state.counters["rate_limited"] += 1
        headers = retry_headers(wait, now)
        if ctx.gateway:
            body = {"error": f"Rate limit exceeded, try again after {headers['Retry-After']} seconds"}
            return json_response(body, 429, headers)
        return _limit_response(429, scope["path"], method, now + wait, headers)

    async def _fault(self, scope: Scope, ctx: RequestContext, method: str, send: Send) -> Response | None:
        state = self.state
        with state.lock:
            injector = state.faults
            decision = injector.decide(method, scope["path"], ctx.entrance) if injector else None
            if decision is None or injector is None:
                return None
            label = decision.kind if decision.kind != "error" else f"http_{decision.status}"
            state.fault_counts[label] += 1
            retry_after = injector.spec.retry_after
        ctx.fault = label
        if decision.kind == "reset":
            if not await abort_connection(send):
                raise ConnectionResetError("fault injection: connection reset")
            return None
        if decision.kind == "slow":
            await asyncio.sleep(decision.seconds)
            return None
        if decision.kind == "drop_after_store":
            ctx.drop = True
            return None
        code = decision.status
        if code in (429, 420):
            now = time.time()
            return _limit_response(
                code, scope["path"], method, now + retry_after, retry_headers(retry_after, now)
            )
        if code >= 500:
            return message_response("Internal Server Error", code)
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        return message_response(phrase, code)

    def _log(self, scope: Scope, ctx: RequestContext, status: int, started: float) -> None:
        entry = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "time": started,
            "entrance": ctx.entrance,
            "query": scope["query_string"].decode("latin-1"),
            "form_keys": ctx.form_keys,
            "fault": ctx.fault,
            "connection": ctx.connection,
        }
        state = self.state
        with state.lock:
            state.request_log.append(entry)
            state.counters["requests"] += 1
            state.counters["entrance:" + ctx.entrance] += 1
            if entry["method"] not in ("GET", "HEAD"):
                state.counters["writes"] += 1  # lets the web inbox notice changes cheaply


def path_domain(path: str) -> str | None:
    """The domain a Mailgun path is about (``/v3/{domain}/...``, ``/v4/domains/{domain}``), if any.

    Account-level first segments (``lists``, ``routes``, ``domains``...) carry no dot; domains do.
    """
    parts = path.split("/")
    if len(parts) > 3 and parts[2] == "domains":
        return parts[3].lower() or None
    if len(parts) > 2 and "." in parts[2]:
        return parts[2].lower()
    return None


def _unauthorized(path: str) -> Response:
    if is_send("POST", path):
        return text_response("Forbidden", 401)
    if path.startswith(("/v4/", "/v5/")):
        return message_response("Invalid private key", 401)
    return json_response({"Error": "unauthorized"}, 401, {"WWW-Authenticate": 'Basic realm="MG API"'})


def _limit_response(code: int, path: str, method: str, until: float, headers: dict[str, str]) -> Response:
    parts = path.split("/")
    when = rfc2822(until)
    if is_send(method, path) and len(parts) > 2:
        what = "recipient limit exceeded" if code == 420 else "request limit exceeded"
        text = f"Domain {parts[2]} is not allowed to send: {what}, try again after {when}"
    else:
        text = f"Too many requests, try again after {when}"
    return json_response({"message": text}, code, headers)
