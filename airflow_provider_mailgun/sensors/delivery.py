"""``MailgunDeliverySensor``: continue once mail is delivered, fail loudly when it bounces.

::

    send = MailgunSendMessageOperator(task_id="send", ...)
    wait = MailgunDeliverySensor(
        task_id="wait_for_delivery",
        message_ids=send.output,          # or one id, or a list of ids
        min_success_fraction=0.98,        # a campaign that tolerates a few bounces
        poke_interval=60,
        timeout=6 * 3600,
        deferrable=True,                  # wait in the triggerer, not in a worker slot
    )

Each check reads the domain's ``accepted``/``delivered``/``failed`` events (plus any other
``success_events``) ascending from ``begin`` and remembers where it stopped, so later checks only
read new pages; see :mod:`airflow_provider_mailgun._delivery.polling` for how late-indexed
events are still counted. The XCom result is
``{"delivered", "failed": [{"recipient", "code", "reason", "message_id"}], "failed_count", "pending",
"requests"}`` (``failed`` lists at most 1000 recipients; ``failed_count`` counts them all).

Events or Logs (``event_source``): ``"auto"`` (the default) reads the Events API while it answers
and the Logs API (``POST /v1/analytics/logs``, its successor) once Mailgun answers that Events is
retired for the account (410) or the Maton gateway refuses it, for the rest of the wait (the choice
travels to the trigger); ``"events"`` or ``"logs"`` read one API only. Both decide the same way.

An id that never appears (a typo, another domain) fails the wait with "no accepted event for id X"
once ``missing_grace`` seconds have passed since the send (the result's ``started_at``, else the
sensor's first start), instead of waiting for the timeout. Deferred, the trigger also stops by itself at
the sensor's ``timeout`` (Airflow's in-process trigger runner, as in ``airflow dags test``, does
not enforce it).

State between checks: with ``mode="poke"`` (and in the trigger) it lives in memory and each check
costs one request when nothing is new. With ``mode="reschedule"`` every check runs in a new process
and re-reads the events from ``begin``: prefer ``deferrable=True`` for large campaigns.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_mailgun._common.compat import AirflowFailException, AirflowSensorTimeout, conf
from airflow_provider_mailgun._common.limits import DEFAULT_SETTLE_SECONDS
from airflow_provider_mailgun._delivery.inputs import (
    SentMessages,
    default_begin,
    merge_expected,
    parse_message_ids,
    to_epoch,
)
from airflow_provider_mailgun._delivery.sources import EVENT_SOURCES
from airflow_provider_mailgun.exceptions import MailgunError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.links.mailgun import MailgunMessagesLink, remember_messages

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mailgun._delivery.polling import DeliveryWait
    from airflow_provider_mailgun._delivery.state import Decision, DeliveryGoal
    from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger

# Handing more observations than this to the trigger would bloat the trigger table; above it the
# trigger re-reads the events from ``begin`` instead (one request per 300 events).
MAX_HANDOFF_RECIPIENTS = 1000
#: Seconds after the send by which Mailgun has indexed a message's ``accepted`` event.
DEFAULT_MISSING_GRACE = 300.0
#: Failed recipients named in the log of a wait that succeeds despite them.
MAX_FAILURES_LOGGED = 20


def _default_deferrable() -> bool:
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


class MailgunDeliveryError(AirflowFailException, MailgunError):
    """Permanent failures made the required delivery share unreachable (retrying cannot help).

    ``result`` holds the XCom-shaped result with the failing recipients. A member of the
    provider's exception family (:class:`~airflow_provider_mailgun.exceptions.MailgunError`) that
    is also Airflow's ``AirflowFailException``, so the task fails without retrying.
    """

    def __init__(self, message: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = dict(result or {})


class MailgunDeliverySensor(BaseSensorOperator):
    """Wait until Mailgun reports the messages delivered (see the module docstring).

    :param message_ids: one id, a list of ids, or the send operator's result (its
        ``recipients_per_message`` gives the recipients per id); angle brackets optional. Templated.
    :param mailgun_conn_id: a ``maton`` or ``mailgun`` connection.
    :param domain: the sending domain; default: the send result's ``domain``, else the connection's
        ``default_domain``. Templated.
    :param expected_recipients: recipients per id (``{id: n}``, or one number for every id) for ids
        sent outside this provider; without any count the recipients in ``accepted`` events are
        counted, which is only as complete as the events seen so far. Templated.
    :param success_events: event names that count as success (default ``["delivered"]``).
    :param min_success_fraction: share of each message's recipients that must succeed (default 1.0).
    :param fail_on_permanent_failure: fail as soon as permanent failures make the share unreachable
        (default). When False, finish once every recipient has a final outcome and report the failures.
    :param begin: when to read events from (datetime, epoch seconds or ISO-8601); default 10 minutes
        before the send (the result's ``started_at``, else the DAG run's start). Templated.
    :param event_settle_seconds: age after which Mailgun's events are trusted complete (default 30
        minutes, Mailgun's advice); decisions never wait for it, only the re-read of late events does.
    :param event_source: ``"auto"`` (default: the Events API while it answers, then the Logs API),
        ``"events"`` or ``"logs"`` (see the module docstring).
    :param missing_grace: seconds after the send (the result's ``started_at``, else the sensor's
        first start, rescheduled or not) after which an id with no event at all fails the wait
        ("no accepted event for id X"); default 300. ``None`` waits for the timeout instead.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "mailgun_conn_id",
        "message_ids",
        "domain",
        "expected_recipients",
        "begin",
    )
    template_fields_renderers = {"message_ids": "json", "expected_recipients": "json"}
    ui_color = "#f6e6f5"
    operator_extra_links = (MailgunMessagesLink(),)

    def __init__(
        self,
        *,
        message_ids: Any,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        domain: str | None = None,
        expected_recipients: int | Mapping[str, int] | None = None,
        success_events: Sequence[str] = ("delivered",),
        min_success_fraction: float = 1.0,
        fail_on_permanent_failure: bool = True,
        begin: datetime | float | str | None = None,
        event_settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        event_source: str = "auto",
        missing_grace: float | None = DEFAULT_MISSING_GRACE,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < float(min_success_fraction) <= 1.0:
            raise ValueError(f"min_success_fraction must be in (0, 1], got {min_success_fraction!r}.")
        if isinstance(success_events, str) or not success_events:
            raise ValueError("success_events must be a non-empty list of event names, e.g. ['delivered'].")
        if event_settle_seconds < 0:
            raise ValueError(f"event_settle_seconds must not be negative, got {event_settle_seconds!r}.")
        if event_source not in EVENT_SOURCES:
            raise ValueError(f"event_source must be one of {', '.join(EVENT_SOURCES)}, got {event_source!r}.")
        if missing_grace is not None and (isinstance(missing_grace, bool) or not float(missing_grace) >= 0):
            raise ValueError(f"missing_grace must be seconds (0 or more) or None, got {missing_grace!r}.")
        self.message_ids = message_ids
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain
        self.expected_recipients = expected_recipients
        self.success_events = list(success_events)
        self.min_success_fraction = float(min_success_fraction)
        self.fail_on_permanent_failure = fail_on_permanent_failure
        self.begin = begin
        self.event_settle_seconds = float(event_settle_seconds)
        self.event_source = event_source
        self.missing_grace = None if missing_grace is None else float(missing_grace)
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self._wait: DeliveryWait | None = None
        self._hook: MailgunHook | None = None
        self._started = 0.0

    # -- the wait itself -------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        self._wait, self._hook = None, None  # a retry in the same process starts afresh
        try:
            self._start(context)
            if not self.deferrable:
                return super().execute(context)
            decision = self._check()  # the answer may already be in
            if decision.done:
                return self._finish(decision.status, decision.result(self._requests()), decision.message())
            self.defer(
                trigger=self._trigger(),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )
        finally:
            if self._hook is not None:
                self._hook.close()
        return None  # pragma: no cover  (defer raises)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        if self._wait is None:
            self._start(context)
        decision = self._check()
        if not decision.done:
            return False
        value = self._finish(decision.status, decision.result(self._requests()), decision.message())
        return PokeReturnValue(is_done=True, xcom_value=value)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the same result, or the same error, as poke mode."""
        status = event.get("status")
        if status == "error":
            message = f"Waiting for Mailgun delivery failed: {event.get('message')}"
            if event.get("retryable"):
                # An outage that outlasted the client's retries: as in poke mode, the task's own
                # retries get their chance (MailgunDeliveryError would fail it for good).
                raise MailgunError(message)
            raise MailgunDeliveryError(message)
        if status == "timeout":
            raise AirflowSensorTimeout(f"Waiting for Mailgun delivery timed out: {event.get('message')}")
        return self._finish(str(status), dict(event.get("result") or {}), str(event.get("message") or ""))

    # -- helpers -----------------------------------------------------------------------------------

    def _start(self, context: Context) -> None:
        # The delivery wait (event readers, the decision engine) loads when the sensor first runs,
        # not in every DAG file that names it: parsing stays cheap (``import_cost`` benchmark).
        from airflow_provider_mailgun._delivery.polling import DeliveryWait

        goal, sent = self._goal()
        self._started = _first_start(context) if self.reschedule else time.time()
        self._hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        domain = self._hook.domain(self.domain or sent.domain)
        remember_messages(context, self._hook, domain, goal.message_ids)
        if self.begin not in (None, ""):
            begin = to_epoch(self.begin)  # type: ignore[arg-type]
        else:
            begin = default_begin(sent.started_at, _run_started(context), time.time())
        sent_at = sent.started_at if sent.started_at is not None else self._started
        self._wait = DeliveryWait(
            goal,
            domain=domain,
            begin=begin,
            settle_seconds=self.event_settle_seconds,
            source=self.event_source,
            missing_after=None if self.missing_grace is None else sent_at + self.missing_grace,
        )
        self.log.info(
            "Waiting for %s of the recipients of %d message(s) on %s to reach %s (events from %s, "
            "event_source=%s).",
            f"{self.min_success_fraction * 100:g}%",
            len(goal.message_ids),
            domain,
            "/".join(goal.success_events),
            datetime.fromtimestamp(begin).astimezone().isoformat(timespec="seconds"),
            self.event_source,
        )

    def _goal(self) -> tuple[DeliveryGoal, SentMessages]:
        from airflow_provider_mailgun._delivery.state import DeliveryGoal

        sent = parse_message_ids(self.message_ids)
        expected = merge_expected(sent.ids, sent.counts, self.expected_recipients)
        goal = DeliveryGoal(
            message_ids=sent.ids,
            expected=expected,
            min_success_fraction=self.min_success_fraction,
            fail_on_permanent_failure=self.fail_on_permanent_failure,
            success_events=tuple(self.success_events),
        )
        return goal, sent

    def _check(self) -> Decision:
        assert self._wait is not None
        assert self._hook is not None
        decision = self._wait.check(self._hook.events, self._hook.logs)
        self.log.info(
            "Delivery check (%s API): %d delivered, %d permanently failed, %d pending; %d page(s) read, "
            "%d request(s) so far.",
            self._wait.reading,
            decision.delivered,
            decision.failed_count,
            decision.pending,
            self._wait.pages_read,
            self._requests(),
        )
        return decision

    def _requests(self) -> int:
        return self._hook.request_stats().get("attempts", 0) if self._hook is not None else 0

    def _finish(self, status: str, result: dict[str, Any], message: str) -> dict[str, Any]:
        if status == "success":
            self.log.info(
                "Delivery confirmed: %d delivered, %d permanently failed, %d pending (%d requests).",
                result.get("delivered", 0),
                result.get("failed_count", 0),
                result.get("pending", 0),
                result.get("requests", 0),
            )
            _log_tolerated_failures(self.log, result)
            return result
        raise MailgunDeliveryError(message, result)

    def _trigger(self) -> MailgunDeliveryTrigger:
        # Imported when deferring, not with the module: the trigger brings Airflow's trigger base and
        # the async client, about 15 ms that every DAG file using the sensor would otherwise pay.
        from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger

        wait = self._wait
        assert wait is not None
        small = wait.tracker.recipients_seen() <= MAX_HANDOFF_RECIPIENTS
        return MailgunDeliveryTrigger(
            mailgun_conn_id=self.mailgun_conn_id,
            domain=wait.domain,
            message_ids=list(wait.goal.message_ids),
            expected_recipients=dict(wait.goal.expected),
            success_events=list(wait.goal.success_events),
            min_success_fraction=wait.goal.min_success_fraction,
            fail_on_permanent_failure=wait.goal.fail_on_permanent_failure,
            begin=wait.begin,
            poll_interval=float(self.poke_interval),
            event_settle_seconds=wait.settle_seconds,
            state=wait.state(observations=small),
            prior_requests=self._requests(),
            event_source=wait.source,
            missing_after=wait.missing_after,
            deadline=self._started + float(self.timeout),
        )


def _log_tolerated_failures(log: Any, result: Mapping[str, Any]) -> None:
    """Name the recipients a successful wait tolerated (the first few, and how many in all)."""
    failed: Sequence[Mapping[str, Any]] = result.get("failed") or []
    total = int(result.get("failed_count") or len(failed))
    if not total:
        return
    shown = "; ".join(
        f"{item.get('recipient')} ({item.get('code')}, {item.get('reason') or 'no reason given'})"
        for item in failed[:MAX_FAILURES_LOGGED]
    )
    more = f" and {total - MAX_FAILURES_LOGGED} more" if total > MAX_FAILURES_LOGGED else ""
    log.warning(
        "Delivery succeeded despite %d permanently failed recipient(s) (first %d of %d): %s%s. "
        "All of them are in the result's 'failed' list (up to 1000).",
        total,
        min(total, MAX_FAILURES_LOGGED),
        total,
        shown,
        more,
    )


def _first_start(context: Context) -> float:
    """When a rescheduled sensor first poked (Airflow counts its timeout from there too): each
    reschedule starts the sensor again, and a grace counted from each poke would never run out."""
    first_date = getattr(context.get("ti"), "get_first_reschedule_date", None)
    first = first_date(context) if first_date is not None else None
    return first.timestamp() if isinstance(first, datetime) else time.time()


def _run_started(context: Context) -> float | None:
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None)
    return started.timestamp() if isinstance(started, datetime) else None
