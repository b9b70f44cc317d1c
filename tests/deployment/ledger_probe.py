"""Read a send task's ledger where the deployment keeps it: the metadata database (Airflow 3.3's
``task_state_store`` table) or Airflow Variables (3.0 to 3.2, read through the REST API).

::

    states = ledger_batch_states(deploy, "mailgun_large_campaign_mapped", run_id, "send", 3)
    states["in_flight"]      # batches whose request went out with no answer recorded yet
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from airflow_provider_mailgun._send.ledger import KEY_PREFIX
from tests.deployment.airflow_stack import Deployment


def _connect(deploy: Deployment) -> Any:
    import psycopg2  # the `deploy` extra; imported late so that the ordinary suite collects without it

    assert deploy.pg is not None, "the deployment is not started"
    return psycopg2.connect(host="127.0.0.1", port=deploy.pg.port, user="airflow", dbname="airflow")


def sql(deploy: Deployment, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one read-only query against the deployment's metadata database."""
    conn = _connect(deploy)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def has_task_state_store(deploy: Deployment) -> bool:
    return sql(deploy, "SELECT to_regclass('task_state_store') IS NOT NULL")[0][0] is True


def ledger_values(deploy: Deployment, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[str]:
    """The stored ledger chunks (JSON text) of one task instance, wherever this Airflow keeps them."""
    if has_task_state_store(deploy):
        rows = sql(
            deploy,
            "SELECT key, value FROM task_state_store"
            " WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = %s",
            dag_id,
            run_id,
            task_id,
            map_index,
        )
        return [value for key, value in rows if key.startswith(KEY_PREFIX)]
    scope = f"{dag_id}__{run_id}__{task_id}__{map_index}"
    # Long scopes are stored under a digest (the Variable key column holds 250 characters).
    suffixes = (f"__{scope}", f"__{hashlib.sha256(scope.encode()).hexdigest()[:40]}")
    variables = deploy.api.call("GET", "variables", params={"limit": 1000})["variables"]
    return [v["value"] for v in variables if v["key"].startswith(KEY_PREFIX) and v["key"].endswith(suffixes)]


def batch_states(values: Iterable[str]) -> Counter[str]:
    """Batch states across ledger records (the head and the retention index carry no batches)."""
    states: Counter[str] = Counter()
    for value in values:
        record = json.loads(value)
        if "batches" in record:
            states.update(batch["state"] for batch in record["batches"].values())
        elif record.get("completed_at"):
            states["completed"] += 1
    return states


def ledger_batch_states(
    deploy: Deployment, dag_id: str, run_id: str, task_id: str, map_index: int
) -> Counter[str]:
    """Batch states of one task instance's ledger (``in_flight``, ``accepted``, ...); empty if none."""
    return batch_states(ledger_values(deploy, dag_id, run_id, task_id, map_index))
