"""Extra links after real DAG runs (``dag.test()``): what the UI shows for each kind of connection.

Each link is read as the api-server reads it: the XCom the task runner stored under the link's
``xcom_key`` when the task finished (it called ``get_link`` with the task instance's key then).
Runs against the emulator link into its web inbox, and those links are opened over HTTP. Runs on
connections to Mailgun's own hosts (US, EU, Maton) reach no host at all: every request is sent to
a closed local port (``HTTPS_PROXY``), so the tasks fail, and their links must still be there.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pendulum
import pytest
import requests
from airflow.sdk import DAG

from airflow_provider_mailgun.links.mailgun import LINK_XCOM_KEY, MailgunListLink, MailgunMessagesLink
from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.browser.airflow_server import free_port
from tests.dag_runner import run_dag, task_states, xcom_result

START = pendulum.datetime(2026, 1, 1, tz="UTC")
LIST = "news@mg.example.com"
MESSAGES_KEY = MailgunMessagesLink().xcom_key
LIST_KEY = MailgunListLink().xcom_key


def _campaign(dag_id: str, conn_id: str) -> DAG:
    """Send to three people in batches of two, wait for delivery, sync a list."""
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        send = MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=conn_id,
            from_email="News <news@mg.example.com>",
            to=[{"address": f"reader{i}@example.org", "vars": {"first": f"Reader {i}"}} for i in range(3)],
            subject="Hello %recipient.first%",
            text="Hi",
            batch_size=2,
            retries=0,
        )
        wait = MailgunDeliverySensor(
            task_id="wait",
            mailgun_conn_id=conn_id,
            message_ids=send.output,
            poke_interval=0.2,
            timeout=60,
            retries=0,
        )
        sync = MailgunSyncListMembersOperator(
            task_id="sync",
            mailgun_conn_id=conn_id,
            list_address=LIST,
            members=["ann@example.org", "bob@example.org"],
            create_list=True,
            retries=0,
        )
        send >> wait >> sync
    return dag


def _rows(html: str) -> list[str]:
    """The recipients shown in the inbox's message table."""
    body = html.split('id="messages"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"reader\d@example\.org|[a-z]+@example\.org", body)


@pytest.mark.parametrize("kind", ["maton", "mailgun-us", "mailgun-eu"])
def test_emulator_links_open_the_inbox_on_the_send_and_the_list(
    kind: str, airflow_db: None, mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = mailgun_emulator
    conn: dict[str, Any] = {"conn_type": "mailgun", "password": emu.mailgun_key}
    if kind == "maton":
        conn = {
            "conn_type": "maton",
            "host": emu.gateway_url,
            "password": emu.maton_key,
            "extra": {"ctrl_url": emu.ctrl_url, "maton_connection": emu.maton_connection},
        }
    conn.setdefault("extra", {})["default_domain"] = emu.domain
    if kind == "mailgun-us":
        conn["host"] = emu.url
    if kind == "mailgun-eu":
        emu.add_domain("mg.example.eu", region="eu")
        conn["host"], conn["extra"] = emu.eu_url, {"region": "eu", "default_domain": "mg.example.eu"}
    monkeypatch.setenv("AIRFLOW_CONN_LINKS_EMU", json.dumps(conn))
    other = requests.post(
        f"{emu.url}/v3/{emu.domain}/messages",
        auth=("api", emu.mailgun_key),
        data={"from": "a@mg.example.com", "to": "zed@example.org", "subject": "Not ours", "text": "x"},
        timeout=10,
    )
    assert other.ok
    dag_run = run_dag(_campaign(f"links_emulator_{kind.replace('-', '_')}", "links_emu"))
    assert task_states(dag_run) == {"send": "success", "wait": "success", "sync": "success"}

    sent = xcom_result(dag_run, "send")
    send_link = xcom_result(dag_run, "send", key=MESSAGES_KEY)
    wait_link = xcom_result(dag_run, "wait", key=MESSAGES_KEY)
    list_link = xcom_result(dag_run, "sync", key=LIST_KEY)
    assert len(sent["message_ids"]) == 2
    origin = emu.url
    assert send_link.startswith(f"{origin}/?q=id%3A")
    assert wait_link == send_link  # the sensor waited for exactly the messages the send sent
    assert list_link == f"{origin}/inbox/lists/{LIST}"
    for link in (send_link, list_link):
        assert emu.mailgun_key not in link
        assert emu.maton_key not in link

    page = requests.get(send_link, timeout=10)
    assert page.status_code == 200
    assert sorted(_rows(page.text)) == [f"reader{i}@example.org" for i in range(3)]
    listed = requests.get(list_link, timeout=10)
    assert listed.status_code == 200
    assert "ann@example.org" in listed.text
    assert "bob@example.org" in listed.text
    # What the links are computed from, as the task stored it (no key in it either).
    stored = xcom_result(dag_run, "send", key=LINK_XCOM_KEY)
    assert stored["emulator"] is True
    assert stored["site"] == origin
    assert emu.mailgun_key not in json.dumps(stored)
    assert emu.maton_key not in json.dumps(stored)


@pytest.mark.parametrize(
    ("kind", "dashboard"),
    [
        ("maton", "https://app.mailgun.com"),
        ("mailgun-us", "https://app.mailgun.com"),
        ("mailgun-eu", "https://app.eu.mailgun.com"),
    ],
)
def test_links_of_mailgun_hosts_open_the_dashboard_even_when_the_tasks_fail(
    kind: str, dashboard: str, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: every request fails at once
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, closed)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    extra = {"default_domain": "mg.example.com", "max_attempts": 1}
    if kind == "maton":
        conn = {"conn_type": "maton", "password": "maton-secret-key", "extra": extra}
    else:
        conn = {"conn_type": "mailgun", "password": "key-secret", "extra": {**extra, "region": kind[-2:]}}
    monkeypatch.setenv("AIRFLOW_CONN_LINKS_REAL", json.dumps(conn))
    with DAG(f"links_real_{kind.replace('-', '_')}", schedule=None, start_date=START, catchup=False) as dag:
        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id="links_real",
            from_email="a@mg.example.com",
            to="bob@example.org",
            subject="Hi",
            text="Hi",
            retries=0,
        )
        MailgunDeliverySensor(
            task_id="wait",
            mailgun_conn_id="links_real",
            message_ids=["<1.2@mg.example.com>"],
            poke_interval=0.1,
            timeout=5,
            retries=0,
        )
        MailgunSyncListMembersOperator(
            task_id="sync",
            mailgun_conn_id="links_real",
            list_address=LIST,
            members=["ann@example.org"],
            retries=0,
        )
    dag_run = run_dag(dag)
    assert set(task_states(dag_run).values()) == {"failed"}
    logs = f"{dashboard}/mg/sending/domains/mg.example.com/logs"
    assert xcom_result(dag_run, "send", key=MESSAGES_KEY) == logs
    assert xcom_result(dag_run, "wait", key=MESSAGES_KEY) == logs
    assert (
        xcom_result(dag_run, "sync", key=LIST_KEY)
        == f"{dashboard}/mg/sending/mailing-lists/news%40mg.example.com"
    )
