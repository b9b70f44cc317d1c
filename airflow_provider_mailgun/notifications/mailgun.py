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
``default_domain`` extra. A notification that cannot be sent is logged as an error and never raised:
an alert must not hide, or replace, the task's own outcome.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_mailgun._connection.config import ConnectionLike
    from airflow_provider_mailgun._notify.compose import ComposedMessage
    from airflow_provider_mailgun.client.api.messages import Messages

# Same as MailgunHook.default_conn_name; spelled out so importing this module stays cheap.
DEFAULT_CONN_ID = "maton_default"
# Airflow 3.1+ lets a notifier take the context in its constructor (deadline alerts use it).
_BASE_TAKES_KWARGS = "context" in inspect.signature(BaseNotifier.__init__).parameters


class MailgunNotifier(BaseNotifier):
    """Send an alert email through Mailgun from any Airflow callback.

    :param to: recipients, a list or one string separated by commas or semicolons.
    :param cc: copy recipients, same forms as ``to``.
    :param bcc: blind copy recipients, same forms as ``to``.
    :param from_email: the sender (``Name <address>`` allowed); default ``airflow@<domain>``.
    :param subject: default ``[Airflow] <KIND> dag.task``.
    :param html: HTML body; with neither ``html``, ``text`` nor ``template`` a default body is sent.
    :param text: plain-text body.
    :param template: name of a template stored on the sending domain (instead of ``html``).
    :param template_variables: variables for the template (``t:variables``).
    :param tags: up to 10 Mailgun tags, e.g. ``["airflow", "alert"]``.
    :param files: local files to attach.
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
        "files",
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
        files: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        mailgun_conn_id: str = DEFAULT_CONN_ID,
        domain: str | None = None,
        kind: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.from_email = from_email
        self.subject = subject
        self.html = html
        self.text = text
        self.template = template
        self.template_variables = template_variables
        self.tags = tags
        self.files = files
        self.headers = headers
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain
        self.kind = kind
        if kind is not None:  # a typo should fail when the DAG is parsed, not when the alert fires
            from airflow_provider_mailgun._notify.default_content import KINDS

            if kind not in KINDS:
                raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
        if _BASE_TAKES_KWARGS:
            super().__init__(**kwargs)
        else:  # Airflow 3.0: the base takes nothing; keep the context for ``await notifier``.
            context = kwargs.pop("context", None)
            if kwargs:
                raise TypeError(f"Unexpected argument(s) for MailgunNotifier: {', '.join(sorted(kwargs))}")
            super().__init__()
            self.context = context or {}  # type: ignore[assignment]

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render every templated field in place (on the copy ``__call__`` makes)."""
        if jinja_env is None:
            jinja_env = self.get_template_env(dag=_sdk_dag(context))
        # Not the base's _do_render_template_fields: on Airflow 3.0 it keeps a field whose template
        # renders to "" unrendered, e.g. a domain "{{ params.domain or '' }}" meant to fall back to
        # the connection's default_domain, and the alert then goes nowhere.
        seen: set[int] = set()
        for name in self.template_fields:
            value = getattr(self, name)
            if value:
                setattr(self, name, self.render_template(value, context, jinja_env, seen))

    def _render(self, template: Any, context: Any, dag: Any = None) -> Any:
        return super(BaseNotifier, self)._render(template, context, dag or _sdk_dag(context))

    def __call__(self, *args: Any) -> None:
        """Render a copy with this context and send (the notifier may be shared by many tasks)."""
        try:
            BaseNotifier.__call__(copy.copy(self), *args)
        except Exception as err:  # a broken template must not fail the callback either
            self._log_failure(err)

    def __await__(self) -> Any:
        """``await notifier``, as deadline alerts do in the triggerer; renders ``self.context``."""
        return self._render_and_notify_async().__await__()

    async def _render_and_notify_async(self) -> None:
        notifier = copy.copy(self)
        context = notifier.context
        try:
            notifier._update_context(context)
            notifier.render_template_fields(context)
        except Exception as err:
            self._log_failure(err)
            return
        await notifier.async_notify(context)

    def notify(self, context: Context) -> None:
        """Send the alert now (task and DAG callbacks); errors are logged, never raised."""
        try:
            from airflow_provider_mailgun.hooks.mailgun import MailgunHook

            hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
            try:
                self._send(hook.messages, hook.domain(self.domain), context)
            finally:
                hook.close()
        except Exception as err:
            self._log_failure(err)

    async def async_notify(self, context: Context) -> None:
        """Send the alert without blocking the event loop (deadline alerts, async callers).

        The connection is looked up asynchronously; building the client and the blocking send run in
        a worker thread. Errors are logged, never raised.
        """
        try:
            conn = await _get_connection_async(self.mailgun_conn_id)
            await asyncio.to_thread(self._send_with_connection, conn, context)
        except Exception as err:
            self._log_failure(err)

    def _send_with_connection(self, conn: ConnectionLike | None, context: Mapping[str, Any]) -> None:
        from airflow_provider_mailgun._common.compat import mask_secret
        from airflow_provider_mailgun._connection.config import config_for
        from airflow_provider_mailgun.client import MailgunClient, MailgunConfigError

        config = config_for(self.mailgun_conn_id, conn)
        mask_secret(config.api_key)
        domain = self.domain or config.default_domain
        if not domain:
            raise MailgunConfigError(
                f"No domain given and connection {self.mailgun_conn_id!r} has no default_domain extra."
            )
        with MailgunClient(config) as client:
            self._send(client.messages, domain, context)

    def _send(self, messages: Messages, domain: str, context: Mapping[str, Any]) -> None:
        message = self._compose(context, domain)
        result = messages.send(domain, message.fields, message.files)
        self.log.info("Mailgun notification sent: %s, message id %s.", message.summary(), result.message_id)

    def _compose(self, context: Mapping[str, Any], domain: str) -> ComposedMessage:
        """The message, with the default subject and body filled in where none was given."""
        from airflow_provider_mailgun._notify import default_content
        from airflow_provider_mailgun._notify.compose import compose_message

        subject, html, text = self.subject, self.html, self.text
        if not subject or not (html or text or self.template):
            facts = default_content.facts_from_context(context, self.kind)
            subject = subject or default_content.default_subject(facts)
            if not (html or text or self.template):
                html, text = default_content.default_html(facts), default_content.default_text(facts)
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
            attachments=self.files,
        )

    def _log_failure(self, err: BaseException) -> None:
        from airflow_provider_mailgun._common.compat import redact
        from airflow_provider_mailgun.exceptions import MailgunError

        reason = redact(f"{type(err).__name__}: {err}")
        expected = isinstance(err, MailgunError | ValueError)
        # Our own errors are one clear line; anything else gets its traceback for debugging.
        self.log.error(
            "Mailgun notification NOT sent (connection %r): %s",
            self.mailgun_conn_id,
            reason,
            exc_info=None if expected else err,
        )


