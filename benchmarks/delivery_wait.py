"""The delivery sensor deciding a 100,000-recipient campaign (100 message ids of 1,000).

The last batch's outcomes are held back (the emulator delays them an hour), so the wait is
pending after its first check; a second check with nothing new, then the release of the last
batch and a third check that decides. Bound: reading the events once takes ceil(events / 300)
requests (300 a page, the API's maximum); an idle check should cost one request.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from benchmarks.common import Stopwatch, emulator, record, use_connection

BATCHES = 100
PER_BATCH = 1000
HOLD_BACK = 3600.0


def _send(conn_id: str, start: int, stop: int) -> dict[str, Any]:
    from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

    people = [
        {"address": f"reader{i:06d}@example.org", "variables": {"n": str(i)}} for i in range(start, stop)
    ]
    operator = MailgunSendMessageOperator(
        task_id="bench_send",
        mailgun_conn_id=conn_id,
        from_email="news@mg.example.com",
        to=people,
        subject="Issue %recipient.n%",
        text="Hello",
    )
    result: dict[str, Any] = operator.execute({})  # type: ignore[arg-type]
    return result


def wait_checks(event_source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Send the campaign, then time the sensor's three checks reading ``event_source``; the checks
    (requests, seconds, decided) and the sensor's result."""
    logging.getLogger("airflow").setLevel(logging.WARNING)
    total = BATCHES * PER_BATCH
    with emulator() as emu:
        conn_id = use_connection(emu, via="direct")
        begin = time.time() - 60
        first = _send(conn_id, 0, total - PER_BATCH)
        emu.post("/_emulator/delivery_delay", {"seconds": HOLD_BACK})
        last = _send(conn_id, total - PER_BATCH, total)
        sent = {
            "message_ids": first["message_ids"] + last["message_ids"],
            "recipients_per_message": {**first["recipients_per_message"], **last["recipients_per_message"]},
        }
        from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

        sensor = MailgunDeliverySensor(
            task_id="bench_wait",
            mailgun_conn_id=conn_id,
            message_ids=sent,
            begin=begin,
            poke_interval=1,
            event_source=event_source,
        )
        checks: list[dict[str, Any]] = []
        for step in ("first check", "idle check", "after release"):
            if step == "after release":
                emu.post("/_emulator/advance", {"seconds": HOLD_BACK + 1})
            before = len(emu.requests_log())
            with Stopwatch() as clock:
                outcome = sensor.poke({})  # type: ignore[arg-type]
            done = bool(getattr(outcome, "is_done", outcome))
            checks.append(
                {
                    "check": step,
                    "requests": len(emu.requests_log()) - before,
                    "seconds": clock.wall,
                    "decided": done,
                }
            )
        result = getattr(outcome, "xcom_value", {}) or {}
    return checks, result


def run() -> dict[str, Any]:
    total = BATCHES * PER_BATCH
    checks, result = wait_checks("events")
    reads = sum(int(c["requests"]) for c in checks)
    events = 2 * total  # delivered events, plus the accepted ones the sensor does not need to read
    bound = math.ceil(total / 300)
    figures = {
        "message_ids": BATCHES,
        "recipients": total,
        "checks": checks,
        "total_requests": reads,
        "bound_requests_ceil_delivered_over_300": bound,
        "events_stored": events,
        "delivered": result.get("delivered"),
    }
    targets = {
        "decided on the third check": bool(checks[-1]["decided"] and not checks[0]["decided"]),
        "idle check costs 1 request": checks[1]["requests"] == 1,
        "total within 2% + 3 of the bound": reads <= bound * 1.02 + 3,
    }
    per_check = ", ".join(f"{c['check']} {c['requests']} ({c['seconds']:.1f} s)" for c in checks)
    summary = f"100 ids / {total:,} recipients: {per_check}; total {reads} requests vs bound {bound}"
    return record("delivery_wait", figures, targets, summary)
