"""Unit tests of emulator internals that the HTTP tests only reach indirectly."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun.testing.api.forms import FormError, parse_urlencoded
from airflow_provider_mailgun.testing.control.faults import FaultInjector, FaultSpec, RateLimiter
from airflow_provider_mailgun.testing.model.paging import SortedTable
from airflow_provider_mailgun.testing.model.templates import render_handlebars
from airflow_provider_mailgun.testing.util import parse_date, split_addresses

pairs = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20)), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_fast_urlencoded_parser_matches_parse_qsl(items):
    body = urlencode(items)
    assert parse_urlencoded(body) == parse_qsl(body, keep_blank_values=True)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab%3Dd0F&=+ \t", max_size=14))
def test_fast_parser_on_raw_bodies(raw):
    try:
        parsed = parse_urlencoded(raw)
    except FormError:
        # Only malformed escapes are rejected (as Mailgun does: "invalid URL escape").
        assert re.search(r"%(?![0-9A-Fa-f]{2})", raw)
        return
    assert parsed == parse_qsl(raw, keep_blank_values=True)


def test_parser_rejects_bad_escapes():
    with pytest.raises(FormError, match="invalid URL escape"):
        parse_urlencoded("to=a%ZZb")
    with pytest.raises(FormError, match="invalid URL escape"):
        parse_urlencoded("to=a%4")


def test_fault_spec_validation():
    assert FaultSpec.parse(None) is None
    spec = FaultSpec.parse('{"error_at": {"2": 503}, "methods": ["post"]}')
    assert spec is not None
    assert spec.error_at == {2: 503}
    assert spec.methods == ("POST",)
    assert spec.to_dict()["error_at"] == {"2": 503}
    for bad in ({"error_rate": 2}, {"unknown": 1}, "[1]", {"error_rate": 0.5, "statuses": []}):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)


def test_fault_injector_counts_sends_for_drop_after_store():
    spec = FaultSpec.parse({"drop_after_store": [2]})
    assert spec is not None
    injector = FaultInjector(spec, seed=0)
    kinds = [
        injector.decide("GET", "/v3/d/events", "direct"),
        injector.decide("POST", "/v3/d/messages", "direct"),
        injector.decide("POST", "/v3/d/messages.mime", "gateway"),
        injector.decide("POST", "/v3/d/messages", "ctrl"),
    ]
    assert [k.kind if k else None for k in kinds] == [None, None, "drop_after_store", None]


def test_rate_limiter_bucket():
    limiter = RateLimiter(2)
    assert limiter.take("a", 100.0) is None
    assert limiter.take("a", 100.0) is None
    assert limiter.take("a", 100.0) == pytest.approx(0.5)
    assert limiter.take("b", 100.0) is None
    assert limiter.take("a", 100.6) is None


def test_sorted_table_pages_cover_everything():
    table: SortedTable[int] = SortedTable()
    for i in range(57):
        table.put(f"k{i:03d}", i)
    seen, pivot = [], None
    while True:
        keys = table.page("next" if pivot is not None else "first", pivot, 10)
        if not keys:
            break
        seen += keys
        pivot = keys[-1]
    assert seen == sorted(table.records)
    assert table.page("previous", "k020", 5) == [f"k{i:03d}" for i in range(15, 20)]
    assert table.page("last", None, 3) == ["k054", "k055", "k056"]
    assert table.page("first", None, 100, prefix="k05") == [f"k{i:03d}" for i in range(50, 57)]
    assert table.page("first", None, 5, keep=lambda v: v % 2 == 0) == ["k000", "k002", "k004", "k006", "k008"]


def test_handlebars_and_helpers():
    out = render_handlebars(
        "{{ a }} {{{b}}} {{c.d}} {{! note }}{{missing}}", {"a": "<x>", "b": "<y>", "c": {"d": 1}}
    )
    assert out == "&lt;x&gt; <y> 1 "
    assert parse_date("Thu, 13 Oct 2011 18:02:00 +0000") == 1318528920.0
    assert parse_date("1318528920") == 1318528920.0
    assert parse_date("yesterday") is None
    assert split_addresses(['"Doe, John" <j@x.com>, k@y.org']) == [
        ('"Doe, John" <j@x.com>', "j@x.com", "Doe, John"),
        ("k@y.org", "k@y.org", ""),
    ]
    assert split_addresses(["no-at-sign"]) is None
