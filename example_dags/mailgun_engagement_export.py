"""Daily engagement data out of Mailgun: yesterday's events to object storage, and its metrics.

Each run covers one day, ``[data_interval_start, data_interval_end)`` (the timetable gives runs a
one-day interval, so backfills and re-runs address whole days):

1. ``export_events``: every delivery and engagement event of the day, from Mailgun's Logs API (the
   Events API when Logs cannot be reached), to one gzip JSON Lines object per day under
   ``<export_root>/events/<day>.jsonl.gz``; re-running a day rewrites the same bytes.
2. ``engagement_report``: per tag and per day, accepted, delivered, opened, clicked, bounced,
   complained and unsubscribed, with rates.
3. ``summary``: one line per tag, and where the export went.

Connection and export root come from DAG params, else the Airflow Variables ``mailgun_conn_id``
and ``mailgun_export_root``, else ``maton_default`` and ``file:///tmp/mailgun-exports`` (use
``s3://<conn_id>@bucket/prefix`` or ``gs://...`` in production, with the Amazon or Google provider).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_provider_mailgun.operators.analytics import (
    MailgunEngagementReportOperator,
    MailgunExportEventsOperator,
)

CONN_ID = "{{ params.mailgun_conn_id or var.value.get('mailgun_conn_id', 'maton_default') }}"
ROOT = "{{ params.export_root or var.value.get('mailgun_export_root', 'file:///tmp/mailgun-exports') }}"
EVENTS = ["accepted", "delivered", "failed", "opened", "clicked", "unsubscribed", "complained"]

with DAG(
    dag_id="mailgun_engagement_export",
    description="Export each day's Mailgun events to object storage and report engagement per tag.",
    # [START howto_timetable_daily_interval]
    schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1)),
    # [END howto_timetable_daily_interval]
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
    params={
        "mailgun_conn_id": Param(None, type=["null", "string"], description="maton or mailgun connection"),
        "export_root": Param(None, type=["null", "string"], description="object storage URL of the exports"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
) as dag:
    # [START howto_operator_export_events]
    export = MailgunExportEventsOperator(
        task_id="export_events",
        mailgun_conn_id=CONN_ID,
        path=ROOT + "/events/{{ data_interval_start | ds }}.jsonl.gz",
        events=EVENTS,
    )
    # [END howto_operator_export_events]
    # [START howto_operator_engagement_report]
    report = MailgunEngagementReportOperator(task_id="engagement_report", mailgun_conn_id=CONN_ID)
    # [END howto_operator_engagement_report]

    @task
    def summary(exported: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        lines = [
            f"{row['day']} {row['tag']}: {row['delivered']}/{row['accepted']} delivered, "
            f"{row['opened']} opened, {row['clicked']} clicked, {row['bounced']} bounced"
            for row in metrics["rows"]
        ]
        print(f"{exported['rows']} events ({exported['bytes']} bytes) in {exported['path']}")
        print("\n".join(lines) or "no tagged mail in this interval")
        return {"events": exported["rows"], "path": exported["path"], "tags": len(metrics["rows"])}

    summary(export.output, report.output)
