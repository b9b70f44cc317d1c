"""Connections looked up without blocking an event loop: for the triggers and ``async_notify``.

::

    config = await client_config_async("maton_default")   # a ClientConfig, its key masked

Airflow 3.1+ looks connections up asynchronously (common-compat's ``get_async_connection``, or
``BaseHook.aget_connection``); on 3.0 the sync lookup runs in a worker thread. Either way the
event loop shared by every trigger never waits on the database or a secrets backend.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_mailgun._common.compat import AirflowNotFoundException, BaseHook, mask_secret
from airflow_provider_mailgun._connection.config import ConnectionLike, config_for
from airflow_provider_mailgun.client.config import ClientConfig


async def connection_async(conn_id: str) -> ConnectionLike | None:
    """The connection, looked up without blocking the loop; ``None`` when it is not defined."""
    # The first import of the lookup helpers costs ~0.1 s on Airflow 3.0: do it off the loop.
    get_async_connection = await asyncio.to_thread(_async_connection_lookup)
    try:
        if get_async_connection is not None:
            return await get_async_connection(conn_id)  # type: ignore[no-any-return]
        if hasattr(BaseHook, "aget_connection"):
            return await BaseHook.aget_connection(conn_id)  # type: ignore[no-any-return]
        return await asyncio.to_thread(BaseHook.get_connection, conn_id)  # type: ignore[no-any-return]
    except AirflowNotFoundException:
        return None


async def client_config_async(conn_id: str) -> ClientConfig:
    """The connection's client config (a missing ``maton_default`` may fall back to
    ``MATON_API_KEY``), its key registered with Airflow's secrets masker."""
    config = config_for(conn_id, await connection_async(conn_id))
    mask_secret(config.api_key)
    return config


def _async_connection_lookup() -> Any:
    """common-compat's ``get_async_connection`` (1.21+), or None when it is older."""
    try:
        from airflow.providers.common.compat.connection import get_async_connection
    except ImportError:
        return None
    return get_async_connection
