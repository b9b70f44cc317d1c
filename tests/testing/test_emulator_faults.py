"""Fault injection (errors, resets, slow replies, drop-after-store) and the per-account rate limit."""

from __future__ import annotations

import json
import time

import pytest
import requests

MSG = {"from": "a@mg.example.com", "to": "b@example.com", "subject": "s", "text": "t"}


def _post(api, emu, **kwargs):
    return api.post(f"/v3/{emu.domain}/messages", data=MSG, **kwargs)


def test_server_errors_before_state_change(api, emu):
    emu.set_faults({"error_rate": 1.0, "statuses": [500, 502, 503]})
    codes = set()
    for _ in range(10):
        reply = _post(api, emu)
        codes.add(reply.status_code)
        assert reply.json() == {"message": "Internal Server Error"}
    assert codes <= {500, 502, 503}
    assert len(codes) > 1
    assert emu.messages() == []
    assert emu.events() == []
    faults = emu.stats()["faults"]
    assert sum(faults.values()) == 10
    assert set(faults) <= {"http_500", "http_502", "http_503"}
    emu.clear_faults()
    assert _post(api, emu).status_code == 200


@pytest.mark.parametrize(
    ("status", "what"), [(429, "request limit exceeded"), (420, "recipient limit exceeded")]
)
def test_rate_limit_style_faults(api, emu, status, what):
    emu.set_faults({"error_at": {"1": status}, "retry_after": 3})
    reply = _post(api, emu)
    assert reply.status_code == status
    message = reply.json()["message"]
    assert message.startswith(f"Domain {emu.domain} is not allowed to send: {what}, try again after ")
    assert reply.headers["Retry-After"] == "3"
    assert abs(float(reply.headers["X-RateLimit-Reset"]) - (time.time() + 3)) < 2
    assert _post(api, emu).status_code == 200  # only the first matching request


def test_connection_reset_before_processing(api, emu):
    emu.set_faults({"reset_at": [1]})
    with pytest.raises(requests.ConnectionError):
        _post(api, emu)
    assert emu.messages() == []
    assert _post(api, emu).status_code == 200  # the server (and the client's pool) carry on
    log = emu.requests()
    assert (log[0]["fault"], log[0]["status"]) == ("reset", 0)
    assert emu.stats()["faults"] == {"reset": 1}


def test_drop_after_store_stores_then_drops(api, emu):
    emu.set_faults({"drop_after_store": [2], "path": "/messages"})
    assert api.get(f"/v3/{emu.domain}/bounces").status_code == 200  # not a send: not counted
    assert _post(api, emu).status_code == 200
    with pytest.raises(requests.ConnectionError):
        api.post(f"/v3/{emu.domain}/messages", data={**MSG, "to": "dropped@example.com"})
    assert _post(api, emu).status_code == 200
    # The dropped send is fully stored with its events: a blind retry would send it twice.
    assert [m["recipient"] for m in emu.messages()] == [
        "b@example.com",
        "dropped@example.com",
        "b@example.com",
    ]
    assert len(emu.events("delivered", recipient="dropped@example.com")) == 1
    assert emu.stats()["faults"] == {"drop_after_store": 1}
    assert [r["fault"] for r in emu.requests()] == [None, None, "drop_after_store", None]


def test_slow_replies(api, emu):
    emu.set_faults({"slow_at": [1, 2], "slow_seconds": 0.4})
    with pytest.raises(requests.ReadTimeout):
        _post(api, emu, timeout=0.1)
    started = time.monotonic()
    assert api.get("/v3/domains").status_code == 200
    assert time.monotonic() - started >= 0.35
    time.sleep(0.35)  # let the timed-out request finish on the server


def test_path_and_method_filters(api, emu):
    emu.set_faults({"error_rate": 1.0, "statuses": [503], "path": "/messages", "methods": ["POST"]})
    assert api.get(f"/v3/{emu.domain}/bounces").status_code == 200
    assert api.get(f"/v3/{emu.domain}/events").status_code == 200
    assert _post(api, emu).status_code == 503


def test_gateway_entrance_gets_faults_too(gw, emu):
    emu.set_faults({"error_at": {"1": 500}})
    assert gw.post(f"/v3/{emu.domain}/messages", data=MSG).status_code == 500
    assert gw.post(f"/v3/{emu.domain}/messages", data=MSG).status_code == 200


def test_faults_are_reproducible_with_seed(mailgun_emulator_factory):
    spec = {"error_rate": 0.5, "statuses": [429, 500, 503], "reset_rate": 0.0}
    runs = []
    for _ in range(2):
        emu = mailgun_emulator_factory(faults=spec, seed=7)
        session = requests.Session()
        session.auth = ("api", emu.mailgun_key)
        runs.append([session.get(f"{emu.url}/v3/domains", timeout=5).status_code for _ in range(30)])
        session.close()
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1


def test_faults_via_control_plane(api, emu):
    spec = api.post("/_emulator/faults", json={"error_rate": 1.0, "statuses": [502], "path": "/domains"})
    assert spec.status_code == 200
    assert spec.json()["faults"]["statuses"] == [502]
    assert api.get("/v3/domains").status_code == 502
    assert api.get("/_emulator/faults").json()["faults"]["path"] == "/domains"
    assert api.post("/_emulator/faults", json={"nonsense": 1}).status_code == 400
    assert api.delete("/_emulator/faults").json() == {"faults": None}
    assert api.get("/v3/domains").status_code == 200
    assert api.get("/_emulator/stats").json()["faults"] == {"http_502": 1}


