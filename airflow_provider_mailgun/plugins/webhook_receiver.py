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
(:mod:`airflow_provider_mailgun._webhooks.assets`), so a replay is refused and a re-post of the
same event is acknowledged without a second asset event, across api-server workers on Airflow 3.3+.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_mailgun.webhooks import ALLOWED_CLOCK_SKEW, DEFAULT_MAX_AGE

log = logging.getLogger(__name__)
SECTION = "mailgun_webhooks"
URL_PREFIX = "/mailgun"
DEFAULT_MAX_BODY = 64 * 1024  # Mailgun's posts are a few kilobytes
#: How long a used signature token is remembered (see ``webhook_assets``); a token must be refused
#: as stale before it is forgotten, timestamps up to ``ALLOWED_CLOCK_SKEW`` ahead included.
TOKEN_CLAIM_SECONDS = 2 * 60 * 60.0
MAX_AGE_LIMIT = TOKEN_CLAIM_SECONDS - ALLOWED_CLOCK_SKEW


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
        if self.signing_key != self.signing_key.strip():
            raise ValueError("signing_key has leading or trailing whitespace, which no Mailgun key has.")
        if not self.assets:
            raise ValueError("assets must name at least one asset the webhooks may feed.")
        if self.max_body_bytes <= 0 or self.max_age_seconds <= 0:
            raise ValueError("max_body_bytes and max_age_seconds must be positive.")
        if self.max_age_seconds > MAX_AGE_LIMIT:
            raise ValueError(
                f"max_age_seconds must be at most {MAX_AGE_LIMIT:.0f}: used tokens are remembered "
                f"for {TOKEN_CLAIM_SECONDS / 3600:.0f} hours, and a token still fresh after that "
                "could be replayed."
            )

    @classmethod
    def from_airflow_config(cls) -> ReceiverSettings | None:
        """The settings when ``[mailgun_webhooks] enabled`` is true, else ``None``."""
        from airflow.configuration import conf

        if not conf.getboolean(SECTION, "enabled", fallback=False):
            return None
        names = conf.get(SECTION, "assets", fallback="") or ""
        return cls(
            # A key from ``signing_key_cmd`` (``cat``, ``echo``) keeps the command's trailing newline.
            signing_key=(conf.get(SECTION, "signing_key", fallback="") or "").strip(),
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
        from airflow_provider_mailgun._webhooks.app import create_app

        app = create_app(settings)
        cls.fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Mailgun webhooks"}]
