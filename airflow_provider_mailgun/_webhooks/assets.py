"""Recording a verified Mailgun webhook as an asset event, once, in the metadata database.

Runs in the api-server (which has the database), called by the receiver's app
(:mod:`airflow_provider_mailgun._webhooks.app`) for a body whose signature, age and size were
already checked::

    outcome = record_webhook("mailgun_complaints", token, event_data)   # "recorded", ...

Each request claims two keys in one transaction with the asset event itself:

* the signature's token: a second use of it is a replay (``"replayed"``), even on another
  api-server worker or host;
* the event's id and timestamp: Mailgun re-posts an event whose reply it did not get, freshly
  signed; the second post is acknowledged without a second asset event (``"duplicate"``).

On Airflow 3.3+ the claims are rows of the asset state store (its primary key makes a concurrent
second claim fail the whole transaction), dropped once they can no longer matter. Before 3.3 there
is no such table: the claims are kept in this process only, so the api-server must run one worker
(``[api] workers = 1``, the default) for them to see every request.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

from airflow_provider_mailgun._watch.batch import batch_payload
from airflow_provider_mailgun._watch.sources import from_api_item
from airflow_provider_mailgun.plugins.webhook_receiver import TOKEN_CLAIM_SECONDS

Outcome = Literal["recorded", "duplicate", "replayed", "unknown_asset", "not_an_event"]
CLAIM_PREFIX = "mailgun_webhook:"
#: Tokens only matter while their timestamp passes the age check (``TOKEN_CLAIM_SECONDS``, which
#: bounds ``max_age_seconds``); event ids while Mailgun may still re-post (it retries for about 8 hours).
EVENT_CLAIM_SECONDS = 24 * 60 * 60.0
_PRUNE_EVERY = 60.0


def record_webhook(asset_name: str, token: str, event_data: Mapping[str, Any]) -> Outcome:
    """Record ``event_data`` on the asset named ``asset_name`` unless it was already (see above)."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    event = from_api_item(event_data)
    if event is None:
        return "not_an_event"
    claims = {
        "token": f"{CLAIM_PREFIX}token:{token}",
        "event": f"{CLAIM_PREFIX}event:{event.id}:{event.timestamp:.3f}",
    }
    store = _claim_store()
    reserved: int | None = None
    try:
        with create_session() as session:
            asset = session.scalar(select(AssetModel).where(AssetModel.name == asset_name))
            if asset is None:
                return "unknown_asset"
            taken = store.reserve(session, asset.id, claims)
            if taken is not None:
                return taken
            reserved = asset.id
            payload = batch_payload(
                [event],
                domain=_domain_of(event_data),
                source="webhook",
                watch={"events": [event.event], "severity": None, "tags": [], "lists": []},
                horizon=event.timestamp,
            )
            if (
                asset_manager.register_asset_change(
                    asset=asset, extra={"from_webhook": True, "payload": payload}, session=session
                )
                is None
            ):
                raise _NotRecorded
    except _NotRecorded:
        store.release(reserved, claims)
        return "unknown_asset"
    except IntegrityError:  # another worker claimed the same token or event at the same moment
        store.release(reserved, claims)
        with create_session() as session:
            asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == asset_name))
            return _claim_store().taken(session, asset_id, claims) or "replayed"
    except BaseException:
        store.release(reserved, claims)
        raise
    return "recorded"


class _NotRecorded(Exception):
    """The asset manager declined the event (e.g. the asset vanished meanwhile)."""


def _domain_of(event_data: Mapping[str, Any]) -> str:
    """The sending domain: the part after ``@`` of the message id (webhooks carry no domain field)."""
    headers = (event_data.get("message") or {}).get("headers") or {}
    message_id = str(headers.get("message-id") or "") if isinstance(headers, Mapping) else ""
    return message_id.rpartition("@")[2].strip("<> ").lower()


