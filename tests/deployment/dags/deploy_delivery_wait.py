"""Send to 200 recipients, then wait for delivery in the triggerer (the triggerer is killed mid-wait).

150 addresses deliver at once, 40 ``tempfail`` ones fail temporarily and deliver later (the emulator
runs with ``--tempfail-retry 30``), 10 ``bounce`` ones fail for good. With a 90% goal the sensor first
checks in the worker, sees 75%, defers, and the trigger waits for the late deliveries.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor


def _address(i: int) -> str:
    """Every batch of 50 holds 10 tempfails and 2 or 3 bounces (the goal is checked per message)."""
    kind = "bounce" if i % 20 == 7 else "tempfail" if i % 5 == 1 else "reader"
    return f"{kind}{i:03d}@example.org"


RECIPIENTS = [_address(i) for i in range(200)]

with DAG(
    dag_id="deploy_delivery_wait",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    send = MailgunSendMessageOperator(
        task_id="send",
        mailgun_conn_id="mailgun_deploy",
        from_email="Ops <ops@mg.example.com>",
        to=[{"address": address, "variables": {"n": i}} for i, address in enumerate(RECIPIENTS)],
        subject="Delivery check %recipient.n%",
        text="Waiting for this one in the triggerer.",
        batch_size=50,
    )
    MailgunDeliverySensor(
        task_id="wait",
        mailgun_conn_id="mailgun_deploy",
        message_ids=send.output,
        min_success_fraction=0.9,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )
