"""Complaints and permanent bounces unsubscribe their addresses from every mailing list.

The asset ``mailgun_complaints`` is watched by :class:`MailgunEventTrigger`: the triggerer polls
the domain's events for ``complained`` and permanently ``failed`` ones and records one asset event
per batch of new ones. This DAG is scheduled on the asset, so it runs once per batch (Airflow
folds batches that arrive while a run is queued into that run):

``addresses`` (from the batches, re-read from Mailgun when a batch listed only the first
``max_addresses``) -> ``unsubscribe`` (``subscribed=no`` on every mailing list that has them) ->
``update_crm`` (the place to tell your CRM) -> ``summary``.

The trigger's connection, domain and poll interval are read when the file is parsed, from the
environment variables ``MAILGUN_EVENTS_CONN_ID`` (default ``maton_default``),
``MAILGUN_EVENTS_DOMAIN`` (default: the connection's ``default_domain``) and
``MAILGUN_EVENTS_POLL_INTERVAL`` (seconds, default 60).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_mailgun.exceptions import MailgunNotFoundError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.triggers.event_watch import MailgunEventTrigger, addresses_of_batches

CONN_ID = os.environ.get("MAILGUN_EVENTS_CONN_ID", MailgunHook.default_conn_name)
DOMAIN = os.environ.get("MAILGUN_EVENTS_DOMAIN") or None
POLL_INTERVAL = float(os.environ.get("MAILGUN_EVENTS_POLL_INTERVAL") or 60)

# [START howto_trigger_event_watch]
complaints = Asset(
    "mailgun_complaints",
    watchers=[
        AssetWatcher(
            name="mailgun_complaints_watcher",
            trigger=MailgunEventTrigger(
                mailgun_conn_id=CONN_ID,
                domain=DOMAIN,
                events=["complained", "failed"],
                severity="permanent",  # failed events count only when they are permanent bounces
                poll_interval=POLL_INTERVAL,
            ),
        )
    ],
)
# [END howto_trigger_event_watch]

with DAG(
    dag_id="mailgun_complaints_unsubscribe",
    description="Unsubscribe complainers and hard bounces from every mailing list, once per batch.",
    schedule=[complaints],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mailgun", "example"],
):
    # [START howto_trigger_batch_addresses]
    @task
    def addresses(triggering_asset_events: Any = None) -> dict[str, Any]:
        """The distinct addresses of every batch that triggered this run."""
        payloads = [
            event.extra["payload"]
            for event in (triggering_asset_events or {}).get(complaints, [])
            if isinstance(event.extra, dict) and "payload" in event.extra
        ]
        return addresses_of_batches(payloads, mailgun_conn_id=CONN_ID)

    # [END howto_trigger_batch_addresses]

    @task
    def unsubscribe(found: dict[str, Any]) -> dict[str, Any]:
        """``subscribed=no`` for each address on each mailing list it is a member of."""
        hook = MailgunHook(mailgun_conn_id=CONN_ID)
        changed: dict[str, int] = {}
        for mailing_list in hook.lists.iter():
            list_address = mailing_list["address"]
            for address in found["addresses"]:
                try:
                    member = hook.members.get(list_address, address)
                except MailgunNotFoundError:
                    continue  # not on this list
                if member.get("subscribed") is False:
                    continue
                hook.members.update(list_address, address, subscribed=False)
                changed[list_address] = changed.get(list_address, 0) + 1
        return {"unsubscribed": sum(changed.values()), "by_list": changed}

    @task
    def update_crm(found: dict[str, Any]) -> int:
        """>>> Call your CRM here <<< (flag the contacts, stop campaigns, open a ticket...).

        ``found["addresses"]`` are the addresses, ``found["batch_ids"]`` idempotency keys: the
        same batch always has the same id, so a CRM call keyed on it is safe to retry.
        """
        # crm.flag_contacts(found["addresses"], reason="mailgun complaint or hard bounce",
        #                   idempotency_key=",".join(found["batch_ids"]))
        return len(found["addresses"])

    @task
    def summary(found: dict[str, Any], lists: dict[str, Any], crm: int) -> dict[str, Any]:
        return {
            "batches": len(found["batch_ids"]),
            "events": found["events"],
            "addresses": len(found["addresses"]),
            "unsubscribed": lists["unsubscribed"],
            "lists": sorted(lists["by_list"]),
            "crm_updated": crm,
        }

    found = addresses()
    summary(found, unsubscribe(found), update_crm(found))
