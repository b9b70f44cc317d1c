"""Turning what a DAG author wrote into validated Mailgun sends: a pure plan, no I/O but file reads.

::

    plan = build_plan(SendSpec(to=[{"address": "a@x.org", "variables": {"name": "A"}}, "b@x.org"],
                               from_email="news@mg.example.com", subject="Hi %recipient.name%",
                               text="Hello"), ledger_scope="dag|run|task|-1")
    plan.batches[0].fields()      # form fields of the first request, recipient-variables included

Everything that can be wrong with the input is found before anything is sent (by the readers of
:mod:`.fields`): bad addresses (all of them, named), incompatible body fields, too many tags,
oversize attachments, unparseable JSON or delivery times, and the 16 KB limit on o:/h:/v:/t:
options. Then the recipients are cut into batches, each with a key that identifies it across tries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_mailgun._common.addresses import Address
from airflow_provider_mailgun._common.limits import MAX_RECIPIENTS_PER_REQUEST
from airflow_provider_mailgun._send.fields import (
    BATCH_KEY_VARIABLE,
    FilePart,
    Recipient,
    SendSpec,
    as_text,
    check_body,
    common_fields,
    read_files,
    read_mime,
    read_recipients,
)
from airflow_provider_mailgun._send.list_send import check_list_send
from airflow_provider_mailgun.exceptions import SendInputError

SHOWN_SKIPPED = 100


@dataclass(frozen=True)
class Batch:
    """One request: its recipients, the fields all batches share, and a deterministic key."""

    index: int
    key: str
    recipients: tuple[Recipient, ...]
    common: tuple[tuple[str, str], ...]
    personalised: bool
    variable_names: tuple[str, ...] = ()
    #: The one recipient is a mailing list: Mailgun makes the copies (see ``list_send``).
    mailing_list: bool = False

    def fields(self) -> list[tuple[str, str]]:
        """Form fields of this request (files are added by the sender)."""
        pairs = [("to", r.address.formatted()) for r in self.recipients]
        pairs.extend(self.common)
        pairs.append((f"v:{BATCH_KEY_VARIABLE}", self.key))
        if self.personalised:
            table = {
                r.address.email: {name: as_text(r.variables.get(name, "")) for name in self.variable_names}
                for r in self.recipients
            }
            pairs.append(
                ("recipient-variables", json.dumps(table, separators=(",", ":"), ensure_ascii=False))
            )
        return pairs

    @property
    def first_recipient(self) -> str:
        return self.recipients[0].address.email

    @property
    def reach(self) -> int:
        """The copies its message reaches: each recipient, and each cc and bcc (0: unknown, a list's)."""
        if self.mailing_list:
            return 0
        return len(self.recipients) + sum(1 for name, _ in self.common if name in ("cc", "bcc"))


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
    to, cc, bcc, skipped = read_recipients(spec, problems)
    mime = read_mime(spec.mime_message, problems) if spec.mime_message else None
    common = common_fields(spec, problems, needs_from=not spec.template and not spec.mime_message)
    files = read_files(spec, problems)
    check_body(spec, mime is not None, files, problems)
    personalised = _choose_batch_mode(spec, to, cc, bcc, problems)
    if spec.to_list:
        check_list_send(spec, to, problems)
    if not to and not problems:
        problems.append("no valid recipient in 'to'")
    if problems:
        raise SendInputError("Nothing was sent. " + " | ".join(problems))
    size = _batch_size(spec, personalised, len(cc) + len(bcc))
    # A stable order that does not depend on the input's: the same recipients give the same batches
    # on every try. Hashing (not sorting by address) spreads look-alike addresses, and the failures
    # they share (one bouncing domain, one suppressed prefix), evenly over the batches, so each
    # message id's delivery share reflects the campaign's.
    ordered = sorted(to, key=_spread_key) if personalised else to
    names = tuple(sorted({name for r in ordered for name in r.variables}))
    batch_common = tuple(common + _copy_recipients(cc, bcc))
    batches = []
    for index, start in enumerate(range(0, len(ordered), size)):
        chunk = tuple(ordered[start : start + size])
        batches.append(
            Batch(
                index,
                _batch_key(ledger_scope, chunk),
                chunk,
                batch_common,
                personalised,
                names,
                mailing_list=spec.to_list,
            )
        )
    return SendPlan(
        batches=tuple(batches),
        files=tuple(files),
        mime=mime,
        skipped_invalid=tuple(skipped),
        recipients=len(to) + len(cc) + len(bcc),
    )


def _choose_batch_mode(
    spec: SendSpec, to: list[Recipient], cc: list[Address], bcc: list[Address], problems: list[str]
) -> bool:
    """Batch mode (each recipient its own copy) unless one plain recipient or ``batch=False``."""
    wants_personal = any(r.variables for r in to)
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


def _spread_key(recipient: Recipient) -> bytes:
    return hashlib.blake2b(recipient.address.key.encode(), digest_size=8).digest()


def _batch_key(scope: str, recipients: Sequence[Recipient]) -> str:
    """The scope (task instance and ledger generation) and the set of recipients, in any order."""
    digest = hashlib.sha256(scope.encode())
    for key in sorted(recipient.address.key for recipient in recipients):
        digest.update(b"\0" + key.encode())
    return digest.hexdigest()[:24]


def shown_skipped(skipped: Sequence[tuple[str, str]]) -> list[str]:
    """The skipped invalid recipients as shown in XCom: at most the first 100 addresses."""
    return [value for value, _ in skipped[:SHOWN_SKIPPED]]
