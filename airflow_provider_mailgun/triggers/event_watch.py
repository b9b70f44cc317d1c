"""``MailgunEventTrigger``: Mailgun events (complaints, bounces...) that start DAGs through assets.

An event trigger for ``AssetWatcher``: it polls a domain's events for the chosen types and yields
one trigger event per poll that found new ones (so one asset event per batch, not per email)::

    from airflow.sdk import DAG, Asset, AssetWatcher

    watch = MailgunEventTrigger(domain="mg.example.com", events=["unsubscribed"], tags=["newsletter"])
    unsubscribes = Asset("newsletter_unsubscribes", watchers=[AssetWatcher(name="w", trigger=watch)])

    with DAG("on_unsubscribes", schedule=[unsubscribes]): ...

(``example_dags/mailgun_complaints_unsubscribe.py`` watches complaints and permanent bounces.)
The payload (see :mod:`airflow_provider_mailgun._watch.batch`) reaches the DAG as
``triggering_asset_events[unsubscribes][0].extra["payload"]``; :func:`addresses_of_batches` turns
the payloads of a run into the addresses they concern.

**Exactly once.** Each poll reads every matching event stamped after the window's horizon and
reports only ids it has not reported (:mod:`airflow_provider_mailgun._watch.window`), so an event
indexed late is still reported, once. On Airflow 3.3+ the window is kept in the watched asset's
state store and a restarted triggerer reads on from it: nothing is missed or repeated. The window
is written a few seconds after a batch is yielded (``persist_grace``), once the triggerer has
stored the asset event; a triggerer killed inside those seconds reports that batch again on
restart rather than risk losing it. Before 3.3 the window lives in memory: a restarted trigger
starts from "now" and events of the downtime are not reported (their addresses are still in
Mailgun's suppression lists).

**Events or Logs** (``source``): ``"auto"`` (the default) reads the Events API while it answers
and the Logs API once Mailgun answers that Events is retired for the account (410), for the rest
of the watch; ``"events"`` or ``"logs"`` read one only. Both go through the same window, so a watch
that moves from one to the other reports nothing twice (the two APIs give an event the same id).

**Never blocks the loop**: async connection lookup, the non-blocking client, ``asyncio.sleep``.
Errors are logged (an outage as a warning, what needs a fix, such as a refused key, as an error)
and retried with backoff; the trigger never yields them, so the asset only ever receives real
batches.

**One poll per trigger.** Airflow 3.3's shared streams are not used: a shared poll is opened
from one trigger's arguments and cannot read the others' cursors, so after a restart it could not
tell where each watch stopped; and sharing across event types would read every event of the
domain instead of the few types Mailgun filters server-side. Assets that need the same events
can share one trigger by giving it identical arguments (Airflow then runs it once).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

# Imported with the module, never inside ``run()``: an import there would block the shared loop.
from airflow_provider_mailgun._common.limits import DEFAULT_SETTLE_SECONDS
from airflow_provider_mailgun._connection.lookup import client_config_async
from airflow_provider_mailgun._watch.batch import DEFAULT_MAX_ADDRESSES, batch_payload
from airflow_provider_mailgun._watch.cursor import CursorStore, cursor_key, cursor_store
from airflow_provider_mailgun._watch.sources import (
    SOURCES,
    EventsApiSource,
    EventSource,
    from_api_item,
    logs_query,
    read_window,
)
from airflow_provider_mailgun._watch.window import READ_MARGIN, SAME_TIME, EventFilter, WatchWindow
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.exceptions import MailgunConfigError, MailgunError, MailgunRetiredAPIError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.triggers.delivery import passing_error

MAX_BACKOFF_SECONDS = 15 * 60.0
DEFAULT_PERSIST_GRACE = 5.0
#: The trigger's ``source`` choices: one API (a key of ``SOURCES``), or "auto" (Events, then Logs).
SOURCE_CHOICES = ("auto", *SOURCES)


class MailgunEventTrigger(BaseEventTrigger):
    """Watch a domain's Mailgun events and fire once per poll with new matches (module docstring).

    :param mailgun_conn_id: a ``maton`` or ``mailgun`` connection (looked up asynchronously).
    :param domain: the domain whose events are watched; default: the connection's ``default_domain``.
    :param events: event types, e.g. ``["complained"]`` or ``["complained", "failed"]``.
    :param severity: ``"permanent"`` or ``"temporary"``: for ``failed`` events, only that severity.
    :param tags: only events of messages carrying any of these tags.
    :param lists: only events of messages sent through these mailing lists (Mailgun's ``list``
        filter).
    :param source: the API read: ``"auto"`` (Events while it answers, then Logs), ``"events"`` or
        ``"logs"``. A watch with ``lists`` cannot read Logs (it has no such filter).
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
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        domain: str | None = None,
        events: Sequence[str] = ("complained",),
        severity: str | None = None,
        tags: Sequence[str] = (),
        lists: Sequence[str] = (),
        source: str = "auto",
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
        if source not in SOURCE_CHOICES:
            raise ValueError(f"Unknown event source {source!r}; use one of {', '.join(SOURCE_CHOICES)}.")
        if source == "logs" and self.filter.lists:
            raise ValueError("The Logs API has no mailing-list filter: watch lists with source='events'.")
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
        reading = "logs" if self.source == "logs" else "events"
        while True:
            try:
                config = await client_config_async(self.mailgun_conn_id)
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
                    source = SOURCES[reading](client, domain)
                    while True:
                        fresh = await self._poll(source, window, domain)
                        failures = 0
                        if fresh:
                            yield TriggerEvent(  # type: ignore[no-untyped-call]
                                batch_payload(
                                    fresh,
                                    domain=domain,
                                    source=reading,
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
                retired = isinstance(err, MailgunRetiredAPIError) and reading == "events"
                if retired and self.source == "auto" and not self.filter.lists:
                    self.log.info("Mailgun event watch: the Events API is retired (%s); reading Logs.", err)
                    reading = "logs"
                    continue
                failures += 1
                delay = min(self.poll_interval * 2 ** min(failures - 1, 10), MAX_BACKOFF_SECONDS)
                fix = _RETIRED_FIX if retired else ""
                level = logging.WARNING if passing_error(err) else logging.ERROR
                self.log.log(level, "Mailgun event watch: %s%s Retrying in %.1f s.", err, fix, delay)
                await asyncio.sleep(delay)

    async def _open_cursor(self, domain: str) -> tuple[CursorStore, WatchWindow]:
        watch = self.filter.describe()
        key = cursor_key(domain, watch)
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
        read = await read_window(source, window, self.filter)
        fresh = window.take(
            read.events, now=time.time(), settle_seconds=self.settle_seconds, read_until=read.read_until
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


_RETIRED_FIX = (
    " The Events API will not answer again for this account: read the Logs API with source='logs'"
    " (or 'auto'); a watch with lists has no Logs equivalent."
)


def _non_negative(name: str, value: Any, *, positive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a {kind} number, got {value!r}.")
    return number


def addresses_of_batches(payloads: Sequence[Mapping[str, Any]], *, mailgun_conn_id: str) -> dict[str, Any]:
    """What a consuming DAG needs from the batches that triggered it, in one dict::

        {"addresses": [...distinct, lower case...], "batch_ids": [...], "events": {"complained": 2}}

    A batch that listed only its first ``max_addresses`` is read again from Mailgun over its time
    window (``first_timestamp``..``last_timestamp``) with the watch's filter, so no address is
    left out (the window may add addresses that were reported in a neighbouring batch too).
    """
    found: dict[str, None] = {}
    events: Counter[str] = Counter()
    batch_ids = []
    for payload in payloads:
        batch_ids.append(str(payload["batch_id"]))
        events.update(payload.get("events") or {})
        listed = _read_again(payload, mailgun_conn_id) if payload.get("addresses_truncated") else None
        for address in listed if listed is not None else payload.get("addresses") or []:
            found.setdefault(str(address).lower(), None)
    return {"addresses": list(found), "batch_ids": batch_ids, "events": dict(events)}


def _read_again(payload: Mapping[str, Any], mailgun_conn_id: str) -> list[str]:
    """The recipients of the batch's window, with the watch's whole filter, from the API it came from."""
    watch = payload.get("watch") or {}
    wanted = EventFilter(
        tuple(watch.get("events") or ()),
        watch.get("severity"),
        tuple(watch.get("tags") or ()),
        tuple(watch.get("lists") or ()),
    )
    domain = str(payload["domain"])
    first, last = float(payload["first_timestamp"]), float(payload["last_timestamp"])
    # The APIs round the edges they are given: ask a little wider, then cut on each event's time.
    begin, end = first - READ_MARGIN, last + READ_MARGIN
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    try:
        if payload.get("source") == "logs":
            items = hook.logs.iter(**logs_query(domain, wanted, start=begin, end=end))
        else:
            items = hook.events.iter(domain, **{**EventsApiSource.query(begin, wanted), "end": end})
        recipients = []
        for item in items:
            event = from_api_item(item)
            if event is None or not first - SAME_TIME <= event.timestamp <= last + SAME_TIME:
                continue
            if wanted.matches(event) and event.recipient:
                recipients.append(event.recipient)
        return recipients
    finally:
        hook.close()
