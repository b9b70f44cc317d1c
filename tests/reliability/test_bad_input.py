"""Bad input, table-driven: one clear error naming the problem, and no write request sent.

Each row runs one operator, sensor, notifier or connection the way a DAG would (constructor, then
``execute``/``notify``) against a fresh emulator, and checks two things: the error (or, for the
notifier, which never raises, the logged error) names the problem; and the emulator's request log
holds no POST/PUT/DELETE. Problems only the server can see (a wrong key) are found by a read before
any write; rows marked ``server_decides`` are the exception: the request is the check, and it must
be refused without anything being stored.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.reliability.bad_input_runners import (
    Case,
    Env,
    clear,
    clear_soft_bounces,
    conn,
    csv_without_address,
    direct,
    gateway,
    key,
    missing_file,
    notify,
    oversize_file,
    send,
    sense,
    sync,
    url,
)
from tests.reliability.conftest import direct_connection, gateway_connection, write_requests

IN_8_DAYS = (datetime.now(timezone.utc) + timedelta(days=8)).isoformat()
PEOPLE_1001 = [f"p{i}@example.org" for i in range(1001)]

CASES = [
    # ------------------------------------------------------------------ send operator
    Case("send-malformed-to", send(to="ann.example.org"), r"ann\.example\.org"),
    Case("send-empty-to", send(to=""), r"no valid recipient in 'to'"),
    Case("send-empty-list", send(to=[]), r"no valid recipient in 'to'"),
    Case("send-one-bad-among-good", send(to=["ok@example.org", "bad@@example.org"]), r"bad@@example\.org"),
    Case("send-bad-cc", send(cc="carl@", batch=False), r"cc: carl@"),
    Case("send-malformed-from", send(from_email="news at mg"), r"from_email 'news at mg' is invalid"),
    Case("send-no-from", send(from_email=None), r"from_email is required"),
    Case("send-1001-not-batch", send(to=PEOPLE_1001, batch=False), r"1001 recipients in a single non-batch"),
    Case(
        "send-11-tags", send(tags=[f"t{i}" for i in range(11)]), r"11 tags given; Mailgun allows at most 10"
    ),
    Case("send-non-ascii-tag", send(tags=["café"]), r"tag 'café' must be non-empty ASCII"),
    Case("send-html-and-template", send(text=None, html="<p>x</p>", template="news"), r"html and template"),
    Case("send-bad-delivery-time", send(delivery_time="next tuesday"), r"delivery_time 'next tuesday'"),
    Case("send-delivery-too-far", send(delivery_time=IN_8_DAYS), r"more than 7 days ahead"),
    Case(
        "send-missing-attachment",
        send(attachments=[missing_file]),
        r"attachment file .*report\.pdf.* not exist",
    ),
    Case("send-oversize-attachment", send(attachments=[oversize_file]), r"huge\.bin.* over Mailgun's 25 MB"),
    Case("send-variables-bad-json", send(variables='{"campaign": '), r"variables is not valid JSON"),
    Case(
        "send-template-vars-not-object",
        send(template="news", template_variables="[1, 2]"),
        r"template_variables must be a JSON object",
    ),
    Case(
        "send-recipient-vars-bad-json",
        send(recipient_variables="{oops"),
        r"recipient_variables is not valid JSON",
    ),
    Case("send-no-body", send(text=None), r"give text, html or a template"),
    Case("send-no-subject", send(subject=None), r"subject is required"),
    Case(
        "send-cc-with-batch",
        send(to=["a@example.org", "b@example.org"], cc="c@example.org"),
        r"cc/bcc cannot be combined with a batch send",
    ),
    Case(
        "send-batch-size-0",
        send(to=["a@example.org", "b@example.org"], batch_size=0),
        r"batch_size must be 1\.\.1000",
    ),
    Case("send-reserved-variable", send(variables={"airflow-batch": "x"}), r"'airflow-batch' is reserved"),
    Case(
        "send-unprefixed-option", send(options={"tracking": "yes"}), r"option 'tracking' must start with o:"
    ),
    Case("send-options-over-16kb", send(variables={"blob": "x" * 17_000}), r"over Mailgun's 16 KB limit"),
    Case("send-non-ascii-header", send(headers={"Prioritét": "1"}), r"header name 'Prioritét'"),
    Case(
        "send-missing-mime",
        send(text=None, subject=None, mime_message=missing_file),
        r"mime_message file .* not exist",
    ),
    Case("send-version-without-template", send(template_version="v2"), r"need a template"),
    Case(
        "send-personal-vars-not-batch",
        send(to=[{"address": "a@example.org", "variables": {"n": 1}}], batch=False),
        r"personal variables need batch sending",
    ),
    Case("send-on-invalid-typo", send(on_invalid="ignore"), r"on_invalid must be one of"),
    Case("send-max-concurrency-0", send(max_concurrency=0), r"max_concurrency must be at least 1"),
    Case("send-domain-with-slash", send(domain="mg.example.com/v3/evil"), r"must not contain '/'"),
    Case(
        "send-wrong-key",
        conn(direct() | {"password": "key-not-the-right-one-0000"}, send),
        r"401.*check the private API key",
        server_decides=True,
    ),
    # ---------------------------------------------------------------------- list sync
    Case(
        "sync-unknown-list", sync(seed=0, members=["a@example.org"]), r"list news@mg\.example\.com not found"
    ),
    Case(
        "sync-empty-source-mirror",
        sync(members=[], mode="mirror"),
        r"source has no valid members.*mirror would remove 10",
    ),
    Case(
        "sync-removal-guard",
        sync(members=["m0@example.org"], mode="mirror"),
        r"mirror would remove 9 of 10 .* max_removal_fraction",
    ),
    Case(
        "sync-source-not-a-csv",
        sync(members=missing_file),
        r"members must be a list, or a path ending in \.csv",
    ),
    Case(
        "sync-missing-csv-file",
        sync(members=lambda env: str(env.tmp_path / "gone.csv")),
        r"members file .*gone\.csv.* does not exist",
    ),
    Case(
        "sync-csv-without-address", sync(members=csv_without_address), r"members\.csv has no 'address' column"
    ),
    Case("sync-invalid-row", sync(members=["ok@example.org", "not-an-address"]), r"not-an-address"),
    Case(
        "sync-bad-list-address",
        sync(seed=0, list_address="news-at-mg"),
        r"list_address 'news-at-mg' is not valid",
    ),
    Case("sync-bad-mode", sync(mode="replace"), r"mode must be one of"),
    Case(
        "sync-bad-removal-fraction",
        sync(max_removal_fraction=1.5),
        r"max_removal_fraction must be between 0 and 1",
    ),
    Case(
        "sync-bad-json-source",
        sync(members='[{"address": '),
        r"members looks like a JSON array but is not valid JSON",
    ),
    # ------------------------------------------------------------------ clear bounces
    Case("clear-nothing-selected", clear(), r"Nothing selects which bounces to clear"),
    Case(
        "clear-two-selections",
        clear(addresses=["b0@example.org"], codes=["4xx"]),
        r"Choose one way to select records",
    ),
    Case(
        "clear-unknown-table",
        clear(suppression_type="spam", clear_all=True),
        r"suppression_type must be one of",
    ),
    Case("clear-bad-code", clear(codes=["4xx", "soft"]), r"Invalid bounce code\(s\) 'soft'"),
    Case(
        "clear-bad-regex",
        clear(error_matches="(unclosed"),
        r"error_matches '\(unclosed' is not a valid regular expression",
    ),
    Case("clear-bad-duration", clear(older_than="yesterday"), r"older_than"),
    Case(
        "clear-codes-on-unsubscribes",
        clear(suppression_type="unsubscribes", codes=["4xx"]),
        r"codes and error_matches exist only on bounces",
    ),
    Case(
        "clear-guard",
        clear(codes=["4xx"], max_deletions=2),
        r"5 bounces would be deleted, more than max_deletions=2",
    ),
    Case("clear-bad-address", clear(addresses=["b0@example.org", "nope"]), r"nope"),
    Case(
        "clear-negative-max",
        clear(codes=["4xx"], max_deletions=-1),
        r"max_deletions must be a non-negative integer",
    ),
    Case(
        "clear-unknown-domain",
        clear(addresses=["b0@example.org"], domain="eu-only.example.com"),
        r"404.*domain",
    ),
    # ------------------------------------------------------------------------- sensor
    Case("sensor-no-ids", sense(message_ids=[]), r"message_ids is empty"),
    Case(
        "sensor-unparseable-ids",
        sense(message_ids="{'message_ids': [oops"),
        r"message_ids looks like a dict or list but does not parse",
    ),
    Case("sensor-fraction-0", sense(min_success_fraction=0), r"min_success_fraction must be in \(0, 1\]"),
    Case(
        "sensor-events-as-string",
        sense(success_events="delivered"),
        r"success_events must be a non-empty list",
    ),
    Case(
        "sensor-bad-begin", sense(begin="last week"), r"begin must be a datetime, epoch seconds or ISO-8601"
    ),
    Case(
        "sensor-bad-count",
        sense(expected_recipients={"20260101.1.ABC@mg.example.com": 0}),
        r"must be at least 1",
    ),
    Case(
        "sensor-count-for-unknown-id",
        sense(expected_recipients={"other@mg.example.com": 3}),
        r"not in message_ids",
    ),
    # ----------------------------------------------------------------------- notifier
    Case(
        "notifier-malformed-to",
        notify(to="ops.example.org"),
        r"Failed to send notification.*ops\.example\.org",
    ),
    Case("notifier-11-tags", notify(tags=[f"t{i}" for i in range(11)]), r"Failed to send notification.*tags"),
    Case("notifier-missing-file", notify(files=[missing_file]), r"Failed to send notification.*report\.pdf"),
    Case(
        "notifier-missing-connection",
        notify(mailgun_conn_id="no_such_conn"),
        r"Failed to send notification.*'no_such_conn' is not defined",
    ),
    Case("notifier-bad-kind", notify(kind="oops"), r"kind must be one of"),
    # -------------------------------------------------------------------- connections
    Case("conn-missing", sync(mailgun_conn_id="no_such_conn"), r"Connection 'no_such_conn' is not defined"),
    Case(
        "conn-extra-not-json",
        conn({"conn_type": "mailgun", "host": url, "password": key, "extra": "{region: eu"}),
        r"extra is not valid JSON",
    ),
    Case(
        "conn-extra-not-object",
        conn({"conn_type": "mailgun", "host": url, "password": key, "extra": "[1]"}),
        r"extra must be a JSON object",
    ),
    Case(
        "conn-wrong-region",
        conn({"conn_type": "mailgun", "password": key, "extra": {"region": "ap"}}),
        r"region must be 'us' or 'eu', got 'ap'",
    ),
    Case(
        "conn-wrong-type",
        conn({"conn_type": "http", "host": url, "password": key}),
        r"has type 'http'; use 'maton'",
    ),
    Case("conn-no-password", conn({"conn_type": "mailgun", "host": url}), r"has no password"),
    Case("conn-bad-timeout", conn(direct(timeout="-3")), r"timeout must be a positive number"),
    Case("conn-bad-verify-tls", conn(direct(verify_tls="maybe")), r"verify_tls must be true or false"),
    Case(
        "conn-bad-host",
        conn({"conn_type": "mailgun", "host": "ftp://files.example.com", "password": key}),
        r"host 'ftp://files\.example\.com' is not a valid URL",
    ),
    Case(
        "conn-wrong-key",
        conn(direct() | {"password": "key-not-the-right-one-0000"}),
        r"401.*check the private API key",
    ),
    Case(
        "conn-non-json-reply",
        conn(direct() | {"host": lambda env: env.emu.url + "/v3"}),
        r"reply is not JSON",
    ),
    Case(
        "conn-unknown-maton-connection",
        conn(
            {
                "conn_type": "maton",
                "host": gateway,
                "password": lambda env: env.emu.maton_key,
                "extra": {"maton_connection": "00000000-0000-4000-8000-000000000000"},
            }
        ),
        r"Connection 00000000-0000-4000-8000-000000000000 not found.*maton_connection",
    ),
    Case(
        "conn-wrong-maton-key",
        conn(
            {
                "conn_type": "maton",
                "host": gateway,
                "password": "maton-wrong-key-000000000",
                "extra": {"default_domain": "mg.example.com"},
            },
            clear_soft_bounces,
        ),
        r"401.*Maton API key is missing, wrong or expired",
    ),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_clearly_before_any_write(
    case: Case,
    mailgun_emulator: MailgunEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    conn_id = direct_connection(monkeypatch, mailgun_emulator, "mailgun_input")
    env = Env(mailgun_emulator, monkeypatch, tmp_path, caplog, capsys, conn_id)

    with pytest.raises(Exception) as failure:  # the message is what is checked
        case.run(env)

    text = str(failure.value)
    assert _matches(case.match, text), f"{type(failure.value).__name__}: {text}"
    assert mailgun_emulator.messages() == []
    writes = write_requests(mailgun_emulator)
    if case.server_decides:
        assert writes, "the server was expected to see (and refuse) the request"
        assert all(r["status"] >= 400 for r in writes), writes
    else:
        assert writes == [], writes


def _matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.DOTALL) is not None


def test_gateway_connection_fixture_is_usable(
    mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards the table's assumption that a well-formed gateway connection works (so the gateway
    # rows fail for the reason they name, not for a broken fixture).
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    conn_id = gateway_connection(monkeypatch, mailgun_emulator, "maton_input")
    ok, message = MailgunHook(mailgun_conn_id=conn_id).test_connection()
    assert ok, message
