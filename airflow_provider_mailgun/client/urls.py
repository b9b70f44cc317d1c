"""Where a request may go: path joining, paging-link rebasing, and the host allow-list.

Mailgun's paging links are absolute URLs on its own host. Through the Maton gateway they still
point at ``https://api.mailgun.net/...``; following them as they are would send the Maton key to
Mailgun (and fail). So::

    resolve_url(config, "https://api.mailgun.net/v3/lists/pages?page=next")
    # -> "<gateway>/mailgun/v3/lists/pages?page=next"

Any URL that is neither on the configured base nor (through Maton) on Mailgun's upstream host is
refused with :class:`UnsafeURLError` before a byte is sent; one that is, is rebuilt on the configured
root (only its path and query are kept), so no parser can read another host into it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal
from urllib.parse import SplitResult, quote, unquote, urlsplit

from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.exceptions import MailgunConfigError, UnsafeURLError

Base = Literal["api", "ctrl"]


def resolve_url(config: ClientConfig, path_or_url: str, base: Base = "api") -> str:
    """Turn an API path or a link from a reply into the URL to request, refusing foreign hosts.

    A link is never requested as received: it is checked, then rebuilt as the configured root's
    scheme and authority plus the link's path and query. Parsers disagree on malformed authorities
    (``urllib.parse`` and urllib3 read ``http://a:1\\@b:2/`` as host ``b`` and host ``a``), so a link
    whose authority holds a character RFC 3986 does not allow there is refused outright.
    """
    root = config.api_base if base == "api" else config.ctrl_base
    if root is None:
        raise MailgunConfigError(
            "This connection has no Maton control host: Maton connections only, and a private gateway "
            "needs the ctrl_url extra."
        )
    try:
        parts = urlsplit(path_or_url)
    except ValueError:  # an unclosed IPv6 bracket, say: no host can be read from it
        raise UnsafeURLError(
            f"Refusing to send credentials to a malformed link; only {_origin(root)} is configured."
        ) from None
    _refuse_dot_segments(path_or_url if path_or_url.startswith("/") else parts.path, root)
    if path_or_url.startswith("/"):
        return root + path_or_url
    if not _valid_authority(parts.netloc):
        raise UnsafeURLError(
            f"Refusing to send credentials to a link whose host part {parts.netloc[:100]!r} is not a valid "
            f"URL authority (RFC 3986); only {_origin(root)} is configured for this connection."
        )
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if _is_under(parts, root):
        return _origin(root) + tail
    if base == "api" and config.upstream_base and _is_under(parts, config.upstream_base):
        return root + tail
    raise UnsafeURLError(
        f"Refusing to send credentials to {_origin(path_or_url)}: only {_origin(root)} is configured "
        "for this connection."
    )


# RFC 3986 section 3.2: authority = [ userinfo "@" ] host [ ":" port ], with the characters each
# part may hold (unreserved, percent-encoded, sub-delims; an IP literal in brackets).
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
_AUTHORITY = re.compile(rf"(?:(?:{_PCHAR}|:)*@)?(?:\[[0-9A-Fa-f:.]+\]|{_PCHAR}+)(?::[0-9]*)?")


def _refuse_dot_segments(path: str, root: str) -> None:
    """Refuse a path with ``.`` or ``..`` segments, also percent-encoded or split by ``\\``.

    requests and httpx remove dot-segments before sending (and requests decodes ``%2e``), so
    ``<gateway>/mailgun/../other/x`` would leave the root's prefix for another app behind the
    gateway, with the key. Mailgun's own paths never hold such a segment.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    if any(part in (".", "..") for part in re.split(r"[/\\]", unquote(path))):
        raise UnsafeURLError(
            f"Refusing to send credentials to a link whose path {path[:100]!r} has '.' or '..' segments: "
            f"it could leave {root} for another path on that host."
        )


def _valid_authority(netloc: str) -> bool:
    return _AUTHORITY.fullmatch(netloc) is not None


def _is_under(target: SplitResult, root: str) -> bool:
    base = urlsplit(root)
    if _origin_key(target) != _origin_key(base):
        return False
    prefix = base.path.rstrip("/")
    return target.path == prefix or target.path.startswith(prefix + "/")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(parts: SplitResult) -> tuple[str, str | None, int | None]:
    """Scheme, host and port, the default port made explicit (``https://h`` is ``https://h:443``)."""
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: matches nothing configured
        return (parts.scheme, parts.hostname, -1)
    return (parts.scheme, parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def segment(value: str, what: str = "path segment") -> str:
    """Quote one path segment (a domain, list address, member address, tag...).

    A ``/`` inside a domain would silently hit another endpoint (Mailgun then answers
    ``200 Mailgun Magnificent API``), so it is refused here instead.
    """
    text = str(value).strip()
    if not text:
        raise MailgunConfigError(f"Empty {what}.")
    if "/" in text or "\\" in text:
        raise MailgunConfigError(f"Invalid {what} {text!r}: it must not contain '/'.")
    if text in (".", ".."):
        raise MailgunConfigError(f"Invalid {what} {text!r}: a path would drop it.")
    return quote(text, safe="@")


def strip_message_id(message_id: str) -> str:
    """Mailgun returns ids as ``<id@domain>``; events carry and filter on them without brackets."""
    return message_id.strip().removeprefix("<").removesuffix(">").strip()


_FORM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
#: Each other character of 0-255 as ``application/x-www-form-urlencoded`` writes it (as
#: ``quote_plus`` does; a character above 127 stands for one byte of the UTF-8 form).
_FORM_ESCAPE = {chr(b): "+" if b == 32 else f"%{b:02X}" for b in range(256) if chr(b) not in _FORM_SAFE}


def form_body(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``urllib.parse.urlencode(pairs)`` for text pairs, several times faster on a large batch.

    A batch send's form is about 150 KB (1,000 addresses and their recipient variables);
    ``urlencode`` quotes it one byte at a time in Python, which costs as much CPU as the rest of
    the send. Here each text is escaped one *kind* of character at a time, by ``str.replace``:
    a handful of passes in C over each text.

    >>> form_body([("to", "Ann <ann@x.org>"), ("subject", "Hi %recipient.first%")])
    b'to=Ann+%3Cann%40x.org%3E&subject=Hi+%25recipient.first%25'
    """
    return "&".join([_form_quote(name) + "=" + _form_quote(value) for name, value in pairs]).encode("ascii")


def _form_quote(text: str) -> str:
    if not text.isascii():
        text = text.encode().decode("latin-1")  # one character per UTF-8 byte, escaped below
    unsafe = set(text).difference(_FORM_SAFE)
    if not unsafe:
        return text
    for char in "%+":  # first: the escapes written below hold "%", and a space becomes "+"
        if char in unsafe:
            text = text.replace(char, _FORM_ESCAPE[char])
            unsafe.discard(char)
    for char in unsafe:
        text = text.replace(char, _FORM_ESCAPE[char])
    return text
