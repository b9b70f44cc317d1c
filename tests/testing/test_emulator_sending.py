"""Sending: Mailgun's validation, batch expansion, substitutions, attachments, templates, MIME."""

from __future__ import annotations

import json
import re

import pytest

ID_RE = re.compile(r"^<\d{14}\.\d+\.[0-9A-F]{16}@mg\.example\.com>$")


def test_send_success_shape_and_unique_ids(send, emu):
    first, second = send(to="bob@example.com"), send(to="bob@example.com")
    assert first.status_code == 200
    body = first.json()
    assert body["message"] == "Queued. Thank you."
    assert ID_RE.match(body["id"]), body["id"]
    assert body["id"] != second.json()["id"]
    stored = emu.messages(recipient="bob@example.com")
    assert [m["id"] for m in stored] == [body["id"], second.json()["id"]]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": None}, "from parameter is missing"),
        ({"to": None}, "to parameter is missing"),
        ({"subject": None}, "subject parameter is missing"),
        (
            {"text": None},
            "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified",
        ),
        ({"html": "<p>x</p>", "template": "t"}, "Only one parameters 'html' or 'template' is allowed"),
        ({"to": "not-an-address"}, "to parameter is not a valid address. please check documentation"),
        ({"cc": "a@b"}, "cc parameter is not a valid address. please check documentation"),
        ({"from": "nobody"}, "from parameter is not a valid address. please check documentation"),
        ({"recipient-variables": "{not json"}, "'recipient-variables' parameter is not a valid JSON"),
        ({"o:deliverytime": "tomorrow"}, "tomorrow is not an RFC-2822 compliant date"),
        ({"o:tag": [f"t{i}" for i in range(11)]}, "Too many tags, max is 10"),
        (
            {"v:big": "x" * (16 * 1024)},
            "Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total",
        ),
    ],
)
def test_validation_messages(send, fields, message):
    response = send(**{"to": "bob@example.com", **fields})
    assert response.status_code == 400, response.text
    assert response.json() == {"message": message}


def test_recipient_limit_counts_to_cc_bcc(send):
    to = [f"u{i}@example.com" for i in range(600)]
    cc = [f"c{i}@example.com" for i in range(300)]
    assert send(to=to, cc=cc, bcc=[f"b{i}@example.com" for i in range(100)]).status_code == 200
    response = send(to=to, cc=cc, bcc=[f"b{i}@example.com" for i in range(101)])
    assert response.status_code == 400
    assert response.json() == {"message": "Too many recipients, max is 1000"}


def test_unknown_domain_and_magnificent_path(send, api):
    response = send(to="bob@example.com", domain="nope.example.com")
    assert response.status_code == 404
    assert response.json() == {"message": "Domain not found: nope.example.com"}
    odd = api.post("/v3/mg.example.com%2Fx/messages", data={"to": "bob@example.com"})
    assert odd.status_code == 200
    assert odd.text == "Mailgun Magnificent API"


def test_urlencoded_and_multipart_both_accepted(send, emu):
    plain = send(to="a@example.com, B <b@example.com>")
    multi = send(to="c@example.com", files=[("attachment", ("report.csv", b"a,b\n1,2\n", "text/csv"))])
    assert plain.status_code == multi.status_code == 200
    assert {m["recipient"] for m in emu.messages()} == {"a@example.com", "b@example.com", "c@example.com"}


def test_non_batch_send_everyone_sees_all_to(send, emu):
    send(to=["a@example.com", "b@example.com", "a@example.com"], cc="c@example.com", bcc="d@example.com")
    copies = emu.messages()
    assert [m["recipient"] for m in copies] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ]
    assert all(m["to"] == ["a@example.com", "b@example.com"] for m in copies)
    assert copies[0]["cc"] == ["c@example.com"]
    assert copies[0]["bcc"] == ["d@example.com"]
    assert not copies[0]["batch_mode"]


def test_batch_send_substitutes_per_recipient(send, emu):
    rv = {"a@example.com": {"name": "Ann", "id": 1}, "b@example.com": {"name": "Bob", "id": 2}}
    response = send(
        to=["Ann A <a@example.com>", "b@example.com", "c@example.com"],
        subject="Hi %recipient.name%",
        text="Dear %recipient.name% (%recipient_email%, %recipient_name%) %recipient.unknown%",
        html="<p>%recipient.id%</p>",
        **{"recipient-variables": json.dumps(rv), "h:X-Id": "%recipient.id%", "v:uid": "%recipient.id%"},
    )
    assert response.status_code == 200
    ann, bob, carl = emu.messages()
    assert ann["to"] == ["Ann A <a@example.com>"]
    assert bob["to"] == ["b@example.com"]
    assert ann["subject"] == "Hi Ann"
    assert bob["subject"] == "Hi Bob"
    assert ann["text"] == "Dear Ann (a@example.com, Ann A) %recipient.unknown%"
    assert bob["html"] == "<p>2</p>"
    assert bob["headers"]["X-Id"] == "2"
    assert ann["user_variables"] == {"uid": "1"}
    # A recipient missing from recipient-variables keeps the placeholders literally.
    assert carl["subject"] == "Hi %recipient.name%"
    assert carl["text"].startswith("Dear %recipient.name% (c@")
    delivered = emu.events("delivered", recipient="b@example.com")
    assert delivered[0]["user-variables"] == {"uid": "2"}
    assert delivered[0]["message"]["headers"]["subject"] == "Hi Bob"


