"""Domains, tracking, credentials, webhooks, routes, templates, stats, tags and IPs."""

from __future__ import annotations


def test_domains_v3_v4(api, emu):
    v3 = api.get("/v3/domains").json()
    assert v3["total_count"] == 1
    assert v3["items"][0]["name"] == emu.domain
    created = api.post("/v4/domains", data={"name": "New.Example.com"})
    assert created.json()["message"] == "Domain DNS records have been created"
    assert created.json()["domain"]["name"] == "new.example.com"
    assert created.json()["sending_dns_records"]
    assert api.post("/v3/domains", data={"name": "new.example.com"}).status_code == 400
    assert api.post("/v3/domains", data={"name": "not a domain"}).status_code == 400
    v4 = api.get("/v4/domains", params={"limit": 1}).json()
    assert v4["total_count"] == 2
    assert v4["items"][0]["name"] == "new.example.com"  # newest first
    assert api.get("/v4/domains", params={"skip": 1}).json()["items"][0]["name"] == emu.domain
    assert api.get("/v4/domains", params={"limit": 1001}).status_code == 400
    one = api.get(f"/v4/domains/{emu.domain}").json()
    assert one["domain"]["state"] == "active"
    assert "receiving_dns_records" in one
    assert api.get("/v3/domains/missing.example.com").json() == {"message": "Domain not found"}
    deleted = api.delete("/v3/domains/new.example.com").json()
    assert deleted == {"message": "Domain will be deleted in the background"}
    assert api.get("/v3/new.example.com/bounces").status_code == 404


def test_tracking(api, emu):
    base = f"/v3/domains/{emu.domain}/tracking"
    assert api.get(base).json()["tracking"]["open"]["active"] is False
    opened = api.put(f"{base}/open", data={"active": "yes"}).json()
    assert opened == {
        "message": "Domain tracking settings have been updated",
        "open": {"active": True, "place_at_the_top": False},
    }
    api.put(f"{base}/click", data={"active": "htmlonly"})
    api.put(f"{base}/unsubscribe", data={"active": "true", "html_footer": "<a>u</a>"})
    tracking = api.get(base).json()["tracking"]
    assert tracking["click"]["active"] == "htmlonly"
    assert tracking["unsubscribe"]["html_footer"] == "<a>u</a>"
    assert api.put(f"{base}/open", data={"active": "maybe"}).status_code == 400


def test_credentials(api, emu):
    base = f"/v3/domains/{emu.domain}/credentials"
    assert api.post(base, data={"password": "secret1"}).json() == {"message": "Parameter 'login' is missing"}
    assert api.post(base, data={"login": "alice", "password": "secret1"}).json() == {
        "message": "Created 1 credentials pair(s)"
    }
    listed = api.get(base).json()
    assert listed["total_count"] == 1
    assert listed["items"][0]["login"] == f"alice@{emu.domain}"
    assert api.put(f"{base}/alice", data={"password": "other12"}).json() == {"message": "Password changed"}
    assert api.delete(f"{base}/alice").json() == {
        "message": "Credentials have been deleted",
        "spec": f"alice@{emu.domain}",
    }
    assert api.delete(f"{base}/alice").status_code == 404


def test_webhooks_v3(api, emu):
    base = f"/v3/domains/{emu.domain}/webhooks"
    created = api.post(base, data={"id": "delivered", "url": ["https://a.example/h", "https://b.example/h"]})
    assert created.json() == {
        "message": "Webhook has been created",
        "webhook": {"urls": ["https://a.example/h", "https://b.example/h"]},
    }
    assert api.post(base, data={"id": "delivered", "url": "https://c.example"}).status_code == 400
    assert api.post(base, data={"id": "nonsense", "url": "https://c.example"}).status_code == 400
    assert "Reason" in api.post(base, data={"id": "opened", "url": "notaurl"}).json()
    assert api.get(base).json() == {
        "webhooks": {"delivered": {"urls": ["https://a.example/h", "https://b.example/h"]}}
    }
    updated = api.put(f"{base}/delivered", data={"url": "https://new.example/h"}).json()
    assert updated["message"] == "Webhook has been updated"
    assert api.get(f"{base}/delivered").json() == {"webhook": {"urls": ["https://new.example/h"]}}
    assert api.delete(f"{base}/delivered").json()["message"] == "Webhook has been deleted"
    assert api.get(f"{base}/delivered").status_code == 404


