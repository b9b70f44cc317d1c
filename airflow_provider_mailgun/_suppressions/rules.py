"""Which suppression records to clear: pure, network-free matching rules and input checks.

Rules combine with AND; a record matches when every rule given holds::

    rules = SuppressionRules.build(codes=["4xx", "552"], error_matches=r"(?i)mailbox full",
                                   older_than="P7D")
    matches = rules.predicate(now=datetime.now(timezone.utc))
    doomed = matching_addresses(page.items, matches)

- ``codes``: SMTP codes as strings (``"421"``) or ranges with ``x`` for any digit (``"4xx"``,
  ``"55x"``). Mailgun sends a bounce's ``code`` as a string (very old data has integers): both are
  compared as text.
- ``error_matches``: a regular expression searched in the bounce's ``error`` text (add ``(?i)`` to
  ignore case).
- ``older_than`` / ``newer_than``: a ``timedelta``, a pendulum ``Duration`` or an ISO 8601
  duration (``"P7D"``, ``"PT12H"``, ``"P1M"``), compared with the record's ``created_at``
  (``createdAt`` for whitelists). A record whose date is missing or unreadable never matches an
  age rule: nothing is cleared on a guess.

An empty rule set has no predicate: clearing a whole table is a separate, explicit choice.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import pendulum
from pendulum.parsing.exceptions import ParserError

from airflow_provider_mailgun._common.addresses import check_addresses, offenders_message
from airflow_provider_mailgun.exceptions import RuleError

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

SUPPRESSION_TYPES = ("bounces", "unsubscribes", "complaints", "whitelists")
_CODE = re.compile(r"^[0-9xX]{3}$")


def normalise_codes(codes: str | int | Iterable[str | int] | None) -> tuple[str, ...]:
    """Codes as three-character strings (``x`` for any digit), in order, without duplicates.

    >>> normalise_codes(["421", 450, "5XX", "421"])
    ('421', '450', '5xx')
    >>> normalise_codes("421, 4xx")
    ('421', '4xx')
    """
    if codes is None:
        return ()
    if isinstance(codes, str):
        items: list[Any] = [part for part in re.split(r"[\s,]+", codes) if part]
    elif isinstance(codes, int):
        items = [codes]
    else:
        items = list(codes)
    cleaned: list[str] = []
    invalid: list[str] = []
    for item in items:
        text = str(item).strip().lower() if isinstance(item, str | int) and not isinstance(item, bool) else ""
        if not _CODE.match(text):
            invalid.append(repr(item))
        elif text not in cleaned:
            cleaned.append(text)
    if invalid:
        raise RuleError(
            f"Invalid bounce code(s) {', '.join(invalid)}: use three digits such as '421', "
            "or a range with x for any digit such as '4xx'."
        )
    return tuple(cleaned)


def code_matcher(codes: Iterable[str]) -> Callable[[Any], bool]:
    """A test of a record's ``code`` value (string or integer) against normalised codes."""
    alternatives = "|".join(code.replace("x", "[0-9]") for code in codes)
    pattern = re.compile(rf"^(?:{alternatives})$")

    def matches(value: Any) -> bool:
        if isinstance(value, bool) or value is None:
            return False
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return pattern.match(str(value).strip()) is not None

    return matches


def compile_error_pattern(value: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    """Compile ``error_matches`` once, with an error that names the problem."""
    if value is None:
        return None
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str) or not value:
        raise RuleError(
            "error_matches must be a non-empty regular expression (to clear everything, use clear_all=True)."
        )
    try:
        return re.compile(value)
    except re.error as err:
        raise RuleError(f"error_matches {value!r} is not a valid regular expression: {err}.") from None


