"""The links' URLs from stored values, the registration Airflow reads, and the inbox's id filter.

The filter is exercised over real HTTP against the emulator; the URLs are pure functions of what a
task stored, so each kind of connection is checked here without running a task.
"""

from __future__ import annotations

import json
import re

import pytest
import requests

from airflow_provider_mailgun._connection.config import config_from_connection
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.links.mailgun import (
    MAX_LINKED_MESSAGES,
    list_target,
    list_url,
    messages_target,
    messages_url,
)
from airflow_provider_mailgun.testing import MailgunEmulator

DOMAIN = "mg.example.com"
LIST = "news@mg.example.com"


def _config(conn_type: str, host: str | None = None, **extra: str) -> ClientConfig:
    return config_from_connection(conn_type, host=host, password="key-very-secret", extra=extra)


@pytest.mark.parametrize(
    ("conn_type", "host", "extra", "site"),
    [
        ("mailgun", None, {}, "https://app.mailgun.com"),
        ("mailgun", None, {"region": "eu"}, "https://app.eu.mailgun.com"),
        ("mailgun", "https://api.eu.mailgun.net", {}, "https://app.eu.mailgun.com"),
        ("maton", None, {}, "https://app.mailgun.com"),
        ("maton", "https://gateway.maton.ai", {}, "https://app.mailgun.com"),
    ],
)
def test_mailgun_connections_link_to_the_dashboard_of_their_region(
    conn_type: str, host: str | None, extra: dict[str, str], site: str
) -> None:
    config = _config(conn_type, host, **extra)
    target = messages_target(config, DOMAIN, ["<20260101.1@mg.example.com>"])
    assert target["emulator"] is False
    # The dashboard takes no message filter in its address: the domain's logs.
    assert messages_url(target) == f"{site}/mg/sending/domains/{DOMAIN}/logs"
    assert list_url(list_target(config, LIST)) == f"{site}/mg/sending/mailing-lists/news%40mg.example.com"


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:8025",
        "http://127.0.0.1:8025/_eu",
        "http://localhost:8025/_maton/gateway",
        "http://user:pass@127.0.0.1:8025",
    ],
)
def test_the_emulator_links_to_its_inbox_origin_only(host: str) -> None:
    conn_type = "maton" if "_maton" in host else "mailgun"
    config = _config(conn_type, host)
    target = messages_target(config, DOMAIN, ["<A.1@mg.example.com>", "B.2@mg.example.com"])
    origin = "http://localhost:8025" if "localhost" in host else "http://127.0.0.1:8025"
    assert target == {
        "site": origin,
        "emulator": True,
        "domain": DOMAIN,
        "message_ids": ["A.1@mg.example.com", "B.2@mg.example.com"],
    }
    assert messages_url(target) == f"{origin}/?q=id%3AA.1%40mg.example.com+id%3AB.2%40mg.example.com"
    assert list_url(list_target(config, LIST)) == f"{origin}/inbox/lists/{LIST}"
    assert "pass" not in messages_url(target)
    assert "secret" not in json.dumps(target)


def test_a_plain_http_host_that_is_not_local_is_no_emulator() -> None:
    target = messages_target(_config("mailgun", "http://mailgun-proxy.internal"), DOMAIN)
    assert target["emulator"] is False
    assert messages_url(target) == f"https://app.mailgun.com/mg/sending/domains/{DOMAIN}/logs"


def test_a_send_too_large_to_list_links_to_its_domain_in_the_emulator() -> None:
    config = _config("mailgun", "http://127.0.0.1:8025")
    ids = [f"<{i}@mg.example.com>" for i in range(MAX_LINKED_MESSAGES + 1)]
    assert messages_url(messages_target(config, DOMAIN, ids)) == (
        "http://127.0.0.1:8025/?q=domain%3Amg.example.com"
    )


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"site": "https://evil.example", "domain": DOMAIN},
        {"site": "javascript:alert(1)", "domain": DOMAIN, "emulator": True},
        {"site": "http://10.0.0.5:8025", "domain": DOMAIN, "emulator": True},
    ],
)
def test_a_stored_value_that_is_not_a_known_site_gives_no_link(stored: dict[str, object]) -> None:
    assert messages_url(stored) == ""
    assert list_url({**stored, "list_address": LIST}) == ""


def test_a_target_without_its_domain_or_list_gives_no_link() -> None:
    assert messages_url({"site": "https://app.mailgun.com", "message_ids": ["a@b.c"]}) == ""
    assert list_url({"site": "https://app.mailgun.com", "domain": DOMAIN}) == ""


def test_the_inbox_filters_on_message_ids_over_http(mailgun_emulator: MailgunEmulator) -> None:
    emu = mailgun_emulator
    auth = ("api", emu.mailgun_key)
    ids = []
    for name in ("ann", "bob", "cat"):
        reply = requests.post(
            f"{emu.url}/v3/{emu.domain}/messages",
            auth=auth,
            data={"from": f"a@{emu.domain}", "to": f"{name}@example.org", "subject": "Hi", "text": "x"},
            timeout=10,
        )
        ids.append(reply.json()["id"])
    batch = requests.post(
        f"{emu.url}/v3/{emu.domain}/messages",
        auth=auth,
        data={
            "from": f"a@{emu.domain}",
            "to": ["dan@example.org", "eve@example.org"],
            "subject": "Hi %recipient.n%",
            "text": "x",
            "recipient-variables": json.dumps({"dan@example.org": {"n": 1}, "eve@example.org": {"n": 2}}),
        },
        timeout=10,
    ).json()["id"]

    def shown(query: str) -> list[str]:
        page = requests.get(f"{emu.url}/", params={"q": query}, timeout=10)
        assert page.status_code == 200
        table = page.text.split('id="messages"', 1)[1].split("</table>", 1)[0]
        return sorted(set(re.findall(r"[a-z]{3}@example\.org", table)))

    bare = [mid.strip("<>") for mid in ids]
    assert shown(f"id:{bare[0]}") == ["ann@example.org"]
    assert shown(f"id:{ids[0]} id:{bare[2]}") == ["ann@example.org", "cat@example.org"]  # any of them
    assert shown(f"id:{batch}") == ["dan@example.org", "eve@example.org"]  # every copy of a batch
    assert shown(f"id:{bare[1]} to:bob") == ["bob@example.org"]
    assert shown(f"id:{bare[1]} to:ann") == []  # the other words still narrow
    assert shown(f"id:{bare[1].lower()}") == []  # ids are matched as sent
    assert shown("id:nothing@mg.example.com") == []