def _sdk_dag(context: Mapping[str, Any]) -> Any:
    """The context's DAG if it can render templates, else None (plain Jinja environment).

    Deadline alerts have no DAG; Airflow 3.3's ``dag.test()`` hands DAG callbacks a ``SerializedDAG``
    without ``get_template_env``; Airflow 3.0's base class would index ``context["dag"]``.
    """
    dag = context.get("dag")
    return dag if hasattr(dag, "get_template_env") else None


async def _get_connection_async(conn_id: str) -> ConnectionLike | None:
    """The connection, looked up without blocking the loop; ``None`` when it is not defined."""
    from airflow_provider_mailgun._common.compat import AirflowNotFoundException, BaseHook

    # The first import of the lookup helpers costs ~0.1 s on Airflow 3.0: do it off the loop.
    get_async_connection = await asyncio.to_thread(_async_connection_lookup)
    try:
        if get_async_connection is not None:
            return await get_async_connection(conn_id)  # type: ignore[no-any-return]
        if hasattr(BaseHook, "aget_connection"):
            return await BaseHook.aget_connection(conn_id)  # type: ignore[no-any-return]
        return await asyncio.to_thread(BaseHook.get_connection, conn_id)  # type: ignore[no-any-return]
    except AirflowNotFoundException:
        return None


def _async_connection_lookup() -> Any:
    """common-compat's ``get_async_connection`` (1.21+), or None when it is older."""
    try:
        from airflow.providers.common.compat.connection import get_async_connection
    except ImportError:
        return None
    return get_async_connection


send_mailgun_notification = MailgunNotifier
"""Function-style alias: ``on_failure_callback=send_mailgun_notification(to=...)``."""
