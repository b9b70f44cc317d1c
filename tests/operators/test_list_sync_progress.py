"""List sync as a user watches it: progress lines while the list is read and verified, and how a
member's vars are compared (CSV values are strings; a list's number 42 and a CSV's "42" differ)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun._list_sync import progress
from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.testing import MailgunEmulator

LIST = "news@mg.example.com"


def sync(conn_id: str, members: Any, **options: Any) -> dict[str, Any]:
    operator = MailgunSyncListMembersOperator(
        task_id="sync", mailgun_conn_id=conn_id, list_address=LIST, members=members, **options
    )
    return operator.execute(context={})  # type: ignore[arg-type]


def test_reading_and_verifying_a_list_say_how_far_they_are(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailgun_emulator.seed_list(LIST, [{"address": f"m{i:03d}@example.org"} for i in range(250)])
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)  # a line per page instead of every 5 s
    members = [f"m{i:03d}@example.org" for i in range(260)]
    with caplog.at_level(logging.INFO):
        result = sync(mailgun_conn_id, members, mode="upsert")
    assert result["added"] == 10
    lines = [r.getMessage() for r in caplog.records]
    reading = [line for line in lines if line.startswith(f"Reading {LIST}:")]
    verifying = [line for line in lines if line.startswith(f"Verifying {LIST}:")]
    assert reading[:3] == [
        f"Reading {LIST}: 100 of 250 members (40%)",
        f"Reading {LIST}: 200 of 250 members (80%)",
        f"Reading {LIST}: 250 of 250 members (100%)",
    ]
    assert [re.sub(r" \(\d+%\)$", "", line) for line in verifying] == [
        f"Verifying {LIST}: 100 of 260 members",
        f"Verifying {LIST}: 200 of 260 members",
        f"Verifying {LIST}: 260 of 260 members",
    ]


def test_progress_lines_are_spaced_in_time(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """At the default spacing, a list read in well under 5 s gets no progress line at all."""
    mailgun_emulator.seed_list(LIST, [{"address": f"m{i:03d}@example.org"} for i in range(250)])
    with caplog.at_level(logging.INFO):
        sync(mailgun_conn_id, [f"m{i:03d}@example.org" for i in range(250)], mode="upsert")
    assert not [r for r in caplog.records if r.getMessage().startswith(("Reading ", "Verifying "))]


def stored_vars(emu: MailgunEmulator, address: str) -> Any:
    with emu.state.lock:
        return emu.state.lists[LIST].members.records[address]["vars"]


def test_a_csv_value_is_a_string_so_a_numeric_var_is_rewritten_once_then_left(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    mailgun_emulator.seed_list(LIST, [{"address": "ann@example.org", "vars": {"points": 42}}])
    csv = tmp_path / "members.csv"
    csv.write_text("address,points\nann@example.org,42\n")
    assert sync(mailgun_conn_id, str(csv))["updated"] == 1  # 42 (number) is not "42" (text)
    assert stored_vars(mailgun_emulator, "ann@example.org") == {"points": "42"}
    assert sync(mailgun_conn_id, str(csv))["unchanged"] == 1  # from then on they match


def test_json_lines_keep_a_number_a_number(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    mailgun_emulator.seed_list(LIST, [{"address": "ann@example.org", "vars": {"points": 42}}])
    jsonl = tmp_path / "members.jsonl"
    jsonl.write_text(json.dumps({"address": "ann@example.org", "vars": {"points": 42}}) + "\n")
    assert sync(mailgun_conn_id, str(jsonl))["unchanged"] == 1
    assert stored_vars(mailgun_emulator, "ann@example.org") == {"points": 42}
