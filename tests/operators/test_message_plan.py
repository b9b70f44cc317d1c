"""The send plan (pure): batching properties, every input check, and the retry ledger."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._common.addresses import split_addresses
from airflow_provider_mailgun._send.fields import SendSpec
from airflow_provider_mailgun._send.ledger import ACCEPTED, BatchRecord, SendLedger
from airflow_provider_mailgun._send.ledger_stores import MemoryStore
from airflow_provider_mailgun._send.plan import build_plan
from airflow_provider_mailgun.exceptions import LedgerConflictError, SendInputError

SCOPE = "dag__run__task__-1"
BASE = {"from_email": "a@mg.example.com", "subject": "s", "text": "t"}


def _spec(**fields: Any) -> SendSpec:
    return SendSpec(**{**BASE, **fields})


addresses = st.lists(
    st.from_regex(r"[a-z]{1,8}[0-9]{0,3}@(example|mail)\.(org|com)", fullmatch=True),
    min_size=1,
    max_size=2500,
)


@settings(max_examples=60, deadline=None)
@given(addresses, st.integers(min_value=1, max_value=1000))
def test_batches_partition_the_unique_recipients(to: list[str], batch_size: int) -> None:
    plan = build_plan(_spec(to=to, batch_size=batch_size, batch=True), SCOPE)
    sent = [r.address.key for batch in plan.batches for r in batch.recipients]
    assert sorted(sent) == sorted({a.lower() for a in to})
    assert all(1 <= len(batch.recipients) <= batch_size for batch in plan.batches)
    assert len({batch.key for batch in plan.batches}) == len(plan.batches)


@settings(max_examples=30, deadline=None)
@given(addresses, st.randoms())
def test_batch_keys_do_not_depend_on_input_order(to: list[str], rng: Any) -> None:
    shuffled = list(to)
    rng.shuffle(shuffled)
    first = build_plan(_spec(to=to, batch=True, batch_size=100), SCOPE)
    second = build_plan(_spec(to=shuffled, batch=True, batch_size=100), SCOPE)
    assert [b.key for b in first.batches] == [b.key for b in second.batches]
    other = build_plan(_spec(to=to, batch=True, batch_size=100), "other")
    assert not {b.key for b in first.batches} & {b.key for b in other.batches}


def test_batch_fields_fill_every_variable_for_every_recipient() -> None:
    plan = build_plan(
        _spec(
            to=[{"address": "a@x.org", "variables": {"first": "A"}}, {"address": "b@x.org", "name": "Bee"}]
        ),
        SCOPE,
    )
    fields = plan.batches[0].fields()
    table = json.loads(dict(fields)["recipient-variables"])
    assert table == {"a@x.org": {"first": "A"}, "b@x.org": {"first": ""}}
    assert sorted(split_addresses([v for k, v in fields if k == "to"])) == ["Bee <b@x.org>", "a@x.org"]
    assert dict(fields)["v:airflow-batch"] == plan.batches[0].key


def test_single_plain_recipient_is_not_a_batch_send() -> None:
    (batch,) = build_plan(_spec(to="a@x.org", cc="c@x.org"), SCOPE).batches
    assert "recipient-variables" not in dict(batch.fields())
    assert ("cc", "c@x.org") in batch.fields()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"to": ["ok@x.org", "nope", "a@@b.org"]}, "2 invalid recipients: 'nope'"),
        ({"to": ""}, "no valid recipient"),
        ({"to": "a@x.org", "cc": "bad"}, "invalid recipient: 'cc: bad'"),
        ({"to": "a@x.org", "from_email": None}, "from_email is required"),
        ({"to": "a@x.org", "from_email": "nobody"}, "from_email 'nobody' is invalid"),
        ({"to": "a@x.org", "html": "<p>", "template": "t"}, "html and template cannot be combined"),
        ({"to": "a@x.org", "text": None}, "give text, html or a template"),
        ({"to": "a@x.org", "subject": None}, "subject is required"),
        ({"to": "a@x.org", "tags": [f"t{i}" for i in range(11)]}, "11 tags given"),
        ({"to": "a@x.org", "tags": ["ok", "naïve"]}, "must be non-empty ASCII"),
        ({"to": "a@x.org", "template_version": "v2"}, "need a template"),
        ({"to": "a@x.org", "delivery_time": "next tuesday"}, "is not a datetime"),
        (
            {"to": "a@x.org", "delivery_time": datetime.now(timezone.utc) + timedelta(days=9)},
            "more than 7 days",
        ),
        ({"to": "a@x.org", "variables": "{not json"}, "variables is not valid JSON"),
        ({"to": "a@x.org", "recipient_variables": "[1, 2]"}, "must be a JSON object"),
        ({"to": "a@x.org", "headers": {"Ünicode": "x"}}, "must be non-empty ASCII"),
        ({"to": "a@x.org", "options": {"tracking": "yes"}}, "must start with o:, h:, v: or t:"),
        ({"to": "a@x.org", "variables": {"big": "x" * 17000}}, "over Mailgun's 16 KB limit"),
        ({"to": "a@x.org", "attachments": ["/nonexistent/file.pdf"]}, "does not exist"),
        ({"to": ["a@x.org", "b@x.org"], "cc": "c@x.org"}, "cc/bcc cannot be combined with a batch send"),
        (
            {"to": [f"u{i}@x.org" for i in range(1001)], "batch": False},
            "1001 recipients in a single non-batch",
        ),
        ({"to": "a@x.org", "batch_size": 1001}, "batch_size must be 1..1000"),
        ({"to": "a@x.org", "mime_message": "/nonexistent.eml", "text": None}, "mime_message file"),
        ({"to": "a@x.org", "variables": {"airflow-batch": "x"}}, "is reserved"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SendInputError, match="Nothing was sent") as caught:
        build_plan(_spec(**fields), SCOPE)
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SendInputError) as caught:
        build_plan(_spec(to="nope", html="<p>", template="t", tags=["x"] * 11), SCOPE)
    text = str(caught.value)
    assert "invalid recipient" in text
    assert "html and template" in text
    assert "11 tags" in text


def test_offenders_are_named_ten_and_counted() -> None:
    with pytest.raises(SendInputError) as caught:
        build_plan(_spec(to=[f"bad{i}" for i in range(25)] + ["ok@x.org"]), SCOPE)
    assert "25 invalid recipients" in str(caught.value)
    assert "'bad9'" in str(caught.value)
    assert "'bad10'" not in str(caught.value)
    assert "and 15 more" in str(caught.value)


def test_oversize_attachment_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(26 * 1024 * 1024)
    with pytest.raises(SendInputError, match="over Mailgun's 25 MB"):
        build_plan(_spec(to="a@x.org", attachments=[str(big)]), SCOPE)


def test_attachment_pairs_and_paths_are_loaded(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a\n")
    plan = build_plan(_spec(to="a@x.org", attachments=[str(path), ("notes.txt", b"hi")]), SCOPE)
    assert [(kind, part[0], part[2]) for kind, part in plan.files] == [
        ("attachment", "r.csv", "text/csv"),
        ("attachment", "notes.txt", "text/plain"),
    ]


@pytest.mark.parametrize("separator", [",", ", ", "; "])
def test_attachment_paths_in_one_string_are_read_whatever_the_spacing(tmp_path: Path, separator: str) -> None:
    # "{{ paths | join(', ') }}": the space after a comma is not part of the next path.
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        path.write_text("x\n")
    plan = build_plan(_spec(to="a@x.org", attachments=separator.join(str(p) for p in paths)), SCOPE)
    assert [part[0] for _kind, part in plan.files] == ["a.csv", "b.csv"]


def test_ledger_round_trip_and_conflict() -> None:
    store = MemoryStore()
    plan = build_plan(_spec(to=[f"u{i}@x.org" for i in range(300)], batch_size=100), SCOPE)
    ledger = SendLedger(store)
    assert ledger.load(plan.batches) == {}
    ledger.mark(plan.batches[1], ACCEPTED, sent_at=1.0, message_id="m1")
    again = SendLedger(store).load(plan.batches)
    assert again == {1: BatchRecord(plan.batches[1].key, ACCEPTED, 100, 1.0, "m1")}
    # Stored with readable keys, and nothing the ledger does not read.
    assert store.data["mailgun-send-ledger:0"] == {
        "generation": "",
        "batches": {
            "1": {
                "key": plan.batches[1].key,
                "state": "accepted",
                "recipients": 100,
                "sent_at": 1.0,
                "message_id": "m1",
                "reconciled": False,
            }
        },
    }
    changed = build_plan(_spec(to=[f"v{i}@x.org" for i in range(300)], batch_size=100), SCOPE)
    with pytest.raises(LedgerConflictError, match="differ from an earlier try"):
        SendLedger(store).load(changed.batches)
    # A new send of the same task instance (another ledger generation) does not read them.
    renewed = SendLedger(store)
    renewed.generation = "g2"
    assert renewed.load(changed.batches) == {}


def test_jinja_rendered_lists_and_dicts_are_read_as_data() -> None:
    # "{{ ti.xcom_pull(...) }}" without render_template_as_native_obj renders to the Python repr.
    people = [{"address": "a@x.org", "name": "A", "variables": {"n": 1}}, {"address": "b@x.org"}]
    plan = build_plan(
        _spec(to=str(people), variables=str({"campaign": "spring"}), tags=str(["x", "y"])), SCOPE
    )
    fields = plan.batches[0].fields()
    assert sorted(split_addresses([v for k, v in fields if k == "to"])) == ["A <a@x.org>", "b@x.org"]
    assert json.loads(dict(fields)["recipient-variables"]) == {"a@x.org": {"n": "1"}, "b@x.org": {"n": ""}}
    assert ("v:campaign", "spring") in fields
    assert [v for k, v in fields if k == "o:tag"] == ["x", "y"]
    assert [r.address.email for r in build_plan(_spec(to=str(["c@x.org"])), SCOPE).batches[0].recipients] == [
        "c@x.org"
    ]


def test_oversize_mime_message_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    with big.open("wb") as handle:
        handle.truncate(26 * 1024 * 1024)
    with pytest.raises(SendInputError, match=r"mime_message file .* over Mailgun's 25 MB"):
        build_plan(_spec(to="a@x.org", mime_message=str(big), subject=None, text=None), SCOPE)


def test_variable_ledger_names_fit_airflows_key_column() -> None:
    from airflow_provider_mailgun._send.ledger_stores import MAX_VARIABLE_KEY, VariableStore

    short = VariableStore("dag__run__task__-1")
    assert short._name("mailgun-send-ledger:0") == "mailgun-send-ledger:0__dag__run__task__-1"
    long_scope = f"{'d' * 250}__manual__2026-01-01T00:00:00+00:00__{'t' * 250}__3"
    name = VariableStore(long_scope)._name("mailgun-send-ledger:0")
    assert len(name) <= MAX_VARIABLE_KEY
    assert name != VariableStore(long_scope.replace("__3", "__4"))._name("mailgun-send-ledger:0")


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_a_quoted_display_name_with_a_comma_is_one_recipient(on_invalid: str) -> None:
    to = '"Doe, John" <john@example.org>, ann@example.org; "Roe; Jane" <jane@example.org>'
    plan = build_plan(
        _spec(to=to, cc='"Ops, Team" <ops@example.org>', batch=False, on_invalid=on_invalid), SCOPE
    )
    assert plan.skipped_invalid == ()
    (batch,) = plan.batches
    fields = batch.fields()
    assert split_addresses([value for name, value in fields if name == "to"]) == [
        '"Doe, John" <john@example.org>',
        "ann@example.org",
        '"Roe; Jane" <jane@example.org>',
    ]
    assert ("cc", '"Ops, Team" <ops@example.org>') in fields


def test_batch_false_keys_do_not_depend_on_the_order_of_the_recipients() -> None:
    # A retry that gets the same recipients in another order (a query without ORDER BY) must find
    # the first try's ledger records, not a "recipients changed" conflict on every retry.
    to = [f"u{i}@example.org" for i in range(50)]
    first = build_plan(_spec(to=to, batch=False), SCOPE)
    again = build_plan(_spec(to=list(reversed(to)), batch=False), SCOPE)
    assert [b.key for b in first.batches] == [b.key for b in again.batches]
    store = MemoryStore()
    ledger = SendLedger(store)
    ledger.load(first.batches)
    ledger.mark(first.batches[0], ACCEPTED, sent_at=1.0, message_id="m1")
    assert SendLedger(store).load(again.batches)[0].message_id == "m1"
