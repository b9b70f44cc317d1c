"""Auth on both entrances, the Maton gateway rules and the Maton control host."""

from __future__ import annotations

import requests

from airflow_provider_mailgun.testing import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
)

MSG = {"from": "a@mg.example.com", "to": "b@example.com", "subject": "s", "text": "t"}


def test_contract_constants(emu):
    assert (DEFAULT_DOMAIN, emu.domain) == ("mg.example.com", "mg.example.com")
    assert emu.mailgun_key == DEFAULT_MAILGUN_KEY == "key-emulator-mailgun-0123456789abcdef"
    assert emu.maton_key == DEFAULT_MATON_KEY == "maton-emulator-key-0123456789abcdef"
    assert emu.maton_connection == DEFAULT_MATON_CONNECTION == "8d9e5c3a-4b1f-4c2d-9e6a-000000000001"
    assert emu.gateway_url == emu.url + "/_maton/gateway"
    assert emu.ctrl_url == emu.url + "/_maton/ctrl"


def test_direct_auth_failures(emu):
    url = f"{emu.url}/v3/{emu.domain}"
    for auth in (None, ("api", "wrong"), ("user", emu.mailgun_key)):
        sent = requests.post(f"{url}/messages", data=MSG, auth=auth, timeout=5)
        assert sent.status_code == 401
        assert sent.text == "Forbidden"
        listed = requests.get(f"{url}/bounces", auth=auth, timeout=5)
        assert listed.status_code == 401
        assert listed.json() == {"Error": "unauthorized"}
    v4 = requests.get(f"{emu.url}/v4/domains", auth=("api", "wrong"), timeout=5)
    assert v4.status_code == 401
    assert v4.json() == {"message": "Invalid private key"}
    assert emu.messages() == []


def test_gateway_send_and_auth(emu, gw):
    ok = gw.post(f"/v3/{emu.domain}/messages", data=MSG)
    assert ok.status_code == 200
    assert ok.json()["message"] == "Queued. Thank you."
    assert emu.messages()[0]["recipient"] == "b@example.com"
    log = emu.requests()[-1]
    assert log["entrance"] == "gateway"
    assert log["connection"] == emu.maton_connection
    assert log["path"] == f"/_maton/gateway/mailgun/v3/{emu.domain}/messages"
    assert log["status"] == 200
    assert set(log["form_keys"]) == {"from", "to", "subject", "text"}
    base = f"{emu.gateway_url}/mailgun/v3/domains"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {emu.maton_key}"}):
        denied = requests.get(base, headers=headers, timeout=5)
        assert denied.status_code == 401
        assert "error" in denied.json()
    # The gateway does not accept the Mailgun key either.
    assert requests.get(base, auth=("api", emu.mailgun_key), timeout=5).status_code == 401


def test_gateway_connection_selection(emu, gw):
    unknown = gw.get("/v3/domains", headers={"Maton-Connection": "00000000-dead-beef-0000-000000000000"})
    assert unknown.status_code == 400
    assert "not found" in unknown.json()["error"]
    named = gw.get("/v3/domains", headers={"Maton-Connection": emu.maton_connection})
    assert named.status_code == 200
    newer = emu.add_maton_connection()
    gw.get("/v3/domains")
    assert emu.requests()[-1]["connection"] == emu.maton_connection  # oldest ACTIVE wins
    gw.get("/v3/domains", headers={"Maton-Connection": newer})
    assert emu.requests()[-1]["connection"] == newer
    pending = emu.add_maton_connection(status="PENDING")
    assert gw.get("/v3/domains", headers={"Maton-Connection": pending}).status_code == 400


def test_gateway_without_active_connection(mailgun_emulator_factory):
    emu = mailgun_emulator_factory(maton_connections=())
    response = requests.get(
        f"{emu.gateway_url}/mailgun/v3/domains",
        headers={"Authorization": f"Bearer {emu.maton_key}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "No active connection" in response.json()["error"]


def test_gateway_passes_mailgun_errors_through(emu, gw):
    bad = gw.post(f"/v3/{emu.domain}/messages", data={**MSG, "to": "nope"})
    assert bad.status_code == 400
    assert bad.json() == {"message": "to parameter is not a valid address. please check documentation"}
    assert gw.get("/v3/unknown.example.com/bounces").json() == {"message": "Domain not found"}
    assert gw.get("/v3/mg.example.com%2Fx/bounces").text == "Mailgun Magnificent API"


def test_gateway_paging_urls_point_at_mailgun(emu, gw, api):
    emu.seed_suppressions(emu.domain, "bounces", [f"u{i}@example.com" for i in range(3)])
    page = gw.get(f"/v3/{emu.domain}/bounces?limit=2").json()
    assert len(page["items"]) == 2
    for link in page["paging"].values():
        assert link.startswith(f"https://api.mailgun.net/v3/{emu.domain}/bounces?")
    # A client that rebases https://api.mailgun.net/<rest> onto <gateway>/mailgun/<rest> can follow it.
    rest = page["paging"]["next"].removeprefix("https://api.mailgun.net")
    assert [i["address"] for i in gw.get(rest).json()["items"]] == ["u2@example.com"]
    direct = api.get(f"/v3/{emu.domain}/bounces?limit=2").json()
    assert direct["paging"]["next"].startswith(f"{emu.url}/v3/{emu.domain}/bounces?")
    events = gw.get(f"/v3/{emu.domain}/events").json()
    assert events["paging"]["next"].startswith(f"https://api.mailgun.net/v3/{emu.domain}/events/")


def test_ctrl_connections(emu, ctrl):
    listed = ctrl.get("/connections?app=mailgun&status=ACTIVE")
    assert listed.status_code == 200
    (conn,) = listed.json()["connections"]
    assert conn["connection_id"] == emu.maton_connection
    assert conn["status"] == "ACTIVE"
    assert conn["app"] == "mailgun"
    assert conn["creation_time"].endswith("Z")
    created = ctrl.post("/connections", json={"app": "mailgun"}).json()["connection"]
    assert created["status"] == "PENDING"
    assert created["url"].startswith(emu.url)
    got = ctrl.get(f"/connections/{created['connection_id']}").json()["connection"]
    assert got["connection_id"] == created["connection_id"]
    # Opening the url completes the (emulated) authorisation.
    assert requests.get(created["url"], timeout=5).status_code == 200
    assert ctrl.get(f"/connections/{created['connection_id']}").json()["connection"]["status"] == "ACTIVE"
    assert ctrl.delete(f"/connections/{created['connection_id']}").status_code == 200
    assert ctrl.get(f"/connections/{created['connection_id']}").status_code == 404
    assert requests.get(f"{emu.ctrl_url}/connections", timeout=5).status_code == 401
    assert ctrl.post("/connections", json={}).status_code == 400
