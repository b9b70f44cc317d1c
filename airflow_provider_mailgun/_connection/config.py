"""From an Airflow connection's fields to a :class:`ClientConfig`, with clear errors.

Pure (no Airflow import), so the sync hook and the async trigger read connections the same way::

    config = config_from_connection("maton", host=None, password="maton-key",
                                    extra='{"maton_connection": "78b5a036-..."}')

Connection types: ``maton`` (password = Maton API key, host = gateway URL) and ``mailgun``
(password = Mailgun private API key, extras ``region`` us/eu, host overrides the region).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import math
import os
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from airflow_provider_mailgun.client.config import MATON_GATEWAY_URL, ClientConfig
from airflow_provider_mailgun.exceptions import MailgunConfigError

log = logging.getLogger(__name__)

MATON_CONN_TYPE = "maton"
MAILGUN_CONN_TYPE = "mailgun"
CONN_TYPES = (MATON_CONN_TYPE, MAILGUN_CONN_TYPE)
MAX_CONNECT_TIMEOUT = 10.0
MATON_DEFAULT_CONN_ID = "maton_default"
MATON_KEY_ENV = "MATON_API_KEY"


class ConnectionLike(Protocol):
    """The fields of an Airflow connection this module reads (sync or async lookups alike)."""

    conn_type: str | None
    host: str | None
    password: str | None
    schema: str | None
    port: int | None

    @property
    def extra(self) -> str | None: ...


def config_for(conn_id: str, conn: ConnectionLike | None) -> ClientConfig:
    """The config for ``conn_id`` given its looked-up connection (``None`` when it is not defined).

    A missing ``maton_default`` falls back to ``MATON_API_KEY`` with the default gateway, as Maton's
    own tools do; any other missing connection is an error that says how to create it.
    """
    if conn is None:
        env_key = os.environ.get(MATON_KEY_ENV)
        if conn_id == MATON_DEFAULT_CONN_ID and env_key:
            log.info("Connection %r not defined; using %s.", conn_id, MATON_KEY_ENV)
            return ClientConfig.for_maton(env_key)
        _explain_unreadable_env_connection(conn_id)
        raise MailgunConfigError(
            f"Connection {conn_id!r} is not defined. Create a 'maton' or 'mailgun' connection with "
            f"that id (or set {MATON_KEY_ENV} to use {MATON_DEFAULT_CONN_ID})."
        )
    fields = {name: getattr(conn, name) for name in ("host", "password", "extra", "schema", "port")}
    return config_from_connection(conn.conn_type, conn_id=conn_id, **fields)


def sending_domain(config: ClientConfig, conn_id: str, domain: str | None = None) -> str:
    """``domain`` if given, else the connection's ``default_domain``; an error when neither is set."""
    chosen = domain or config.default_domain
    if not chosen:
        raise MailgunConfigError(f"No domain given and connection {conn_id!r} has no default_domain extra.")
    return chosen


def _explain_unreadable_env_connection(conn_id: str) -> None:
    """Raise what is wrong with an ``AIRFLOW_CONN_<ID>`` variable that Airflow could not read.

    Airflow 3.0 reports a connection whose JSON it cannot load as "not defined", which sends the
    user looking in the wrong place; the usual culprit is an ``extra`` that is not a JSON object.
    """
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(variable)
    if raw is None:
        return
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict):
        parse_extra(value.get("extra"), conn_id)  # names the problem when it is the extra
    raise MailgunConfigError(
        f"Connection {conn_id!r} is set in {variable}, but Airflow could not read it: check its JSON "
        "(or URI) and that 'extra' is a JSON object."
    )


_SHARED = {
    "default_domain",
    "timeout",
    "max_requests_per_second",
    "max_attempts",
    "verify_tls",
    "rate_limit_scope",
    "rate_limit_redis_url",
}
KNOWN_EXTRAS = {
    MATON_CONN_TYPE: _SHARED | {"maton_connection", "ctrl_url"},
    MAILGUN_CONN_TYPE: _SHARED | {"region"},
}


def parse_extra(extra: str | Mapping[str, Any] | None, conn_id: str = "") -> dict[str, Any]:
    """The connection's extra as a dict; malformed JSON is an error, not an empty dict."""
    if extra is None or extra == "":
        return {}
    if isinstance(extra, Mapping):
        return dict(extra)
    try:
        value = json.loads(extra)
    except json.JSONDecodeError as err:
        raise MailgunConfigError(f"Connection {conn_id!r}: extra is not valid JSON ({err.msg}).") from None
    if not isinstance(value, dict):
        raise MailgunConfigError(f"Connection {conn_id!r}: extra must be a JSON object.")
    return value


def _check_extra_names(kind: str, extras: Mapping[str, Any], conn_id: str) -> None:
    """Refuse a near miss of a known field, explain a field of the other type, warn about the rest.

    A misspelt field is an error, not a warning: ``regoin: eu`` would otherwise send from the US
    region without a word in the task's log that anyone reads.
    """
    known = KNOWN_EXTRAS[kind]
    other = MAILGUN_CONN_TYPE if kind == MATON_CONN_TYPE else MATON_CONN_TYPE
    unrelated = []
    for name in sorted(set(extras) - known):
        if kind == MATON_CONN_TYPE and name == "region":
            _explain_maton_region(extras[name], conn_id)
        elif name in KNOWN_EXTRAS[other]:
            log.warning("Connection %r: ignoring %s, a field of %r connections.", conn_id, name, other)
        elif close := difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.75):
            raise MailgunConfigError(
                f"Connection {conn_id!r}: unknown extra field {name!r}: did you mean {close[0]!r}? "
                "Nothing was sent; fix the field's name in the connection."
            )
        else:
            unrelated.append(name)
    if unrelated:
        log.warning("Connection %r: ignoring unknown extra field(s) %s", conn_id, ", ".join(unrelated))


