"""A ledger of send batches that outlives the task's tries, so no recipient is mailed twice.

Airflow clears a task's XCom before each retry, so "what was already sent" lives elsewhere:
``context["task_state_store"]`` on Airflow 3.3+, Airflow Variables on 3.0 to 3.2 (see
:mod:`.ledger_stores`). The ledger writes a batch's state *before* its request goes out
(``in_flight``), so a worker killed mid-send leaves a trace the retry reconciles instead of
resending::

    ledger = SendLedger.for_context(context)
    head = ledger.read_head()                      # None, in progress, or completed
    ledger.begin(generation, chunks=...)           # before the first request
    ledger.load(plan.batches)                      # {index: BatchRecord} of earlier tries
    ledger.mark(batch, IN_FLIGHT, sent_at=time.time())
    ... send ...
    ledger.mark(batch, ACCEPTED, sent_at=sent_at, message_id=result.message_id)
    ledger.complete(summary, chunks=..., cycle=ti.max_tries)  # kept: a retry or a clear finds it done

Stored as JSON, a head ``{"generation", "chunks", "completed_at", "cycle", "summary"}`` and chunks
of 256 batches each, ``{"generation", "batches": {index: {"key", "state", "recipients", "sent_at",
"message_id", "reconciled"}}}``, so one write stays small.

Lifetime. A completed ledger is *kept*: a crash between ``execute()`` returning and Airflow
recording success (XCom push, the success message) leaves it, and the retry returns the completed
send's result instead of sending again. Each ledger has a *generation* (a random id in every batch
key), so a new send of the same task instance never matches an earlier send's events. Records are
removed by retention: on 3.3 the task state store's own (``[state_store] default_retention_days``,
``airflow state-store clean``); in Variables (3.0 to 3.2, and the completed ledger that 3.3 with
``clear_on_success`` copies there, head and batch records, so a clear still finds the send and its
result), by the next completed send of the same task and map index, past
:data:`~.ledger_stores.DEFAULT_RETENTION_DAYS` (or 3.3's ``default_retention_days``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_mailgun._send.ledger_stores import (
    HEAD_KEY,
    KEY_PREFIX,
    LedgerStore,
    MemoryStore,
    TaskStateStore,
    VariableRetention,
    VariableStore,
    chunk_key,
    clear_on_success,
    retention_days,
)
from airflow_provider_mailgun._send.plan import Batch
from airflow_provider_mailgun.exceptions import LedgerConflictError

IN_FLIGHT = "in_flight"
ACCEPTED = "accepted"
AMBIGUOUS = "ambiguous"
SKIPPED = "skipped"
FAILED = "failed"
UNSETTLED = frozenset({IN_FLIGHT, AMBIGUOUS})
CHUNK = 256


@dataclass(frozen=True)
class BatchRecord:
    """What the ledger knows of one batch.

    :param key: the batch key (task instance, generation and recipients), as sent in ``v:``.
    :param state: ``in_flight``, ``accepted``, ``ambiguous``, ``skipped`` or ``failed``.
    :param recipients: the copies its message reaches (to, cc and bcc).
    :param sent_at: when its request went out (epoch seconds).
    :param message_id: Mailgun's id, once accepted.
    :param reconciled: accepted as found in Mailgun's events, not from the send's reply.
    """

    key: str
    state: str
    recipients: int
    sent_at: float
    message_id: str | None = None
    reconciled: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchRecord:
        return cls(
            key=str(data.get("key", "")),
            state=str(data.get("state", "")),
            recipients=int(data.get("recipients") or 0),
            sent_at=float(data.get("sent_at") or 0.0),
            message_id=data.get("message_id"),
            reconciled=bool(data.get("reconciled")),
        )


@dataclass(frozen=True)
class LedgerHead:
    """The ledger's generation and size, and once completed, when and with what summary.

    :param cycle: the task instance's ``max_tries`` when it completed, which a clear changes and a
        retry does not.
    """

    generation: str
    chunks: int
    completed_at: float | None = None
    cycle: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerHead:
        completed = data.get("completed_at")
        return cls(
            generation=str(data.get("generation", "")),
            chunks=int(data.get("chunks") or 0),
            completed_at=None if completed is None else float(completed),
            cycle=data.get("cycle"),
            summary=dict(data.get("summary") or {}),
        )


def ledger_scope(context: Mapping[str, Any]) -> str:
    """Identity of the task instance the ledger belongs to (also seeds the batch keys)."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return "outside-a-task"
    return f"{ti.dag_id}__{ti.run_id}__{ti.task_id}__{getattr(ti, 'map_index', -1)}"


