"""MailgunSyncListMembersOperator against the emulator over real HTTP; one DAG run with dag.test()."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_provider_mailgun._common.compat import AirflowFailException
from airflow_provider_mailgun.exceptions import IncompleteOperationError
from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result

LIST = "news@mg.example.com"
Member = tuple[str, dict[str, Any], bool]  # (name, vars, subscribed), as stored by the emulator


def _address(i: int) -> str:
    return f"m{i:05d}@example.org"


def _seeded(i: int) -> dict[str, Any]:
    """The seeded list: every hundredth member has unsubscribed."""
    return {"address": _address(i), "name": f"Member {i}", "vars": {"n": i}, "subscribed": i % 100 != 0}


def _seed(emu: MailgunEmulator, count: int, address: str = LIST) -> dict[str, Member]:
    emu.seed_list(address, [_seeded(i) for i in range(count)])
    return {_address(i): (f"Member {i}", {"n": i}, i % 100 != 0) for i in range(count)}


def _stored(emu: MailgunEmulator, address: str = LIST) -> dict[str, Member]:
    """The list as the emulator holds it (read directly, not through the client under test)."""
    with emu.state.lock:
        records = dict(emu.state.lists[address].members.records)
    return {key: (m["name"], m["vars"], m["subscribed"]) for key, m in records.items()}


def _writes(emu: MailgunEmulator) -> Counter[str]:
    """Write requests by kind: ``upload`` (members.json), ``delete`` (one member), anything else."""
    kinds: Counter[str] = Counter()
    for request in emu.requests():
        if request["method"] == "GET":
            continue
        if request["method"] == "POST" and request["path"].endswith("/members.json"):
            kinds["upload"] += 1
        elif request["method"] == "DELETE" and "/members/" in request["path"]:
            kinds["delete"] += 1
        else:
            kinds[f"{request['method']} {request['path']}"] += 1
    return kinds


def _sync(conn_id: str, members: Any, **options: Any) -> dict[str, Any]:
    operator = MailgunSyncListMembersOperator(
        task_id="sync", mailgun_conn_id=conn_id, list_address=LIST, members=members, **options
    )
    return operator.execute(context={})  # type: ignore[arg-type]


def _result(added: int, updated: int, removed: int, unchanged: int, invalid: int = 0) -> dict[str, Any]:
    return {
        "added": added,
        "updated": updated,
        "removed": removed,
        "unchanged": unchanged,
        "invalid": invalid,
        "dry_run": False,
    }


def test_upsert_on_10000_members_writes_only_the_changes(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    expected = _seed(mailgun_emulator, 10_000)
    source: list[Any] = []
    for i in range(9_800):  # the last 200 are not in the source: upsert keeps them
        name = f"Renamed {i}" if i % 40 == 1 else f"Member {i}"
        # The source says "subscribed" for everyone; the 98 who opted out stay out.
        source.append({"address": _address(i), "name": name, "vars": {"n": i}, "subscribed": True})
        expected[_address(i)] = (name, {"n": i}, i % 100 != 0)
    for i in range(10_000, 10_600):
        source.append(_address(i).upper())  # case does not make a new member
        expected[_address(i)] = ("", {}, True)

    result = _sync(mailgun_conn_id, source, mode="upsert")

    assert result == _result(added=600, updated=245, removed=0, unchanged=9_555)
    assert _stored(mailgun_emulator) == expected
    assert _writes(mailgun_emulator) == {"upload": math.ceil((600 + 245) / 1000)}


def test_mirror_on_10000_members_deletes_the_absent(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    seeded = _seed(mailgun_emulator, 10_000)
    expected: dict[str, Member] = {}
    source = []
    for i in range(10):  # of the 1,000 absent, the 10 who unsubscribed stay (their opt-out is kept)
        expected[_address(i * 100)] = seeded[_address(i * 100)]
    for i in range(1_000, 10_000):  # the other 990 absent: deleted
        name = f"Renamed {i}" if i % 30 == 0 else f"Member {i}"
        source.append({"address": _address(i), "name": name, "subscribed": True})
        # Renamed members who opted out get the new name and stay unsubscribed.
        expected[_address(i)] = (name, seeded[_address(i)][1], i % 100 != 0)
    for i in range(10_000, 10_700):
        source.append({"address": _address(i), "name": f"New {i}", "vars": {"new": True}})
        expected[_address(i)] = (f"New {i}", {"new": True}, True)

    result = _sync(mailgun_conn_id, source, mode="mirror", removal="delete")

    assert result == _result(added=700, updated=300, removed=990, unchanged=8_700)
    assert _stored(mailgun_emulator) == expected
    # ceil(1,000 changes / 1000) uploads, plus one request per removal (the API has no bulk delete).
    assert _writes(mailgun_emulator) == {"upload": 1, "delete": 990}


def test_mirror_by_unsubscribing_keeps_removed_members_on_the_list(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    seeded = _seed(mailgun_emulator, 2_000)
    source = [_seeded(i) for i in range(300, 2_000)]
    for entry in source[:250]:
        entry["vars"] = {"n": -1}
    source += [{"address": _address(i)} for i in range(2_000, 2_500)]

    result = _sync(mailgun_conn_id, source, mode="mirror", removal="unsubscribe")

    # m00000, m00100 and m00200 had already unsubscribed: nothing to do for them.
    assert result == _result(added=500, updated=250, removed=297, unchanged=1_450)
    stored = _stored(mailgun_emulator)
    assert len(stored) == 2_500
    assert all(stored[_address(i)] == (*seeded[_address(i)][:2], False) for i in range(300))
    assert stored[_address(300)] == ("Member 300", {"n": -1}, False)
    assert _writes(mailgun_emulator) == {"upload": math.ceil((500 + 250 + 297) / 1000)}


def test_an_unsubscribed_member_stays_unsubscribed_unless_resubscribe(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    mailgun_emulator.seed_list(
        LIST, [{"address": "ann@example.org", "name": "Ann", "subscribed": False}, "bob@example.org"]
    )
    source = [
        {"address": "ann@example.org", "name": "Ann Lee", "vars": {"tier": "gold"}, "subscribed": True},
        "bob@example.org",
    ]

    assert _sync(mailgun_conn_id, source) == _result(added=0, updated=1, removed=0, unchanged=1)
    assert _stored(mailgun_emulator)["ann@example.org"] == ("Ann Lee", {"tier": "gold"}, False)
    before = len(mailgun_emulator.requests())
    assert _sync(mailgun_conn_id, source) == _result(added=0, updated=0, removed=0, unchanged=2)
    # Nothing to write, so nothing to read back: the list, one page of members and the empty end.
    assert len(mailgun_emulator.requests()) - before == 3

    assert _sync(mailgun_conn_id, source, resubscribe=True)["updated"] == 1
    assert _stored(mailgun_emulator)["ann@example.org"] == ("Ann Lee", {"tier": "gold"}, True)


def test_removal_guard_stops_before_any_write(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    seeded = _seed(mailgun_emulator, 1_000)
    source = [_address(i) for i in range(300, 1_050)]  # would add 50 and remove 297 (3 opted out)

    with pytest.raises(AirflowFailException) as caught:
        _sync(mailgun_conn_id, source, mode="mirror")

    assert str(caught.value) == (
        f"mirror would remove 297 of 1,000 members of {LIST} (30%) > max_removal_fraction 20%. "
        "Nothing was written; check the source or raise max_removal_fraction."
    )
    assert _writes(mailgun_emulator) == {}
    assert _stored(mailgun_emulator) == seeded
    # Raising the limit lets the same sync through.
    assert _sync(mailgun_conn_id, source, mode="mirror", max_removal_fraction=0.3)["removed"] == 297


def test_empty_source_guard_stops_before_any_write(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _seed(mailgun_emulator, 100)
    with pytest.raises(AirflowFailException, match=r"The source has no valid members \(0 rows read"):
        _sync(mailgun_conn_id, [], mode="mirror", max_removal_fraction=1.0)
    # Every row invalid and skipped is an empty source too.
    with pytest.raises(AirflowFailException, match=r"\(2 rows read, 2 invalid\): mirror would remove 99"):
        _sync(mailgun_conn_id, ["x", "y@"], mode="mirror", on_invalid="skip", max_removal_fraction=1.0)
    assert _writes(mailgun_emulator) == {}

    result = _sync(mailgun_conn_id, [], mode="mirror", max_removal_fraction=1.0, allow_empty_source=True)
    assert result["removed"] == 99
    assert _stored(mailgun_emulator) == {_address(0): ("Member 0", {"n": 0}, False)}  # the opt-out stays


def test_invalid_rows_fail_before_any_request_or_are_skipped(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _seed(mailgun_emulator, 10)
    source = [_address(i) for i in range(10)] + [f"bad{i}" for i in range(12)]

    with pytest.raises(AirflowFailException) as caught:
        _sync(mailgun_conn_id, source)
    message = str(caught.value)
    assert message.startswith("12 invalid members: 'bad0' (item 11: ")
    assert "'bad9'" in message
    assert "'bad10'" not in message
    assert message.endswith("; and 2 more. Nothing was written; fix the source or set on_invalid='skip'.")
    assert mailgun_emulator.requests() == []

    assert _sync(mailgun_conn_id, source, on_invalid="skip") == _result(0, 0, 0, unchanged=10, invalid=12)


def test_dry_run_counts_the_same_and_writes_nothing(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    seeded = _seed(mailgun_emulator, 2_000)
    source = [_seeded(i) for i in range(100, 2_300)]
    for entry in source[::7]:
        entry["name"] = "Changed"

    dry = _sync(mailgun_conn_id, source, mode="mirror", dry_run=True)
    assert _writes(mailgun_emulator) == {}
    assert _stored(mailgun_emulator) == seeded

    real = _sync(mailgun_conn_id, source, mode="mirror")
    assert dry == {**real, "dry_run": True}
    assert real["added"] == 300
    assert real["removed"] == 99  # m00000 unsubscribed: kept


def test_a_missing_list_fails_or_is_created(mailgun_emulator: MailgunEmulator, mailgun_conn_id: str) -> None:
    source = ["ann@example.org", {"address": "bob@example.org", "name": "Bob"}]
    with pytest.raises(AirflowFailException, match=f"Mailing list {LIST} not found; create it first"):
        _sync(mailgun_conn_id, source)
    assert _sync(mailgun_conn_id, source, create_list=True, dry_run=True)["added"] == 2
    assert _writes(mailgun_emulator) == {}

    result = _sync(
        mailgun_conn_id,
        source,
        create_list=True,
        list_name="News",
        list_description="Weekly news",
        list_access_level="members",
    )
    assert result == _result(added=2, updated=0, removed=0, unchanged=0)
    created = mailgun_emulator.state.lists[LIST]
    assert (created.name, created.description, created.access_level) == ("News", "Weekly news", "members")
    assert _stored(mailgun_emulator) == {
        "ann@example.org": ("", {}, True),
        "bob@example.org": ("Bob", {}, True),
    }


def test_a_sync_through_20_percent_transient_faults_ends_equal_to_the_source(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _seed(mailgun_emulator, 1_000)
    source = [_seeded(i) for i in range(100, 1_150)]
    for entry in source[::10]:
        entry["vars"] = {"n": 0}
    # One fault in four is a 429, which Mailgun (and the emulator) asks to retry after a second.
    mailgun_emulator.set_faults({"error_rate": 0.2, "statuses": [429, 500, 502, 503]})
    operator = MailgunSyncListMembersOperator(
        task_id="sync",
        mailgun_conn_id=mailgun_conn_id,
        list_address=LIST,
        members=source,
        mode="mirror",
        max_concurrency=8,
    )

    result = operator.execute(context={})  # type: ignore[arg-type]

    mailgun_emulator.clear_faults()
    assert result == _result(added=150, updated=90, removed=99, unchanged=810)
    # The source repeats each member's subscription, so the list must end exactly as the source, but
    # for m00000, absent from it and kept because it unsubscribed.
    expected = {entry["address"]: (entry["name"], entry["vars"], entry["subscribed"]) for entry in source}
    expected[_address(0)] = ("Member 0", {"n": 0}, False)
    assert _stored(mailgun_emulator) == expected
    faulted = [r for r in mailgun_emulator.requests() if r["status"] >= 400]
    assert len(faulted) > 20
    assert {r["status"] for r in faulted} == {429, 500, 502, 503}
    assert operator.request_stats["retries"] == len(faulted)


def test_a_member_already_gone_counts_as_removed_and_failed_writes_fail_the_task(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    seeded = _seed(mailgun_emulator, 20)
    source = [_seeded(i) for i in range(16)]  # the last four go
    deletes_of_the_last_four = {"path": "/members/m0001", "methods": ["DELETE"], "error_rate": 1.0}

    # Someone else deleted them first: Mailgun answers 404, which is what the sync wanted anyway.
    mailgun_emulator.set_faults({**deletes_of_the_last_four, "statuses": [404]})
    assert _sync(mailgun_conn_id, source, mode="mirror", verify=False)["removed"] == 4

    # A write that keeps failing fails the task, naming it; running again completes the sync.
    mailgun_emulator.set_faults({**deletes_of_the_last_four, "statuses": [400]})
    with pytest.raises(IncompleteOperationError) as caught:
        _sync(mailgun_conn_id, source, mode="mirror")
    assert str(caught.value).startswith(f"4 write(s) to {LIST} failed after retries: delete of m0001")
    assert str(caught.value).endswith("The list is partly synced; running the task again completes it.")
    assert _stored(mailgun_emulator) == seeded

    mailgun_emulator.clear_faults()
    assert _sync(mailgun_conn_id, source, mode="mirror")["removed"] == 4
    assert _stored(mailgun_emulator) == {key: seeded[key] for key in list(seeded)[:16]}


def test_a_sync_through_the_maton_gateway(mailgun_emulator: MailgunEmulator, maton_conn_id: str) -> None:
    _seed(mailgun_emulator, 250)
    source = [_seeded(i) for i in range(5, 260)]
    source[10]["name"] = "Renamed"

    result = _sync(maton_conn_id, source, mode="mirror")

    assert result == _result(added=10, updated=1, removed=4, unchanged=244)
    assert len(_stored(mailgun_emulator)) == 256  # m00000 unsubscribed: kept
    assert {r["entrance"] for r in mailgun_emulator.requests()} == {"gateway"}
    assert _writes(mailgun_emulator) == {"upload": 1, "delete": 4}


@pytest.mark.mailgun_emulator(upload_delay=1.5)
def test_verify_waits_for_background_uploads(mailgun_emulator: MailgunEmulator, mailgun_conn_id: str) -> None:
    _seed(mailgun_emulator, 500)
    source = [_seeded(i) for i in range(700)]  # 200 new members: one background upload

    assert _sync(mailgun_conn_id, source)["added"] == 200

    assert len(_stored(mailgun_emulator)) == 700
    page_reads = [r for r in mailgun_emulator.requests() if r["path"].endswith("/members/pages")]
    # The first read (6 pages with the empty last one), then at least two read-backs of 8.
    assert len(page_reads) >= 6 + 2 * 8


@pytest.mark.mailgun_emulator(upload_delay=60)
def test_verify_fails_when_the_list_does_not_match_in_time(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _seed(mailgun_emulator, 10)
    source = [_address(i) for i in range(10, 160)]

    with pytest.raises(IncompleteOperationError) as caught:
        _sync(mailgun_conn_id, source, mode="mirror", max_removal_fraction=1.0, verify_timeout=1)

    assert str(caught.value).startswith(
        f"List {LIST} does not match the source after the sync (waited up to 1 s for background "
        "uploads): 150 difference(s): m00010@example.org is missing; "
    )
    # Without verify the same sync reports success: the check is what catches it.
    assert (
        _sync(mailgun_conn_id, source, mode="mirror", max_removal_fraction=1.0, verify=False)["added"] == 150
    )


def test_csv_path_and_xcom_sources_in_a_dag(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    mailgun_emulator.seed_list(LIST, ["old@example.org", "ann@example.org"])
    mailgun_emulator.seed_list("team@mg.example.com", [])
    csv_path = tmp_path / "news.csv"
    csv_path.write_text(
        "address,name,city\nann@example.org,Ann,Oslo\nbob@example.org,Bob,\n", encoding="utf-8"
    )

    with DAG(
        "list_sync_sources",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"members_file": str(csv_path)},
    ) as dag:

        @task
        def team() -> list[Any]:
            return [{"address": "Cy <cy@example.org>", "vars": {"role": "lead"}}, "dee@example.org"]

        MailgunSyncListMembersOperator(
            task_id="sync_news",
            mailgun_conn_id=mailgun_conn_id,
            list_address="{{ 'news' }}@mg.example.com",
            members="{{ params.members_file }}",
            mode="mirror",
            max_removal_fraction=0.5,
        )
        MailgunSyncListMembersOperator(
            task_id="sync_team",
            mailgun_conn_id=mailgun_conn_id,
            list_address="team@mg.example.com",
            members=team(),
        )

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"team": "success", "sync_news": "success", "sync_team": "success"}
    assert xcom_result(dag_run, "sync_news") == _result(added=1, updated=1, removed=1, unchanged=0)
    assert xcom_result(dag_run, "sync_team") == _result(added=2, updated=0, removed=0, unchanged=0)
    assert _stored(mailgun_emulator) == {
        "ann@example.org": ("Ann", {"city": "Oslo"}, True),
        "bob@example.org": ("Bob", {}, True),
    }
    assert _stored(mailgun_emulator, "team@mg.example.com") == {
        "cy@example.org": ("Cy", {"role": "lead"}, True),
        "dee@example.org": ("", {}, True),
    }


def test_a_member_list_given_as_data_is_not_rendered(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    operator = MailgunSyncListMembersOperator(
        task_id="sync",
        mailgun_conn_id=mailgun_conn_id,
        list_address="{{ 'news' }}@mg.example.com",
        members=[{"address": "a@example.org", "name": "{{ not a template"}],
    )
    operator.render_template_fields(context={"ds": "2026-01-01"})  # type: ignore[arg-type]
    assert operator.list_address == LIST
    assert operator.members == [{"address": "a@example.org", "name": "{{ not a template"}]
    assert json.loads(json.dumps(operator.members))  # still plain data


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "replace"}, "mode must be one of 'upsert', 'mirror'"),
        ({"removal": "archive"}, "removal must be one of 'delete', 'unsubscribe'"),
        ({"on_invalid": "ignore"}, "on_invalid must be one of 'fail', 'skip'"),
        ({"max_removal_fraction": 1.5}, "max_removal_fraction must be between 0 and 1"),
        ({"list_access_level": "public"}, "list_access_level must be one of"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MailgunSyncListMembersOperator(task_id="sync", list_address=LIST, members=[], **options)