def parse_duration(value: timedelta | str | None, name: str) -> timedelta | None:
    """A positive ``timedelta`` (pendulum ``Duration`` included) from a duration or ISO 8601 text.

    >>> parse_duration("PT12H", "older_than")
    Duration(hours=12)
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed: Any = pendulum.parse(value.strip())
        except (ParserError, ValueError):
            parsed = None
        if not isinstance(parsed, timedelta):
            raise RuleError(
                f"{name} {value!r} is not an ISO 8601 duration; "
                "use e.g. 'P7D' (7 days) or 'PT12H' (12 hours)."
            )
        value = parsed
    if not isinstance(value, timedelta):
        raise RuleError(
            f"{name} must be a timedelta, a pendulum Duration or an ISO 8601 duration such as 'P7D', "
            f"got {type(value).__name__}."
        )
    if value.total_seconds() <= 0:
        raise RuleError(f"{name} must be a positive duration, got {value!r}.")
    return value


def cutoff(now: datetime, age: timedelta) -> datetime:
    """``now - age``; calendar-aware for pendulum durations with months or years."""
    return pendulum.instance(_aware(now)) - age


def created_at(record: Record) -> datetime | None:
    """The record's creation time (``created_at``, or ``createdAt`` on whitelists), ``None`` if unknown.

    Mailgun writes RFC 2822 dates (``Fri, 21 Oct 2011 11:02:55 UTC``); they are read with pendulum,
    as are ISO 8601 dates. Epoch seconds are taken as they are.
    """
    value = record.get("created_at", record.get("createdAt"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_date_text(value.strip())


@lru_cache(maxsize=4096)  # records written in one burst share their second: parse each text once
def parse_date_text(text: str) -> datetime | None:
    """An RFC 2822 or ISO 8601 date read with pendulum; ``None`` when it cannot be read for sure.

    >>> parse_date_text("Thu, 13 Oct 2011 18:02:00 +0000")
    DateTime(2011, 10, 13, 18, 2, 0, tzinfo=Timezone('UTC'))
    """
    # pendulum reads ISO 8601 itself and hands other forms, RFC 2822 among them, to dateutil
    # (strict=False). A zone name dateutil does not know would be silently read as UTC: that is a
    # guess, and an age rule must not clear a record on a guess.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            parsed: Any = pendulum.parse(text, strict=False)
        except Exception:  # pendulum, dateutil and the warning filter raise several unrelated types
            return None
    return _aware(parsed) if isinstance(parsed, datetime) else None


def _aware(moment: datetime) -> datetime:
    # RFC 2822's "-0000" means "UTC, source zone unknown"; the parser returns it naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def record_address(record: Record) -> str | None:
    """The key of a record: ``address`` (``value`` on whitelists, which may be a domain)."""
    value = record.get("address", record.get("value"))
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class SuppressionRules:
    """Validated rules; build with :meth:`build`, test records with :meth:`predicate`."""

    codes: tuple[str, ...] = ()
    error_pattern: re.Pattern[str] | None = None
    older_than: timedelta | None = None
    newer_than: timedelta | None = None

    @classmethod
    def build(
        cls,
        *,
        codes: str | int | Iterable[str | int] | None = None,
        error_matches: str | re.Pattern[str] | None = None,
        older_than: timedelta | str | None = None,
        newer_than: timedelta | str | None = None,
        now: datetime | None = None,
    ) -> SuppressionRules:
        """Check every rule and return them; raises :class:`RuleError` naming the bad one."""
        rules = cls(
            codes=normalise_codes(codes),
            error_pattern=compile_error_pattern(error_matches),
            older_than=parse_duration(older_than, "older_than"),
            newer_than=parse_duration(newer_than, "newer_than"),
        )
        if rules.older_than is not None and rules.newer_than is not None:
            moment = now or datetime.now(timezone.utc)
            if cutoff(moment, rules.older_than) <= cutoff(moment, rules.newer_than):
                raise RuleError(
                    f"older_than ({rules.older_than}) must be shorter than newer_than ({rules.newer_than}): "
                    "no record can be older than the first and newer than the second."
                )
        return rules

    @property
    def is_empty(self) -> bool:
        return not (self.codes or self.error_pattern or self.older_than or self.newer_than)

    @property
    def needs_bounce_fields(self) -> bool:
        """Codes and error text exist only on bounces."""
        return bool(self.codes or self.error_pattern)

    def describe(self) -> str:
        """The rules in one line, for logs."""
        parts = []
        if self.codes:
            parts.append(f"code in {', '.join(self.codes)}")
        if self.error_pattern is not None:
            parts.append(f"error matches /{self.error_pattern.pattern}/")
        if self.older_than is not None:
            parts.append(f"older than {self.older_than}")
        if self.newer_than is not None:
            parts.append(f"newer than {self.newer_than}")
        return " AND ".join(parts) or "no rules"

    def predicate(self, now: datetime) -> Predicate:
        """A test for one record, with ages measured from ``now``; refuses an empty rule set."""
        if self.is_empty:
            raise RuleError("No rules given: a rule-less match would select the whole table.")
        checks: list[Predicate] = []
        if self.codes:
            code_ok = code_matcher(self.codes)
            checks.append(lambda record: code_ok(record.get("code")))
        pattern = self.error_pattern
        if pattern is not None:
            checks.append(lambda record: pattern.search(str(record.get("error") or "")) is not None)
        if self.older_than is not None or self.newer_than is not None:
            before = cutoff(now, self.older_than) if self.older_than is not None else None
            after = cutoff(now, self.newer_than) if self.newer_than is not None else None
            checks.append(lambda record: _created_within(record, after, before))
        return lambda record: all(check(record) for check in checks)


def _created_within(record: Record, after: datetime | None, before: datetime | None) -> bool:
    """Created strictly between the bounds given; an undated record is never within."""
    moment = created_at(record)
    if moment is None:
        return False
    return (after is None or moment > after) and (before is None or moment < before)


def matching_addresses(records: Iterable[Record], predicate: Predicate) -> list[str]:
    """Addresses of the records that match, in the order seen (records without an address skipped)."""
    found = []
    for record in records:
        address = record_address(record)
        if address is not None and predicate(record):
            found.append(address)
    return found


def target_addresses(value: Any, suppression_type: str) -> list[str]:
    """The explicit ``addresses`` input as a checked, de-duplicated list of keys.

    Takes a list of strings, a comma/newline separated string, or records with ``address`` (or
    ``value``), e.g. another task's XCom. Whitelist entries may be bare domains.

    >>> target_addresses("a@x.org, A@X.org\\nb@x.org", "bounces")
    ['a@x.org', 'b@x.org']
    """
    if isinstance(value, str):
        raw: list[Any] = [part for part in re.split(r"[\s,;]+", value) if part]
    elif isinstance(value, Mapping):
        raw = [value]
    else:
        try:
            raw = list(value)
        except TypeError:
            raise RuleError(f"addresses must be a list of addresses, got {type(value).__name__}.") from None
    texts: list[str] = []
    for item in raw:
        text = record_address(item) if isinstance(item, Mapping) else item
        if not isinstance(text, str):
            raise RuleError(f"addresses must hold strings or records with an address, got {item!r}.")
        texts.append(text.strip())
    domains = [text.lower() for text in texts if suppression_type == "whitelists" and "@" not in text]
    checked = check_addresses(
        [text for text in texts if not (suppression_type == "whitelists" and "@" not in text)]
    )
    if checked.invalid:
        raise RuleError(offenders_message("address", checked.invalid))
    keys = [address.email.lower() for address in checked.valid] + domains
    return list(dict.fromkeys(keys))
