"""Domains (v3 and v4), tracking settings, SMTP credentials and v3 webhooks.

Example::

    get(f"{emu.url}/v4/domains?limit=10").json()   # {"total_count": 1, "items": [{...}]}
    put(f"{emu.url}/v3/domains/{emu.domain}/tracking/open", data={"active": "yes"})
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun._common.mailgun_names import WEBHOOK_EVENTS
from airflow_provider_mailgun.testing.api.context import domain_of, form_of, found
from airflow_provider_mailgun.testing.model.state import DomainState, EmulatorState
from airflow_provider_mailgun.testing.util import int_param, json_response, message_response, rfc2822

_DOMAIN_RE = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_ACTIVE = {"yes": True, "true": True, "no": False, "false": False, "htmlonly": "htmlonly"}


def _domain_body(dom: DomainState, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"domain": dom.as_dict(), **dom.dns_records()}
    if message:
        body = {"message": message, **body}
    return body


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def routes(state: EmulatorState) -> list[Route]:
    async def list_domains(request: Request) -> Response:
        params = request.query_params
        v4 = request.scope["path"].startswith("/v4")
        skip, limit = int_param(params.get("skip"), 0), int_param(params.get("limit"), 100)
        if skip is None or limit is None or skip < 0 or limit < 1:
            return message_response("Invalid skip or limit parameter")
        if limit > 1000:
            return message_response("The 'limit' parameter must be at most 1000")
        with state.lock:
            doms = sorted(state.domains.values(), key=lambda d: d.created_at, reverse=v4)
            wanted_state, search = params.get("state"), params.get("search")
            if wanted_state:
                doms = [d for d in doms if d.state == wanted_state]
            if search:
                doms = [d for d in doms if search.lower() in d.name]
            sort = params.get("sort", "")
            if sort.startswith("name"):
                doms.sort(key=lambda d: d.name, reverse=sort.endswith(":desc"))
            items = [d.as_dict() for d in doms[skip : skip + limit]]
        return json_response({"total_count": len(doms), "items": items})

    async def create_domain(request: Request) -> Response:
        form = await form_of(request)
        name = (form.get("name") or "").strip().lower()
        if not name:
            return message_response("Missing mandatory parameter: name")
        if not _DOMAIN_RE.match(name):
            return message_response(f"'{name}' is not a valid domain name")
        with state.lock:
            if name in state.domains:
                return message_response("This domain name is already taken")
            dom = state.add_domain(name)
            dom.smtp_password = form.get("smtp_password") or ""
            body = _domain_body(dom, "Domain DNS records have been created")
        return json_response(body)

    async def one_domain(request: Request) -> Response:
        name = request.path_params["name"].lower()
        with state.lock:
            dom = domain_of(state, name)
            if request.method == "DELETE":
                del state.domains[name]
                state.events.domains.pop(name, None)
                return message_response("Domain will be deleted in the background", 200)
            if request.scope["path"].endswith("/verify"):
                return json_response(_domain_body(dom, "Domain DNS records have been updated"))
            return json_response(_domain_body(dom))

    async def tracking(request: Request) -> Response:
        with state.lock:
            dom = domain_of(state, request.path_params["name"].lower())
            return json_response({"tracking": {**dom.tracking, "web_scheme": "https"}})

    async def update_tracking(request: Request) -> Response:
        what = request.path_params["what"]
        if what not in ("open", "click", "unsubscribe"):
            return message_response("Not Found", 404)
        form = await form_of(request)
        active_raw = form.get("active")
        active = _ACTIVE.get((active_raw or "").lower()) if active_raw is not None else None
        if active_raw is not None and (active is None or (active == "htmlonly" and what != "click")):
            return message_response(f"Invalid value for 'active': {active_raw}")
        with state.lock:
            dom = domain_of(state, request.path_params["name"].lower())
            settings = dom.tracking[what]
            if active is not None:
                settings["active"] = active
            if what == "open" and form.get("place_at_the_top") is not None:
                settings["place_at_the_top"] = (form.get("place_at_the_top") or "").lower() in ("yes", "true")
            for footer in ("html_footer", "text_footer"):
                if what == "unsubscribe" and form.get(footer) is not None:
                    settings[footer] = form.get(footer)
            body = {"message": "Domain tracking settings have been updated", what: dict(settings)}
        return json_response(body)

    async def credentials(request: Request) -> Response:
        name = request.path_params["name"].lower()
        if request.method == "POST":
            form = await form_of(request)
        with state.lock:
            dom = domain_of(state, name)
            if request.method == "GET":
                skip = int_param(request.query_params.get("skip"), 0) or 0
                limit = int_param(request.query_params.get("limit"), 100) or 100
                items = [
                    {"mailbox": login, "login": login, "created_at": rfc2822(ts), "size_bytes": None}
                    for login, ts in sorted(dom.credentials.items())
                ]
                return json_response({"items": items[skip : skip + limit], "total_count": len(items)})
            login, password = form.get("login"), form.get("password")
            if not login:
                return message_response("Parameter 'login' is missing")
            if not password:
                return message_response("Parameter 'password' is missing")
            if not 5 <= len(password) <= 32:
                return message_response("Password length must be between 5 and 32 characters")
            mailbox = login if "@" in login else f"{login}@{name}"
            if mailbox in dom.credentials:
                return message_response(f"Credentials for {mailbox} already exist")
            dom.credentials[mailbox] = state.now()
        return message_response("Created 1 credentials pair(s)", 200)

    async def one_credential(request: Request) -> Response:
        name, spec = request.path_params["name"].lower(), request.path_params["spec"]
        if request.method == "PUT":
            form = await form_of(request)
        with state.lock:
            dom = domain_of(state, name)
            mailbox = spec if "@" in spec else f"{spec}@{name}"
            if mailbox not in dom.credentials:
                return message_response("Credentials not found", 404)
            if request.method == "DELETE":
                del dom.credentials[mailbox]
                return json_response({"message": "Credentials have been deleted", "spec": mailbox})
            if not form.get("password"):
                return message_response("Parameter 'password' is missing")
        return message_response("Password changed", 200)

    async def webhooks(request: Request) -> Response:
        name = request.path_params["name"].lower()
        form = await form_of(request) if request.method == "POST" else None
        with state.lock:
            dom = domain_of(state, name)
            if form is None:
                return json_response({"webhooks": {k: {"urls": list(v)} for k, v in dom.webhooks.items()}})
            hook_id = form.get("id") or ""
            urls = form.getlist("url")
            error = _check_webhook(hook_id, urls)
            if error is not None:
                return error
            if hook_id in dom.webhooks:
                return message_response(f"Webhook {hook_id} already exists")
            dom.webhooks[hook_id] = urls
            state.webhooks.follow(name)
        return json_response({"message": "Webhook has been created", "webhook": {"urls": urls}})

    async def one_webhook(request: Request) -> Response:
        name, hook_id = request.path_params["name"].lower(), request.path_params["hook"]
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            dom = domain_of(state, name)
            urls = found(dom.webhooks, hook_id, "Webhook not found")
            if request.method == "GET":
                return json_response({"webhook": {"urls": list(urls)}})
            if request.method == "DELETE":
                del dom.webhooks[hook_id]
                return json_response({"message": "Webhook has been deleted", "webhook": {"urls": urls}})
            assert form is not None
            new_urls = form.getlist("url")
            error = _check_webhook(hook_id, new_urls)
            if error is not None:
                return error
            dom.webhooks[hook_id] = new_urls
            state.webhooks.follow(name)
        return json_response({"message": "Webhook has been updated", "webhook": {"urls": new_urls}})

    return [
        Route("/v3/domains", list_domains, methods=["GET"]),
        Route("/v4/domains", list_domains, methods=["GET"]),
        Route("/v3/domains", create_domain, methods=["POST"]),
        Route("/v4/domains", create_domain, methods=["POST"]),
        Route("/v3/domains/{name}", one_domain, methods=["GET", "DELETE"]),
        Route("/v4/domains/{name}", one_domain, methods=["GET", "DELETE"]),
        Route("/v4/domains/{name}/verify", one_domain, methods=["PUT"]),
        Route("/v3/domains/{name}/tracking", tracking, methods=["GET"]),
        Route("/v3/domains/{name}/tracking/{what}", update_tracking, methods=["PUT"]),
        Route("/v3/domains/{name}/credentials", credentials, methods=["GET", "POST"]),
        Route("/v3/domains/{name}/credentials/{spec}", one_credential, methods=["PUT", "DELETE"]),
        Route("/v3/domains/{name}/webhooks", webhooks, methods=["GET", "POST"]),
        Route("/v3/domains/{name}/webhooks/{hook}", one_webhook, methods=["GET", "PUT", "DELETE"]),
    ]


def _check_webhook(hook_id: str, urls: list[str]) -> Response | None:
    if hook_id not in WEBHOOK_EVENTS:
        return message_response(
            f"Invalid webhook id '{hook_id}'. It can be any of: {', '.join(WEBHOOK_EVENTS)}"
        )
    if not urls:
        return message_response("Missing mandatory parameter: url")
    if len(urls) > 3:
        return message_response("Too many urls, max is 3")
    for url in urls:
        if not _valid_url(url):
            return json_response({"Reason": f"{url} is not a valid url"}, 400)
    return None
