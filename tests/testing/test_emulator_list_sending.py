"""Sending to a mailing list's address: Mailgun's expansion into one personal copy per subscribed member."""

from __future__ import annotations

import json
import re

import requests

LIST = "newsletter@lists.example.com"
URL_RE = re.compile(r"https?://\S+/_emulator/unsubscribe/[\w-]+")


def _make_list(api) -> None:
    assert api.post("/v3/lists", data={"address": LIST, "name": "Newsletter"}).status_code == 200
    members = [
        {"address": "ann@example.org", "name": "Ann Lee", "vars": {"first_name": "Ann", "plan": "pro"}},
        {"address": "bob@example.org", "vars": {"first_name": "Bob"}},
        {"address": "gone@example.org", "vars": {"first_name": "Gone"}, "subscribed": False},
    ]
    loaded = api.post(f"/v3/lists/{LIST}/members.json", data={"members": json.dumps(members)})
    assert loaded.status_code == 200, loaded.text


def test_send_to_list_gives_each_subscribed_member_one_personal_copy(send, emu, api):
    _make_list(api)
    response = send(
        to=f"Newsletter <{LIST}>",
        subject="Hi %recipient.first_name%",
        text="Dear %recipient_name% (%recipient_email%), plan %recipient.plan%. "
        "Leave: %mailing_list_unsubscribe_url%",
        **{"v:campaign": "%recipient.first_name%"},
    )
    assert response.status_code == 200, response.text
    message_id = response.json()["id"]
    copies = emu.messages()
    assert [c["recipient"] for c in copies] == ["ann@example.org", "bob@example.org"]
    ann, bob = copies
    assert {c["id"] for c in copies} == {message_id}  # one message id for the whole send
    assert ann["subject"] == "Hi Ann"
    assert bob["subject"] == "Hi Bob"
    assert ann["text"].startswith("Dear Ann Lee (ann@example.org), plan pro. Leave: http")
    # A var the member lacks stays literal, as Mailgun leaves it.
    assert bob["text"].startswith("Dear  (bob@example.org), plan %recipient.plan%.")
    assert ann["to"] == [f"Newsletter <{LIST}>"]
    assert ann["mailing_list"] == LIST
    assert ann["user_variables"] == {"campaign": "Ann"}
    assert emu.messages("gone@example.org") == []
    # Events per member copy, all under the one id: what the delivery sensor counts.
    accepted = emu.events("accepted")
    delivered = emu.events("delivered")
    assert sorted(e["recipient"] for e in accepted) == ["ann@example.org", "bob@example.org"]
    assert sorted(e["recipient"] for e in delivered) == ["ann@example.org", "bob@example.org"]
    assert {e["message"]["headers"]["message-id"] for e in delivered} == {message_id.strip("<>")}
    assert delivered[0]["message"]["headers"]["to"] == f"Newsletter <{LIST}>"
    # The events API finds the send by its list.
    by_list = api.get(f"/v3/{emu.domain}/events", params={"list": LIST, "event": "accepted"}).json()
    assert len(by_list["items"]) == 2


def test_unsubscribe_link_unsubscribes_the_member_from_the_list(send, emu, api):
    _make_list(api)
    send(to=LIST, text="Bye: %mailing_list_unsubscribe_url%")
    ann_copy = emu.messages("ann@example.org")[0]
    link = URL_RE.search(ann_copy["text"])
    assert link is not None, ann_copy["text"]
    page = requests.get(link.group(0), timeout=10)
    assert page.status_code == 200
    assert "ann@example.org has been unsubscribed from newsletter@lists.example.com" in page.text
    member = api.get(f"/v3/lists/{LIST}/members/ann@example.org").json()["member"]
    assert member["subscribed"] is False
    assert requests.get(emu.url + "/_emulator/unsubscribe/not-a-key", timeout=10).status_code == 404
    # The next send to the list reaches only the members still subscribed.
    send(to=LIST, subject="Second")
    second = [c["recipient"] for c in emu.messages() if c["subject"] == "Second"]
    assert second == ["bob@example.org"]


def test_plain_send_leaves_list_placeholders_and_mixed_to_is_expanded_once(send, emu, api):
    _make_list(api)
    send(to="solo@example.org", text="%mailing_list_unsubscribe_url% %recipient.first_name%")
    assert emu.messages()[0]["text"] == "%mailing_list_unsubscribe_url% %recipient.first_name%"
    emu.reset()
    _make_list(api)
    send(to=[LIST, "ann@example.org", "extra@example.org"], subject="Mixed")
    assert sorted(c["recipient"] for c in emu.messages()) == [
        "ann@example.org",
        "bob@example.org",
        "extra@example.org",
    ]


def test_list_send_to_suppressed_member_fails_as_suppressed(send, emu, api):
    _make_list(api)
    api.post(f"/v3/{emu.domain}/bounces", data={"address": "bob@example.org", "code": "550"})
    send(to=LIST)
    failed = emu.events("failed")
    assert [(e["recipient"], e["reason"]) for e in failed] == [("bob@example.org", "suppress-bounce")]


def test_inbox_shows_member_copies(send, emu, api):
    _make_list(api)
    send(to=LIST, subject="Hi %recipient.first_name%")
    page = requests.get(emu.url + "/", timeout=10).text
    assert "Hi Ann" in page
    assert "Hi Bob" in page
    assert "Hi Gone" not in page


def test_member_names_with_accents_or_quotes_are_substituted_as_written(send, emu, api):
    api.post("/v3/lists", data={"address": LIST})
    members = [
        {"address": "zoe@example.org", "name": "Zoë Ünal", "vars": {}},
        {"address": "ann@example.org", "name": 'Ann "A" Lee', "vars": {}},
    ]
    api.post(f"/v3/lists/{LIST}/members.json", data={"members": json.dumps(members)})
    send(to=LIST, subject="%recipient_fname%", text="Dear %recipient_name%")
    texts = {c["recipient"]: (c["subject"], c["text"]) for c in emu.messages()}
    assert texts == {
        "zoe@example.org": ("Zoë", "Dear Zoë Ünal"),
        "ann@example.org": ("Ann", 'Dear Ann "A" Lee'),
    }


def test_a_list_with_no_subscribed_member_makes_no_copy_and_leaves_the_store_consistent(send, emu, api):
    api.post("/v3/lists", data={"address": LIST})
    api.post(f"/v3/lists/{LIST}/members", data={"address": "gone@example.org", "subscribed": "no"})
    empty = send(to=LIST, subject="Nobody")
    assert empty.status_code == 200, empty.text
    after = send(to="solo@example.org", subject="After")
    assert [c["subject"] for c in emu.messages()] == ["After"]
    assert [e["recipient"] for e in emu.events("accepted")] == ["solo@example.org"]
    stored = emu.events("accepted")[0]["storage"]["url"]
    assert api.get(stored.split(emu.url, 1)[1]).json()["subject"] == "After"
    assert after.json()["id"] != empty.json()["id"]
    assert requests.get(emu.url + "/", timeout=10).status_code == 200


def test_following_an_unsubscribe_link_twice_unsubscribes_only_that_member(send, emu, api):
    _make_list(api)
    send(to=LIST, text="Bye: %mailing_list_unsubscribe_url%")
    link = URL_RE.search(emu.messages("ann@example.org")[0]["text"])
    assert link is not None
    for _ in range(2):
        assert requests.get(link.group(0), timeout=10).status_code == 200
    members = {m["address"]: m["subscribed"] for m in api.get(f"/v3/lists/{LIST}/members").json()["items"]}
    assert members == {"ann@example.org": False, "bob@example.org": True, "gone@example.org": False}
