"""MailgunClearBouncesOperator inside a real DAG run (dag.test on sqlite) against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_mailgun.operators.suppressions import MailgunClearBouncesOperator
from tests.dag_runner import run_dag, task_states, xcom_result


def test_addresses_from_xcom_rendered_rules_and_an_empty_render_in_one_run(
    airflow_db: None, mailgun_emulator: Any, mailgun_conn_id: str
) -> None:
    from airflow.sdk import DAG, task

    emu = mailgun_emulator
    emu.seed_suppressions(
        emu.domain,
        "bounces",
        [{"address": f"soft{i}@example.org", "code": "421"} for i in range(5)]
        + [{"address": f"hard{i}@example.org", "code": "550"} for i in range(5)],
    )
    with DAG(
        "clear_bounces_in_a_dag",
        schedule=None,
        start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
        params={"soft": "4xx", "nothing": ""},
    ) as dag:

        @task
        def pick() -> list[str]:
            return ["hard0@example.org", "HARD1@example.org", "gone@example.org"]

        listed = MailgunClearBouncesOperator(
            task_id="clear_listed", mailgun_conn_id=mailgun_conn_id, addresses=pick()
        )
        soft = MailgunClearBouncesOperator(
            task_id="soft_dry_run", mailgun_conn_id=mailgun_conn_id, codes="{{ params.soft }}", dry_run=True
        )
        MailgunClearBouncesOperator(
            task_id="rendered_empty",
            mailgun_conn_id=mailgun_conn_id,
            codes="{{ params.nothing }}",
            retries=1,
            retry_delay=timedelta(0),
        )
        listed >> soft

    dag_run = run_dag(dag)

    states = task_states(dag_run)
    assert states["pick"] == "success"
    assert states["clear_listed"] == "success"
    assert states["soft_dry_run"] == "success"
    assert states["rendered_empty"] == "failed"  # refused, not a full wipe
    refused = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "rendered_empty")
    assert refused.try_number == 1  # bad input is not retried
    assert xcom_result(dag_run, "clear_listed") == {
        "matched": 3,
        "deleted": 2,
        "not_found": 1,
        "dry_run": False,
        "sample": ["hard0@example.org", "hard1@example.org", "gone@example.org"],
    }
    soft_result = xcom_result(dag_run, "soft_dry_run")
    assert soft_result["matched"] == 5
    assert soft_result["dry_run"] is True
    with emu.state.lock:
        remaining = set(emu.state.domains[emu.domain].suppressions["bounces"].records)
    assert remaining == {f"soft{i}@example.org" for i in range(5)} | {
        f"hard{i}@example.org" for i in range(2, 5)
    }
    assert [r["method"] for r in emu.requests()].count("DELETE") == 3
