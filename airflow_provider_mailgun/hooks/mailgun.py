"""``MailgunHook``: an Airflow connection turned into a Mailgun client.

::

    hook = MailgunHook(mailgun_conn_id="maton_default")
    hook.messages.send(hook.domain(), {"from": "etl@mg.example.com", "to": "ops@example.org",
                                       "subject": "Load done", "text": "42 rows"})
    for bounce in hook.bounces.iter(hook.domain()):
        ...
    ok, message = hook.test_connection()

Every API group of the client is a property of the hook (``messages``, ``events``, ``lists``,
``members``, ``bounces``, ``unsubscribes``, ``complaints``, ``whitelists``, ``domains``, ``routes``,
``webhooks``, ``templates``, ``stats``, ``tags``, ``ips``, ``tracking``, ``credentials``,
``connections``), and Mailgun's current APIs: ``logs``, ``metrics``, ``analytics_tags`` and
``validations``; see :mod:`airflow_provider_mailgun.client` for their methods.

Connection types: ``maton`` (Mailgun through the Maton gateway, Bearer key) and ``mailgun``
(direct, Basic ``api:<key>``, US or EU). When ``maton_default`` is not defined and ``MATON_API_KEY``
is set, that key is used with the default gateway, as Maton's own tools do.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

# The client package is lazy: MailgunClient (and requests) load on the first request, so importing
# this hook, and every operator module that imports it, stays cheap for DAG parsing.
import airflow_provider_mailgun.client as mailgun_client
from airflow_provider_mailgun._common.compat import AirflowNotFoundException, BaseHook, mask_secret
from airflow_provider_mailgun._connection.check import check_connection
from airflow_provider_mailgun._connection.config import MATON_DEFAULT_CONN_ID, config_for, sending_domain
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.stats import describe
from airflow_provider_mailgun.exceptions import MailgunError
from airflow_provider_mailgun.get_provider_info import get_provider_info

if TYPE_CHECKING:
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
    from airflow_provider_mailgun.client.client import MailgunClient


class MailgunHook(BaseHook):
    """Mailgun access from an Airflow connection of type ``maton`` or ``mailgun``.

    :param mailgun_conn_id: the connection id (default ``maton_default``).
    """

    conn_name_attr = "mailgun_conn_id"
    default_conn_name = MATON_DEFAULT_CONN_ID
    conn_type = "maton"
    hook_name = "Mailgun via Maton"

    def __init__(self, mailgun_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mailgun_conn_id = mailgun_conn_id
        self._client: MailgunClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mailgun_conn_id={self.mailgun_conn_id!r})"

    @cached_property
    def config(self) -> ClientConfig:
        """The client config read from the connection (looked up once per hook)."""
        try:
            conn = self.get_connection(self.mailgun_conn_id)
        except AirflowNotFoundException:
            conn = None
        config = config_for(self.mailgun_conn_id, conn)
        mask_secret(config.api_key)
        redis_password = urlsplit(config.rate_limit_redis_url or "").password
        if redis_password:
            mask_secret(redis_password)
        return config

    @property
    def client(self) -> MailgunClient:
        """The client, created on first use and shared by every call through this hook."""
        if self._client is None:
            self._client = mailgun_client.MailgunClient(self.config)
        return self._client

    def get_conn(self) -> MailgunClient:
        return self.client

    def domain(self, domain: str | None = None) -> str:
        """``domain`` if given, else the connection's ``default_domain``; an error when neither is set."""
        return sending_domain(self.config, self.mailgun_conn_id, domain)

    def request_stats(self) -> dict[str, int]:
        """Requests made through this hook so far: ``attempts``, ``retries``, ``status_<code>``, and
        failures by kind; empty before the first request (no client is created to answer)."""
        return self._client.request_stats() if self._client is not None else {}

    def describe_requests(self) -> str:
        """:meth:`request_stats` in one log line, e.g. ``attempts 12, retries 1, status_200 11``."""
        return describe(self.request_stats())

    def close(self) -> None:
        """Close the client's connections (a later call opens new ones)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """Check the key, region, default domain and Maton connection; a failure names the fix.

        See :mod:`airflow_provider_mailgun._connection.check` for the cases recognised.
        """
        try:
            config = self.config
        except MailgunError as err:
            return False, str(err)
        return check_connection(config)

    # Resource groups, each a thin view of the client.
    @property
    def messages(self) -> Messages:
        return self.client.messages

    @property
    def events(self) -> Events:
        return self.client.events

    @property
    def lists(self) -> MailingLists:
        return self.client.lists

    @property
    def members(self) -> ListMembers:
        return self.client.members

    @property
    def bounces(self) -> SuppressionTable:
        return self.client.bounces

    @property
    def unsubscribes(self) -> SuppressionTable:
        return self.client.unsubscribes

    @property
    def complaints(self) -> SuppressionTable:
        return self.client.complaints

    @property
    def whitelists(self) -> SuppressionTable:
        return self.client.whitelists

    def suppressions(self, kind: str) -> SuppressionTable:
        return self.client.suppressions(kind)

    @property
    def domains(self) -> Domains:
        return self.client.domains

    @property
    def tracking(self) -> Tracking:
        return self.client.tracking

    @property
    def credentials(self) -> Credentials:
        return self.client.credentials

    @property
    def webhooks(self) -> Webhooks:
        return self.client.webhooks

    @property
    def routes(self) -> Routes:
        return self.client.routes

    @property
    def templates(self) -> Templates:
        return self.client.templates

    @property
    def stats(self) -> Stats:
        return self.client.stats

    @property
    def tags(self) -> Tags:
        return self.client.tags

    @property
    def ips(self) -> Ips:
        return self.client.ips

    @property
    def connections(self) -> MatonConnections:
        """Maton connections on the control host (Maton connections only)."""
        return self.client.connections

    @property
    def logs(self) -> Logs:
        """``POST /v1/analytics/logs``: account-wide events (the Events API's successor)."""
        return self.client.logs

    @property
    def metrics(self) -> Metrics:
        """``POST /v1/analytics/metrics`` and ``/usage/metrics`` (the Stats API's successor)."""
        return self.client.metrics

    @property
    def analytics_tags(self) -> AnalyticsTags:
        """``/v1/analytics/tags``: the account's tags (the v3 ``tags`` successor)."""
        return self.client.analytics_tags

    @property
    def validations(self) -> Validations:
        """``GET /v4/address/validate``."""
        return self.client.validations

    @classmethod
    def _form_metadata(cls) -> dict[str, Any]:
        for entry in get_provider_info()["connection-types"]:
            if entry["connection-type"] == cls.conn_type:
                return dict(entry)
        return {}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form for Airflow 3.0 and 3.1 (3.2+ reads ``ui-field-behaviour`` instead)."""
        behaviour = cls._form_metadata().get("ui-field-behaviour", {})
        return {
            "hidden_fields": behaviour.get("hidden-fields", []),
            "relabeling": behaviour.get("relabeling", {}),
            "placeholders": behaviour.get("placeholders", {}),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 3.0 and 3.1 (3.2+ reads ``conn-fields`` instead).

        Those versions only call this when wtforms (the FAB provider) is installed; the fields come
        from the same provider metadata, so both generations of the UI show the same form.
        """
        from wtforms import StringField
        from wtforms.validators import AnyOf, Optional

        widgets: dict[str, Any] = {}
        for name, spec in cls._form_metadata().get("conn-fields", {}).items():
            schema = spec["schema"]
            validators: list[Any] = [Optional()]
            if "enum" in schema:
                validators.append(AnyOf(schema["enum"]))
            default = schema.get("default")
            widgets[name] = StringField(
                spec["label"],
                validators=validators,
                description=spec.get("description", ""),
                default=None if default is None else str(default),
            )
        return widgets


class MailgunDirectHook(MailgunHook):
    """The same hook, registered for the ``mailgun`` connection type (direct API key, US or EU)."""

    default_conn_name = "mailgun_default"
    conn_type = "mailgun"
    hook_name = "Mailgun"

    def __init__(self, mailgun_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(mailgun_conn_id=mailgun_conn_id, **kwargs)

    # Airflow 3.0 and 3.1 look the form methods up in the class's own namespace, never a parent's.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return super().get_ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return super().get_connection_form_widgets()
