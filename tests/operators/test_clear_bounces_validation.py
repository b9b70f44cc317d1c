"""MailgunClearBouncesOperator refuses bad or dangerous settings when it is built (no HTTP here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_mailgun.operators.suppressions import (
    MailgunClearBouncesOperator,
    MailgunClearComplaintsOperator,
    MailgunClearUnsubscribesOperator,
)


def build(**kwargs: Any) -> MailgunClearBouncesOperator:
    return MailgunClearBouncesOperator(task_id="clear", domain="mg.example.com", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Nothing selects which bounces to clear"),
        ({"codes": []}, "Nothing selects"),
        ({"codes": "", "error_matches": None}, "Nothing selects"),
        ({"clear_all": True, "codes": ["4xx"]}, "got rules and clear_all"),
        ({"addresses": ["a@x.org"], "older_than": "P1D"}, "got addresses and rules"),
        ({"addresses": [], "clear_all": True}, "got addresses and clear_all"),
        ({"codes": ["4.2.1"]}, "Invalid bounce code"),
        ({"error_matches": "(unclosed"}, "not a valid regular expression"),
        ({"older_than": "seven days"}, "not an ISO 8601 duration"),
        ({"older_than": "P30D", "newer_than": "P7D"}, "must be shorter than newer_than"),
        ({"addresses": ["not-an-address"]}, "1 invalid address"),
        ({"codes": ["550"], "suppression_type": "unsubscribes"}, "exist only on bounces"),
        ({"clear_all": True, "suppression_type": "spam"}, "suppression_type must be one of"),
        ({"clear_all": True, "max_deletions": -1}, "max_deletions must be a non-negative"),
        ({"clear_all": True, "max_concurrency": 0}, "max_concurrency must be a positive"),
    ],
)
def test_bad_settings_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_each_way_of_selecting_records_is_accepted() -> None:
    assert build(codes=["4xx", 421]).codes == ["4xx", 421]  # kept as given: rendered later
    assert build(error_matches=r"(?i)mailbox full", older_than=timedelta(days=3)).older_than == timedelta(
        days=3
    )
    assert build(addresses=[]).addresses == []  # an empty XCom list is a no-op, not a refusal
    assert build(clear_all=True, dry_run=True).is_dry_run
    assert build(clear_all=True).suppression_type == "bounces"


def test_templated_and_xcom_values_are_checked_after_rendering() -> None:
    templated = build(codes="{{ params.codes }}", older_than="{{ params.age }}")
    assert templated.codes == "{{ params.codes }}"
    assert build(addresses="{{ ti.xcom_pull('list_bounces') }}").addresses.startswith("{{")


def test_typed_aliases_pick_their_table_and_keep_bounce_only_rules_out() -> None:
    assert MailgunClearUnsubscribesOperator(task_id="u", older_than="P90D").suppression_type == "unsubscribes"
    assert MailgunClearComplaintsOperator(task_id="c", clear_all=True).suppression_type == "complaints"
    with pytest.raises(ValueError, match="exist only on bounces, not on complaints"):
        MailgunClearComplaintsOperator(task_id="c", error_matches="spam")


def test_dry_run_does_not_shadow_the_base_operator_method() -> None:
    operator = build(clear_all=True, dry_run=True)
    assert "dry_run" not in vars(operator)  # BaseOperator.dry_run() is a method on Airflow 3.1+
    assert operator.is_dry_run
