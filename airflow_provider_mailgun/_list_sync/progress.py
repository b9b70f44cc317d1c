"""Progress lines while a list is read or verified, so a long read is not a silent one::

for item in counted(pages, f"Reading {list_address}", total=6000):
    ...
# Reading news@mg.example.com: 2,400 of 6,000 members (40%)   (at most one line every 5 s)

differences = until_matching(compare, timeout=300)   # read again while background uploads land
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_exponential

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_mailgun._list_sync.plan import Differences

log = logging.getLogger("airflow_provider_mailgun.operators.lists")

#: Seconds between two progress lines of one read.
EVERY_SECONDS = 5.0


class _Page(Protocol):
    @property
    def items(self) -> Sequence[Mapping[str, Any]]: ...


def counted(pages: Iterable[_Page], what: str, total: int | None) -> Iterator[Mapping[str, Any]]:
    """The items of ``pages``, logging how many were read at most every :data:`EVERY_SECONDS`."""
    read = 0
    last = time.monotonic()
    for page in pages:
        yield from page.items
        read += len(page.items)
        now = time.monotonic()
        if now - last >= EVERY_SECONDS:
            last = now
            log.info("%s", progress_line(what, read, total))


def progress_line(what: str, read: int, total: int | None) -> str:
    """``Reading <list>: 2,400 of 6,000 members (40%)``; without a known total, only the count."""
    if not total:
        return f"{what}: {read:,} members"
    return f"{what}: {read:,} of {total:,} members ({min(100, round(100 * read / total))}%)"


def until_matching(compare: Callable[[], Differences], timeout: float) -> Differences:
    """``compare()`` again, waiting 1 s, 2 s, ... (at most 30 s) while it finds differences, for up
    to ``timeout`` seconds; the last differences found (empty when the list matches)."""

    def note_wait(state: RetryCallState) -> None:
        found = state.outcome.result() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        count = found.count if found else 0
        log.info("List does not match yet (%s differences); checking again in %.0f s.", count, wait)

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=1, min=1, max=30),
        retry=retry_if_result(bool),
        before_sleep=note_wait,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    differences: Differences = retrying(compare)
    return differences
