"""The lean plan keeps positions in the input, not copies: the batches it cuts stay the same.

Batch keys identify a batch across tries, and across an upgrade of the provider between two tries:
the figures pinned here are the ones the plan that copied every recipient produced.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from typing import Any

import pytest

from airflow_provider_mailgun._common.addresses import split_addresses
from airflow_provider_mailgun._send.fields import SendSpec
from airflow_provider_mailgun._send.plan import build_plan
from airflow_provider_mailgun.exceptions import SendInputError

SCOPE = "dag__run__task__-1__g1"


def _audience() -> list[Any]:
    people: list[Any] = [
        {"address": f"Reader{i}@Example.org", "name": f"R {i}", "variables": {"n": i}} for i in range(250)
    ]
    return [*people, "reader3@example.org", "Solo <solo@x.org>"]


def test_batch_keys_order_and_fields_are_those_of_the_copying_plan() -> None:
    spec = SendSpec(to=_audience(), from_email="a@mg.example.com", subject="s", text="t", batch_size=100)
    plan = build_plan(spec, SCOPE)
    assert [b.key for b in plan.batches] == [
        "e82521738d956f776f75f555",
        "f95f98ff1bfad0846769fe51",
        "390c00242a43aea97774543c",
    ]
    assert [b.first_recipient for b in plan.batches] == [
        "Reader115@example.org",
        "Reader222@example.org",
        "Reader15@example.org",
    ]
    fields = plan.batches[0].fields()
    # One "to" field, the batch's 100 recipients comma separated, then the common fields.
    names = ["to", "from", "subject", "text", "v:airflow-batch", "recipient-variables"]
    assert [name for name, _ in fields] == names
    assert len(split_addresses(fields[0][1])) == 100
    assert hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16] == "143ffb0971de3f5d"
    assert plan.recipients == 251  # reader3 once: the first spelling kept, with its variables


def test_the_first_of_duplicates_is_kept_with_its_variables_and_name() -> None:
    to = [
        {"address": "Ann@Example.org", "name": "Ann", "vars": {"first": "Ann"}},
        {"address": "ann@example.org", "name": "Other", "variables": {"first": "Other"}},
        "ANN@EXAMPLE.ORG",
        "bob@example.org",
    ]
    spec = SendSpec(to=to, from_email="a@mg.example.com", subject="Hi %recipient.first%", text="t")
    # bob has no 'first': allowed here, so only duplicates are being looked at.
    plan = build_plan(spec._replace(allow_missing_recipient_vars=True), SCOPE)
    (batch,) = plan.batches
    table = json.loads(dict(batch.fields())["recipient-variables"])
    assert table == {"Ann@example.org": {"first": "Ann"}, "bob@example.org": {"first": ""}}
    to = split_addresses([v for k, v in batch.fields() if k == "to"])
    assert sorted(to) == ["Ann <Ann@example.org>", "bob@example.org"]


def test_a_duplicate_lacking_a_placeholder_does_not_count_against_the_recipient_kept() -> None:
    to = [{"address": "ann@example.org", "vars": {"first": "Ann"}}, "ANN@example.org"]
    spec = SendSpec(to=to, from_email="a@mg.example.com", subject="Hi %recipient.first%", text="t")
    (batch,) = build_plan(spec, SCOPE).batches
    assert batch.size == 1


def test_the_plan_holds_positions_not_copies_of_the_audience() -> None:
    to = [
        {"address": f"reader{i:07d}@example.org", "name": f"Reader {i}", "vars": {"first": f"R{i}"}}
        for i in range(20_000)
    ]
    spec = SendSpec(to=to, from_email="a@mg.example.com", subject="Hi %recipient.first%", text="t")
    tracemalloc.start()
    try:
        plan = build_plan(spec, SCOPE)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(plan.batches) == 20
    # Copies of 20,000 recipients take several MB; positions take 4 bytes each.
    assert held < 500_000, held


def test_one_name_given_as_a_string_allows_that_name_only() -> None:
    to = [{"address": "ann@example.org", "vars": {"first": "Ann"}}, "bob@example.org"]
    spec = SendSpec(
        to=to, from_email="a@mg.example.com", subject="%recipient.first% %recipient.last%", text="t"
    )
    with pytest.raises(SendInputError) as raised:
        build_plan(spec._replace(allow_missing_recipient_vars="first"), SCOPE)
    assert "%recipient.last%" in str(raised.value)
    assert "%recipient.first%" not in str(raised.value)


def test_a_list_changed_after_the_check_changes_neither_the_batches_nor_what_is_sent() -> None:
    # The plan is built (every recipient checked) before the first request; the input list belongs to
    # the caller, who may reuse it. Nothing done to it afterwards may reach a batch unchecked.
    to = [f"reader{i}@example.org" for i in range(5)]
    spec = SendSpec(to=to, from_email="a@mg.example.com", subject="s", text="t", batch_size=2)
    plan = build_plan(spec, SCOPE)
    expected = [(b.key, b.fields()) for b in build_plan(spec._replace(to=list(to)), SCOPE).batches]
    to[0] = "not an address"
    to.reverse()
    to.append("late@example.org")
    assert [(b.key, b.fields()) for b in plan.batches] == expected


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("user@xn--bcher-kva.de", "user@bücher.de"),  # an IDN domain as its ASCII form
        ("e\u0301@example.org", "\u00e9@example.org"),  # a unicode local part, decomposed
    ],
)
def test_recipient_variables_keyed_by_the_address_as_written_reach_it(written: str, sent: str) -> None:
    # email-validator normalises the address; the table keyed by what the author wrote still applies.
    spec = SendSpec(
        to=[written, "bob@example.org"],
        from_email="a@mg.example.com",
        subject="Hi %recipient.first%",
        text="t",
        recipient_variables={written: {"first": "U"}, "bob@example.org": {"first": "B"}},
    )
    (batch,) = build_plan(spec, SCOPE).batches
    table = json.loads(dict(batch.fields())["recipient-variables"])
    assert table == {sent: {"first": "U"}, "bob@example.org": {"first": "B"}}


def test_variables_named_by_numbers_and_by_text_are_sent_not_crashed_on() -> None:
    # Python dicts may be keyed by numbers (JSON writes them as text); mixed with text names.
    to = [{"address": "a@example.org", "vars": {1: "one"}}, {"address": "b@example.org", "vars": {"n": "x"}}]
    spec = SendSpec(to=to, from_email="a@mg.example.com", subject="s", text="t")
    (batch,) = build_plan(spec, SCOPE).batches
    table = json.loads(dict(batch.fields())["recipient-variables"])
    assert table == {"a@example.org": {"1": "one", "n": ""}, "b@example.org": {"1": "", "n": "x"}}


@pytest.mark.parametrize(
    "broken",
    [
        {"to": [{"address": "z@example.org", "name": "Z\ud800"}]},  # a lone surrogate (json.loads lets it in)
        {"to": [{"address": "z@example.org", "vars": {"n": "\udcff"}}]},
        {"to": ["z@example.org"], "recipient_variables": {"z@example.org": {"n": "\ud800"}}},
        {"subject": "Hi \ud800"},
        {"to": [], "cc": "Z\ud800 <z@example.org>", "batch": False},
    ],
    ids=["name", "vars", "recipient_variables", "subject", "cc"],
)
def test_text_that_cannot_be_sent_is_refused_before_the_first_batch(broken: dict[str, Any]) -> None:
    # Recipient 250 of 251 would otherwise crash its batch's request after the others were sent.
    to = [f"reader{i}@example.org" for i in range(250)] + broken.pop("to", [])
    fields: dict[str, Any] = {"from_email": "a@mg.example.com", "subject": "s", "text": "t", "batch_size": 50}
    spec = SendSpec(to=to, **{**fields, **broken})
    with pytest.raises(SendInputError, match="UTF-8"):
        build_plan(spec, SCOPE)
