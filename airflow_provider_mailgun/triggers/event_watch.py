"""``MailgunEventTrigger``: Mailgun events (complaints, bounces...) that start DAGs through assets.

An event trigger for ``AssetWatcher``: it polls a domain's events for the chosen types and yields
one trigger event per poll that found new ones (so one asset event per batch, not per email)::

    from airflow.sdk import DAG, Asset, AssetWatcher

    watch = MailgunEventTrigger(domain="mg.example.com", events=["unsubscribed"], tags=["newsletter"])
    unsubscribes = Asset("newsletter_unsubscribes", watchers=[AssetWatcher(name="w", trigger=watch)])

    with DAG("on_unsubscribes", schedule=[unsubscribes]): ...

(``example_dags/mailgun_complaints_unsubscribe.py`` watches complaints and permanent bounces.)
The payload (see :mod:`.event_batch`) reaches the DAG as
``triggering_asset_events[unsubscribes][0].extra["payload"]``.

**Exactly once.** Each poll reads every matching event stamped after the window's horizon and
reports only ids it has not reported (:mod:`.watch_window`), so an event indexed late is still
reported, once. On Airflow 3.3+ the window is kept in the watched asset's state store and a
restarted triggerer reads on from it: nothing is missed or repeated. The window is written a few
seconds after a batch is yielded (``persist_grace``), once the triggerer has stored the asset
event; a triggerer killed inside those seconds reports that batch again on restart rather than
risk losing it. Before 3.3 the window lives in memory: a restarted trigger starts from "now" and
events of the downtime are not reported (their addresses are still in Mailgun's suppression lists).

**Never blocks the loop**: async connection lookup, the non-blocking client, ``asyncio.sleep``.
Errors (outage, bad key) are logged and retried with backoff; the trigger never yields them, so
the asset only ever receives real batches.

**One poll per trigger.** Airflow 3.3's shared streams are not used: a shared poll is opened
from one trigger's arguments and cannot read the others' cursors, so after a restart it could not
tell where each watch stopped; and sharing across event types would read every event of the
domain instead of the few types Mailgun filters server-side. Assets that need the same events
can share one trigger by giving it identical arguments (Airflow then runs it once).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

# Imported with the module, never inside ``run()``: an import there would block the shared loop.
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.client.errors import MailgunConfigError, MailgunError
from airflow_provider_mailgun.hooks.connection_config import MATON_DEFAULT_CONN_ID
from airflow_provider_mailgun.sensors.event_polling import DEFAULT_SETTLE_SECONDS
from airflow_provider_mailgun.triggers.event_batch import DEFAULT_MAX_ADDRESSES, batch_payload
from airflow_provider_mailgun.triggers.event_sources import SOURCES, EventSource
from airflow_provider_mailgun.triggers.events import async_client_config
from airflow_provider_mailgun.triggers.watch_cursor import CursorStore, cursor_key, cursor_store
from airflow_provider_mailgun.triggers.watch_window import EventFilter, WatchWindow

MAX_BACKOFF_SECONDS = 15 * 60.0
DEFAULT_PERSIST_GRACE = 5.0


class MailgunEventTrigger(BaseEventTrigger):
    """Watch a domain's Mailgun events and fire once per poll with new matches (module docstring).

    :param mailgun_conn_id: a ``maton`` or ``mailgun`` connection (looked up asynchronously).
    :param domain: the domain whose events are watched; default: the connection's ``default_domain``.
    :param events: event types, e.g. ``["complained"]`` or ``["complained", "failed"]``.
    :param severity: ``"permanent"`` or ``"temporary"``: for ``failed`` events, only that severity.
    :param tags: only events of messages carrying any of these tags.
    :param lists: only events of messages sent through these mailing lists (Mailgun's ``list``
        filter).
    :param source: the API read: ``"events"`` (the only one for now).
    :param poll_interval: seconds between polls.
    :param settle_seconds: age after which Mailgun's event log is trusted complete (its advice:
        30 minutes). Each poll re-reads this much of the matching log to catch late events.
    :param max_addresses: addresses listed in one payload at most (``count`` counts them all).
    :param start_lookback: on a first start (no kept cursor), also report events of this many
        seconds before it. 0: from now on.
    :param persist_grace: seconds between yielding a batch and writing the cursor past it.
    """

    def __init__(
        self,
        *,
        mailgun_conn_id: str = MATON_DEFAULT_CONN_ID,
        domain: str | None = None,
        events: Sequence[str] = ("complained",),
        severity: str | None = None,
        tags: Sequence[str] = (),
        lists: Sequence[str] = (),
        source: str = "events",
        poll_interval: float = 60.0,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        max_addresses: int = DEFAULT_MAX_ADDRESSES,
        start_lookback: float = 0.0,
        persist_grace: float = DEFAULT_PERSIST_GRACE,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if isinstance(events, str) or isinstance(tags, str) or isinstance(lists, str):
            raise ValueError("events, tags and lists are lists of names, e.g. events=['complained'].")
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain.strip().lower() if domain else None
        self.filter = EventFilter(tuple(events), severity, tuple(tags), tuple(lists))
        if source not in SOURCES:
            raise ValueError(f"Unknown event source {source!r}; use one of {', '.join(sorted(SOURCES))}.")
        self.source = source
        self.poll_interval = _non_negative("poll_interval", poll_interval, positive=True)
        self.settle_seconds = _non_negative("settle_seconds", settle_seconds)
        self.max_addresses = int(_non_negative("max_addresses", max_addresses))
        self.start_lookback = _non_negative("start_lookback", start_lookback)
        self.persist_grace = _non_negative("persist_grace", persist_grace)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "mailgun_conn_id": self.mailgun_conn_id,
                "domain": self.domain,
                "events": list(self.filter.events),
                "severity": self.filter.severity,
                "tags": list(self.filter.tags),
                "lists": list(self.filter.lists),
                "source": self.source,
                "poll_interval": self.poll_interval,
                "settle_seconds": self.settle_seconds,
                "max_addresses": self.max_addresses,
                "start_lookback": self.start_lookback,
                "persist_grace": self.persist_grace,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        failures = 0
        store: CursorStore | None = None
        window: WatchWindow | None = None
        while True:
            try:
                config = await async_client_config(self.mailgun_conn_id)
                domain = self.domain or (config.default_domain or "").lower()
                if not domain:
                    raise MailgunConfigError(
                        f"Connection {self.mailgun_conn_id!r} has no default_domain: "
                        "give the trigger a domain."
                    )
                if store is None or window is None:
                    store, window = await self._open_cursor(domain)
                client = AsyncMailgunClient(config)
                try:
                    source = SOURCES[self.source](client, domain)
                    while True:
                        fresh = await self._poll(source, window, domain)
                        failures = 0
                        if fresh:
                            yield TriggerEvent(  # type: ignore[no-untyped-call]
                                batch_payload(
                                    fresh,
                                    domain=domain,
                                    source=self.source,
                                    watch=self.filter.describe(),
                                    horizon=window.horizon,
                                    max_addresses=self.max_addresses,
                                )
                            )
                            # Let the triggerer store the asset event before the cursor moves past
                            # it: killed in between, the batch is reported again, never lost.
                            await asyncio.sleep(self.persist_grace)
                        await self._keep(store, window)
                        await asyncio.sleep(self.poll_interval)
                finally:
                    await client.aclose()
            except MailgunError as err:
                failures += 1
                delay = min(self.poll_interval * 2 ** min(failures - 1, 10), MAX_BACKOFF_SECONDS)
                self.log.warning("Mailgun event watch: %s Retrying in %.1f s.", err, delay)
                await asyncio.sleep(delay)

    async def _open_cursor(self, domain: str) -> tuple[CursorStore, WatchWindow]:
        watch = self.filter.describe()
        key = cursor_key(domain, self.source, watch)
        store = cursor_store(
            getattr(self, "asset_state_store", None),
            key,
            extra={"domain": domain, "source": self.source, "watch": watch},
        )
        kept = await store.load()
        if kept is not None:
            self.log.info("Mailgun event watch on %s resumes from its kept cursor %s.", domain, key)
            return store, kept
        self.log.info(
            "Mailgun event watch on %s starts from now%s (%s).",
            domain,
            f" - {self.start_lookback:.0f} s" if self.start_lookback else "",
            "cursor kept in the asset state store"
            if store.persistent
            else "no asset state store before Airflow 3.3: a restart starts from now again",
        )
        return store, WatchWindow.starting_at(time.time() - self.start_lookback)

    async def _poll(self, source: EventSource, window: WatchWindow, domain: str) -> list[Any]:
        read = await source.read_since(window.read_from(), self.filter)
        fresh = window.take(
            read.events,
            now=time.time(),
            settle_seconds=self.settle_seconds,
            read_until=None if read.complete else read.last_timestamp,
        )
        if fresh:
            tally = Counter(event.event for event in fresh)
            counts = ", ".join(f"{name}: {number}" for name, number in sorted(tally.items()))
            self.log.info("Mailgun event watch on %s: %d new event(s) (%s).", domain, len(fresh), counts)
        return fresh

    async def _keep(self, store: CursorStore, window: WatchWindow) -> None:
        try:
            await store.save(window)
        except Exception as err:  # the watch goes on; the next poll writes the cursor again
            self.log.warning("Mailgun event watch could not keep its cursor (%s); will retry.", err)


def _non_negative(name: str, value: Any, *, positive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a {kind} number, got {value!r}.")
    return number
