"""The web inbox's message search: a small query language and cursor paging over stored copies.

A query is words separated by spaces (quotes group words); every word must match:

* ``to:bob``       recipient address or display name contains ``bob``;
  ``to:bob@example.com`` (a whole address) is an exact match found through the recipient index
* ``subject:june`` subject (after ``%recipient.x%`` substitution) contains ``june``
* ``tag:newsletter`` a tag equals ``newsletter``
* ``domain:mg.example.com`` sent from that domain
* ``status:failed``  the copy has an event of that name (accepted, delivered, failed, complained)
* ``id:<message id>`` sent as that message (angle brackets optional, case kept); several ``id:``
  words match any of those messages (a copy has one id), which is how a task's link shows its send
* a bare word matches a recipient, the subject or a tag

Copies are numbered in send order, so "newest first" is descending copy index and a page is a
bisect in the ascending list of matches. Without a query that list is just ``range(total)``. With
one, a :class:`SearchCache` keeps the matches of recent queries and only scans the copies stored
since the last look (stored messages never change, they are only appended until a reset), so
paging and live refreshes of a search stay cheap with 100,000 copies. Checks that depend only on
the send request (domain, tags, a subject without placeholders) are made once per batch. A whole
address or a status is looked up in the event log's indexes instead (events keep coming, so
those results are not cached).

Example::

    cache = SearchCache()
    with state.lock:
        page = cache.page(state, parse_query('to:bob tag:newsletter "big news"'), before=None, limit=50)
    page.copies          # newest first
"""

from __future__ import annotations

import shlex
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from airflow_provider_mailgun.testing.model.events import ACCEPTED, EventStore
from airflow_provider_mailgun.testing.model.messages import Batch, MessageStore, Substituter
from airflow_provider_mailgun.testing.model.state import EmulatorState

_FIELDS = ("to", "subject", "tag", "domain", "status", "id")


@dataclass(frozen=True)
class Query:
    """Lower-cased search terms per field; ``words`` match any of recipient, subject or tag."""

    to: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    id: tuple[str, ...] = ()  # message ids as sent (not lower-cased), without angle brackets
    words: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not any((self.to, self.subject, self.tag, self.domain, self.status, self.id, self.words))


def parse_query(text: str | None) -> Query:
    """Split a search box value into a :class:`Query` (unbalanced quotes fall back to spaces)."""
    if not text or not text.strip():
        return Query()
    try:
        parts = shlex.split(text)
    except ValueError:
        parts = text.split()
    found: dict[str, list[str]] = {name: [] for name in (*_FIELDS, "words")}
    for part in parts:
        name, colon, value = part.partition(":")
        if colon and name.lower() == "id" and value.strip("<>"):
            found["id"].append(value.strip().removeprefix("<").removesuffix(">"))
        elif colon and name.lower() in _FIELDS and value:
            found[name.lower()].append(value.lower())
        elif part.strip():
            found["words"].append(part.lower())
    return Query(**{name: tuple(values) for name, values in found.items()})


def is_whole_address(term: str) -> bool:
    local, at, domain = term.partition("@")
    return bool(at and local and "." in domain and " " not in term)


@dataclass
class MessagePage:
    """One page of matching copies (newest first), the number of matches and where it stands."""

    copies: list[int] = field(default_factory=list)
    total: int = 0
    newer: int = 0  # matches newer than this page
    has_older: bool = False

    @property
    def has_newer(self) -> bool:
        return self.newer > 0


def _subjects(store: MessageStore, batch: Batch) -> list[str]:
    """Lower-cased subject of each to-recipient of a batch send, as the recipient sees it."""
    out = []
    for index, (address, display) in enumerate(zip(batch.to_addr, batch.to, strict=True)):
        values = store.recipient_values(batch, index)
        out.append((Substituter(address, display, values)(batch.subject) or "").lower())
    return out


class _BatchMatcher:
    """Matching copies of one batch: decided once for the batch when possible, else per copy."""

    def __init__(self, store: MessageStore, query: Query, batch: Batch) -> None:
        self.store, self.query, self.batch = store, query, batch
        self.dynamic = batch.personal and "%recipient" in batch.subject
        self.subject = batch.subject.lower()
        self._subjects: list[str] | None = None
        self.words: tuple[str, ...] = ()
        self.verdict = self._judge()

    def _judge(self) -> bool | None:
        """True/False for the whole batch, None when each copy must be checked."""
        q, batch = self.query, self.batch
        tags = [t.lower() for t in batch.tags]
        if q.domain and batch.domain not in q.domain:
            return False
        if any(t not in tags for t in q.tag):
            return False
        if not self.dynamic and any(s not in self.subject for s in q.subject):
            return False
        # Words a tag or the fixed subject already satisfy need no per-copy look.
        self.words = tuple(
            w for w in q.words if not any(w in t for t in tags) and (self.dynamic or w not in self.subject)
        )
        per_copy = q.to or self.words or (self.dynamic and q.subject)
        return None if per_copy else True

    def _subject_of(self, to_idx: int | None) -> str:
        if not self.dynamic or to_idx is None:
            return self.subject
        if self._subjects is None:
            self._subjects = _subjects(self.store, self.batch)
        return self._subjects[to_idx]

    def _copy_subject(self, copy: int, to_idx: int | None) -> str:
        if self.dynamic and self.batch.fanout is not None:  # a list send: each member's own subject
            sub = self.store.substituter(self.batch, copy - self.batch.copy_base)[1]
            return ((sub(self.batch.subject) if sub is not None else self.batch.subject) or "").lower()
        return self._subject_of(to_idx)

    def copies(self, start: int, stop: int) -> Iterator[int]:
        """Matching global copy indices in ``[start, stop)``, ascending."""
        if self.verdict is not None:
            if self.verdict:
                yield from range(start, stop)
            return
        batch, q = self.batch, self.query
        for copy in range(start, stop):
            address, display, to_idx = batch.copy_recipient(copy - batch.copy_base)
            who = f"{address}\n{display}".lower()
            if any(t not in who for t in q.to):
                continue
            if self.dynamic and q.subject:
                subject = self._copy_subject(copy, to_idx)
                if any(s not in subject for s in q.subject):
                    continue
            if all(w in who or w in self._copy_subject(copy, to_idx) for w in self.words):
                yield copy


