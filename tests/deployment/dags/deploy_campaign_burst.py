"""Four mapped send chunks at once through the Maton gateway, to measure the share of 429 answers.

Each chunk is its own task instance in its own worker process with its own client-side limiter
(the connection's ``max_requests_per_second``), while the gateway allows 10 requests/s per account.
A chunk whose request is still refused after the client's last attempt fails, and the deployment's
task retries (``[core] default_task_retries``) send what its ledger says is left.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

CHUNKS = 4
CHUNK_SIZE = 5_000

with DAG(
    dag_id="deploy_campaign_burst",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):

    @task
    def chunks() -> list[list[dict[str, Any]]]:
        return [
            [
                {"address": f"burst{i:05d}@example.org", "variables": {"n": i}}
                for i in range(c * CHUNK_SIZE, (c + 1) * CHUNK_SIZE)
            ]
            for c in range(CHUNKS)
        ]

    MailgunSendMessageOperator.partial(
        task_id="send",
        mailgun_conn_id="maton_deploy",
        from_email="Launch <launch@mg.example.com>",
        subject="Hello %recipient.n%",
        text="Four chunks at once.",
        batch_size=100,
        max_active_tis_per_dag=CHUNKS,
    ).expand(to=chunks())
