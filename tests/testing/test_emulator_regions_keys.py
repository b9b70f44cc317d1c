"""The emulator answers as Mailgun and Maton do for EU domains, public and sending keys, Maton
connections in other states, and complaints or bounces recorded on demand."""

from __future__ import annotations

import requests

from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.testing.defaults import DEFAULT_PUBLIC_KEY
from tests.testing.conftest import Api

EU = "mg.example.eu"
SEND = {"from": "a@mg.example.eu", "to": "bob@example.org", "subject": "Hi", "text": "Hi"}


def test_an_eu_domain_lives_on_the_eu_host_only(emu: MailgunEmulator, api: Api, gw: Api) -> None:
    emu.add_domain(EU, region="eu")
    eu = Api(emu.eu_url, auth=("api", emu.mailgun_key))  # account keys work on both hosts
    try:
        assert eu.post(f"/v3/{EU}/messages", data=SEND).status_code == 200
        page = eu.get(f"/v3/{EU}/events", params={"ascending": "yes", "limit": 10}).json()
        assert {item["event"] for item in page["items"]} == {"accepted", "delivered"}
        assert page["paging"]["next"].startswith(f"{emu.eu_url}/v3/{EU}/events/")
        assert eu.get(page["paging"]["next"]).status_code == 200
        assert eu.get(f"/v3/domains/{emu.domain}").json() == {"message": "Domain not found"}
    finally:
        eu.close()
    wrong = api.get(f"/v3/{EU}/events", params={"ascending": "yes"})
    assert (wrong.status_code, wrong.json()) == (404, {"message": "Domain not found"})
    sent = api.post(f"/v3/{EU}/messages", data=SEND)
    assert (sent.status_code, sent.json()) == (404, {"message": f"Domain not found: {EU}"})
    assert api.get(f"/v4/domains/{EU}").status_code == 404
    assert gw.get(f"/v3/domains/{EU}").status_code == 404  # Maton reaches the US region only
    assert api.get(f"/v3/{emu.domain}/events", params={"ascending": "yes"}).status_code == 200


