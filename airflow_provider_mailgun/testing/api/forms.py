"""Request body parsing without per-request models.

Urlencoded bodies go through ``urllib.parse.parse_qsl`` (fast, keeps repeated keys); multipart
bodies through python-multipart's streaming parser, fed the whole body at once. File parts keep
their bytes in memory because the emulator serves them back (attachments of stored messages).

Example::

    form = await read_form(request)
    form.get("from"), form.getlist("to"), form.files("attachment")
"""

from __future__ import annotations

import binascii
import gzip
import re
from dataclasses import dataclass
from mimetypes import guess_type
from urllib.parse import unquote

try:
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # python-multipart < 0.0.13 names its package "multipart"
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]
from starlette.requests import Request

from airflow_provider_mailgun.testing.util import ApiError

#: Mailgun's request size cap (52.4 MiB).
MAX_REQUEST_BYTES = int(52.4 * 1024 * 1024)
_MAX_FIELDS = 50_000
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NON_SEPARATORS = bytes(b for b in range(256) if b not in b"&=")


class FormError(ApiError):
    """Body cannot be parsed; the message is Mailgun's wording for it."""


@dataclass(slots=True)
class FilePart:
    """One multipart file part (a part that carried a ``filename``)."""

    filename: str
    content_type: str
    data: bytes


class Form:
    """Ordered multi-valued form: values are ``str`` or :class:`FilePart`."""

    __slots__ = ("_index", "content_type", "items")

    def __init__(self, items: list[tuple[str, str | FilePart]], content_type: str) -> None:
        self.items = items
        self.content_type = content_type
        index: dict[str, list[str | FilePart]] = {}
        for key, value in items:
            slot = index.get(key)
            if slot is None:
                index[key] = [value]
            else:
                slot.append(value)
        self._index = index

    def get(self, key: str) -> str | None:
        """Last text value of ``key`` (Mailgun takes the last of repeated scalar fields)."""
        for value in reversed(self._index.get(key, ())):
            if isinstance(value, str):
                return value
        return None

    def getlist(self, key: str) -> list[str]:
        return [v for v in self._index.get(key, ()) if isinstance(v, str)]

    def files(self, key: str) -> list[FilePart]:
        return [v for v in self._index.get(key, ()) if isinstance(v, FilePart)]

    def has(self, key: str) -> bool:
        return key in self._index

    def fields(self) -> dict[str, list[str | FilePart]]:
        """All values per key (do not modify)."""
        return self._index

    def keys(self) -> list[str]:
        """Distinct keys in first-seen order (what the request log records)."""
        return list(self._index)

    @property
    def is_multipart(self) -> bool:
        return self.content_type == "multipart/form-data"


async def read_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_REQUEST_BYTES:
        raise FormError("request size exceeds 52.4MiB limit", 413)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise FormError("unable to decompress gzip request body") from exc
    return body


async def read_form(request: Request) -> Form:
    """Parse a urlencoded or multipart body (an empty body gives an empty form)."""
    body = await read_body(request)
    ctype_raw = request.headers.get("content-type", "")
    ctype, params = parse_options_header(ctype_raw)
    ctype_s = ctype.decode("latin-1").lower()
    if ctype_s == "multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise FormError("malformed multipart/form-data request")
        return Form(_parse_multipart(body, boundary), ctype_s)
    if not body:
        return Form([], ctype_s)
    return Form(
        parse_urlencoded(body.decode("utf-8", "replace")), ctype_s or "application/x-www-form-urlencoded"
    )


def parse_urlencoded(text: str) -> list[tuple[str, str | FilePart]]:
    """``parse_qsl`` semantics (blank values kept), several times faster on escape-heavy bodies.

    A batch send's ``recipient-variables`` JSON is mostly percent-escapes; decoding them one by
    one in Python dominated the request cost. When every pair is a plain ``key=value`` (the
    normal case) the whole body is decoded in one C call: ``binascii.a2b_qp`` after rewriting
    ``%XX`` to quoted-printable ``=XX``, with NUL (which a body without ``%00`` cannot produce)
    standing in for the structural ``&`` and ``=``. Like Mailgun, a malformed escape is a 400.
    """
    fused = _parse_fused(text)
    if fused is not None:
        return fused
    if _BAD_ESCAPE.search(text):
        raise FormError("unable to parse request: invalid URL escape")
    out: list[tuple[str, str | FilePart]] = []
    for pair in text.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            if "%" in key or "+" in key:
                key = _unquote(key)
            out.append((key, _unquote(value) if "%" in value or "+" in value else value))
    if len(out) > _MAX_FIELDS:
        raise FormError("unable to parse request: too many fields")
    return out


def _parse_fused(text: str) -> list[tuple[str, str | FilePart]] | None:
    """The one-call decoding described above, or None when the body needs the general path."""
    if not text.isascii() or "%%" in text or "%00" in text or "\x00" in text or "\n" in text or "\r" in text:
        return None
    data = text.encode("ascii")
    separators = data.translate(None, _NON_SEPARATORS)
    if separators != b"=&" * (len(separators) // 2) + b"=":
        return None  # some pair lacks "=" or has several, or a pair is empty
    flat = data.replace(b"+", b" ").replace(b"&", b"\x00").replace(b"=", b"\x00").replace(b"%", b"=")
    decoded = binascii.a2b_qp(flat)
    # a2b_qp keeps a malformed "=XY" as "=", so any "=" not decoded from %3D is a bad escape.
    if decoded.count(b"=") != data.count(b"%3D") + data.count(b"%3d") or b"%" in data[-2:]:
        raise FormError("unable to parse request: invalid URL escape")
    parts = decoded.decode("utf-8", "replace").split("\x00")
    if len(parts) // 2 > _MAX_FIELDS:
        raise FormError("unable to parse request: too many fields")
    return list(zip(parts[0::2], parts[1::2], strict=True))


def _unquote(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    # Addresses ("bob%40example.com") are most of a send's values: one C-level replace does.
    at = text.replace("%40", "@")
    if "%" not in at:
        return at
    if "=" in text or "\r" in text or "\n" in text or not text.isascii():
        return unquote(text)  # cannot go through quoted-printable safely
    return binascii.a2b_qp(text.replace("%", "=").encode("ascii")).decode("utf-8", "replace")


def _parse_multipart(body: bytes, boundary: bytes) -> list[tuple[str, str | FilePart]]:
    items: list[tuple[str, str | FilePart]] = []
    headers: dict[bytes, bytes] = {}
    header_field = bytearray()
    header_value = bytearray()
    data = bytearray()

    def on_part_begin() -> None:
        headers.clear()
        data.clear()

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        header_field.extend(buf[start:end])

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        header_value.extend(buf[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        data.extend(buf[start:end])

    def on_part_end() -> None:
        _disp, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename:
            fname = filename.decode("utf-8", "replace")
            raw_type = headers.get(b"content-type")
            # No part Content-Type: guess from the file name, as mail clients will.
            ctype = (
                raw_type.decode("latin-1") if raw_type else guess_type(fname)[0] or "application/octet-stream"
            )
            items.append((name, FilePart(fname, ctype, bytes(data))))
        else:
            # A part without a filename is a plain field (so an "attachment" without a
            # filename is not a file and gets dropped later, like Mailgun does).
            items.append((name, data.decode("utf-8", "replace")))
        if len(items) > _MAX_FIELDS:
            raise FormError("malformed multipart/form-data request")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
        max_header_count=32,
    )
    try:
        parser.write(body)
        parser.finalize()
    except FormError:
        raise
    except Exception as exc:  # python-multipart raises several error types
        raise FormError("malformed multipart/form-data request") from exc
    return items
