"""What a list sync must write: a pure diff of a list's members against a data source.

Both sides are compact maps keyed by the lower-cased address (Mailgun lists are case-insensitive)::

    current = {"ann@x.org": MemberState("Ann", "{}", True), "old@x.org": MemberState("", "{}", True)}
    source = {"ann@x.org": SourceMember("ann@x.org", "Ann B", None, None),
              "new@x.org": SourceMember("new@x.org", None, None, None)}
    plan = plan_sync(current, source, mode="mirror", removal="delete")
    plan.counts()          # {"added": 1, "updated": 1, "removed": 1, "unchanged": 0}
    list(plan.upserts())   # [("new@x.org", MemberState("", "{}", True)), ("ann@x.org", ...)]
    plan.deletes()         # ["old@x.org"]
    apply_plan(current, plan) == expected list after the writes
    for chunk in batches(plan.upserts(), 1000):
        body = upload_body(chunk)   # members.json objects

Rules the plan follows:

- A field the source does not carry (``None``) keeps the member's current value (for a new member:
  no name, no vars, subscribed); a field it carries wins.
- A member who unsubscribed stays unsubscribed whatever the source says, unless ``resubscribe``;
  their name and vars are still updated.
- ``upsert`` never removes. ``mirror`` removes members absent from the source: deleted, or with
  ``removal="unsubscribe"`` marked unsubscribed (members already unsubscribed need nothing). A
  member who unsubscribed is never deleted: deleting would forget the opt-out, and the member,
  back in the source one day, would be added as subscribed. They stay, unsubscribed
  (``kept_unsubscribed`` counts them).
- Only members whose state changes are written.
- Members who unsubscribe while the sync runs are kept unsubscribed: the operator reads the list's
  unsubscribed members again just before writing and corrects the plan (:func:`keep_new_opt_outs`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal, NamedTuple

from airflow_provider_mailgun.exceptions import ListSyncGuardError

Mode = Literal["upsert", "mirror"]
Removal = Literal["delete", "unsubscribe"]
MODES: tuple[Mode, ...] = ("upsert", "mirror")
REMOVALS: tuple[Removal, ...] = ("delete", "unsubscribe")
EMPTY_VARS = "{}"
SHOWN_DIFFERENCES = 5


class MemberState(NamedTuple):
    """One list member as stored: display name, vars as canonical JSON, subscription."""

    name: str
    vars_json: str
    subscribed: bool


class SourceMember(NamedTuple):
    """One member as the source wants it; ``None`` means the source does not say."""

    address: str
    name: str | None
    vars_json: str | None
    subscribed: bool | None


NEW_MEMBER = MemberState("", EMPTY_VARS, True)
Write = tuple[str, MemberState]


def canonical_vars(value: Any) -> str:
    """Vars as sorted, compact JSON, so equal vars compare equal as strings.

    Accepts a mapping or a JSON object given as text; raises ValueError for anything else.

    >>> canonical_vars({"b": 1, "a": "x"})
    '{"a":"x","b":1}'
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError("vars is not valid JSON") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"vars must be a JSON object, got {type(value).__name__}")
    if not value:
        return EMPTY_VARS
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"vars cannot be written as JSON ({err})") from None


def current_entry(item: Mapping[str, Any]) -> tuple[str, MemberState]:
    """``(key, state)`` of one member as the members API returns it."""
    address = str(item.get("address") or "")
    vars_value = item.get("vars")
    try:
        vars_json = canonical_vars(vars_value) if vars_value else EMPTY_VARS
    except ValueError:
        # Mailgun hands back whatever was stored; keep it comparable rather than failing the sync.
        vars_json = json.dumps(vars_value, sort_keys=True, default=str)
    subscribed = item.get("subscribed", True)
    if not isinstance(subscribed, bool):
        subscribed = str(subscribed).strip().lower() not in ("no", "false", "0")
    return address.lower(), MemberState(str(item.get("name") or ""), vars_json, subscribed)


