"""Mailing lists ``/v3/lists...`` and members (pages, single, ``members.json``, ``members.csv``).

Example::

    post(f"{emu.url}/v3/lists", data={"address": "news@mg.example.com"})
    post(f"{emu.url}/v3/lists/news@mg.example.com/members.json",
         data={"members": json.dumps(["a@x.com", {"address": "b@x.com", "vars": {"n": 1}}]), "upsert": "yes"})
    get(f"{emu.url}/v3/lists/news@mg.example.com/members/pages?limit=100")
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_mailgun.testing.api.context import context, cursor_page, form_of, found
from airflow_provider_mailgun.testing.api.forms import Form
from airflow_provider_mailgun.testing.model.lists import (
    ACCESS_LEVELS,
    MAX_MEMBERS_PAGE,
    MAX_UPLOAD,
    REPLY_PREFERENCES,
    SYNC_UPLOAD,
    MailingList,
    MemberError,
    make_member,
    parse_subscribed,
    parse_vars,
)
from airflow_provider_mailgun.testing.model.paging import cursor_links, slice_sorted
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import int_param, is_yes, json_response, message_response

MAX_CSV_BYTES = 5 * 1024 * 1024


def _list_of(state: EmulatorState, address: str) -> MailingList:
    """The mailing list (call with ``state.lock`` held); a 404 in Mailgun's words when there is none."""
    return found(state.lists, address, f"Mailing list {address} not found")


def _list_fields(form: Form, mlist: MailingList) -> str | None:
    """Apply list fields from a create/update form; returns an error message or None."""
    level = form.get("access_level")
    if level is not None:
        if level not in ACCESS_LEVELS:
            return f"Invalid access level '{level}'. It can be any of: 'readonly', 'members', 'everyone'."
        mlist.access_level = level
    pref = form.get("reply_preference")
    if pref is not None:
        if pref not in REPLY_PREFERENCES:
            return f"Invalid reply preference '{pref}'. It can be any of: 'list', 'sender'."
        mlist.reply_preference = pref
    for name in ("name", "description"):
        value = form.get(name)
        if value is not None:
            setattr(mlist, name, value)
    return None


