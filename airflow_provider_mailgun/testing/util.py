"""Small helpers shared by the emulator modules: dates, addresses, JSON responses and ApiError.

Example::

    >>> parse_date("Thu, 13 Oct 2011 18:02:00 +0000")
    1318528920.0
    >>> split_addresses(["Bob <bob@example.com>, carol@example.com"])
    [('Bob <bob@example.com>', 'bob@example.com', 'Bob'), ('carol@example.com', 'carol@example.com', '')]
"""

from __future__ import annotations

import calendar
import json
import re
import time
from email.utils import formatdate, getaddresses, mktime_tz, parsedate_tz
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json"

# Deliberately permissive (IDN and unicode local parts pass) but strict enough to reject what
# Mailgun rejects in practice: no "@", no dot in the domain, spaces, stray brackets.
_ADDR = r"[^\s@<>(),;:\"\[\]]+@[^\s@<>(),;:\"\[\]]+\.[^\s@<>(),;:\"\[\]]+"
_ADDR_RE = re.compile(_ADDR)
_MANY_RE = re.compile(f"(?:{_ADDR}\n)*")


class ApiError(Exception):
    """An answer in Mailgun's ``{"message": ...}`` shape, raised from a route handler.

    The app turns it into the response, so a handler states a refusal in one line::

        raise ApiError("Domain not found", 404)
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response built with ``json.dumps`` (no pydantic on the hot path)."""
    return Response(json.dumps(obj), status_code=status, media_type=JSON_TYPE, headers=headers)


def message_response(message: str, status: int = 400, **extra: Any) -> Response:
    """Mailgun's usual error/info body ``{"message": ...}``."""
    return json_response({"message": message, **extra}, status)


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")


def rfc2822(ts: float) -> str:
    """``Thu, 13 Oct 2011 18:02:00 UTC`` - the format Mailgun uses for record timestamps."""
    return formatdate(ts, usegmt=True).replace(" GMT", " UTC")


def go_time(ts: float) -> str:
    """``2023-01-02 02:14:27 +0000 UTC`` - Go's default time format, used by the tags API."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def iso_time(ts: float) -> str:
    """``2026-02-12T02:24:16.551210Z`` - Maton's timestamp format."""
    micro = int((ts - int(ts)) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{micro:06d}Z"


def floor_time(ts: float, resolution: str) -> float:
    """The start of the hour, day or month (UTC) that ``ts`` falls in."""
    tm = time.gmtime(ts)
    if resolution == "hour":
        return float(calendar.timegm((tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, 0, 0)))
    if resolution == "day":
        return float(calendar.timegm((tm.tm_year, tm.tm_mon, tm.tm_mday, 0, 0, 0)))
    return float(calendar.timegm((tm.tm_year, tm.tm_mon, 1, 0, 0, 0)))


def parse_date(value: str) -> float | None:
    """Epoch seconds from an RFC 2822 date or an epoch number; ``None`` when unparseable."""
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    try:
        return float(mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def is_yes(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("yes", "true", "1", "on")


def valid_address(addr: str) -> bool:
    return _ADDR_RE.fullmatch(addr) is not None


def split_addresses(values: list[str]) -> list[tuple[str, str, str]] | None:
    """Split repeated and/or comma-separated address fields.

    Returns ``(display, plain_address, name)`` triples, or ``None`` if any address is invalid.
    Commas inside quoted display names only take the slower stdlib parser.
    """
    joined = ",".join(values)
    if "<" not in joined and '"' not in joined and "\n" not in joined:
        # Fast path for bare addresses: one C-level regex pass validates the whole list.
        parts = [p for p in (x.strip() for x in joined.split(",")) if p]
        if parts and _MANY_RE.fullmatch("\n".join(parts) + "\n") is None:
            return None
        return [(p, p, "") for p in parts]
    out: list[tuple[str, str, str]] = []
    for value in values:
        if '"' in value:
            for name, addr in getaddresses([value]):
                if not addr and not name:
                    continue
                if not valid_address(addr):
                    return None
                out.append((f'"{name}" <{addr}>' if name else addr, addr, name))
            continue
        for part in value.split(","):
            item = part.strip()
            if not item:
                continue
            if item.endswith(">") and "<" in item:
                cut = item.rindex("<")
                name = item[:cut].strip()
                addr = item[cut + 1 : -1].strip()
            else:
                name, addr = "", item
            if not valid_address(addr):
                return None
            out.append((item, addr, name))
    return out


def dedupe(entries: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Drop repeated addresses (case-insensitive), as Mailgun silently does for ``to``."""
    lowered = [entry[1].lower() for entry in entries]
    if len(set(lowered)) == len(lowered):
        return entries
    seen: set[str] = set()
    out = []
    for entry in entries:
        key = entry[1].lower()
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def json_object(raw: str | None) -> dict[str, Any] | None:
    """A form field holding a JSON object: the dict, ``{}`` when absent, ``None`` when it is not one."""
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def int_param(value: str | None, default: int) -> int | None:
    """An integer query parameter; ``None`` when present but not an integer."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return None
