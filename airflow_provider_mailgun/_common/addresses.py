"""Email address checks shared by every operator: syntax (email-validator), names, duplicates.

::

    checked = check_addresses(["Ann <ann@example.org>", "ANN@example.org", "not-an-address"])
    checked.valid      # [Address(email='ann@example.org', name='Ann')]  (duplicate dropped)
    checked.invalid    # [('not-an-address', 'An email address must have an @-sign.')]
    raise ValueError(offenders_message("recipient", checked.invalid))
    split_addresses('"Doe, Jane" <jane@x.org>; b@x.org')   # ['"Doe, Jane" <jane@x.org>', 'b@x.org']
    Address("jane@x.org", "Doe, Jane").formatted()         # '"Doe, Jane" <jane@x.org>'

email-validator is the authority on syntax. Addresses of the everyday shape (dot-atom ASCII local
part, ASCII domain with a letter TLD) are accepted by a pre-check that only ever accepts what
email-validator accepts (a property test holds it to that); everything else goes through
email-validator itself. That keeps a 100,000-recipient check well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from functools import cache, lru_cache
from typing import Any, NamedTuple

from airflow_provider_mailgun.exceptions import InvalidAddressError

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
# RFC 5322 specials that cannot stand unquoted in a display name ('.' is allowed by obs-phrase).
_NEEDS_QUOTES = re.compile(r'[,;:<>@()\[\]"\\]')
# What makes a value ``Name <address>`` (or a comment) rather than a bare address.
_NAME_ADDR = re.compile(r'[<>()"]')
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
SHOWN_OFFENDERS = 10


class _AddressFields(NamedTuple):
    email: str
    name: str
    key: str


class Address(_AddressFields):
    """A checked address: ``email`` normalised (domain lower-cased), optional display ``name``.

    ``key`` is its identity for duplicates (Mailgun treats addresses case-insensitively). An
    immutable tuple rather than a frozen dataclass: a send reads each of 100,000 recipients twice,
    and a tuple is built in a third of the time.
    """

    __slots__ = ()

    def __new__(cls, email: str, name: str = "") -> Address:
        return tuple.__new__(cls, (email, name, email.lower()))

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # (key is derived)
        return self.email, self.name

    def _replace(self, **changes: str) -> Address:  # type: ignore[override]  # (key is derived)
        """A copy with another ``email`` and/or ``name``; its ``key`` follows the email."""
        unknown = set(changes) - {"email", "name"}
        if unknown:
            raise ValueError(f"Address has no field to replace named {', '.join(sorted(unknown))}")
        return Address(changes.get("email", self.email), changes.get("name", self.name))

    __replace__ = _replace  # copy.replace() (Python 3.13)

    def __repr__(self) -> str:
        return f"Address(email={self.email!r}, name={self.name!r})"

    def formatted(self) -> str:
        """``Name <email>`` when there is a name, else the bare address.

        A name holding a separator or another special character is quoted, so a reader of the
        header (Mailgun splits ``to`` on commas) sees one address: ``"Doe, Jane" <jane@x.org>``.
        """
        if not self.name:
            return self.email
        if _NEEDS_QUOTES.search(self.name):
            escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}" <{self.email}>'
        return f"{self.name} <{self.email}>"


@dataclass
class CheckedAddresses:
    valid: list[Address]
    invalid: list[tuple[str, str]]
    duplicates: int = 0


def parse_address(value: str, name: str = "") -> Address:
    """Check one address, given bare or as ``Name <address>``; raises InvalidAddressError."""
    text = value.strip() if isinstance(value, str) else ""
    if "\n" in name or "\r" in name:
        raise InvalidAddressError("line breaks are not allowed in an address or name")
    plain = _plain_email(text)  # the everyday shape, checked in one regular expression
    if plain is not None:
        return Address(plain, name.strip())
    if not text:
        raise InvalidAddressError("empty address")
    if "\n" in text or "\r" in text:
        raise InvalidAddressError("line breaks are not allowed in an address or name")
    if _NAME_ADDR.search(text):
        # Read as an address list: a second address, or text after the first, is an error here as
        # in newer Pythons' parseaddr (older ones return the first part and drop the rest unsaid).
        entries = getaddresses([text])
        if len(entries) > 1:
            raise InvalidAddressError("more than one address, or text after the address")
        # (A strict getaddresses gives up on a comma in a comment; parseaddr reads that one.)
        parsed_name, parsed_email = entries[0] if entries and entries[0][1] else parseaddr(text)
        if not parsed_email or "@" not in parsed_email:
            raise InvalidAddressError("cannot parse 'Name <address>'")
        name, text = name or parsed_name, parsed_email
    return Address(_valid_email(text), name.strip())


def _plain_email(text: str) -> str | None:
    """The normalised address when ``text`` has the everyday shape; None: ask email-validator."""
    if len(text) <= MAX_ADDRESS and _PLAIN_ADDRESS.match(text):
        local, _, domain = text.partition("@")  # the pattern allows one "@" only
        lowered = _plain_domain(domain)
        if lowered is not None and len(local) <= MAX_LOCAL_PART:
            return f"{local}@{lowered}"
    return None


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> str | None:
    """The domain lower-cased, unless email-validator has more to say (a campaign has few domains)."""
    tld = domain.rpartition(".")[2].lower()
    # "--" in a label is IDNA territory (xn--...): leave those to email-validator.
    if tld in _special_use_domains() or "--" in domain:
        return None
    return domain.lower()


def _valid_email(text: str) -> str:
    plain = _plain_email(text)
    if plain is not None:
        return plain
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise InvalidAddressError(str(err)) from None


@cache
def _special_use_domains() -> frozenset[str]:
    # Imported on first use: email-validator is not needed to import an operator module.
    import email_validator

    names: Any = email_validator.SPECIAL_USE_DOMAIN_NAMES
    return frozenset(names)


def split_addresses(value: str | Iterable[str] | None) -> list[str]:
    """Single addresses from a list and/or comma- or semicolon-separated strings.

    Splits as :func:`email.utils.getaddresses` does (and on ``;`` too): a separator inside a quoted
    display name (with its backslash escapes), a comment in parentheses or angle brackets belongs to
    the address.

    >>> split_addresses('a@x.org; "Doe, Jane" <jane@x.org>, ')
    ['a@x.org', '"Doe, Jane" <jane@x.org>']
    """
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    parts: list[str] = []
    for item in values:
        if not isinstance(item, str):
            raise ValueError(f"An email address must be a string, got {type(item).__name__}.")
        parts.extend(_split_one(item))
    return parts


def _split_one(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    bracketed = comment = 0
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or comment):
            escaped = True
        elif char == '"' and not comment and not bracketed:
            quoted = not quoted
        elif not quoted and not comment and char in "<>":
            bracketed = max(0, bracketed + (1 if char == "<" else -1))
        elif not quoted and not bracketed and char in "()":
            comment = max(0, comment + (1 if char == "(" else -1))
        elif char in ",;" and not (quoted or bracketed or comment):
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def check_addresses(values: Iterable[str | Address]) -> CheckedAddresses:
    """Check many addresses; keeps the first of case-insensitive duplicates, in order."""
    result = CheckedAddresses(valid=[], invalid=[])
    seen: set[str] = set()
    for value in values:
        try:
            address = value if isinstance(value, Address) else parse_address(value)
        except InvalidAddressError as err:
            result.invalid.append((str(value), str(err)))
            continue
        if address.key in seen:
            result.duplicates += 1
            continue
        seen.add(address.key)
        result.valid.append(address)
    return result


def offenders_message(what: str, offenders: list[tuple[str, str]], limit: int = SHOWN_OFFENDERS) -> str:
    """One line naming the first ``limit`` offenders and how many there are in all.

    >>> offenders_message("recipient", [("x", "An email address must have an @-sign.")])
    "1 invalid recipient: 'x' (An email address must have an @-sign.)"
    """
    count = len(offenders)
    shown = "; ".join(f"{value!r} ({reason})" for value, reason in offenders[:limit])
    more = f"; and {count - limit} more" if count > limit else ""
    plural = "" if count == 1 else "s"
    return f"{count} invalid {what}{plural}: {shown}{more}"
