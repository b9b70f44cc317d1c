"""Sending (``/messages``, ``/messages.mime``) and stored-message retrieval.

Example (what a client does)::

    requests.post(f"{emu.url}/v3/{emu.domain}/messages", auth=("api", emu.mailgun_key),
                  data={"from": "a@mg.example.com", "to": "b@example.com", "subject": "s", "text": "t"})
    # -> {"id": "<20250101120000.1.0123456789ABCDEF@mg.example.com>", "message": "Queued. Thank you."}

A ``to`` that names a mailing list is expanded as Mailgun expands it: one copy per subscribed
member, all under the one message id (see ``model.lists.list_fanout``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import domain_of, form_of, found, own_base_url
from airflow_provider_mailgun.testing.api.sending import build_batch, store_batch
from airflow_provider_mailgun.testing.model.events import parse_storage_key
from airflow_provider_mailgun.testing.model.lists import list_fanout
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import json_response, message_response


def routes(state: EmulatorState) -> list[Route]:
    async def send(request: Request, mime: bool) -> Response:
        domain = request.path_params["domain"].lower()
        form = await form_of(request)
        with state.lock:
            dom = found(state.domains, domain, f"Domain not found: {domain}")
            batch = build_batch(state, dom, form, mime=mime)
            batch.fanout = list_fanout(state.lists, batch)
            batch.unsubscribe_base = own_base_url(request.scope)
            store_batch(state, dom, batch)
        return json_response({"id": batch.message_id, "message": "Queued. Thank you."})

    async def send_form(request: Request) -> Response:
        return await send(request, mime=False)

    async def send_mime(request: Request) -> Response:
        return await send(request, mime=True)

    async def stored(request: Request) -> Response:
        domain, key = request.path_params["domain"].lower(), request.path_params["key"]
        parsed = parse_storage_key(key)
        with state.lock:
            domain_of(state, domain)
            batch = state.messages.by_message_id.get(parsed[0]) if parsed else None
            if batch is None or parsed is None or not 0 <= parsed[1] < batch.n_copies:
                return message_response("Message not found", 404)
            copy = state.messages.render(batch.copy_base + parsed[1])
        body = {
            "Content-Type": "multipart/mixed" if copy["attachments"] else "text/html",
            "From": copy["from"],
            "Message-Id": copy["id"],
            "Subject": copy["subject"],
            "To": ", ".join(copy["to"]),
            "X-Mailgun-Tag": ", ".join(copy["tags"]),
            "body-html": copy["html"] or "",
            "body-plain": copy["text"] or "",
            "stripped-html": copy["html"] or "",
            "stripped-text": copy["text"] or "",
            "recipients": copy["recipient"],
            "sender": copy["from"],
            "subject": copy["subject"],
            "attachments": copy["attachments"],
            "message-headers": [[k, v] for k, v in copy["headers"].items()],
        }
        return json_response(body)

    return [
        Route("/v3/{domain}/messages", send_form, methods=["POST"]),
        Route("/v3/{domain}/messages.mime", send_mime, methods=["POST"]),
        Route("/v3/domains/{domain}/messages/{key}", stored, methods=["GET"]),
    ]
