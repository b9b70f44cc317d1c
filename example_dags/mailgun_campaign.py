"""The main job: a weekly newsletter, from a CSV of members to delivered mail and clean bounces.

1. ``sync_members``: make the ``newsletter`` list match the CSV (about 5,000 rows: some malformed,
   some unsubscribed, some whose mailboxes bounce); invalid rows are skipped and counted, people
   who unsubscribed stay unsubscribed.
2. ``subscribed_members``: read the list's subscribed members with their variables.
3. ``ensure_template`` and ``send_newsletter``: a stored template, sent to every subscribed member
   in batches of 1,000 with personal fields; each member gets exactly one copy, even if the task
   is retried.
4. ``wait_for_delivery``: the deferrable sensor waits until 95% of each batch is delivered
   (a few mailboxes are known to bounce) and fails loudly otherwise.
5. ``clear_soft_bounces``: bounces with 4xx codes (a mailbox provider's outage) are cleared so
   those people get mail again; hard bounces stay.
6. ``summary``: one line per step. ``MailgunNotifier`` mails the team when anything fails.

Connection, domain and list come from DAG params, else the Airflow Variables ``mailgun_conn_id``,
``mailgun_domain`` and ``newsletter_list``, else ``maton_default``, the connection's
``default_domain`` and ``newsletter@<domain>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier
from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

MEMBERS_CSV = Path(__file__).parent / "data" / "newsletter_members.csv"
CONN_ID = "{{ params.mailgun_conn_id or var.value.get('mailgun_conn_id', 'maton_default') }}"
DOMAIN = "{{ params.domain or var.value.get('mailgun_domain', '') }}"
LIST = "{{ ti.xcom_pull(task_ids='settings')['list_address'] }}"
TEMPLATE = "weekly-newsletter"
TEMPLATE_HTML = (
    "<h1>{{title}}</h1><p>Hello %recipient.first_name%,</p>"
    "<p>This week's picks for readers in %recipient.city% on the %recipient.plan% plan.</p>"
    '<p><a href="%unsubscribe_url%">Unsubscribe</a></p>'
)

with DAG(
    dag_id="mailgun_campaign",
    description="Sync a newsletter list from a CSV, send it, wait for delivery, clear soft bounces.",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
    params={
        "mailgun_conn_id": Param(None, type=["null", "string"], description="maton or mailgun connection"),
        "domain": Param(None, type=["null", "string"], description="sending domain"),
        "list_address": Param(None, type=["null", "string"], description="newsletter list address"),
        "members_csv": Param(str(MEMBERS_CSV), type="string", description="CSV of members"),
    },
    # [START howto_notifier_dag_callback]
    on_failure_callback=MailgunNotifier(
        to="{{ var.value.get('ops_email', 'ops@example.org') }}", mailgun_conn_id=CONN_ID, domain=DOMAIN
    ),
    # [END howto_notifier_dag_callback]
) as dag:

    @task
    def settings(params: dict[str, Any] | None = None) -> dict[str, str]:
        """Resolve connection, domain and list address once, for every later task."""
        from airflow.sdk import Variable

        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        params = params or {}
        conn_id = params.get("mailgun_conn_id") or Variable.get("mailgun_conn_id", default="maton_default")
        hook = MailgunHook(mailgun_conn_id=conn_id)
        domain = hook.domain(params.get("domain") or Variable.get("mailgun_domain", default=None))
        list_address = (
            params.get("list_address")
            or Variable.get("newsletter_list", default=None)
            or f"newsletter@{domain}"
        )
        return {"conn_id": conn_id, "domain": domain, "list_address": list_address}

    resolved = settings()

    # [START howto_operator_sync_list_members]
    sync_members = MailgunSyncListMembersOperator(
        task_id="sync_members",
        mailgun_conn_id=CONN_ID,
        list_address=LIST,
        members="{{ params.members_csv }}",
        mode="mirror",
        on_invalid="skip",
        create_list=True,
        list_name="Newsletter",
        list_description="Weekly newsletter",
    )
    # [END howto_operator_sync_list_members]

    @task
    def subscribed_members(settings: dict[str, str]) -> list[dict[str, Any]]:
        """The list's subscribed members, with their variables for personal fields."""
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        hook = MailgunHook(mailgun_conn_id=settings["conn_id"])
        return [
            {"address": m["address"], "name": m.get("name") or "", "variables": m.get("vars") or {}}
            for m in hook.members.iter(settings["list_address"], subscribed=True)
        ]

    # [START howto_hook_templates]
    @task
    def ensure_template(settings: dict[str, str]) -> str:
        """Store the newsletter template once; later runs reuse it."""
        from airflow_provider_mailgun.exceptions import MailgunNotFoundError
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        hook = MailgunHook(mailgun_conn_id=settings["conn_id"])
        try:
            hook.templates.get(settings["domain"], TEMPLATE)
        except MailgunNotFoundError:
            hook.templates.create(settings["domain"], TEMPLATE, template=TEMPLATE_HTML, tag="v1")
        return TEMPLATE

    # [END howto_hook_templates]

    members = subscribed_members(resolved)
    template = ensure_template(resolved)

    # [START howto_operator_send_campaign]
    send_newsletter = MailgunSendMessageOperator(
        task_id="send_newsletter",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        from_email="Newsletter <newsletter@{{ ti.xcom_pull(task_ids='settings')['domain'] }}>",
        to=members,
        subject="%recipient.first_name%, your weekly picks ({{ ds }})",
        template=template,
        template_variables={"title": "Weekly picks, {{ ds }}"},
        tags=["newsletter", "weekly"],
        variables={"campaign": "weekly-{{ ds_nodash }}"},
    )
    # [END howto_operator_send_campaign]

    # [START howto_sensor_delivery]
    wait_for_delivery = MailgunDeliverySensor(
        task_id="wait_for_delivery",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        message_ids=send_newsletter.output,
        min_success_fraction=0.95,
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )
    # [END howto_sensor_delivery]

    # [START howto_operator_clear_bounces]
    clear_soft_bounces = MailgunClearBouncesOperator(
        task_id="clear_soft_bounces",
        mailgun_conn_id=CONN_ID,
        domain=DOMAIN,
        codes=["4xx"],
        max_deletions=1000,
    )
    # [END howto_operator_clear_bounces]

    @task
    def summary(sync: Any, sent: Any, delivery: Any, cleared: Any) -> dict[str, Any]:
        """One line per step, and the figures as the DAG's result."""
        figures = {
            "members_added": sync.get("added"),
            "members_invalid": sync.get("invalid"),
            "emails_sent": sent.get("recipients"),
            "messages": len(sent.get("message_ids", [])),
            "delivered": delivery.get("delivered"),
            "failed": len(delivery.get("failed", [])),
            "soft_bounces_cleared": cleared.get("deleted"),
        }
        print("Campaign summary: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
        return figures

    resolved >> sync_members >> members
    summary(sync_members.output, send_newsletter.output, wait_for_delivery.output, clear_soft_bounces.output)
    wait_for_delivery >> clear_soft_bounces
