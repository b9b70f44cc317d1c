"""``MailgunDeliveryTrigger``: the delivery sensor's wait, run on the triggerer's event loop.

The sensor defers to it with plain values; it never sends email (a trigger may be re-run after a
triggerer restart), polls the events API with the non-blocking client, decides with the same code
as poke mode (:class:`~airflow_provider_mailgun._delivery.polling.DeliveryWait`) and yields one
event::

    {"status": "success" | "failure" | "error" | "timeout", "result": {...XCom result...}, "message": "..."}

It reads the API the sensor chose (``event_source``; with ``"auto"`` the one the sensor was
reading when it deferred, in ``state``), stops by itself at ``deadline`` (the sensor's timeout:
Airflow's in-process trigger runner does not enforce it) with a ``timeout`` event, and on
cancellation closes its client at once (no request after it).

Built by :class:`~airflow_provider_mailgun.sensors.delivery.MailgunDeliverySensor`; directly::

    trigger = MailgunDeliveryTrigger(
        mailgun_conn_id="maton_default", domain="mg.example.com", message_ids=["a@mg.example.com"],
        expected_recipients={"a@mg.example.com": 3}, begin=1718000000.0, poll_interval=60,
    )
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Imported with the module (the triggerer loads it before running), not inside ``run()``: an
# import there would block the event loop shared by every trigger.
from airflow_provider_mailgun._common.limits import DEFAULT_SETTLE_SECONDS
from airflow_provider_mailgun._connection.lookup import client_config_async
from airflow_provider_mailgun._delivery.polling import DeliveryWait
from airflow_provider_mailgun._delivery.state import DeliveryGoal
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.exceptions import (
    MailgunConnectionError,
    MailgunError,
    MailgunRateLimitError,
    MailgunServerError,
)


class MailgunDeliveryTrigger(BaseTrigger):
    """Poll Mailgun's events until the delivery goal is met or cannot be (see the module docstring).

    :param mailgun_conn_id: a ``maton`` or ``mailgun`` connection (looked up asynchronously).
    :param domain: the sending domain.
    :param message_ids: ids without angle brackets.
    :param expected_recipients: recipients per id, where known.
    :param success_events: event names that count as success.
    :param min_success_fraction: share of each message's recipients that must succeed.
    :param fail_on_permanent_failure: see the sensor.
    :param begin: epoch seconds to read events from.
    :param poll_interval: seconds between checks.
    :param event_settle_seconds: age after which events are trusted complete.
    :param state: the sensor's observations and reading position so far (optional).
    :param prior_requests: requests the sensor made before deferring (added to the result).
    :param event_source: ``"auto"``, ``"events"`` or ``"logs"`` (see the sensor).
    :param missing_after: epoch seconds after which an id with no event fails the wait.
    :param deadline: epoch seconds at which the wait ends with a ``timeout`` event (``None``: never).
    """

    def __init__(
        self,
        *,
        mailgun_conn_id: str,
        domain: str,
        message_ids: Sequence[str],
        expected_recipients: Mapping[str, int] | None = None,
        success_events: Sequence[str] = ("delivered",),
        min_success_fraction: float = 1.0,
        fail_on_permanent_failure: bool = True,
        begin: float,
        poll_interval: float = 60.0,
        event_settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        state: Mapping[str, Any] | None = None,
        prior_requests: int = 0,
        event_source: str = "auto",
        missing_after: float | None = None,
        deadline: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain
        self.message_ids = list(message_ids)
        self.expected_recipients = dict(expected_recipients or {})
        self.success_events = list(success_events)
        self.min_success_fraction = float(min_success_fraction)
        self.fail_on_permanent_failure = bool(fail_on_permanent_failure)
        self.begin = float(begin)
        self.poll_interval = float(poll_interval)
        self.event_settle_seconds = float(event_settle_seconds)
        self.state = dict(state) if state else None
        self.prior_requests = int(prior_requests)
        self.event_source = event_source
        self.missing_after = None if missing_after is None else float(missing_after)
        self.deadline = None if deadline is None else float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "mailgun_conn_id": self.mailgun_conn_id,
                "domain": self.domain,
                "message_ids": list(self.message_ids),
                "expected_recipients": dict(self.expected_recipients),
                "success_events": list(self.success_events),
                "min_success_fraction": self.min_success_fraction,
                "fail_on_permanent_failure": self.fail_on_permanent_failure,
                "begin": self.begin,
                "poll_interval": self.poll_interval,
                "event_settle_seconds": self.event_settle_seconds,
                "state": self.state,
                "prior_requests": self.prior_requests,
                "event_source": self.event_source,
                "missing_after": self.missing_after,
                "deadline": self.deadline,
            },
        )

    def goal(self) -> DeliveryGoal:
        return DeliveryGoal(
            message_ids=tuple(self.message_ids),
            expected=self.expected_recipients,
            min_success_fraction=self.min_success_fraction,
            fail_on_permanent_failure=self.fail_on_permanent_failure,
            success_events=tuple(self.success_events),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            wait = DeliveryWait.resume(
                self.goal(),
                self.state,
                domain=self.domain,
                begin=self.begin,
                settle_seconds=self.event_settle_seconds,
                source=self.event_source,
                missing_after=self.missing_after,
            )
            config = await client_config_async(self.mailgun_conn_id)
        except (MailgunError, ValueError) as err:
            yield _event({"status": "error", "message": str(err), "result": None})
            return
        client = AsyncMailgunClient(config)
        try:
            while True:
                try:
                    decision = await wait.acheck(client.events, client.logs, now=time.time())
                except MailgunError as err:
                    yield _event(
                        {
                            "status": "error",
                            "message": str(err),
                            "result": None,
                            "retryable": passing_error(err),
                        }
                    )
                    return
                requests = self.prior_requests + client.request_stats().get("attempts", 0)
                if decision.done:
                    yield _event(
                        {
                            "status": decision.status,
                            "result": decision.result(requests),
                            "message": decision.message() if decision.status != "success" else "",
                        }
                    )
                    return
                self.log.info(
                    "Delivery check (%s API): %d delivered, %d permanently failed, %d pending; "
                    "%d request(s).",
                    wait.reading,
                    decision.delivered,
                    decision.failed_count,
                    decision.pending,
                    requests,
                )
                left = math.inf if self.deadline is None else self.deadline - time.time()
                if left <= 0:
                    yield _event(
                        {
                            "status": "timeout",
                            "result": decision.result(requests),
                            "message": (
                                f"no decision by the deadline: {decision.delivered} delivered, "
                                f"{decision.failed_count} permanently failed, {decision.pending} pending."
                            ),
                        }
                    )
                    return
                await asyncio.sleep(min(self.poll_interval, left))
        finally:
            await client.aclose()


def passing_error(err: MailgunError) -> bool:
    """An outage or rate limit that outlasted the client's retries: a later try may well succeed."""
    return isinstance(err, MailgunConnectionError | MailgunServerError | MailgunRateLimitError)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