def routes(state: EmulatorState) -> list[Route]:
    async def lists_pages(request: Request) -> Response:
        page, limit = cursor_page(request, max_limit=MAX_UPLOAD)
        pivot = request.query_params.get("address")
        with state.lock:
            items = [
                state.lists[k].as_dict()
                for k in slice_sorted(sorted(state.lists), page, pivot.lower() if pivot else pivot, limit)
            ]
        shown = [i["address"] for i in items]
        links = cursor_links(context(request).base_url, "/v3/lists/pages", "address", limit, shown, pivot)
        return json_response({"items": items, "paging": links})

    async def lists_legacy(request: Request) -> Response:
        skip = int_param(request.query_params.get("skip"), 0) or 0
        limit = int_param(request.query_params.get("limit"), 100) or 100
        with state.lock:
            all_lists = [state.lists[k].as_dict() for k in sorted(state.lists)]
        return json_response({"total_count": len(all_lists), "items": all_lists[skip : skip + limit]})

    async def create_list(request: Request) -> Response:
        form = await form_of(request)
        address = (form.get("address") or "").strip().lower()
        if not address:
            return message_response("Missing mandatory parameter: address")
        with state.lock:
            if address in state.lists:
                return message_response(f"Mailing list {address} already exists")
            mlist = MailingList(address=address, created_at=state.now())
            error = _list_fields(form, mlist)
            if error:
                return message_response(error)
            state.lists[address] = mlist
            body = {"message": "Mailing list has been created", "list": mlist.as_dict()}
        return json_response(body)

    async def one_list(request: Request) -> Response:
        address = request.path_params["address"].lower()
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            mlist = _list_of(state, address)
            if request.method == "GET":
                return json_response({"list": mlist.as_dict()})
            if request.method == "DELETE":
                del state.lists[address]
                return json_response({"address": address, "message": "Mailing list has been removed"})
            assert form is not None
            error = _list_fields(form, mlist)
            if error:
                return message_response(error)
            new_address = (form.get("address") or "").strip().lower()
            if new_address and new_address != address:
                del state.lists[address]
                mlist.address = new_address
                state.lists[new_address] = mlist
            return json_response({"message": "Mailing list has been updated", "list": mlist.as_dict()})

    async def members_pages(request: Request) -> Response:
        address = request.path_params["address"].lower()
        page, limit = cursor_page(request, max_limit=MAX_MEMBERS_PAGE)
        pivot = request.query_params.get("address")
        sub = request.query_params.get("subscribed")
        want = is_yes(sub)

        def keep_member(member: dict[str, Any]) -> bool:
            return bool(member["subscribed"] == want)

        keep = None if sub is None else keep_member
        with state.lock:
            mlist = _list_of(state, address)
            keys = mlist.members.page(page, pivot.lower() if pivot else pivot, limit, keep=keep)
            items = [dict(mlist.members.records[k]) for k in keys]
        extra = {"subscribed": sub} if sub is not None else None
        path = f"/v3/lists/{address}/members/pages"
        links = cursor_links(context(request).base_url, path, "address", limit, keys, pivot, extra)
        return json_response({"items": items, "paging": links})

    async def members_legacy(request: Request) -> Response:
        address = request.path_params["address"].lower()
        skip = int_param(request.query_params.get("skip"), 0) or 0
        limit = min(int_param(request.query_params.get("limit"), 100) or 100, MAX_MEMBERS_PAGE)
        with state.lock:
            mlist = _list_of(state, address)
            keys = mlist.members.sorted_keys()
            items = [dict(mlist.members.records[k]) for k in keys[skip : skip + limit]]
        return json_response({"total_count": len(keys), "items": items})

    async def add_member(request: Request) -> Response:
        address = request.path_params["address"].lower()
        form = await form_of(request)
        key, member = make_member({k: form.get(k) for k in ("address", "name", "vars", "subscribed")})
        with state.lock:
            mlist = _list_of(state, address)
            exists = key in mlist.members
            if exists and not is_yes(form.get("upsert")):
                return message_response(f"Address already exists '{member['address']}'")
            mlist.members.put(key, member)
        verb = "updated" if exists else "created"
        return json_response({"member": member, "message": f"Mailing list member has been {verb}"})

    async def one_member(request: Request) -> Response:
        address = request.path_params["address"].lower()
        member_key = request.path_params["member"].strip().lower()
        form = await form_of(request) if request.method == "PUT" else None
        with state.lock:
            mlist = _list_of(state, address)
            member = found(
                mlist.members, member_key, f"Member {member_key} of mailing list {address} not found"
            )
            if request.method == "GET":
                return json_response({"member": member})
            if request.method == "DELETE":
                mlist.members.remove(member_key)
                body = {
                    "member": {"address": member["address"]},
                    "message": "Mailing list member has been deleted",
                }
                return json_response(body)
            assert form is not None
            updated = _updated_member(member, form)
            mlist.members.remove(member_key)
            mlist.members.put(updated["address"].lower(), updated)
        return json_response({"member": updated, "message": "Mailing list member has been updated"})

    async def upload(request: Request) -> Response:
        address = request.path_params["address"].lower()
        is_csv = request.scope["path"].endswith(".csv")
        form = await form_of(request)
        entries = _csv_entries(form) if is_csv else _json_entries(form)
        upsert = is_yes(form.get("upsert"))
        with state.lock:
            mlist = found(state.lists, address, f"Mailing list '{address}' not found")
            if len(entries) <= SYNC_UPLOAD and not is_csv:
                mlist.apply(entries, upsert)
                return json_response({"list": mlist.as_dict(), "message": "Mailing list has been updated"})
            body = {
                "list": mlist.as_dict(),
                "task-id": state.new_uuid().replace("-", ""),
                "message": "Mailing list upload started in background",
            }
            if state.config.upload_delay > 0:

                def apply_later(target: MailingList = mlist) -> None:
                    target.apply(entries, upsert)

                state.schedule(state.config.upload_delay, apply_later)
            else:
                mlist.apply(entries, upsert)
        return json_response(body)

    return [
        Route("/v3/lists/pages", lists_pages, methods=["GET"]),
        Route("/v3/lists", lists_legacy, methods=["GET"]),
        Route("/v3/lists", create_list, methods=["POST"]),
        Route("/v3/lists/{address}/members/pages", members_pages, methods=["GET"]),
        Route("/v3/lists/{address}/members.json", upload, methods=["POST"]),
        Route("/v3/lists/{address}/members.csv", upload, methods=["POST"]),
        Route("/v3/lists/{address}/members", members_legacy, methods=["GET"]),
        Route("/v3/lists/{address}/members", add_member, methods=["POST"]),
        Route("/v3/lists/{address}/members/{member}", one_member, methods=["GET", "PUT", "DELETE"]),
        Route("/v3/lists/{address}", one_list, methods=["GET", "PUT", "DELETE"]),
    ]


def _updated_member(member: dict[str, Any], form: Form) -> dict[str, Any]:
    """Partial update: fields not sent are left untouched."""
    updated = dict(member)
    if form.get("address"):
        parsed = make_member({"address": form.get("address")})[1]
        updated["address"] = parsed["address"]
    if form.get("name") is not None:
        updated["name"] = form.get("name")
    if form.get("vars") is not None:
        updated["vars"] = parse_vars(form.get("vars"))
    if form.get("subscribed") is not None:
        updated["subscribed"] = parse_subscribed(form.get("subscribed"))
    return updated


def _json_entries(form: Form) -> list[tuple[str, dict[str, Any]]]:
    raw = form.get("members")
    if raw is None:
        raise MemberError("Missing mandatory parameter: members")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise MemberError("'members' parameter is not a valid JSON array") from exc
    if not isinstance(data, list):
        raise MemberError("'members' parameter is not a valid JSON array")
    if len(data) > MAX_UPLOAD:
        raise MemberError(f"Too many members, max is {MAX_UPLOAD}")
    return [make_member(entry) for entry in data]


def _csv_entries(form: Form) -> list[tuple[str, dict[str, Any]]]:
    files = form.files("members")
    if not files:
        raise MemberError("Missing mandatory parameter: members")
    if len(files[0].data) > MAX_CSV_BYTES:
        raise MemberError("CSV file is too big, max allowed size is 5 MB")
    default_sub = form.get("subscribed")
    rows = csv.DictReader(io.StringIO(files[0].data.decode("utf-8", "replace")))
    entries = []
    for row in rows:
        data = {k: v for k, v in row.items() if k}
        data.setdefault("subscribed", default_sub)
        entries.append(make_member(data))
    return entries
