"""``message_ids`` from an upstream task: as an XComArg, and as a Jinja string rendered to text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result

pytestmark = pytest.mark.timeout(120)


def test_send_result_reaches_the_sensor_as_xcom_and_as_rendered_text(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    from airflow.sdk import DAG, task

    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

    @task
    def send_campaign() -> dict[str, Any]:
        """Stands in for the send operator: its result shape, sent through the hook."""
        import time

        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
        started = time.time()
        ids, counts = [], {}
        for batch in (["ann@example.org", "bob@example.org"], ["cy@example.org", "bounce-d@example.org"]):
            variables = json.dumps({address: {} for address in batch})
            reply = hook.messages.send(
                hook.domain(),
                {
                    "from": "n@mg.example.com",
                    "to": batch,
                    "subject": "s",
                    "text": "t",
                    "recipient-variables": variables,
                },
            )
            ids.append(reply.id)
            counts[reply.id] = len(batch)
        return {
            "message_ids": ids,
            "recipients_per_message": counts,
            "started_at": started,
            "domain": hook.domain(),
        }

    with DAG(dag_id="delivery_sensor_templating", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        sent = send_campaign()
        common: dict[str, Any] = {"mailgun_conn_id": mailgun_conn_id, "poke_interval": 0.2, "timeout": 30}
        as_xcom = MailgunDeliverySensor(
            task_id="as_xcom", message_ids=sent, min_success_fraction=0.5, **common
        )
        as_text = MailgunDeliverySensor(
            task_id="as_text",
            message_ids="{{ ti.xcom_pull(task_ids='send_campaign') }}",
            min_success_fraction=0.5,
            **common,
        )
        sent >> as_text

    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send_campaign": "success", "as_xcom": "success", "as_text": "success"}
    by_xcom, by_text = xcom_result(dag_run, "as_xcom"), xcom_result(dag_run, "as_text")
    assert by_xcom["delivered"] == by_text["delivered"] == 3
    assert by_xcom["failed"] == by_text["failed"]
    assert [(f["recipient"], f["code"]) for f in by_xcom["failed"]] == [("bounce-d@example.org", 550)]
    assert as_xcom.template_fields == as_text.template_fields
