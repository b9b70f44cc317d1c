"""Where an event watch keeps its window between triggerer restarts.

On Airflow 3.3+ the triggerer hands an event trigger the asset state store of the assets it
watches (``trigger.asset_state_store``); the window is kept there, under a key derived from what
is watched, so a restarted trigger reads on where it stopped. Before 3.3 there is no such store:
the window lives in memory and a restarted trigger starts again from "now" (see the README)::

    store = cursor_store(getattr(trigger, "asset_state_store", None), key)
    window = await store.load()            # None: nothing kept yet
    await store.save(window)

When several assets share one trigger (identical trigger arguments), the window is written to
each asset's store and read back from all of them (see :meth:`WatchWindow.merged`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_mailgun._watch.window import WatchWindow
from airflow_provider_mailgun.exceptions import CursorUnavailableError

log = logging.getLogger(__name__)
KEY_PREFIX = "mailgun_event_watch_"


def cursor_key(domain: str, watch: Mapping[str, Any]) -> str:
    """The state store key of one watch: a digest of its domain and filter.

    Changing the filter therefore starts a new cursor (from "now"), never one that skipped the
    events a different filter did not read. The API read is not part of it: the Events and Logs
    APIs read the same log, so a watch moved from one to the other resumes where it stopped.
    """
    text = json.dumps({"domain": domain.lower(), "watch": watch}, sort_keys=True)
    return KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:20]


class CursorStore(Protocol):
    #: True when the window survives a triggerer restart.
    persistent: bool

    async def load(self) -> WatchWindow | None: ...

    async def save(self, window: WatchWindow) -> None: ...


class MemoryCursorStore:
    """The window of this trigger instance only (Airflow before 3.3, or no asset to keep it on)."""

    persistent = False

    def __init__(self) -> None:
        self.window: WatchWindow | None = None

    async def load(self) -> WatchWindow | None:
        return self.window

    async def save(self, window: WatchWindow) -> None:
        self.window = WatchWindow(window.horizon, dict(window.seen))


class AssetCursorStore:
    """The window in the asset state store (Airflow 3.3+), through its async accessors."""

    persistent = True

    def __init__(self, accessors: list[Any], key: str, *, extra: Mapping[str, Any] | None = None) -> None:
        self.accessors = accessors
        self.key = key
        self.extra = dict(extra or {})

    async def load(self) -> WatchWindow | None:
        windows = []
        for accessor in self.accessors:
            try:
                value = await accessor.aget(self.key)
            except Exception as err:
                raise CursorUnavailableError(f"could not read the kept cursor {self.key}: {err}") from err
            if value is None:
                continue
            try:
                windows.append(WatchWindow.from_state(value))
            except ValueError as err:
                log.warning("Ignoring an unreadable event watch cursor under %s (%s).", self.key, err)
        return WatchWindow.merged(windows) if windows else None

    async def save(self, window: WatchWindow) -> None:
        value = {**self.extra, **window.to_state()}
        for accessor in self.accessors:
            await accessor.aset(self.key, value)


def cursor_store(asset_state_store: Any, key: str, *, extra: Mapping[str, Any] | None = None) -> CursorStore:
    """The asset state store when the triggerer gave one (3.3+), else memory."""
    if asset_state_store is None:
        return MemoryCursorStore()
    return AssetCursorStore(_accessors(asset_state_store), key, extra=extra)


def _accessors(store: Any) -> list[Any]:
    """One accessor per watched asset.

    With one asset the store's own ``aget``/``aset`` address it. With several (assets sharing one
    trigger) Airflow's accessor collection only addresses them one by one, through the mappings
    it builds from the watched assets.
    """
    by_name = getattr(store, "_by_name", None)
    by_uri = getattr(store, "_by_uri", None)
    if isinstance(by_name, dict) and isinstance(by_uri, dict) and len(by_name) + len(by_uri) > 1:
        return [*by_name.values(), *by_uri.values()]
    return [store]
