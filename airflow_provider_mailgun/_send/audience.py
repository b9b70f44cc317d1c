"""The ``to`` recipients of a send, checked in one pass and kept as positions in the input itself.

::

    problems: list[str] = []
    audience = survey(spec.to, spec.recipient_variables, {"first_name"}, problems, on_invalid="fail")
    audience.order                     # positions in the input, in send order, duplicates dropped
    audience.read(audience.order[0])   # (Address, variables) of the first recipient to send to

A recipient is an address string or a dict with the keys of :data:`RECIPIENT_KEYS`; ``vars`` is
the same as ``variables`` (the name list members use). The pass checks every address, the shape of
every dict, and that each ``%recipient.x%`` placeholder the message uses is defined for every
recipient. Nothing of a recipient is copied: a batch reads its recipients again when it is sent
(:class:`~.plan.Batch`), so the memory a send needs does not grow with its audience beyond one
position per recipient.

The send order is the one batch keys rely on: recipients sorted by a hash of their lower-cased
address, ties in input order, so the same recipients give the same batches on every try.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from airflow_provider_mailgun._common.addresses import Address, parse_address, split_addresses
from airflow_provider_mailgun._send.fields import as_items, as_text, json_mapping
from airflow_provider_mailgun.exceptions import InvalidAddressError

#: The keys a recipient dict may have; ``email`` is another name for ``address``, ``vars`` for
#: ``variables``.
RECIPIENT_KEYS = ("address", "email", "name", "variables", "vars")
_KNOWN_KEYS = frozenset(RECIPIENT_KEYS)
#: What Mailgun replaces per recipient (``%recipient%`` and its built-ins need no variables).
PLACEHOLDER = re.compile(r"%recipient\.([^%\s]+)%")
SHOWN = 10
SHOWN_LACKING = 5


class RecipientShapeError(ValueError):
    """A recipient dict that cannot be read (unknown key, both variable keys, variables not a dict)."""


def read_recipient(item: Any) -> tuple[Address, Mapping[str, Any]]:
    """One ``to`` item's address and variables; InvalidAddressError or RecipientShapeError."""
    if type(item) is not dict and not isinstance(item, Mapping):
        return parse_address(item if type(item) is str else str(item)), {}
    if not _KNOWN_KEYS.issuperset(item):
        unknown = next(key for key in item if key not in _KNOWN_KEYS)
        raise RecipientShapeError(
            f"unknown key {unknown!r} in recipient {_shown(item)!r} (accepted: {', '.join(RECIPIENT_KEYS)})"
        )
    raw = item.get("variables")
    other = item.get("vars")
    if raw is None:
        raw = other
    elif other is not None:
        raise RecipientShapeError(
            f"recipient {_shown(item)!r} has both 'variables' and 'vars' (the same thing): give one"
        )
    text = item.get("address") or item.get("email") or ""
    name = item.get("name") or ""
    address = parse_address(
        text if type(text) is str else str(text), name if type(name) is str else str(name)
    )
    if type(raw) is dict:
        return address, raw
    found: list[str] = []
    variables = json_mapping(raw, f"variables of {address.email}", found)
    if found:
        raise RecipientShapeError(found[0])
    return address, variables


def placeholders(values: Sequence[str]) -> set[str]:
    """The names of the ``%recipient.x%`` placeholders in ``values``."""
    return {name for value in values if "%recipient." in value for name in PLACEHOLDER.findall(value)}


class Audience:
    """The checked ``to`` recipients: the input's items and the positions to send, in order."""

    __slots__ = ("extra", "has_variables", "items", "names", "order")

    def __init__(
        self,
        items: Sequence[Any],
        extra: Mapping[str, Any],
        order: array[int],
        names: tuple[str, ...],
        has_variables: bool,
    ) -> None:
        self.items = items
        self.extra = extra
        self.order = order
        #: Every variable name any recipient has (each recipient's table fills the missing ones).
        self.names = names
        self.has_variables = has_variables

    def read(self, position: int) -> tuple[Address, Mapping[str, Any]]:
        """The address and variables (``recipient_variables`` merged) of the item at ``position``."""
        address, variables = read_recipient(self.items[position])
        if self.extra:
            personal = self.extra.get(address.key)
            if isinstance(personal, Mapping):
                variables = {**personal, **variables}
        return address, variables

    def keys(self) -> set[str]:
        return {self.read(position)[0].key for position in self.order}


