"""A batch whose addresses were capped is read again by the consuming DAG: with the watch's whole
filter, from the API that produced it."""

from __future__ import annotations

from typing import Any

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.triggers.event_watch import MailgunEventTrigger, addresses_of_batches
from tests.triggers.watch_helpers import run_watch

FAST = {"poll_interval": 0.1, "settle_seconds": 3.0, "persist_grace": 0.05, "start_lookback": 60}
LIST = "news@mg.example.com"


def _send(conn_id: str, to: list[str]) -> None:
    hook = MailgunHook(mailgun_conn_id=conn_id)
    hook.messages.send(hook.domain(), {"from": "n@mg.example.com", "to": to, "subject": "N", "text": "N"})
    hook.close()


def _one_batch(trigger: MailgunEventTrigger, count: int) -> dict[str, Any]:
    payloads = run_watch(trigger, seconds=3.0, stop_when=lambda p: sum(x["count"] for x in p) >= count)
    (payload,) = payloads
    assert payload["addresses_truncated"] is True
    return payload


def test_a_capped_lists_batch_is_read_again_with_the_list_filter(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _send(mailgun_conn_id, [LIST, "ann@example.org"])  # through the list: addressed to it
    _send(mailgun_conn_id, ["bob@example.org"])  # not through the list
    for person in ("ann@example.org", "bob@example.org", LIST):  # bob's falls inside the batch's window
        mailgun_emulator.complain(person)
    trigger = MailgunEventTrigger(
        mailgun_conn_id=mailgun_conn_id, events=["complained"], lists=[LIST], max_addresses=1, **FAST
    )

    payload = _one_batch(trigger, 2)
    found = addresses_of_batches([payload], mailgun_conn_id=mailgun_conn_id)

    assert sorted(found["addresses"]) == ["ann@example.org", LIST]


def test_a_capped_batch_read_from_logs_is_read_again_from_logs(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _send(mailgun_conn_id, ["ann@example.org", "bob@example.org"])
    for person in ("ann@example.org", "bob@example.org"):
        mailgun_emulator.complain(person)
    mailgun_emulator.retire_events_api()
    trigger = MailgunEventTrigger(
        mailgun_conn_id=mailgun_conn_id, events=["complained"], max_addresses=1, **FAST
    )

    payload = _one_batch(trigger, 2)
    found = addresses_of_batches([payload], mailgun_conn_id=mailgun_conn_id)

    assert payload["source"] == "logs"
    assert sorted(found["addresses"]) == ["ann@example.org", "bob@example.org"]
