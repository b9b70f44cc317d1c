"""A task that keeps a child process of its own busy for ten minutes: the leak test stops the
deployment while it runs (the task runner sits in a process group of its own, with a child)."""

from __future__ import annotations

import subprocess

import pendulum
from airflow.sdk import DAG, task

with DAG(
    dag_id="deploy_sleeper",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):

    @task
    def sleep() -> None:
        subprocess.run(["sleep", "600"], check=True)

    sleep()
