"""What the sensor accepts as ``message_ids``, ``expected_recipients`` and ``begin``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_mailgun._delivery.inputs import (
    default_begin,
    merge_expected,
    parse_message_ids,
    to_epoch,
)

A, B = "20240101.1.AAAA@mg.example.com", "20240101.2.BBBB@mg.example.com"


@pytest.mark.parametrize(
    ("value", "ids", "counts", "started"),
    [
        (f"<{A}>", (A,), {}, None),
        ([f"<{A}>", B, A], (A, B), {}, None),
        (
            {"message_ids": [f"<{A}>", f"<{B}>"], "recipients_per_message": {f"<{A}>": 2, B: "3"}},
            (A, B),
            {A: 2, B: 3},
            None,
        ),
        ({"message_ids": [A], "recipients_per_message": {A: 1}, "started_at": 100.5}, (A,), {A: 1}, 100.5),
        # A mapped send: one result per map index; the earliest send wins.
        (
            [
                {"message_ids": [A], "recipients_per_message": {A: 1}, "started_at": "1970-01-01T00:02:00Z"},
                {"message_ids": [B], "recipients_per_message": {B: 4}, "started_at": 60},
            ],
            (A, B),
            {A: 1, B: 4},
            60.0,
        ),
        # Rendered by Jinja without native rendering: the repr of the dict.
        (str({"message_ids": [f"<{A}>"], "recipients_per_message": {f"<{A}>": 5}}), (A,), {A: 5}, None),
    ],
)
def test_message_ids_forms(value: Any, ids: tuple[str, ...], counts: dict[str, int], started: Any) -> None:
    sent = parse_message_ids(value)
    assert (sent.ids, sent.counts, sent.started_at, sent.domain) == (ids, counts, started, None)


def test_the_send_results_domain_is_kept_and_must_agree() -> None:
    one = {"message_ids": [A], "domain": "mg.example.com"}
    assert (
        parse_message_ids([one, {"message_ids": [B], "domain": "mg.example.com"}]).domain == "mg.example.com"
    )
    with pytest.raises(ValueError, match="two domains"):
        parse_message_ids([one, {"message_ids": [B], "domain": "other.example.com"}])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([], "empty"),
        ("", "empty"),
        ({"ids": [A]}, "message_ids"),
        ({"message_ids": [A], "recipients_per_message": {A: 0}}, "at least 1"),
        ({"message_ids": [A], "recipients_per_message": {A: True}}, "integer"),
        ("{'message_ids': [", "does not parse"),
        (42, "int"),
    ],
)
def test_bad_message_ids_get_one_clear_error(value: Any, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        parse_message_ids(value)


def test_expected_recipients_override_and_fill_counts() -> None:
    assert merge_expected((A, B), {A: 2}, None) == {A: 2}
    assert merge_expected((A, B), {A: 2}, 7) == {A: 7, B: 7}
    assert merge_expected((A, B), {A: 2}, {f"<{B}>": 3}) == {A: 2, B: 3}
    with pytest.raises(ValueError, match="not in message_ids"):
        merge_expected((A,), {}, {B: 1})


def test_times() -> None:
    assert to_epoch(12) == 12.0
    assert to_epoch("12.5") == 12.5
    assert to_epoch("1970-01-01T00:01:00+00:00") == 60.0
    assert to_epoch(datetime(1970, 1, 1, 0, 2)) == 120.0  # naive means UTC
    assert to_epoch(datetime(1970, 1, 1, 0, 2, tzinfo=timezone.utc)) == 120.0
    with pytest.raises(ValueError, match="ISO-8601"):
        to_epoch("yesterday")


def test_default_begin_is_a_margin_before_the_send() -> None:
    assert default_begin(started_at=1000.0, run_started=500.0, now=2000.0) == 400.0
    assert default_begin(started_at=None, run_started=1500.0, now=2000.0) == 900.0
    assert default_begin(started_at=None, run_started=None, now=2000.0) == 1400.0
    assert default_begin(started_at=5000.0, run_started=None, now=2000.0) == 1400.0  # clock skew: never later


@given(st.lists(st.sampled_from([A, B, f"<{A}>", f" <{B}> "]), min_size=1))
def test_ids_are_deduplicated_without_brackets(values: list[str]) -> None:
    ids = parse_message_ids(values).ids
    assert set(ids) <= {A, B}
    assert len(ids) == len(set(ids))
