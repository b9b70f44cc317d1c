"""Carrying out a send plan: batches in parallel, the ledger kept, ambiguous sends reconciled.

The rules, in order, for each batch of the plan:

1. the ledger says ``accepted`` (an earlier try): skip it;
2. the ledger says ``in_flight`` or ``ambiguous`` (an earlier try sent it, or may have, and got no
   clear answer): look for Mailgun's ``accepted`` event carrying the batch key (``v:airflow-batch``,
   unique to this send: it holds the ledger's generation) from the recorded send time; found means
   accepted; not found means, by ``on_ambiguous``:
   ``reconcile`` resend, ``skip`` leave it, ``fail`` stop; ``resend`` resends without looking;
3. otherwise send it (marked ``in_flight`` first, then ``accepted``, or ``ambiguous`` when the
   client raises :class:`AmbiguousSendError`).

Batches that became ambiguous in this try are reconciled at the end of it; with ``skip`` one not
found is left at once, anything else still unsettled fails the try, and the next try starts at rule 2.
The batches settled together (an earlier try's at the start, this try's at the end) share one
``reconcile_timeout``: all of them were sent before the wait began, so one wait covers them all.

The accepted events are read from the Events API or the Logs API (``event_source``: ``"auto"``
reads Events while it answers and Logs once Mailgun says Events is retired for the account, for
the rest of the send), with the same recipient filter and the same batch-key check.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from airflow_provider_mailgun._common.concurrency import run_parallel
from airflow_provider_mailgun._delivery.sources import events_unavailable
from airflow_provider_mailgun._send.fields import BATCH_KEY_VARIABLE
from airflow_provider_mailgun._send.ledger import (
    ACCEPTED,
    AMBIGUOUS,
    FAILED,
    IN_FLIGHT,
    SKIPPED,
    UNSETTLED,
    BatchRecord,
    LedgerHead,
    SendLedger,
)
from airflow_provider_mailgun._send.plan import Batch, SendPlan, shown_skipped
from airflow_provider_mailgun.client.urls import strip_message_id
from airflow_provider_mailgun.exceptions import AmbiguousSendError, MailgunError, UnsettledSendError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook

log = logging.getLogger(__name__)

# Look for the accepted event from well before the recorded send time: it is the worker's clock, and
# Mailgun stamps events with its own. The lookup is narrowed to one recipient's accepted events and
# the batch key decides, so a day of margin costs little and tolerates a worker clock that far ahead.
RECONCILE_MARGIN_SECONDS = 86_400.0


@dataclass
class SendOutcome:
    message_ids: dict[int, str] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    #: when each accepted batch was sent (by whichever try sent it)
    sent_at: dict[int, float] = field(default_factory=dict)
    reconciled: int = 0
    skipped_ambiguous: list[int] = field(default_factory=list)
    unsettled: list[int] = field(default_factory=list)


class PlanSender:
    """Sends one plan through one hook; see the module docstring for the rules."""

    def __init__(
        self,
        hook: MailgunHook,
        domain: str,
        plan: SendPlan,
        ledger: SendLedger,
        *,
        max_concurrency: int,
        on_ambiguous: str,
        reconcile_timeout: float,
        clock: Callable[[], float] = time.time,
        event_source: str = "auto",
    ) -> None:
        self.hook = hook
        self.domain = domain
        self.plan = plan
        self.ledger = ledger
        self.max_concurrency = max_concurrency
        self.on_ambiguous = on_ambiguous
        self.reconcile_timeout = reconcile_timeout
        self.clock = clock
        self.event_source = event_source
        #: The API the accepted events are read from (``auto`` moves to Logs for good).
        self.reading = "logs" if event_source == "logs" else "events"
        self.outcome = SendOutcome()
        self._sent_at: dict[int, float] = {}
        self._stop = False
        #: When the batches being settled together stop being waited for (monotonic clock).
        self._reconcile_deadline: float | None = None

    def run(self) -> SendOutcome:
        records = self.ledger.load(self.plan.batches)
        self._reconcile_deadline = None
        to_send = []
        for batch in self.plan.batches:
            record = records.get(batch.index)
            state = record.state if record is not None else None
            if record is not None and state == ACCEPTED:
                self._accepted(batch, str(record.message_id), record.sent_at, write=False)
                # Reconciled by an earlier try: count it, so the result covers every try.
                self.outcome.reconciled += int(record.reconciled)
            elif state == SKIPPED:
                self.outcome.skipped_ambiguous.append(batch.index)
            elif record is not None and state in UNSETTLED:
                if self._settle_earlier(batch, record.sent_at):
                    to_send.append(batch)
            else:
                to_send.append(batch)
        skipped = len(self.plan.batches) - len(to_send)
        if skipped:
            log.info("%d of %d batch(es) were settled by an earlier try.", skipped, len(self.plan.batches))
        self._send_all(to_send)
        self._settle_this_try()
        return self.outcome

    def _settle_earlier(self, batch: Batch, sent_at: float) -> bool:
        """Reconcile a batch an earlier try left unsettled; True when it must be sent (again)."""
        message_id = self._find_accepted(batch, sent_at)
        if message_id:
            log.info(
                "Batch %d: an earlier try's send was accepted (%s); not resending.",
                batch.index + 1,
                message_id,
            )
            self.outcome.reconciled += 1
            self._accepted(batch, message_id, sent_at, reconciled=True)
            return False
        if self.on_ambiguous == "fail":
            raise UnsettledSendError(
                f"Batch {batch.index + 1} may have been sent by an earlier try and Mailgun's events do not "
                "show it accepted (on_ambiguous='fail'); nothing was resent."
            )
        if self.on_ambiguous == "skip":
            self._skip(batch, sent_at)
            return False
        log.warning(
            "Batch %d: no accepted event found for the earlier send; sending it again.", batch.index + 1
        )
        return True

    def _send_all(self, batches: list[Batch]) -> None:
        total = len(self.plan.batches)
        step = max(1, total // 20)
        failure: BaseException | None = None
        for batch, result in run_parallel(self._send_one, batches, max_workers=self.max_concurrency):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            if result is None:
                continue
            if batch.mailing_list:
                log.info("Accepted for mailing list %s: id %s", batch.first_recipient, result)
            elif batch.index % step == 0 or total <= 20:
                log.info(
                    "Batch %d/%d accepted: %d recipient(s), id %s",
                    batch.index + 1,
                    total,
                    batch.size,
                    result,
                )
        if failure is not None:
            raise failure

    def _send_one(self, batch: Batch) -> str | None:
        if self._stop:
            return None  # an earlier batch was rejected: do not start more
        fields = batch.fields()  # built now, as the batch goes out (this also settles its key)
        sent_at = self._sent_at[batch.index] = self.clock()
        self.ledger.mark(batch, IN_FLIGHT, sent_at=sent_at)
        try:
            result = self._request(batch, fields)
        except AmbiguousSendError as err:
            log.warning("Batch %d/%d: %s", batch.index + 1, len(self.plan.batches), err)
            self.ledger.mark(batch, AMBIGUOUS, sent_at=sent_at)
            self.outcome.unsettled.append(batch.index)
            return None
        except BaseException:
            # Provably not accepted (the client only raises this way for rejected requests).
            self._stop = True
            self.ledger.mark(batch, FAILED, sent_at=sent_at)
            raise
        self._accepted(batch, result, sent_at)
        return result

    def _request(self, batch: Batch, fields: list[tuple[str, str]]) -> str:
        if self.plan.mime is not None:
            options = [(k, v) for k, v in fields if k not in ("to", "from")]
            to = [r.address.email for r in batch.recipients]
            return self.hook.messages.send_mime(self.domain, to, self.plan.mime, options).message_id
        return self.hook.messages.send(self.domain, fields, self.plan.files).message_id

    def _settle_this_try(self) -> None:
        still: list[int] = []
        self._reconcile_deadline = None
        by_index = {batch.index: batch for batch in self.plan.batches}
        for index in sorted(self.outcome.unsettled):
            batch = by_index[index]
            message_id = self._find_accepted(batch, self._sent_at[index])
            if message_id:
                log.info("Batch %d: the ambiguous send was accepted (%s).", index + 1, message_id)
                self.outcome.reconciled += 1
                self._accepted(batch, message_id, self._sent_at[index], reconciled=True)
            elif self.on_ambiguous == "skip":
                # Nothing would be resent on a retry either: settle it now, without failing the try.
                self._skip(batch, self._sent_at[index])
            else:
                still.append(index)
        self.outcome.unsettled = still
        if still:
            raise UnsettledSendError(
                f"{len(still)} batch(es) ({', '.join(str(index + 1) for index in still[:10])}) may or may "
                "not have been accepted and were not resent; the next try reconciles them against "
                "Mailgun's events."
            )

    def _skip(self, batch: Batch, sent_at: float) -> None:
        log.warning("Batch %d: not found as accepted; skipped (on_ambiguous='skip').", batch.index + 1)
        self.ledger.mark(batch, SKIPPED, sent_at=sent_at)
        self.outcome.skipped_ambiguous.append(batch.index)

    def _find_accepted(self, batch: Batch, sent_at: float) -> str | None:
        """The message id of an ``accepted`` event carrying this batch's key, waiting for indexing."""
        if self.on_ambiguous == "resend":
            return None
        now = time.monotonic()
        if self._reconcile_deadline is None:
            self._reconcile_deadline = now + self.reconcile_timeout
        retrying = Retrying(  # one look at least, even past the shared deadline
            stop=stop_after_delay(max(0.0, self._reconcile_deadline - now)),
            wait=wait_fixed(min(5.0, max(self.reconcile_timeout / 4, 0.05))),
            retry=retry_if_result(lambda found: found is None),
            retry_error_callback=lambda state: None,
        )
        found: str | None = retrying(self._lookup_accepted, batch, sent_at)
        return found

    def _lookup_accepted(self, batch: Batch, sent_at: float) -> str | None:
        if batch.mailing_list:
            # Mailgun's events name the list's members, not the list: look by the list instead.
            return self._accepted_event(batch, sent_at, mailing_list=batch.first_recipient)
        # Filtered by one recipient of the batch, as sent and then lower-cased: whether Mailgun keeps
        # an address's case, and matches it exactly, is not documented. The batch key decides.
        sent = batch.first_recipient
        for recipient in dict.fromkeys((sent, sent.lower())):
            found = self._accepted_event(batch, sent_at, recipient=recipient)
            if found:
                return found
        return None

    def _accepted_event(
        self, batch: Batch, sent_at: float, *, recipient: str | None = None, mailing_list: str | None = None
    ) -> str | None:
        """The id of an ``accepted`` event carrying the batch's key, by ``recipient`` or ``mailing_list``."""
        begin = sent_at - RECONCILE_MARGIN_SECONDS
        if self.reading == "events":
            filters = {"list": mailing_list} if mailing_list else None
            try:
                return self._first_with_key(
                    batch,
                    self.hook.events.iter(
                        self.domain,
                        event="accepted",
                        recipient=recipient,
                        filters=filters,
                        begin=begin,
                        ascending=True,
                    ),
                )
            except MailgunError as err:
                if self.event_source != "auto" or not events_unavailable(err):
                    raise
                log.warning("The Events API does not answer (%s); reading the Logs API from now on.", err)
                self.reading = "logs"
        # Loaded here, not with the module: only a send reconciled through Logs needs the Logs reader.
        from airflow_provider_mailgun._watch.sources import logs_query
        from airflow_provider_mailgun._watch.window import EventFilter

        query = logs_query(self.domain, EventFilter(("accepted",)), start=begin)
        if recipient:  # the Logs API has no list filter: a list send's key is looked for among all
            query["filter"] = {**query["filter"], "recipient": [recipient]}
        return self._first_with_key(batch, self.hook.logs.iter(**query))

    def _first_with_key(self, batch: Batch, events: Iterable[Mapping[str, Any]]) -> str | None:
        for event in events:
            if _variables(event).get(BATCH_KEY_VARIABLE) == batch.key:
                return strip_message_id(
                    str(event.get("message", {}).get("headers", {}).get("message-id", ""))
                )
        return None

    def _accepted(
        self, batch: Batch, message_id: str, sent_at: float, *, write: bool = True, reconciled: bool = False
    ) -> None:
        """Count a batch as accepted; ``write`` it to the ledger (an earlier try's record is there)."""
        if write:
            self.ledger.mark(batch, ACCEPTED, sent_at=sent_at, message_id=message_id, reconciled=reconciled)
        self.outcome.message_ids[batch.index] = message_id
        self.outcome.counts[batch.index] = batch.reach
        self.outcome.sent_at[batch.index] = sent_at


