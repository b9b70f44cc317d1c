"""Turning what a DAG author wrote into validated Mailgun sends: a pure plan, no I/O but file reads.

::

    plan = build_plan(SendSpec(to=[{"address": "a@x.org", "vars": {"name": "A"}},
                                   {"address": "b@x.org", "variables": {"name": "B"}}],
                               from_email="news@mg.example.com", subject="Hi %recipient.name%",
                               text="Hello"), ledger_scope="dag|run|task|-1")
    plan.batches[0].fields()      # form fields of the first request, recipient-variables included

Everything that can be wrong with the input is found before anything is sent (by the readers of
:mod:`.fields` and :mod:`.audience`): bad addresses (all of them, named), recipient dicts with
unknown keys, ``%recipient.x%`` placeholders some recipient does not define, incompatible body
fields, too many tags, oversize attachments, unparseable JSON or delivery times, and the 16 KB
limit on o:/h:/v:/t: options. Then the recipients are cut into batches, each with a key that
identifies it across tries. The plan keeps positions in the input, not copies of the recipients:
a batch's fields are built when it is sent.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mailgun._common.addresses import Address, offenders_message
from airflow_provider_mailgun._common.limits import MAX_RECIPIENTS_PER_REQUEST
from airflow_provider_mailgun._send.audience import NOT_UTF8, Audience, placeholders, sendable, survey
from airflow_provider_mailgun._send.fields import (
    BATCH_KEY_VARIABLE,
    FilePart,
    Recipient,
    SendSpec,
    as_text,
    check_body,
    common_fields,
    read_copies,
    read_files,
    read_mime,
)
from airflow_provider_mailgun._send.list_send import check_list_send
from airflow_provider_mailgun.exceptions import SendInputError

SHOWN_SKIPPED = 100


class _Layout:
    """What every batch of one plan shares: the audience, the common fields, the batch mode."""

    __slots__ = ("audience", "common", "copies", "mailing_list", "order", "personalised", "scope")

    def __init__(
        self,
        audience: Audience,
        order: array[int],
        common: tuple[tuple[str, str], ...],
        personalised: bool,
        scope: str,
        mailing_list: bool = False,
    ) -> None:
        self.audience = audience
        #: The one recipient is a mailing list: Mailgun makes the copies (see ``list_send``).
        self.mailing_list = mailing_list
        self.order = order
        self.common = common
        self.personalised = personalised
        self.scope = scope
        self.copies = sum(1 for name, _ in common if name in ("cc", "bcc"))


class Batch:
    """One request: a slice of the plan's send order, its recipients read when it is sent.

    Its key identifies it across tries: the ledger scope and the set of its recipients.
    """

    __slots__ = ("_key", "_layout", "_start", "_stop", "index")

    def __init__(self, index: int, layout: _Layout, start: int, stop: int) -> None:
        self.index = index
        self._layout = layout
        self._start = start
        self._stop = stop
        self._key: str | None = None

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        """Its recipients, read from the input (see :mod:`.audience`)."""
        read = self._layout.audience.read
        return tuple(Recipient(*read(p)) for p in self._layout.order[self._start : self._stop])

    @property
    def size(self) -> int:
        return self._stop - self._start

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = _batch_key(self._layout.scope, (r.address.key for r in self.recipients))
        return self._key

    def fields(self) -> list[tuple[str, str]]:
        """Form fields of this request (files are added by the sender)."""
        layout = self._layout
        read = layout.audience.read
        rows = [read(position) for position in layout.order[self._start : self._stop]]
        if self._key is None:
            self._key = _batch_key(layout.scope, (address.key for address, _ in rows))
        # One ``to`` field, the addresses comma separated (as Mailgun documents it): a name with a
        # comma is quoted by ``formatted()``. A thousand fields would each be encoded apart.
        pairs = [("to", ", ".join([address.formatted() for address, _ in rows]))]
        pairs.extend(layout.common)
        pairs.append((f"v:{BATCH_KEY_VARIABLE}", self._key))
        if layout.personalised:
            names = layout.audience.names
            table = {address.email: _row_variables(variables, names) for address, variables in rows}
            pairs.append(
                ("recipient-variables", json.dumps(table, separators=(",", ":"), ensure_ascii=False))
            )
        return pairs

    @property
    def first_recipient(self) -> str:
        return self._layout.audience.read(self._layout.order[self._start])[0].email

    @property
    def mailing_list(self) -> bool:
        return self._layout.mailing_list

    @property
    def reach(self) -> int:
        """The copies its message reaches: each recipient, and each cc and bcc (0: unknown, a list's)."""
        if self._layout.mailing_list:
            return 0
        return self.size + self._layout.copies


@dataclass(frozen=True)
class SendPlan:
    batches: tuple[Batch, ...]
    files: tuple[FilePart, ...]
    mime: bytes | None
    skipped_invalid: tuple[tuple[str, str], ...]
    recipients: int


def build_plan(spec: SendSpec, ledger_scope: str) -> SendPlan:
    """Validate ``spec`` completely and cut it into batches; raises SendInputError naming every problem."""
    problems: list[str] = []
    mime = read_mime(spec.mime_message, problems) if spec.mime_message else None
    common = common_fields(spec, problems, needs_from=not spec.template and not spec.mime_message)
    files = read_files(spec, problems)
    check_body(spec, mime is not None, files, problems)
    recipient_problems: list[str] = []
    skipped: list[tuple[str, str]] = []
    audience = survey(
        spec.to,
        spec.recipient_variables,
        # A list's members' vars fill a list send's placeholders, on Mailgun's side.
        set() if spec.to_list else placeholders([value for _, value in common]),
        recipient_problems,
        skipped,
        allowed_missing=spec.allow_missing_recipient_vars,
    )
    cc, bcc = read_copies(spec, audience.keys, skipped)
    if skipped and spec.on_invalid != "skip":
        recipient_problems.append(offenders_message("recipient", skipped))
    problems = recipient_problems + problems
    copies = _copy_recipients(cc, bcc)
    unsendable = sorted({name for name, value in common + copies if not (sendable(name) and sendable(value))})
    if unsendable:
        problems.append(f"{', '.join(unsendable)}: {NOT_UTF8}")
    to = audience.order
    personalised = _choose_batch_mode(spec, audience, cc, bcc, problems)
    if spec.to_list:
        check_list_send(spec, len(to), audience.has_variables, problems)
    if not to and not problems:
        problems.append("no valid recipient in 'to'")
    if problems:
        raise SendInputError("Nothing was sent. " + " | ".join(problems))
    size = _batch_size(spec, personalised, len(cc) + len(bcc))
    # A stable order that does not depend on the input's: the same recipients give the same batches
    # on every try. Hashing (not sorting by address) spreads look-alike addresses, and the failures
    # they share (one bouncing domain, one suppressed prefix), evenly over the batches, so each
    # message id's delivery share reflects the campaign's. One message seen by all keeps the input's.
    ordered = to if personalised else array("I", sorted(to))
    layout = _Layout(audience, ordered, tuple(common + copies), personalised, ledger_scope, spec.to_list)
    batches = tuple(
        Batch(index, layout, start, min(start + size, len(ordered)))
        for index, start in enumerate(range(0, len(ordered), size))
    )
    return SendPlan(
        batches=batches,
        files=tuple(files),
        mime=mime,
        skipped_invalid=tuple(skipped),
        recipients=len(to) + len(cc) + len(bcc),
    )


def _choose_batch_mode(
    spec: SendSpec, audience: Audience, cc: list[Address], bcc: list[Address], problems: list[str]
) -> bool:
    """Batch mode (each recipient its own copy) unless one plain recipient or ``batch=False``."""
    wants_personal = audience.has_variables
    to = audience.order
    if spec.batch is False:
        if wants_personal:
            problems.append("personal variables need batch sending (batch=False was given)")
        total = len(to) + len(cc) + len(bcc)
        if total > MAX_RECIPIENTS_PER_REQUEST:
            problems.append(
                f"{total} recipients in a single non-batch send; Mailgun allows {MAX_RECIPIENTS_PER_REQUEST}"
            )
        return False
    personalised = spec.batch is True or wants_personal or len(to) > 1
    if personalised and (cc or bcc):
        problems.append(
            "cc/bcc cannot be combined with a batch send to several recipients: Mailgun would copy each "
            "cc/bcc recipient once per 'to' recipient; use batch=False for one shared message"
        )
    if not 1 <= spec.batch_size <= MAX_RECIPIENTS_PER_REQUEST:
        problems.append(f"batch_size must be 1..{MAX_RECIPIENTS_PER_REQUEST}, got {spec.batch_size}")
    return personalised


def _batch_size(spec: SendSpec, personalised: bool, copies: int) -> int:
    if not personalised:
        return MAX_RECIPIENTS_PER_REQUEST - copies
    return spec.batch_size


def _copy_recipients(cc: Sequence[Address], bcc: Sequence[Address]) -> list[tuple[str, str]]:
    return [("cc", a.formatted()) for a in cc] + [("bcc", a.formatted()) for a in bcc]


def _row_variables(variables: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """One recipient's table: every name any recipient has (missing ones empty), values as text."""
    row = {}
    for name in names:
        value = variables.get(name, "")
        row[name] = value if type(value) is str else as_text(value)
    return row


def _batch_key(scope: str, keys: Iterable[str]) -> str:
    """The scope (task instance and ledger generation) and the set of recipients, in any order."""
    digest = hashlib.sha256(scope.encode())
    ordered = sorted(keys)
    if ordered:  # each key after a NUL, hashed in one call
        digest.update(("\0" + "\0".join(ordered)).encode())
    return digest.hexdigest()[:24]


def shown_skipped(skipped: Sequence[tuple[str, str]]) -> list[str]:
    """The skipped invalid recipients as shown in XCom: at most the first 100 addresses."""
    return [value for value, _ in skipped[:SHOWN_SKIPPED]]
