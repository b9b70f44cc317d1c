"""Reading a list-sync source: CSV and JSON Lines files, lists, JSON text; validation and merging."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._list_sync.plan import SourceMember
from airflow_provider_mailgun._list_sync.sources import parse_entry, read_source
from airflow_provider_mailgun.exceptions import ListSourceError


def test_csv_columns_become_name_subscription_and_vars(tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    # A byte-order mark and odd header spacing, as spreadsheet exports have.
    path.write_text(
        "\ufeffAddress, Name ,city,plan,Subscribed\n"
        "ann@Example.org,Ann,Oslo,gold,\n"
        'bob@example.org,"Smith, Bob",,silver,no\n'
        "Carl <carl@example.org>,,Rome,,yes\n",
        encoding="utf-8",
    )
    source = read_source(str(path))
    assert source.invalid == []
    assert source.members == {
        "ann@example.org": SourceMember("ann@example.org", "Ann", '{"city":"Oslo","plan":"gold"}', None),
        # Empty cells are left out of vars.
        "bob@example.org": SourceMember("bob@example.org", "Smith, Bob", '{"plan":"silver"}', False),
        # An empty name cell does not hide the display name given with the address.
        "carl@example.org": SourceMember("carl@example.org", "Carl", '{"city":"Rome"}', True),
    }


def test_csv_without_var_columns_leaves_vars_alone(tmp_path: Path) -> None:
    path = tmp_path / "m.CSV"
    path.write_text("address\nann@example.org\n", encoding="utf-8")
    assert read_source(path).members == {"ann@example.org": SourceMember("ann@example.org", None, None, None)}


def test_csv_invalid_rows_are_named_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "address,name\nnot-an-address,X\nok@example.org,OK\nragged@example.org,R,extra\n,Empty\n",
        encoding="utf-8",
    )
    source = read_source(path)
    assert list(source.members) == ["ok@example.org"]
    assert source.rows == 4
    assert [value for value, _ in source.invalid] == ["not-an-address", "ragged@example.org", ""]
    reasons = [reason for _, reason in source.invalid]
    assert reasons[0].startswith("line 2: ")
    assert reasons[1] == "line 4: more cells than header columns"
    assert reasons[2] == "line 5: empty address"


def test_csv_without_address_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("email,name\na@example.org,A\n", encoding="utf-8")
    with pytest.raises(ListSourceError, match=r"m\.csv has no 'address' column \(header: email, name\)"):
        read_source(path)


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        json.dumps("Ann <ann@example.org>"),
        "",
        json.dumps({"address": "bob@example.org", "vars": '{"age": 30}', "subscribed": "no"}),
        "{not json",
        json.dumps({"address": "eve@example.org", "email": "x"}),
        json.dumps(42),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = read_source(str(path))
    assert source.members == {
        "ann@example.org": SourceMember("ann@example.org", "Ann", None, None),
        "bob@example.org": SourceMember("bob@example.org", None, '{"age":30}', False),
    }
    assert source.invalid == [
        ("{not json", "line 4: not valid JSON"),
        ("eve@example.org", "line 5: unknown field(s) email (use vars for custom data)"),
        ("42", "line 6: expected an address or an object with 'address', got int"),
    ]


def test_duplicates_merge_case_insensitively_later_rows_winning() -> None:
    source = read_source(
        [
            {"address": "Ann@Example.org", "name": "Ann", "vars": {"a": 1}},
            "ann@example.org",  # carries nothing: keeps name and vars
            {"address": "ANN@example.org", "subscribed": False},
            {"address": "ann@example.org", "vars": {"a": 2}},
        ]
    )
    assert source.duplicates == 3
    assert source.members == {"ann@example.org": SourceMember("ann@example.org", "Ann", '{"a":2}', False)}


def test_entries_that_are_wrong() -> None:
    source = read_source(
        [
            {"name": "No address"},
            {"address": "a@example.org", "vars": [1]},
            {"address": "b@example.org", "subscribed": "maybe"},
            {"address": "c@example.org", "name": 5},
            {"address": "Dee\n <d@example.org>"},
            None,
        ]
    )
    assert source.members == {}
    assert [reason for _, reason in source.invalid] == [
        "item 1: missing address",
        "item 2: vars must be a JSON object, got list",
        "item 3: subscribed must be yes/no or true/false, got 'maybe'",
        "item 4: name must be text, got int",
        "item 5: line breaks are not allowed in an address or name",
        "item 6: expected an address or an object with 'address', got NoneType",
    ]


def test_json_array_text_and_tuples() -> None:
    assert list(read_source('["a@example.org", {"address": "b@example.org"}]').members) == [
        "a@example.org",
        "b@example.org",
    ]
    assert list(read_source(("c@example.org",)).members) == ["c@example.org"]
    with pytest.raises(ListSourceError, match="not valid JSON"):
        read_source("[a@example.org")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (None, "members is required"),
        ({"address": "a@example.org"}, "not a single object"),
        ("a@example.org", "path ending in .csv, .jsonl or .ndjson"),
        ("/data/members.xlsx", "path ending in .csv, .jsonl or .ndjson"),
        ("/nonexistent/members.csv", "members file '/nonexistent/members.csv' does not exist"),
    ],
)
def test_sources_that_cannot_be_read(members: object, message: str) -> None:
    with pytest.raises(ListSourceError, match=message):
        read_source(members)  # type: ignore[arg-type]


def test_a_generator_is_streamed_not_collected() -> None:
    produced = 0

    def rows() -> Iterator[str]:
        nonlocal produced
        for i in range(3):
            produced += 1
            yield f"user{i}@example.org"

    assert len(read_source(rows()).members) == 3
    assert produced == 3


local_parts = st.sampled_from(["ann", "Ann", "BOB", "bob", "c.d", "e+f"])
entries = st.one_of(
    st.builds(lambda local: f"{local}@example.org", local_parts),
    st.builds(
        lambda local, name: {"address": f"{local}@Example.ORG", "name": name},
        local_parts,
        st.none() | st.sampled_from(["", "X"]),
    ),
    st.sampled_from(["", "bad", "x@", {"address": 1}]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(entries, max_size=20))
def test_every_row_is_a_member_a_duplicate_or_invalid(rows: list[object]) -> None:
    source = read_source(rows)
    assert source.rows == len(rows)
    assert len(source.members) + source.duplicates + len(source.invalid) == len(rows)
    for key, member in source.members.items():
        assert key == member.address.lower()
        assert parse_entry(member.address).address == member.address
