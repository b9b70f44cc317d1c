"""``MailgunClient``: every Mailgun API group the Maton skill document lists, over one transport.

::

    from airflow_provider_mailgun.client import ClientConfig, MailgunClient

    with MailgunClient(ClientConfig.for_maton(os.environ["MATON_API_KEY"])) as client:
        client.messages.send("mg.example.com", {"from": "a@mg.example.com", "to": "b@x.org",
                                                "subject": "Hi", "text": "Hello"})
        for bounce in client.bounces.iter("mg.example.com"):
            ...
        for event in client.logs.iter(start=t0, end=t1, events=["delivered"]):
            ...

Nothing here knows about Airflow; the hook builds the config from a connection.
"""

from __future__ import annotations

from types import TracebackType

import requests

from airflow_provider_mailgun.client.api.analytics import AnalyticsTags, Logs, Metrics, Validations
from airflow_provider_mailgun.client.api.domains import Credentials, Domains, Tracking, Webhooks
from airflow_provider_mailgun.client.api.events import Events
from airflow_provider_mailgun.client.api.lists import ListMembers, MailingLists
from airflow_provider_mailgun.client.api.maton import MatonConnections
from airflow_provider_mailgun.client.api.messages import Messages
from airflow_provider_mailgun.client.api.reporting import Ips, Stats, Tags
from airflow_provider_mailgun.client.api.routes import Routes
from airflow_provider_mailgun.client.api.suppressions import SuppressionTable
from airflow_provider_mailgun.client.api.templates import Templates
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.transport import Transport


class MailgunClient:
    """All resource groups, sharing one transport (one pooled session, one rate limiter).

    Thread-safe: operators send batches from several threads through one client.
    """

    def __init__(self, config: ClientConfig, *, session: requests.Session | None = None) -> None:
        self.config = config
        self.transport = Transport(config, session=session)
        t = self.transport
        self.messages = Messages(t)
        self.events = Events(t)
        self.lists = MailingLists(t)
        self.members = ListMembers(t)
        self.bounces = SuppressionTable(t, "bounces")
        self.unsubscribes = SuppressionTable(t, "unsubscribes")
        self.complaints = SuppressionTable(t, "complaints")
        self.whitelists = SuppressionTable(t, "whitelists")
        self.domains = Domains(t)
        self.tracking = Tracking(t)
        self.credentials = Credentials(t)
        self.webhooks = Webhooks(t)
        self.routes = Routes(t)
        self.templates = Templates(t)
        self.stats = Stats(t)
        self.tags = Tags(t)
        self.ips = Ips(t)
        self.connections = MatonConnections(t)
        # Mailgun's current APIs (v1 analytics, v4 validation).
        self.logs = Logs(t)
        self.metrics = Metrics(t)
        self.analytics_tags = AnalyticsTags(t)
        self.validations = Validations(t)

    def suppressions(self, kind: str) -> SuppressionTable:
        """The table named ``bounces``, ``unsubscribes``, ``complaints`` or ``whitelists``."""
        tables = {
            "bounces": self.bounces,
            "unsubscribes": self.unsubscribes,
            "complaints": self.complaints,
            "whitelists": self.whitelists,
        }
        if kind not in tables:
            raise ValueError(f"Unknown suppression table {kind!r}; expected one of {', '.join(tables)}.")
        return tables[kind]

    def request_stats(self) -> dict[str, int]:
        """Requests made so far: ``attempts``, ``retries``, ``status_<code>``, failures by kind."""
        return self.transport.stats.snapshot()

    def __repr__(self) -> str:
        return f"MailgunClient({self.config.api_base!r})"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> MailgunClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