def new_generation() -> str:
    return secrets.token_hex(6)


def chunk_count(batches: int) -> int:
    return max(1, -(-batches // CHUNK))


class SendLedger:
    """Batch records by batch index, and the head; thread-safe, written through to the store.

    :param store: where the records live.
    :param keeper: a second home for the completion record, where the store forgets it on success
        (Airflow 3.3 with ``[state_store] clear_on_success``).
    :param retention: removes expired ledgers kept in Variables.
    """

    def __init__(
        self,
        store: LedgerStore,
        *,
        keeper: LedgerStore | None = None,
        retention: VariableRetention | None = None,
    ) -> None:
        self._store = store
        self._keeper = keeper
        self._retention = retention
        self.generation = ""
        self._lock = threading.Lock()
        self._chunks: dict[int, dict[str, dict[str, Any]]] = {}

    @classmethod
    def for_context(cls, context: Mapping[str, Any]) -> SendLedger:
        scope = ledger_scope(context)
        accessor = context.get("task_state_store")
        ti = context.get("ti")
        if accessor is not None:
            keeper, retention = None, None
            if clear_on_success():
                keeper = VariableStore(scope)
                retention = VariableRetention(scope, _index_scope(ti), retention_days())
            return cls(TaskStateStore(accessor), keeper=keeper, retention=retention)
        if ti is not None:
            return cls(
                VariableStore(scope), retention=VariableRetention(scope, _index_scope(ti), retention_days())
            )
        return cls(MemoryStore())

    # ---------------------------------------------------------------------------- head
    def read_head(self) -> LedgerHead | None:
        """The head: in progress (``completed_at`` None) or completed; ``None`` before any send."""
        head = self._store.get(HEAD_KEY)
        if head is None and self._keeper is not None:
            head = self._keeper.get(HEAD_KEY)
        elif isinstance(head, Mapping) and head.get("completed_at") and self._keeper is not None:
            # A crash between the two completion records (the store's, then the kept one): keep it now,
            # before this try succeeds and clear_on_success erases the store's.
            self._keep_missing(head)
        if head is None:
            first = self._store.get(chunk_key(0))
            if isinstance(first, Mapping):
                # Batches recorded without a head (an interrupted begin): carry on with their generation.
                return LedgerHead(generation=str(first.get("generation", "")), chunks=0)
        return LedgerHead.from_json(head) if isinstance(head, Mapping) else None

    def begin(self, generation: str, chunks: int) -> None:
        """Record the generation about to send (before any request); a no-op when already recorded."""
        self.generation = generation
        head = self.read_head()
        if head is not None and head.generation == generation and head.completed_at is None:
            return
        self._store.set(HEAD_KEY, asdict(LedgerHead(generation, chunks)))
        if self._retention is not None and self._keeper is None:
            self._retention.note(chunks)

    def complete(self, summary: Mapping[str, Any], *, chunks: int, cycle: int | None) -> None:
        """Mark the send completed; its records stay, so a retry or a clear finds it done."""
        head = asdict(LedgerHead(self.generation, chunks, time.time(), cycle, dict(summary)))
        self._store.set(HEAD_KEY, head)
        if self._keeper is not None:
            self._keep(head, {n: self._payload(entries) for n, entries in self._chunks.items()})
        if self._retention is not None:
            self._retention.note(chunks)

    def _keep_missing(self, head: Mapping[str, Any]) -> None:
        assert self._keeper is not None
        if self._keeper.get(HEAD_KEY) != head:
            chunks = range(int(head.get("chunks") or 0))
            self._keep(head, {n: self._store.get(chunk_key(n)) for n in chunks})

    def _keep(self, head: Mapping[str, Any], payloads: Mapping[int, Any]) -> None:
        """Copy a completed ledger where ``clear_on_success`` does not reach: its chunks, then its head."""
        assert self._keeper is not None
        for chunk, payload in payloads.items():
            if payload:
                self._keeper.set(chunk_key(chunk), payload)
        self._keeper.set(HEAD_KEY, dict(head))

    def completed_records(self, head: LedgerHead) -> dict[int, BatchRecord]:
        """The accepted batches of a completed ledger, by index (empty where its chunks are gone)."""
        records: dict[int, BatchRecord] = {}
        for chunk in range(head.chunks):
            stored = self._store.get(chunk_key(chunk)) or {}
            if stored.get("generation", "") != head.generation and self._keeper is not None:
                stored = self._keeper.get(chunk_key(chunk)) or {}  # the store was cleared on success
            if stored.get("generation", "") != head.generation:
                continue
            for text_index, data in (stored.get("batches") or {}).items():
                record = BatchRecord.from_json(data)
                if record.state == ACCEPTED:
                    records[int(text_index)] = record
        return records

    # -------------------------------------------------------------------------- batches
    def load(self, batches: Iterable[Batch]) -> dict[int, BatchRecord]:
        """Read earlier tries' records for these batches; refuse when the batches changed."""
        # Keys are asked only of batches with a record: a batch reads its recipients to know its key.
        planned = {batch.index: batch for batch in batches}
        records: dict[int, BatchRecord] = {}
        for chunk in sorted({index // CHUNK for index in planned}):
            stored = self._store.get(chunk_key(chunk)) or {}
            # Records of another generation (an earlier send of this task instance) are not this send's.
            same = stored.get("generation", "") == self.generation
            entries: dict[str, dict[str, Any]] = dict(stored.get("batches") or {}) if same else {}
            self._chunks[chunk] = entries
            for text_index, data in entries.items():
                index, record = int(text_index), BatchRecord.from_json(data)
                batch = planned.get(index)
                if batch is not None and batch.key == record.key:
                    records[index] = record
                elif record.state in (ACCEPTED, *UNSETTLED):
                    raise LedgerConflictError(
                        "The recipients differ from an earlier try of this task that already sent (or may "
                        f"have sent) batch {index}; nothing more was sent, to avoid mailing anyone twice. "
                        "Re-run with the same input, or delete this task instance's ledger (its "
                        f"{KEY_PREFIX}:* entries in the task state store, or Airflow Variables "
                        f"{KEY_PREFIX}:*__<dag>__<run>__<task>__<map index>) to start over."
                    )
        return records

    def mark(
        self,
        batch: Batch,
        state: str,
        *,
        sent_at: float,
        message_id: str | None = None,
        reconciled: bool = False,
    ) -> None:
        """Write one batch's record (its whole chunk, so a crash never leaves half a chunk)."""
        record = BatchRecord(batch.key, state, batch.reach, sent_at, message_id, reconciled)
        chunk = batch.index // CHUNK
        with self._lock:
            entries = self._chunks.setdefault(chunk, {})
            entries[str(batch.index)] = asdict(record)
            self._store.set(chunk_key(chunk), self._payload(entries))

    def _payload(self, entries: Mapping[str, Any]) -> dict[str, Any]:
        return {"generation": self.generation, "batches": dict(entries)}


def _index_scope(ti: Any) -> str:
    return f"{ti.dag_id}__{ti.task_id}__{getattr(ti, 'map_index', -1)}"
