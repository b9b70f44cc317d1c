"""List sync keeps what people chose and what the source does not say, against the emulator.

* An opt-out survives a mirror with ``removal="delete"``: the member absent from the source stays on
  the list, unsubscribed, and coming back in the source does not opt them in again (unless
  ``resubscribe``).
* An empty ``name`` cell in a CSV keeps the member's name, as empty var and ``subscribed`` cells do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.testing import MailgunEmulator

LIST = "news@mg.example.com"


def _stored(emu: MailgunEmulator) -> dict[str, tuple[str, dict[str, Any], bool]]:
    with emu.state.lock:
        records = dict(emu.state.lists[LIST].members.records)
    return {key: (m["name"], m["vars"], m["subscribed"]) for key, m in records.items()}


def _sync(conn_id: str, members: Any, **options: Any) -> dict[str, Any]:
    operator = MailgunSyncListMembersOperator(
        task_id="sync", mailgun_conn_id=conn_id, list_address=LIST, members=members, **options
    )
    return operator.execute(context={})  # type: ignore[arg-type]


@pytest.mark.parametrize("removal", ["delete", "unsubscribe"])
def test_an_opt_out_survives_a_mirror_and_the_members_return_to_the_source(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, removal: str
) -> None:
    mailgun_emulator.seed_list(
        LIST,
        [
            {"address": "optout@example.org", "name": "Olga", "subscribed": False},
            {"address": "gone@example.org", "name": "Gus", "subscribed": True},
            "stay@example.org",
        ],
    )
    everyone = ["optout@example.org", "gone@example.org", "stay@example.org"]
    options: dict[str, Any] = {"mode": "mirror", "removal": removal, "max_removal_fraction": 1.0}

    first = _sync(mailgun_conn_id, ["stay@example.org"], **options)
    stored = _stored(mailgun_emulator)
    # The opted-out member is not deleted: the list still remembers the opt-out.
    assert stored["optout@example.org"] == ("Olga", {}, False)
    if removal == "delete":
        assert "gone@example.org" not in stored
        assert first["removed"] == 1
    else:
        assert stored["gone@example.org"] == ("Gus", {}, False)

    # Back in the source (subscribed, as an export would say): still opted out.
    source = [{"address": address, "subscribed": True} for address in everyone]
    _sync(mailgun_conn_id, source, **options)
    stored = _stored(mailgun_emulator)
    assert stored["optout@example.org"][2] is False
    assert stored["stay@example.org"][2] is True
    if removal == "delete":
        assert stored["gone@example.org"][2] is True  # deleted earlier, so added afresh

    # Only resubscribe opts them back in.
    _sync(mailgun_conn_id, source, resubscribe=True, **options)
    assert _stored(mailgun_emulator)["optout@example.org"][2] is True


def test_an_empty_csv_name_cell_keeps_the_members_name(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    mailgun_emulator.seed_list(
        LIST,
        [
            {"address": "ann@example.org", "name": "Ann Lee", "vars": {"city": "Oslo"}},
            {"address": "bob@example.org", "name": "Bob", "vars": {"city": "Lima"}},
        ],
    )
    members = tmp_path / "members.csv"
    members.write_text(
        "address,name,subscribed,city\nann@example.org,,,Oslo\nbob@example.org,Robert,,Lima\nnew@example.org,,,Quito\n"
    )

    result = _sync(mailgun_conn_id, str(members))

    stored = _stored(mailgun_emulator)
    assert stored["ann@example.org"] == ("Ann Lee", {"city": "Oslo"}, True)  # empty cell: name kept
    assert stored["bob@example.org"] == ("Robert", {"city": "Lima"}, True)  # a name given wins
    assert stored["new@example.org"] == ("", {"city": "Quito"}, True)
    assert (result["added"], result["updated"], result["unchanged"]) == (1, 1, 1)
