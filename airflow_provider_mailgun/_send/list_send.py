"""Sending to a mailing list's address (``to_list=True``): one request, and Mailgun makes the copies.

Mailgun expands a list address in ``to`` into one copy per *subscribed* member, ``%recipient.x%``
read from each member's ``vars`` and ``%mailing_list_unsubscribe_url%`` set per member, all under
the one message id of the request. So a list send is one batch of one address: exactly-once is
about that one request (the ledger records it, a retry never sends it again), the copies are
Mailgun's, and how many there are is known only from Mailgun's events::

    problems: list[str] = []
    check_list_send(spec, 1, False, problems)  # before anything is sent: one address, nothing personal
    members = list_members(hook, "newsletter@lists.example.com")   # refuses a missing or empty list,
                                                                    # or one with no subscribed member
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_mailgun._send.fields import SendSpec
from airflow_provider_mailgun.exceptions import MailgunNotFoundError, SendInputError

if TYPE_CHECKING:
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook


def check_list_send(spec: SendSpec, recipients: int, has_variables: bool, problems: list[str]) -> None:
    """What cannot go with ``to_list=True`` (``recipients`` in ``to``), appended to ``problems``."""
    if recipients != 1:
        problems.append(
            f"to_list=True needs exactly one address in 'to', the mailing list's; got {recipients}"
        )
    if has_variables or spec.recipient_variables:
        problems.append(
            "to_list=True takes no per-recipient variables: Mailgun fills %recipient.x% from each list "
            "member's vars (set them when syncing the list)"
        )
    if spec.batch is True:
        problems.append("to_list=True sends one request that Mailgun expands; batch=True does not apply")


def list_members(hook: MailgunHook, address: str) -> int:
    """The list's member count (subscribed or not); SendInputError when there is nothing to send to
    (no such list, no members, or none of them subscribed)."""
    try:
        found = hook.lists.get(address)
    except MailgunNotFoundError:
        raise SendInputError(
            f"Nothing was sent. to_list=True, but there is no mailing list {address} on this account "
            "(create it with MailgunSyncListMembersOperator, or send to the address with to_list=False)."
        ) from None
    members = int(found.get("members_count") or 0)
    if members == 0:
        raise SendInputError(f"Nothing was sent. Mailing list {address} has no members.")
    # members_count counts unsubscribed members too, and Mailgun makes no copy for them: a list of
    # only those would take the send and deliver nothing (a delivery sensor would wait in vain).
    # One member page of one subscribed member tells, whatever the list's size.
    first = next(hook.members.pages(address, limit=1, subscribed=True), None)
    if first is None:
        raise SendInputError(
            f"Nothing was sent. Mailing list {address} has {members} member(s), none of them subscribed."
        )
    return members
