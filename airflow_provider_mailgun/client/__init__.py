"""Mailgun over HTTP, with nothing of Airflow: config, transport, resources, paging.

::

    from airflow_provider_mailgun.client import ClientConfig, MailgunClient
    client = MailgunClient(ClientConfig.for_mailgun("key-...", region="eu"))

Errors are in :mod:`airflow_provider_mailgun.exceptions`. Importing this package is cheap: the
clients (and requests, or httpx) load on first use of ``MailgunClient`` or ``AsyncMailgunClient``,
so the hook and every operator module can import it at module level.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
    from airflow_provider_mailgun.client.client import MailgunClient
    from airflow_provider_mailgun.client.config import ClientConfig

__all__ = ["AsyncMailgunClient", "ClientConfig", "MailgunClient"]

_HOMES = {
    "AsyncMailgunClient": "airflow_provider_mailgun.client.async_client",
    "ClientConfig": "airflow_provider_mailgun.client.config",
    "MailgunClient": "airflow_provider_mailgun.client.client",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