def merge_source(earlier: SourceMember, later: SourceMember) -> SourceMember:
    """A duplicate source row: what the later row says wins, what it leaves out is kept."""
    return SourceMember(
        address=later.address,
        name=later.name if later.name is not None else earlier.name,
        vars_json=later.vars_json if later.vars_json is not None else earlier.vars_json,
        subscribed=later.subscribed if later.subscribed is not None else earlier.subscribed,
    )


def target_state(current: MemberState | None, source: SourceMember, *, resubscribe: bool) -> MemberState:
    """The state a source member should end in, given its current state (``None`` when new)."""
    base = current or NEW_MEMBER
    wanted = True if source.subscribed is None else source.subscribed
    # People who opted out must not be opted back in by a scheduled job.
    keep_unsubscribed = current is not None and not current.subscribed and not resubscribe
    return MemberState(
        name=base.name if source.name is None else source.name,
        vars_json=base.vars_json if source.vars_json is None else source.vars_json,
        subscribed=False if keep_unsubscribed else wanted,
    )


@dataclass
class SyncPlan:
    """The writes a sync needs. ``removals`` hold each removed member's state after an unsubscribe."""

    removal: Removal = "delete"
    adds: list[Write] = field(default_factory=list)
    updates: list[Write] = field(default_factory=list)
    removals: list[Write] = field(default_factory=list)
    unchanged: int = 0
    kept_unsubscribed: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.adds),
            "updated": len(self.updates),
            "removed": len(self.removals),
            "unchanged": self.unchanged,
        }

    @property
    def changes(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.removals)

    def upserts(self) -> Iterator[Write]:
        """Members to send through ``members.json`` with upsert: adds, updates, unsubscribes."""
        yield from self.adds
        yield from self.updates
        if self.removal == "unsubscribe":
            yield from self.removals

    def upsert_count(self) -> int:
        unsubscribes = len(self.removals) if self.removal == "unsubscribe" else 0
        return len(self.adds) + len(self.updates) + unsubscribes

    def deletes(self) -> list[str]:
        """Addresses to delete one by one (empty when removal is by unsubscribe)."""
        return [address for address, _ in self.removals] if self.removal == "delete" else []


