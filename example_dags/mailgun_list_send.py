"""A newsletter sent to a mailing list's address: Mailgun makes one personal copy per subscribed member.

1. ``sync_members``: make the list match a CSV (its extra columns become each member's ``vars``;
   people who unsubscribed stay unsubscribed).
2. ``send_to_list``: one request to the list's address (``to_list=True``). Mailgun sends each
   subscribed member a copy, ``%recipient.first_name%`` from that member's vars and
   ``%mailing_list_unsubscribe_url%`` a link that takes them off the list. The request is sent once
   even if the task is retried; the copies are Mailgun's and share one message id.
3. ``wait_for_delivery``: the deferrable sensor waits on that one id, counting the member copies
   from Mailgun's events, until 95% are delivered (a few mailboxes of the CSV bounce).

Compared with the campaign example (which reads the members and sends them batches), nothing here
reads the list: fewer requests, and Mailgun's list unsubscribe link. The price: no per-send
variables beyond the members' own, and the number of copies is known only from the events.

The connection and list come from DAG params, else the Airflow Variables ``mailgun_conn_id`` and
``newsletter_list``, else ``maton_default`` and ``newsletter@mg.example.com``.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

MEMBERS_CSV = Path(__file__).parent / "data" / "newsletter_members.csv"
CONN_ID = "{{ params.mailgun_conn_id or var.value.get('mailgun_conn_id', 'maton_default') }}"
LIST = "{{ params.list_address or var.value.get('newsletter_list', 'newsletter@mg.example.com') }}"

with DAG(
    dag_id="mailgun_list_send",
    description="Sync a list from a CSV, send one message to its address, wait for the members' copies.",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
    params={
        "mailgun_conn_id": Param(None, type=["null", "string"], description="maton or mailgun connection"),
        "list_address": Param(None, type=["null", "string"], description="newsletter list address"),
        "members_csv": Param(str(MEMBERS_CSV), type="string", description="CSV of members"),
    },
) as dag:
    sync_members = MailgunSyncListMembersOperator(
        task_id="sync_members",
        mailgun_conn_id=CONN_ID,
        list_address=LIST,
        members="{{ params.members_csv }}",
        mode="mirror",
        on_invalid="skip",
        create_list=True,
        list_name="Newsletter",
    )

    # [START howto_operator_send_to_list]
    send_to_list = MailgunSendMessageOperator(
        task_id="send_to_list",
        mailgun_conn_id=CONN_ID,
        from_email=f"Newsletter <{LIST}>",
        to=LIST,
        to_list=True,
        subject="%recipient.first_name%, your weekly picks ({{ ds }})",
        text=(
            "Hello %recipient.first_name%,\n\nThis week's picks for readers in %recipient.city%.\n\n"
            "Leave the list: %mailing_list_unsubscribe_url%"
        ),
        tags=["newsletter"],
    )

    wait_for_delivery = MailgunDeliverySensor(
        task_id="wait_for_delivery",
        mailgun_conn_id=CONN_ID,
        message_ids=send_to_list.output,  # one id; the sensor counts the member copies
        min_success_fraction=0.95,
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )
    # [END howto_operator_send_to_list]

    sync_members >> send_to_list
