"""Clear suppression records (bounces by default) by rule, by address, or the whole table.

Soft bounces after a mailbox provider's outage, cleared while hard bounces stay::

    MailgunClearBouncesOperator(
        task_id="clear_soft_bounces",
        mailgun_conn_id="mailgun_default",
        domain="mg.example.com",
        codes=["4xx"],                       # or ["421", "450"]
        error_matches=r"(?i)try again later",
        newer_than="P2D",                    # created in the last two days
        max_deletions=5_000,                 # fail before deleting if more would go
    )

Three ways to say what goes, never mixed:

- rules (``codes``, ``error_matches``, ``older_than``, ``newer_than``, combined with AND): the
  table is read page by page, matched locally, and the matches deleted in parallel;
- ``addresses`` (a list, a comma-separated string or another task's XCom): each one is deleted;
  one that is not in the table counts as ``not_found``;
- ``clear_all=True``: one delete-all call. Nothing else clears a whole table, so an operator given
  none of the three refuses to run.

``dry_run=True`` reads and matches but deletes nothing, and logs what would go. The XCom result is
``{"matched", "deleted", "not_found", "dry_run", "sample"}``: ``matched`` counts the records
selected (the addresses given, or the records the rules matched), ``sample`` shows the first 20.
For ``clear_all`` without ``dry_run`` or ``max_deletions`` the table is not counted first, so
``matched`` and ``deleted`` are ``None``.

``suppression_type`` picks the table: ``bounces`` (default), ``unsubscribes``, ``complaints`` or
``whitelists``; :class:`MailgunClearUnsubscribesOperator` and :class:`MailgunClearComplaintsOperator`
read better for the other two. Codes and error text exist only on bounces.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mailgun._common.compat import failure_without_retry
from airflow_provider_mailgun._common.concurrency import run_parallel
from airflow_provider_mailgun._suppressions.rules import (
    SUPPRESSION_TYPES,
    SuppressionRules,
    matching_addresses,
    record_address,
    target_addresses,
)
from airflow_provider_mailgun.exceptions import IncompleteOperationError, MailgunNotFoundError, RuleError
from airflow_provider_mailgun.hooks.mailgun import MailgunHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mailgun.client.api.suppressions import SuppressionTable

log = logging.getLogger(__name__)

SAMPLE_SIZE = 20
PAGE_SIZE = 1000
PROGRESS_EVERY = 1000


class MailgunClearBouncesOperator(BaseOperator):
    """Delete records from a domain's suppression table, chosen by rules, by address or all at once.

    :param mailgun_conn_id: Airflow connection (``maton`` or ``mailgun`` type).
    :param domain: sending domain; defaults to the connection's ``default_domain``.
    :param suppression_type: ``bounces`` (default), ``unsubscribes``, ``complaints`` or ``whitelists``.
    :param addresses: the records to delete, by address (list, string or XCom).
    :param codes: bounce codes to clear: ``"421"``, or ranges such as ``"4xx"``.
    :param error_matches: regular expression searched in the bounce's error text (not templated).
    :param older_than: clear records created longer ago than this (timedelta or ``"P30D"``).
    :param newer_than: clear records created more recently than this (timedelta or ``"PT12H"``).
    :param clear_all: clear the whole table with one call; cannot be combined with anything above.
    :param dry_run: read and match, delete nothing, log what would be deleted.
    :param max_deletions: fail, before deleting anything, when more records than this would go.
    :param max_concurrency: deletions in flight at once (the connection's rate limit still applies).
    """

    template_fields: Sequence[str] = (
        "mailgun_conn_id",
        "domain",
        "addresses",
        "codes",
        "older_than",
        "newer_than",
    )
    template_fields_renderers = {"addresses": "json", "codes": "json"}
    ui_color = "#f6d7d2"
    default_suppression_type = "bounces"

    def __init__(
        self,
        *,
        mailgun_conn_id: str = MailgunHook.default_conn_name,
        domain: str | None = None,
        suppression_type: str | None = None,
        addresses: Any = None,
        codes: Any = None,
        error_matches: str | re.Pattern[str] | None = None,
        older_than: timedelta | str | None = None,
        newer_than: timedelta | str | None = None,
        clear_all: bool = False,
        dry_run: bool = False,
        max_deletions: int | None = None,
        max_concurrency: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mailgun_conn_id = mailgun_conn_id
        self.domain = domain
        self.suppression_type = suppression_type or self.default_suppression_type
        self.addresses = addresses
        self.codes = codes
        self.error_matches = error_matches
        self.older_than = older_than
        self.newer_than = newer_than
        self.clear_all = clear_all
        # Stored under another name: BaseOperator.dry_run() is a method.
        self.is_dry_run = dry_run
        self.max_deletions = max_deletions
        self.max_concurrency = max_concurrency
        # Everything known now is checked now, so a bad DAG fails at parse time; templated and
        # XCom values are checked again once rendered, before the first request.
        self._check(final=False)

    # ----------------------------------------------------------------------------- validation
    def _check(self, *, final: bool) -> SuppressionRules | None:
        """Validate the settings; returns the rules in rules mode (``None`` if not yet known)."""
        if self.suppression_type not in SUPPRESSION_TYPES:
            choices = ", ".join(SUPPRESSION_TYPES)
            raise ValueError(f"suppression_type must be one of {choices}, got {self.suppression_type!r}.")
        if self.max_deletions is not None and (
            not isinstance(self.max_deletions, int) or self.max_deletions < 0
        ):
            raise ValueError(f"max_deletions must be a non-negative integer, got {self.max_deletions!r}.")
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {self.max_concurrency!r}.")
        rule_values = (self.codes, self.error_matches, self.older_than, self.newer_than)
        has_rules = any(_given(value) for value in rule_values)
        has_addresses = self.addresses is not None
        modes = [name for name, on in (("addresses", has_addresses), ("rules", has_rules)) if on]
        if self.clear_all:
            modes.append("clear_all")
        if len(modes) > 1:
            raise ValueError(
                f"Choose one way to select records, got {' and '.join(modes)}: addresses, rules "
                "(codes, error_matches, older_than, newer_than) or clear_all=True."
            )
        if not modes:
            raise ValueError(
                f"Nothing selects which {self.suppression_type} to clear: give addresses, or rules "
                "(codes, error_matches, older_than, newer_than), or clear_all=True to clear the whole table."
            )
        if has_addresses and (final or _literal(self.addresses)):
            target_addresses(self.addresses, self.suppression_type)
        if not has_rules or not (final or all(_literal(value) for value in rule_values)):
            return None
        rules = SuppressionRules.build(
            codes=self.codes,
            error_matches=self.error_matches,
            older_than=self.older_than,
            newer_than=self.newer_than,
        )
        if rules.needs_bounce_fields and self.suppression_type != "bounces":
            raise RuleError(
                f"codes and error_matches exist only on bounces, not on {self.suppression_type}; "
                "use older_than/newer_than or addresses."
            )
        if rules.is_empty:  # e.g. codes rendered to an empty list
            raise RuleError(f"The rules for {self.suppression_type} rendered empty: nothing to match on.")
        return rules

    # ------------------------------------------------------------------------------ execution
    def execute(self, context: Context) -> dict[str, Any]:
        try:
            rules = self._check(final=True)
            targets = (
                None if self.addresses is None else target_addresses(self.addresses, self.suppression_type)
            )
        except ValueError as err:
            raise failure_without_retry(str(err)) from None
        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        try:
            domain = hook.domain(self.domain)
            table = hook.suppressions(self.suppression_type)
            if self.clear_all:
                result = self._clear_all(table, domain)
            elif targets is not None:
                result = self._clear_addresses(table, domain, targets)
            else:
                assert rules is not None
                result = self._clear_by_rules(table, domain, rules)
            log.info("Requests: %s", hook.describe_requests())
            return result
        finally:
            hook.close()

    def _clear_by_rules(
        self, table: SuppressionTable, domain: str, rules: SuppressionRules
    ) -> dict[str, Any]:
        predicate = rules.predicate(now=datetime.now(timezone.utc))
        scanned = 0
        matched: dict[str, None] = {}
        for page in table.pages(domain, limit=PAGE_SIZE):
            scanned += len(page.items)
            matched.update(dict.fromkeys(matching_addresses(page.items, predicate)))
        addresses = list(matched)
        log.info(
            "Read %d %s on %s; %d match (%s).",
            scanned, self.suppression_type, domain, len(addresses), rules.describe(),
        )  # fmt: skip
        self._guard(len(addresses))
        return self._delete(table, domain, addresses)

    def _clear_addresses(self, table: SuppressionTable, domain: str, targets: list[str]) -> dict[str, Any]:
        log.info("%d %s address(es) given for %s.", len(targets), self.suppression_type, domain)
        self._guard(len(targets))
        # One read first, so a wrong domain fails loudly instead of every delete counting as not_found.
        next(iter(table.pages(domain, limit=1)), None)
        if not self.is_dry_run:
            return self._delete(table, domain, targets)
        missing = set(self._run_all(lambda address: table.get(domain, address), targets, "look-ups"))
        self._log_would_delete(domain, [address for address in targets if address not in missing])
        return _summary(matched=len(targets), deleted=0, not_found=len(missing), dry_run=True, sample=targets)

    def _clear_all(self, table: SuppressionTable, domain: str) -> dict[str, Any]:
        count: int | None = None
        sample: list[str] = []
        if self.is_dry_run or self.max_deletions is not None:
            count = 0
            for page in table.pages(domain, limit=PAGE_SIZE):
                count += len(page.items)
                sample.extend(filter(None, map(record_address, page.items[: SAMPLE_SIZE - len(sample)])))
            self._guard(count)
            if self.is_dry_run:
                self._log_would_delete(domain, sample, count)
                return _summary(matched=count, deleted=0, not_found=0, dry_run=True, sample=sample)
        table.delete_all(domain)
        log.info("Cleared every record of %s on %s%s.", self.suppression_type, domain,
                 "" if count is None else f" ({count} counted before)")  # fmt: skip
        return _summary(matched=count, deleted=count, not_found=0, dry_run=False, sample=sample)

    def _delete(self, table: SuppressionTable, domain: str, addresses: list[str]) -> dict[str, Any]:
        """Delete (or, on a dry run, only log) already guarded ``addresses``."""
        if self.is_dry_run:
            self._log_would_delete(domain, addresses)
            return _summary(matched=len(addresses), deleted=0, not_found=0, dry_run=True, sample=addresses)
        missing = self._run_all(lambda address: table.delete(domain, address), addresses, "deletions")
        deleted = len(addresses) - len(missing)
        log.info("Deleted %d %s on %s; %d were already gone.", deleted, self.suppression_type, domain,
                 len(missing))  # fmt: skip
        return _summary(
            matched=len(addresses), deleted=deleted, not_found=len(missing), dry_run=False, sample=addresses
        )

    def _run_all(self, call: Callable[[str], object], addresses: list[str], what: str) -> list[str]:
        """Run ``call`` per address in parallel; returns the 404s, raises if anything else failed.

        Each call is retried by the client on transient errors (deletes and reads are idempotent).
        After the first lasting failure no new call starts: a wrong key should not cost 5,000 tries.
        """
        stop = threading.Event()
        missing: list[str] = []
        failures: list[tuple[str, BaseException]] = []
        done = 0

        def remaining() -> Iterator[str]:
            for address in addresses:
                if stop.is_set():
                    return
                yield address

        for address, outcome in run_parallel(call, remaining(), max_workers=self.max_concurrency):
            done += 1
            if isinstance(outcome, MailgunNotFoundError):
                missing.append(address)
            elif isinstance(outcome, BaseException):
                failures.append((address, outcome))
                stop.set()
            if done % PROGRESS_EVERY == 0:
                log.info("%s: %d of %d done.", what.capitalize(), done, len(addresses))
        if failures:
            address, first = failures[0]
            raise IncompleteOperationError(
                f"{len(failures)} of {len(addresses)} {what} on {self.suppression_type} failed after "
                f"retries ({done - len(failures)} finished, the rest not started); first, for {address}: "
                f"{first}. Running the task again is safe: deletes are idempotent."
            ) from first
        return missing

    def _guard(self, count: int) -> None:
        if self.max_deletions is not None and count > self.max_deletions:
            raise failure_without_retry(
                f"{count} {self.suppression_type} would be deleted, more than max_deletions="
                f"{self.max_deletions}; nothing was deleted. Narrow the rules or raise max_deletions."
            )

    def _log_would_delete(self, domain: str, addresses: list[str], count: int | None = None) -> None:
        total = len(addresses) if count is None else count
        shown = ", ".join(addresses[:SAMPLE_SIZE])
        more = f" and {total - SAMPLE_SIZE} more" if total > SAMPLE_SIZE else ""
        log.info("Dry run: would delete %d %s on %s: %s%s.", total, self.suppression_type, domain,
                 shown or "(none)", more)  # fmt: skip


class MailgunClearUnsubscribesOperator(MailgunClearBouncesOperator):
    """:class:`MailgunClearBouncesOperator` on the unsubscribes table (``older_than``/``newer_than``)."""

    default_suppression_type = "unsubscribes"


class MailgunClearComplaintsOperator(MailgunClearBouncesOperator):
    """:class:`MailgunClearBouncesOperator` on the complaints table (``older_than``/``newer_than``)."""

    default_suppression_type = "complaints"


def _summary(
    *, matched: int | None, deleted: int | None, not_found: int, dry_run: bool, sample: list[str]
) -> dict[str, Any]:
    return {
        "matched": matched,
        "deleted": deleted,
        "not_found": not_found,
        "dry_run": dry_run,
        "sample": list(sample[:SAMPLE_SIZE]),
    }


def _given(value: Any) -> bool:
    """A rule counts as given unless it is None or empty (an empty list selects nothing)."""
    if value is None:
        return False
    if isinstance(value, str | list | tuple | set | frozenset):
        return len(value) > 0
    return True


def _literal(value: Any) -> bool:
    """Whether a value is final at construction (no template, no XCom reference inside)."""
    if value is None or isinstance(value, bool | int | float | timedelta | re.Pattern):
        return True
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, list | tuple | set | frozenset):
        return all(_literal(item) for item in value)
    if isinstance(value, Mapping):
        return all(_literal(item) for item in value.values())
    return False
