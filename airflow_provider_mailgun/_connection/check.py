"""``test_connection`` that names the fix: one request when all is well, a few more to say why not.

The usual set-up mistakes, each answered in one sentence that says what to change:

* the domain is in the other region (Mailgun answers 404 there): probe the other region's host;
* a public validation key (``pubkey-...``) or a domain sending key instead of a private key
  (Mailgun answers 401 to both): a sending key is told apart by an empty send, which Mailgun
  refuses as incomplete (400) and which can never send anything;
* a Maton connection that is not ACTIVE, belongs to another app, or does not exist (the gateway
  answers 400): look it up on Maton's control host;
* a default domain the account does not have (404 in both regions, or through the gateway).

::

    ok, message = check_connection(config)
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import airflow_provider_mailgun.client as mailgun_client  # lazy: the client loads on the first check
from airflow_provider_mailgun.client import config as client_config
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.urls import segment
from airflow_provider_mailgun.exceptions import (
    MailgunAPIError,
    MailgunAuthError,
    MailgunBadRequestError,
    MailgunError,
    MailgunNotFoundError,
    MatonGatewayError,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.client import MailgunClient

PRIVATE_KEY_HINT = "a private API key from Mailgun's API Security page"
Result = tuple[bool, str]


def check_connection(config: ClientConfig) -> Result:
    """``(ok, one sentence)`` for a connection's config (see the module docstring).

    One attempt per request: someone is waiting for the verdict, so an unreachable host is
    answered in about the connect timeout rather than after a round of retries.
    """
    config = replace(config, max_attempts=1)
    with mailgun_client.MailgunClient(config) as client:
        try:
            return _check_maton(client) if config.via_maton else _check_direct(client)
        except MailgunError as err:
            return False, str(err)


def _check_direct(client: MailgunClient) -> Result:
    config = client.config
    domain = config.default_domain
    try:
        return _connected(client, f"Connected to Mailgun ({_region_text(config)})")
    except MailgunNotFoundError:
        if domain is None:
            raise
        return False, _missing_domain(config, domain)
    except MailgunAuthError as err:
        if err.status != 401:
            raise
        return False, _refused_key(client, err)


def _connected(client: MailgunClient, opening: str) -> Result:
    """The default domain's state (one request), or the first domain's name when none is set."""
    domain = client.config.default_domain
    if domain is None:
        first = next(iter(client.domains.iter(limit=1)), None)
        found = f"first domain {first.get('name')!r}" if first else "no domains yet"
        return True, f"{opening}; {found}, no default_domain set."
    state = (client.domains.get(domain).get("domain") or {}).get("state", "unknown")
    return True, f"{opening}; domain {domain!r} is {state}."


def _missing_domain(config: ClientConfig, domain: str) -> str:
    regions = _regions(config)
    if regions is None:
        return (
            f"Domain {domain!r} was not found at {_host(config.api_base)}: fix the connection's "
            "default_domain extra (or its host)."
        )
    here, there, there_base = regions
    with mailgun_client.MailgunClient(replace(config, api_base=there_base)) as other:
        try:
            other.domains.get(domain)
        except MailgunAPIError:
            return (
                f"Domain {domain!r} is not a domain of this Mailgun account (not found in the US or EU "
                "region): fix the connection's default_domain extra or add the domain in Mailgun."
            )
    return (
        f"Domain {domain!r} is in Mailgun's {there.upper()} region but the connection uses the "
        f"{here.upper()} one ({_host(config.api_base)}): set the connection's region extra to {there!r}."
    )


def _refused_key(client: MailgunClient, err: MailgunAPIError) -> str:
    config = client.config
    if config.api_key.startswith("pubkey-"):
        return (
            "The password is the account's public validation key (it starts with 'pubkey-'), which "
            f"opens no sending or management API: use {PRIVATE_KEY_HINT}."
        )
    domain = config.default_domain
    if domain and _can_send_only(client, domain):
        return (
            f"The password is a domain sending key of {domain!r}: it can only send messages, while "
            f"events, lists and suppressions need {PRIVATE_KEY_HINT}."
        )
    return f"Mailgun refused the API key ({err.status} {err.api_message}): use {PRIVATE_KEY_HINT}."


def _can_send_only(client: MailgunClient, domain: str) -> bool:
    """Whether the key passes authentication on the send endpoint (it fails everywhere else).

    The request carries no field at all: Mailgun rejects it as incomplete (400) before anything
    could be sent, whereas a key it does not know is refused (401).
    """
    try:
        client.transport.request("POST", f"/v3/{segment(domain, 'domain')}/messages", data=[])
    except MailgunBadRequestError:
        return True
    except MailgunError:
        return False
    return False


def _check_maton(client: MailgunClient) -> Result:
    config = client.config
    domain = config.default_domain
    via = f"the Maton gateway, connection {config.maton_connection or '(oldest ACTIVE)'}"
    try:
        return _connected(client, f"Connected to Mailgun through {via}")
    except MailgunNotFoundError:
        if domain is None:
            raise
        return False, (
            f"Domain {domain!r} is not reachable through the Maton gateway, which serves Mailgun's US "
            "region only: for an EU domain use a direct 'mailgun' connection with region 'eu', else "
            "fix the connection's default_domain extra."
        )
    except MatonGatewayError as err:
        if err.status == 401:
            return False, (
                f"The Maton API key was refused ({err.status}): set the connection's password to the "
                "key shown at maton.ai/settings."
            )
        if err.status != 400:
            raise
        return False, _unusable_maton_connection(client, err)


def _unusable_maton_connection(client: MailgunClient, err: MatonGatewayError) -> str:
    config = client.config
    if config.ctrl_base is None:
        # A private gateway: Maton's public control host was not configured, so it is not asked.
        return (
            f"The gateway {_host(config.api_base)} refused the Maton connection ({err.status} "
            f"{err.api_message}); the connection has no ctrl_url extra for this private gateway, so "
            "the connection's state was not looked up: set ctrl_url to the gateway's control host."
        )
    ctrl = _host(config.ctrl_base)
    wanted = config.maton_connection
    if wanted is None:
        pending = [c for c in client.connections.list() if c.get("status") != "ACTIVE"]
        waiting = f" ({len(pending)} not ACTIVE)" if pending else ""
        return (
            f"This Maton API key has no ACTIVE Mailgun connection{waiting}: create one with POST "
            f'{ctrl}/connections {{"app": "mailgun"}} and open its url to authorise it.'
        )
    try:
        found = client.connections.get(wanted)
    except MailgunNotFoundError:
        return (
            f"Maton connection {wanted} does not exist for this Maton API key: set the maton_connection "
            f"extra to one listed by GET {ctrl}/connections?app=mailgun."
        )
    app, status = found.get("app"), found.get("status")
    if app != client_config.MATON_APP:
        return (
            f"Maton connection {wanted} belongs to the {app!r} app, not 'mailgun': set the "
            "maton_connection extra to a Mailgun connection (or leave it empty for the oldest ACTIVE one)."
        )
    if status != "ACTIVE":
        return (
            f"Maton connection {wanted} is {status}, not ACTIVE: open the url that GET "
            f"{ctrl}/connections/{wanted} returns to authorise it, or use an ACTIVE connection."
        )
    return str(err)


def _regions(config: ClientConfig) -> tuple[str, str, str] | None:
    """(this region, the other region, its base URL) when the connection uses a region's host."""
    hosts = client_config.MAILGUN_REGIONS
    for name, base in hosts.items():
        if config.api_base == base.rstrip("/"):
            other = "eu" if name == "us" else "us"
            return name, other, hosts[other]
    return None


def _region_text(config: ClientConfig) -> str:
    regions = _regions(config)
    host = _host(config.api_base)
    return f"{regions[0].upper()} region, {host}" if regions else host


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".rstrip("/") or url
