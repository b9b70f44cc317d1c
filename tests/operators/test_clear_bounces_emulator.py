"""MailgunClearBouncesOperator against the emulator over real HTTP: exactly the matching records go.

Expected results are computed from the seed data with plain Python, independently of the
operator's rules module, and compared with the emulator's own table.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_mailgun.exceptions import IncompleteOperationError
from airflow_provider_mailgun.operators.suppressions import (
    MailgunClearBouncesOperator,
    MailgunClearUnsubscribesOperator,
)

DAY = 86_400
TABLE_SIZE = 5_000
# A quarter 4xx (soft) bounces, the rest 5xx (hard).
CODES = ("421", "450", "550", "550", "550", "551", "552", "554")
ERRORS = ("4.2.2 Mailbox full", "Try again later", "5.1.1 No such user here", "Blocked by policy", "")


def seed_bounces(emu: Any, size: int, seed: int = 6) -> list[dict[str, Any]]:
    """``size`` bounces with known code, error and age (whole days plus half a day, so no record
    sits near a day-sized threshold); returns the seed rows with their ``age_days``."""
    rng = random.Random(seed)
    now = time.time()
    rows = []
    for i in range(size):
        age = rng.randrange(0, 60) + 0.5
        rows.append(
            {
                "address": f"user{i:05d}@example.org",
                "code": rng.choice(CODES),
                "error": rng.choice(ERRORS),
                "created_at": now - age * DAY,
                "age_days": age,
            }
        )
    emu.seed_suppressions(
        emu.domain, "bounces", [{k: v for k, v in r.items() if k != "age_days"} for r in rows]
    )
    return rows


def table_keys(emu: Any, kind: str = "bounces") -> set[str]:
    """The emulator's own view of a table (in-process, no HTTP)."""
    with emu.state.lock:
        return set(emu.state.domains[emu.domain].suppressions[kind].records)


def deletes(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "DELETE"]


def clear(conn_id: str, **kwargs: Any) -> dict[str, Any]:
    operator = MailgunClearBouncesOperator(task_id="clear", mailgun_conn_id=conn_id, **kwargs)
    result: dict[str, Any] = operator.execute(context={})  # type: ignore[arg-type]
    return result


RULE_CASES: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = {
    "soft_codes": (
        {"codes": ["4xx"]},
        lambda r: r["code"].startswith("4"),
    ),
    "older_than_45_days": (
        {"older_than": "P45D"},
        lambda r: r["age_days"] > 45,
    ),
    "error_text": (
        {"error_matches": r"(?i)mailbox FULL"},
        lambda r: "mailbox full" in r["error"].lower(),
    ),
    "combined": (
        {
            "codes": ["5xx"],
            "error_matches": "No such user",
            "older_than": timedelta(days=7),
            "newer_than": "P30D",
        },
        lambda r: r["code"].startswith("5") and "No such user" in r["error"] and 7 < r["age_days"] < 30,
    ),
}


@pytest.mark.parametrize("case", list(RULE_CASES))
def test_rules_delete_exactly_the_matching_records(
    mailgun_emulator: Any, mailgun_conn_id: str, case: str
) -> None:
    rules, expected_match = RULE_CASES[case]
    rows = seed_bounces(mailgun_emulator, TABLE_SIZE)
    expected = sorted(r["address"] for r in rows if expected_match(r))
    assert 100 < len(expected) < TABLE_SIZE / 3  # the case is meaningful and the table mixed

    result = clear(mailgun_conn_id, **rules)

    assert table_keys(mailgun_emulator) == {r["address"] for r in rows} - set(expected)
    assert result == {
        "matched": len(expected),
        "deleted": len(expected),
        "not_found": 0,
        "dry_run": False,
        "sample": expected[:20],
    }
    deleted_paths = [r["path"] for r in deletes(mailgun_emulator)]
    assert len(deleted_paths) == len(expected)  # one DELETE per match, never the table itself
    assert all(path.rsplit("/", 1)[-1] in set(expected) for path in deleted_paths)


def test_guard_stops_before_any_delete_and_says_how_many(mailgun_emulator: Any, mailgun_conn_id: str) -> None:
    rows = seed_bounces(mailgun_emulator, TABLE_SIZE)
    soft = sum(r["code"].startswith("4") for r in rows)
    with pytest.raises(Exception, match=rf"^{soft} bounces would be deleted, more than max_deletions=1000"):
        clear(mailgun_conn_id, codes=["4xx"], max_deletions=1000)
    assert deletes(mailgun_emulator) == []
    assert len(table_keys(mailgun_emulator)) == TABLE_SIZE
    # At the limit it goes ahead (a dry run, to keep the test fast).
    assert clear(mailgun_conn_id, codes=["4xx"], max_deletions=soft, dry_run=True)["matched"] == soft


