"""List sync, bounce clearing and both failure alerts (notifier and ``[email] email_backend``).

``sync`` mirrors the list onto 50 members (17 already there, 33 new, 3 stale ones removed),
``clear_soft_bounces`` removes the 4xx bounces and keeps the 5xx ones; ``fails_with_notifier`` and
``fails_with_email`` fail on purpose, so Airflow sends one alert through ``MailgunNotifier`` and one
through the configured email backend.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier
from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator

LIST_ADDRESS = "deploy-news@mg.example.com"
MEMBERS = [
    {"address": f"member{i:02d}@example.org", "name": f"Member {i}", "vars": {"n": i}} for i in range(50)
]

with DAG(
    dag_id="deploy_list_operations",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    MailgunSyncListMembersOperator(
        task_id="sync",
        mailgun_conn_id="mailgun_deploy",
        list_address=LIST_ADDRESS,
        members=MEMBERS,
        mode="mirror",
        create_list=True,
    )
    MailgunClearBouncesOperator(
        task_id="clear_soft_bounces", mailgun_conn_id="mailgun_deploy", codes=["4xx"], max_deletions=100
    )

    @task(
        on_failure_callback=MailgunNotifier(
            to="ops@example.org",
            mailgun_conn_id="mailgun_deploy",
            subject="[deploy] {{ ti.task_id }} failed in {{ dag.dag_id }}",
        )
    )
    def fails_with_notifier() -> None:
        raise RuntimeError("the warehouse refused the load (on purpose)")

    @task(email=["oncall@example.org"], email_on_failure=True, email_on_retry=False)
    def fails_with_email() -> None:
        raise RuntimeError("the export broke (on purpose)")

    fails_with_notifier()
    fails_with_email()
