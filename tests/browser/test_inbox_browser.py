"""The emulator's web inbox in a real Chromium: what a person sees after a campaign DAG ran.

A 50-recipient personalised campaign goes out through the provider's hook (Maton gateway); the
tests then read the inbox like a user: the list, a search, one recipient's mail with its own
substitutions and events, a bounced one, the lists and suppression tables, and live updates.
The mail body tries scripts, event handlers and remote loads; none may happen.
Screenshots of every page are saved under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from airflow_provider_mailgun.testing import MailgunEmulator

from .conftest import ARTIFACTS
from .inbox_data import SCRIPT_MARKER, send_campaign

pytestmark = pytest.mark.usefixtures("browser")


@pytest.fixture
def campaign(mailgun_emulator: MailgunEmulator, maton_conn_id: str, httpserver: HTTPServer) -> list[str]:
    """The campaign, sent; ``httpserver`` stands for the outside world the mail tries to reach."""
    return send_campaign(maton_conn_id, mailgun_emulator.domain, httpserver.url_for("").rstrip("/"))


def _rows(page: Any) -> Any:
    return page.locator("#messages tbody tr:not(.empty)")


def test_inbox_list_search_and_message(
    page: Any,
    mailgun_emulator: MailgunEmulator,
    campaign: list[str],
    httpserver: HTTPServer,
    screenshot: Callable[..., Path],
) -> None:
    page.goto(mailgun_emulator.url + "/")
    assert _rows(page).count() == 50
    assert page.locator("#summary").inner_text().startswith("50 messages stored")
    screenshot(page, "inbox-list")

    # Search narrows the list (through the search box, like a person would).
    page.get_by_label("Search messages").fill("to:bounce")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=to%3Abounce"))
    assert _rows(page).count() == 2
    assert set(page.locator("#messages a.subject").all_inner_texts()) == {
        "June news for Kim",
        "June news for Lee",
    }
    screenshot(page, "inbox-search")

    # One recipient's copy, with its own substitutions and its delivered event.
    page.goto(mailgun_emulator.url + "/?q=subject:ada")
    page.get_by_role("link", name="June news for Ada").click()
    page.wait_for_url(re.compile(r"/inbox/messages/"))
    assert page.locator("#subject").inner_text() == "June news for Ada"
    assert "Hello Ada, your code is JUNE-00." in page.locator("#text-body").inner_text()
    mail = page.frame_locator("#html-body")
    assert mail.locator("h1").inner_text() == "Hello Ada"
    assert mail.locator("#code").inner_text() == "JUNE-00"
    assert page.locator("#user-variables").inner_text().split() == ["campaign", "june-JUNE-00"]
    events = page.locator("#events tbody tr")
    assert [row.locator("td").nth(1).inner_text() for row in events.all()] == ["accepted", "delivered"]
    assert events.nth(1).locator("td").nth(2).inner_text() == "250"

    # The sandbox: no scripts, no handlers, no remote loads; inline (cid:) images do show.
    frame = page.locator("#html-body")
    assert frame.get_attribute("sandbox") == "allow-same-origin"  # no scripts, forms or popups
    assert mail.locator("#marker").inner_text() == SCRIPT_MARKER
    assert page.title().startswith("June news for Ada")
    assert page.evaluate("() => window.pwned === undefined")
    logo = mail.locator("img[alt=logo]")
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 1
    assert httpserver.log == [], "the mail reached a remote server"
    assert any("Blocked script execution" in line for line in page.console)  # type: ignore[attr-defined]

    # The attachment downloads from the emulator.
    href = page.get_by_role("link", name="terms.txt").get_attribute("href")
    download = page.request.get(mailgun_emulator.url + str(href))
    assert download.ok
    assert download.body() == b"Terms and conditions apply.\n"
    screenshot(page, "inbox-message")


def test_bounced_message_shows_its_failure(
    page: Any, mailgun_emulator: MailgunEmulator, campaign: list[str], screenshot: Callable[..., Path]
) -> None:
    page.goto(mailgun_emulator.url + "/?q=to:bounce.kim@example.org")
    assert _rows(page).count() == 1
    assert _rows(page).locator(".status").inner_text() == "failed 550"
    page.get_by_role("link", name="June news for Kim").click()
    page.wait_for_url(re.compile(r"/inbox/messages/"))
    failed = page.locator("#events tbody tr").nth(1).locator("td")
    assert [failed.nth(i).inner_text() for i in range(5)][1:] == ["failed", "550", "permanent", "bounce"]
    assert "does not exist" in failed.nth(5).inner_text()
    screenshot(page, "inbox-bounced")


def test_lists_and_suppressions_pages(
    page: Any, mailgun_emulator: MailgunEmulator, campaign: list[str], screenshot: Callable[..., Path]
) -> None:
    members = [{"address": address, "vars": {"plan": "pro"}} for address in campaign[:47]]
    mailgun_emulator.seed_list("newsletter@mg.example.com", members, name="Newsletter")
    page.goto(mailgun_emulator.url + "/")
    page.get_by_role("link", name="Mailing lists").click()
    page.get_by_role("link", name="newsletter@mg.example.com").click()
    assert page.locator("#members tbody tr").count() == 47
    screenshot(page, "inbox-list-members")

    page.get_by_role("link", name="Suppressions").click()
    rows = page.locator("#suppressions tbody tr")
    assert rows.all_inner_texts()[0].split("\t")[:2] == ["bounce.kim@example.org", "550"]
    assert rows.count() == 2
    page.get_by_role("link", name=re.compile(r"Complaints \(1\)")).click()
    assert page.locator("#suppressions tbody tr").inner_text().startswith("complain.max@example.org")
    screenshot(page, "inbox-suppressions")


def test_list_updates_itself_while_messages_arrive(
    page: Any, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    """No reload: the page polls the version counter and swaps in the new rows within seconds."""
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    page.goto(mailgun_emulator.url + "/")
    assert _rows(page).count() == 0
    page.evaluate("() => { window.stillTheSamePage = true; }")
    hook = MailgunHook(maton_conn_id)
    try:
        for index in range(3):
            fields = {"from": f"ops@{mailgun_emulator.domain}", "to": f"ops{index}@example.org"}
            hook.messages.send(mailgun_emulator.domain, {**fields, "subject": f"Run {index}", "text": "ok"})
    finally:
        hook.close()
    started = time.monotonic()
    page.wait_for_function(
        "() => document.querySelectorAll('#messages a.subject').length === 3", timeout=10_000
    )
    assert time.monotonic() - started < 10
    assert page.evaluate("() => window.stillTheSamePage") is True
    assert page.locator("#messages a.subject").all_inner_texts() == ["Run 2", "Run 1", "Run 0"]


def test_page_load_with_100k_stored_copies(
    page: Any, mailgun_emulator: MailgunEmulator, screenshot: Callable[..., Path]
) -> None:
    """The newest page and a deep page load in the browser in well under a second with 100k copies."""
    import requests

    with requests.Session() as session:
        session.auth = ("api", mailgun_emulator.mailgun_key)
        for batch in range(100):
            to = [f"user{batch * 1000 + i}@example.org" for i in range(1000)]
            variables = json.dumps({a: {"n": batch * 1000 + i} for i, a in enumerate(to)})
            reply = session.post(
                f"{mailgun_emulator.url}/v3/{mailgun_emulator.domain}/messages",
                data={
                    "from": f"bulk@{mailgun_emulator.domain}",
                    "to": to,
                    "subject": "Bulk %recipient.n%",
                    "text": "x",
                    "recipient-variables": variables,
                },
                timeout=30,
            )
            assert reply.ok, reply.text
    figures = {}
    for name, path in (("newest page", "/"), ("deep page", "/?before=31337")):
        page.goto(mailgun_emulator.url + path)
        timing = page.evaluate(
            "() => { const t = performance.getEntriesByType('navigation')[0];"
            " return {response: t.responseEnd - t.requestStart, load: t.loadEventEnd - t.startTime}; }"
        )
        figures[name] = timing
        assert _rows(page).count() == 50
        assert timing["load"] < 2000, f"{name}: {timing}"
    assert page.locator("#messages a.subject").first.inner_text() == "Bulk 31336"
    screenshot(page, "inbox-100k-deep-page", full_page=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "inbox-browser-timing-100k.json").write_text(json.dumps(figures, indent=2))


@pytest.mark.mailgun_emulator(delivery_delay=3.0)
def test_message_timeline_updates_itself(
    page: Any, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    """An open message shows its delivery when it happens (here 3 s after acceptance)."""
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    hook = MailgunHook(maton_conn_id)
    try:
        fields = {
            "from": f"ops@{mailgun_emulator.domain}",
            "to": "late@example.org",
            "subject": "Later",
            "text": "x",
        }
        hook.messages.send(mailgun_emulator.domain, fields)
    finally:
        hook.close()
    page.goto(mailgun_emulator.url + "/")
    page.get_by_role("link", name="Later").click()
    page.wait_for_url(re.compile(r"/inbox/messages/"))
    assert page.locator("#events tbody tr").all_inner_texts()[0].split("\t")[1] == "accepted"
    assert page.locator("#events tbody tr").count() == 1
    page.wait_for_function("() => document.querySelectorAll('#events tbody tr').length === 2", timeout=10_000)
    assert page.locator("#events tbody tr").nth(1).locator("td").nth(1).inner_text() == "delivered"
