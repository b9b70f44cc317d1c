"""In-process emulator: uvicorn in a background thread on a free port, plus direct state access.

Example::

    from airflow_provider_mailgun.testing import MailgunEmulator

    with MailgunEmulator(delivery_delay=0.0) as emu:
        requests.post(f"{emu.url}/v3/{emu.domain}/messages", auth=("api", emu.mailgun_key), data={...})
        assert emu.messages(recipient="bob@example.com")[0]["subject"] == "Hi"
        assert [e["event"] for e in emu.events()] == ["accepted", "delivered"]

The same server answers as the Mailgun API (``emu.url``), the Maton gateway (``emu.gateway_url``)
and Maton's control host (``emu.ctrl_url``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_mailgun.testing.app import create_app
from airflow_provider_mailgun.testing.control import feedback, introspect
from airflow_provider_mailgun.testing.control.engagement import engage
from airflow_provider_mailgun.testing.control.faults import FaultSpec
from airflow_provider_mailgun.testing.defaults import (
    CTRL_PREFIX,
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
    DEFAULT_WEBHOOK_SIGNING_KEY,
    EU_PREFIX,
    GATEWAY_PREFIX,
)
from airflow_provider_mailgun.testing.model.lists import MailingList, make_member
from airflow_provider_mailgun.testing.model.state import SUPPRESSION_KINDS, EmulatorConfig, EmulatorState
from airflow_provider_mailgun.testing.model.suppressions import make_record, merge_unsubscribe
from airflow_provider_mailgun.testing.model.webhooks import DEFAULT_RETRY_DELAYS


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free port (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def make_server(app: Any) -> uvicorn.Server:
    """Uvicorn tuned for tests: quiet, no lifespan, long keep-alive so pooled connections survive."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
        backlog=2048,
    )
    return uvicorn.Server(config)


