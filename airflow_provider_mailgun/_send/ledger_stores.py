"""Where the send ledger keeps its records, and how long: the task state store, Variables, memory.

Three homes with one small interface (``get``, ``set``, ``delete`` of JSON values)::

    store = TaskStateStore(context["task_state_store"])   # Airflow 3.3+
    store = VariableStore("dag__run__task__-1")            # Airflow 3.0 to 3.2
    store = MemoryStore()                                   # outside a running task

Retention. Airflow 3.3 cleans its task state store itself (``[state_store]
default_retention_days``). Variables it does not manage, and 3.0 to 3.2 cannot list them from a
task, so :class:`VariableRetention` keeps an index per task and map index of the ledgers it wrote
and removes the expired ones whenever a send of that task completes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Protocol

from airflow.sdk import Variable

from airflow_provider_mailgun._common.compat import conf

log = logging.getLogger(__name__)

KEY_PREFIX = "mailgun-send-ledger"
HEAD_KEY = f"{KEY_PREFIX}:head"
INDEX_PREFIX = f"{KEY_PREFIX}-index"
MAX_VARIABLE_KEY = 250  # Airflow's ID_LEN, the length of the variable key column
DEFAULT_RETENTION_DAYS = 30  # Airflow 3.3's default_retention_days, for the Variables it does not manage


def chunk_key(chunk: int) -> str:
    """The stored key of one chunk of batch records."""
    return f"{KEY_PREFIX}:{chunk}"


class LedgerStore(Protocol):
    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


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
        raw = Variable.get(self._name(key), default=None)
        return json.loads(raw) if raw else None

    def set(self, key: str, value: Any) -> None:
        Variable.set(self._name(key), json.dumps(value, separators=(",", ":")))

    def delete(self, key: str) -> None:
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
    for key in [HEAD_KEY, *(chunk_key(n) for n in range(chunks))]:
        try:
            store.delete(key)
        except Exception as err:  # already gone, or the API refused: retention is best effort
            log.debug("Could not remove ledger record %s: %s", key, err)


def retention_days() -> float:
    return conf.getfloat("state_store", "default_retention_days", fallback=DEFAULT_RETENTION_DAYS)


def clear_on_success() -> bool:
    """Whether Airflow 3.3 empties the task state store when the task succeeds."""
    return conf.getboolean("state_store", "clear_on_success", fallback=False)
