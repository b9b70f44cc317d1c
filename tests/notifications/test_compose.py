"""compose_message: addresses, body rules, tags, headers, attachments -> messages.send fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_mailgun._common.limits import MAX_RECIPIENTS_PER_REQUEST
from airflow_provider_mailgun._notify.compose import (
    compose_message,
    split_addresses,
)
from airflow_provider_mailgun.client.api.base import form_fields

SENDER = "airflow@mg.example.com"

_local = st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z0-9]{1,5})?", fullmatch=True)
_domain = st.from_regex(r"[a-z]{1,10}\.(org|com|net)", fullmatch=True)
_address = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
_name = st.from_regex(r"[A-Za-z][A-Za-z ,;.]{0,15}[A-Za-z]", fullmatch=True)


@given(
    items=st.lists(st.tuples(_address, st.one_of(st.none(), _name)), min_size=1, max_size=8),
    separators=st.lists(st.sampled_from([",", ";", ", ", " ; "]), min_size=8, max_size=8),
)
def test_split_addresses_round_trips_any_joined_list(
    items: list[tuple[str, str | None]], separators: list[str]
) -> None:
    """Joined with commas or semicolons, quoted names with separators in them survive whole."""
    formatted = [f'"{name}" <{address}>' if name else address for address, name in items]
    joined = "".join(part + separators[i] for i, part in enumerate(formatted))
    assert split_addresses(joined) == formatted
    assert split_addresses(formatted) == formatted


def test_split_addresses_edge_cases() -> None:
    assert split_addresses(None) == []
    assert split_addresses("") == []
    assert split_addresses(" ; , ") == []
    assert split_addresses(["a@x.org, b@x.org", "c@x.org"]) == ["a@x.org", "b@x.org", "c@x.org"]
    assert split_addresses("Jane <jane@x.org>;bob@x.org") == ["Jane <jane@x.org>", "bob@x.org"]
    with pytest.raises(ValueError, match="must be a string"):
        split_addresses([42])  # type: ignore[list-item]


def test_full_message_fields() -> None:
    message = compose_message(
        from_email="Airflow <airflow@mg.example.com>",
        to='ops@example.org; "Doe, Jane" <jane@example.org>, OPS@example.org',
        cc=["lead@example.org"],
        bcc="audit@example.org",
        subject="Load\r\nBcc: evil@example.org",
        text="plain",
        html="<p>html</p>",
        tags=["airflow", "alert"],
        headers={"Reply-To": "data@example.org"},
        user_variables={"run": "r1"},
    )
    fields = message.fields
    assert fields["from"] == "Airflow <airflow@mg.example.com>"
    # Duplicates (case-insensitive) are dropped; display names are kept.
    # The quoted comma stays quoted: Mailgun splits "to" on commas.
    assert fields["to"] == ["ops@example.org", '"Doe, Jane" <jane@example.org>']
    assert fields["cc"] == ["lead@example.org"]
    assert fields["bcc"] == ["audit@example.org"]
    # A line break cannot smuggle a header in through the subject.
    assert fields["subject"] == "Load Bcc: evil@example.org"
    assert fields["o:tag"] == ["airflow", "alert"]
    assert fields["h:Reply-To"] == "data@example.org"
    assert fields["v:run"] == "r1"
    assert message.files == []
    assert message.summary() == "'Load Bcc: evil@example.org' to 2 recipient(s) (cc 1, bcc 1)"
    # The client encodes the fields as repeated form keys.
    assert form_fields(fields).count(("o:tag", "alert")) == 1


def test_template_message() -> None:
    message = compose_message(
        from_email=SENDER, to="a@example.org", template="alert", template_variables={"dag": "etl"}
    )
    assert message.fields["template"] == "alert"
    assert dict(form_fields(message.fields))["t:variables"] == '{"dag":"etl"}'
    assert "html" not in message.fields
    assert "subject" not in message.fields


def test_attachments_use_base_names_and_content_types(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    blob = tmp_path / "dump.bin-unknown"
    blob.write_bytes(b"\x00\x01")
    message = compose_message(
        from_email=SENDER, to="a@example.org", text="x", attachments=[report, str(blob)]
    )
    assert message.files == [
        ("attachment", ("report.csv", b"a,b\n1,2\n", "text/csv")),
        ("attachment", ("dump.bin-unknown", b"\x00\x01", "application/octet-stream")),
    ]
    assert message.summary().endswith("attachments report.csv, dump.bin-unknown")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"to": None}, "No recipient"),
        ({"to": "not-an-address, ok@example.org, also bad"}, "2 invalid recipients: 'not-an-address'"),
        ({"cc": "x@"}, "1 invalid cc recipient"),
        ({"bcc": "y"}, "1 invalid bcc recipient"),
        ({"from_email": "nobody"}, "1 invalid sender"),
        ({"from_email": "a@example.org, b@example.org"}, "exactly one address"),
        ({"text": None}, "no body"),
        ({"html": "<p>x</p>", "template": "t"}, "either html or a template"),
        ({"tags": [f"t{i}" for i in range(11)]}, "at most 10"),
        ({"tags": ["naïve"]}, "must be ASCII"),
        ({"tags": ["x" * 129]}, "at most 128"),
        ({"headers": {"Bad Name": "v"}}, "Header name"),
        ({"headers": {"X-Ok": "a\nb"}}, "line breaks"),
        ({"attachments": ["/nonexistent/file.csv"]}, "not a readable file"),
        (
            {"to": [f"u{i}@example.org" for i in range(MAX_RECIPIENTS_PER_REQUEST)], "cc": "one@example.org"},
            "at most 1000",
        ),
    ],
)
def test_bad_input_is_one_clear_error(overrides: dict[str, object], error: str) -> None:
    arguments: dict[str, object] = {"from_email": SENDER, "to": "a@example.org", "text": "x"}
    arguments.update(overrides)
    with pytest.raises(ValueError, match=error):
        compose_message(**arguments)  # type: ignore[arg-type]


def test_attachments_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_mailgun._notify import compose

    monkeypatch.setattr(compose, "MAX_MESSAGE_BYTES", 10)
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_bytes(b"123456")
    second.write_bytes(b"123456")
    compose_message(from_email=SENDER, to="a@example.org", text="x", attachments=[first])
    with pytest.raises(ValueError, match="Mailgun's limit"):
        compose_message(from_email=SENDER, to="a@example.org", text="x", attachments=[first, second])
