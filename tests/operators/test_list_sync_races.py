"""An opt-out made while a list sync runs is kept, against the emulator.

A sync reads the whole list first (minutes, for a large one), then writes. ``members.json`` upserts
carry every field, ``subscribed`` included, so a member who unsubscribes after the read and whose
name or vars change would be written back as subscribed; in a mirror with ``removal="delete"`` a
member absent from the source who unsubscribes meanwhile would be deleted, and the opt-out
forgotten. Here the member unsubscribes at the exact instant the read is done (the plan is made),
as they would by following an unsubscribe link.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.operators.test_list_sync_optouts import _stored

LIST = "news@mg.example.com"


class _UnsubscribesWhileSyncing(MailgunSyncListMembersOperator):
    leaving: tuple[str, ...] = ()

    def _plan(self, current: Any, source: Any, list_address: str) -> Any:
        plan = super()._plan(current, source, list_address)
        from airflow_provider_mailgun.hooks.mailgun import MailgunHook

        hook = MailgunHook(mailgun_conn_id=self.mailgun_conn_id)
        try:
            for address in self.leaving:
                hook.members.update(list_address, address, subscribed=False)
        finally:
            hook.close()
        return plan


@pytest.mark.parametrize("removal", ["delete", "unsubscribe"])
def test_an_opt_out_during_the_sync_is_not_overwritten_or_deleted(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, removal: str
) -> None:
    mailgun_emulator.seed_list(
        LIST,
        [
            {"address": "renamed@example.org", "name": "Old Name", "vars": {"plan": "free"}},
            {"address": "absent@example.org", "name": "Abe"},
            {"address": "stay@example.org", "name": "Stan"},
        ],
    )
    operator = _UnsubscribesWhileSyncing(
        task_id="sync", mailgun_conn_id=mailgun_conn_id, list_address=LIST, mode="mirror", removal=removal,
        max_removal_fraction=1.0, verify=True, verify_timeout=5,
        members=[
            {"address": "renamed@example.org", "name": "New Name", "vars": {"plan": "pro"}},
            {"address": "stay@example.org", "name": "Stan"},
        ],
    )  # fmt: skip
    operator.leaving = ("renamed@example.org", "absent@example.org")

    operator.execute(context={})  # type: ignore[arg-type]

    stored = _stored(mailgun_emulator)
    # The source's new name and vars are written; the opt-out is kept.
    assert stored["renamed@example.org"] == ("New Name", {"plan": "pro"}, False)
    # Absent from the source and opted out meanwhile: kept on the list, unsubscribed.
    assert stored["absent@example.org"] == ("Abe", {}, False)
    assert stored["stay@example.org"] == ("Stan", {}, True)


def test_resubscribe_still_opts_everyone_in(mailgun_emulator: MailgunEmulator, mailgun_conn_id: str) -> None:
    mailgun_emulator.seed_list(LIST, [{"address": "renamed@example.org", "name": "Old Name"}])
    operator = _UnsubscribesWhileSyncing(
        task_id="sync", mailgun_conn_id=mailgun_conn_id, list_address=LIST, resubscribe=True,
        members=[{"address": "renamed@example.org", "name": "New Name"}],
    )  # fmt: skip
    operator.leaving = ("renamed@example.org",)
    operator.execute(context={})  # type: ignore[arg-type]
    assert _stored(mailgun_emulator)["renamed@example.org"] == ("New Name", {}, True)
