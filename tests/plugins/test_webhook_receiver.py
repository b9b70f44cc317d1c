"""The webhook receiver refuses what is not a genuine, fresh, small JSON Mailgun post, and records
each genuine event once as an asset event (the example DAG's asset)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_mailgun._webhooks.app import create_app
from airflow_provider_mailgun.plugins.webhook_receiver import ReceiverSettings
from airflow_provider_mailgun.webhooks import signature_for
from tests.triggers.airflow_side import asset_events, queued_runs, sync_dag

EXAMPLES = str(Path(__file__).resolve().parents[2] / "example_dags")
ASSET = "mailgun_complaints"
KEY = "key-webhook-signing-0123456789abcdef"
URL = f"/webhooks/{ASSET}"


def event_data(event_id: str = "ev-1", recipient: str = "ann@example.org", **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "event": "complained",
        "timestamp": 1_790_000_000.25,
        "recipient": recipient,
        "message": {"headers": {"message-id": "20260101.1.ABC@mg.example.com"}},
        **fields,
    }


def signed(
    event: dict[str, Any] | None, *, key: str = KEY, age: float = 0.0, token: str | None = None
) -> bytes:
    stamp = str(int(time.time() - age))
    token = token or secrets.token_hex(25)
    body: dict[str, Any] = {
        "signature": {"timestamp": stamp, "token": token, "signature": signature_for(key, stamp, token)}
    }
    if event is not None:
        body["event-data"] = event
    return json.dumps(body).encode()


def post(client: TestClient, body: bytes, url: str = URL, **headers: str) -> Any:
    return client.post(url, content=body, headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def client(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("MAILGUN_EVENTS_CONN_ID", "mailgun_default")
    sync_dag(EXAMPLES, "mailgun_complaints_unsubscribe")
    settings = ReceiverSettings(signing_key=KEY, assets=frozenset({ASSET, "not_in_the_db"}))
    return TestClient(create_app(settings))


def new_events(before: set[int]) -> list[Any]:
    return [event for event in asset_events(ASSET) if event.id not in before]


def test_a_genuine_webhook_becomes_one_asset_event_with_the_trigger_payload(client: TestClient) -> None:
    before = {event.id for event in asset_events(ASSET)}
    reply = post(client, signed(event_data()))
    assert (reply.status_code, reply.json()) == (200, {"message": "Recorded."})
    (recorded,) = new_events(before)
    payload = recorded.extra["payload"]
    assert recorded.extra["from_webhook"] is True
    assert (payload["count"], payload["addresses"], payload["source"]) == (1, ["ann@example.org"], "webhook")
    assert payload["domain"] == "mg.example.com"
    assert payload["events"] == {"complained": 1}
    assert queued_runs("mailgun_complaints_unsubscribe") == 1  # the scheduler would start the DAG


def test_a_replay_is_refused_and_a_repost_is_acknowledged_without_a_second_event(client: TestClient) -> None:
    before = {event.id for event in asset_events(ASSET)}
    body = signed(event_data("ev-2"))
    assert post(client, body).status_code == 200
    assert post(client, body).status_code == 403  # the same signed body again: a replay
    repost = signed(event_data("ev-2"))  # Mailgun's retry: the same event, freshly signed
    assert (post(client, repost).status_code, post(client, repost).status_code) == (200, 403)
    assert len(new_events(before)) == 1


def test_a_replay_reaching_another_worker_is_refused_by_the_database(
    airflow_db: None, client: TestClient
) -> None:
    pytest.importorskip(
        "airflow.models.asset_state_store", reason="claims are kept in the DB from Airflow 3.3"
    )
    body = signed(event_data("ev-3"))
    assert post(client, body).status_code == 200
    other_worker = TestClient(create_app(ReceiverSettings(signing_key=KEY, assets=frozenset({ASSET}))))
    assert post(other_worker, body).status_code == 403


def test_the_same_body_posted_to_four_workers_at_once_is_recorded_once(client: TestClient) -> None:
    before = {event.id for event in asset_events(ASSET)}
    body = signed(event_data("ev-together"))
    settings = ReceiverSettings(signing_key=KEY, assets=frozenset({ASSET}))
    workers = [TestClient(create_app(settings), raise_server_exceptions=False) for _ in range(4)]
    start = threading.Barrier(len(workers))
    statuses: list[int] = []

    def deliver(worker: TestClient) -> None:
        start.wait()
        statuses.append(post(worker, body).status_code)

    threads = [threading.Thread(target=deliver, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 403, 403, 403]
    assert len(new_events(before)) == 1


# Bodies are built when each test runs, not at collection: a signature's age is measured from then.
@pytest.mark.parametrize(
    ("make_body", "headers", "status"),
    [
        (lambda: signed(event_data(), key="key-someone-else-0123456789"), {}, 403),  # wrong key
        (lambda: signed(event_data(), age=16 * 60), {}, 403),  # stale
        (lambda: signed(event_data(), age=-5 * 60), {}, 403),  # from the future
        (lambda: json.dumps({"event-data": event_data()}).encode(), {}, 403),  # unsigned
        (lambda: b"[1, 2, 3]", {}, 403),
        (lambda: b"{not json", {}, 400),
        (lambda: signed(event_data()), {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (lambda: signed(event_data()), {"Content-Type": "text/plain"}, 415),
        (
            lambda: signed(event_data()),
            {"Content-Type": "multipart/form-data; boundary=x"},
            415,
        ),  # legacy form
        (
            lambda: '{"note": "caf\xe9"}'.encode("latin-1"),
            {"Content-Type": "application/json; charset=latin-1"},
            400,
        ),
        (lambda: signed(event_data(notes="x" * 70_000)), {}, 413),  # over the 64 KiB default
        (lambda: signed(None), {}, 406),  # signed, but no event
        (lambda: signed(event_data(event="complained", id=None)), {}, 406),
    ],
)
def test_what_is_not_a_genuine_fresh_small_json_webhook_is_refused(
    client: TestClient, make_body: Callable[[], bytes], headers: dict[str, str], status: int
) -> None:
    before = {event.id for event in asset_events(ASSET)}
    assert post(client, make_body(), **headers).status_code == status
    assert new_events(before) == []


def test_an_oversize_body_without_a_length_is_cut_off(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    reply = client.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 413


def test_assets_not_listed_or_missing_are_not_targets(client: TestClient) -> None:
    unsigned = post(client, json.dumps({"event-data": event_data()}).encode(), url="/webhooks/anything")
    assert unsigned.status_code == 403  # strangers learn nothing about asset names
    assert post(client, signed(event_data("ev-4")), url="/webhooks/anything").status_code == 404
    assert post(client, signed(event_data("ev-5")), url="/webhooks/not_in_the_db").status_code == 404


def test_settings_refuse_a_receiver_that_could_not_be_airtight() -> None:
    with pytest.raises(ValueError, match="signing key"):
        ReceiverSettings(signing_key="", assets=frozenset({ASSET}))
    with pytest.raises(ValueError, match="at least one asset"):
        ReceiverSettings(signing_key=KEY, assets=frozenset())
    with pytest.raises(ValueError, match="whitespace"):
        ReceiverSettings(signing_key=KEY + "\n", assets=frozenset({ASSET}))


def test_deeply_nested_json_is_refused_as_not_json_not_a_server_error(client: TestClient) -> None:
    """Python's JSON decoder gives up on deep nesting with a RecursionError, not a ValueError."""
    client = TestClient(client.app, raise_server_exceptions=False)
    reply = post(client, b"[" * 30_000 + b"]" * 30_000)
    assert (reply.status_code, reply.json()) == (400, {"message": "The body is not JSON."})