def survey(
    value: Any,
    recipient_variables: Any,
    used: Collection[str],
    problems: list[str],
    invalid: list[tuple[str, str]],
    *,
    allowed_missing: Collection[str] | bool = False,
) -> Audience:
    """Check every ``to`` recipient once; see the module docstring.

    ``used``: the placeholder names the message uses; each must be defined for every recipient
    unless ``allowed_missing`` is True or names it. Invalid addresses go to ``invalid``, every other
    problem to ``problems``.
    """
    extra_given = json_mapping(recipient_variables, "recipient_variables", problems)
    extra = {_address_key(k): v for k, v in extra_given.items()}
    # A tuple of the caller's list (8 bytes a recipient): a list changed after this check (reused,
    # sorted, an item replaced) cannot put an unchecked recipient, or another batch key, into a send.
    items = tuple(as_items(value, split_addresses))
    if allowed_missing is True:
        check: tuple[str, ...] = ()
    else:
        allowed = {allowed_missing} if isinstance(allowed_missing, str) else set(allowed_missing or ())
        check = tuple(sorted(set(used) - allowed))
    shape: list[str] = []
    shape_count = 0
    lacking: dict[str, list[int]] = {name: [] for name in check}
    lacking_count = dict.fromkeys(check, 0)
    names: set[str] = set()
    packed: list[int] = []
    shift = max(1, len(items).bit_length())
    blake2b = hashlib.blake2b
    every_name = frozenset(check)
    for position, item in enumerate(items):
        try:
            address, variables = read_recipient(item)
        except InvalidAddressError as err:
            invalid.append((_shown(item), str(err)))
            continue
        except RecipientShapeError as err:
            shape_count += 1
            if len(shape) < SHOWN:
                shape.append(str(err))
            continue
        if extra:
            personal = extra.get(address.key)
            if isinstance(personal, Mapping):
                variables = {**personal, **variables}
        if not sendable(address.name) or (variables and not _sendable_variables(variables)):
            shape_count += 1
            if len(shape) < SHOWN:
                shape.append(f"recipient {address.email!r} has a name or variables {NOT_UTF8}")
            continue
        if variables:
            names.update(variables)
        if not every_name.issubset(variables):  # the usual recipient has them all: one test
            for name in check:
                if name not in variables:
                    lacking_count[name] += 1
                    if len(lacking[name]) < SHOWN_LACKING:
                        lacking[name].append(position)
        spread = blake2b(address.key.encode(), digest_size=8).digest()
        packed.append(int.from_bytes(spread, "big") << shift | position)
    if shape:
        more = f"; and {shape_count - len(shape)} more" if shape_count > len(shape) else ""
        problems.append("; ".join(shape) + more)
    packed.sort()
    order, dropped = _unique(packed, shift, items)
    del packed
    # Sorted as text: a dict may mix number and text names (JSON writes both as text).
    audience = Audience(items, extra, order, tuple(sorted(names, key=str)), bool(names))
    for name in check:
        if lacking_count[name]:
            message = _lacking(audience, name, lacking[name], lacking_count[name], dropped)
            if message:
                problems.append(message)
    return audience


def _unique(packed: list[int], shift: int, items: Sequence[Any]) -> tuple[array[int], list[int]]:
    """Positions in send order, keeping the first (in input order) of case-insensitive duplicates;
    and the positions of the duplicates dropped.

    Equal addresses have equal hashes, so their entries are neighbours, in input order.
    """
    mask = (1 << shift) - 1
    order: array[int] = array("I")
    dropped: list[int] = []
    previous = -1
    run: set[str] = set()
    for entry in packed:
        spread = entry >> shift
        position = entry & mask
        if spread == previous:
            if not run:
                run.add(read_recipient(items[order[-1]])[0].key)
            key = read_recipient(items[position])[0].key
            if key in run:
                dropped.append(position)
                continue
            run.add(key)
        else:
            previous = spread
            run.clear()
        order.append(position)
    return order, dropped


def _lacking(audience: Audience, name: str, positions: list[int], count: int, dropped: list[int]) -> str:
    """The problem of a placeholder some recipients lack (duplicates dropped do not count)."""
    if dropped:
        gone = set(dropped)
        count -= sum(1 for p in dropped if name not in audience.read(p)[1])
        positions = [p for p in positions if p not in gone]
        if not count:
            return ""
    total = len(audience.order)
    if count >= total or name not in audience.names:
        return (
            f"placeholder %recipient.{name}% is used but no recipient defines {name!r}: it would be "
            "mailed literally; give each recipient variables (or 'vars') with it, or set "
            "allow_missing_recipient_vars to send it anyway"
        )
    shown = ", ".join(audience.read(p)[0].email for p in positions)
    return (
        f"placeholder %recipient.{name}% is not defined for {count} of {total} recipients "
        f"(first: {shown}); they would get it empty; define it for them, or set "
        f"allow_missing_recipient_vars=[{name!r}] to send it anyway"
    )


#: Why some text is refused: a form body is UTF-8, and a lone surrogate (``json.loads`` reads
#: ``"\ud800"`` into one) has no UTF-8 form; its request would fail after earlier batches went out.
NOT_UTF8 = "that cannot be sent: text with a lone surrogate has no UTF-8 form"


def sendable(text: str) -> bool:
    """Whether ``text`` can go into a request (UTF-8); ASCII, the usual case, is checked in C."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _sendable_variables(variables: Mapping[str, Any]) -> bool:
    for name, value in variables.items():
        if (type(name) is not str or not name.isascii()) and not sendable(str(name)):
            return False
        kind = type(value)
        if kind is str:
            if not value.isascii() and not sendable(value):
                return False
        elif kind not in _ASCII_KINDS and not sendable(as_text(value)):
            return False
    return True


#: Values whose text (JSON) is always ASCII.
_ASCII_KINDS = frozenset({int, float, bool, type(None)})


def _address_key(written: Any) -> str:
    """A ``recipient_variables`` key as the address it names is keyed once checked.

    email-validator normalises what the author wrote (an IDN domain to unicode, a decomposed local
    part to NFC): the key is normalised the same way, so the author's spelling finds its recipient.
    """
    text = str(written).strip()
    if text.isascii() and "--" not in text:  # the usual key: only lower-casing to do (as checked)
        return text.lower()
    try:
        return parse_address(text).key
    except InvalidAddressError:
        return text.lower()


def _shown(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("address") or item.get("email") or item)
    return str(item)
