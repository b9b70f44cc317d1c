"""Domain templates ``/v3/{domain}/templates`` with versions; cursor paging by name (``p=``).

Example::

    post(f"{emu.url}/v3/{emu.domain}/templates",
         data={"name": "welcome", "template": "<p>Hi {{name}}</p>", "tag": "v1"})
    post(f"{emu.url}/v3/{emu.domain}/messages", data={..., "template": "welcome",
         "t:variables": json.dumps({"name": "Bob"})})
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import context, cursor_page, domain_of, form_of, found
from airflow_provider_mailgun.testing.api.forms import Form
from airflow_provider_mailgun.testing.model.paging import cursor_links, slice_sorted
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.model.templates import (
    MAX_TEMPLATES,
    MAX_VERSIONS,
    Template,
    TemplateVersion,
)
from airflow_provider_mailgun.testing.util import is_yes, json_object, json_response, message_response

MAX_TEMPLATE_PAGE = 100


def _headers(form: Form) -> dict[str, str] | str:
    value = json_object(form.get("headers"))
    if value is None:
        return "'headers' parameter is not a valid JSON object"
    return {str(k): str(v) for k, v in value.items()}


def _version(form: Form, tag: str, now: float, version_id: str) -> TemplateVersion | str:
    headers = _headers(form)
    if isinstance(headers, str):
        return headers
    return TemplateVersion(
        tag=tag,
        template=form.get("template") or "",
        engine=form.get("engine") or "handlebars",
        comment=form.get("comment") or "",
        headers=headers,
        created_at=now,
        id=version_id,
    )


def routes(state: EmulatorState) -> list[Route]:
    def paging_params(request: Request) -> tuple[str, str | None, int]:
        page, limit = cursor_page(request, default_limit=10)
        return page, request.query_params.get("p"), min(limit, MAX_TEMPLATE_PAGE)

    async def list_templates(request: Request) -> Response:
        page, pivot, limit = paging_params(request)
        domain = request.path_params["domain"].lower()
        with state.lock:
            dom = domain_of(state, domain)
            keys = slice_sorted(sorted(dom.templates), page, pivot, limit)
            items = [dom.templates[k].as_dict() for k in keys]
        path = f"/v3/{domain}/templates"
        links = cursor_links(context(request).base_url, path, "p", limit, keys, pivot, prev_value="prev")
        return json_response({"items": items, "paging": links})

    async def create_template(request: Request) -> Response:
        domain = request.path_params["domain"].lower()
        form = await form_of(request)
        name = (form.get("name") or "").strip().lower()
        if not name:
            return message_response("Missing mandatory parameter: name")
        with state.lock:
            dom = domain_of(state, domain)
            if name in dom.templates:
                return message_response(f"template with name '{name}' already exists", 409)
            if len(dom.templates) >= MAX_TEMPLATES:
                return message_response(f"template limit of {MAX_TEMPLATES} reached")
            now = state.now()
            template = Template(
                name, form.get("description") or "", now, form.get("createdBy") or "", id=state.new_uuid()
            )
            version = None
            if form.get("template"):
                built = _version(form, form.get("tag") or "initial", now, state.new_uuid())
                if isinstance(built, str):
                    return message_response(built)
                version = built
                template.add_version(version, True)
            dom.templates[name] = template
            body = {"message": "template has been stored", "template": template.as_dict(version)}
        return json_response(body)

    async def delete_all(request: Request) -> Response:
        with state.lock:
            dom = domain_of(state, request.path_params["domain"].lower())
            dom.templates.clear()
        return message_response("templates have been deleted", 200)

    async def one_template(request: Request) -> Response:
        domain, name = request.path_params["domain"].lower(), request.path_params["name"].lower()
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            dom = domain_of(state, domain)
            template = found(dom.templates, name, "template not found")
            if request.method == "GET":
                active = is_yes(request.query_params.get("active"))
                return json_response(
                    {"template": template.as_dict(template.active_version() if active else None)}
                )
            if request.method == "DELETE":
                del dom.templates[name]
                return json_response({"message": "template has been deleted", "template": {"name": name}})
            assert form is not None
            if form.get("description") is not None:
                template.description = form.get("description") or ""
        return json_response({"message": "template has been updated", "template": {"name": name}})

    async def versions(request: Request) -> Response:
        domain, name = request.path_params["domain"].lower(), request.path_params["name"].lower()
        form = await form_of(request) if request.method == "POST" else None
        page, pivot, limit = paging_params(request)
        with state.lock:
            dom = domain_of(state, domain)
            template = found(dom.templates, name, "template not found")
            if form is None:
                keys = slice_sorted(sorted(template.versions), page, pivot, limit)
                body = template.as_dict()
                body["versions"] = [template.versions[k].as_dict(with_content=False) for k in keys]
                path = f"/v3/{domain}/templates/{name}/versions"
                links = cursor_links(
                    context(request).base_url, path, "p", limit, keys, pivot, prev_value="prev"
                )
                return json_response({"template": body, "paging": links})
            tag = (form.get("tag") or "").strip()
            if not tag or not form.get("template"):
                return message_response("Missing mandatory parameter: " + ("tag" if not tag else "template"))
            if tag in template.versions:
                return message_response(f"version with tag '{tag}' already exists", 409)
            if len(template.versions) >= MAX_VERSIONS:
                return message_response(f"version limit of {MAX_VERSIONS} reached")
            built = _version(form, tag, state.now(), state.new_uuid())
            if isinstance(built, str):
                return message_response(built)
            template.add_version(built, is_yes(form.get("active")))
            body = {
                "message": "new version of the template has been stored",
                "template": template.as_dict(built),
            }
        return json_response(body)

    async def one_version(request: Request) -> Response:
        params = request.path_params
        domain, name, tag = params["domain"], params["name"].lower(), params["tag"]
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            dom = domain_of(state, domain)
            template = dom.templates.get(name)
            version = template.versions.get(tag) if template is not None else None
            if template is None or version is None:
                return message_response("template version not found", 404)
            short: dict[str, Any] = {"name": name, "version": {"tag": tag}}
            if request.method == "GET":
                return json_response({"template": template.as_dict(version)})
            if request.method == "DELETE":
                del template.versions[tag]
                return json_response({"message": "version has been deleted", "template": short})
            assert form is not None
            for field in ("template", "comment"):
                if form.get(field) is not None:
                    setattr(version, field, form.get(field) or "")
            headers = _headers(form)
            if isinstance(headers, str):
                return message_response(headers)
            if headers:
                version.headers = headers
            if is_yes(form.get("active")):
                template.add_version(version, True)
        return json_response({"message": "version has been updated", "template": short})

    return [
        Route("/v3/{domain}/templates", list_templates, methods=["GET"]),
        Route("/v3/{domain}/templates", create_template, methods=["POST"]),
        Route("/v3/{domain}/templates", delete_all, methods=["DELETE"]),
        Route("/v3/{domain}/templates/{name}", one_template, methods=["GET", "PUT", "DELETE"]),
        Route("/v3/{domain}/templates/{name}/versions", versions, methods=["GET", "POST"]),
        Route("/v3/{domain}/templates/{name}/versions/{tag}", one_version, methods=["GET", "PUT", "DELETE"]),
    ]