def plan_sync(
    current: Mapping[str, MemberState],
    source: Mapping[str, SourceMember],
    *,
    mode: Mode = "upsert",
    removal: Removal = "delete",
    resubscribe: bool = False,
) -> SyncPlan:
    """Diff ``current`` against ``source``; see the module docstring for the rules."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")
    plan = SyncPlan(removal=removal)
    for key, wanted in source.items():
        existing = current.get(key)
        target = target_state(existing, wanted, resubscribe=resubscribe)
        if existing is None:
            plan.adds.append((wanted.address, target))
        elif target != existing:
            plan.updates.append((wanted.address, target))
        else:
            plan.unchanged += 1
    if mode == "mirror":
        for key, existing in current.items():
            if key in source:
                continue
            if not existing.subscribed:
                plan.kept_unsubscribed += 1  # an opt-out is kept, whatever the removal mode
            elif removal == "delete":
                plan.removals.append((key, existing))
            else:
                plan.removals.append((key, existing._replace(subscribed=False)))
    return plan


def keep_new_opt_outs(plan: SyncPlan, current: dict[str, MemberState], opted_out: set[str]) -> int:
    """Correct ``plan`` (and ``current``) for members who unsubscribed after the list was read.

    ``opted_out`` holds the lower-cased addresses unsubscribed now. Their upserts write them
    unsubscribed, and a delete becomes a kept opt-out. Returns how many planned writes changed.
    """
    changed = 0

    def kept(writes: list[Write]) -> list[Write]:
        nonlocal changed
        out = []
        for address, state in writes:
            if state.subscribed and address.lower() in opted_out:
                state, changed = state._replace(subscribed=False), changed + 1
            out.append((address, state))
        return out

    plan.adds, plan.updates = kept(plan.adds), kept(plan.updates)
    if plan.removal == "delete":
        removals = [(address, state) for address, state in plan.removals if address.lower() not in opted_out]
        plan.kept_unsubscribed += len(plan.removals) - len(removals)
        changed += len(plan.removals) - len(removals)
        plan.removals = removals
    for key in opted_out & current.keys():
        current[key] = current[key]._replace(subscribed=False)
    return changed


def batches(writes: Iterable[Write], size: int) -> Iterator[list[Write]]:
    """Consecutive lists of at most ``size`` writes, drawn lazily from ``writes``."""
    iterator = iter(writes)
    while batch := list(islice(iterator, size)):
        yield batch


def upload_body(chunk: Sequence[Write]) -> list[dict[str, Any]]:
    """``members.json`` objects carrying every field, so an upsert leaves nothing to chance."""
    return [
        {
            "address": address,
            "name": state.name,
            "vars": json.loads(state.vars_json),
            "subscribed": state.subscribed,
        }
        for address, state in chunk
    ]


def apply_plan(current: Mapping[str, MemberState], plan: SyncPlan) -> dict[str, MemberState]:
    """The list as it should be once ``plan`` is written (a new map; ``current`` is untouched)."""
    result = dict(current)
    for address, state in plan.upserts():
        result[address.lower()] = state
    for address in plan.deletes():
        result.pop(address.lower(), None)
    return result


def check_guards(
    plan: SyncPlan,
    *,
    current_size: int,
    source_size: int,
    mode: Mode,
    list_address: str,
    max_removal_fraction: float,
    allow_empty_source: bool,
    source_note: str = "",
) -> None:
    """Raise :class:`ListSyncGuardError` when the plan looks like a broken source, before any write."""
    if source_size == 0 and not allow_empty_source:
        if mode == "mirror" and plan.removals:
            verb, removed = _removal_verb(plan), len(plan.removals)
            outcome = f"mirror would {verb} {removed:,} of {current_size:,} members of {list_address}"
        else:
            outcome = f"{mode} would change nothing in {list_address}"
        note = f" ({source_note})" if source_note else ""
        raise ListSyncGuardError(
            f"The source has no valid members{note}: {outcome}. Nothing was written; "
            "set allow_empty_source=True if an empty source is intended."
        )
    removed = len(plan.removals)
    if removed and current_size:
        fraction = removed / current_size
        if fraction > max_removal_fraction:
            raise ListSyncGuardError(
                f"mirror would {_removal_verb(plan)} {removed:,} of {current_size:,} members of "
                f"{list_address} ({fraction:.0%}) > max_removal_fraction {max_removal_fraction:.0%}. "
                "Nothing was written; check the source or raise max_removal_fraction."
            )


def _removal_verb(plan: SyncPlan) -> str:
    return "remove" if plan.removal == "delete" else "unsubscribe"


@dataclass
class Differences:
    """How a list read back differs from what the sync expected; a few examples by name."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.count += 1
        if len(self.examples) < SHOWN_DIFFERENCES:
            self.examples.append(text)

    def __bool__(self) -> bool:
        return self.count > 0

    def summary(self) -> str:
        more = f"; and {self.count - len(self.examples)} more" if self.count > len(self.examples) else ""
        return f"{self.count:,} difference(s): " + "; ".join(self.examples) + more


def find_differences(
    expected: Mapping[str, MemberState], actual: Iterable[tuple[str, MemberState]]
) -> Differences:
    """Compare the expected list with the entries read back (each key once)."""
    differences = Differences()
    seen: set[str] = set()
    for key, state in actual:
        seen.add(key)
        wanted = expected.get(key)
        if wanted is None:
            differences.note(f"{key} should not be on the list")
        elif wanted != state:
            differences.note(f"{key} is {_describe(state)}, expected {_describe(wanted)}")
    for key in sorted(expected.keys() - seen):
        differences.note(f"{key} is missing")
    return differences


def _describe(state: MemberState) -> str:
    status = "subscribed" if state.subscribed else "unsubscribed"
    return f"({state.name!r}, vars {state.vars_json}, {status})"
