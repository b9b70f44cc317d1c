"""Mailing lists and their members (account-level, ``/v3/lists``).

::

    client.lists.create("news@mg.example.com", name="News")
    for member in client.members.iter("news@mg.example.com"):      # 100 a page, the API's maximum
        ...
    client.members.upsert_many("news@mg.example.com", [{"address": "a@x.org", "vars": {"n": 1}}])

``upsert_many`` sends ``members.json`` in chunks of at most 1000; uploads of more than 100 members
are processed by Mailgun in the background (the reply carries a ``task-id``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_mailgun.client.api.base import Resource, chunks, drop_none, form_fields
from airflow_provider_mailgun.client.paging import Page, cursor_pages
from airflow_provider_mailgun.client.retrying import Safety
from airflow_provider_mailgun.client.urls import segment

MAX_MEMBERS_PAGE = 100
MAX_MEMBERS_PER_UPLOAD = 1000


class MailingLists(Resource):
    """The account's mailing lists (``/v3/lists``): ``client.lists`` or ``hook.lists``."""

    def pages(self, *, limit: int = 100) -> Iterator[Page]:
        """Pages of lists, alphabetical by address (``/v3/lists/pages``); ``items`` are list dicts."""
        return cursor_pages(self._request, "/v3/lists/pages", {"limit": limit})

    def iter(self, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        """Every list, lazily: ``{"address", "name", "description", "members_count", ...}``."""
        for page in self.pages(limit=limit):
            yield from page.items

    def create(
        self,
        address: str,
        *,
        name: str | None = None,
        description: str | None = None,
        access_level: str | None = None,
        reply_preference: str | None = None,
    ) -> dict[str, Any]:
        """Create a list; returns Mailgun's reply ``{"message", "list": {...}}``.

        :param address: the list's address, e.g. ``"news@mg.example.com"``; mail sent to it reaches
            every subscribed member.
        :param name: display name.
        :param description: free text.
        :param access_level: who may post to the list by email: ``"readonly"`` (default, only the
            API), ``"members"`` or ``"everyone"``.
        :param reply_preference: where replies go: ``"list"`` (default) or ``"sender"``.
        :raises MailgunBadRequestError: when the list exists already, or a value is invalid.

        ::

            hook.lists.create("news@mg.example.com", name="News", description="Weekly news")
        """
        fields = drop_none(
            address=address,
            name=name,
            description=description,
            access_level=access_level,
            reply_preference=reply_preference,
        )
        return self._call("POST", "/v3/lists", data=form_fields(fields))

    def get(self, address: str) -> dict[str, Any]:
        """One list's dict (``members_count`` counts members, subscribed or not).

        :raises MailgunNotFoundError: when there is no such list.
        """
        return self._call("GET", _list_path(address), unwrap="list")

    def update(self, address: str, **fields: Any) -> dict[str, Any]:
        """Change a list's fields (``name``, ``description``, ``access_level``, ``reply_preference``,
        or ``address`` to rename it); fields left out keep their values."""
        return self._call("PUT", _list_path(address), data=form_fields(drop_none(**fields)))

    def delete(self, address: str) -> dict[str, Any]:
        """Delete a list and all its members."""
        return self._call("DELETE", _list_path(address))


class ListMembers(Resource):
    """Members of a mailing list (``/v3/lists/{list}/members``): ``client.members`` or ``hook.members``.

    A member is ``{"address", "name", "vars": {...}, "subscribed": bool}``; its ``vars`` are what a
    send to the list's address fills ``%recipient.<var>%`` with.
    """

    def pages(
        self, list_address: str, *, limit: int = MAX_MEMBERS_PAGE, subscribed: bool | None = None
    ) -> Iterator[Page]:
        """Pages of members, alphabetical by address, at most 100 a page (the API's maximum);
        ``subscribed=True`` / ``False`` reads only the subscribed / unsubscribed ones."""
        if not 1 <= limit <= MAX_MEMBERS_PAGE:
            raise ValueError(f"Member page limit must be 1..{MAX_MEMBERS_PAGE}, got {limit}.")
        params: dict[str, Any] = {"limit": limit}
        if subscribed is not None:
            params["subscribed"] = "yes" if subscribed else "no"
        return cursor_pages(self._request, f"{_list_path(list_address)}/members/pages", params)

    def iter(self, list_address: str, **options: Any) -> Iterator[dict[str, Any]]:
        """Every member, lazily; options as :meth:`pages` (``subscribed=True``, ``limit``)."""
        for page in self.pages(list_address, **options):
            yield from page.items

    def add(
        self,
        list_address: str,
        address: str,
        *,
        name: str | None = None,
        vars: Mapping[str, Any] | None = None,
        subscribed: bool | None = None,
        upsert: bool = False,
    ) -> dict[str, Any]:
        """Add one member; with ``upsert=True`` an existing member is updated instead of refused.

        :param address: ``"ann@example.org"`` or ``"Ann <ann@example.org>"``.
        :param vars: the member's variables (``%recipient.<name>%`` in sends to the list).
        :param subscribed: default True.
        :raises MailgunBadRequestError: when the member exists and ``upsert`` is False.

        ::

            hook.members.add("news@mg.example.com", "ann@example.org", name="Ann",
                             vars={"first_name": "Ann"}, upsert=True)
        """
        fields = drop_none(address=address, name=name, vars=vars, subscribed=subscribed, upsert=upsert)
        # Without upsert a repeated add is an error, so only an upsert is safe to retry.
        safety = Safety.SAFE if upsert else Safety.UNSAFE
        return self._call(
            "POST", f"{_list_path(list_address)}/members", data=form_fields(fields), safety=safety
        )

    def get(self, list_address: str, address: str) -> dict[str, Any]:
        """One member's dict; :class:`MailgunNotFoundError` when not on the list."""
        return self._call("GET", _member_path(list_address, address), unwrap="member")

    def update(self, list_address: str, address: str, **fields: Any) -> dict[str, Any]:
        """Change a member's ``name``, ``vars``, ``subscribed`` or ``address``; others keep their values."""
        data = form_fields(drop_none(**fields))
        return self._call("PUT", _member_path(list_address, address), data=data)

    def delete(self, list_address: str, address: str) -> dict[str, Any]:
        """Remove a member from the list (to keep them but stop mail, update ``subscribed=False``)."""
        return self._call("DELETE", _member_path(list_address, address))

    def upsert_many(
        self, list_address: str, members: Sequence[Mapping[str, Any] | str], *, upsert: bool = True
    ) -> list[dict[str, Any]]:
        """Bulk add or update through ``members.json``, at most 1000 a call; one reply per call."""
        replies = []
        for chunk in chunks(members, MAX_MEMBERS_PER_UPLOAD):
            replies.append(self.upload_chunk(list_address, chunk, upsert=upsert))
        return replies

    def upload_chunk(
        self, list_address: str, members: Sequence[Mapping[str, Any] | str], *, upsert: bool = True
    ) -> dict[str, Any]:
        """One ``members.json`` call (at most 1000 members); an upsert is safe to retry."""
        if len(members) > MAX_MEMBERS_PER_UPLOAD:
            raise ValueError(f"At most {MAX_MEMBERS_PER_UPLOAD} members per upload, got {len(members)}.")
        data = [
            ("members", json.dumps(list(members), separators=(",", ":"), ensure_ascii=False)),
            ("upsert", "yes" if upsert else "no"),
        ]
        return self._call("POST", f"{_list_path(list_address)}/members.json", data=data, safety=Safety.SAFE)


def _list_path(address: str) -> str:
    return f"/v3/lists/{segment(address, 'list address')}"


def _member_path(list_address: str, address: str) -> str:
    return f"{_list_path(list_address)}/members/{segment(address, 'member address')}"
