"""One transactional email: a stored template, personal variables, and a generated attachment.

``render_invoice`` writes a CSV invoice to a temporary folder and returns its path;
``send_invoice`` sends it with the stored ``invoice`` template (created on first use).

Connection, domain and customer come from DAG params, else the Airflow Variables
``mailgun_conn_id`` and ``mailgun_domain``, else ``maton_default`` and the connection's
``default_domain``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

# [START howto_connection_from_params]
CONN_ID = "{{ params.mailgun_conn_id or var.value.get('mailgun_conn_id', 'maton_default') }}"
DOMAIN = "{{ params.domain or var.value.get('mailgun_domain', '') }}"
# [END howto_connection_from_params]
TEMPLATE_HTML = "<p>Dear {{name}},</p><p>your invoice {{invoice}} for {{amount}} is attached.</p>"

with DAG(
    dag_id="mailgun_transactional",
    description="Send one templated email with an attachment.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
    params={
        "mailgun_conn_id": Param(None, type=["null", "string"]),
        "domain": Param(None, type=["null", "string"]),
        "customer_email": Param("ada@example.org", type="string"),
        "customer_name": Param("Ada Lovelace", type="string"),
    },
) as dag:

    @task
    def ensure_template(params: dict[str, Any] | None = None) -> str:
        """Store the ``invoice`` template once (later runs reuse it)."""
        from airflow.sdk import Variable

        from airflow_provider_mailgun.exceptions import MailgunNotFoundError
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        params = params or {}
        hook = MailgunHook(
            mailgun_conn_id=params.get("mailgun_conn_id")
            or Variable.get("mailgun_conn_id", default="maton_default")
        )
        domain = hook.domain(params.get("domain") or Variable.get("mailgun_domain", default=None))
        try:
            hook.templates.get(domain, "invoice")
        except MailgunNotFoundError:
            hook.templates.create(
                domain, "invoice", template=TEMPLATE_HTML, tag="v1", description="Invoice mail"
            )
        return "invoice"

    @task
    def sender(conn_id: str, domain: str) -> str:
        """``Billing <billing@<domain>>`` on the sending domain: the rendered one, else the connection's."""
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        return f"Billing <billing@{MailgunHook(mailgun_conn_id=conn_id).domain(domain or None)}>"

    @task
    def render_invoice(run_id: str | None = None) -> str:
        import csv
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.mkdtemp(prefix="invoice-"))
        path = folder / "invoice-2026-0042.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["item", "quantity", "price"])
            writer.writerows([["Analytical engine time", 3, "120.00"], ["Punch cards", 500, "0.10"]])
        return str(path)

    # [START howto_operator_send_template_attachment]
    send_invoice = MailgunSendMessageOperator(
        task_id="send_invoice",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        from_email=sender(CONN_ID, DOMAIN),
        to={"address": "{{ params.customer_email }}", "name": "{{ params.customer_name }}"},
        subject="Your invoice 2026-0042",
        template=ensure_template(),
        template_variables={"name": "{{ params.customer_name }}", "invoice": "2026-0042", "amount": "170.00"},
        attachments=[render_invoice()],
        tags=["invoice"],
    )
    # [END howto_operator_send_template_attachment]
