"""A ledger of send batches that outlives the task's tries, so no recipient is mailed twice.

Airflow clears a task's XCom before each retry, so "what was already sent" lives elsewhere:
``context["task_state_store"]`` on Airflow 3.3+, Airflow Variables on 3.0 to 3.2. The ledger
writes a batch's state *before* its request goes out (``in_flight``), so a worker killed mid-send
leaves a trace the retry reconciles instead of resending::

    ledger = SendLedger.for_context(context)
    head = ledger.read_head()                      # None, in progress, or completed
    ledger.begin(generation, chunks=...)           # before the first request
    ledger.load(plan.batches)
    ledger.mark(batch, IN_FLIGHT, t=time.time())
    ... send ...
    ledger.mark(batch, ACCEPTED, id=result.message_id, m=recipients)
    ledger.complete(summary, chunks=..., cycle=ti.max_tries)  # kept: a retry or a clear finds it done

Lifetime. A completed ledger is *kept*: a crash between ``execute()`` returning and Airflow
recording success (XCom push, the success message) leaves it, and the retry returns the completed
send's result instead of sending again. Each ledger has a *generation* (a random id in every batch
key), so a new send of the same task instance never matches an earlier send's events. Records are
removed by retention: on 3.3 the task state store's own (``[state_store] default_retention_days``,
``airflow state-store clean``); in Variables (3.0 to 3.2, and the completion record that 3.3 with
``clear_on_success`` keeps there), by the next completed send of the same task and map index, past
:data:`DEFAULT_RETENTION_DAYS` (or 3.3's ``default_retention_days``).

Records are grouped in chunks of 256 batches per stored key, so one write stays small.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from airflow_provider_mailgun.operators.message_plan import Batch

log = logging.getLogger(__name__)

IN_FLIGHT = "in_flight"
ACCEPTED = "accepted"
AMBIGUOUS = "ambiguous"
SKIPPED = "skipped"
UNSETTLED = frozenset({IN_FLIGHT, AMBIGUOUS})
CHUNK = 256
KEY_PREFIX = "mailgun-send-ledger"
HEAD_KEY = f"{KEY_PREFIX}:head"
INDEX_PREFIX = f"{KEY_PREFIX}-index"
MAX_VARIABLE_KEY = 250  # Airflow's ID_LEN, the length of the variable key column
DEFAULT_RETENTION_DAYS = 30  # Airflow 3.3's default_retention_days, for the Variables it does not manage


class LedgerStore(Protocol):
    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class LedgerConflictError(RuntimeError):
    """The recipients changed since an earlier try that already sent some of them."""


class TaskStateStore:
    """Airflow 3.3+: ``context["task_state_store"]``, kept across retries and clears of the task instance."""

    def __init__(self, accessor: Any) -> None:
        self._accessor = accessor

    def get(self, key: str) -> Any:
        return self._accessor.get(key, None)

    def set(self, key: str, value: Any) -> None:
        self._accessor.set(key, value)

    def delete(self, key: str) -> None:
        self._accessor.delete(key)


class VariableStore:
    """Airflow Variables, one per key, named after the task instance (dag, run, task, map index)."""

    def __init__(self, scope: str) -> None:
        self._scope = scope

    def _name(self, key: str) -> str:
        return variable_name(key, self._scope)

    def get(self, key: str) -> Any:
        from airflow.sdk import Variable

        raw = Variable.get(self._name(key), default=None)
        return json.loads(raw) if raw else None

    def set(self, key: str, value: Any) -> None:
        from airflow.sdk import Variable

        Variable.set(self._name(key), json.dumps(value, separators=(",", ":")))

    def delete(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(self._name(key))


def variable_name(key: str, scope: str) -> str:
    name = f"{key}__{scope}"
    if len(name) <= MAX_VARIABLE_KEY:
        return name
    # Long dag/task ids would overflow Airflow's variable key column: use a digest of the scope.
    return f"{key}__{hashlib.sha256(scope.encode()).hexdigest()[:40]}"


class MemoryStore:
    """A ledger that lives only as long as the operator object (outside a running task)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def ledger_scope(context: Mapping[str, Any]) -> str:
    """Identity of the task instance the ledger belongs to (also seeds the batch keys)."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return "outside-a-task"
    return f"{ti.dag_id}__{ti.run_id}__{ti.task_id}__{getattr(ti, 'map_index', -1)}"


def new_generation() -> str:
    return secrets.token_hex(6)


class VariableRetention:
    """Removes a task's ledger Variables past the retention, from an index kept per task and map index.

    Airflow 3.0 to 3.2 cannot list Variables from a task, so each ledger notes itself (its scope,
    expiry and how many chunk Variables it wrote) in one index Variable of its task and map index;
    each completed send removes the expired ones. Two runs of one map index completing at the same
    instant can lose an index entry: that ledger is then left for ``airflow variables delete``.
    """

    def __init__(self, scope: str, index_scope: str, days: float) -> None:
        self.scope = scope
        self.index = VariableStore(index_scope)
        self.days = days

    def note(self, chunks: int) -> None:
        """Record (or refresh) this ledger's expiry; remove the expired ledgers of earlier runs."""
        if self.days <= 0:
            return  # kept for ever, as Airflow's own default_retention_days = 0 does
        now = time.time()
        entries: dict[str, list[Any]] = dict(self.index.get(INDEX_PREFIX) or {})
        for scope, (expires, count) in list(entries.items()):
            if scope != self.scope and float(expires) < now:
                _delete_ledger(VariableStore(scope), int(count))
                del entries[scope]
        entries[self.scope] = [now + self.days * 86400, chunks]
        self.index.set(INDEX_PREFIX, entries)


