"""The ``/_emulator`` control plane, the placeholder page and the in-process read-outs."""

from __future__ import annotations

import requests


def test_home_placeholder(emu):
    page = requests.get(emu.url + "/", timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Mailgun emulator" in page.text


def test_messages_endpoint_filters(send, emu):
    send(to=["a@example.com", "b@example.com"])
    send(to="a@example.com", subject="Second")
    everything = requests.get(f"{emu.url}/_emulator/messages", timeout=5).json()
    assert everything["total_count"] == 3
    assert len(everything["items"]) == 3
    only_a = requests.get(
        f"{emu.url}/_emulator/messages", params={"recipient": "A@example.com"}, timeout=5
    ).json()
    assert [m["subject"] for m in only_a["items"]] == ["Hello", "Second"]
    newest = requests.get(
        f"{emu.url}/_emulator/messages", params={"newest_first": "yes", "limit": 1}, timeout=5
    ).json()
    assert [m["subject"] for m in newest["items"]] == ["Second"]
    item = only_a["items"][0]
    expected = {
        "id",
        "domain",
        "from",
        "to",
        "cc",
        "bcc",
        "recipient",
        "subject",
        "text",
        "html",
        "tags",
        "user_variables",
        "headers",
        "attachments",
        "inline",
        "template",
        "test_mode",
        "delivery_time",
        "time",
    }
    assert expected <= set(item)
    assert requests.get(
        f"{emu.url}/_emulator/messages", params={"domain": "x.example"}, timeout=5
    ).json() == {
        "items": [],
        "total_count": 0,
    }
    assert emu.messages(domain=emu.domain) == everything["items"]


def test_events_requests_stats_endpoints(send, emu, api):
    send(to="bounce@example.com")
    events = requests.get(f"{emu.url}/_emulator/events", params={"event": "failed"}, timeout=5).json()
    assert [e["reason"] for e in events["items"]] == ["bounce"]
    assert emu.events("failed")[0]["id"] == events["items"][0]["id"]
    api.get(f"/v3/{emu.domain}/events", params={"ascending": "yes"})
    log = requests.get(f"{emu.url}/_emulator/requests", timeout=5).json()["items"]
    assert [(r["method"], r["status"], r["entrance"]) for r in log] == [
        ("POST", 200, "direct"),
        ("GET", 200, "direct"),
    ]
    assert log[1]["query"] == "ascending=yes"
    assert isinstance(log[0]["time"], float)
    assert {"from", "to", "subject", "text"} == set(log[0]["form_keys"])
    stats = requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()
    assert stats["requests"] == 2
    assert stats["messages"] == 1
    assert stats["events"] == 2
    assert stats["sends"] == 1
    assert stats == emu.stats()


def test_copies_endpoint_counts_duplicates(send, emu):
    send(to=["a@example.com", "b@example.com"])
    send(to="A@example.com", subject="Again")
    summary = requests.get(f"{emu.url}/_emulator/copies", timeout=5).json()
    assert summary == {"copies": 3, "recipients": 2, "duplicates": 1}


def test_reset_and_settings_endpoints(send, emu):
    send(to="a@example.com")
    emu.set_faults({"error_rate": 1.0})
    assert requests.post(f"{emu.url}/_emulator/reset", timeout=5).status_code == 200
    assert emu.messages() == []
    assert emu.requests() == []
    assert emu.stats()["faults"] == {}
    assert send(to="a@example.com").status_code == 200  # faults gone
    assert (
        requests.post(f"{emu.url}/_emulator/delivery_delay", json={"seconds": 30}, timeout=5).status_code
        == 200
    )
    send(to="b@example.com")
    assert emu.events("delivered", recipient="b@example.com") == []
    requests.post(f"{emu.url}/_emulator/advance", json={"seconds": 31}, timeout=5)
    assert len(emu.events("delivered", recipient="b@example.com")) == 1
    requests.post(f"{emu.url}/_emulator/domains", json={"name": "extra.example.com"}, timeout=5)
    assert send(to="c@example.com", domain="extra.example.com").status_code == 200
    assert requests.post(f"{emu.url}/_emulator/rate_limit", json={"rate": 100}, timeout=5).status_code == 200
    assert emu.state.rate_limiter is not None
    assert requests.post(f"{emu.url}/_emulator/nonsense", json={}, timeout=5).status_code == 404
    emu.reset()  # back to the constructor's settings
    assert emu.state.rate_limiter is None
    assert emu.state.delivery_delay == 0.0
    assert "extra.example.com" not in emu.state.domains


def test_reset_keeps_constructor_config(mailgun_emulator_factory):
    emu = mailgun_emulator_factory(domains=("one.example.com", "two.example.com"), delivery_delay=5.0)
    emu.set_delivery_delay(0)
    emu.add_domain("three.example.com")
    emu.reset()
    assert sorted(emu.state.domains) == ["one.example.com", "two.example.com"]
    assert emu.state.delivery_delay == 5.0
    assert emu.domain == "one.example.com"


def test_unknown_control_path(emu):
    missing = requests.get(f"{emu.url}/_emulator/nothing-here", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found"}