def test_batch_send_duplicates_cc_per_to_recipient(send, emu):
    rv = json.dumps({"a@example.com": {"n": "A"}, "b@example.com": {"n": "B"}})
    send(
        to=["a@example.com", "b@example.com"],
        cc="boss@example.com",
        subject="%recipient.n%",
        **{"recipient-variables": rv},
    )
    boss = emu.messages(recipient="boss@example.com")
    assert [m["subject"] for m in boss] == ["A", "B"]
    assert [m["to"] for m in boss] == [["a@example.com"], ["b@example.com"]]


def test_attachments_inline_and_dropped_parts(send, emu, api):
    files = [
        ("attachment", ("a.pdf", b"%PDF-1.4 data", "application/pdf")),
        ("attachment", ("b.txt", b"hello")),
        ("inline", ("logo.png", b"\x89PNG....", "image/png")),
        ("attachment", (None, b"no filename, dropped")),
    ]
    response = send(to="bob@example.com", html='<img src="cid:logo.png">', files=files)
    assert response.status_code == 200
    stored = emu.messages()[0]
    assert stored["attachments"] == [
        {"filename": "a.pdf", "size": 13, "content_type": "application/pdf"},
        {"filename": "b.txt", "size": 5, "content_type": "text/plain"},
    ]
    assert stored["inline"] == [{"filename": "logo.png", "size": 8, "content_type": "image/png"}]
    raw = api.get(f"/_emulator/messages/{response.json()['id']}/attachments/a.pdf")
    assert raw.status_code == 200
    assert raw.content == b"%PDF-1.4 data"
    assert raw.headers["content-type"] == "application/pdf"
    event = emu.events("accepted")[0]
    assert [a["filename"] for a in event["message"]["attachments"]] == ["a.pdf", "b.txt"]


def test_options_tags_headers_testmode_deliverytime(send, emu):
    response = send(
        to="bob@example.com",
        **{
            "o:tag": ["news", "weekly"],
            "o:testmode": "yes",
            "o:tracking-clicks": "htmlonly",
            "o:deliverytime": "Thu, 13 Oct 2011 18:02:00 +0000",
            "h:Reply-To": "reply@example.com",
            "v:order": "42",
        },
    )
    assert response.status_code == 200
    stored = emu.messages()[0]
    assert stored["tags"] == ["news", "weekly"]
    assert stored["test_mode"] is True
    assert stored["headers"] == {"Reply-To": "reply@example.com"}
    assert stored["options"] == {"tracking-clicks": "htmlonly"}
    assert stored["delivery_time"] == "Thu, 13 Oct 2011 18:02:00 +0000"
    delivered = emu.events("delivered")[0]
    assert delivered["delivery-status"]["code"] == 650
    assert delivered["flags"]["is-test-mode"] is True
    assert delivered["tags"] == ["news", "weekly"]
    assert delivered["user-variables"] == {"order": "42"}


def test_stored_template_rendering(send, api, emu):
    created = api.post(
        f"/v3/{emu.domain}/templates",
        data={"name": "Welcome", "template": "<p>Hi {{name}} &amp; {{{raw}}} {{missing}}</p>", "tag": "v1"},
    )
    assert created.status_code == 200
    assert created.json()["template"]["version"]["tag"] == "v1"
    api.post(
        f"/v3/{emu.domain}/templates/welcome/versions", data={"tag": "v2", "template": "<b>{{name}}</b>"}
    )
    response = send(
        to="bob@example.com",
        text=None,
        template="welcome",
        **{"t:variables": json.dumps({"name": "Bob <3", "raw": "<i>r</i>"})},
    )
    assert response.status_code == 200, response.text
    stored = emu.messages()[0]
    assert stored["html"] == "<p>Hi Bob &lt;3 &amp; <i>r</i> </p>"
    assert stored["template"]["name"] == "welcome"
    assert stored["template"]["version"] == "v1"
    versioned = send(
        to="bob@example.com", text=None, template="welcome", **{"t:version": "v2", "v:name": "Vee"}
    )
    assert versioned.status_code == 200
    assert emu.messages()[1]["html"] == "<b>Vee</b>"
    missing = send(to="bob@example.com", text=None, template="nope")
    assert missing.status_code == 400
    assert "not found" in missing.json()["message"]


def test_messages_mime(api, emu):
    mime = (
        b"From: Sender <sender@mg.example.com>\r\nTo: bob@example.com\r\nSubject: MIME hi\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain body\r\n"
    )
    url = f"/v3/{emu.domain}/messages.mime"
    ok = api.post(url, data={"to": "bob@example.com", "o:tag": "m"}, files={"message": ("m.eml", mime)})
    assert ok.status_code == 200
    assert ok.json()["message"] == "Queued. Thank you."
    stored = emu.messages()[0]
    assert stored["subject"] == "MIME hi"
    assert stored["text"].strip() == "plain body"
    assert stored["mime"] is True
    assert stored["tags"] == ["m"]
    not_multipart = api.post(url, data={"to": "bob@example.com", "message": "x"})
    assert not_multipart.status_code == 400
    assert not_multipart.json()["message"].startswith(
        "Invalid request content type. Expecting 'multipart/form-data'"
    )
    no_message = api.post(url, data={"to": "bob@example.com"}, files={"x": ("x", b"y")})
    assert no_message.json() == {"message": "message parameter is missing"}
    not_file = api.post(url, data={"to": "bob@example.com", "message": "text"}, files={"x": ("x", b"y")})
    assert not_file.json() == {"message": "'message' parameter is not a file"}


def test_stored_message_retrieval_via_storage_url(send, emu, api):
    send(to="bob@example.com", subject="Stored", html="<p>h</p>")
    storage = emu.events("delivered")[0]["storage"]
    assert storage["url"].startswith(emu.url)
    got = api.get(storage["url"])
    assert got.status_code == 200
    assert got.json()["subject"] == "Stored"
    assert got.json()["body-html"] == "<p>h</p>"
