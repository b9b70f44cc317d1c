"""The scenarios on the newest Airflow: Celery executor, two workers, PostgreSQL and Redis."""

from __future__ import annotations

import pytest

from tests.deployment.airflow_stack import Deployment
from tests.deployment.scenarios.burst import four_chunks_through_the_gateway
from tests.deployment.scenarios.campaign import campaign_with_a_worker_killed
from tests.deployment.scenarios.complaints import complaints_unsubscribe_with_a_triggerer_killed
from tests.deployment.scenarios.operations import list_sync_bounces_and_alerts
from tests.deployment.scenarios.triggerer import triggerer_killed_mid_wait


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_send_mails_every_recipient_once(newest_deployment: Deployment) -> None:
    campaign_with_a_worker_killed(newest_deployment, "Celery workers")


@pytest.mark.timeout(600)
def test_a_triggerer_killed_mid_wait_counts_every_event_once(newest_deployment: Deployment) -> None:
    triggerer_killed_mid_wait(newest_deployment)


@pytest.mark.timeout(600)
def test_list_sync_bounces_and_alerts_from_celery_workers(newest_deployment: Deployment) -> None:
    list_sync_bounces_and_alerts(newest_deployment)


@pytest.mark.timeout(600)
def test_share_of_429_with_four_chunks_at_once_through_the_gateway(newest_deployment: Deployment) -> None:
    four_chunks_through_the_gateway(newest_deployment)


# Last in this module: its asset watcher polls the emulator until the DAG is paused at the end.
@pytest.mark.timeout(600)
def test_complaints_unsubscribed_once_per_batch_with_the_triggerer_killed(
    newest_deployment: Deployment,
) -> None:
    complaints_unsubscribe_with_a_triggerer_killed(newest_deployment)