def test_routes(api):
    for priority in (5, 1, 3):
        reply = api.post(
            "/v3/routes",
            data={
                "priority": priority,
                "expression": 'match_recipient(".*@x.com")',
                "action": ["stop()", "x()"],
            },
        )
        assert reply.json()["message"] == "Route has been created"
    listed = api.get("/v3/routes", params={"skip": 1, "limit": 1}).json()
    assert listed["total_count"] == 3
    assert listed["items"][0]["priority"] == 3
    route_id = listed["items"][0]["id"]
    assert api.get(f"/v3/routes/{route_id}").json()["route"]["actions"] == ["stop()", "x()"]
    updated = api.put(f"/v3/routes/{route_id}", data={"description": "d"}).json()
    assert updated["message"] == "Route has been updated"
    assert updated["route"]["description"] == "d"
    assert api.delete(f"/v3/routes/{route_id}").json() == {
        "message": "Route has been deleted",
        "id": route_id,
    }
    assert api.get(f"/v3/routes/{route_id}").status_code == 404
    assert api.post("/v3/routes", data={"action": "stop()"}).status_code == 400


def test_templates_paging_and_versions(api, emu):
    base = f"/v3/{emu.domain}/templates"
    for i in range(3):
        api.post(base, data={"name": f"t{i}", "description": f"d{i}", "template": "<p>{{x}}</p>"})
    assert api.post(base, data={"name": "t0"}).status_code == 409
    page = api.get(base, params={"limit": 2}).json()
    assert [t["name"] for t in page["items"]] == ["t0", "t1"]
    assert set(page["paging"]) == {"first", "last", "next", "previous"}
    assert [t["name"] for t in api.get(page["paging"]["next"]).json()["items"]] == ["t2"]
    assert "version" not in api.get(f"{base}/t0").json()["template"]
    assert api.get(f"{base}/t0", params={"active": "yes"}).json()["template"]["version"]["tag"] == "initial"
    api.post(f"{base}/t0/versions", data={"tag": "v2", "template": "<b/>", "active": "yes"})
    versions = api.get(f"{base}/t0/versions").json()["template"]["versions"]
    assert {v["tag"]: v["active"] for v in versions} == {"initial": False, "v2": True}
    assert api.get(f"{base}/t0/versions/v2").json()["template"]["version"]["template"] == "<b/>"
    assert api.delete(f"{base}/t0/versions/v2").json()["message"] == "version has been deleted"
    assert api.delete(f"{base}/t1").json() == {
        "message": "template has been deleted",
        "template": {"name": "t1"},
    }
    assert api.get(f"{base}/t1").status_code == 404


def test_stats_tags_ips(send, api, emu):
    send(to=["a@example.com", "bounce@example.com"], **{"o:tag": ["Promo", "weekly"]})
    assert api.get(f"/v3/{emu.domain}/stats/total").status_code == 400
    stats = api.get(
        f"/v3/{emu.domain}/stats/total",
        params=[("event", "accepted"), ("event", "delivered"), ("event", "failed"), ("duration", "1d")],
    ).json()
    totals = {k: sum(s[k]["total"] for s in stats["stats"]) for k in ("accepted", "delivered")}
    assert totals == {"accepted": 2, "delivered": 1}
    assert stats["resolution"] == "day"
    assert sum(s["failed"]["permanent"]["bounce"] for s in stats["stats"]) == 1
    tags = api.get(f"/v3/{emu.domain}/tags").json()
    assert [t["tag"] for t in tags["items"]] == ["Promo", "weekly"]
    assert set(tags["paging"]) >= {"next"}
    one = api.get(f"/v3/{emu.domain}/tags/promo").json()
    assert one["tag"] == "Promo"
    assert "first-seen" in one
    assert api.get(f"/v3/{emu.domain}/tag", params={"tag": "weekly"}).status_code == 200
    assert api.delete(f"/v3/{emu.domain}/tags/promo").json() == {"message": "Tag deleted"}
    assert api.get(f"/v3/{emu.domain}/tags/promo").status_code == 404
    ips = api.get("/v3/ips").json()
    assert ips["total_count"] == len(ips["items"]) == 2
    assert api.get(f"/v3/ips/{ips['items'][0]}").json()["ip"] == ips["items"][0]
    assert api.get("/v3/ips/10.0.0.1").status_code == 404
