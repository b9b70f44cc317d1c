"""``MailgunSendMessageOperator``: one email, or a 100,000-recipient campaign, each recipient once.

::

    send = MailgunSendMessageOperator(
        task_id="send_newsletter",
        mailgun_conn_id="maton_default",
        from_email="News <news@mg.example.com>",
        to="{{ ti.xcom_pull('load_subscribers') }}",   # [{"address": ..., "name": ..., "variables": {...}}]
        subject="Hello %recipient.first_name%",
        template="newsletter", template_variables={"issue": "{{ ds }}"},
        tags=["newsletter"],
    )

More than one recipient means batch sending: each recipient gets a personal copy (only their own
address in To, ``%recipient.x%`` substituted), at most 1000 per request, sent ``max_concurrency``
at a time within the connection's rate limit. A ledger that survives task retries makes sure a
retried task never mails anyone twice; sends whose outcome is unknown are reconciled against
Mailgun's events before anything is resent. The ledger is kept after the send completes, so a
crash before Airflow records success, or a clear, does not mail anyone again (see
``resend_after_clear``). The XCom result feeds ``MailgunDeliverySensor``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mailgun._common.compat import AirflowFailException
from airflow_provider_mailgun._common.heap import heap_frozen
from airflow_provider_mailgun._delivery.sources import EVENT_SOURCES
from airflow_provider_mailgun._send.fields import ON_AMBIGUOUS, SendSpec
from airflow_provider_mailgun._send.parse_checks import literal_problems
from airflow_provider_mailgun._send.rendering import PlainStringsRenderFast
from airflow_provider_mailgun.exceptions import SendInputError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.links.mailgun import MailgunMessagesLink, remember_messages

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mailgun._send.ledger import LedgerHead, SendLedger
    from airflow_provider_mailgun._send.plan import SendPlan

ON_INVALID = ("fail", "skip")
#: The message arguments: kept on the operator under their own names (Jinja renders them in place)
#: and handed to the planner as a SendSpec, so the signature below is the one place they are written.
MESSAGE_ARGUMENTS = SendSpec._fields


class MailgunSendMessageOperator(PlainStringsRenderFast, BaseOperator):
    """Send an email (or a batch campaign) through Mailgun.

    :param to: a string (one address, or comma separated), a list of addresses, or a list of dicts
        ``{"address", "name", "variables"}`` for personal fields (``%recipient.<name>%``; ``vars``,
        as list members call them, is taken for ``variables``; any other key is refused); an XCom
        of any of these.
    :param mailgun_conn_id: a ``maton`` or ``mailgun`` connection.
    :param domain: sending domain; default: the connection's ``default_domain``.
    :param from_email: sender, ``"Name <address>"`` allowed (required unless the template has one).
    :param cc: copies (only with a single ``to`` recipient, or ``batch=False``).
    :param bcc: blind copies (same rule as ``cc``).
    :param subject: subject line; ``%recipient.x%`` works in batch sends.
    :param text: plain-text body.
    :param html: HTML body (not with ``template``).
    :param template: name of a stored Mailgun template.
    :param template_version: its version tag (``t:version``).
    :param template_variables: dict (or JSON) for the template (``t:variables``).
    :param variables: custom data (``v:`` fields), shown in events as ``user-variables``.
    :param recipient_variables: ``{address: {name: value}}`` merged into each recipient's variables.
    :param tags: up to 10 tags (``o:tag``).
    :param tracking: ``o:tracking``; ``tracking_clicks`` (True/False/"htmlonly") and
        ``tracking_opens`` likewise.
    :param delivery_time: datetime, pendulum or string (ISO 8601 or RFC 2822), at most 7 days ahead.
    :param test_mode: ``o:testmode``: accepted but not delivered.
    :param require_tls: ``o:require-tls``.
    :param headers: extra MIME headers (``h:``), e.g. ``{"List-Unsubscribe": "<...>"}``.
    :param reply_to: the Reply-To header.
    :param attachments: file paths, or ``(filename, bytes)`` pairs.
    :param inline: inline images, same forms (reference them as ``cid:<filename>``).
    :param mime_message: path of a ready MIME message, sent through ``messages.mime``.
    :param options: any other ``o:``/``h:``/``v:``/``t:`` field.
    :param batch: ``None`` (default) sends personal copies when there is more than one recipient;
        ``False`` sends one message seen by all (at most 1000 recipients).
    :param batch_size: recipients per request (at most 1000).
    :param to_list: ``True`` when ``to`` is one mailing list's address: one request, and Mailgun
        sends each subscribed member a copy (``%recipient.x%`` from the member's ``vars``,
        ``%mailing_list_unsubscribe_url%`` works). The list must exist and have a subscribed member,
        checked before sending; no per-recipient variables. The result has one message id, no recipient
        count for it (the delivery sensor counts the member copies from Mailgun's events) and
        ``mailing_list`` / ``list_members``.
    :param max_concurrency: requests in flight at once (default 4).
    :param allow_missing_recipient_vars: a ``%recipient.x%`` placeholder in the subject, bodies,
        headers, template variables or options must be defined for every recipient, or the task
        fails before sending (naming it and the first recipients without it). ``True`` allows any,
        a list of names allows those (recipients without them get them empty, or literally when no
        recipient has them).
    :param on_invalid: ``"fail"`` (default): any invalid address fails the task before sending;
        ``"skip"``: drop them and report them in the result.
    :param on_ambiguous: what to do with a batch whose send got no clear answer and that Mailgun's
        events do not show as accepted: ``"reconcile"`` (default: look, then resend if absent),
        ``"skip"``, ``"resend"`` (without looking) or ``"fail"``.
    :param reconcile_timeout: seconds to wait for an ``accepted`` event to be indexed.
    :param event_source: where reconciliation reads the ``accepted`` events: ``"auto"`` (default:
        the Events API while it answers, then the Logs API), ``"events"`` or ``"logs"``.
    :param resend_after_clear: when this task instance already completed its send and is cleared and
        run again: ``False`` (default) sends nothing again, logs how to, and returns the completed
        send's result; ``True`` sends to every recipient again, as a new send. A retry after a crash
        never sends a completed send again, whatever this says.
    """

    template_fields: Sequence[str] = (
        "mailgun_conn_id",
        "to",
        "cc",
        "bcc",
        "domain",
        "from_email",
        "subject",
        "text",
        "html",
        "template",
        "template_version",
        "template_variables",
        "variables",
        "recipient_variables",
        "tags",
        "delivery_time",
        "headers",
        "reply_to",
        "attachments",
        "inline",
        "mime_message",
        "options",
    )
    template_fields_renderers = {
        "html": "html",
        "text": "txt",
        "template_variables": "json",
        "variables": "json",
        "recipient_variables": "json",
        "headers": "json",
        "options": "json",
    }
    # Deliberately empty: with ".html" here, any templated string ending in ".html" would be read
    # as a template file instead of being sent.
    template_ext: Sequence[str] = ()
    ui_color = "#f06b66"
    operator_extra_links = (MailgunMessagesLink(),)

    def __init__(
        self,
        *,
        to: Any,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        domain: str | None = None,
        from_email: str | None = None,
        cc: Any = None,
        bcc: Any = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        template: str | None = None,
        template_version: str | None = None,
        template_variables: Any = None,
        variables: Any = None,
        recipient_variables: Any = None,
        tags: Any = None,
        tracking: bool | None = None,
        tracking_clicks: bool | str | None = None,
        tracking_opens: bool | None = None,
        delivery_time: Any = None,
        test_mode: bool = False,
        require_tls: bool | None = None,
        headers: Any = None,
        reply_to: str | None = None,
        attachments: Any = None,
        inline: Any = None,
        mime_message: str | None = None,
        options: Any = None,
        batch: bool | None = None,
        batch_size: int = 1000,
        max_concurrency: int = 4,
        on_invalid: str = "fail",
        allow_missing_recipient_vars: bool | Sequence[str] = False,
        on_ambiguous: str = "reconcile",
        reconcile_timeout: float = 60.0,
        resend_after_clear: bool = False,
        to_list: bool = False,
        event_source: str = "auto",
        **kwargs: Any,
    ) -> None:
        arguments = dict(locals())  # first, before anything else is bound: the arguments as given
        super().__init__(**kwargs)
        problems = literal_problems(arguments)
        if problems:
            raise SendInputError(f"{self.task_id}: " + " | ".join(problems))
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}.")
        if on_ambiguous not in ON_AMBIGUOUS:
            raise ValueError(f"on_ambiguous must be one of {ON_AMBIGUOUS}, got {on_ambiguous!r}.")
        if event_source not in EVENT_SOURCES:
            raise ValueError(f"event_source must be one of {', '.join(EVENT_SOURCES)}, got {event_source!r}.")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}.")
        for name in MESSAGE_ARGUMENTS:
            value = arguments[name]
            # A generator (any iterator) reads once; a retry run by the same process (dag.test())
            # must see every recipient again, with the batch keys of the first try.
            setattr(self, name, list(value) if isinstance(value, Iterator) else value)
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain
        self.max_concurrency = max_concurrency
        self.on_ambiguous = on_ambiguous
        self.reconcile_timeout = reconcile_timeout
        self.resend_after_clear = resend_after_clear
        self.event_source = event_source

    def execute(self, context: Context) -> dict[str, Any]:
        # The input stays in memory for the whole send and is only read: out of the garbage
        # collector's full passes, which would otherwise walk it about once per batch.
        with heap_frozen():
            return self._send(context)

    def _send(self, context: Context) -> dict[str, Any]:
        # The send path (planner, ledger, sender) loads when a task runs, not in every DAG file
        # that names the operator: parsing stays cheap (``import_cost`` benchmark).
        from airflow_provider_mailgun._send.execution import PlanSender, send_result, send_summary
        from airflow_provider_mailgun._send.ledger import (
            SendLedger,
            chunk_count,
            ledger_scope,
            new_generation,
        )
        from airflow_provider_mailgun._send.plan import build_plan

        started = time.time()
        ledger = SendLedger.for_context(context)
        head = ledger.read_head()
        cycle = _cycle(context)
        if head is not None and head.completed_at is not None:
            done = self._completed_earlier(ledger, head, cycle)
            if done is not None:
                hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
                remember_messages(context, hook, done.get("domain"), done["message_ids"])
                return done
            head = None  # resend_after_clear: a new send, with batch keys of its own
        generation = head.generation if head is not None else new_generation()
        scope = ledger_scope(context)
        spec = self._spec()
        try:
            plan = build_plan(spec, f"{scope}__{generation}" if generation else scope)
        except SendInputError as err:
            # Bad input does not get better on retry: fail at once.
            raise AirflowFailException(str(err)) from None
        if plan.skipped_invalid:
            self.log.warning(
                "Skipping %d invalid recipient(s) (on_invalid='skip').", len(plan.skipped_invalid)
            )
        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        domain = hook.domain(self.domain)
        remember_messages(context, hook, domain)  # a send that fails still links to the domain's logs
        chunks = chunk_count(len(plan.batches))
        ledger.begin(generation, chunks)
        on_ambiguous, members = self.on_ambiguous, None
        if spec.to_list:
            try:
                members = self._list_members(hook, plan.batches[0].first_recipient, ledger, plan)
            except BaseException:
                hook.close()
                raise
            if members is None and on_ambiguous in ("reconcile", "resend"):
                # The list is gone or empty now, and an earlier try may have mailed it: find that
                # send, but never send to what is no longer a list to send to.
                on_ambiguous = "fail"
        else:
            self.log.info(
                "Sending to %d recipient(s) on %s in %d batch(es), %d at a time.",
                plan.recipients,
                domain,
                len(plan.batches),
                self.max_concurrency,
            )
        sender = PlanSender(
            hook,
            domain,
            plan,
            ledger,
            max_concurrency=self.max_concurrency,
            on_ambiguous=on_ambiguous,
            reconcile_timeout=self.reconcile_timeout,
            event_source=self.event_source,
        )
        try:
            outcome = sender.run()
        finally:
            if hook.request_stats().get("retries"):
                self.log.info("Requests: %s", hook.describe_requests())
            hook.close()
        summary = send_summary(plan, outcome, domain, started)
        if members is not None:
            summary["list_members"] = members
        # Kept, not deleted: Airflow records success only after execute() returns (XCom, then the
        # success message); a crash in between must find this send done, not send it again.
        ledger.complete(summary, chunks=chunks, cycle=cycle)
        result = send_result(summary, outcome.message_ids, outcome.counts, outcome.sent_at)
        remember_messages(context, hook, domain, result["message_ids"])
        self.log.info(
            "Sent %d message(s) to %d recipient(s); %d reconciled, %d invalid skipped.",
            len(result["message_ids"]),
            result["recipients"],
            outcome.reconciled,
            len(plan.skipped_invalid),
        )
        return result

    def _completed_earlier(
        self, ledger: SendLedger, head: LedgerHead, cycle: int | None
    ) -> dict[str, Any] | None:
        """The result of this task instance's completed send, unless it is to be sent again."""
        from airflow_provider_mailgun._send.execution import completed_result

        result = completed_result(head, ledger.completed_records(head))
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(head.completed_at or 0.0))
        what = f"{len(result['message_ids'])} message(s) to {result.get('recipients', 0)} recipient(s)"
        cleared = cycle is not None and head.cycle is not None and cycle != head.cycle
        if not cleared:
            # A retry after a crash that came once the send had completed (before Airflow recorded
            # success): the send is done; hand on its result.
            self.log.info("An earlier try completed this send at %s (%s); returning its result.", when, what)
            return result
        if not self.resend_after_clear:
            self.log.warning(
                "This task instance already sent this campaign at %s (%s); it was cleared and run again, "
                "and nothing was sent again. To send it again, set resend_after_clear=True on the "
                "operator and clear the task once more.",
                when,
                what,
            )
            return result
        self.log.warning(
            "This task instance already sent this campaign at %s (%s); resend_after_clear=True: sending "
            "it again, to every recipient, as a new send.",
            when,
            what,
        )
        return None

    def _list_members(
        self, hook: MailgunHook, address: str, ledger: SendLedger, plan: SendPlan
    ) -> int | None:
        """Refuse a missing or empty list before sending; log what Mailgun will do with it.

        When an earlier try may already have mailed the list, its members may have left since, or
        the list been removed: no reason to refuse looking that send up (None: members unknown).
        """
        from airflow_provider_mailgun._send.list_send import list_members

        try:
            members = list_members(hook, address)
        except SendInputError as err:
            if not _list_sent_earlier(ledger, plan):
                raise AirflowFailException(str(err)) from None  # a missing list does not appear on retry
            self.log.warning(
                "%s An earlier try may have sent to it already: looking that send up; nothing is sent again.",
                str(err).removeprefix("Nothing was sent. "),
            )
            return None
        self.log.info(
            "Sending one message to mailing list %s (%d members): Mailgun sends each subscribed member "
            "a copy under its one message id.",
            address,
            members,
        )
        return members

    def _spec(self) -> SendSpec:
        """The message arguments as rendered for this try."""
        return SendSpec(**{name: getattr(self, name) for name in MESSAGE_ARGUMENTS})


def _list_sent_earlier(ledger: SendLedger, plan: SendPlan) -> bool:
    """Whether an earlier try of this send may have mailed the list (its one batch recorded as sent)."""
    from airflow_provider_mailgun._send.ledger import ACCEPTED, UNSETTLED

    record = ledger.load(plan.batches).get(0)
    return record is not None and record.state in (ACCEPTED, *UNSETTLED)


def _cycle(context: Any) -> int | None:
    """What changes when a task instance is cleared, and not when it is retried: its ``max_tries``."""
    ti = context.get("ti")
    value = getattr(ti, "max_tries", None)
    return value if isinstance(value, int) else None
