"""Suppressions: alphabetical cursor paging, single/bulk adds, deletes, exact wording, null items."""

from __future__ import annotations

import pytest

KINDS = ("bounces", "unsubscribes", "complaints")


def _walk(api, url):
    """Follow paging.next until an empty (or null) page; returns all addresses in order."""
    seen, guard = [], 0
    while guard < 100:
        page = api.get(url).json()
        items = page["items"] or []
        if not items:
            return seen
        seen += [i.get("address", i.get("value")) for i in items]
        url, guard = page["paging"]["next"], guard + 1
    raise AssertionError("paging did not terminate")


def test_alphabetical_cursor_paging(api, emu):
    addresses = [f"user{i:04d}@example.com" for i in range(2500)]
    emu.seed_suppressions(emu.domain, "bounces", reversed(addresses))
    url = f"/v3/{emu.domain}/bounces"
    page = api.get(url, params={"limit": 1000}).json()
    assert len(page["items"]) == 1000
    assert page["items"][0]["address"] == "user0000@example.com"
    assert set(page["paging"]) == {"first", "last", "next", "previous"}
    assert "page=next" in page["paging"]["next"]
    assert "address=user0999%40example.com" in page["paging"]["next"]
    assert _walk(api, url + "?limit=1000") == addresses
    last = api.get(page["paging"]["last"]).json()
    assert last["items"][-1]["address"] == "user2499@example.com"
    prev = api.get(api.get(page["paging"]["next"]).json()["paging"]["previous"]).json()
    assert prev["items"][0]["address"] == "user0000@example.com"
    assert api.get(url, params={"limit": 1001}).status_code == 400
    term = api.get(url, params={"term": "user00", "limit": 5}).json()
    assert [i["address"] for i in term["items"]][-1] == "user0004@example.com"


def test_record_shapes(api, emu):
    d = emu.domain
    api.post(f"/v3/{d}/bounces", data={"address": "b@example.com", "code": "554", "error": "No"})
    api.post(f"/v3/{d}/unsubscribes", data={"address": "u@example.com", "tag": "news"})
    api.post(f"/v3/{d}/complaints", data={"address": "c@example.com"})
    added = api.post(f"/v3/{d}/whitelists", data={"domain": "good.example.com", "reason": "partner"})
    assert added.json() == {
        "message": "Address/Domain has been added to the allowlists table",
        "type": "domain",
        "value": "good.example.com",
    }
    bounce = api.get(f"/v3/{d}/bounces/b@example.com").json()
    assert bounce["code"] == "554"
    assert bounce["error"] == "No"
    assert bounce["created_at"].endswith("UTC")
    assert api.get(f"/v3/{d}/unsubscribes/u@example.com").json()["tags"] == ["news"]
    assert set(api.get(f"/v3/{d}/complaints/c@example.com").json()) == {"address", "created_at"}
    allow = api.get(f"/v3/{d}/whitelists").json()["items"][0]
    assert set(allow) == {"value", "reason", "type", "createdAt"}


@pytest.mark.parametrize(
    ("kind", "single", "bulk"),
    [
        (
            "bounces",
            "Address has been added to the bounces table",
            "2 addresses have been added to the bounces table",
        ),
        (
            "unsubscribes",
            "Address has been added to the unsubscribes table",
            "2 addresses have been added to the unsubscribes table",
        ),
        (
            "complaints",
            "Address has been added to the complaints table",
            "2 complaint addresses have been added to the complaints table",
        ),
    ],
)
def test_add_single_and_bulk_wording(api, emu, kind, single, bulk):
    url = f"/v3/{emu.domain}/{kind}"
    one = api.post(url, data={"address": "one@example.com"})
    assert one.json() == {"message": single, "address": "one@example.com"}
    two = api.post(url, json=[{"address": "a@example.com"}, {"address": "b@example.com"}])
    assert two.status_code == 200
    assert two.json() == {"message": bulk}
    too_big = api.post(url, json=[{"address": f"x{i}@example.com"} for i in range(1001)])
    assert too_big.status_code == 400
    assert too_big.json() == {"message": "Batch size should be less than 1000"}
    assert api.post(url, json=[{"address": f"y{i}@example.com"} for i in range(1000)]).status_code == 200
    assert api.post(url, data={}).status_code == 400


