"""The list-sync diff: properties of plan_sync/apply_plan, the guards, and the read-back comparison."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun._list_sync.plan import (
    EMPTY_VARS,
    MemberState,
    SourceMember,
    SyncPlan,
    apply_plan,
    batches,
    canonical_vars,
    check_guards,
    current_entry,
    find_differences,
    merge_source,
    plan_sync,
    upload_body,
)
from airflow_provider_mailgun.exceptions import ListSyncGuardError

KEYS = [f"user{i}@example.org" for i in range(12)]
NAMES = ["", "Ann", "Bob"]
VARS = [EMPTY_VARS, '{"n":1}', '{"n":2}']

states = st.builds(MemberState, st.sampled_from(NAMES), st.sampled_from(VARS), st.booleans())
current_maps = st.dictionaries(st.sampled_from(KEYS), states, max_size=len(KEYS))


@st.composite
def source_maps(draw: st.DrawFn) -> dict[str, SourceMember]:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
    source = {}
    for key in keys:
        # The address as written in the source may differ in case from the list's key.
        address = key.upper() if draw(st.booleans()) else key
        source[key] = SourceMember(
            address,
            draw(st.none() | st.sampled_from(NAMES)),
            draw(st.none() | st.sampled_from(VARS)),
            draw(st.none() | st.booleans()),
        )
    return source


modes = st.sampled_from(["upsert", "mirror"])
removals = st.sampled_from(["delete", "unsubscribe"])


@settings(max_examples=250, deadline=None)
@given(current_maps, source_maps(), modes, removals, st.booleans())
def test_applying_the_plan_gives_what_the_source_asks(
    current: dict[str, MemberState], source: dict[str, SourceMember], mode: str, removal: str, resub: bool
) -> None:
    plan = plan_sync(current, source, mode=mode, removal=removal, resubscribe=resub)  # type: ignore[arg-type]
    result = apply_plan(current, plan)

    for key, wanted in source.items():
        before = current.get(key)
        after = result[key]
        assert after.name == (wanted.name if wanted.name is not None else (before.name if before else ""))
        assert after.vars_json == (
            wanted.vars_json if wanted.vars_json is not None else (before.vars_json if before else "{}")
        )
        if before is not None and not before.subscribed and not resub:
            assert after.subscribed is False  # opted out stays opted out
        else:
            assert after.subscribed is (True if wanted.subscribed is None else wanted.subscribed)

    for key, before in current.items():
        if key in source:
            continue
        if mode == "upsert" or not before.subscribed:
            assert result[key] == before  # an opt-out is never deleted: the list must remember it
        elif removal == "delete":
            assert key not in result
        else:
            assert result[key] == before._replace(subscribed=False)
    expected_keys = set(source) | set(current)
    if (mode, removal) == ("mirror", "delete"):
        expected_keys -= {key for key in set(current) - set(source) if current[key].subscribed}
    assert set(result) == expected_keys


@settings(max_examples=250, deadline=None)
@given(current_maps, source_maps(), modes, removals, st.booleans())
def test_plan_is_minimal_and_idempotent(
    current: dict[str, MemberState], source: dict[str, SourceMember], mode: str, removal: str, resub: bool
) -> None:
    plan = plan_sync(current, source, mode=mode, removal=removal, resubscribe=resub)  # type: ignore[arg-type]
    counts = plan.counts()
    assert counts["added"] + counts["updated"] + counts["unchanged"] == len(source)
    assert all(address.lower() not in current for address, _ in plan.adds)
    for address, state in plan.updates:
        assert current[address.lower()] != state
    assert all(address.lower() not in source for address, _ in plan.removals)
    assert plan.upsert_count() == len(list(plan.upserts()))
    # Written once, the list needs nothing more.
    again = plan_sync(apply_plan(current, plan), source, mode=mode, removal=removal, resubscribe=resub)  # type: ignore[arg-type]
    assert again.changes == 0


@settings(max_examples=150, deadline=None)
@given(current_maps, source_maps(), removals, st.booleans())
def test_upsert_never_removes(
    current: dict[str, MemberState], source: dict[str, SourceMember], removal: str, resub: bool
) -> None:
    plan = plan_sync(current, source, mode="upsert", removal=removal, resubscribe=resub)  # type: ignore[arg-type]
    assert plan.removals == []
    assert plan.deletes() == []


@settings(max_examples=150, deadline=None)
@given(current_maps, source_maps(), modes, removals)
def test_no_write_resubscribes_without_permission(
    current: dict[str, MemberState], source: dict[str, SourceMember], mode: str, removal: str
) -> None:
    plan = plan_sync(current, source, mode=mode, removal=removal)  # type: ignore[arg-type]
    for address, state in plan.upserts():
        before = current.get(address.lower())
        if before is not None and not before.subscribed:
            assert not state.subscribed


def test_unsubscribe_removal_writes_upserts_not_deletes() -> None:
    current = {
        "a@x.org": MemberState("A", EMPTY_VARS, True),
        "gone@x.org": MemberState("G", '{"n":1}', True),
        "gone-already@x.org": MemberState("", EMPTY_VARS, False),
    }
    source = {"a@x.org": SourceMember("a@x.org", None, None, None)}
    plan = plan_sync(current, source, mode="mirror", removal="unsubscribe")
    assert plan.deletes() == []
    assert list(plan.upserts()) == [("gone@x.org", MemberState("G", '{"n":1}', False))]
    assert plan.counts() == {"added": 0, "updated": 0, "removed": 1, "unchanged": 1}


def test_resubscribe_lets_the_source_opt_people_back_in() -> None:
    current = {"a@x.org": MemberState("A", EMPTY_VARS, False)}
    source = {"a@x.org": SourceMember("A@x.org", "Ann", None, True)}
    kept = plan_sync(current, source)
    assert kept.updates == [("A@x.org", MemberState("Ann", EMPTY_VARS, False))]
    back = plan_sync(current, source, resubscribe=True)
    assert back.updates == [("A@x.org", MemberState("Ann", EMPTY_VARS, True))]


def test_bad_mode_and_removal_are_rejected() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        plan_sync({}, {}, mode="replace")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="removal must be one of"):
        plan_sync({}, {}, removal="archive")  # type: ignore[arg-type]


def _mirror_plan(current_size: int, kept: int, removal: str = "delete") -> tuple[SyncPlan, int]:
    current = {f"u{i}@x.org": MemberState("", EMPTY_VARS, True) for i in range(current_size)}
    source = {f"u{i}@x.org": SourceMember(f"u{i}@x.org", None, None, None) for i in range(kept)}
    return plan_sync(current, source, mode="mirror", removal=removal), len(source)  # type: ignore[arg-type]


def test_removal_guard_says_what_would_have_happened() -> None:
    plan, source_size = _mirror_plan(10_000, 7_000)
    with pytest.raises(ListSyncGuardError) as caught:
        check_guards(
            plan,
            current_size=10_000,
            source_size=source_size,
            mode="mirror",
            list_address="news@mg.example.com",
            max_removal_fraction=0.2,
            allow_empty_source=False,
        )
    assert str(caught.value).startswith(
        "mirror would remove 3,000 of 10,000 members of news@mg.example.com (30%) > max_removal_fraction 20%."
    )
    unsubscribing, _ = _mirror_plan(10_000, 7_000, removal="unsubscribe")
    with pytest.raises(ListSyncGuardError, match="mirror would unsubscribe 3,000 of 10,000"):
        check_guards(
            unsubscribing,
            current_size=10_000,
            source_size=source_size,
            mode="mirror",
            list_address="news@mg.example.com",
            max_removal_fraction=0.2,
            allow_empty_source=False,
        )


def test_removal_guard_allows_exactly_the_limit() -> None:
    plan, source_size = _mirror_plan(1_000, 800)
    check_guards(
        plan,
        current_size=1_000,
        source_size=source_size,
        mode="mirror",
        list_address="l@x.org",
        max_removal_fraction=0.2,
        allow_empty_source=False,
    )


def test_empty_source_guard() -> None:
    plan, _ = _mirror_plan(50, 0)
    with pytest.raises(ListSyncGuardError) as caught:
        check_guards(
            plan,
            current_size=50,
            source_size=0,
            mode="mirror",
            list_address="l@x.org",
            max_removal_fraction=1.0,
            allow_empty_source=False,
            source_note="3 rows read, 3 invalid",
        )
    assert str(caught.value) == (
        "The source has no valid members (3 rows read, 3 invalid): mirror would remove 50 of 50 members of "
        "l@x.org. Nothing was written; set allow_empty_source=True if an empty source is intended."
    )
    with pytest.raises(ListSyncGuardError, match=r"upsert would change nothing in l@x\.org"):
        check_guards(
            SyncPlan(),
            current_size=50,
            source_size=0,
            mode="upsert",
            list_address="l@x.org",
            max_removal_fraction=1.0,
            allow_empty_source=False,
        )
    # Allowed explicitly, and with the removal guard off, an empty mirror empties the list.
    check_guards(
        plan,
        current_size=50,
        source_size=0,
        mode="mirror",
        list_address="l@x.org",
        max_removal_fraction=1.0,
        allow_empty_source=True,
    )


def test_find_differences_names_changed_extra_and_missing_members() -> None:
    expected = {
        "a@x.org": MemberState("A", EMPTY_VARS, True),
        "b@x.org": MemberState("B", EMPTY_VARS, False),
        "c@x.org": MemberState("", EMPTY_VARS, True),
    }
    assert not find_differences(expected, expected.items())
    actual = [
        ("a@x.org", MemberState("A", EMPTY_VARS, True)),
        ("b@x.org", MemberState("B", EMPTY_VARS, True)),
        ("z@x.org", MemberState("", EMPTY_VARS, True)),
    ]
    differences = find_differences(expected, actual)
    assert differences.count == 3
    assert differences.summary() == (
        "3 difference(s): b@x.org is ('B', vars {}, subscribed), expected ('B', vars {}, unsubscribed); "
        "z@x.org should not be on the list; c@x.org is missing"
    )


def test_canonical_vars() -> None:
    assert canonical_vars({"b": 1, "a": {"y": 2, "x": 1}}) == '{"a":{"x":1,"y":2},"b":1}'
    assert canonical_vars('{"b": 1, "a": "é"}') == '{"a":"é","b":1}'
    assert canonical_vars({}) is EMPTY_VARS
    assert canonical_vars("") is EMPTY_VARS
    for bad in ("[1, 2]", "not json", 5, {"x": {1, 2}}):
        with pytest.raises(ValueError, match="vars"):
            canonical_vars(bad)


def test_current_entry_reads_the_api_shape() -> None:
    item = {"address": "Ann@X.org", "name": None, "vars": {"b": 2, "a": 1}, "subscribed": False}
    assert current_entry(item) == ("ann@x.org", MemberState("", '{"a":1,"b":2}', False))
    assert current_entry({"address": "c@x.org", "subscribed": "no"})[1].subscribed is False
    assert current_entry({"address": "b@x.org"}) == (
        "b@x.org",
        MemberState("", EMPTY_VARS, True),
    )


@given(
    st.builds(
        SourceMember,
        st.just("a@x.org"),
        st.none() | st.text(max_size=3),
        st.none(),
        st.none() | st.booleans(),
    ),
    st.builds(
        SourceMember,
        st.just("A@x.org"),
        st.none() | st.text(max_size=3),
        st.none(),
        st.none() | st.booleans(),
    ),
)
def test_merge_keeps_what_the_later_row_leaves_out(earlier: SourceMember, later: SourceMember) -> None:
    merged = merge_source(earlier, later)
    assert merged.address == later.address
    assert merged.name == (later.name if later.name is not None else earlier.name)
    assert merged.subscribed == (later.subscribed if later.subscribed is not None else earlier.subscribed)


@given(st.integers(min_value=0, max_value=3_500), st.integers(min_value=1, max_value=1_000))
def test_batches_cover_every_write_once_in_the_fewest_calls(count: int, size: int) -> None:
    writes = [(f"u{i}@x.org", MemberState("", EMPTY_VARS, True)) for i in range(count)]
    chunks = list(batches(iter(writes), size))
    assert len(chunks) == -(-count // size)
    assert all(len(chunk) <= size for chunk in chunks)
    assert [write for chunk in chunks for write in chunk] == writes


def test_upload_body_carries_every_field() -> None:
    chunk = [
        ("Ann@x.org", MemberState("Ann", '{"n":1}', False)),
        ("b@x.org", MemberState("", EMPTY_VARS, True)),
    ]
    assert upload_body(chunk) == [
        {"address": "Ann@x.org", "name": "Ann", "vars": {"n": 1}, "subscribed": False},
        {"address": "b@x.org", "name": "", "vars": {}, "subscribed": True},
    ]
