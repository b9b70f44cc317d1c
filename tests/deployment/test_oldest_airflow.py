"""The campaign scenario on Airflow 3.0, where the send ledger is an Airflow Variable written by the
worker through the execution API (there is no task state store before 3.3)."""

from __future__ import annotations

import pytest

from tests.deployment.airflow_stack import Deployment
from tests.deployment.ledger_probe import has_task_state_store
from tests.deployment.scenarios.campaign import campaign_with_a_worker_killed


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_send_on_airflow_3_0(oldest_deployment: Deployment) -> None:
    assert not has_task_state_store(oldest_deployment)  # so the ledger read at the kill was a Variable
    campaign_with_a_worker_killed(oldest_deployment, "Airflow 3.0 Celery workers")
