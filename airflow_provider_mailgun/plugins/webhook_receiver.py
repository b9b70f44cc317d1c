"""Push instead of poll: Mailgun's signed webhooks recorded as asset events by the api-server.

Off unless enabled. In ``airflow.cfg`` (or ``AIRFLOW__MAILGUN_WEBHOOKS__...`` variables)::

    [mailgun_webhooks]
    enabled = True
    signing_key = <Mailgun's HTTP webhook signing key>     # or signing_key_secret / _cmd
    assets = mailgun_complaints

then point Mailgun's ``complained`` and ``permanent_fail`` webhooks at
``https://<api-server>/mailgun/webhooks/mailgun_complaints``. Each genuine post becomes one asset
event whose ``extra["payload"]`` has the shape of :class:`MailgunEventTrigger`'s (``count`` 1), so
the same DAG serves both.

Security model: the endpoint is mounted outside Airflow's authentication (Mailgun cannot log in),
so the signature is the only credential. A request is refused before anything is recorded when:
its content type is not JSON (415); its body is larger than ``max_body_bytes`` (413, read no
further); it is not a JSON object (400); its signature is missing or wrong, its timestamp is older
than ``max_age_seconds`` or more than a minute ahead, or its token was used before (403); it
names an asset that is not listed in ``assets`` (404, only after the signature passed, so
strangers cannot probe names); it is signed but carries no event (406, which Mailgun does not
retry). The token and the event id are claimed in the same transaction as the asset event
(:mod:`.webhook_assets`), so a replay is refused and a re-post of the same event is acknowledged
without a second asset event, across api-server workers on Airflow 3.3+.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_mailgun.webhooks import DEFAULT_MAX_AGE

log = logging.getLogger(__name__)
SECTION = "mailgun_webhooks"
URL_PREFIX = "/mailgun"
DEFAULT_MAX_BODY = 64 * 1024  # Mailgun's posts are a few kilobytes


@dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver accepts (see the module docstring)."""

    signing_key: str
    assets: frozenset[str]
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_age_seconds: float = DEFAULT_MAX_AGE

    def __post_init__(self) -> None:
        if len(self.signing_key) < 16:
            raise ValueError("signing_key must be Mailgun's HTTP webhook signing key (it is empty or short).")
        if not self.assets:
            raise ValueError("assets must name at least one asset the webhooks may feed.")
        if self.max_body_bytes <= 0 or self.max_age_seconds <= 0:
            raise ValueError("max_body_bytes and max_age_seconds must be positive.")

    @classmethod
    def from_airflow_config(cls) -> ReceiverSettings | None:
        """The settings when ``[mailgun_webhooks] enabled`` is true, else ``None``."""
        from airflow.configuration import conf

        if not conf.getboolean(SECTION, "enabled", fallback=False):
            return None
        names = conf.get(SECTION, "assets", fallback="") or ""
        return cls(
            signing_key=conf.get(SECTION, "signing_key", fallback="") or "",
            assets=frozenset(name.strip() for name in names.split(",") if name.strip()),
            max_body_bytes=conf.getint(SECTION, "max_body_bytes", fallback=DEFAULT_MAX_BODY),
            max_age_seconds=conf.getfloat(SECTION, "max_age_seconds", fallback=DEFAULT_MAX_AGE),
        )


class MailgunWebhookPlugin(AirflowPlugin):
    """Mounts the receiver on the api-server at ``/mailgun`` when ``[mailgun_webhooks] enabled``."""

    name = "mailgun_webhooks"

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        try:
            settings = ReceiverSettings.from_airflow_config()
        except ValueError as err:
            log.error("Mailgun webhooks are enabled but not mounted: %s", err)
            cls.fastapi_apps = []
            return
        if settings is None:
            cls.fastapi_apps = []
            return
        from airflow_provider_mailgun.plugins.webhook_app import create_app

        app = create_app(settings)
        cls.fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Mailgun webhooks"}]
