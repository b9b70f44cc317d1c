"""Not collected by itself (no ``test_`` prefix): ``test_nothing_left_running`` runs it in a child
pytest, with ``MAILGUN_DEPLOY_PROBE=fail`` (the scenario fails) or ``interrupt`` (it waits for ^C).

It starts a one-worker deployment with the same machinery as the real scenarios, starts a task
that keeps a child process busy, writes the run's identity (marker, directories) to
``MAILGUN_DEPLOY_PROBE_FILE`` and then fails or waits to be interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment.airflow_stack import Deployment
from tests.deployment.conftest import run_deployment
from tests.deployment.processes import wait_until

PROBE_VAR = "MAILGUN_DEPLOY_PROBE"
PROBE_FILE_VAR = "MAILGUN_DEPLOY_PROBE_FILE"


@pytest.fixture(scope="module")
def small_deployment() -> Iterator[Deployment]:
    yield from run_deployment("leak-probe", Path(sys.executable).parent, workers=("w1",))


def test_a_scenario_that_fails_or_is_interrupted(small_deployment: Deployment) -> None:
    deploy = small_deployment
    deploy.api.wait_for_dags(["deploy_sleeper"], timeout=120)
    run_id = deploy.api.trigger("deploy_sleeper")
    wait_until(
        lambda: deploy.api.task_instances("deploy_sleeper", run_id)["sleep"]["state"] == "running",
        120,
        "the sleeper task to run",
    )
    identity = {
        "marker": deploy.procs.marker,
        "roots": [str(root) for root in deploy.procs.roots],
        "live": len(deploy.procs.leftovers()),
    }
    Path(os.environ[PROBE_FILE_VAR]).write_text(json.dumps(identity))
    if os.environ.get(PROBE_VAR) == "interrupt":
        time.sleep(600)  # until ^C (SIGINT) arrives
    raise AssertionError("this scenario fails on purpose")
