"""The send and list tasks' extra links in the Airflow UI's task instance view, in a real Chromium.

A DAG that sends a small campaign through the emulator (Maton gateway) and syncs a list runs with
``airflow dags test`` against the home of a real ``airflow api-server``; the UI then shows each
task's link as a button in its task instance view (Details tab, "Extra Links"; Airflow 3.0 to
3.3 alike), pointing at the emulator's inbox filtered to that send, and following it shows those
messages and no others. Screenshots:
``test-artifacts/browser/extra-links.png`` (the send task's view with its button),
``extra-links-list.png`` (the list sync's) and ``extra-links-inbox.png`` (where the button leads).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_mailgun.testing import MailgunEmulator

from .airflow_server import AirflowApiServer

DAG_ID = "mailgun_extra_links"
LIST = "news@mg.example.com"
DAG_FILE = f'''
import pendulum
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    MailgunSendMessageOperator(
        task_id="send_newsletter",
        from_email="News <news@mg.example.com>",
        to=[f"reader{{i}}@example.org" for i in range(3)],
        subject="June news",
        text="Hi",
        batch_size=2,
    ) >> MailgunSyncListMembersOperator(
        task_id="sync_list",
        list_address="{LIST}",
        members=["ann@example.org", "bob@example.org"],
        create_list=True,
    )
'''


@pytest.fixture(scope="module")
def ran(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The api-server, the emulator, and the DAG run that went through both (run id, links)."""
    home = tmp_path_factory.mktemp("airflow-links")
    with MailgunEmulator(delivery_delay=0.0) as emu, AirflowApiServer(home) as server:
        (home / "dags" / f"{DAG_ID}.py").write_text(textwrap.dedent(DAG_FILE))
        env = {
            **server.env,
            "AIRFLOW_CONN_MATON_DEFAULT": json.dumps(
                {
                    "conn_type": "maton",
                    "host": emu.gateway_url,
                    "password": emu.maton_key,
                    "extra": {
                        "ctrl_url": emu.ctrl_url,
                        "maton_connection": emu.maton_connection,
                        "default_domain": emu.domain,
                    },
                }
            ),
        }
        airflow = str(Path(sys.executable).with_name("airflow"))
        for command in (["dags", "reserialize"], ["dags", "test", DAG_ID]):
            done = subprocess.run([airflow, *command], env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
        api = _api_session(server.url)
        (run,) = _get(api, f"{server.url}/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
        assert run["state"] == "success"
        yield {"url": server.url, "api": api, "emu": emu, "run_id": run["dag_run_id"]}
        api.close()


def _api_session(url: str) -> requests.Session:
    """A session for the REST API: everyone is admin, but from 3.1 on the API still wants a token,
    which the simple auth manager then hands out without credentials."""
    session = requests.Session()
    token = session.get(f"{url}/auth/token", timeout=30)
    if token.ok:
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def _get(api: requests.Session, url: str) -> Any:
    reply = api.get(url, timeout=30)
    assert reply.status_code == 200, reply.text[:2000]
    return reply.json()


def _links(ran: dict[str, Any], task_id: str) -> dict[str, str]:
    """The task's extra links as the api-server gives them to the UI."""
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{ran['run_id']}/taskInstances/{task_id}/links"
    found = _get(ran["api"], ran["url"] + path)
    return dict(found.get("extra_links", found))


def _task_view(page: Any, ran: dict[str, Any], task_id: str) -> None:
    """The task instance view's Details tab, where Airflow 3 lists the "Extra Links"."""
    page.set_default_timeout(60_000)  # the first UI load compiles a lot of JavaScript
    # The home page first: Airflow 3.1 logs a new browser in there and drops the deep link it came for.
    page.goto(f"{ran['url']}/")
    page.get_by_role("link", name="Dags").first.wait_for(state="visible")
    page.goto(f"{ran['url']}/dags/{DAG_ID}/runs/{ran['run_id']}/tasks/{task_id}/details")
    page.get_by_text("Extra Links", exact=True).wait_for(state="visible")


def test_the_send_tasks_link_is_a_button_in_the_task_view_that_opens_its_messages(
    ran: dict[str, Any], page: Any, screenshot: Callable[..., Path]
) -> None:
    emu: MailgunEmulator = ran["emu"]
    links = _links(ran, "send_newsletter")
    assert set(links) == {"Mailgun messages"}
    target = links["Mailgun messages"]
    assert target.startswith(f"{emu.url}/?q=id%3A")
    assert emu.maton_key not in target

    _task_view(page, ran, "send_newsletter")
    button = page.get_by_role("link", name="Mailgun messages")
    button.wait_for(state="visible")
    assert button.get_attribute("href") == target
    screenshot(page, "extra-links", full_page=False)

    page.goto(target)  # where the button leads: the emulator's inbox, this send only
    rows = page.locator("#messages tbody tr:not(.empty)")
    assert rows.count() == 3
    assert sorted(rows.locator("td:nth-child(3)").all_inner_texts()) == [
        f"reader{i}@example.org" for i in range(3)
    ]
    screenshot(page, "extra-links-inbox")


def test_the_list_syncs_link_opens_the_list(
    ran: dict[str, Any], page: Any, screenshot: Callable[..., Path]
) -> None:
    emu: MailgunEmulator = ran["emu"]
    assert _links(ran, "sync_list") == {"Mailgun list": f"{emu.url}/inbox/lists/{LIST}"}
    _task_view(page, ran, "sync_list")
    button = page.get_by_role("link", name="Mailgun list")
    button.wait_for(state="visible")
    assert button.get_attribute("href") == f"{emu.url}/inbox/lists/{LIST}"
    screenshot(page, "extra-links-list", full_page=False)
