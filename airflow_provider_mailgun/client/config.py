"""How to reach Mailgun: directly with an API key, or through the Maton gateway with a Maton key.

Build a config with one of the two factories and hand it to :class:`~.client.MailgunClient`::

    config = ClientConfig.for_mailgun("key-...", region="eu")
    config = ClientConfig.for_maton("maton-key", maton_connection="78b5a036-...")

The key never appears in ``repr()``, so a config can be logged safely.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from airflow_provider_mailgun import __version__
from airflow_provider_mailgun.exceptions import MailgunConfigError

MAILGUN_REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
MATON_GATEWAY_URL = "https://gateway.maton.ai"
MATON_CTRL_URL = "https://ctrl.maton.ai"
# The gateway proxies to Mailgun's US host and hands back Mailgun's own paging links, which point there.
MATON_UPSTREAM_URL = MAILGUN_REGIONS["us"]
MATON_APP = "mailgun"
# Maton documents 10 requests per second per account; staying at it avoids 429s.
MATON_REQUESTS_PER_SECOND = 10.0
DEFAULT_TIMEOUT = (10.0, 60.0)
USER_AGENT = f"airflow-provider-mailgun/{__version__}"
RATE_LIMIT_SCOPES = ("host", "process")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

AuthScheme = Literal["basic", "bearer"]


@dataclass(frozen=True)
class ClientConfig:
    """Everything the transport needs; see the module docstring for the two ways to build one.

    :param api_base: base URL that API paths (``/v3/...``) are appended to.
    :param auth_scheme: ``basic`` (Mailgun, user ``api``) or ``bearer`` (Maton).
    :param api_key: the secret; kept out of ``repr``.
    :param upstream_base: through Maton, Mailgun's own host: paging links on it are rebased onto
        ``api_base``.
    :param ctrl_base: Maton control host, for connection management (Maton only; ``None`` for a
        private gateway without one).
    :param maton_connection: sent as the ``Maton-Connection`` header when set.
    :param timeout: (connect, read) seconds for every request.
    :param max_requests_per_second: the client's starting rate and ceiling; ``None`` starts without
        a limit. Either way the client learns the account's limit from 429/420 replies.
    :param rate_limit_scope: who shares what the client learns about the rate limit: ``host``
        (every process on this host, through a file) or ``process``.
    :param rate_limit_redis_url: a Redis URL; when set, every worker using it shares one limit.
    :param max_attempts: attempts per request, the first included.
    :param backoff_base: first backoff in seconds (exponential with full jitter).
    :param backoff_max: cap of one backoff in seconds.
    :param max_retry_wait: a server asking us to wait longer than this fails the request at once.
    :param verify_tls: verify TLS certificates (only a connection extra may turn this off).
    :param default_domain: the sending domain used when a call does not name one.
    """

    api_base: str
    auth_scheme: AuthScheme
    api_key: str = field(repr=False)
    upstream_base: str | None = None
    ctrl_base: str | None = None
    maton_connection: str | None = None
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    max_requests_per_second: float | None = None
    rate_limit_scope: str = "host"
    rate_limit_redis_url: str | None = field(default=None, repr=False)
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_wait: float = 120.0
    verify_tls: bool = True
    default_domain: str | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise MailgunConfigError("No API key: set the connection's password (the API key).")
        for name in ("api_base", "upstream_base", "ctrl_base"):
            value = getattr(self, name)
            if value is not None:
                _check_base_url(name, value)
                object.__setattr__(self, name, value.rstrip("/"))
        rate = self.max_requests_per_second
        if rate is not None and (not math.isfinite(rate) or rate <= 0):
            raise MailgunConfigError(f"max_requests_per_second must be a positive number, got {rate!r}.")
        if self.rate_limit_scope not in RATE_LIMIT_SCOPES:
            scope, scopes = self.rate_limit_scope, ", ".join(RATE_LIMIT_SCOPES)
            raise MailgunConfigError(f"rate_limit_scope must be one of {scopes}, got {scope!r}.")
        redis_url = self.rate_limit_redis_url
        if redis_url is not None and not redis_url.startswith(REDIS_SCHEMES):
            # The URL may hold a password: name the schemes, never echo the value.
            raise MailgunConfigError(f"rate_limit_redis_url must start with {', '.join(REDIS_SCHEMES)}.")
        if self.max_attempts < 1:
            raise MailgunConfigError(f"max_attempts must be at least 1, got {self.max_attempts}.")
        if len(self.timeout) != 2 or min(self.timeout) <= 0:
            raise MailgunConfigError(f"timeout must be two positive numbers, got {self.timeout!r}.")

    @classmethod
    def for_mailgun(
        cls,
        api_key: str,
        *,
        region: str = "us",
        base_url: str | None = None,
        **options: object,
    ) -> ClientConfig:
        """Direct Mailgun access with HTTP Basic ``api:<key>``; ``base_url`` overrides the region."""
        region_key = (region or "us").strip().lower()
        if base_url is None:
            if region_key not in MAILGUN_REGIONS:
                raise MailgunConfigError(
                    f"Unknown Mailgun region {region!r}: use 'us' or 'eu' (or set the host)."
                )
            base_url = MAILGUN_REGIONS[region_key]
        return cls(api_base=base_url, auth_scheme="basic", api_key=api_key, **options)  # type: ignore[arg-type]

    @classmethod
    def for_maton(
        cls,
        api_key: str,
        *,
        gateway_url: str = MATON_GATEWAY_URL,
        ctrl_url: str | None = None,
        maton_connection: str | None = None,
        **options: object,
    ) -> ClientConfig:
        """Mailgun through the Maton gateway with ``Authorization: Bearer <Maton key>``.

        Without ``ctrl_url``, Maton's public control host is used only with Maton's public gateway:
        a private gateway gets no control host, so the key never goes to a host nobody configured.
        """
        options.setdefault("max_requests_per_second", MATON_REQUESTS_PER_SECOND)
        if ctrl_url is None and gateway_url.rstrip("/") == MATON_GATEWAY_URL:
            ctrl_url = MATON_CTRL_URL
        return cls(
            api_base=f"{gateway_url.rstrip('/')}/{MATON_APP}",
            auth_scheme="bearer",
            api_key=api_key,
            upstream_base=MATON_UPSTREAM_URL,
            ctrl_base=ctrl_url,
            maton_connection=maton_connection or None,
            **options,  # type: ignore[arg-type]
        )

    @property
    def via_maton(self) -> bool:
        return self.auth_scheme == "bearer"

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (the only place the key is put on the wire)."""
        if self.auth_scheme == "bearer":
            headers = {"Authorization": f"Bearer {self.api_key}"}
            if self.maton_connection:
                headers["Maton-Connection"] = self.maton_connection
            return headers
        token = base64.b64encode(f"api:{self.api_key}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def secrets(self) -> tuple[str, ...]:
        """The key and the credential text it is sent as: never to be shown (error messages)."""
        sent = self.auth_headers()["Authorization"].partition(" ")[2]
        return (self.api_key, sent) if sent != self.api_key else (self.api_key,)


def _check_base_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MailgunConfigError(f"{name} must be an http(s) URL with a host, got {value!r}.")
    if parts.query or parts.fragment:
        raise MailgunConfigError(f"{name} must not carry a query or fragment, got {value!r}.")
