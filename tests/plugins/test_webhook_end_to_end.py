"""The receiver for real: the emulator's signed webhook posts over HTTP become asset events, and
Airflow's own api-server mounts the plugin only when it is enabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_mailgun._webhooks.app import create_app
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.plugins.webhook_receiver import ReceiverSettings
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.testing.server import bind_socket, make_server
from airflow_provider_mailgun.webhooks import signature_for
from tests.triggers.airflow_side import asset_events, sync_dag

EXAMPLES = str(Path(__file__).resolve().parents[2] / "example_dags")
ASSET = "mailgun_complaints"
SIGNING_KEY = "key-webhook-signing-e2e-0123456789abcdef"


@pytest.fixture
def receiver(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The receiver app served over HTTP on 127.0.0.1; yields its webhook URL for the asset."""
    monkeypatch.setenv("MAILGUN_EVENTS_CONN_ID", "mailgun_default")
    sync_dag(EXAMPLES, "mailgun_complaints_unsubscribe")
    sock = bind_socket("127.0.0.1", 0)
    server = make_server(create_app(ReceiverSettings(signing_key=SIGNING_KEY, assets=frozenset({ASSET}))))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/{ASSET}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.mailgun_emulator(webhook_signing_key=SIGNING_KEY, webhook_retry_delays=(0.2, 0.2))
def test_emulated_complaints_and_bounces_arrive_as_one_asset_event_each(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, receiver: str
) -> None:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    for webhook in ("complained", "permanent_fail"):
        hook.webhooks.create(hook.domain(), webhook, [receiver])
    hook.messages.send(
        hook.domain(),
        {
            "from": "news@mg.example.com",
            "to": ["ann@example.org", "bob@example.org"],
            "subject": "N",
            "text": "N",
        },
    )
    hook.close()
    before = {event.id for event in asset_events(ASSET)}
    mailgun_emulator.complain("ann@example.org")
    mailgun_emulator.bounce("bob@example.org")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(mailgun_emulator.webhook_deliveries()) < 2:
        time.sleep(0.05)

    assert [d["status"] for d in mailgun_emulator.webhook_deliveries()] == [200, 200]
    new = [event for event in asset_events(ASSET) if event.id not in before]
    assert sorted(e.extra["payload"]["addresses"][0] for e in new) == ["ann@example.org", "bob@example.org"]
    assert all(e.extra["payload"]["domain"] == "mg.example.com" for e in new)


SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app())
body = sys.stdin.buffer.read()
reply = client.post("/mailgun/webhooks/mailgun_complaints", content=body,
                    headers={"Content-Type": "application/json"})
print(json.dumps({"status": reply.status_code, "body": reply.text}))
"""


def _signed_body(event_id: str) -> bytes:
    stamp, token = str(int(time.time())), os.urandom(25).hex()
    return json.dumps(
        {
            "signature": {
                "timestamp": stamp,
                "token": token,
                "signature": signature_for(SIGNING_KEY, stamp, token),
            },
            "event-data": {
                "id": event_id,
                "event": "complained",
                "timestamp": time.time(),
                "recipient": "x@example.org",
            },
        }
    ).encode()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_api_server_mounts_the_receiver_only_when_enabled(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    monkeypatch.setenv("MAILGUN_EVENTS_CONN_ID", "mailgun_default")
    sync_dag(EXAMPLES, "mailgun_complaints_unsubscribe")
    env = {
        **os.environ,
        "AIRFLOW__MAILGUN_WEBHOOKS__ENABLED": str(enabled),
        "AIRFLOW__MAILGUN_WEBHOOKS__SIGNING_KEY": SIGNING_KEY,
        "AIRFLOW__MAILGUN_WEBHOOKS__ASSETS": ASSET,
    }
    before = {event.id for event in asset_events(ASSET)}
    done = subprocess.run(  # a fresh process: Airflow loads plugins once per process
        [sys.executable, "-c", SCRIPT],
        input=_signed_body(f"api-{enabled}"),
        capture_output=True,
        env=env,
        timeout=240,
        check=True,
    )
    reply = json.loads(done.stdout.decode().strip().splitlines()[-1])
    new = [event for event in asset_events(ASSET) if event.id not in before]
    if enabled:
        assert reply == {"status": 200, "body": '{"message":"Recorded."}'}
        assert len(new) == 1
    else:
        assert reply["status"] in (404, 405)  # no such route: Airflow's UI catch-all answers
        assert new == []