def test_eu_domains_from_the_constructor_and_the_control_api(mailgun_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    emu = mailgun_emulator_factory(eu_domains=[EU])
    assert requests.post(f"{emu.url}/_emulator/domains", json={"name": "two.example.eu", "region": "eu"}).ok
    auth = ("api", emu.mailgun_key)
    for name in (EU, "two.example.eu"):
        assert requests.get(f"{emu.eu_url}/v3/domains/{name}", auth=auth).status_code == 200
        assert requests.get(f"{emu.url}/v3/domains/{name}", auth=auth).status_code == 404
    emu.reset()
    assert requests.get(f"{emu.eu_url}/v3/domains/{EU}", auth=auth).status_code == 200


def test_a_sending_key_only_sends_and_only_on_its_domain(emu: MailgunEmulator) -> None:
    emu.add_domain("other.example.com")
    key = emu.add_sending_key(emu.domain)
    sender = Api(emu.url, auth=("api", key))
    try:
        ok = sender.post(f"/v3/{emu.domain}/messages", data={**SEND, "from": "a@mg.example.com"})
        assert ok.status_code == 200
        other = sender.post("/v3/other.example.com/messages", data={**SEND, "from": "a@other.example.com"})
        assert (other.status_code, other.text) == (401, "Forbidden")
        read = sender.get(f"/v3/{emu.domain}/events")
        assert (read.status_code, read.json()) == (401, {"Error": "unauthorized"})
        assert sender.get("/v3/lists/pages").status_code == 401
        empty = sender.post(f"/v3/{emu.domain}/messages", data={})
        assert empty.status_code == 400  # past authentication, refused as incomplete
    finally:
        sender.close()
    assert len(emu.messages()) == 1


def test_a_public_key_opens_nothing(emu: MailgunEmulator) -> None:
    public = Api(emu.url, auth=("api", DEFAULT_PUBLIC_KEY))
    try:
        assert public.get("/v3/domains").status_code == 401
        assert public.post(f"/v3/{emu.domain}/messages", data={**SEND, "from": "a@mg.example.com"}).text == (
            "Forbidden"
        )
    finally:
        public.close()


def test_maton_connections_in_other_states_and_of_other_apps(
    emu: MailgunEmulator, gw: Api, ctrl: Api
) -> None:
    pending = emu.add_maton_connection(status="PENDING")
    failed = emu.add_maton_connection(status="FAILED")
    slack = emu.add_maton_connection(app="slack")
    listed = {
        c["connection_id"]: (c["status"], c["app"]) for c in ctrl.get("/connections").json()["connections"]
    }
    assert listed[pending] == ("PENDING", "mailgun")
    assert listed[failed] == ("FAILED", "mailgun")
    assert listed[slack] == ("ACTIVE", "slack")
    for conn_id in (pending, failed, slack):
        answer = gw.get("/v3/domains", headers={"Maton-Connection": conn_id})
        assert answer.status_code == 400
        assert conn_id in answer.json()["error"]
    assert ctrl.get(f"/connections/{slack}").json()["connection"]["app"] == "slack"


def test_complaints_and_bounces_on_demand(emu: MailgunEmulator, api: Api) -> None:
    api.post(f"/v3/{emu.domain}/messages", data={**SEND, "from": "a@mg.example.com", "to": "ann@example.org"})
    added = requests.post(
        f"{emu.url}/_emulator/events",
        json={"event": "complained", "recipient": "ann@example.org"},
        timeout=10,
    )
    assert added.status_code == 200
    assert added.json()["event"]["event"] == "complained"
    bounced = emu.bounce("ann@example.org", index_delay=60)  # indexed a minute late
    assert (bounced["event"], bounced["severity"], bounced["reason"]) == ("failed", "permanent", "bounce")
    visible = api.get(
        f"/v3/{emu.domain}/events", params={"ascending": "yes", "event": "complained OR failed"}
    )
    assert [item["event"] for item in visible.json()["items"]] == ["complained"]
    emu.advance_events(61)
    visible = api.get(
        f"/v3/{emu.domain}/events", params={"ascending": "yes", "event": "complained OR failed"}
    )
    assert [item["event"] for item in visible.json()["items"]] == ["complained", "failed"]
    assert api.get(f"/v3/{emu.domain}/complaints/ann@example.org").status_code == 200
    assert api.get(f"/v3/{emu.domain}/bounces/ann@example.org").status_code == 200
    nobody = requests.post(
        f"{emu.url}/_emulator/events",
        json={"event": "complained", "recipient": "zed@example.org"},
        timeout=10,
    )
    assert nobody.status_code == 400
    assert "No message was sent to zed@example.org" in nobody.json()["message"]
    odd = requests.post(
        f"{emu.url}/_emulator/events", json={"event": "opened", "recipient": "ann@example.org"}
    )
    assert odd.status_code == 400


def test_several_complaints_and_bounces_recorded_at_once(emu: MailgunEmulator, api: Api) -> None:
    """A list under ``events`` is recorded as one step (a poll sees all of it or none of it); a
    bad item records nothing."""
    people = ["ann@example.org", "bob@example.org", "cid@example.org"]
    api.post(f"/v3/{emu.domain}/messages", data={**SEND, "from": "a@mg.example.com", "to": ",".join(people)})
    refused = requests.post(
        f"{emu.url}/_emulator/events",
        json={
            "events": [
                {"event": "complained", "recipient": people[0]},
                {"event": "complained", "recipient": "zed@example.org"},
            ]
        },
        timeout=10,
    )
    assert refused.status_code == 400
    assert "events[1]" in refused.json()["message"]
    assert "No message was sent to zed@example.org" in refused.json()["message"]
    assert emu.state.events.count == 6  # nothing recorded: the accepted and delivered events only
    added = requests.post(
        f"{emu.url}/_emulator/events",
        json={
            "events": [
                {"event": "complained", "recipient": people[0]},
                {"event": "failed", "recipient": people[1]},
                {"event": "complained", "recipient": people[2], "index_delay": 60},
            ]
        },
        timeout=10,
    )
    assert added.status_code == 200
    assert [(e["event"], e["recipient"]) for e in added.json()["events"]] == [
        ("complained", people[0]),
        ("failed", people[1]),
        ("complained", people[2]),
    ]
    visible = api.get(
        f"/v3/{emu.domain}/events", params={"ascending": "yes", "event": "complained OR failed"}
    )
    assert [item["recipient"] for item in visible.json()["items"]] == people[:2]
    for bad in ({"events": "ann@example.org"}, {"events": [1]}, {"events": []}):
        answer = requests.post(f"{emu.url}/_emulator/events", json=bad, timeout=10)
        assert answer.status_code == 400, bad