def _explain_maton_region(region: Any, conn_id: str) -> None:
    if str(region).strip().lower() == "eu":
        raise MailgunConfigError(
            f"Connection {conn_id!r}: Maton reaches the US region only, so region 'eu' cannot be "
            "honoured; use a 'mailgun' connection (the Mailgun API key, region 'eu') for an EU domain."
        )
    log.warning(
        "Connection %r: region is ignored: Maton reaches the US region only (a 'mailgun' connection "
        "chooses its region).",
        conn_id,
    )


def config_from_connection(
    conn_type: str | None,
    *,
    host: str | None,
    password: str | None,
    extra: str | Mapping[str, Any] | None,
    schema: str | None = None,
    port: int | None = None,
    conn_id: str = "",
) -> ClientConfig:
    """Build the client config for a ``maton`` or ``mailgun`` connection."""
    kind = (conn_type or "").lower()
    if kind not in CONN_TYPES:
        raise MailgunConfigError(
            f"Connection {conn_id!r} has type {conn_type!r}; use 'maton' (Mailgun through the Maton "
            "gateway) or 'mailgun' (direct API key)."
        )
    if not password:
        what = "Maton API key" if kind == MATON_CONN_TYPE else "Mailgun private API key"
        raise MailgunConfigError(f"Connection {conn_id!r} has no password: set it to the {what}.")
    extras = parse_extra(extra, conn_id)
    _check_extra_names(kind, extras, conn_id)
    options = _common_options(extras, conn_id)
    base = _base_url(host, schema, port, conn_id)
    if kind == MATON_CONN_TYPE:
        return ClientConfig.for_maton(
            password,
            gateway_url=base or MATON_GATEWAY_URL,
            ctrl_url=_text(extras, "ctrl_url", conn_id),
            maton_connection=_text(extras, "maton_connection", conn_id),
            **options,
        )
    region = _text(extras, "region", conn_id) or "us"
    if region.lower() not in ("us", "eu"):
        raise MailgunConfigError(f"Connection {conn_id!r}: region must be 'us' or 'eu', got {region!r}.")
    return ClientConfig.for_mailgun(password, region=region, base_url=base, **options)


def _common_options(extras: Mapping[str, Any], conn_id: str) -> dict[str, Any]:
    options: dict[str, Any] = {"default_domain": _text(extras, "default_domain", conn_id)}
    if extras.get("timeout") not in (None, ""):
        read = _positive(extras["timeout"], "timeout", conn_id)
        options["timeout"] = (min(MAX_CONNECT_TIMEOUT, read), read)
    if "max_requests_per_second" in extras:
        value = extras["max_requests_per_second"]
        options["max_requests_per_second"] = (
            None if value in (None, "", 0) else _positive(value, "max_requests_per_second", conn_id)
        )
    if extras.get("max_attempts") not in (None, ""):
        options["max_attempts"] = int(_positive(extras["max_attempts"], "max_attempts", conn_id))
    if "verify_tls" in extras:
        options["verify_tls"] = _verify_flag(extras["verify_tls"], conn_id)
    scope = _text(extras, "rate_limit_scope", conn_id)
    if scope:
        options["rate_limit_scope"] = scope.lower()
    redis_url = _text(extras, "rate_limit_redis_url", conn_id)
    if redis_url:
        options["rate_limit_redis_url"] = redis_url
    return options


def _verify_flag(value: Any, conn_id: str) -> bool:
    if isinstance(value, bool):
        flag = value
    elif isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        flag = value.strip().lower() in ("true", "yes")
    else:
        raise MailgunConfigError(f"Connection {conn_id!r}: verify_tls must be true or false, got {value!r}.")
    if not flag:
        log.warning(
            "Connection %r: TLS certificate verification is OFF (verify_tls=false). Only do this for a "
            "private gateway you trust; the API key could otherwise be intercepted.",
            conn_id,
        )
    return flag


def _base_url(host: str | None, schema: str | None, port: int | None, conn_id: str) -> str | None:
    if not host:
        return None
    text = host.strip()
    if "://" not in text:
        scheme = schema if schema in ("http", "https") else "https"
        text = f"{scheme}://{text}"
        if scheme == "https" and _probably_plain_http(urlsplit(text)):
            log.warning(
                "Connection %r: host %r has no scheme, so %s is used; write 'http://%s' if the server "
                "speaks plain HTTP (a local emulator or gateway usually does).",
                conn_id,
                host,
                text,
                host.strip(),
            )
    if port and urlsplit(text).port is None:
        parts = urlsplit(text)
        text = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _valid_port(parts):
        raise MailgunConfigError(f"Connection {conn_id!r}: host {host!r} is not a valid URL.")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Connection %r: host %s is plain http; the API key travels unencrypted.", conn_id, text)
    return text.rstrip("/")


def _probably_plain_http(parts: SplitResult) -> bool:
    """A bare host with its own port, or a local or private address: often a plain-HTTP server."""
    try:
        own_port = parts.port is not None
    except ValueError:  # not a number: _base_url refuses the host
        return False
    if own_port or parts.hostname == "localhost":
        return True
    try:
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return False
    return address.is_private or address.is_loopback


def _valid_port(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError:
        return False
    return True


def _text(extras: Mapping[str, Any], name: str, conn_id: str) -> str | None:
    value = extras.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MailgunConfigError(f"Connection {conn_id!r}: {name} must be a string, got {value!r}.")
    return value.strip()


def _positive(value: Any, name: str, conn_id: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0 or isinstance(value, bool):
        raise MailgunConfigError(f"Connection {conn_id!r}: {name} must be a positive number, got {value!r}.")
    return number
