"""Events: deterministic outcome rules, event shape, token paging, polling, filters, time rules."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest


def _events(api, emu, **params):
    response = api.get(f"/v3/{emu.domain}/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_event_shape_and_ids(send, api, emu):
    sent = send(to="bob@example.com", **{"o:tag": ["t1"], "v:k": "v"}).json()
    page = _events(api, emu, ascending="yes")
    accepted, delivered = page["items"]
    assert (accepted["event"], delivered["event"]) == ("accepted", "delivered")
    assert accepted["method"] == "HTTP"
    assert accepted["log-level"] == "info"
    assert isinstance(delivered["timestamp"], float)
    assert len(delivered["id"]) == 22
    assert delivered["message"]["headers"]["message-id"] == sent["id"][1:-1]
    assert delivered["recipient"] == "bob@example.com"
    assert delivered["tags"] == ["t1"]
    assert delivered["user-variables"] == {"k": "v"}
    assert delivered["delivery-status"]["code"] == 250
    assert delivered["flags"]["is-test-mode"] is False
    assert delivered["storage"]["key"]
    assert delivered["storage"]["url"].startswith(emu.url)
    assert set(page["paging"]) == {"first", "last", "next", "previous"}


def test_outcome_rules(send, emu):
    emu.seed_suppressions(emu.domain, "bounces", ["old-bounce@example.com"])
    emu.seed_suppressions(emu.domain, "unsubscribes", ["gone@example.com"])
    emu.seed_suppressions(
        emu.domain, "unsubscribes", [{"address": "news-only@example.com", "tags": ["news"]}]
    )
    emu.seed_suppressions(emu.domain, "complaints", ["angry@example.com"])
    to = [
        "old-bounce@example.com",
        "gone@example.com",
        "angry@example.com",
        "bounce-me@example.com",
        "complainer@example.com",
        "news-only@example.com",
        "fine@example.com",
    ]
    assert send(to=to, **{"o:tag": "other"}).status_code == 200
    failed = {e["recipient"]: e for e in emu.events("failed")}
    expected = {
        "old-bounce@example.com": (605, "suppress-bounce"),
        "gone@example.com": (606, "suppress-unsubscribe"),
        "angry@example.com": (607, "suppress-complaint"),
        "bounce-me@example.com": (550, "bounce"),
    }
    assert {r: (e["delivery-status"]["code"], e["reason"]) for r, e in failed.items()} == expected
    assert all(e["severity"] == "permanent" for e in failed.values())
    delivered = [e["recipient"] for e in emu.events("delivered")]
    assert delivered == ["complainer@example.com", "news-only@example.com", "fine@example.com"]
    assert [e["recipient"] for e in emu.events("complained")] == ["complainer@example.com"]
    assert len(emu.events("accepted")) == len(to)
    bounces = emu.state.domains[emu.domain].suppressions["bounces"]
    assert "bounce-me@example.com" in bounces
    assert bounces.get("bounce-me@example.com")["code"] == "550"
    assert "complainer@example.com" in emu.state.domains[emu.domain].suppressions["complaints"]
    # The bounce now suppresses the next send: 605.
    send(to="bounce-me@example.com")
    assert emu.events("failed", recipient="bounce-me@example.com")[-1]["delivery-status"]["code"] == 605


def test_tempfail_then_delivered(send, emu):
    send(to="tempfail-1@example.com")
    (failed,) = emu.events("failed")
    assert failed["severity"] == "temporary"
    assert failed["reason"] == "generic"
    assert failed["delivery-status"]["code"] == 452
    assert emu.events("delivered") == []
    emu.advance_events(2.0)
    (delivered,) = emu.events("delivered")
    assert delivered["recipient"] == "tempfail-1@example.com"
    assert delivered["timestamp"] == pytest.approx(failed["timestamp"] + 2.0, abs=0.01)


@pytest.mark.mailgun_emulator(delivery_delay=0.3, tempfail_retry=0.3)
def test_real_time_delivery_delay(emu, send):
    send(to="bob@example.com")
    assert [e["event"] for e in emu.events()] == ["accepted"]
    time.sleep(0.35)
    assert [e["event"] for e in emu.events()] == ["accepted", "delivered"]


def test_limit_and_time_range_rules(api, emu):
    def get(**params):
        return api.get(f"/v3/{emu.domain}/events", params=params)

    assert get(limit=300).status_code == 200
    too_many = get(limit=301)
    assert too_many.status_code == 400
    assert "300" in too_many.json()["message"]
    now = time.time()
    assert get(begin=now - 60).status_code == 400  # neither end nor ascending
    assert get(begin=now - 60, ascending="yes").status_code == 200
    assert get(begin=formatdate(now - 60), end=formatdate(now)).status_code == 200
    assert get(begin=now - 60, end=now, ascending="no").status_code == 400  # contradiction
    assert get(begin=now, end=now - 60, ascending="no").status_code == 200
    assert get(begin="not a date", ascending="yes").status_code == 400
    assert api.get("/v3/other.example.com/events").status_code == 404


def test_paging_tokens_in_path_and_terminal_page(send, api, emu):
    for i in range(5):
        send(to=f"u{i}@example.com")
    page = _events(api, emu, ascending="yes", limit=4, event="delivered")
    assert [e["recipient"] for e in page["items"]] == [
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
        "u3@example.com",
    ]
    next_url = page["paging"]["next"]
    assert next_url.startswith(f"{emu.url}/v3/{emu.domain}/events/")
    assert "?" not in next_url
    page2 = api.get(next_url).json()
    assert [e["recipient"] for e in page2["items"]] == ["u4@example.com"]  # filters kept in the token
    terminal = api.get(page2["paging"]["next"]).json()
    assert terminal["items"] == []
    assert terminal["paging"]["next"]
    back = api.get(page2["paging"]["previous"]).json()
    assert [e["recipient"] for e in back["items"]] == [f"u{i}@example.com" for i in range(4)]
    last = api.get(page["paging"]["last"]).json()
    assert [e["recipient"] for e in last["items"]] == [f"u{i}@example.com" for i in range(1, 5)]
    assert api.get(f"/v3/{emu.domain}/events/not-a-token").status_code == 400


def test_ascending_polling_returns_only_new_events(send, api, emu):
    send(to="first@example.com")
    page = _events(api, emu, ascending="yes", begin=time.time() - 60)
    assert len(page["items"]) == 2
    keep = page["paging"]["next"]
    assert api.get(keep).json()["items"] == []  # nothing new yet, still a valid next
    send(to="second@example.com")
    newer = api.get(keep).json()
    assert [(e["event"], e["recipient"]) for e in newer["items"]] == [
        ("accepted", "second@example.com"),
        ("delivered", "second@example.com"),
    ]
    assert api.get(newer["paging"]["next"]).json()["items"] == []


def test_descending_default_and_filters(send, api, emu):
    first = send(to="a@example.com", **{"o:tag": "x"}).json()["id"]
    send(to=["b@example.com", "bounce@example.com"], **{"o:tag": "y"})
    newest_first = _events(api, emu)["items"]
    assert [e["timestamp"] for e in newest_first] == sorted(
        (e["timestamp"] for e in newest_first), reverse=True
    )
    assert newest_first[-1]["recipient"] == "a@example.com"
    either = _events(api, emu, ascending="yes", event="failed OR accepted")["items"]
    assert {e["event"] for e in either} == {"failed", "accepted"}
    assert len(either) == 4
    by_id = _events(api, emu, ascending="yes", **{"message-id": first[1:-1]})["items"]
    assert [e["event"] for e in by_id] == ["accepted", "delivered"]
    # With the angle brackets the term does not match (the real API returns unrelated events).
    assert _events(api, emu, ascending="yes", **{"message-id": first})["items"] == []
    by_rcpt = _events(api, emu, ascending="yes", recipient="B@example.com")["items"]
    assert [e["event"] for e in by_rcpt] == ["accepted", "delivered"]
    by_tag = _events(api, emu, ascending="yes", tags="y", event="delivered")["items"]
    assert [e["recipient"] for e in by_tag] == ["b@example.com"]
    not_accepted = _events(api, emu, ascending="yes", event="NOT accepted")["items"]
    assert {e["event"] for e in not_accepted} == {"delivered", "failed"}
    assert [e["event"] for e in _events(api, emu, severity="permanent")["items"]] == ["failed"]


def test_page_cost_independent_of_history(send, api, emu):
    rv = json.dumps({})
    to = [f"user{i}@example.com" for i in range(1000)]
    for _ in range(20):
        send(to=to, **{"recipient-variables": rv})
    started = time.perf_counter()
    page = _events(api, emu, ascending="yes", limit=300, recipient="user7@example.com")
    tail = api.get(page["paging"]["last"]).json()
    elapsed = time.perf_counter() - started
    assert len(page["items"]) == 40
    assert len(tail["items"]) == 40
    assert elapsed < 1.0
