"""Events indexed late (behind paging links already handed out) are still counted, exactly once.

Mailgun indexes events asynchronously: an event can become visible after newer ones, with its
original timestamp, so a kept ``next`` link has already moved past it. The emulator's
``late_event_rate`` fault does just that. The delivery sensor, in poke and deferrable mode, must
neither miss those events nor count them twice, as long as ``event_settle_seconds`` is longer than
the indexing delay: reading the Events API, the Logs API, or "auto" with Events retired mid-wait.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.reliability.conftest import print_report
from tests.sensors.delivery_helpers import (
    EVENT_SOURCES,
    events_retired_mid_wait,
    is_event_read,
    sensor_source,
)

LATE_SECONDS = 1.5
LATE_FAULTS = {"late_event_rate": 0.2, "late_event_seconds": LATE_SECONDS}
PER_MESSAGE = 300


def _send_two_batches(hook: MailgunHook) -> dict[str, Any]:
    """Two batch sends of 300, three bouncing recipients in each; the send operator's result shape."""
    started = time.time()
    ids, counts = [], {}
    for batch in range(2):
        recipients = [
            f"{'bounce' if i % 100 == 0 else 'reader'}.b{batch}.{i:03d}@example.org"
            for i in range(PER_MESSAGE)
        ]
        fields = {
            "from": "News <news@mg.example.com>",
            "to": recipients,
            "subject": "Hi %recipient.n%",
            "text": "Hello",
            "recipient-variables": json.dumps({r: {"n": i} for i, r in enumerate(recipients)}),
        }
        message_id = hook.messages.send(hook.domain(), fields).message_id
        ids.append(message_id)
        counts[message_id] = PER_MESSAGE
    return {
        "message_ids": ids,
        "recipients_per_message": counts,
        "started_at": started,
        "domain": hook.domain(),
    }


def test_the_emulator_shows_late_events_behind_a_kept_link(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # What the sensor is up against: a link kept before the late events appear never shows them.
    mailgun_emulator.set_faults(LATE_FAULTS)
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    begin = time.time() - 60
    _send_two_batches(hook)
    first = hook.events.first_page(hook.domain(), ascending=True, begin=begin, limit=300)
    pages = [first]
    while pages[-1].items:
        pages.append(hook.events.read_page(pages[-1].next_url))  # type: ignore[arg-type]
    kept = pages[-1].next_url
    assert kept is not None
    seen_early = sum(len(page.items) for page in pages)
    late = mailgun_emulator.stats()["faults"]["late_event"]
    time.sleep(LATE_SECONDS + 0.3)

    assert late > 0
    assert seen_early == 4 * PER_MESSAGE - late  # accepted + outcomes, minus the hidden outcomes
    assert hook.events.read_page(kept).items == []  # the kept link has moved past them
    assert len(list(hook.events.iter(hook.domain(), ascending=True, begin=begin))) == 4 * PER_MESSAGE


@pytest.mark.timeout(120)
@pytest.mark.parametrize("event_source", EVENT_SOURCES)
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_the_delivery_sensor_counts_late_events_exactly_once(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    deferrable: bool,
    event_source: str,
) -> None:
    from airflow.sdk import DAG

    from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

    # Long enough that the sensor's first check comes before the late events show up, also when
    # dag.test() is slow to start the sensor task: 0.1 to 0.3 s after the send on Airflow 3.3, but
    # 1 to 6 s on 3.1 on a busy 2-core machine.
    late_seconds = 10.0
    mailgun_emulator.set_faults({**LATE_FAULTS, "late_event_seconds": late_seconds})
    recipients = [
        {"address": f"{'bounce' if i % 100 == 0 else 'reader'}.{i:03d}@example.org", "variables": {"n": i}}
        for i in range(2 * PER_MESSAGE)
    ]
    with DAG(
        f"late_events_{'deferrable' if deferrable else 'poke'}_{event_source.replace('-', '_')}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    ) as dag:
        send = MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=mailgun_conn_id,
            from_email="News <news@mg.example.com>",
            to=recipients,
            subject="Hi %recipient.n%",
            text="Hello",
            batch_size=PER_MESSAGE,
        )
        send >> MailgunDeliverySensor(
            task_id="wait",
            mailgun_conn_id=mailgun_conn_id,
            message_ids=send.output,
            min_success_fraction=1.0,
            fail_on_permanent_failure=False,  # finish once every recipient is final: exact counts
            event_settle_seconds=late_seconds * 2,
            poke_interval=0.3,
            timeout=60,
            deferrable=deferrable,
            event_source=sensor_source(event_source),
        )

    with events_retired_mid_wait(mailgun_emulator, event_source):
        dag_run = run_dag(dag)

    result = xcom_result(dag_run, "wait")
    late = mailgun_emulator.stats()["faults"]["late_event"]
    sent_at = min(event["timestamp"] for event in mailgun_emulator.events("accepted"))
    reads = [r["time"] for r in mailgun_emulator.requests() if is_event_read(r)]
    print_report(
        f"Late-indexed events, {'deferrable' if deferrable else 'poke'} sensor, {event_source}",
        [
            ("events indexed late", late),
            ("first read after the send (s)", round(min(reads) - sent_at, 2)),
            ("event reads", len(reads)),
            ("delivered", result["delivered"]),
            ("failed", result["failed_count"]),
        ],
    )
    assert task_states(dag_run) == {"send": "success", "wait": "success"}
    assert late > 0
    assert min(reads) < sent_at + late_seconds  # the sensor looked while events were still hidden
    assert max(reads) > sent_at + late_seconds  # ... and kept looking until they appeared
    assert result["delivered"] == 2 * (PER_MESSAGE - 3)
    assert result["failed_count"] == 6
    assert result["pending"] == 0
    assert sorted(f["recipient"] for f in result["failed"]) == [
        f"bounce.{i:03d}@example.org" for i in range(0, 600, 100)
    ]


def test_the_late_event_fault_is_validated() -> None:
    from airflow_provider_mailgun.testing.control.faults import FaultSpec

    spec = FaultSpec.parse({"late_event_rate": 0.5, "late_event_seconds": 3})
    assert spec is not None
    assert (spec.late_event_rate, spec.late_event_seconds) == (0.5, 3.0)
    with pytest.raises(ValueError, match="rates must be within"):
        FaultSpec.parse({"late_event_rate": 1.5})
