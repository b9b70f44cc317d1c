"""``MailgunNotifier``: task, DAG and deadline alerts sent as email through Mailgun.

::

    from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier

    @task(on_failure_callback=MailgunNotifier(to="oncall@example.org"))
    def load(): ...

    # Your own wording; every text field is a Jinja template rendered with the task context.
    BashOperator(
        task_id="export",
        bash_command="...",
        on_success_callback=MailgunNotifier(
            to=["data@example.org"],
            subject="{{ dag.dag_id }}: {{ ti.task_id }} done",
            html="<p>Run {{ run_id }} finished.</p>",
            tags=["airflow", "etl"],
        ),
    )

Without ``subject`` or a body, the notifier writes a useful one: ``[Airflow] FAILED dag.task`` with
the DAG, task, run, try number, logical date, a link to the task log and, for failures, the
exception (masked by the secrets masker). Whether the alert is a failure, retry or success is read
from the context; pass ``kind="failure"`` (``retry``, ``success``, ``skipped``, ``deadline``) to fix it.

The sender defaults to ``airflow@<domain>``; the domain defaults to the connection's
``default_domain`` extra. A notification that cannot be sent is handled as Airflow's
``BaseNotifier`` handles it: logged ("Failed to send notification"), and on Airflow 3.1+ raised
on to Airflow's callback runner, which logs it too and leaves the task's or run's outcome as it is.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

import airflow_provider_mailgun.client as mailgun_client
from airflow_provider_mailgun._connection.config import sending_domain
from airflow_provider_mailgun._connection.lookup import client_config_async
from airflow_provider_mailgun._notify.compose import (
    AttachmentInput,
    ComposedMessage,
    PathInput,
    compose_message,
)
from airflow_provider_mailgun._notify.default_content import (
    KINDS,
    default_html,
    default_subject,
    default_text,
    facts_from_context,
)
from airflow_provider_mailgun.exceptions import SendInputError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_mailgun.client.api.messages import Messages
    from airflow_provider_mailgun.client.config import ClientConfig


class MailgunNotifier(BaseNotifier):
    """Send an alert email through Mailgun from any Airflow callback.

    :param to: recipients, a list or one string separated by commas or semicolons.
    :param cc: copy recipients, same forms as ``to``.
    :param bcc: blind copy recipients, same forms as ``to``.
    :param from_email: the sender (``Name <address>`` allowed); default ``airflow@<domain>``.
    :param subject: default ``[Airflow] <KIND> dag.task``.
    :param html: HTML body; with neither ``html``, ``text`` nor ``template`` a default body is sent.
    :param html_content: the same as ``html`` (the name Airflow's SMTP notifier uses).
    :param text: plain-text body.
    :param template: name of a template stored on the sending domain (instead of ``html``).
    :param template_variables: variables for the template (``t:variables``).
    :param tags: up to 10 Mailgun tags, e.g. ``["airflow", "alert"]``.
    :param attachments: files to attach: paths, or ``(filename, bytes)`` pairs, as the send operator
        takes them.
    :param files: the same as ``attachments`` (the name Airflow's SMTP notifier uses).
    :param headers: extra MIME headers, e.g. ``{"Reply-To": "data@example.org"}``.
    :param mailgun_conn_id: a ``maton`` or ``mailgun`` connection (default ``maton_default``).
    :param domain: the sending domain; default the connection's ``default_domain``.
    :param kind: ``failure``, ``retry``, ``success``, ``skipped``, ``deadline`` or ``notification``;
        detected from the context when not given. Only changes the default subject and body.
    """

    template_fields = (
        "mailgun_conn_id",
        "domain",
        "to",
        "cc",
        "bcc",
        "from_email",
        "subject",
        "html",
        "text",
        "template",
        "template_variables",
        "tags",
        "attachments",
        "headers",
    )
    template_fields_renderers = {"html": "html", "template_variables": "json", "headers": "json"}

    def __init__(
        self,
        to: str | Iterable[str],
        *,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        from_email: str | None = None,
        subject: str | None = None,
        html: str | None = None,
        text: str | None = None,
        template: str | None = None,
        template_variables: Mapping[str, Any] | None = None,
        tags: str | Sequence[str] | None = None,
        attachments: Sequence[AttachmentInput] | PathInput | None = None,
        files: Sequence[AttachmentInput] | PathInput | None = None,
        headers: Mapping[str, str] | None = None,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        domain: str | None = None,
        kind: str | None = None,
        html_content: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Airflow 3.1+ takes the context here (deadline alerts build the notifier with it); 3.0 nothing.
        super().__init__(**kwargs)
        if kind is not None and kind not in KINDS:  # a typo fails when the DAG is parsed, not when it fires
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
        if attachments is not None and files is not None:
            raise SendInputError("Give attachments or files (two names for the same thing), not both.")
        if html is not None and html_content is not None:
            raise SendInputError("Give html or html_content (two names for the same thing), not both.")
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.from_email = from_email
        self.subject = subject
        self.html = html if html is not None else html_content
        self.text = text
        self.template = template
        self.template_variables = template_variables
        self.tags = tags
        self.attachments = attachments if attachments is not None else files
        self.headers = headers
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain
        self.kind = kind

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render every templated field in place (on the copy ``__call__`` makes).

        The base's version needs a DAG that builds a template environment, which deadline alerts
        (no DAG) and Airflow 3.3's ``dag.test()`` DAG callbacks (a ``SerializedDAG``) do not hand
        over; and on Airflow 3.0 it keeps a field whose template renders to "" unrendered, so a
        domain ``"{{ params.domain or '' }}"`` would not fall back to the connection's default.
        """
        if jinja_env is None:
            jinja_env = self.get_template_env(dag=_sdk_dag(context))
        seen: set[int] = set()
        for name in self.template_fields:
            value = getattr(self, name)
            if value:
                setattr(self, name, self.render_template(value, context, jinja_env, seen))

    def __call__(self, *args: Any) -> None:
        """Render a copy with this context and send: one notifier may serve many tasks, and rendering
        is done in place. Errors are left to ``BaseNotifier`` (see the module docstring)."""
        BaseNotifier.__call__(copy.copy(self), *args)

    def notify(self, context: Context) -> None:
        """Send the alert now (task and DAG callbacks)."""
        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        try:
            self._send(hook.messages, hook.domain(self.domain), context)
        finally:
            hook.close()

    async def async_notify(self, context: Context) -> None:
        """Send the alert without blocking the event loop (deadline alerts, async callers).

        The connection is looked up asynchronously; the client and the blocking send run in a
        worker thread.
        """
        config = await client_config_async(self.mailgun_conn_id)
        await asyncio.to_thread(self._send_with_config, config, context)

    def _send_with_config(self, config: ClientConfig, context: Mapping[str, Any]) -> None:
        domain = sending_domain(config, self.mailgun_conn_id, self.domain)
        with mailgun_client.MailgunClient(config) as client:
            self._send(client.messages, domain, context)

    def _send(self, messages: Messages, domain: str, context: Mapping[str, Any]) -> None:
        message = self._compose(context, domain)
        result = messages.send(domain, message.fields, message.files)
        self.log.info("Mailgun notification sent: %s, message id %s.", message.summary(), result.message_id)

    def _compose(self, context: Mapping[str, Any], domain: str) -> ComposedMessage:
        """The message, with the default subject and body filled in where none was given."""
        subject, html, text = self.subject, self.html, self.text
        if not subject or not (html or text or self.template):
            facts = facts_from_context(context, self.kind)
            subject = subject or default_subject(facts)
            if not (html or text or self.template):
                html, text = default_html(facts), default_text(facts)
        return compose_message(
            from_email=self.from_email or f"airflow@{domain}",
            to=self.to,
            cc=self.cc,
            bcc=self.bcc,
            subject=subject,
            html=html,
            text=text,
            template=self.template,
            template_variables=self.template_variables,
            tags=self.tags,
            headers=self.headers,
            attachments=self.attachments,
        )


def _sdk_dag(context: Mapping[str, Any]) -> Any:
    """The context's DAG if it can render templates, else None (plain Jinja environment).

    Deadline alerts have no DAG; Airflow 3.3's ``dag.test()`` hands DAG callbacks a ``SerializedDAG``
    without ``get_template_env``; Airflow 3.0's base class would index ``context["dag"]``.
    """
    dag = context.get("dag")
    return dag if hasattr(dag, "get_template_env") else None


send_mailgun_notification = MailgunNotifier
"""Function-style alias: ``on_failure_callback=send_mailgun_notification(to=...)``."""