def base_urls(host: str, port: int) -> tuple[str, str, str]:
    """(direct, gateway, ctrl) base URLs of a server on ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    return url, url + GATEWAY_PREFIX, url + CTRL_PREFIX


class MailgunEmulator:
    """A running Mailgun + Maton emulator (start with ``with`` or :meth:`start`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        mailgun_keys: Iterable[str] = (DEFAULT_MAILGUN_KEY,),
        maton_keys: Iterable[str] = (DEFAULT_MATON_KEY,),
        maton_connections: Iterable[str] = (DEFAULT_MATON_CONNECTION,),
        domains: Iterable[str] = (DEFAULT_DOMAIN,),
        rate_limit: float | None = None,
        delivery_delay: float = 0.0,
        faults: Mapping[str, Any] | str | None = None,
        seed: int = 0,
        *,
        eu_domains: Iterable[str] = (),
        tag_limit: int = 10,
        tempfail_retry: float = 2.0,
        upload_delay: float = 0.0,
        webhook_signing_key: str = DEFAULT_WEBHOOK_SIGNING_KEY,
        webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.config = EmulatorConfig(
            mailgun_keys=tuple(mailgun_keys),
            maton_keys=tuple(maton_keys),
            maton_connections=tuple(maton_connections),
            domains=tuple(d.lower() for d in domains),
            eu_domains=tuple(d.lower() for d in eu_domains),
            rate_limit=rate_limit,
            delivery_delay=delivery_delay,
            faults=FaultSpec.parse(faults),
            seed=seed,
            tag_limit=tag_limit,
            tempfail_retry=tempfail_retry,
            upload_delay=upload_delay,
            webhook_signing_key=webhook_signing_key,
            webhook_retry_delays=tuple(webhook_retry_delays),
        )
        self.state = EmulatorState(self.config)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> MailgunEmulator:
        if self._server is not None:
            return self
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = make_server(create_app(self.state))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="mailgun-emu"
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the Mailgun emulator failed to start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self.state.webhooks.storage_base = self.url
        self.state.webhooks.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self.state.webhooks.stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> MailgunEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --------------------------------------------------------------- addresses
    @property
    def url(self) -> str:
        """Direct API base: requests go to ``{url}/v3/...``."""
        return base_urls(self.host, self.port)[0]

    @property
    def eu_url(self) -> str:
        """The same API as Mailgun's EU host (api.eu.mailgun.net): ``{eu_url}/v3/...``."""
        return self.url + EU_PREFIX

    @property
    def gateway_url(self) -> str:
        """Maton gateway base: requests go to ``{gateway_url}/mailgun/v3/...``."""
        return base_urls(self.host, self.port)[1]

    @property
    def ctrl_url(self) -> str:
        """Maton control host base: ``{ctrl_url}/connections``."""
        return base_urls(self.host, self.port)[2]

    @property
    def domain(self) -> str:
        return self.config.domains[0]

    @property
    def mailgun_key(self) -> str:
        return self.config.mailgun_keys[0]

    @property
    def maton_key(self) -> str:
        return self.config.maton_keys[0]

    @property
    def maton_connection(self) -> str:
        return self.config.maton_connections[0]

    @property
    def webhook_signing_key(self) -> str:
        """The key webhook posts are signed with (see :mod:`.model.webhooks`)."""
        return self.config.webhook_signing_key

    # ------------------------------------------------------------ read-outs
    def messages(
        self, recipient: str | None = None, domain: str | None = None, *, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        """Stored recipient copies (dicts as in ``/_emulator/messages``), oldest first."""
        return introspect.messages(self.state, recipient, domain, newest_first=newest_first)

    def events(
        self, event: str | None = None, *, domain: str | None = None, recipient: str | None = None
    ) -> list[dict[str, Any]]:
        """Visible events in the Events API shape, oldest first (``event`` may be ``a OR b``)."""
        return introspect.events(self.state, event, domain, recipient, self.url)

    def requests(self) -> list[dict[str, Any]]:
        """Request log: method, path, status, time, entrance, query, form_keys, fault, connection."""
        return introspect.requests(self.state)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Webhook posts made so far: url, webhook, event, event_id, attempt, status (0: no reply), time."""
        with self.state.lock:
            return [dict(entry) for entry in self.state.webhooks.deliveries]

    # -------------------------------------------------------------- control
    def reset(self) -> None:
        """Back to the state right after construction (data, log, counters, faults, settings)."""
        self.state.reset()

    def set_faults(self, spec: Mapping[str, Any] | str | None) -> None:
        introspect.set_faults(self.state, spec)

    def clear_faults(self) -> None:
        introspect.set_faults(self.state, None)

    def set_rate_limit(self, rps: float | None) -> None:
        introspect.set_rate_limit(self.state, rps)

    def set_delivery_delay(self, seconds: float) -> None:
        introspect.set_delivery_delay(self.state, seconds)

    def retire_events_api(self, keys: Iterable[str] | None = None) -> None:
        """The Events API answers ``410 Gone`` (naming the Logs API) for these keys, or everyone."""
        introspect.set_events_api(self.state, False, keys)

    def restore_events_api(self, keys: Iterable[str] | None = None) -> None:
        introspect.set_events_api(self.state, True, keys)

    def set_gateway_forwards_newer_apis(self, forward: bool) -> None:
        """``False``: the Maton gateway answers ``/mailgun/v1/...`` (and v4 validation) with a 404."""
        introspect.set_gateway_forwards_newer_apis(self.state, forward)

    def engage(self, event: str, **which: Any) -> int:
        """Recipients open, click or unsubscribe (see :func:`.control.engagement.engage`); the count."""
        return engage(self.state, event, **which)

    def advance_events(self, seconds: float) -> None:
        """Move the event clock forward: delayed deliveries/retries due by then become visible."""
        self.state.advance(seconds)

    def complain(
        self, recipient: str, domain: str | None = None, *, index_delay: float = 0.0
    ) -> dict[str, Any]:
        """The recipient of the latest copy sent to them marks it as spam (a ``complained`` event).

        ``index_delay``: the event stays out of the events API for that many seconds, as Mailgun
        indexes some events late. Returns the event as the events API shows it.
        """
        return feedback.record(
            self.state, "complained", recipient, domain, index_delay=index_delay, storage_base=self.url
        )

    def bounce(
        self, recipient: str, domain: str | None = None, *, index_delay: float = 0.0
    ) -> dict[str, Any]:
        """The latest copy sent to the recipient bounces permanently (``failed``, severity permanent)."""
        return feedback.record(
            self.state, "failed", recipient, domain, index_delay=index_delay, storage_base=self.url
        )

    # -------------------------------------------------------------- seeding
    def add_domain(self, name: str, region: str = "us") -> None:
        """A domain of the account; ``region="eu"`` puts it on the EU host (:attr:`eu_url`) only."""
        self.state.add_domain(name.lower(), region=region)

    def add_sending_key(self, domain: str, key: str | None = None) -> str:
        """A domain sending key for ``domain``: it may send there, and nothing else (401)."""
        with self.state.lock:
            chosen = key or f"sending-{self.state.new_uuid()}"
            self.state.sending_keys[chosen] = domain.lower()
            return chosen

    def add_maton_connection(self, status: str = "ACTIVE", app: str = "mailgun") -> str:
        """A new connection on the control host (``status`` ACTIVE/PENDING/FAILED, any ``app``)."""
        return str(self.state.add_connection(status=status, app=app)["connection_id"])

    def seed_suppressions(self, domain: str, kind: str, records: Iterable[str | Mapping[str, Any]]) -> int:
        """Bulk-load suppressions without HTTP; ``kind`` is bounces/unsubscribes/complaints/whitelists."""
        if kind not in SUPPRESSION_KINDS:
            raise ValueError(f"kind must be one of {SUPPRESSION_KINDS}")
        with self.state.lock:
            dom = self.state.domains.get(domain.lower())
            if dom is None:
                raise ValueError(f"unknown domain {domain!r}")
            table, now, count = dom.suppressions[kind], self.state.now(), 0
            for item in records:
                if isinstance(item, str):
                    field = "domain" if kind == "whitelists" and "@" not in item else "address"
                    item = {field: item}
                key, record = make_record(kind, item, now)
                if kind == "unsubscribes":
                    record = merge_unsubscribe(table.get(key), record)
                table.put(key, record)
                count += 1
            return count

    def seed_list(self, address: str, members: Iterable[str | Mapping[str, Any]], **list_fields: Any) -> None:
        """Create (or extend) a mailing list with members, without HTTP."""
        key = address.lower()
        entries = [make_member(m) for m in members]
        with self.state.lock:
            mlist = self.state.lists.get(key)
            if mlist is None:
                mlist = self.state.lists[key] = MailingList(address=key, created_at=self.state.now())
            for name, value in list_fields.items():
                if not hasattr(mlist, name) or name in ("members", "address"):
                    raise ValueError(f"unknown list field {name!r}")
                setattr(mlist, name, value)
            mlist.apply(entries, upsert=True)
