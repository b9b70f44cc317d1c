"""A 100,000-recipient campaign split across mapped tasks, the way to scale beyond one worker.

``chunk_specs`` cuts the audience into ranges and ``load_chunk`` (mapped) loads each range (here
generated; in real life one query per chunk), so no task ever moves the whole audience through
XCom. ``send`` is mapped over the chunks with ``.partial(...).expand(to=...)``, so each chunk is its own
task instance with its own retry ledger: a retried chunk never mails anyone twice, and chunks run
on as many workers as the pool allows. ``wait`` is one sensor for the whole campaign: it reads the
domain's events once, whatever the number of chunks (a sensor per chunk would each read them all),
and ``total`` reports the figures.

Connection and domain come from DAG params, else the Airflow Variables ``mailgun_conn_id`` and
``mailgun_domain``, else ``maton_default`` and the connection's ``default_domain``; ``sender``
builds the From address on that domain. ``recipients`` and ``chunk_size`` are params too.

Keep the rate limit in mind: all chunks share the account's limit (Maton: 10 requests/s), so
``max_active_tis_per_dag`` keeps the mapped sends from provoking 429s on top of the client's own
per-process limiter.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

CONN_ID = "{{ params.mailgun_conn_id or var.value.get('mailgun_conn_id', 'maton_default') }}"
DOMAIN = "{{ params.domain or var.value.get('mailgun_domain', '') }}"

with DAG(
    dag_id="mailgun_large_campaign_mapped",
    description="100,000 personalised emails across mapped send tasks.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
    params={
        "mailgun_conn_id": Param(None, type=["null", "string"]),
        "domain": Param(None, type=["null", "string"]),
        "recipients": Param(100_000, type="integer", minimum=1),
        "chunk_size": Param(10_000, type="integer", minimum=1, maximum=50_000),
    },
) as dag:

    @task
    def chunk_specs(params: dict[str, Any] | None = None) -> list[dict[str, int]]:
        """The audience cut into ranges: one mapped load and send per range."""
        params = params or {}
        total, size = int(params.get("recipients", 100_000)), int(params.get("chunk_size", 10_000))
        return [{"start": start, "stop": min(start + size, total)} for start in range(0, total, size)]

    @task
    def load_chunk(spec: dict[str, int]) -> list[dict[str, Any]]:
        """One chunk of recipients with their personal fields (a database query in real life)."""
        return [
            {
                "address": f"reader{i:06d}@example.org",
                "variables": {"first": f"Reader {i}", "code": f"C{i:06d}"},
            }
            for i in range(spec["start"], spec["stop"])
        ]

    @task
    def sender(conn_id: str, domain: str) -> str:
        """``Launch <launch@<domain>>`` on the sending domain: the rendered one, else the connection's."""
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        return f"Launch <launch@{MailgunHook(mailgun_conn_id=conn_id).domain(domain or None)}>"

    # [START howto_operator_send_mapped]
    send = MailgunSendMessageOperator.partial(
        task_id="send",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        from_email=sender(CONN_ID, DOMAIN),
        subject="%recipient.first%, it is launch day",
        text="Hello %recipient.first%, your early-access code is %recipient.code%.",
        tags=["launch"],
        max_active_tis_per_dag=2,
    ).expand(to=load_chunk.expand(spec=chunk_specs()))
    # [END howto_operator_send_mapped]

    wait = MailgunDeliverySensor(
        task_id="wait",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        message_ids=send.output,
        min_success_fraction=0.99,
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )

    @task
    def total(sent: list[dict[str, Any]], delivery: dict[str, Any]) -> dict[str, int]:
        figures = {"chunks": len(sent), "delivered": int(delivery.get("delivered") or 0)}
        print(f"Delivered {figures['delivered']} emails across {figures['chunks']} chunks.")
        return figures

    total(send.output, wait.output)
