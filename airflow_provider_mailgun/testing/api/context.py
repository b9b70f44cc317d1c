"""Per-request context the outer ASGI layer hands to the route handlers.

The same route table serves the direct API (``/v3/...``) and the Maton gateway
(``/_maton/gateway/mailgun/v3/...``); handlers learn which one was called from this context, most
importantly for the host of absolute paging URLs.

The openings every handler shares live here too; they raise :class:`ApiError` (the app answers
it in Mailgun's words), so a handler reads straight through::

    async def handler(request: Request) -> Response:
        ctx = context(request)
        form = await form_of(request)          # parses and records the form keys (400 if it cannot)
        page, limit = cursor_page(request)     # ?page= and ?limit= checked as Mailgun checks them
        with state.lock:
            dom = domain_of(state, request.path_params["domain"])   # 404 "Domain not found"
        links = cursor_links(ctx.base_url, ...)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol, TypeVar

from starlette.requests import Request

from airflow_provider_mailgun.testing.api.forms import Form, read_form
from airflow_provider_mailgun.testing.defaults import EU_PREFIX, MAILGUN_US_BASE
from airflow_provider_mailgun.testing.model.paging import PAGE_NAMES
from airflow_provider_mailgun.testing.model.state import DomainState, EmulatorState
from airflow_provider_mailgun.testing.util import ApiError, int_param

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
SCOPE_KEY = "mailgun_emulator.ctx"
#: Stored-message URLs through the gateway point at a storage host, as Mailgun's do.
GATEWAY_STORAGE_BASE = "https://storage-us-east4.api.mailgun.net"


class RequestContext:
    __slots__ = ("account", "connection", "drop", "entrance", "fault", "form_keys", "region", "scope")

    def __init__(self, scope: MutableMapping[str, Any], entrance: str, region: str = "us") -> None:
        self.scope = scope
        self.entrance = entrance
        #: The Mailgun region the request reached (the gateway only reaches the US one).
        self.region = region
        self.account: str | None = None
        self.connection: str | None = None
        self.form_keys: list[str] = []
        self.fault: str | None = None
        self.drop = False

    @property
    def gateway(self) -> bool:
        return self.entrance == "gateway"

    @property
    def base_url(self) -> str:
        """Host for absolute links: the caller's host, or Mailgun's when called via the gateway."""
        if self.gateway:
            return MAILGUN_US_BASE
        return own_base_url(self.scope) + (EU_PREFIX if self.region == "eu" else "")

    @property
    def storage_base(self) -> str:
        return GATEWAY_STORAGE_BASE if self.gateway else own_base_url(self.scope)


def own_base_url(scope: MutableMapping[str, Any]) -> str:
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def context(request: Request) -> RequestContext:
    ctx = request.scope.get(SCOPE_KEY)
    if ctx is None:  # called without the outer layer (e.g. an in-process test client)
        ctx = request.scope[SCOPE_KEY] = RequestContext(request.scope, "direct")
    assert isinstance(ctx, RequestContext)
    return ctx


async def form_of(request: Request) -> Form:
    """Parse the body as a form and remember its keys for the request log."""
    form = await read_form(request)
    context(request).form_keys = form.keys()
    return form


def domain_of(state: EmulatorState, name: str) -> DomainState:
    """The domain (call with ``state.lock`` held); ``404 Domain not found`` when there is none."""
    return found(state.domains, name.lower(), "Domain not found")


class _Table(Protocol[T_co]):
    def get(self, key: str) -> T_co | None: ...


def found(table: _Table[T], key: str, missing: str) -> T:
    """``table[key]``, or a 404 saying ``missing`` (Mailgun's wording differs by resource)."""
    item = table.get(key)
    if item is None:
        raise ApiError(missing, 404)
    return item


def cursor_page(
    request: Request, *, default_limit: int = 100, max_limit: int | None = None, over_max: str = ""
) -> tuple[str, int]:
    """``(page, limit)`` of a cursor-paged listing (``?page=first|last|next|prev&limit=``).

    A limit over ``max_limit`` is refused with ``over_max`` (default: "Limit is too big, max is N");
    without ``max_limit`` it is left to the caller.
    """
    params = request.query_params
    limit = int_param(params.get("limit"), default_limit)
    if limit is None or limit < 1:
        raise ApiError("Invalid parameter: limit")
    if max_limit is not None and limit > max_limit:
        raise ApiError(over_max or f"Limit is too big, max is {max_limit}")
    page = params.get("page") or "first"
    if page not in PAGE_NAMES:
        raise ApiError(f"Invalid parameter: page '{page}'")
    return page, limit
