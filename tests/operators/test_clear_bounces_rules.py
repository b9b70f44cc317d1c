"""Suppression matching rules: the predicate agrees with an independent reference on any record."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._suppressions.rules import (
    SuppressionRules,
    code_matcher,
    created_at,
    matching_addresses,
    normalise_codes,
    parse_date_text,
    parse_duration,
    target_addresses,
)
from airflow_provider_mailgun.exceptions import RuleError

NOW = datetime(2025, 6, 15, 12, 0, 0, tzinfo=timezone.utc)
DAY = 86_400

codes_3 = st.text("0123456789", min_size=3, max_size=3)
patterns = st.text("0123456789x", min_size=3, max_size=3)
WORDS = ("mailbox full", "No such user", "try again later", "blocked", "")


def _code_reference(pattern: str, code: str) -> bool:
    return len(code) == 3 and all(p in ("x", c) for p, c in zip(pattern, code, strict=True))


def _date_text(moment: datetime, style: str) -> Any:
    """The spellings of a timestamp seen in Mailgun data (RFC 2822 in several zones, ISO, epoch)."""
    if style == "utc":
        return format_datetime(moment, usegmt=True).replace(" GMT", " UTC")
    if style == "gmt":
        return format_datetime(moment, usegmt=True)
    if style == "offset":
        return format_datetime(moment.astimezone(timezone(timedelta(hours=-5))))
    if style == "unknown_zone":
        return moment.strftime("%a, %d %b %Y %H:%M:%S -0000")
    if style == "iso":
        return moment.isoformat()
    return int(moment.timestamp())


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=4), codes_3, st.booleans())
def test_code_ranges_match_digit_by_digit_for_strings_and_ints(
    wanted: list[str], code: str, as_int: bool
) -> None:
    matches = code_matcher(normalise_codes(wanted))
    value: Any = int(code) if as_int and not code.startswith("0") else code
    assert matches(value) == any(_code_reference(p, code) for p in wanted)


records = st.fixed_dictionaries(
    {
        "address": st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True),
        "code": codes_3,
        "error": st.sampled_from(WORDS),
        "age": st.integers(min_value=0, max_value=60 * DAY),
        "style": st.sampled_from(["utc", "gmt", "offset", "unknown_zone", "iso", "epoch", "missing"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(records, max_size=30),
    st.one_of(st.none(), st.lists(patterns, min_size=1, max_size=3)),
    st.one_of(st.none(), st.sampled_from([w for w in WORDS if w])),
    st.one_of(st.none(), st.integers(min_value=1, max_value=30 * DAY)),
    st.one_of(st.none(), st.integers(min_value=1, max_value=60 * DAY)),
)
def test_predicate_is_the_and_of_each_rule(
    items: list[dict[str, Any]],
    codes: list[str] | None,
    word: str | None,
    older: int | None,
    newer: int | None,
) -> None:
    if codes is None and word is None and older is None and newer is None:
        codes = ["xxx"]
    if older is not None and newer is not None and older >= newer:
        with pytest.raises(RuleError, match="must be shorter than newer_than"):
            SuppressionRules.build(older_than=timedelta(seconds=older), newer_than=timedelta(seconds=newer))
        newer = None
    rules = SuppressionRules.build(
        codes=codes,
        error_matches=re.escape(word) if word else None,
        older_than=timedelta(seconds=older) if older else None,
        newer_than=f"PT{newer}S" if newer else None,
        now=NOW,
    )
    table = []
    expected = []
    for item in items:
        record: dict[str, Any] = {"address": item["address"], "code": item["code"], "error": item["error"]}
        if item["style"] != "missing":
            record["created_at"] = _date_text(NOW - timedelta(seconds=item["age"]), item["style"])
        table.append(record)
        dated = item["style"] != "missing"
        ok = (
            (codes is None or any(_code_reference(p, item["code"]) for p in codes))
            and (word is None or word in item["error"])
            and (older is None or (dated and item["age"] > older))
            and (newer is None or (dated and item["age"] < newer))
        )
        if ok:
            expected.append(item["address"])
    assert matching_addresses(table, rules.predicate(NOW)) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-10 * DAY, max_value=10 * DAY), st.sampled_from(["utc", "gmt", "offset", "iso"]))
def test_created_at_reads_every_spelling_to_the_second(shift: int, style: str) -> None:
    moment = NOW + timedelta(seconds=shift)
    assert created_at({"created_at": _date_text(moment, style)}) == moment
    assert created_at({"createdAt": _date_text(moment, style)}) == moment  # whitelists


def test_created_at_unknown_values_are_none_and_never_match_an_age_rule() -> None:
    values: list[Any] = [None, "", "yesterday-ish", "Thu, 99 Foo 2011", [], True]
    for value in values:
        assert created_at({"created_at": value}) is None
    old = SuppressionRules.build(older_than="P1D").predicate(NOW)
    assert not old({"address": "a@example.org", "created_at": "not a date"})
    assert not old({"address": "a@example.org"})
    assert old({"address": "a@example.org", "created_at": "Thu, 13 Oct 2011 18:02:00 UTC"})


def test_created_at_is_read_with_pendulum_and_a_zone_it_cannot_place_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    real_parse = pendulum.parse

    def spy(text: str, **options: Any) -> Any:
        seen.append(text)
        return real_parse(text, **options)

    parse_date_text.cache_clear()
    monkeypatch.setattr(pendulum, "parse", spy)
    mailgun_date = "Thu, 13 Oct 2011 18:02:00 UTC"
    assert created_at({"created_at": mailgun_date}) == datetime(2011, 10, 13, 18, 2, tzinfo=timezone.utc)
    assert created_at({"created_at": "Thu, 13 Oct 2011 20:02:00 +0200"}) == datetime(
        2011, 10, 13, 18, 2, tzinfo=timezone.utc
    )
    assert seen == [mailgun_date, "Thu, 13 Oct 2011 20:02:00 +0200"]
    # A zone name dateutil does not know would be read as UTC, hours off: no guess, no match.
    assert created_at({"created_at": "Thu, 13 Oct 2011 18:02:00 XYZT"}) is None
    parse_date_text.cache_clear()


def test_codes_are_normalised_and_bad_codes_named() -> None:
    assert normalise_codes(["421", 450, "5XX", "421"]) == ("421", "450", "5xx")
    assert normalise_codes("421, 4xx 552") == ("421", "4xx", "552")
    assert normalise_codes(550) == ("550",)
    assert normalise_codes(None) == ()
    with pytest.raises(RuleError, match=r"'42', '5\.1\.1', True"):
        normalise_codes(["42", "5.1.1", True, "550"])
    matches = code_matcher(("550",))
    assert matches(550.0)
    assert not matches(None)
    assert not matches("5500")
    assert not code_matcher(("4xx",))("4.2")  # x stands for a digit only


def test_durations_accept_timedelta_pendulum_and_iso_and_reject_the_rest() -> None:
    assert parse_duration("P7D", "older_than") == timedelta(days=7)
    assert parse_duration("PT12H", "older_than") == timedelta(hours=12)
    assert parse_duration(pendulum.duration(hours=3), "x") == timedelta(hours=3)
    assert parse_duration(timedelta(minutes=5), "x") == timedelta(minutes=5)
    for bad, message in [
        ("7 days", "not an ISO 8601 duration"),
        ("2024-01-01", "not an ISO 8601 duration"),
        ("P0D", "positive"),
        (timedelta(seconds=-1), "positive"),
        (7, "must be a timedelta"),
    ]:
        with pytest.raises(RuleError, match=message):
            parse_duration(bad, "older_than")  # type: ignore[arg-type]


def test_month_durations_follow_the_calendar() -> None:
    rules = SuppressionRules.build(older_than="P1M")
    matches = rules.predicate(datetime(2024, 3, 31, tzinfo=timezone.utc))
    assert matches({"address": "a@example.org", "created_at": "Wed, 28 Feb 2024 23:59:59 UTC"})
    assert not matches({"address": "a@example.org", "created_at": "Thu, 29 Feb 2024 00:00:01 UTC"})


def test_rules_refuse_to_match_everything_by_accident() -> None:
    with pytest.raises(RuleError, match="whole table"):
        SuppressionRules.build().predicate(NOW)
    with pytest.raises(RuleError, match="non-empty regular expression"):
        SuppressionRules.build(error_matches="")
    with pytest.raises(RuleError, match="not a valid regular expression"):
        SuppressionRules.build(error_matches="mailbox (full")
    with pytest.raises(RuleError, match="no record can be older"):
        SuppressionRules.build(older_than="P30D", newer_than="P7D")


def test_describe_names_every_rule() -> None:
    rules = SuppressionRules.build(codes=["4xx"], error_matches="full", older_than="P1D", newer_than="P9D")
    assert (
        rules.describe()
        == "code in 4xx AND error matches /full/ AND older than 1 day AND newer than 1 week 2 days"
    )


def test_target_addresses_dedupes_reads_records_and_names_bad_ones() -> None:
    assert target_addresses("a@x.org, A@X.org\nb@x.org", "bounces") == ["a@x.org", "b@x.org"]
    assert target_addresses([{"address": "c@x.org"}, "d@x.org"], "complaints") == ["c@x.org", "d@x.org"]
    assert target_addresses(["partner.example", "e@x.org"], "whitelists") == ["e@x.org", "partner.example"]
    assert target_addresses([], "bounces") == []
    with pytest.raises(RuleError, match=r"1 invalid address: 'partner\.example'"):
        target_addresses(["partner.example"], "bounces")
    with pytest.raises(RuleError, match="strings or records"):
        target_addresses([42], "bounces")
    with pytest.raises(RuleError, match="must be a list"):
        target_addresses(42, "bounces")