def test_a_signing_key_read_from_a_command_is_used_without_its_trailing_newline(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``signing_key_cmd = cat /run/secrets/key`` (or ``echo``) ends with a newline, which Airflow
    keeps: every genuine webhook was refused as forged."""
    monkeypatch.setenv("MAILGUN_EVENTS_CONN_ID", "mailgun_default")
    sync_dag(EXAMPLES, "mailgun_complaints_unsubscribe")
    monkeypatch.setenv("AIRFLOW__MAILGUN_WEBHOOKS__ENABLED", "True")
    monkeypatch.setenv("AIRFLOW__MAILGUN_WEBHOOKS__SIGNING_KEY_CMD", f"echo {KEY}")
    monkeypatch.setenv("AIRFLOW__MAILGUN_WEBHOOKS__ASSETS", ASSET)
    from airflow.providers_manager import ProvidersManager

    ProvidersManager().initialize_providers_configuration()  # as `airflow api-server` does first
    settings = ReceiverSettings.from_airflow_config()
    assert settings is not None
    reply = post(TestClient(create_app(settings)), signed(event_data("ev-cmd")))
    assert reply.status_code == 200


def test_tokens_are_remembered_for_as_long_as_their_timestamp_is_accepted() -> None:
    """Claims on tokens are pruned after two hours: a longer max_age would let a captured signature
    be replayed (with other event data, which the signature does not cover) once its claim is gone."""
    with pytest.raises(ValueError, match="max_age_seconds"):
        ReceiverSettings(signing_key=KEY, assets=frozenset({ASSET}), max_age_seconds=3 * 3600)
    ReceiverSettings(signing_key=KEY, assets=frozenset({ASSET}), max_age_seconds=3600)
