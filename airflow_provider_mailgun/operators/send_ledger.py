"""A ledger of send batches that survives task retries, so no recipient is mailed twice.

Airflow clears a task's XCom before each retry, so "what was already sent" lives elsewhere:
``context["task_state_store"]`` on Airflow 3.3+, an Airflow Variable on 3.0 to 3.2. The ledger
writes a batch's state *before* its request goes out (``in_flight``), so a worker killed mid-send
leaves a trace the retry reconciles instead of resending::

    ledger = SendLedger.for_context(context, fingerprint=plan.fingerprint)
    ledger.load(plan.batches)
    ledger.mark(batch, IN_FLIGHT, sent_at=time.time())
    ... send ...
    ledger.mark(batch, ACCEPTED, message_id=result.message_id)
    ledger.discard()          # when the task succeeds

Records are grouped in chunks of 256 batches per stored key, so one write stays small.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from airflow_provider_mailgun.operators.message_plan import Batch

IN_FLIGHT = "in_flight"
ACCEPTED = "accepted"
AMBIGUOUS = "ambiguous"
SKIPPED = "skipped"
UNSETTLED = frozenset({IN_FLIGHT, AMBIGUOUS})
CHUNK = 256
KEY_PREFIX = "mailgun-send-ledger"
MAX_VARIABLE_KEY = 250  # Airflow's ID_LEN, the length of the variable key column


class LedgerStore(Protocol):
    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class LedgerConflictError(RuntimeError):
    """The recipients changed since an earlier try that already sent some of them."""


class TaskStateStore:
    """Airflow 3.3+: ``context["task_state_store"]``, kept across retries of the task instance."""

    def __init__(self, accessor: Any) -> None:
        self._accessor = accessor

    def get(self, key: str) -> Any:
        return self._accessor.get(key, None)

    def set(self, key: str, value: Any) -> None:
        self._accessor.set(key, value)

    def delete(self, key: str) -> None:
        self._accessor.delete(key)


class VariableStore:
    """Airflow 3.0 to 3.2: one Airflow Variable per chunk, keyed by dag, run, task and map index."""

    def __init__(self, scope: str) -> None:
        self._scope = scope

    def _name(self, key: str) -> str:
        name = f"{key}__{self._scope}"
        if len(name) <= MAX_VARIABLE_KEY:
            return name
        # Long dag/task ids would overflow Airflow's variable key column: use a digest of the scope.
        return f"{key}__{hashlib.sha256(self._scope.encode()).hexdigest()[:40]}"

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


def store_for_context(context: Mapping[str, Any]) -> LedgerStore:
    accessor = context.get("task_state_store")
    if accessor is not None:
        return TaskStateStore(accessor)
    if context.get("ti") is not None:
        return VariableStore(ledger_scope(context))
    return MemoryStore()


class SendLedger:
    """Batch states by batch index; thread-safe, every change written through at once."""

    def __init__(self, store: LedgerStore, fingerprint: str) -> None:
        self._store = store
        self._fingerprint = fingerprint
        self._lock = threading.Lock()
        self._chunks: dict[int, dict[str, dict[str, Any]]] = {}

    @classmethod
    def for_context(cls, context: Mapping[str, Any], fingerprint: str) -> SendLedger:
        return cls(store_for_context(context), fingerprint)

    def load(self, batches: Iterable[Batch]) -> dict[int, dict[str, Any]]:
        """Read earlier tries' records for these batches; refuse when the batches changed."""
        planned = {batch.index: batch.key for batch in batches}
        records: dict[int, dict[str, Any]] = {}
        for chunk in sorted({index // CHUNK for index in planned}):
            stored = self._store.get(f"{KEY_PREFIX}:{chunk}") or {}
            entries: dict[str, dict[str, Any]] = dict(stored.get("batches") or {})
            self._chunks[chunk] = entries
            for text_index, record in entries.items():
                index = int(text_index)
                if planned.get(index) == record.get("k"):
                    records[index] = record
                elif record.get("s") in (ACCEPTED, *UNSETTLED):
                    raise LedgerConflictError(
                        "The recipients differ from an earlier try of this task that already sent (or may "
                        f"have sent) batch {index}; nothing more was sent, to avoid mailing anyone twice. "
                        "Re-run with the same input, or clear the task's ledger to start over."
                    )
        return records

    def mark(self, batch: Batch, state: str, **info: Any) -> None:
        record = {"k": batch.key, "s": state, "n": len(batch.recipients), **info}
        chunk = batch.index // CHUNK
        with self._lock:
            entries = self._chunks.setdefault(chunk, {})
            entries[str(batch.index)] = record
            self._store.set(f"{KEY_PREFIX}:{chunk}", {"fp": self._fingerprint, "batches": dict(entries)})

    def discard(self) -> None:
        """Forget the ledger once every batch is settled (a re-run after success sends again)."""
        with self._lock:
            for chunk in list(self._chunks):
                self._store.delete(f"{KEY_PREFIX}:{chunk}")
            self._chunks.clear()
