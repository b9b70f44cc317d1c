"""Run a DAG in this process, or resume a DAG run whose worker was killed, as Airflow would.

The worker-kill test starts this module in a child process it can SIGKILL::

    python -m tests.reliability.task_process run    <dag_file> <dag_id>
    python -m tests.reliability.task_process resume <dag_file> <dag_id> <run_id>

``run`` is ``dag.test()``. ``resume`` does what the scheduler does once a killed task instance was
marked ``up_for_retry``: it keeps the existing DAG run (``dag.test()`` would delete and recreate it,
and with it the task's state store), lets ``DagRun.update_state`` schedule the retry with the next
try number, and runs it with the same in-process task runner ``dag.test()`` uses.
"""

from __future__ import annotations

import sys
from typing import Any


def load_dag(dag_file: str, dag_id: str) -> Any:
    from tests.dag_runner import dag_bag

    dag = dag_bag(dag_file).get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"DAG {dag_id} not found in {dag_file}")
    return dag


def run(dag: Any) -> str:
    from tests.dag_runner import run_dag

    dag_run = run_dag(dag)
    return str(dag_run.state)


def resume(dag: Any, run_id: str) -> str:
    """Schedule and run the run's due task instances until it finishes (the dag.test() loop)."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState, TaskInstanceState

    assert settings.Session is not None, "Airflow's ORM is not configured"
    session = settings.Session()
    dag_run = session.query(DagRun).filter_by(dag_id=dag.dag_id, run_id=run_id).one()
    dag_run.dag = _scheduler_dag(dag)
    while dag_run.state == DagRunState.RUNNING:
        session.expire_all()
        schedulable, _ = dag_run.update_state(session=session)
        for ti in schedulable:
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        for ti in dag_run.get_task_instances(session=session):
            if ti.state == TaskInstanceState.SCHEDULED:
                _run_task(dag, ti)
    return str(dag_run.state)


def _scheduler_dag(dag: Any) -> Any:
    """The DAG as the scheduler holds it: a serialized round trip, as ``dag.test()`` does (3.1+)."""
    import airflow
    from airflow.serialization import serialized_objects
    from packaging.version import Version

    if Version(airflow.__version__) < Version("3.1"):  # Airflow 3.0 schedules the DAG object itself
        return dag
    # DagSerialization from 3.2; 3.1 calls it SerializedDAG.
    serializer = getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG
    return serializer.deserialize_dag(serializer.serialize_dag(dag))


def _run_task(dag: Any, ti: Any) -> None:
    import inspect

    from airflow.sdk.definitions import dag as dag_module

    task = dag.get_task(ti.task_id)
    if "task" in inspect.signature(dag_module._run_task).parameters:
        dag_module._run_task(ti=ti, task=task, run_triggerer=True)
    else:  # Airflow 3.0: the task rides on the task instance
        ti.task = task
        dag_module._run_task(ti=ti, run_triggerer=True)  # type: ignore[call-arg]


def main(argv: list[str]) -> int:
    command, dag_file, dag_id, *rest = argv
    dag = load_dag(dag_file, dag_id)
    state = run(dag) if command == "run" else resume(dag, rest[0])
    print(f"DAG run finished: {state}", flush=True)
    return 0 if state.endswith("success") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
