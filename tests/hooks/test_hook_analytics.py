"""Logs, Metrics, analytics Tags and validation through the hook, over HTTP, on both entrances."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.exceptions import (
    MailgunBadRequestError,
    MailgunQueryError,
    MailgunRetiredAPIError,
    MatonGatewayError,
)
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator


@pytest.fixture(params=["maton", "mailgun"])
def hook(request: pytest.FixtureRequest, mailgun_emulator: MailgunEmulator) -> MailgunHook:
    return MailgunHook(mailgun_conn_id=request.getfixturevalue(f"{request.param}_conn_id"))


def _campaign(hook: MailgunHook, recipients: int, tag: str = "news") -> str:
    to = [f"reader{i:03d}@example.org" for i in range(recipients)]
    fields = {"from": "n@mg.example.com", "to": to, "subject": "s", "text": "t", "o:tag": tag}
    fields["recipient-variables"] = "{}"
    return hook.messages.send(hook.domain(), fields).id


def test_logs_iterates_every_page_oldest_first(hook: MailgunHook, mailgun_emulator: MailgunEmulator) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    _campaign(hook, 130)
    items = list(hook.logs.iter(start=start, events=["accepted", "delivered"]))
    assert len(items) == 260
    assert [i["@timestamp"] for i in items] == sorted(i["@timestamp"] for i in items)
    assert len({i["id"] for i in items}) == 260
    assert items[0]["domain"] == {"name": hook.domain()}
    assert isinstance(items[0]["user-variables"], str)
    logs_calls = [r for r in mailgun_emulator.requests() if r["path"].endswith("/v1/analytics/logs")]
    assert len(logs_calls) == 3  # 100 + 100 + 60, and no empty trailing page
    delivered = list(hook.logs.iter(start=start, events="delivered", filter={"tag": "news"}))
    assert len(delivered) == 130


def test_metrics_tags_and_validation(hook: MailgunHook, mailgun_emulator: MailgunEmulator) -> None:
    _campaign(hook, 5, tag="spring")
    mailgun_emulator.engage("opened", tag="spring", limit=2)
    rows = list(
        hook.metrics.iter(
            duration="1d", dimensions=["tag"], metrics=["delivered_count", "opened_count", "opened_rate"]
        )
    )
    assert rows == [
        {
            "dimensions": [{"dimension": "tag", "value": "spring", "display_value": "spring"}],
            "metrics": {"delivered_count": 5, "opened_count": 2, "opened_rate": "40.00"},
        }
    ]
    assert [t["tag"] for t in hook.analytics_tags.iter()] == ["spring"]
    hook.analytics_tags.update("spring", "spring sale")
    assert next(iter(hook.analytics_tags.iter(tag="spr")))["description"] == "spring sale"
    assert hook.analytics_tags.limits()["count"] == 1
    hook.analytics_tags.delete("spring")
    assert list(hook.analytics_tags.iter()) == []
    verdict = hook.validations.validate("ada@gmial.com")
    assert verdict["result"] == "undeliverable"
    assert verdict["did_you_mean"] == "ada@gmail.com"


def test_bad_queries_fail_before_any_request(hook: MailgunHook, mailgun_emulator: MailgunEmulator) -> None:
    now = datetime.now(timezone.utc)
    bad_calls = [
        lambda: list(hook.logs.iter(start=now, end=now - timedelta(hours=1))),
        lambda: list(hook.logs.iter(events=["bounced"])),
        lambda: list(
            hook.logs.iter(filter={"AND": [{"attribute": "tag", "comparator": "like", "values": ["x"]}]})
        ),
        lambda: list(hook.metrics.iter(metrics=["delivered_count"], dimensions=["planet"])),
        lambda: hook.validations.validate("  "),
    ]
    for call in bad_calls:
        with pytest.raises(MailgunQueryError):
            call()
    assert mailgun_emulator.requests() == []


def test_a_gateway_that_does_not_forward_v1_names_the_workaround(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    mailgun_emulator.set_gateway_forwards_newer_apis(False)
    hook = MailgunHook(mailgun_conn_id=maton_conn_id)
    for call in (lambda: list(hook.logs.iter()), lambda: hook.validations.validate("a@example.org")):
        with pytest.raises(MatonGatewayError) as info:
            call()
        assert "use a direct 'mailgun' connection" in str(info.value)
        assert info.value.status == 404
    assert hook.domains.get(hook.domain())  # v3 paths still go through


def test_a_retired_events_api_raises_its_own_error(
    hook: MailgunHook, mailgun_emulator: MailgunEmulator
) -> None:
    mailgun_emulator.retire_events_api()
    with pytest.raises(MailgunRetiredAPIError) as info:
        list(hook.events.iter(hook.domain(), ascending=True, begin=0))
    assert info.value.status == 410
    assert "Logs API" in str(info.value)
    assert list(hook.logs.iter(duration="1d")) == []  # Logs still answer
    mailgun_emulator.restore_events_api()
    assert list(hook.events.iter(hook.domain(), ascending=True, begin=0)) == []


def test_events_api_can_be_retired_for_one_key_only(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, maton_conn_id: str
) -> None:
    mailgun_emulator.retire_events_api(keys=[mailgun_emulator.maton_key])
    direct, gateway = MailgunHook(mailgun_conn_id=mailgun_conn_id), MailgunHook(mailgun_conn_id=maton_conn_id)
    assert list(direct.events.iter(direct.domain(), ascending=True, begin=0)) == []
    with pytest.raises(MailgunRetiredAPIError):
        list(gateway.events.iter(gateway.domain(), ascending=True, begin=0))


def test_the_emulator_refuses_what_the_client_would_have_caught(hook: MailgunHook) -> None:
    with pytest.raises(MailgunBadRequestError, match=r"pagination\.limit"):
        hook.logs.query({"pagination": {"limit": 500}})
    with pytest.raises(MailgunBadRequestError, match="Invalid dimension"):
        hook.metrics.query({"metrics": ["delivered_count"], "dimensions": ["planet"]})


def test_async_logs_and_metrics(hook: MailgunHook, mailgun_emulator: MailgunEmulator) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    _campaign(hook, 120)

    async def read() -> tuple[int, list]:
        async with AsyncMailgunClient(hook.config) as client:
            count = 0
            async for _item in client.logs.iter(start=start, events=["delivered"]):
                count += 1
            rows = [row async for row in client.metrics.iter(duration="1d", metrics=["accepted_count"])]
            return count, rows

    count, rows = asyncio.run(read())
    assert count == 120
    assert rows[0]["metrics"] == {"accepted_count": 120}
    with pytest.raises(MailgunQueryError):
        AsyncMailgunClient(hook.config).logs.pages(events=["nope"])
