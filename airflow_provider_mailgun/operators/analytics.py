"""Engagement data out of Mailgun: one data interval's events to object storage, and its metrics.

A daily export of every event to S3 (any ``ObjectStoragePath``: ``s3://``, ``gs://``, ``file://``)::

    MailgunExportEventsOperator(
        task_id="export_events",
        path="s3://aws_default@analytics/mailgun/events/{{ ds }}.jsonl.gz",
        events=["delivered", "failed", "opened", "clicked", "complained", "unsubscribed"],
        tags=["newsletter"],                      # optional: messages carrying one of these tags
        domains=["mg.example.com"],               # optional: these sending domains only
    )

One gzip JSON Lines object per data interval ``[data_interval_start, data_interval_end)``: the
Logs API's items (Events API events reshaped alike when Logs cannot be reached), oldest first.
The object appears whole or not at all, and a re-run or backfill of the same interval rewrites the
same bytes. Memory stays flat however many events there are. XCom: ``{"path", "rows", "bytes",
"requests", "source"}``.

The interval's metrics per tag and per day::

    MailgunEngagementReportOperator(task_id="engagement_report", tags=["newsletter"])
    # XCom: {"start", "end", "rows": [{"day", "tag", "accepted", "delivered", "opened", "clicked",
    #        "bounced", "complained", "unsubscribed", "delivered_rate", ...}], "requests"}

Bad input (an empty or reversed interval, an unknown event type, an empty tag) fails the task
before any request, without retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mailgun._analytics.pages import export_pages
from airflow_provider_mailgun._analytics.plan import SOURCES, ExportPlan, ReportPlan
from airflow_provider_mailgun._analytics.report import metrics_query, report_rows
from airflow_provider_mailgun._analytics.rows import LineOrder, ordered_chunks
from airflow_provider_mailgun._analytics.writer import write_atomically
from airflow_provider_mailgun._common.compat import ObjectStoragePath, failure_without_retry
from airflow_provider_mailgun._common.mailgun_names import EVENTS_API_TYPES, LOG_EVENTS
from airflow_provider_mailgun.exceptions import MailgunQueryError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_START = "{{ data_interval_start }}"
DEFAULT_END = "{{ data_interval_end }}"


class MailgunExportEventsOperator(BaseOperator):
    """Write one data interval's Mailgun events to object storage as gzip JSON Lines.

    :param path: the object to write (templated), a URL such as ``s3://bucket/key.jsonl.gz`` or an
        ``ObjectStoragePath``; a path ending in ``/`` is a folder, and the object is named after
        the interval (``mailgun-events_<start>_<end>.jsonl.gz``).
    :param storage_conn_id: Airflow connection of the object store (or put it in the URL:
        ``s3://aws_default@bucket/...``).
    :param start: interval start (templated, default ``{{ data_interval_start }}``).
    :param end: interval end, excluded (templated, default ``{{ data_interval_end }}``).
    :param events: event types to keep (Logs names: delivered, failed, opened, clicked, ...).
    :param tags: keep events of messages carrying any of these tags.
    :param domains: keep events of these sending domains.
    :param source: ``auto`` (Logs, falling back to Events), ``logs`` or ``events``.
    :param mailgun_conn_id: the Mailgun connection (``maton`` or ``mailgun`` type).
    """

    template_fields: Sequence[str] = ("mailgun_conn_id", "path", "start", "end", "events", "tags", "domains")
    ui_color = "#dcecf7"

    def __init__(
        self,
        *,
        path: Any,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        storage_conn_id: str | None = None,
        start: Any = DEFAULT_START,
        end: Any = DEFAULT_END,
        events: Any = None,
        tags: Any = None,
        domains: Any = None,
        source: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.mailgun_conn_id = mailgun_conn_id
        self.storage_conn_id = storage_conn_id
        self.start = start
        self.end = end
        self.events = events
        self.tags = tags
        self.domains = domains
        self.source = source
        if not path:
            raise ValueError(
                "path is required: where to write the export, e.g. s3://bucket/mailgun/{{ ds }}.jsonl.gz"
            )
        _check_literals(source=source, events=events, tags=tags, domains=domains)

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            plan = ExportPlan.build(
                start=_value(self.start),
                end=_value(self.end),
                events=self.events,
                tags=self.tags,
                domains=self.domains,
                source=self.source,
            )
        except MailgunQueryError as err:
            raise failure_without_retry(str(err)) from None
        target = _target(self.path, self.storage_conn_id, plan.start, plan.end)
        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        try:
            source, pages = export_pages(hook.client, plan, default_domain=hook.config.default_domain)
            order = LineOrder()
            size = write_atomically(target, ordered_chunks(pages, order))
            requests = hook.request_stats().get("attempts", 0)
        except MailgunQueryError as err:
            raise failure_without_retry(str(err)) from None
        finally:
            hook.close()
        result = {
            "path": str(target),
            "rows": order.rows,
            "bytes": size,
            "requests": requests,
            "source": source,
        }
        self.log.info(
            "Exported %d events (%s) from %s to %s: %d bytes in %d requests.",
            order.rows,
            plan.start_iso + " .. " + plan.end_iso,
            source,
            target,
            size,
            result["requests"],
        )
        return result


class MailgunEngagementReportOperator(BaseOperator):
    """Return one data interval's engagement metrics per tag and per day (from the Metrics API).

    :param start: interval start (templated, default ``{{ data_interval_start }}``).
    :param end: interval end (templated, default ``{{ data_interval_end }}``).
    :param tags: only these tags (default: every tag).
    :param domains: only these sending domains.
    :param mailgun_conn_id: the Mailgun connection (``maton`` or ``mailgun`` type).
    """

    template_fields: Sequence[str] = ("mailgun_conn_id", "start", "end", "tags", "domains")
    ui_color = "#dcecf7"

    def __init__(
        self,
        *,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        start: Any = DEFAULT_START,
        end: Any = DEFAULT_END,
        tags: Any = None,
        domains: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mailgun_conn_id = mailgun_conn_id
        self.start = start
        self.end = end
        self.tags = tags
        self.domains = domains
        _check_literals(tags=tags, domains=domains)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        try:
            plan = ReportPlan.build(
                start=_value(self.start), end=_value(self.end), tags=self.tags, domains=self.domains
            )
            rows = report_rows(hook.metrics.iter(**metrics_query(plan)))
            requests = hook.request_stats().get("attempts", 0)
        except MailgunQueryError as err:
            raise failure_without_retry(str(err)) from None
        finally:
            hook.close()
        self.log.info("Engagement report: %d tag-day rows.", len(rows))
        return {
            "start": plan.start.isoformat(),
            "end": plan.end.isoformat(),
            "rows": rows,
            "requests": requests,
        }


def _value(value: Any) -> Any:
    """A rendered template is text; an empty one means "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _target(path: Any, conn_id: str | None, start: datetime, end: datetime) -> Any:
    text = str(path)
    target = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(text, conn_id=conn_id)
    if text.endswith("/"):
        stamp = "%Y%m%dT%H%M%SZ"
        target = target / f"mailgun-events_{start.strftime(stamp)}_{end.strftime(stamp)}.jsonl.gz"
    return target


def _check_literals(**values: Any) -> None:
    """Check at parse time what is already final (templated values are checked at run time)."""
    source = values.get("source")
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}.")
    events = values.get("events")
    if isinstance(events, list | tuple) and events:
        unknown = [e for e in events if isinstance(e, str) and "{{" not in e and e not in LOG_EVENTS]
        if unknown:
            raise ValueError(f"Unknown event type(s) {unknown}; expected some of {', '.join(LOG_EVENTS)}.")
        if source == "events":
            missing = [e for e in events if e in LOG_EVENTS and e not in EVENTS_API_TYPES]
            if missing:
                raise ValueError(
                    f"The Events API has no event type(s) {missing}; use source='logs' or 'auto'."
                )
    for name in ("tags", "domains"):
        given = values.get(name)
        if isinstance(given, list | tuple) and any(isinstance(v, str) and not v.strip() for v in given):
            raise ValueError(f"{name} must not contain empty names, got {given!r}.")
