"""Run a DAG end to end with ``dag.test()`` on the sqlite metadata DB, on any supported Airflow.

Airflow 3.1+ only runs DAGs it finds serialized in the DB; a DAG built inside a test is written
there first, as the pytest plugin's ``airflow_db.add(dag)`` does
(:mod:`airflow_provider_mailgun.testing.airflow_db`). Airflow 3.0 runs the DAG object directly.
"""

from __future__ import annotations

from typing import Any

import airflow
from packaging.version import Version

from airflow_provider_mailgun.testing.airflow_db import AirflowTestDB, dag_bag, write_to_db

__all__ = ["dag_bag", "write_to_db"]  # imported from here by tests that build their own DagBag

DAG_TEST_PASSES_EXCEPTION = Version(airflow.__version__) >= Version("3.3")
"""Whether ``dag.test()`` puts the task's exception in the failure callbacks' context.

Airflow's real task runner does on every 3.x release; the in-process runner of ``dag.test()`` only
from 3.3 on (3.0 to 3.2 leave ``context["exception"]`` out).
"""


def run_dag(dag: Any, **test_kwargs: Any) -> Any:
    """Serialize ``dag`` when this Airflow needs it, then ``dag.test()``; returns the DagRun."""
    AirflowTestDB().add(dag)
    return dag.test(**test_kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id (or task_id[map_index]): state}`` of a finished run."""
    states = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return states


def xcom_result(dag_run: Any, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
    """The XCom a task pushed in this run (deserialized)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, map_index=map_index, key=key
            )
            .one_or_none()
        )
        if row is None:
            return None
        return XComModel.deserialize_value(row)


def clear_and_rerun(dag: Any, dag_run: Any) -> Any:
    """Clear the run's task instances as the UI's Clear does, then run them again; returns the DagRun.

    Airflow's own ``clear_task_instances`` (it gives each cleared task instance a new round of
    tries), then the scheduler's part (``tests.reliability.task_process.resume``), in this process.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    from tests.reliability.task_process import resume

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id).all()
        clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)
        for ti in tis:
            # Airflow 3.0 looks the task's retries up in a serialized DAG that its dag.test() never
            # writes; this is what its clear then sets (3.1+ did it already).
            ti.max_tries = max(ti.max_tries, ti.try_number + dag.get_task(ti.task_id).retries)
    resume(dag, dag_run.run_id)
    with create_session() as session:
        fresh = session.query(DagRun).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id).one()
        session.expunge(fresh)
    return fresh
