"""The receiver's FastAPI app (imported only when the receiver is enabled; see ``webhook_receiver``).

::

    app = create_app(ReceiverSettings(signing_key=key, assets=frozenset({"mailgun_complaints"})))
    # POST /webhooks/mailgun_complaints  (mounted under /mailgun by the plugin)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_mailgun._webhooks.assets import record_webhook
from airflow_provider_mailgun.exceptions import WebhookError
from airflow_provider_mailgun.plugins.webhook_receiver import ReceiverSettings
from airflow_provider_mailgun.webhooks import ReplayCache, decode_body, verify_signature

log = logging.getLogger(__name__)
#: (asset name, signature token, event data) -> outcome of :func:`.assets.record_webhook`.
Recorder = Callable[[str, str, dict[str, Any]], str]


def create_app(settings: ReceiverSettings, record: Recorder | None = None) -> FastAPI:
    """The receiving app; ``record`` defaults to writing asset events to the metadata DB."""
    if record is None:
        record = record_webhook
    replays = ReplayCache()
    app = FastAPI(title="Mailgun webhooks", openapi_url=None, docs_url=None, redoc_url=None)

    def answer(status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status)

    @app.post("/webhooks/{asset_name}")
    async def receive(asset_name: str, request: Request) -> JSONResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return answer(415, "Mailgun webhooks are JSON: Content-Type must be application/json.")
        body = await _read_capped(request, settings.max_body_bytes)
        if body is None:
            return answer(413, f"The body is larger than {settings.max_body_bytes} bytes.")
        try:
            data = decode_body(body)
        except WebhookError:
            return answer(400, "The body is not JSON.")
        signature = data.get("signature") if isinstance(data, dict) else None
        if not isinstance(signature, dict) or not verify_signature(
            settings.signing_key,
            str(signature.get("timestamp", "")),
            str(signature.get("token", "")),
            str(signature.get("signature", "")),
            max_age=settings.max_age_seconds,
            replay_cache=replays,
        ):
            return answer(403, "Not a genuine, fresh Mailgun webhook.")
        if asset_name not in settings.assets:
            return answer(404, "No such webhook target.")
        event = data.get("event-data")
        if not isinstance(event, dict):
            return answer(406, "Signed, but no event-data: not a Mailgun event webhook.")
        outcome = await run_in_threadpool(record, asset_name, str(signature["token"]), event)
        if outcome == "recorded":
            return answer(200, "Recorded.")
        if outcome == "duplicate":
            return answer(200, "Already recorded.")
        if outcome == "replayed":
            return answer(403, "Not a genuine, fresh Mailgun webhook.")
        if outcome == "not_an_event":
            return answer(406, "Signed, but not an event this receiver can record.")
        log.error("Mailgun webhook for asset %r: the asset does not exist (or is not active).", asset_name)
        return answer(404, "No such webhook target.")

    return app


async def _read_capped(request: Any, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it proves longer than ``limit`` (never reads it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
