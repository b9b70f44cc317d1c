"""Mailing lists and members: CRUD, pages, limits, members.json / members.csv uploads."""

from __future__ import annotations

import json
import time

import pytest

LIST = "news@mg.example.com"


@pytest.fixture
def mlist(api):
    created = api.post("/v3/lists", data={"address": LIST, "name": "News", "description": "d"})
    assert created.status_code == 200, created.text
    return LIST


def test_list_crud_and_messages(api, mlist):
    body = api.get(f"/v3/lists/{mlist}").json()["list"]
    assert body["address"] == LIST
    assert body["access_level"] == "readonly"
    assert body["members_count"] == 0
    assert api.post("/v3/lists", data={"address": LIST}).status_code == 400
    bad = api.post("/v3/lists", data={"address": "x@mg.example.com", "access_level": "nobody"})
    assert bad.json() == {
        "message": "Invalid access level 'nobody'. It can be any of: 'readonly', 'members', 'everyone'."
    }
    updated = api.put(f"/v3/lists/{mlist}", data={"name": "Renamed", "access_level": "members"}).json()
    assert updated["message"] == "Mailing list has been updated"
    assert updated["list"]["name"] == "Renamed"
    assert api.get("/v3/lists/missing@mg.example.com").json() == {
        "message": "Mailing list missing@mg.example.com not found"
    }
    deleted = api.delete(f"/v3/lists/{mlist}").json()
    assert deleted == {"address": LIST, "message": "Mailing list has been removed"}


def test_lists_pages(api):
    for i in range(5):
        api.post("/v3/lists", data={"address": f"l{i}@mg.example.com"})
    page = api.get("/v3/lists/pages", params={"limit": 2}).json()
    assert [i["address"] for i in page["items"]] == ["l0@mg.example.com", "l1@mg.example.com"]
    assert set(page["paging"]) == {"first", "last", "next", "previous"}
    seen = []
    url = page["paging"]["next"]
    while True:
        nxt = api.get(url).json()
        if not nxt["items"]:
            break
        seen += [i["address"] for i in nxt["items"]]
        url = nxt["paging"]["next"]
    assert seen == [f"l{i}@mg.example.com" for i in range(2, 5)]
    assert api.get("/v3/lists").json()["total_count"] == 5


def test_single_member_rules(api, mlist):
    url = f"/v3/lists/{mlist}/members"
    created = api.post(url, data={"address": "Alice <alice@example.com>", "vars": json.dumps({"age": 26})})
    assert created.json() == {
        "member": {"address": "alice@example.com", "name": "Alice", "vars": {"age": 26}, "subscribed": True},
        "message": "Mailing list member has been created",
    }
    duplicate = api.post(url, data={"address": "alice@example.com"})
    assert duplicate.status_code == 400
    assert duplicate.json() == {"message": "Address already exists 'alice@example.com'"}
    upsert = api.post(url, data={"address": "alice@example.com", "name": "Al", "upsert": "yes"})
    assert upsert.status_code == 200
    assert upsert.json()["member"]["name"] == "Al"
    got = api.get(f"{url}/alice@example.com").json()["member"]
    assert got["name"] == "Al"
    partial = api.put(f"{url}/alice@example.com", data={"subscribed": "no"}).json()["member"]
    assert partial == {"address": "alice@example.com", "name": "Al", "vars": {}, "subscribed": False}
    assert api.post(url, data={"address": "x", "vars": "{"}).status_code == 400
    removed = api.delete(f"{url}/alice@example.com").json()
    assert removed == {
        "member": {"address": "alice@example.com"},
        "message": "Mailing list member has been deleted",
    }
    assert api.get(f"{url}/alice@example.com").status_code == 404


def test_members_pages_limits_and_filter(api, emu, mlist):
    emu.seed_list(mlist, [{"address": f"m{i:03d}@example.com", "subscribed": i % 2 == 0} for i in range(150)])
    url = f"/v3/lists/{mlist}/members/pages"
    assert api.get(url, params={"limit": 101}).status_code == 400
    page = api.get(url, params={"limit": 100}).json()
    assert len(page["items"]) == 100
    assert page["items"][0]["address"] == "m000@example.com"
    rest = api.get(page["paging"]["next"]).json()
    assert len(rest["items"]) == 50
    assert rest["items"][-1]["address"] == "m149@example.com"
    terminal = api.get(rest["paging"]["next"]).json()
    assert terminal["items"] == []
    assert terminal["paging"]["next"]
    subscribed = api.get(url, params={"limit": 100, "subscribed": "yes"}).json()
    assert len(subscribed["items"]) == 75
    assert all(m["subscribed"] for m in subscribed["items"])
    assert "subscribed=yes" in subscribed["paging"]["next"]


def test_members_json_upload(api, mlist):
    url = f"/v3/lists/{mlist}/members.json"
    small = [f"s{i}@example.com" for i in range(3)] + [{"address": "Obj <o@example.com>", "vars": {"n": 1}}]
    reply = api.post(url, data={"members": json.dumps(small)}).json()
    assert reply["message"] == "Mailing list has been updated"
    assert reply["list"]["members_count"] == 4
    # Without upsert duplicates are ignored; with upsert they are updated.
    api.post(url, data={"members": json.dumps([{"address": "o@example.com", "name": "New"}])})
    assert api.get(f"/v3/lists/{mlist}/members/o@example.com").json()["member"]["name"] == "Obj"
    api.post(
        url, data={"members": json.dumps([{"address": "o@example.com", "name": "New"}]), "upsert": "yes"}
    )
    assert api.get(f"/v3/lists/{mlist}/members/o@example.com").json()["member"]["name"] == "New"
    big = api.post(url, data={"members": json.dumps([f"b{i}@example.com" for i in range(101)])}).json()
    assert big["message"] == "Mailing list upload started in background"
    assert big["task-id"]
    assert api.get(f"/v3/lists/{mlist}").json()["list"]["members_count"] == 105
    too_many = api.post(url, data={"members": json.dumps([f"x{i}@example.com" for i in range(1001)])})
    assert too_many.status_code == 400
    assert api.post(url, data={"members": "not json"}).status_code == 400
    missing = api.post("/v3/lists/nope@mg.example.com/members.json", data={"members": "[]"})
    assert missing.status_code == 404
    assert missing.json() == {"message": "Mailing list 'nope@mg.example.com' not found"}


@pytest.mark.mailgun_emulator(upload_delay=0.2)
def test_background_upload_applies_after_delay(api):
    api.post("/v3/lists", data={"address": LIST})
    members = json.dumps([f"b{i}@example.com" for i in range(150)])
    assert "task-id" in api.post(f"/v3/lists/{LIST}/members.json", data={"members": members}).json()
    assert api.get(f"/v3/lists/{LIST}").json()["list"]["members_count"] == 0
    time.sleep(0.25)
    assert api.get(f"/v3/lists/{LIST}").json()["list"]["members_count"] == 150


def test_members_csv_upload(api, mlist):
    csv_data = b'address,name,vars\na@example.com,A,"{""k"": 1}"\nb@example.com,B,\n'
    reply = api.post(f"/v3/lists/{mlist}/members.csv", files={"members": ("m.csv", csv_data, "text/csv")})
    assert reply.status_code == 200
    assert reply.json()["task-id"]
    got = api.get(f"/v3/lists/{mlist}/members/a@example.com").json()["member"]
    assert got["vars"] == {"k": 1}
    assert got["name"] == "A"