def test_dry_run_reads_and_reports_but_sends_no_delete(
    mailgun_emulator: Any, mailgun_conn_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = seed_bounces(mailgun_emulator, TABLE_SIZE)
    soft = sorted(r["address"] for r in rows if r["code"].startswith("4"))
    with caplog.at_level(logging.INFO, logger="airflow_provider_mailgun"):
        result = clear(mailgun_conn_id, codes=["4xx"], dry_run=True)
    assert result == {
        "matched": len(soft),
        "deleted": 0,
        "not_found": 0,
        "dry_run": True,
        "sample": soft[:20],
    }
    assert deletes(mailgun_emulator) == []
    assert [r["method"] for r in mailgun_emulator.requests()] == ["GET"] * 6  # 5 pages and the empty end
    assert len(table_keys(mailgun_emulator)) == TABLE_SIZE
    assert f"Dry run: would delete {len(soft)} bounces" in caplog.text
    assert f"and {len(soft) - 20} more" in caplog.text
    assert soft[25] not in caplog.text  # a sample, not the whole list


def test_clear_all_empties_the_table_with_one_request(mailgun_emulator: Any, mailgun_conn_id: str) -> None:
    seed_bounces(mailgun_emulator, TABLE_SIZE)
    result = clear(mailgun_conn_id, clear_all=True)
    assert table_keys(mailgun_emulator) == set()
    requests = mailgun_emulator.requests()
    assert [(r["method"], r["path"]) for r in requests] == [
        ("DELETE", f"/v3/{mailgun_emulator.domain}/bounces")
    ]
    assert result == {"matched": None, "deleted": None, "not_found": 0, "dry_run": False, "sample": []}


def test_clear_all_dry_run_and_guard_count_first(mailgun_emulator: Any, mailgun_conn_id: str) -> None:
    rows = seed_bounces(mailgun_emulator, 1_500)
    result = clear(mailgun_conn_id, clear_all=True, dry_run=True)
    assert result["matched"] == 1_500
    assert result["sample"] == [r["address"] for r in rows[:20]]
    with pytest.raises(Exception, match="1500 bounces would be deleted, more than max_deletions=1499"):
        clear(mailgun_conn_id, clear_all=True, max_deletions=1_499)
    assert deletes(mailgun_emulator) == []
    assert len(table_keys(mailgun_emulator)) == 1_500
    assert clear(mailgun_conn_id, clear_all=True, max_deletions=1_500)["deleted"] == 1_500
    assert table_keys(mailgun_emulator) == set()
    assert len(deletes(mailgun_emulator)) == 1


def test_no_rule_that_renders_empty_can_clear_the_table(mailgun_emulator: Any, mailgun_conn_id: str) -> None:
    seed_bounces(mailgun_emulator, 300)
    operator = MailgunClearBouncesOperator(task_id="clear", mailgun_conn_id=mailgun_conn_id, codes="{{ x }}")
    renders: list[Any] = ["", [], None]
    for rendered in renders:
        operator.codes = rendered  # what a template or XCom may render to
        with pytest.raises(Exception, match="Nothing selects which bounces to clear"):
            operator.execute(context={})  # type: ignore[arg-type]
    assert mailgun_emulator.requests() == []
    assert len(table_keys(mailgun_emulator)) == 300


def test_explicit_addresses_count_missing_ones_as_not_found(
    mailgun_emulator: Any, mailgun_conn_id: str
) -> None:
    rows = seed_bounces(mailgun_emulator, 50)
    listed = [rows[0]["address"], rows[1]["address"].upper(), rows[1]["address"], "gone@example.org"]

    dry = clear(mailgun_conn_id, addresses=listed, dry_run=True)
    assert dry == {
        "matched": 3,
        "deleted": 0,
        "not_found": 1,
        "dry_run": True,
        "sample": [*listed[:1], *listed[2:]],
    }
    assert deletes(mailgun_emulator) == []

    result = clear(mailgun_conn_id, addresses=listed)
    assert result == {"matched": 3, "deleted": 2, "not_found": 1, "dry_run": False, "sample": dry["sample"]}
    assert table_keys(mailgun_emulator) == {r["address"] for r in rows[2:]}


def test_a_wrong_domain_fails_instead_of_counting_everything_not_found(
    mailgun_emulator: Any, mailgun_conn_id: str
) -> None:
    with pytest.raises(Exception, match="404"):
        clear(mailgun_conn_id, domain="nope.example.com", addresses=["a@example.org"])
    assert deletes(mailgun_emulator) == []


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 0.2, "statuses": [429, 500, 503], "path": "/bounces", "methods": ["DELETE"]},
        {"error_rate": 0.15, "reset_rate": 0.05, "statuses": [500, 502, 503], "path": "/bounces"},
    ],
    ids=["deletes", "pages_and_deletes_with_resets"],
)
def test_transient_faults_still_end_with_exactly_the_matching_records_gone(
    mailgun_emulator: Any, monkeypatch: pytest.MonkeyPatch, faults: dict[str, Any]
) -> None:
    emu = mailgun_emulator
    # More attempts than the default so 20% faults cannot exhaust one delete (0.2**10 per record).
    conn = {
        "conn_type": "mailgun",
        "host": emu.url,
        "password": emu.mailgun_key,
        "extra": {"max_attempts": 10},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MAILGUN_FLAKY", json.dumps(conn))
    rows = seed_bounces(emu, 1_000)
    expected = {r["address"] for r in rows if r["code"].startswith("4")}
    emu.set_faults({**faults, "retry_after": 0})

    result = clear("mailgun_flaky", domain=emu.domain, codes=["4xx"], max_concurrency=8)

    assert table_keys(emu) == {r["address"] for r in rows} - expected
    assert result["deleted"] + result["not_found"] == result["matched"] == len(expected)
    assert result["not_found"] == 0  # injected errors are answered before anything changes
    injected = Counter(r["fault"] for r in emu.requests() if r.get("fault"))
    assert sum(injected.values()) > 10  # the faults really happened
    assert ("reset" in injected) == ("reset_rate" in faults)


def test_a_lasting_failure_stops_new_deletes_and_fails_the_task(
    mailgun_emulator: Any, mailgun_conn_id: str
) -> None:
    seed_bounces(mailgun_emulator, 1_000)
    mailgun_emulator.set_faults(
        {"error_rate": 1.0, "statuses": [400], "path": "/bounces/", "methods": ["DELETE"]}
    )
    with pytest.raises(IncompleteOperationError, match="deletions on bounces failed after retries"):
        clear(mailgun_conn_id, codes=["4xx"], max_concurrency=4)
    assert len(deletes(mailgun_emulator)) <= 2 * 4 + 1  # what was already in flight, not 250 more
    assert len(table_keys(mailgun_emulator)) == 1_000


def test_other_tables_by_age_including_whitelisted_domains(
    mailgun_emulator: Any, mailgun_conn_id: str
) -> None:
    emu = mailgun_emulator
    now = time.time()
    emu.seed_suppressions(
        emu.domain,
        "unsubscribes",
        [{"address": f"u{i}@example.org", "created_at": now - (i + 0.5) * DAY} for i in range(20)],
    )
    result = MailgunClearUnsubscribesOperator(
        task_id="clear", mailgun_conn_id=mailgun_conn_id, newer_than="P5D"
    ).execute(context={})  # type: ignore[arg-type]
    assert result["deleted"] == 5
    assert table_keys(emu, "unsubscribes") == {f"u{i}@example.org" for i in range(5, 20)}

    emu.seed_suppressions(
        emu.domain,
        "whitelists",
        [
            {"domain": "old-partner.example", "created_at": now - 40 * DAY},
            {"address": "old@example.org", "created_at": now - 35 * DAY},
            {"address": "new@example.org", "created_at": now - DAY},
        ],
    )
    result = clear(mailgun_conn_id, suppression_type="whitelists", older_than="P30D")
    assert result["deleted"] == 2
    assert table_keys(emu, "whitelists") == {"new@example.org"}


def test_through_the_gateway(mailgun_emulator: Any, maton_conn_id: str) -> None:
    rows = seed_bounces(mailgun_emulator, 30)
    soft = {r["address"] for r in rows if r["code"].startswith("4")}
    result = clear(maton_conn_id, codes=["4xx"])
    assert result["deleted"] == len(soft) > 0
    assert table_keys(mailgun_emulator) == {r["address"] for r in rows} - soft