def _scan(store: MessageStore, query: Query, start: int, out: array[int]) -> None:
    """Append the matching copies from ``start`` to the newest one to ``out``."""
    batches = store.batches
    if start >= store.total_copies:
        return
    index = bisect_right(batches, start, key=lambda b: b.copy_base) - 1
    for batch in batches[index:]:
        lo = max(start, batch.copy_base)
        out.extend(_BatchMatcher(store, query, batch).copies(lo, batch.copy_base + batch.n_copies))


def _indexed(store: MessageStore, events: EventStore, query: Query) -> list[int] | None:
    """Candidate copies from the indexes (message ids, a whole address, statuses), or None."""
    found: set[int] | None = None
    if query.id:
        batches = [store.by_message_id[mid] for mid in query.id if mid in store.by_message_id]
        found = {copy for b in batches for copy in range(b.copy_base, b.copy_base + b.n_copies)}
    for address in (t for t in query.to if is_whole_address(t)):
        sent_to = {
            log.copy[p]
            for log in events.domains.values()
            for p in log.by_recipient.get(address, ())
            if log.kind[p] == ACCEPTED
        }
        found = sent_to if found is None else found & sent_to
    for status in query.status:
        with_status = {log.copy[p] for log in events.domains.values() for p in log.by_event.get(status, ())}
        found = with_status if found is None else found & with_status
    return None if found is None else sorted(found)


def _filter(store: MessageStore, query: Query, candidates: list[int]) -> list[int]:
    """The candidates (ascending) that also match the rest of the query."""
    exact = {t for t in query.to if is_whole_address(t)}
    if not (query.subject or query.tag or query.domain or query.words or set(query.to) - exact):
        return candidates  # the indexes answered the whole query
    out: list[int] = []
    matcher: _BatchMatcher | None = None
    for copy in candidates:
        batch = store.locate(copy)[0]
        if matcher is None or matcher.batch is not batch:
            matcher = _BatchMatcher(store, query, batch)
        out.extend(matcher.copies(copy, copy + 1))
    return out


@dataclass
class _Entry:
    generation: int
    scanned: int
    matches: array[int]


class SearchCache:
    """Matches of recent queries per emulator state, extended incrementally (hold the state lock)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: OrderedDict[Query, _Entry] = OrderedDict()

    def matches(self, state: EmulatorState, query: Query) -> Sequence[int]:
        """Ascending copy indices matching ``query``."""
        store = state.messages
        if query.empty:
            return range(store.total_copies)
        candidates = _indexed(store, state.events, query)
        if candidates is not None:
            return _filter(store, query, candidates)
        entry = self._entries.get(query)
        if entry is None or entry.generation != state.generation or entry.scanned > store.total_copies:
            entry = _Entry(state.generation, 0, array("q"))
        _scan(store, query, entry.scanned, entry.matches)
        entry.scanned = store.total_copies
        self._entries[query] = entry
        self._entries.move_to_end(query)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry.matches

    def page(
        self,
        state: EmulatorState,
        query: Query,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> MessagePage:
        """The newest ``limit`` matches, or those just older than ``before`` / newer than ``after``;
        a cursor past either end shows the newest page."""
        found = self.matches(state, query)
        return page_of(found, before=before, after=after, limit=limit)


def page_of(found: Sequence[int], *, before: int | None, after: int | None, limit: int) -> MessagePage:
    """One page of an ascending sequence of copy indices, newest first."""
    total = len(found)
    if after is not None:
        start = bisect_right(found, after)
        end = min(total, start + limit)
    elif before is not None:
        end = bisect_left(found, before)
        start = max(0, end - limit)
    else:
        start, end = max(0, total - limit), total
    if start >= end:
        start, end = max(0, total - limit), total
    copies = [found[i] for i in range(end - 1, start - 1, -1)]
    return MessagePage(copies, total=total, newer=total - end, has_older=start > 0)
