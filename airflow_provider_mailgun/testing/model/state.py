"""In-memory state of one emulator: domains, messages, events, lists, connections, counters.

Everything is guarded by one re-entrant lock (``state.lock``): request handlers run on the
server's event loop while tests call :class:`~airflow_provider_mailgun.testing.MailgunEmulator`
methods from their own thread. Handlers hold it only for short, non-blocking sections.

Example::

    state = EmulatorState(EmulatorConfig(domains=("mg.example.com",)))
    with state.lock:
        state.tick()                       # release due delayed events / uploads
        dom = state.domains["mg.example.com"]
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mailgun.testing.control.faults import FaultInjector, FaultSpec, RateLimiter
from airflow_provider_mailgun.testing.defaults import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
    DEFAULT_WEBHOOK_SIGNING_KEY,
)
from airflow_provider_mailgun.testing.model.events import COMPLAINED, FAIL_BOUNCE, UNSUBSCRIBED, EventStore
from airflow_provider_mailgun.testing.model.lists import MailingList
from airflow_provider_mailgun.testing.model.messages import MessageStore
from airflow_provider_mailgun.testing.model.paging import SortedTable
from airflow_provider_mailgun.testing.model.suppressions import make_record, merge_unsubscribe
from airflow_provider_mailgun.testing.model.templates import Template
from airflow_provider_mailgun.testing.model.webhooks import DEFAULT_RETRY_DELAYS, WebhookDispatcher
from airflow_provider_mailgun.testing.util import rfc2822

SUPPRESSION_KINDS = ("bounces", "unsubscribes", "complaints", "whitelists")
REQUEST_LOG_SIZE = 50_000
IPS = ("192.0.2.10", "192.0.2.11")


@dataclass
class EmulatorConfig:
    """Constructor settings; :meth:`EmulatorState.reset` returns to exactly these."""

    mailgun_keys: tuple[str, ...] = (DEFAULT_MAILGUN_KEY,)
    maton_keys: tuple[str, ...] = (DEFAULT_MATON_KEY,)
    maton_connections: tuple[str, ...] = (DEFAULT_MATON_CONNECTION,)
    domains: tuple[str, ...] = (DEFAULT_DOMAIN,)
    #: Domains of Mailgun's EU region: served on the EU host only (``/_eu``), 404 on the US one.
    eu_domains: tuple[str, ...] = ()
    #: (key, domain) pairs: domain sending keys, accepted only to send on their domain.
    sending_keys: tuple[tuple[str, str], ...] = ()
    rate_limit: float | None = None
    delivery_delay: float = 0.0
    faults: FaultSpec | None = None
    seed: int = 0
    tag_limit: int = 10
    tempfail_retry: float = 2.0
    upload_delay: float = 0.0
    webhook_signing_key: str = DEFAULT_WEBHOOK_SIGNING_KEY
    webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS


@dataclass
class DomainState:
    name: str
    id: str
    created_at: float
    smtp_password: str = ""
    state: str = "active"
    region: str = "us"
    tracking: dict[str, dict[str, Any]] = field(default_factory=dict)
    credentials: dict[str, float] = field(default_factory=dict)
    webhooks: dict[str, list[str]] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    suppressions: dict[str, SortedTable[dict[str, Any]]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The domain object of ``GET /v4/domains`` (OAS ``Domain``)."""
        return {
            "created_at": rfc2822(self.created_at),
            "id": self.id,
            "is_disabled": False,
            "name": self.name,
            "require_tls": False,
            "skip_verification": False,
            "smtp_login": f"postmaster@{self.name}",
            "spam_action": "disabled",
            "state": self.state,
            "type": "custom",
            "use_automatic_sender_security": True,
            "web_prefix": "email",
            "web_scheme": "https",
            "wildcard": False,
            "encrypt_incoming_message": False,
            "message_ttl": 259200,
        }

    def dns_records(self) -> dict[str, list[dict[str, Any]]]:
        def record(rtype: str, name: str, value: str, priority: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {"is_active": True, "cached": [], "name": name, "record_type": rtype}
            out.update({"valid": "valid", "value": value})
            if priority is not None:
                out["priority"] = priority
            return out

        return {
            "receiving_dns_records": [
                record("MX", self.name, "mxa.mailgun.org", "10"),
                record("MX", self.name, "mxb.mailgun.org", "10"),
            ],
            "sending_dns_records": [
                record("TXT", self.name, "v=spf1 include:mailgun.org ~all"),
                record("CNAME", f"email.{self.name}", "mailgun.org"),
            ],
        }


class EmulatorState:
    """All mutable state plus the settings that may change at runtime."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._id_rng = random.Random(config.seed)
        self._message_seq = 0  # never reset, so message ids stay unique for the server's life
        self._generation = 0
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.webhooks = WebhookDispatcher(self, config.webhook_signing_key, config.webhook_retry_delays)
        self.reset()

    # ----------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        """Back to the constructor's state: data, counters, log, faults and settings."""
        with self.lock:
            cfg = self.config
            self._generation += 1
            self.webhooks.reset()
            self._offset = 0.0
            self._last_now = 0.0
            self.delivery_delay = cfg.delivery_delay
            # A rate limit given as a setting wins over one inside the fault spec.
            if cfg.rate_limit:
                self.use_rate_limit(cfg.rate_limit)
            else:
                self.use_rate_limit(cfg.faults.rate_limit if cfg.faults else None, from_faults=True)
            self.faults = FaultInjector(cfg.faults, cfg.seed) if cfg.faults else None
            self.messages = MessageStore()
            self.events = EventStore(self.messages, cfg.seed, self._generation)
            self.events.on_release = self.apply_side_effects
            self.timers: list[tuple[float, int, Callable[[], None]]] = []
            self._timer_seq = 0
            self.domains: dict[str, DomainState] = {}
            self.lists: dict[str, MailingList] = {}
            self.routes: dict[str, dict[str, Any]] = {}
            self.connections: dict[str, dict[str, Any]] = {}
            self.sending_keys: dict[str, str] = {key: domain.lower() for key, domain in cfg.sending_keys}
            self.request_log.clear()
            # Accounts ("mailgun:<key>", "maton:<key>") whose Events API answers as retired;
            # "*" retires it for every account.
            self.events_api_retired: set[str] = set()
            # A gateway that forwards only the v3 paths (False) answers v1/v4 paths with a 404.
            self.gateway_forwards_newer_apis = True
            self.validations: list[tuple[float, bool]] = []  # (time, deliverable) per validation
            self.counters: Counter[str] = Counter()
            self.fault_counts: Counter[str] = Counter()
            now = self.now()
            for i, name in enumerate(cfg.domains):
                self.add_domain(name, created_at=now - 86400 * (len(cfg.domains) - i))
            for name in cfg.eu_domains:
                self.add_domain(name, created_at=now - 86400, region="eu")
            for i, conn_id in enumerate(cfg.maton_connections):
                self.add_connection(conn_id, created_at=now - 3600 * (len(cfg.maton_connections) - i))

    @property
    def generation(self) -> int:
        """How many times the state was (re)built: tells a reset apart from a quiet period."""
        return self._generation

    def now(self) -> float:
        """Event clock: wall time plus :meth:`advance`, never going backwards."""
        current = time.time() + self._offset
        if current < self._last_now:
            current = self._last_now
        self._last_now = current
        return current

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._offset += seconds
            self.tick()

    def tick(self) -> None:
        """Make due delayed events visible and run due timers (call with the lock held)."""
        now = self.now()
        if self.events.pending and self.events.pending[0][0] <= now:
            self.events.release(now)
        if self.events.late and self.events.late[0][0] <= now:
            self.events.reveal(now)
        while self.timers and self.timers[0][0] <= now:
            heapq.heappop(self.timers)[2]()

    def index_some_late(self, domain: str, first: int, count: int, now: float) -> None:
        """The ``late_event_rate`` fault: hide some new events from the events API for a while."""
        injector = self.faults
        if injector is None or not injector.spec.late_event_rate:
            return
        for pos in range(first, first + count):
            wait = injector.late_delay()
            if wait is not None:
                self.events.hide(domain, pos, now + wait)
                self.fault_counts["late_event"] += 1

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` (under the lock) once the event clock passes ``now + delay``."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (self.now() + delay, self._timer_seq, callback))

    # ------------------------------------------------------------------ domains
    def add_domain(self, name: str, created_at: float | None = None, region: str = "us") -> DomainState:
        if region not in ("us", "eu"):
            raise ValueError(f"region must be 'us' or 'eu', got {region!r}")
        with self.lock:
            existing = self.domains.get(name)
            if existing is not None:
                return existing
            dom = DomainState(
                name=name,
                id=f"{self._id_rng.getrandbits(96):024x}",
                created_at=self.now() if created_at is None else created_at,
                region=region,
                tracking={
                    "open": {"active": False, "place_at_the_top": False},
                    "click": {"active": False},
                    "unsubscribe": {"active": False, "html_footer": "", "text_footer": ""},
                },
                suppressions={kind: SortedTable() for kind in SUPPRESSION_KINDS},
            )
            self.domains[name] = dom
            return dom

    def use_rate_limit(self, rate: float | None, *, from_faults: bool = False) -> None:
        """Install the per-account limiter (``None`` or 0: no limit). Call with the lock held."""
        self.rate_limiter = RateLimiter(rate) if rate else None
        #: True while the limiter is the one a fault spec installed (clearing faults removes it).
        self.rate_limit_from_faults = from_faults and bool(rate)

    def new_uuid(self) -> str:
        """A random-looking UUID from the seeded generator (template ids, upload task ids)."""
        return _uuid4(self._id_rng)

    def new_message_id(self, domain: str, ts: float) -> tuple[int, str]:
        self._message_seq += 1
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(ts))
        rand = self._id_rng.getrandbits(64)
        return self._message_seq, f"<{stamp}.{self._message_seq}.{rand:016X}@{domain}>"

    # ------------------------------------------------------------ suppressions
    def is_whitelisted(self, dom: DomainState, address: str) -> bool:
        table = dom.suppressions["whitelists"]
        return bool(len(table)) and (address in table or address.rpartition("@")[2] in table)

    def apply_side_effects(self, domain: str, kind: int, copy: int, ts: float) -> None:
        """Hard bounces join the bounce list, complaints and unsubscribes theirs (when visible)."""
        if kind not in (FAIL_BOUNCE, COMPLAINED, UNSUBSCRIBED):
            return
        dom = self.domains.get(domain)
        if dom is None:
            return
        batch, local = self.messages.locate(copy)
        address = batch.copy_recipient(local)[0].lower()
        if kind == FAIL_BOUNCE:
            if not self.is_whitelisted(dom, address):
                dom.suppressions["bounces"].put(address, bounce_record(address, "550", "", ts))
        elif kind == UNSUBSCRIBED:
            table = dom.suppressions["unsubscribes"]
            key, record = make_record(
                "unsubscribes", {"address": address, "tags": list(batch.tags) or ["*"]}, ts
            )
            table.put(key, merge_unsubscribe(table.get(key), record))
        else:
            dom.suppressions["complaints"].put(address, {"address": address, "created_at": rfc2822(ts)})

    # -------------------------------------------------------------- connections
    def add_connection(
        self,
        conn_id: str | None = None,
        status: str = "ACTIVE",
        created_at: float | None = None,
        app: str = "mailgun",
    ) -> dict[str, Any]:
        with self.lock:
            if conn_id is None:
                conn_id = str(_uuid4(self._id_rng))
            created = self.now() if created_at is None else created_at
            conn = {
                "connection_id": conn_id,
                "status": status,
                "creation_time": created,
                "last_updated_time": created,
                "app": app,
                "method": "API_KEY",
                "metadata": {},
                "session_token": f"{self._id_rng.getrandbits(128):032x}",
            }
            self.connections[conn_id] = conn
            return conn

    def pick_connection(self, requested: str | None) -> tuple[dict[str, Any] | None, str]:
        """Gateway rule: the named connection, else the oldest ACTIVE mailgun one."""
        if requested:
            conn = self.connections.get(requested)
            if conn is None or conn["app"] != "mailgun":
                return None, f"Connection {requested} not found for app mailgun"
            if conn["status"] != "ACTIVE":
                return None, f"Connection {requested} is not active (status {conn['status']})"
            return conn, ""
        active = [c for c in self.connections.values() if c["app"] == "mailgun" and c["status"] == "ACTIVE"]
        if not active:
            return None, "No active connection found for app mailgun; create one with the control API"
        return min(active, key=lambda c: c["creation_time"]), ""

    def events_api_answers(self, account: str | None) -> bool:
        """Whether the Events API still answers for this account (see ``events_api_retired``)."""
        retired = self.events_api_retired
        return not retired or ("*" not in retired and account not in retired)

    # ------------------------------------------------------------------- stats
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.counters["requests"],
                "requests_by_entrance": {
                    k[len("entrance:") :]: v for k, v in self.counters.items() if k.startswith("entrance:")
                },
                "rate_limited": self.counters["rate_limited"],
                "faults": dict(self.fault_counts),
                "faults_total": sum(self.fault_counts.values()),
                "sends": len(self.messages.batches),
                "messages": self.messages.total_copies,
                "events": self.events.count,
                "pending_events": len(self.events.pending),
                "domains": len(self.domains),
                "lists": len(self.lists),
            }


def bounce_record(address: str, code: str, error: str, ts: float) -> dict[str, Any]:
    return {"address": address, "code": str(code), "error": error, "created_at": rfc2822(ts)}


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
