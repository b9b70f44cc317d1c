"""ETL alerts through Mailgun: the notifier on failure, and a summary email on success.

``extract`` -> ``transform`` -> ``load`` -> ``report``. Every task carries ``MailgunNotifier`` as
its failure callback (the Airflow 3 replacement for ``email_on_failure``), so a failure mails the
team with the dag, task, run, try, error and a link to the log. When the load succeeds,
``report`` sends a short summary. Trigger with ``{"fail_load": true}`` to see the failure email.

Connection, domain and recipients come from DAG params, else the Airflow Variables
``mailgun_conn_id``, ``mailgun_domain`` and ``ops_email``, else ``maton_default``, the
connection's ``default_domain`` and ``ops@example.org``; mail is sent from ``airflow@<domain>``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

CONN_ID = "{{ params.mailgun_conn_id or var.value.get('mailgun_conn_id', 'maton_default') }}"
DOMAIN = "{{ params.domain or var.value.get('mailgun_domain', '') }}"
OPS = "{{ params.ops_email or var.value.get('ops_email', 'ops@example.org') }}"

# [START howto_notifier]
alert = MailgunNotifier(to=OPS, mailgun_conn_id=CONN_ID, domain=DOMAIN, tags=["etl-alert"])
# [END howto_notifier]

with DAG(
    dag_id="mailgun_etl_notifications",
    description="An ETL pipeline whose failures and results are mailed through Mailgun.",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
    params={
        "mailgun_conn_id": Param(None, type=["null", "string"]),
        "domain": Param(None, type=["null", "string"]),
        "ops_email": Param(None, type=["null", "string"]),
        "fail_load": Param(False, type="boolean", description="make the load fail, to see the alert"),
    },
    # [START howto_notifier_default_args]
    default_args={"on_failure_callback": alert, "retries": 0, "retry_delay": timedelta(minutes=5)},
    # [END howto_notifier_default_args]
) as dag:

    @task
    def extract() -> list[dict[str, Any]]:
        return [{"order": i, "amount": round(10 + i * 1.5, 2)} for i in range(250)]

    @task
    def transform(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"rows": len(rows), "revenue": round(sum(r["amount"] for r in rows), 2)}

    @task
    def load(totals: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        if (params or {}).get("fail_load"):
            raise RuntimeError(f"warehouse rejected the load of {totals['rows']} rows (simulated)")
        return {**totals, "table": "analytics.daily_orders"}

    loaded = load(transform(extract()))

    @task
    def sender(conn_id: str, domain: str) -> str:
        """``Airflow <airflow@<domain>>`` on the sending domain: the rendered one, else the connection's."""
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        return f"Airflow <airflow@{MailgunHook(mailgun_conn_id=conn_id).domain(domain or None)}>"

    # [START howto_operator_send_report]
    report = MailgunSendMessageOperator(
        task_id="report",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        from_email=sender(CONN_ID, DOMAIN),
        to=OPS,
        subject="[Airflow] {{ dag.dag_id }} loaded {{ ti.xcom_pull(task_ids='load')['rows'] }} rows ({{ ds }})",
        html=(
            "<p>Loaded <b>{{ ti.xcom_pull(task_ids='load')['rows'] }}</b> rows into "
            "{{ ti.xcom_pull(task_ids='load')['table'] }}; revenue "
            "{{ ti.xcom_pull(task_ids='load')['revenue'] }}.</p>"
        ),
        text="Loaded {{ ti.xcom_pull(task_ids='load')['rows'] }} rows.",
        tags=["etl-report"],
    )
    # [END howto_operator_send_report]
    loaded >> report
