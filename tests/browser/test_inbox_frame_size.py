"""The web inbox sizes a mail's HTML frame to the mail: a two-line mail leaves its text, variables
and events in view; a long one is shown whole, without a scroll bar of its own. Real Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator

pytestmark = pytest.mark.usefixtures("browser")
SCREEN = 900  # a laptop's browser window, in CSS pixels


def send(conn_id: str, domain: str, recipient: str, html: str) -> None:
    hook = MailgunHook(mailgun_conn_id=conn_id)
    fields = {
        "from": f"news@{domain}",
        "to": recipient,
        "subject": f"Mail for {recipient}",
        "text": "Plain text.",
        "html": html,
        "v:campaign": "frames",
    }
    hook.messages.send(domain, fields)


def open_mail(page: Any, emu: MailgunEmulator, recipient: str) -> Any:
    page.set_viewport_size({"width": 1280, "height": SCREEN})
    page.goto(f"{emu.url}/?q=to:{recipient}")
    page.get_by_role("link", name=f"Mail for {recipient}").click()
    page.wait_for_url("**/inbox/messages/**")
    frame = page.locator("#html-body")
    # Sized once the mail's document has loaded; the frame starts at the style sheet's height.
    page.wait_for_function("() => document.getElementById('html-body').dataset.fitted === 'yes'")
    return frame


def inner_height(frame: Any) -> int:
    return int(frame.content_frame.locator("html").evaluate("html => html.scrollHeight"))


def test_a_two_line_mail_gets_a_small_frame(
    page: Any, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    send(maton_conn_id, mailgun_emulator.domain, "ann@example.com", "<p>Hello Ann,</p><p>See you soon.</p>")
    frame = open_mail(page, mailgun_emulator, "ann@example.com")
    height = frame.bounding_box()["height"]
    assert height < 200, height
    assert inner_height(frame) <= height  # the whole mail shows, nothing scrolls inside
    assert frame.content_frame.locator("p").nth(1).inner_text() == "See you soon."
    # What follows the mail is in the first screen, not pushed below the fold.
    for section in ("#user-variables", "#events"):
        assert page.locator(section).bounding_box()["y"] < SCREEN, section


def test_a_long_mail_is_shown_whole(page: Any, mailgun_emulator: MailgunEmulator, maton_conn_id: str) -> None:
    paragraphs = "".join(f"<p>Paragraph {i} of a long newsletter.</p>" for i in range(60))
    send(maton_conn_id, mailgun_emulator.domain, "bob@example.com", paragraphs)
    frame = open_mail(page, mailgun_emulator, "bob@example.com")
    height = frame.bounding_box()["height"]
    assert height > 1000, height
    assert inner_height(frame) <= height