def _delete_ledger(store: LedgerStore, chunks: int) -> None:
    for key in [HEAD_KEY, *(f"{KEY_PREFIX}:{n}" for n in range(chunks))]:
        try:
            store.delete(key)
        except Exception as err:  # already gone, or the API refused: retention is best effort
            log.debug("Could not remove ledger record %s: %s", key, err)


def _retention_days() -> float:
    from airflow_provider_mailgun._compat import conf

    return conf.getfloat("state_store", "default_retention_days", fallback=DEFAULT_RETENTION_DAYS)


def _clear_on_success() -> bool:
    from airflow_provider_mailgun._compat import conf

    return conf.getboolean("state_store", "clear_on_success", fallback=False)


class SendLedger:
    """Batch states by batch index, and the head (generation, completion); thread-safe, written through.

    :param store: where the records live.
    :param fingerprint: the plan's, written with each chunk.
    :param keeper: a second home for the completion record, where the store forgets it on success
        (Airflow 3.3 with ``[state_store] clear_on_success``).
    :param retention: removes expired ledgers kept in Variables.
    """

    def __init__(
        self,
        store: LedgerStore,
        fingerprint: str = "",
        *,
        keeper: LedgerStore | None = None,
        retention: VariableRetention | None = None,
    ) -> None:
        self._store = store
        self._keeper = keeper
        self._retention = retention
        self.fingerprint = fingerprint
        self.generation = ""
        self._lock = threading.Lock()
        self._chunks: dict[int, dict[str, dict[str, Any]]] = {}

    @classmethod
    def for_context(cls, context: Mapping[str, Any], fingerprint: str = "") -> SendLedger:
        scope = ledger_scope(context)
        accessor = context.get("task_state_store")
        ti = context.get("ti")
        if accessor is not None:
            keeper, retention = None, None
            if _clear_on_success():
                keeper = VariableStore(scope)
                retention = VariableRetention(scope, _index_scope(ti), _retention_days())
            return cls(TaskStateStore(accessor), fingerprint, keeper=keeper, retention=retention)
        if ti is not None:
            retention = VariableRetention(scope, _index_scope(ti), _retention_days())
            return cls(VariableStore(scope), fingerprint, retention=retention)
        return cls(MemoryStore(), fingerprint)

    # ---------------------------------------------------------------------------- head
    def read_head(self) -> dict[str, Any] | None:
        """The head: ``{"g": generation, "n": chunks}``, plus ``d``, ``c``, ``r`` once completed."""
        head = self._store.get(HEAD_KEY)
        if head is None and self._keeper is not None:
            head = self._keeper.get(HEAD_KEY)
        if head is None:
            first = self._store.get(f"{KEY_PREFIX}:0")
            if isinstance(first, Mapping):
                # Batches recorded without a head: an interrupted begin, or a ledger written before
                # generations existed (its keys have none). Carry on with that generation.
                return {"g": first.get("g", ""), "n": 0}
        return dict(head) if isinstance(head, Mapping) else None

    def begin(self, generation: str, chunks: int) -> None:
        """Record the generation about to send (before any request); a no-op when already recorded."""
        self.generation = generation
        head = self.read_head()
        if head is not None and head.get("g") == generation and not head.get("d"):
            return
        self._store.set(HEAD_KEY, {"g": generation, "n": chunks})
        if self._retention is not None and self._keeper is None:
            self._retention.note(chunks)

    def complete(self, summary: Mapping[str, Any], *, chunks: int, cycle: int | None) -> None:
        """Mark the send completed; its records stay, so a retry or a clear finds it done."""
        head = {"g": self.generation, "n": chunks, "d": time.time(), "c": cycle, "r": dict(summary)}
        self._store.set(HEAD_KEY, head)
        if self._keeper is not None:
            self._keeper.set(HEAD_KEY, head)
        if self._retention is not None:
            self._retention.note(0 if self._keeper is not None else chunks)

    def completed_records(self, head: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
        """The accepted batches of a completed ledger, by index (empty where its chunks are gone)."""
        records: dict[int, dict[str, Any]] = {}
        for chunk in range(int(head.get("n") or 0)):
            stored = self._store.get(f"{KEY_PREFIX}:{chunk}") or {}
            if stored.get("g", "") != head.get("g"):
                continue
            for text_index, record in (stored.get("batches") or {}).items():
                if record.get("s") == ACCEPTED:
                    records[int(text_index)] = record
        return records

    # -------------------------------------------------------------------------- batches
    def load(self, batches: Iterable[Batch]) -> dict[int, dict[str, Any]]:
        """Read earlier tries' records for these batches; refuse when the batches changed."""
        planned = {batch.index: batch.key for batch in batches}
        records: dict[int, dict[str, Any]] = {}
        for chunk in sorted({index // CHUNK for index in planned}):
            stored = self._store.get(f"{KEY_PREFIX}:{chunk}") or {}
            # Records of another generation (an earlier send of this task instance) are not this send's.
            same = stored.get("g", "") == self.generation
            entries: dict[str, dict[str, Any]] = dict(stored.get("batches") or {}) if same else {}
            self._chunks[chunk] = entries
            for text_index, record in entries.items():
                index = int(text_index)
                if planned.get(index) == record.get("k"):
                    records[index] = record
                elif record.get("s") in (ACCEPTED, *UNSETTLED):
                    raise LedgerConflictError(
                        "The recipients differ from an earlier try of this task that already sent (or may "
                        f"have sent) batch {index}; nothing more was sent, to avoid mailing anyone twice. "
                        "Re-run with the same input, or delete this task instance's ledger (its "
                        f"{KEY_PREFIX}:* entries in the task state store, or Airflow Variables "
                        f"{KEY_PREFIX}:*__<dag>__<run>__<task>__<map index>) to start over."
                    )
        return records

    def mark(self, batch: Batch, state: str, **info: Any) -> None:
        record = {"k": batch.key, "s": state, "n": len(batch.recipients), **info}
        chunk = batch.index // CHUNK
        with self._lock:
            entries = self._chunks.setdefault(chunk, {})
            entries[str(batch.index)] = record
            payload = {"fp": self.fingerprint, "g": self.generation, "batches": dict(entries)}
            self._store.set(f"{KEY_PREFIX}:{chunk}", payload)


def chunk_count(batches: int) -> int:
    return max(1, -(-batches // CHUNK))


def _index_scope(ti: Any) -> str:
    return f"{ti.dag_id}__{ti.task_id}__{getattr(ti, 'map_index', -1)}"