def _variables(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event's user variables: a mapping (Events API) or JSON text (Logs API)."""
    found = event.get("user-variables")
    if isinstance(found, str):
        try:
            found = json.loads(found)
        except ValueError:
            return {}
    return found if isinstance(found, Mapping) else {}


def send_summary(plan: SendPlan, outcome: SendOutcome, domain: str, started: float) -> dict[str, Any]:
    """The result without its per-message parts (those are rebuilt from the ledger's batch records)."""
    summary: dict[str, Any] = {
        "batches": len(plan.batches),
        "recipients": plan.recipients,
        "skipped_invalid": shown_skipped(plan.skipped_invalid),
        "skipped_invalid_count": len(plan.skipped_invalid),
        "skipped_ambiguous_batches": sorted(outcome.skipped_ambiguous),
        "reconciled": outcome.reconciled,
        "domain": domain,
        "started_at": started,
    }
    if plan.batches and plan.batches[0].mailing_list:
        summary["mailing_list"] = plan.batches[0].first_recipient
    return summary


def send_result(
    summary: dict[str, Any], ids: dict[int, str], counts: dict[int, int], sent_at: dict[int, float]
) -> dict[str, Any]:
    """The XCom result: per message ids and counts in batch order; ``started_at`` the earliest send.

    A batch an earlier try sent is in ``message_ids`` too, so ``started_at`` is the earliest send time
    of any batch (the delivery sensor reads events from just before it), not this try's start.
    """
    order = sorted(ids)
    earliest = min((sent_at[index] for index in order if sent_at.get(index)), default=None)
    started = summary.get("started_at")
    return {
        "message_ids": [ids[index] for index in order],
        "batches": summary.get("batches", len(order)),
        "recipients": summary.get("recipients", sum(counts.values())),
        # A list send's copies are Mailgun's to count (0 here): the delivery sensor counts its events.
        "recipients_per_message": {ids[index]: counts[index] for index in order if counts[index]},
        "skipped_invalid": summary.get("skipped_invalid", []),
        "skipped_invalid_count": summary.get("skipped_invalid_count", 0),
        "skipped_ambiguous_batches": summary.get("skipped_ambiguous_batches", []),
        "reconciled": summary.get("reconciled", 0),
        "domain": summary.get("domain"),
        "started_at": min(filter(None, (earliest, started)), default=started),
        **{key: summary[key] for key in ("mailing_list", "list_members") if key in summary},
    }


def completed_result(head: LedgerHead, records: Mapping[int, BatchRecord]) -> dict[str, Any]:
    """The result of a completed send, rebuilt from its ledger (head summary, accepted batch records)."""
    return send_result(
        head.summary,
        {index: str(record.message_id) for index, record in records.items()},
        {index: record.recipients for index, record in records.items()},
        {index: record.sent_at for index, record in records.items()},
    )
