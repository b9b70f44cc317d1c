"""Send defects a review reproduced, each pinned against the emulator over real HTTP.

* A 2xx reply without a usable message id (a proxy's HTML page after Mailgun took the send) is
  ambiguous: reconciled against the events, never resent blindly.
* A quoted display name with a comma is one recipient, and reaches Mailgun as one.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.reliability.conftest import set_connection
from tests.reliability.servers import Answer, RewritingProxy

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM = "News <news@mg.example.com>"


def _sends(emu: MailgunEmulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]


def _html_for_second_send() -> Any:
    seen = {"sends": 0}

    def rewrite(method: str, path: str, status: int, body: bytes) -> Answer | None:
        if method != "POST" or not path.endswith("/messages") or status != 200:
            return None
        seen["sends"] += 1
        if seen["sends"] != 2:
            return None
        return 200, {"Content-Type": "text/html"}, b"<html><body>Request processed</body></html>"

    return rewrite


@pytest.mark.parametrize("body", ["html", "json without id"])
def test_a_2xx_without_a_message_id_is_reconciled_not_resent(
    airflow_db: None, mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    emu = mailgun_emulator
    rewrite = _html_for_second_send()
    if body != "html":
        html = rewrite

        def rewrite(method: str, path: str, status: int, content: bytes) -> Answer | None:
            answer = html(method, path, status, content)
            return None if answer is None else (200, {}, b'{"message": "Queued. Thank you."}')

    with RewritingProxy(emu.url, rewrite) as proxy:
        conn_id = set_connection(
            monkeypatch, "mailgun_via_proxy", conn_type="mailgun", host=proxy.url, password=emu.mailgun_key,
            extra={"default_domain": emu.domain},
        )  # fmt: skip
        with DAG(f"send_unusable_2xx_{body.replace(' ', '_')}", schedule=None, start_date=START) as dag:
            MailgunSendMessageOperator(
                task_id="send", mailgun_conn_id=conn_id, from_email=FROM,
                to=[f"p{i}@example.org" for i in range(8)], subject="s", text="t", batch_size=2,
                max_concurrency=1, reconcile_timeout=5, retries=1, retry_delay=timedelta(0),
            )  # fmt: skip
        dag_run = run_dag(dag)
        assert proxy.rewritten == 1
    assert task_states(dag_run) == {"send": "success"}
    copies = Counter(m["recipient"] for m in emu.messages())
    assert len(copies) == 8
    assert set(copies.values()) == {1}, copies
    assert len(_sends(emu)) == 4
    result = xcom_result(dag_run, "send")
    assert len(result["message_ids"]) == 4
    assert result["reconciled"] == 1


def test_a_quoted_display_name_with_a_comma_is_mailed_as_one_recipient(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    result = MailgunSendMessageOperator(
        task_id="names", mailgun_conn_id=mailgun_conn_id, from_email='"News, Weekly" <news@mg.example.com>',
        to='"Doe, John" <john@example.org>, ann@example.org', cc='"Ops; Team" <ops@example.org>',
        batch=False, subject="s", text="t", on_invalid="skip",
    ).execute({})  # type: ignore[arg-type]  # fmt: skip
    assert result["skipped_invalid"] == []
    copies = {m["recipient"]: m for m in mailgun_emulator.messages()}
    assert sorted(copies) == ["ann@example.org", "john@example.org", "ops@example.org"]
    assert '"Doe, John" <john@example.org>' in copies["john@example.org"]["to"]
    assert copies["john@example.org"]["from"] == '"News, Weekly" <news@mg.example.com>'