@pytest.mark.mailgun_emulator(rate_limit=5)
def test_rate_limit_per_account(emu):
    direct = requests.Session()
    direct.auth = ("api", emu.mailgun_key)
    statuses = [direct.get(f"{emu.url}/v3/domains", timeout=5) for _ in range(7)]
    assert [r.status_code for r in statuses[:5]] == [200] * 5
    limited = statuses[5]
    assert limited.status_code == 429
    assert "message" in limited.json()
    assert int(limited.headers["Retry-After"]) >= 1
    assert float(limited.headers["X-RateLimit-Reset"]) >= time.time()
    # The gateway's Maton key is a different account with its own bucket.
    gateway = requests.get(
        f"{emu.gateway_url}/mailgun/v3/domains",
        headers={"Authorization": f"Bearer {emu.maton_key}"},
        timeout=5,
    )
    assert gateway.status_code == 200
    time.sleep(0.25)
    assert direct.get(f"{emu.url}/v3/domains", timeout=5).status_code == 200  # refilled
    assert emu.stats()["rate_limited"] >= 2
    emu.set_rate_limit(None)
    assert all(direct.get(f"{emu.url}/v3/domains", timeout=5).status_code == 200 for _ in range(10))


def test_gateway_rate_limit_body(emu):
    emu.set_rate_limit(1)
    headers = {"Authorization": f"Bearer {emu.maton_key}"}
    url = f"{emu.gateway_url}/mailgun/v3/domains"
    replies = [requests.get(url, headers=headers, timeout=5) for _ in range(2)]
    assert replies[1].status_code == 429
    assert "error" in replies[1].json()
    assert "Retry-After" in replies[1].headers
    assert "X-RateLimit-Reset" in replies[1].headers


def test_rate_limit_as_part_of_a_fault_spec(api, emu):
    """The rate limit is one of the faults: POST /_emulator/faults installs it, DELETE removes it."""
    assert api.post("/_emulator/faults", json={"rate_limit": 3}).json()["faults"]["rate_limit"] == 3
    statuses = [api.get("/v3/domains") for _ in range(5)]
    assert [r.status_code for r in statuses[:3]] == [200] * 3
    assert statuses[3].status_code == 429
    assert statuses[3].headers["Retry-After"] == "1"
    assert "X-RateLimit-Reset" in statuses[3].headers
    assert api.delete("/_emulator/faults").json() == {"faults": None}
    assert all(api.get("/v3/domains").status_code == 200 for _ in range(10))
    assert api.post("/_emulator/faults", json={"rate_limit": 0}).status_code == 400
    # A limiter set on its own is left alone when faults are cleared.
    emu.set_rate_limit(2)
    emu.set_faults({"error_at": {"99": 500}})
    emu.clear_faults()
    assert emu.state.rate_limiter is not None


@pytest.mark.mailgun_emulator(faults={"rate_limit": 2})
def test_rate_limit_in_constructor_fault_spec(emu):
    with requests.Session() as gateway:
        gateway.headers["Authorization"] = f"Bearer {emu.maton_key}"
        replies = [gateway.get(f"{emu.gateway_url}/mailgun/v3/domains", timeout=5) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert replies[2].json()["error"].startswith("Rate limit exceeded")
    emu.clear_faults()
    assert emu.state.rate_limiter is None


def _seeded_run(emu) -> dict[str, object]:
    """Everything random-looking one short session produces."""
    with requests.Session() as session:
        session.auth = ("api", emu.mailgun_key)
        base = f"{emu.url}/v3/{emu.domain}"
        sent = session.post(f"{base}/messages", data={**MSG, "to": "bounce@example.com"}, timeout=5).json()
        template = session.post(f"{base}/templates", data={"name": "t", "template": "x"}, timeout=5).json()
        session.post(f"{emu.url}/v3/lists", data={"address": "l@mg.example.com"}, timeout=5)
        members = [f"m{i}@example.com" for i in range(101)]
        upload = session.post(
            f"{emu.url}/v3/lists/l@mg.example.com/members.json",
            data={"members": json.dumps(members)},
            timeout=5,
        ).json()
        statuses = [session.get(f"{emu.url}/v3/domains", timeout=5).status_code for _ in range(20)]
    return {
        "message_rand": sent["id"].split(".")[2],
        "template_ids": (template["template"]["id"], template["template"]["version"]["id"]),
        "task_id": upload["task-id"],
        "event_ids": [e["id"] for e in emu.events()],
        "statuses": statuses,
    }


def test_seed_makes_ids_and_faults_reproducible(mailgun_emulator_factory):
    spec = {"error_rate": 0.5, "statuses": [500, 503], "path": "/domains"}
    first = _seeded_run(mailgun_emulator_factory(faults=spec, seed=5))
    again = _seeded_run(mailgun_emulator_factory(faults=spec, seed=5))
    other = _seeded_run(mailgun_emulator_factory(faults=spec, seed=6))
    assert first == again
    for key in first:
        assert first[key] != other[key], key