@pytest.mark.parametrize(
    ("kind", "missing", "removed", "cleared"),
    [
        (
            "bounces",
            "Address not found in bounces table",
            "Bounced address has been removed",
            "Bounced addresses for this domain have been removed",
        ),
        (
            "unsubscribes",
            "Address not found in unsubscribers table",
            "Unsubscribe event has been removed",
            "Unsubscribe addresses for this domain have been removed",
        ),
        (
            "complaints",
            "No spam complaints found for this address",
            "Spam complaint has been removed",
            "Complaint addresses for this domain have been removed",
        ),
    ],
)
def test_delete_wording(api, emu, kind, missing, removed, cleared):
    url = f"/v3/{emu.domain}/{kind}"
    emu.seed_suppressions(emu.domain, kind, ["a@example.com", "b@example.com"])
    assert api.get(f"{url}/nobody@example.com").json() == {"message": missing}
    assert api.delete(f"{url}/nobody@example.com").status_code == 404
    assert api.delete(f"{url}/a@example.com").json() == {"message": removed, "address": "a@example.com"}
    assert api.delete(url).json() == {"message": cleared}
    assert api.get(url).json()["items"] == []


def test_unsubscribe_tag_delete_and_whitelist_delete(api, emu):
    d = emu.domain
    api.post(f"/v3/{d}/unsubscribes", data={"address": "u@example.com", "tag": "a"})
    api.post(f"/v3/{d}/unsubscribes", data={"address": "u@example.com", "tag": "b"})
    assert api.get(f"/v3/{d}/unsubscribes/u@example.com").json()["tags"] == ["a", "b"]
    assert api.delete(f"/v3/{d}/unsubscribes/u@example.com", params={"tag": "zzz"}).status_code == 404
    api.delete(f"/v3/{d}/unsubscribes/u@example.com", params={"tag": "a"})
    assert api.get(f"/v3/{d}/unsubscribes/u@example.com").json()["tags"] == ["b"]
    api.post(f"/v3/{d}/whitelists", data={"address": "w@example.com"})
    gone = api.delete(f"/v3/{d}/whitelists/w@example.com").json()
    assert gone == {"message": "Allowlist address/domain has been removed", "value": "w@example.com"}
    assert api.get(f"/v3/{d}/whitelists/w@example.com").json() == {
        "message": "Address/Domain not found in allowlist table"
    }


def test_whitelisted_bounce_is_not_added(send, emu):
    emu.seed_suppressions(emu.domain, "whitelists", ["example.org"])
    send(to="bounce@example.org")
    assert emu.events("failed")[0]["reason"] == "bounce"
    assert "bounce@example.org" not in emu.state.domains[emu.domain].suppressions["bounces"]


def test_csv_import(api, emu):
    csv_data = b"address,code,error\na@example.com,550,gone\nb@example.com,,\n"
    reply = api.post(f"/v3/{emu.domain}/bounces/import", files={"file": ("b.csv", csv_data, "text/csv")})
    assert reply.status_code == 202
    assert reply.json() == {"message": "file uploaded successfully for processing. standby..."}
    assert api.get(f"/v3/{emu.domain}/bounces/b@example.com").json()["code"] == "550"
    bad = api.post(f"/v3/{emu.domain}/bounces/import", files={"file": ("b.csv", b"who\nx\n", "text/csv")})
    assert bad.status_code == 400
    assert bad.json() == {"message": "while reading csv header"}


def test_null_items_past_end_fault(api, emu):
    emu.seed_suppressions(emu.domain, "bounces", ["a@example.com", "b@example.com"])
    emu.set_faults({"null_items_past_end": True})
    page = api.get(f"/v3/{emu.domain}/bounces", params={"limit": 2}).json()
    assert len(page["items"]) == 2
    past = api.get(page["paging"]["next"])
    assert past.status_code == 200
    assert past.json()["items"] is None
    assert set(past.json()["paging"]) == {"first", "last", "next", "previous"}
    assert _walk(api, f"/v3/{emu.domain}/bounces?limit=1") == ["a@example.com", "b@example.com"]
    assert emu.stats()["faults"]["null_items"] == 2
