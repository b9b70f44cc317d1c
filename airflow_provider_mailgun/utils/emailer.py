"""``send_email``: Airflow's ``[email] email_backend``, sending through Mailgun.

Configure it in ``airflow.cfg`` (or the matching ``AIRFLOW__EMAIL__...`` environment variables)::

    [email]
    email_backend = airflow_provider_mailgun.utils.emailer.send_email
    email_conn_id = maton_default
    from_email = Airflow <airflow@mg.example.com>

``email_conn_id`` names a ``maton`` or ``mailgun`` connection; its ``default_domain`` extra is the
sending domain. Without ``from_email`` the sender is ``airflow@<domain>``. When the connection id is
missing, is ``smtp_default`` (Airflow's default) or names a connection of another type, the backend
warns and uses ``maton_default``.

It takes every way Airflow calls a backend: Airflow 3.3's
``backend(to, subject, html_content, conn_id=..., from_email=...)`` with ``to`` a list, and the older
``airflow.utils.email.send_email`` call with ``files`` (local paths, attached under their base
names), ``cc``, ``bcc``, ``dryrun`` (log what would be sent, send nothing), ``mime_subtype``,
``mime_charset``, ``custom_headers`` (sent as MIME headers) and ``**kwargs``. Mailgun builds the
MIME message itself (UTF-8), so ``mime_subtype`` and ``mime_charset`` have no effect.

Unlike the notifier, a failed send raises: Airflow's email machinery expects the backend to.

Airflow 3.0's built-in ``email_on_failure`` template uses ``ti.mark_success_url``, which its task
runner lacks, so the alert fails before reaching any backend; set ``[email] html_content_template``
to a template of your own there (or, better, use
:class:`~airflow_provider_mailgun.notifications.mailgun.MailgunNotifier`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_mailgun._common.compat import AirflowNotFoundException, BaseHook
from airflow_provider_mailgun._connection.config import CONN_TYPES
from airflow_provider_mailgun._notify.compose import compose_message
from airflow_provider_mailgun.hooks.mailgun import MailgunHook

log = logging.getLogger(__name__)

FALLBACK_CONN_ID = MailgunHook.default_conn_name
SMTP_DEFAULT_CONN_ID = "smtp_default"
# What Airflow 3.3 passes when [email] from_email is unset; not an address Mailgun can send from.
AIRFLOW_PLACEHOLDER_SENDER = "airflow@airflow"


def send_email(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | None = None,
    from_email: str | None = None,
    custom_headers: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> str | None:
    """Send one HTML email through Mailgun; returns the message id (``None`` on a dry run).

    ::

        send_email(["ops@example.org"], "Load failed", "<p>See the log.</p>", conn_id="maton_default")
        send_email("ops@example.org; dev@example.org", "Report", "<p>Attached.</p>",
                   files=["/tmp/report.csv"], cc="lead@example.org", dryrun=True)

    :raises ValueError: bad addresses, no body, missing attachment; nothing was sent.
    :raises airflow_provider_mailgun.client.MailgunError: the connection or the send failed.
    """
    if mime_subtype != "mixed" or mime_charset.lower() not in ("utf-8", "utf8"):
        log.debug("mime_subtype/mime_charset are ignored: Mailgun builds the MIME message (UTF-8).")
    if kwargs:
        log.debug("Ignoring email backend argument(s) Mailgun has no use for: %s", ", ".join(sorted(kwargs)))

    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id_for(conn_id))
    try:
        domain = hook.domain()
        sender = from_email if from_email and from_email != AIRFLOW_PLACEHOLDER_SENDER else None
        message = compose_message(
            from_email=sender or f"airflow@{domain}",
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject,
            html=html_content,
            headers=custom_headers,
            attachments=files,
        )
        if dryrun:
            log.info("Dry run, nothing sent: would send %s from domain %s.", message.summary(), domain)
            return None
        result = hook.messages.send(domain, message.fields, message.files)
        log.info("Email sent through Mailgun: %s, message id %s.", message.summary(), result.message_id)
        return result.message_id
    finally:
        hook.close()


def mailgun_conn_id_for(conn_id: str | None) -> str:
    """``conn_id`` when it is a ``maton``/``mailgun`` connection, else ``maton_default`` (with a warning)."""
    if not conn_id or conn_id == SMTP_DEFAULT_CONN_ID:
        log.warning(
            "Email connection %r is not a Mailgun connection; using %r. Set [email] email_conn_id to a "
            "'maton' or 'mailgun' connection.",
            conn_id,
            FALLBACK_CONN_ID,
        )
        return FALLBACK_CONN_ID
    if conn_id == FALLBACK_CONN_ID:
        return conn_id  # the hook itself explains a missing maton_default (or uses MATON_API_KEY)
    try:
        conn_type = (BaseHook.get_connection(conn_id).conn_type or "").lower()
    except AirflowNotFoundException:
        conn_type = "<not defined>"
    if conn_type not in CONN_TYPES:
        log.warning(
            "Email connection %r has type %r, not 'maton' or 'mailgun'; using %r.",
            conn_id,
            conn_type,
            FALLBACK_CONN_ID,
        )
        return FALLBACK_CONN_ID
    return conn_id
