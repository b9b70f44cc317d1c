"""Address checks: the fast pre-check never accepts what email-validator rejects."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._common.addresses import (
    _PLAIN_ADDRESS,
    check_addresses,
    offenders_message,
    parse_address,
)
from airflow_provider_mailgun.exceptions import InvalidAddressError

_atom_chars = st.sampled_from("abcXYZ019!#$%&'*+/=?^_`{|}~-.")
_label_chars = st.sampled_from("abcxyzABC019-")
addresses = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.text(_atom_chars, min_size=1, max_size=70),
    st.lists(st.text(_label_chars, min_size=1, max_size=64), min_size=1, max_size=3),
    st.sampled_from(["org", "com", "test", "local", "io", "Example", "x", "c0m"]),
)


@settings(max_examples=3000, deadline=None)
@given(addresses)
def test_fast_path_agrees_with_email_validator(candidate: str) -> None:
    try:
        ours: str | None = parse_address(candidate).email
    except InvalidAddressError:
        ours = None
    try:
        theirs: str | None = validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        theirs = None
    assert ours == theirs


def test_regex_shape_sanity() -> None:
    assert _PLAIN_ADDRESS.match("first.last+tag@mail.example.org")
    assert not _PLAIN_ADDRESS.match("a..b@example.org")


def test_display_names_duplicates_and_line_breaks() -> None:
    checked = check_addresses(
        ["Ann <ann@Example.org>", "ANN@example.ORG", "bob@example.org", "", "x@y", "Eve\n <eve@example.org>"]
    )
    assert [a.formatted() for a in checked.valid] == ["Ann <ann@example.org>", "bob@example.org"]
    assert checked.duplicates == 1
    assert [value for value, _ in checked.invalid] == ["", "x@y", "Eve\n <eve@example.org>"]


def test_offenders_message_names_ten_and_counts() -> None:
    offenders = [(f"bad{i}", "no @") for i in range(13)]
    message = offenders_message("recipient", offenders)
    assert message.startswith("13 invalid recipients: 'bad0' (no @)")
    assert "'bad9'" in message
    assert "'bad10'" not in message
    assert message.endswith("and 3 more")


@pytest.mark.parametrize("value", ["a@localhost", "a@b.invalid", "plainaddress", "a@@b.org"])
def test_rejected(value: str) -> None:
    with pytest.raises(InvalidAddressError):
        parse_address(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '"Doe, John" <john@example.org>, ann@example.org',
            ['"Doe, John" <john@example.org>', "ann@example.org"],
        ),
        (
            '"Doe; John" <john@example.org>; ann@example.org',
            ['"Doe; John" <john@example.org>', "ann@example.org"],
        ),
        (
            '"J \\"JD\\", Doe" <jd@example.org>, b@example.org',
            ['"J \\"JD\\", Doe" <jd@example.org>', "b@example.org"],
        ),
        ("john@example.org (Doe, John), b@example.org", ["john@example.org (Doe, John)", "b@example.org"]),
    ],
)
def test_address_lists_split_only_between_addresses(text: str, expected: list[str]) -> None:
    from email.utils import getaddresses

    from airflow_provider_mailgun._common.addresses import split_addresses

    assert split_addresses(text) == expected
    # The same split as the standard library's getaddresses (which knows no ';' separator).
    assert [addr for _, addr in getaddresses([text.replace(";", ",")]) if addr] == [
        addr for _, addr in getaddresses(expected)
    ]


@pytest.mark.parametrize(
    ("name", "formatted"),
    [
        ("Doe, John", '"Doe, John" <john@example.org>'),
        ('J "JD" Doe', '"J \\"JD\\" Doe" <john@example.org>'),
        ("Ann", "Ann <john@example.org>"),
        ("Zoë Ä", "Zoë Ä <john@example.org>"),
    ],
)
def test_a_display_name_is_quoted_when_it_must_be(name: str, formatted: str) -> None:
    from email.utils import getaddresses

    address = parse_address("john@example.org", name)
    assert address.formatted() == formatted
    # Read back as one address, with the name intact.
    assert getaddresses([address.formatted()]) == [(name, "john@example.org")]
    assert parse_address(address.formatted()) == address


@pytest.mark.parametrize(
    "value",
    [
        '"X" <a@example.org>, b@example.org',  # b was dropped without a word
        "c@example.org <d@example.org>",  # mailed c; an address-list reader sees d
        "<a@example.org> <b@example.org>",
        "Ann <ann@example.org> trailing text",
        "Ann <ann@example.org>>",
    ],
)
def test_one_value_holding_more_than_one_address_is_rejected_not_cut_short(value: str) -> None:
    """A recipient's one address field with a second address (or text after it) is an error on
    every Python: the older standard-library parser kept the first part and dropped the rest."""
    with pytest.raises(InvalidAddressError):
        parse_address(value)
    checked = check_addresses([value])
    assert checked.valid == []
    assert [bad for bad, _ in checked.invalid] == [value]


def test_a_replaced_address_has_the_key_of_its_new_email() -> None:
    ann = parse_address("Ann <Ann@X.org>")
    bob = ann._replace(email="Bob@Y.org")
    assert (bob.email, bob.name, bob.key) == ("Bob@Y.org", "Ann", "bob@y.org")
    assert ann._replace(name="A").key == "ann@x.org"
    with pytest.raises(ValueError, match="key"):
        ann._replace(key="other@x.org")
