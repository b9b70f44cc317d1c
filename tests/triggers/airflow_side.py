"""What the triggerer and the scheduler do around an event trigger, done in this process.

* :func:`sync_dag` writes a DAG to the metadata DB (its assets, watchers and their trigger rows).
* :func:`watcher_trigger` builds the trigger from its DB row, as the triggerer does, with the
  3.3 asset state store wired to the real execution API (:class:`InProcessSupervisor`).
* :func:`submit` records a trigger event exactly as the triggerer's supervisor does.
* :func:`run_consumer` runs the scheduled DAG with ``dag.test()``, its run consuming given asset
  events, as a run the scheduler creates from an asset event does.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dag_runner import dag_bag, write_to_db


def sync_dag(folder: str, dag_id: str) -> Any:
    """Write the folder's DAGs to the DB with ``dag_id`` unpaused (only then are its asset
    watchers given trigger rows, as when the DAG processor parses an unpaused DAG)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    bag = dag_bag(folder)
    write_to_db(bag)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False})
    write_to_db(bag)
    return bag.get_dag(dag_id)


def watcher_rows(asset_name: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(trigger id, classpath, decoded kwargs) of each trigger watching the asset."""
    from airflow.models.asset import AssetModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.name == asset_name).one()
        return [
            (trigger.id, trigger.classpath, _decoded(Trigger._decrypt_kwargs(trigger.encrypted_kwargs)))
            for trigger in asset.triggers
        ]


def _decoded(kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        from airflow.serialization.decoders import smart_decode_trigger_kwargs
    except ImportError:  # Airflow before 3.2 stores plain values
        return kwargs
    return {key: smart_decode_trigger_kwargs(value) for key, value in kwargs.items()}


def watcher_trigger(asset_name: str, uri: str, **speedups: Any) -> tuple[int, Any]:
    """The asset's trigger as the triggerer builds it; on 3.3 with the asset state store."""
    import importlib

    ((trigger_id, classpath, kwargs),) = watcher_rows(asset_name)
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    for name, value in speedups.items():
        setattr(trigger, name, value)  # poll faster than the example's minute
    if has_asset_state_store():
        from airflow.sdk import Asset
        from airflow.sdk.execution_time.context import AssetStateStoreAccessors

        trigger.asset_state_store = AssetStateStoreAccessors(inlets=[Asset(name=asset_name, uri=uri)])
    return trigger_id, trigger


def has_asset_state_store() -> bool:
    try:
        from airflow.sdk.execution_time.context import AssetStateStoreAccessors  # noqa: F401
    except ImportError:
        return False
    return True


class InProcessSupervisor:
    """The triggerer supervisor's handling of asset state store requests, without the socket:
    the same request handlers, the same in-process execution API client, the metadata DB."""

    def __init__(self) -> None:
        from airflow.jobs.triggerer_job_runner import in_process_api_server
        from airflow.sdk.api.client import Client

        transport = in_process_api_server().transport
        self.client = Client(base_url=None, token="", dry_run=True, transport=transport)
        self.client.base_url = "http://in-process.invalid./"  # type: ignore[assignment]
        # The in-process API builds its app on first use (seconds); do it before any trigger waits.
        self.client.asset_state_store.get(key="warm-up", name="no-such-asset")
        self.requests: list[str] = []

    def send(self, msg: Any) -> Any:
        from airflow.sdk.execution_time import request_handlers
        from airflow.sdk.execution_time.comms import OKResponse

        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(msg).__name__).lower()
        self.requests.append(name)
        response, _options = getattr(request_handlers, f"handle_{name}")(self.client, msg)
        return OKResponse(ok=True) if response is None else response

    async def asend(self, msg: Any) -> Any:
        # The real supervisor answers from another process: the trigger's loop waits, never works.
        return await asyncio.to_thread(self.send, msg)


@contextlib.contextmanager
def supervisor_comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessSupervisor | None]:
    """Install :class:`InProcessSupervisor` where the task SDK looks for its supervisor (3.3+)."""
    if not has_asset_state_store():
        yield None
        return
    from airflow.sdk.execution_time import task_runner

    supervisor = InProcessSupervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    yield supervisor


def submit(trigger_id: int, payload: dict[str, Any]) -> None:
    """What the triggerer's supervisor does with a yielded event."""
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent

    Trigger.submit_event(trigger_id=trigger_id, event=TriggerEvent(payload))


def asset_events(asset_name: str) -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == asset_name)
            .order_by(AssetEvent.id)
            .all()
        )
        session.expunge_all()
        return rows


def queued_runs(dag_id: str) -> int:
    """Asset-triggered runs the scheduler would create for ``dag_id`` (its queue rows)."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == dag_id).count()


def run_consumer(dag: Any, event_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``dag.test()`` whose run consumes the asset events ``event_ids``."""
    from airflow.models.asset import AssetEvent

    from tests.dag_runner import run_dag

    try:
        from airflow.models import dagrun as module

        original = module.get_or_create_dagrun
        name = "get_or_create_dagrun"
    except AttributeError:  # Airflow 3.0
        from airflow.models import dag as module  # type: ignore[no-redef]

        original = module._get_or_create_dagrun
        name = "_get_or_create_dagrun"

    def with_events(*args: Any, **kwargs: Any) -> Any:
        run = original(*args, **kwargs)
        session = kwargs["session"]
        run.consumed_asset_events.extend(session.query(AssetEvent).filter(AssetEvent.id.in_(event_ids)))
        session.commit()
        return run

    monkeypatch.setattr(module, name, with_events)
    return run_dag(dag)
