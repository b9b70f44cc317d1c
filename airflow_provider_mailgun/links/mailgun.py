"""Links from a task to what it touched: the messages it sent or waited for, the list it synced.

Airflow 3's way: while the task runs it pushes a small XCom (key ``mailgun_link``) saying where its
things are; when the task finishes, Airflow calls each link's ``get_link`` in the worker and stores
the URL with the task's XComs, and the UI's task instance view shows it as a button. Nothing is
requested from Mailgun when a link is drawn, and no link holds a key: only the dashboard's (or the
emulator's) address, the domain, message ids and list addresses are kept.

Where a link points:

* a Mailgun connection: Mailgun's dashboard, ``app.mailgun.com`` or ``app.eu.mailgun.com`` for the
  EU region (the API host ``api.eu.mailgun.net``); the messages link opens the sending domain's logs
  (the dashboard takes no message filter in its address), the list link the mailing list;
* a Maton connection: the US dashboard (Maton's gateway sends to Mailgun's US host);
* the bundled emulator (plain ``http`` on a loopback address: Mailgun itself is only served over
  https): the emulator's web inbox, filtered to the task's messages (``?q=id:<message id> ...``),
  or its page of the list.

Example::

    MailgunSendMessageOperator(task_id="send", ...)   # shows a "Mailgun messages" button
    MailgunMessagesLink().get_link(operator, ti_key=ti_key)
    # "https://app.eu.mailgun.com/mg/sending/domains/mg.example.com/logs"
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.sdk import BaseOperatorLink

from airflow_provider_mailgun._common.addresses import parse_address
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.urls import strip_message_id

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

log = logging.getLogger(__name__)

#: The XCom a task pushes for its links (what they are computed from).
LINK_XCOM_KEY = "mailgun_link"
DASHBOARD_US = "https://app.mailgun.com"
DASHBOARD_EU = "https://app.eu.mailgun.com"
#: More message ids than this would make the emulator link too long to open: it shows the domain.
MAX_LINKED_MESSAGES = 100


def link_site(config: ClientConfig) -> dict[str, Any]:
    """Where this connection's things are shown: ``{"site": <origin>, "emulator": <bool>}``."""
    parts = urlsplit(config.api_base)
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        port = f":{parts.port}" if parts.port else ""
        return {"site": f"http://{host}{port}", "emulator": True}  # the origin only: no userinfo
    eu = not config.via_maton and (parts.hostname or "").endswith(".eu.mailgun.net")
    return {"site": DASHBOARD_EU if eu else DASHBOARD_US, "emulator": False}


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def messages_target(config: ClientConfig, domain: str, message_ids: Iterable[str] = ()) -> dict[str, Any]:
    """What :class:`MailgunMessagesLink` is computed from (pushed as the ``mailgun_link`` XCom)."""
    ids = [strip_message_id(str(mid)) for mid in message_ids if mid]
    return {**link_site(config), "domain": domain, "message_ids": ids}


def list_target(config: ClientConfig, list_address: str) -> dict[str, Any]:
    """What :class:`MailgunListLink` is computed from (pushed as the ``mailgun_link`` XCom)."""
    return {**link_site(config), "list_address": list_address}


def messages_url(target: Mapping[str, Any]) -> str:
    """The messages link for a stored target; ``""`` when it names no site or domain."""
    site, domain = _site(target), str(target.get("domain") or "")
    if not site or not domain:
        return ""
    if target.get("emulator"):
        ids = [str(mid) for mid in target.get("message_ids") or ()]
        terms = [f"id:{mid}" for mid in ids] if 0 < len(ids) <= MAX_LINKED_MESSAGES else [f"domain:{domain}"]
        return f"{site}/?{urlencode({'q': ' '.join(terms)})}"
    return f"{site}/mg/sending/domains/{quote(domain, safe='')}/logs"


def list_url(target: Mapping[str, Any]) -> str:
    """The list link for a stored target; ``""`` when it names no site or list."""
    site, address = _site(target), str(target.get("list_address") or "")
    if not site or not address:
        return ""
    if target.get("emulator"):
        return f"{site}/inbox/lists/{quote(address, safe='@')}"
    return f"{site}/mg/sending/mailing-lists/{quote(address, safe='')}"


def _site(target: Mapping[str, Any]) -> str:
    """The stored origin, accepted only as one of the dashboards or a loopback http origin."""
    site = str(target.get("site") or "")
    if site in (DASHBOARD_US, DASHBOARD_EU):
        return site
    parts = urlsplit(site)
    if parts.scheme == "http" and _is_loopback(parts.hostname or "") and not parts.username:
        return site.rstrip("/")
    return ""


def remember_messages(context: Any, hook: MailgunHook, domain: str | None, message_ids: Any = ()) -> None:
    """Push the messages link's target; best effort: a link never fails the task."""
    _remember(context, lambda: messages_target(hook.config, hook.domain(domain), message_ids or ()))


def remember_list(context: Any, hook: MailgunHook, list_address: Any) -> None:
    """Push the list link's target; best effort: a link never fails the task."""
    _remember(context, lambda: list_target(hook.config, parse_address(str(list_address or "")).email))


def _remember(context: Any, build: Callable[[], Mapping[str, Any]]) -> None:
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return
    try:
        ti.xcom_push(key=LINK_XCOM_KEY, value=dict(build()))
    except Exception as err:  # a bad connection or input: the task itself says so, not its link
        log.info("No Mailgun link for this task: %s", type(err).__name__)


def stored_target(ti_key: TaskInstanceKey) -> dict[str, Any]:
    """The target the task pushed, read from XCom (``{}`` when it pushed none)."""
    from airflow.sdk.execution_time.xcom import XCom

    value = XCom.get_value(ti_key=ti_key, key=LINK_XCOM_KEY)
    return dict(value) if isinstance(value, Mapping) else {}


class _StoredTargetLink(BaseOperatorLink):
    """A link computed from the task's ``mailgun_link`` XCom; never raises (a link is not worth a
    failed task: Airflow 3.0 lets an error here escape the task's finalisation)."""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        try:
            return self.url(stored_target(ti_key))
        except Exception:  # any failure means no link (logged), never a failed task
            log.warning("Could not build the %r link.", self.name, exc_info=True)
            return ""

    def url(self, target: Mapping[str, Any]) -> str:
        raise NotImplementedError


class MailgunMessagesLink(_StoredTargetLink):
    """The messages a send or delivery sensor task handled, in Mailgun's dashboard or the emulator."""

    name = "Mailgun messages"

    def url(self, target: Mapping[str, Any]) -> str:
        return messages_url(target)


class MailgunListLink(_StoredTargetLink):
    """The mailing list a list sync task wrote, in Mailgun's dashboard or the emulator's inbox."""

    name = "Mailgun list"

    def url(self, target: Mapping[str, Any]) -> str:
        return list_url(target)
