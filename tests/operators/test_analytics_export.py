"""The engagement export and report operators against the emulator, writing to ``file://``."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun._common.compat import AirflowFailException
from airflow_provider_mailgun.exceptions import MailgunBadRequestError, MailgunConnectionError
from airflow_provider_mailgun.operators.analytics import (
    MailgunEngagementReportOperator,
    MailgunExportEventsOperator,
)
from airflow_provider_mailgun.testing import MailgunEmulator


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _send(emu: MailgunEmulator, recipients: list[str], tag: str = "news") -> None:
    import requests

    fields = {"from": "n@mg.example.com", "to": recipients, "subject": "s", "text": "t", "o:tag": tag}
    fields["recipient-variables"] = "{}"
    requests.post(
        f"{emu.url}/v3/{emu.domain}/messages", auth=("api", emu.mailgun_key), data=fields, timeout=10
    )


def _three_sends(emu: MailgunEmulator) -> tuple[datetime, datetime]:
    """Sends before, inside and after an interval; returns the interval around the middle one."""
    _send(emu, ["before@example.org"])
    time.sleep(0.7)
    _send(emu, [f"in{i:03d}@example.org" for i in range(150)] + ["bounce@example.org"])
    _send(emu, ["other@example.org"], tag="promo")
    middle = emu.events(recipient="in000@example.org")[0]["timestamp"]
    time.sleep(0.7)
    _send(emu, ["after@example.org"])
    emu.engage("opened", tag="news", limit=30)  # "now": after the interval
    return _at(middle - 0.3), _at(middle + 0.3)


def _export(conn_id: str, path: Path | str, start: datetime, end: datetime, **options: Any) -> dict[str, Any]:
    target = path if isinstance(path, str) else f"file://{path}"
    operator = MailgunExportEventsOperator(
        task_id="export", mailgun_conn_id=conn_id, path=target, start=start, end=end, **options
    )
    return operator.execute({})  # type: ignore[arg-type]


def _rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path) as handle:
        return [json.loads(line) for line in handle]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_writes_the_interval_once_and_identically(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    start, end = _three_sends(mailgun_emulator)
    target = tmp_path / "events" / "day.jsonl.gz"
    result = _export(mailgun_conn_id, target, start, end)
    rows = _rows(target)
    recipients = {row["recipient"] for row in rows}
    assert recipients == {f"in{i:03d}@example.org" for i in range(150)} | {
        "bounce@example.org",
        "other@example.org",
    }
    assert len(rows) == 2 * 152 == result["rows"]
    assert result == {
        "path": f"file://{target}",
        "rows": 304,
        "bytes": target.stat().st_size,
        "requests": 4,
        "source": "logs",
    }
    stamps = [row["@timestamp"] for row in rows]
    assert stamps == sorted(stamps)
    assert all(start.isoformat()[:19] <= s[:19] for s in stamps)
    header = target.read_bytes()[:10]
    assert header[3] & 0x08 == 0
    assert header[4:8] == b"\0\0\0\0"
    first = _digest(target)
    again = _export(mailgun_conn_id, target, start, end)  # a re-run (or a backfill) of the interval
    assert _digest(target) == first
    assert again == result
    assert [p.name for p in target.parent.iterdir()] == ["day.jsonl.gz"]  # no temporary left


def test_filters_by_event_tag_and_domain(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    start, end = _three_sends(mailgun_emulator)
    failed = _export(mailgun_conn_id, tmp_path / "f.gz", start, end, events=["failed"])
    assert [r["recipient"] for r in _rows(tmp_path / "f.gz")] == ["bounce@example.org"]
    assert failed["rows"] == 1
    promo = _export(
        mailgun_conn_id, tmp_path / "p.gz", start, end, tags=["promo"], domains=["MG.example.com"]
    )
    assert {r["recipient"] for r in _rows(tmp_path / "p.gz")} == {"other@example.org"}
    assert promo["rows"] == 2
    none = _export(mailgun_conn_id, tmp_path / "n.gz", start, end, domains=["elsewhere.example.com"])
    assert none["rows"] == 0
    assert _rows(tmp_path / "n.gz") == []


def test_a_folder_path_names_the_object_after_the_interval(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    result = _export(mailgun_conn_id, f"file://{tmp_path}/out/", start, start + timedelta(days=1))
    assert result["path"].endswith("/out/mailgun-events_20260101T000000Z_20260102T000000Z.jsonl.gz")
    assert result["rows"] == 0


def test_events_fallback_when_the_gateway_does_not_forward_logs(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, maton_conn_id: str, tmp_path: Path
) -> None:
    start, end = _three_sends(mailgun_emulator)
    _export(mailgun_conn_id, tmp_path / "logs.gz", start, end)
    mailgun_emulator.set_gateway_forwards_newer_apis(False)
    result = _export(maton_conn_id, tmp_path / "events.gz", start, end)
    assert result["source"] == "events"
    assert result["rows"] == 304

    def essence(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        keys = ("id", "event", "@timestamp", "recipient", "tags", "user-variables", "domain")
        return [tuple(json.dumps(row.get(k), sort_keys=True) for k in keys) for row in rows]

    assert essence(_rows(tmp_path / "events.gz")) == essence(_rows(tmp_path / "logs.gz"))
    with pytest.raises(Exception, match="use a direct 'mailgun' connection"):
        _export(maton_conn_id, tmp_path / "x.gz", start, end, source="logs")
    with pytest.raises(AirflowFailException, match="Events API has no event type"):
        _export(maton_conn_id, tmp_path / "x.gz", start, end, events=["unique_opened"])
    assert not (tmp_path / "x.gz").exists()


def test_an_interrupted_export_leaves_nothing_and_a_retry_writes_it_whole(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    start, end = _three_sends(mailgun_emulator)
    clean = tmp_path / "clean.gz"
    _export(mailgun_conn_id, clean, start, end)
    target = tmp_path / "out" / "day.gz"
    # The third Logs page is refused mid-export (a 400 is never retried): the task fails.
    mailgun_emulator.set_faults({"path": "/v1/analytics/logs", "error_at": {"3": 400}})
    with pytest.raises(MailgunBadRequestError):
        _export(mailgun_conn_id, target, start, end)
    assert list(target.parent.iterdir()) == []  # neither the object nor a temporary
    mailgun_emulator.clear_faults()
    assert _export(mailgun_conn_id, target, start, end)["rows"] == 304
    assert _digest(target) == _digest(clean)


def test_dropped_connections_mid_export(
    mailgun_emulator: MailgunEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = _three_sends(mailgun_emulator)
    extra = {"default_domain": mailgun_emulator.domain, "max_attempts": 2, "timeout": 5}
    conn = {
        "conn_type": "mailgun",
        "host": mailgun_emulator.url,
        "password": mailgun_emulator.mailgun_key,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_FRAGILE", json.dumps(conn))
    clean = tmp_path / "clean.gz"
    _export("fragile", clean, start, end)
    # One dropped connection is retried (a Logs query only reads): the same bytes.
    mailgun_emulator.set_faults({"path": "/v1/analytics/logs", "reset_at": [2]})
    once = tmp_path / "once.gz"
    assert _export("fragile", once, start, end)["requests"] == 5
    assert _digest(once) == _digest(clean)
    # Two in a row exhaust the attempts: nothing at the final path; the next run writes it whole.
    mailgun_emulator.set_faults({"path": "/v1/analytics/logs", "reset_at": [3, 4]})
    target = tmp_path / "twice" / "day.gz"
    with pytest.raises(MailgunConnectionError):
        _export("fragile", target, start, end)
    assert list(target.parent.iterdir()) == []
    mailgun_emulator.clear_faults()
    _export("fragile", target, start, end)
    assert _digest(target) == _digest(clean)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "not before end"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "empty or reversed"),
        ({"start": "2999-01-01T00:00:00Z", "end": "2999-01-02T00:00:00Z"}, "in the future"),
        ({"start": "", "end": "2026-01-01T00:00:00Z"}, "needs a start and an end"),
        ({"start": "soon", "end": "2026-01-01T00:00:00Z"}, "is not a time"),
        ({"events": "deliverd"}, "Unknown event type"),  # as a template renders it
    ],
)
def test_bad_input_fails_before_any_request(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path, options: dict, words: str
) -> None:
    settings = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", **options}
    operator = MailgunExportEventsOperator(
        task_id="x", mailgun_conn_id=mailgun_conn_id, path=f"file://{tmp_path}/x.gz", **settings
    )
    with pytest.raises(AirflowFailException, match=words):
        operator.execute({})  # type: ignore[arg-type]
    assert mailgun_emulator.requests() == []
    assert list(tmp_path.iterdir()) == []


def test_literal_mistakes_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="Unknown event type"):
        MailgunExportEventsOperator(task_id="x", path="file:///tmp/x.gz", events=["deliverd"])
    with pytest.raises(ValueError, match="source"):
        MailgunExportEventsOperator(task_id="x", path="file:///tmp/x.gz", source="webhooks")
    with pytest.raises(ValueError, match="empty"):
        MailgunEngagementReportOperator(task_id="x", tags=["a", " "])
    with pytest.raises(ValueError, match="path is required"):
        MailgunExportEventsOperator(task_id="x", path="")


def test_report_per_tag_and_day(mailgun_emulator: MailgunEmulator, maton_conn_id: str) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    _send(
        mailgun_emulator,
        [f"r{i}@example.org" for i in range(8)] + ["bounce1@example.org", "bounce2@example.org"],
    )
    _send(mailgun_emulator, ["p@example.org", "complain@example.org"], tag="promo")
    mailgun_emulator.engage("opened", tag="news", limit=4)
    mailgun_emulator.engage("clicked", tag="news", limit=2)
    mailgun_emulator.engage("unsubscribed", recipient="p@example.org")
    end = datetime.now(timezone.utc) + timedelta(seconds=1)
    operator = MailgunEngagementReportOperator(
        task_id="report", mailgun_conn_id=maton_conn_id, start=start, end=end
    )
    result = operator.execute({})  # type: ignore[arg-type]
    day = end.date().isoformat() if start.date() == end.date() else None
    by_tag = {row["tag"]: row for row in result["rows"]}
    assert by_tag["news"] == {
        "day": day or by_tag["news"]["day"],
        "tag": "news",
        "accepted": 10,
        "delivered": 8,
        "opened": 4,
        "clicked": 2,
        "bounced": 2,
        "complained": 0,
        "unsubscribed": 0,
        "delivered_rate": 0.8,
        "opened_rate": 0.5,
        "clicked_rate": 0.25,
        "bounce_rate": 0.2,
        "complained_rate": 0.0,
        "unsubscribed_rate": 0.0,
    }
    assert (by_tag["promo"]["complained"], by_tag["promo"]["unsubscribed"]) == (1, 1)
    assert result["requests"] == 1
