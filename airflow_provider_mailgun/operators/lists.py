"""Make a Mailgun mailing list match a data source, writing only what changed.

A nightly mirror of a CSV export, where people who opted out stay opted out::

    MailgunSyncListMembersOperator(
        task_id="sync_newsletter",
        mailgun_conn_id="mailgun_default",
        list_address="news@mg.example.com",
        members="/data/exports/newsletter_{{ ds_nodash }}.csv",   # address,name,<var columns>
        mode="mirror",                 # also remove members absent from the source
        removal="unsubscribe",         # ... by unsubscribing them rather than deleting
        max_removal_fraction=0.2,      # fail, writing nothing, if more would go
    )

``members`` is a list of addresses or ``{"address", "name", "vars", "subscribed"}`` objects, another
task's XCom of one, or a path to a CSV or JSON Lines file (formats: ``_list_sync.sources``). The
sync reads the list (100 members a page), diffs it against the source (``_list_sync.plan``), then
writes adds and updates through ``members.json`` with upsert (1000 a call) and removals as one
delete each, in parallel within the connection's rate limit. Fields a source row leaves out keep
their current values; when an address appears twice, the later row wins for the fields it carries.

Safety: a member who unsubscribed stays unsubscribed unless ``resubscribe=True``. A mirror that
would remove more than ``max_removal_fraction`` of the list, an empty source (unless
``allow_empty_source``) and invalid rows (unless ``on_invalid="skip"``) fail the task before any
write, saying what would have happened (``AirflowFailException``: retrying would not help). With
``verify=True`` (the default), once something was written the list is read back and compared,
waiting up to ``verify_timeout`` s for Mailgun's background uploads (over 100 members); one who
unsubscribed while the list was read stays unsubscribed (re-read just before writing). Every write
is an upsert or a delete, so a failed write or check is repaired by the task's next try.

XCom result: ``{"added", "updated", "removed", "unchanged", "invalid", "dry_run"}``; ``dry_run=True``
computes the same counts and writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mailgun._common.addresses import offenders_message, parse_address
from airflow_provider_mailgun._common.compat import failure_without_retry
from airflow_provider_mailgun._common.concurrency import run_parallel
from airflow_provider_mailgun._list_sync.plan import (
    MODES,
    REMOVALS,
    Differences,
    MemberState,
    Mode,
    Removal,
    SyncPlan,
    apply_plan,
    batches,
    check_guards,
    current_entry,
    find_differences,
    plan_sync,
    upload_body,
)
from airflow_provider_mailgun._list_sync.progress import counted, until_matching
from airflow_provider_mailgun._list_sync.sources import SourceRead, read_source
from airflow_provider_mailgun.client.api.lists import MAX_MEMBERS_PER_UPLOAD
from airflow_provider_mailgun.exceptions import (
    IncompleteOperationError,
    InvalidAddressError,
    ListSourceError,
    ListSyncGuardError,
    MailgunNotFoundError,
)
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.links.mailgun import MailgunListLink, remember_list

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

ACCESS_LEVELS = ("readonly", "members", "everyone")
ON_INVALID = ("fail", "skip")
MEMBERS_PAGE = 100  # the API's maximum
BACKGROUND_UPLOAD_ABOVE = 100  # Mailgun applies larger members.json uploads in the background
SHOWN_FAILURES = 3


class MailgunSyncListMembersOperator(BaseOperator):
    """Add, update and (in ``mirror`` mode) remove list members so the list matches ``members``.

    :param list_address: the mailing list, e.g. ``news@mg.example.com``.
    :param members: addresses or member objects, an XCom of them, or a ``.csv``/``.jsonl`` path.
    :param mailgun_conn_id: Airflow connection (``maton`` or ``mailgun`` type).
    :param mode: ``upsert`` (add and update only) or ``mirror`` (also remove absent members).
    :param removal: how ``mirror`` removes: ``delete`` or ``unsubscribe``.
    :param max_removal_fraction: fail before writing when a mirror would remove more than this share
        of the list (0 to 1; 1 turns the guard off).
    :param allow_empty_source: allow a source without valid members (otherwise the task fails).
    :param resubscribe: let the source subscribe members who unsubscribed.
    :param on_invalid: ``fail`` (default) on invalid rows, naming the first ten, or ``skip`` them.
    :param dry_run: compute the counts and write nothing.
    :param verify: after writing anything, read the list back and fail if it does not match.
    :param verify_timeout: seconds to wait for Mailgun's background uploads during the check.
    :param create_list: create the list when it does not exist (else the task fails).
    :param list_name: name of a list created by ``create_list``.
    :param list_description: description of a list created by ``create_list``.
    :param list_access_level: ``readonly`` (default), ``members`` or ``everyone``, for a new list.
    :param max_concurrency: writes in flight at once (the connection's rate limit still applies).
    """

    template_fields: Sequence[str] = (
        "mailgun_conn_id",
        "list_address",
        "members",
        "list_name",
        "list_description",
    )
    # No template_ext on purpose: a members path ending in .csv must be read as data, not as a template.
    ui_color = "#f06b66"
    operator_extra_links = (MailgunListLink(),)

    def __init__(
        self,
        *,
        list_address: str,
        members: Any,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        mode: Mode = "upsert",
        removal: Removal = "delete",
        max_removal_fraction: float = 0.2,
        allow_empty_source: bool = False,
        resubscribe: bool = False,
        on_invalid: str = "fail",
        dry_run: bool = False,
        verify: bool = True,
        verify_timeout: float = 300.0,
        create_list: bool = False,
        list_name: str | None = None,
        list_description: str | None = None,
        list_access_level: str = "readonly",
        max_concurrency: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_choice("mode", mode, MODES)
        _check_choice("removal", removal, REMOVALS)
        _check_choice("on_invalid", on_invalid, ON_INVALID)
        _check_choice("list_access_level", list_access_level, ACCESS_LEVELS)
        if not 0 <= max_removal_fraction <= 1:
            raise ValueError(f"max_removal_fraction must be between 0 and 1, got {max_removal_fraction!r}.")
        if verify_timeout < 0:
            raise ValueError(f"verify_timeout must not be negative, got {verify_timeout!r}.")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency!r}.")
        self.list_address = list_address
        self.members = members
        self.mailgun_conn_id = mailgun_conn_id
        self.mode: Mode = mode
        self.removal: Removal = removal
        self.max_removal_fraction = max_removal_fraction
        self.allow_empty_source = allow_empty_source
        self.resubscribe = resubscribe
        self.on_invalid = on_invalid
        # Stored under another name: BaseOperator.dry_run() is a method.
        self.is_dry_run = dry_run
        self.verify = verify
        self.verify_timeout = verify_timeout
        self.create_list = create_list
        self.list_name = list_name
        self.list_description = list_description
        self.list_access_level = list_access_level
        self.max_concurrency = max_concurrency
        self.request_stats: dict[str, int] = {}

    def render_template(
        self, content: Any, context: Any, jinja_env: Any = None, seen_oids: set[int] | None = None
    ) -> Any:
        # A member list given as data is not a template: compiling each of 100,000 strings with
        # Jinja would be slow, and a name containing "{{" would be mangled. Paths and XComs render.
        if content is self.members and isinstance(content, list | tuple):
            return content
        return super().render_template(content, context, jinja_env, seen_oids)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        remember_list(context, hook, self.list_address)
        try:
            return self._sync(hook)
        finally:
            self.request_stats = hook.request_stats()
            if self.request_stats:
                log.info("Requests: %s", hook.describe_requests())
            hook.close()

    def _sync(self, hook: MailgunHook) -> dict[str, Any]:
        list_address = self._checked_list_address()
        source = self._read_source()
        size = self._list_size(hook, list_address)
        exists = size is not None
        started = time.monotonic()
        current = dict(self._read_members(hook, list_address, "Reading", size)) if exists else {}
        log.info("Read %s current members in %.1f s.", f"{len(current):,}", time.monotonic() - started)
        plan = self._plan(current, source, list_address)
        result: dict[str, Any] = {**plan.counts(), "invalid": len(source.invalid), "dry_run": self.is_dry_run}
        if self.is_dry_run:
            if not exists:
                log.info("Dry run: list %s does not exist and would be created.", list_address)
            return result

        source_count = len(source.members)
        del source  # the plan keeps what it needs: free the source before the read-back
        if not exists:
            self._create_list(hook, list_address)
        elif plan.changes and not self.resubscribe:
            self._keep_new_opt_outs(hook, list_address, plan, current)
        expected = apply_plan(current, plan) if self.verify else {}
        del current
        background = self._write(hook, list_address, plan)
        if self.verify and plan.changes:
            self._verify(hook, list_address, expected, background, source_count)
        return result

    def _read_source(self) -> SourceRead:
        try:
            source = read_source(self.members)
        except ListSourceError as err:
            raise failure_without_retry(str(err)) from None
        log.info(
            "Source: %s rows, %s distinct valid members, %s invalid, %s duplicates merged.",
            f"{source.rows:,}",
            f"{len(source.members):,}",
            f"{len(source.invalid):,}",
            f"{source.duplicates:,}",
        )
        if source.invalid:
            message = offenders_message("member", source.invalid)
            if self.on_invalid == "fail":
                raise failure_without_retry(
                    f"{message}. Nothing was written; fix the source or set on_invalid='skip'."
                )
            log.warning("Skipping %s", message)
        return source

    def _plan(self, current: dict[str, MemberState], source: SourceRead, list_address: str) -> SyncPlan:
        plan = plan_sync(
            current, source.members, mode=self.mode, removal=self.removal, resubscribe=self.resubscribe
        )
        try:
            check_guards(
                plan,
                current_size=len(current),
                source_size=len(source.members),
                mode=self.mode,
                list_address=list_address,
                max_removal_fraction=self.max_removal_fraction,
                allow_empty_source=self.allow_empty_source,
                source_note=f"{source.rows:,} rows read, {len(source.invalid):,} invalid",
            )
        except ListSyncGuardError as err:
            raise failure_without_retry(str(err)) from None
        counts = plan.counts()
        log.info(
            "Plan: %s add %s, update %s, %s %s; %s unchanged.",
            "would" if self.is_dry_run else "will",
            f"{counts['added']:,}",
            f"{counts['updated']:,}",
            self.removal,
            f"{counts['removed']:,}",
            f"{counts['unchanged']:,}",
        )
        if plan.kept_unsubscribed:
            log.info(
                "%s member(s) absent from the source had unsubscribed: kept on the list, unsubscribed, so "
                "their opt-out is not forgotten.",
                f"{plan.kept_unsubscribed:,}",
            )
        return plan

    def _checked_list_address(self) -> str:
        try:
            return parse_address(str(self.list_address or "")).email
        except InvalidAddressError as err:
            raise failure_without_retry(f"list_address {self.list_address!r} is not valid: {err}.") from None

    def _list_size(self, hook: MailgunHook, list_address: str) -> int | None:
        """The list's member count (0 when Mailgun does not say), ``None`` when it is to be created."""
        try:
            found = hook.lists.get(list_address)
        except MailgunNotFoundError:
            if self.create_list:
                return None
            raise failure_without_retry(
                f"Mailing list {list_address} not found; create it first or set create_list=True."
            ) from None
        count = found.get("members_count")
        log.info("List %s has %s members.", list_address, f"{count:,}" if isinstance(count, int) else "?")
        return count if isinstance(count, int) else 0

    def _create_list(self, hook: MailgunHook, list_address: str) -> None:
        hook.lists.create(
            list_address,
            name=self.list_name,
            description=self.list_description,
            access_level=self.list_access_level,
        )
        log.info("Created mailing list %s.", list_address)

    @staticmethod
    def _keep_new_opt_outs(
        hook: MailgunHook, list_address: str, plan: SyncPlan, current: dict[str, MemberState]
    ) -> None:
        """Read the unsubscribed members again just before writing: an opt-out made during the read
        must not be written back as subscribed (upserts carry ``subscribed``) nor deleted."""
        from airflow_provider_mailgun._list_sync.plan import keep_new_opt_outs

        opted_out = {
            str(item.get("address") or "").lower()
            for page in hook.members.pages(list_address, limit=MEMBERS_PAGE, subscribed=False)
            for item in page.items
        }
        changed = keep_new_opt_outs(plan, current, opted_out)
        if changed:
            log.info("%s planned write(s) kept members unsubscribed who opted out during the sync.", changed)

    @staticmethod
    def _read_members(
        hook: MailgunHook, list_address: str, verb: str, total: int | None
    ) -> Iterator[tuple[str, MemberState]]:
        pages = hook.members.pages(list_address, limit=MEMBERS_PAGE)
        for item in counted(pages, f"{verb} {list_address}", total):
            yield current_entry(item)

    def _write(self, hook: MailgunHook, list_address: str, plan: SyncPlan) -> bool:
        """Upserts, then deletes; returns whether Mailgun applies some upload in the background."""
        workers = self.max_concurrency
        failures: list[str] = []
        background = False
        uploaded = 0
        for chunk, outcome in run_parallel(
            lambda chunk: hook.members.upload_chunk(list_address, upload_body(chunk), upsert=True),
            batches(plan.upserts(), MAX_MEMBERS_PER_UPLOAD),
            max_workers=workers,
        ):
            if isinstance(outcome, BaseException):
                failures.append(f"upload of {len(chunk)} members: {outcome}")
                continue
            uploaded += len(chunk)
            background = background or len(chunk) > BACKGROUND_UPLOAD_ABOVE
        if plan.upsert_count():
            log.info("Upserted %s of %s members.", f"{uploaded:,}", f"{plan.upsert_count():,}")

        deletes = plan.deletes()
        deleted = 0
        for address, outcome in run_parallel(
            lambda address: hook.members.delete(list_address, address), deletes, max_workers=workers
        ):
            # A member already gone (deleted by someone else, or by an earlier try) is removed.
            if isinstance(outcome, BaseException) and not isinstance(outcome, MailgunNotFoundError):
                failures.append(f"delete of {address}: {outcome}")
                continue
            deleted += 1
        if deletes:
            log.info("Deleted %s of %s members.", f"{deleted:,}", f"{len(deletes):,}")
        if failures:
            shown = "; ".join(failures[:SHOWN_FAILURES])
            raise IncompleteOperationError(
                f"{len(failures):,} write(s) to {list_address} failed after retries: {shown}. "
                "The list is partly synced; running the task again completes it."
            )
        return background

    def _verify(
        self,
        hook: MailgunHook,
        list_address: str,
        expected: dict[str, MemberState],
        background: bool,
        source_count: int,
    ) -> None:
        def compare() -> Differences:
            members = self._read_members(hook, list_address, "Verifying", len(expected))
            return find_differences(expected, members)

        # Only background uploads are worth waiting for: a synchronous write's difference stays.
        timeout = self.verify_timeout if background else 0.0
        differences = until_matching(compare, timeout)
        if differences:
            # Retries allowed: a retry of the task writes the difference again, which may well fix it.
            raise IncompleteOperationError(
                f"List {list_address} does not match the source after the sync"
                f"{f' (waited up to {timeout:.0f} s for background uploads)' if background else ''}: "
                f"{differences.summary()}."
            )
        log.info("Verified: %s matches the source (%s source members).", list_address, f"{source_count:,}")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
