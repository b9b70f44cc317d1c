"""Every API group of the Maton skill document, through the hook, against the emulator (both entrances)."""

from __future__ import annotations

import pytest

from airflow_provider_mailgun.exceptions import MailgunNotFoundError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator


@pytest.fixture(params=["maton", "mailgun"])
def hook(request: pytest.FixtureRequest, mailgun_emulator: MailgunEmulator) -> MailgunHook:
    conn_id = request.getfixturevalue(f"{request.param}_conn_id")
    return MailgunHook(mailgun_conn_id=conn_id)


def test_domains_tracking_and_credentials(hook: MailgunHook) -> None:
    names = [d["name"] for d in hook.domains.iter()]
    assert hook.domain() in names
    assert hook.domains.get(hook.domain())
    hook.domains.create("new.example.com", smtp_password="correct-horse-battery")
    assert "new.example.com" in [d["name"] for d in hook.domains.iter(limit=1)]
    hook.domains.delete("new.example.com")
    hook.tracking.update(hook.domain(), "open", active=True)
    hook.tracking.update(hook.domain(), "click", active="htmlonly")
    hook.tracking.update(hook.domain(), "unsubscribe", active=False, html_footer="<p>bye</p>")
    tracking = hook.tracking.get(hook.domain())["tracking"]
    assert tracking["open"]["active"] is True
    assert tracking["click"]["active"] == "htmlonly"
    assert tracking["unsubscribe"]["active"] is False
    assert tracking["unsubscribe"]["html_footer"] == "<p>bye</p>"
    hook.credentials.create(hook.domain(), "alice", "a-long-password-123")
    assert "alice@" in str(list(hook.credentials.iter(hook.domain())))
    hook.credentials.delete(hook.domain(), "alice")


def test_messages_and_events(hook: MailgunHook, mailgun_emulator: MailgunEmulator) -> None:
    result = hook.messages.send(
        hook.domain(), {"from": "a@mg.example.com", "to": "b@example.org", "subject": "s", "text": "t"}
    )
    mime = hook.messages.send_mime(hook.domain(), ["c@example.org"], b"Subject: m\r\n\r\nbody")
    events = list(hook.events.iter(hook.domain(), ascending=True, begin=0, message_id=result.id))
    assert {e["event"] for e in events} == {"accepted", "delivered"}
    assert mime.message_id
    assert len(mailgun_emulator.messages()) == 2


def test_routes_webhooks_and_templates(hook: MailgunHook) -> None:
    route = hook.routes.create(
        expression='match_recipient(".*@mg.example.com")', actions=["stop()"], priority=1, description="r"
    )["route"]
    assert hook.routes.get(route["id"])["description"] == "r"
    hook.routes.update(route["id"], description="r2")
    assert [r["description"] for r in hook.routes.iter()] == ["r2"]
    hook.routes.delete(route["id"])
    hook.webhooks.create(hook.domain(), "delivered", ["https://hooks.example.org/a"])
    hook.webhooks.update(hook.domain(), "delivered", ["https://hooks.example.org/b"])
    assert "hooks.example.org/b" in str(hook.webhooks.get(hook.domain(), "delivered"))
    assert "delivered" in hook.webhooks.list(hook.domain())
    hook.webhooks.delete(hook.domain(), "delivered")
    hook.templates.create(hook.domain(), "t1", template="<p>{{x}}</p>", tag="v1")
    assert [t["name"] for t in hook.templates.iter(hook.domain())] == ["t1"]
    assert hook.templates.get(hook.domain(), "t1")["name"] == "t1"
    hook.templates.delete(hook.domain(), "t1")
    with pytest.raises(MailgunNotFoundError):
        hook.templates.get(hook.domain(), "t1")


def test_lists_and_members(hook: MailgunHook) -> None:
    hook.lists.create("team@mg.example.com", name="Team")
    hook.lists.update("team@mg.example.com", description="all of us")
    assert hook.lists.get("team@mg.example.com")["description"] == "all of us"
    assert "team@mg.example.com" in [item["address"] for item in hook.lists.iter()]
    hook.members.add("team@mg.example.com", "a@example.org", name="A", vars={"n": 1})
    hook.members.upsert_many("team@mg.example.com", [{"address": f"m{i}@example.org"} for i in range(150)])
    hook.members.update("team@mg.example.com", "a@example.org", subscribed=False)
    assert hook.members.get("team@mg.example.com", "a@example.org")["subscribed"] is False
    hook.members.delete("team@mg.example.com", "m0@example.org")
    assert len(list(hook.members.iter("team@mg.example.com"))) == 150
    hook.lists.delete("team@mg.example.com")


@pytest.mark.parametrize("kind", ["bounces", "unsubscribes", "complaints", "whitelists"])
def test_suppression_tables(hook: MailgunHook, kind: str) -> None:
    table = hook.suppressions(kind)
    table.add(hook.domain(), "one@example.org")
    if kind == "whitelists":
        table.add(hook.domain(), domain="partner.example.org")  # a whole domain, not an address
        assert table.get(hook.domain(), "partner.example.org")
    else:
        table.add_many(hook.domain(), [{"address": f"s{i}@example.org"} for i in range(5)])
    assert table.get(hook.domain(), "one@example.org")
    assert len(list(table.iter(hook.domain()))) == (2 if kind == "whitelists" else 6)
    table.delete(hook.domain(), "one@example.org")
    table.delete_all(hook.domain())
    assert list(table.iter(hook.domain())) == []


def test_stats_tags_ips_and_maton_connections(hook: MailgunHook) -> None:
    hook.messages.send(
        hook.domain(),
        {"from": "a@mg.example.com", "to": "b@example.org", "subject": "s", "text": "t", "o:tag": "weekly"},
    )
    assert "stats" in hook.stats.totals(hook.domain(), ["accepted", "delivered"], duration="1d")
    assert [t["tag"] for t in hook.tags.iter(hook.domain())] == ["weekly"]
    assert hook.tags.get(hook.domain(), "weekly")["tag"] == "weekly"
    hook.tags.delete(hook.domain(), "weekly")
    ips = hook.ips.list()
    assert ips["items"]
    assert hook.ips.get(ips["items"][0])
    if hook.config.via_maton:
        (active,) = hook.connections.list(status="ACTIVE")
        created = hook.connections.create()
        assert hook.connections.get(created["connection_id"])["status"] == "PENDING"
        hook.connections.delete(created["connection_id"])
        assert active["app"] == "mailgun"


def test_help_on_the_list_and_member_methods_says_what_they_do(hook: MailgunHook) -> None:
    import inspect
    import pydoc

    for group in (hook.lists, hook.members):
        for name, method in inspect.getmembers(group, inspect.ismethod):
            if not name.startswith("_"):
                assert inspect.getdoc(method), f"help(hook.{type(group).__name__}.{name}) shows no docstring"
    shown = pydoc.render_doc(hook.lists.create, renderer=pydoc.plaintext)
    assert "access_level" in shown
    assert 'hook.lists.create("news@mg.example.com"' in shown
