"""A DAG that talks to Mailgun directly names its connection once, as the README says:
``default_args={"mailgun_conn_id": "mailgun_default"}`` reaches every operator and sensor."""

from __future__ import annotations

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states


@pytest.mark.usefixtures("airflow_db")
def test_default_args_choose_the_connection_of_every_task(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MATON_DEFAULT", raising=False)
    monkeypatch.delenv("MATON_API_KEY", raising=False)
    with DAG(
        "direct_default_args",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        default_args={"mailgun_conn_id": mailgun_conn_id},
    ) as dag:
        send = MailgunSendMessageOperator(
            task_id="send", from_email="me@mg.example.com", to=["ann@example.com"], subject="Hi", text="Hello"
        )
        wait = MailgunDeliverySensor(
            task_id="wait", message_ids=send.output, poke_interval=1, timeout=60, mode="reschedule"
        )
        send >> wait
    assert {task.mailgun_conn_id for task in dag.tasks} == {"mailgun_default"}
    run = run_dag(dag)
    assert task_states(run) == {"send": "success", "wait": "success"}
    assert [m["to"] for m in mailgun_emulator.messages()] == [["ann@example.com"]]
    assert all(r["path"].startswith("/v3/") for r in mailgun_emulator.requests())  # direct, not the gateway