class _TableClaims:
    """Claims as asset state store rows (Airflow 3.3+)."""

    def __init__(self) -> None:
        self._pruned = 0.0

    def taken(self, session: Any, asset_id: int | None, claims: Mapping[str, str]) -> Outcome | None:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from sqlalchemy import select

        if asset_id is None:
            return "unknown_asset"
        rows = set(
            session.scalars(
                select(AssetStateStoreModel.key).where(
                    AssetStateStoreModel.asset_id == asset_id,
                    AssetStateStoreModel.key.in_(list(claims.values())),
                )
            )
        )
        if claims["token"] in rows:
            return "replayed"
        return "duplicate" if claims["event"] in rows else None

    def reserve(self, session: Any, asset_id: int, claims: Mapping[str, str]) -> Outcome | None:
        """The claims' outcome if taken, else take them in this transaction (rows, flushed)."""
        from airflow.models.asset_state_store import AssetStateStoreModel

        taken = self.taken(session, asset_id, claims)
        if taken is not None:
            return taken
        self._prune(session, asset_id)
        value = json.dumps({"claimed_at": time.time()})
        for key in claims.values():
            session.add(AssetStateStoreModel(asset_id=asset_id, key=key, value=value))
        session.flush()  # a claim taken meanwhile fails here (or at commit): nothing is recorded
        return None

    def release(self, asset_id: int | None, claims: Mapping[str, str]) -> None:
        """Nothing to do: the rows go with the rolled-back transaction."""

    def _prune(self, session: Any, asset_id: int) -> None:
        from datetime import datetime, timedelta, timezone

        from airflow.models.asset_state_store import AssetStateStoreModel
        from sqlalchemy import delete

        if time.monotonic() - self._pruned < _PRUNE_EVERY:
            return
        self._pruned = time.monotonic()
        now = datetime.now(timezone.utc)
        for kind, keep in (("token", TOKEN_CLAIM_SECONDS), ("event", EVENT_CLAIM_SECONDS)):
            session.execute(
                delete(AssetStateStoreModel)
                .where(
                    AssetStateStoreModel.asset_id == asset_id,
                    AssetStateStoreModel.key.startswith(f"{CLAIM_PREFIX}{kind}:"),
                    AssetStateStoreModel.updated_at < now - timedelta(seconds=keep),
                )
                .execution_options(synchronize_session=False)
            )


class _ProcessClaims:
    """Claims kept in this process (Airflow before 3.3): one api-server worker sees them all."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[int | None, str], float] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def taken(
        self, session: Any, asset_id: int | None, claims: Mapping[str, str], *, locked: bool = False
    ) -> Outcome | None:
        if asset_id is None:
            return "unknown_asset"
        if not locked:
            with self._lock:
                return self.taken(session, asset_id, claims, locked=True)
        if (asset_id, claims["token"]) in self._seen:
            return "replayed"
        return "duplicate" if (asset_id, claims["event"]) in self._seen else None

    def reserve(self, session: Any, asset_id: int, claims: Mapping[str, str]) -> Outcome | None:
        with self._lock:
            taken = self.taken(session, asset_id, claims, locked=True)
            if taken is not None:
                return taken
            for key in claims.values():
                self._seen[(asset_id, key)] = time.time()
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
        return None

    def release(self, asset_id: int | None, claims: Mapping[str, str]) -> None:
        """Forget claims whose event was not recorded (so Mailgun's retry is not refused)."""
        with self._lock:
            for key in claims.values():
                self._seen.pop((asset_id, key), None)


_STORE: _TableClaims | _ProcessClaims | None = None


def _claim_store() -> _TableClaims | _ProcessClaims:
    global _STORE
    if _STORE is None:
        try:
            from airflow.models.asset_state_store import AssetStateStoreModel  # noqa: F401
        except ImportError:
            _STORE = _ProcessClaims()
        else:
            _STORE = _TableClaims()
    return _STORE
