"""Run one function over many items on a few threads, with a bounded number in flight.

The requests themselves stay in the client (its rate limiter is shared by every thread), so this
only decides how many wait at once::

    for item, outcome in run_parallel(delete_one, addresses, max_workers=4):
        if isinstance(outcome, BaseException): ...

Memory stays flat for 100,000 items: at most ``2 * max_workers`` futures exist at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_parallel(
    func: Callable[[T], R], items: Iterable[T], *, max_workers: int = 4
) -> Iterator[tuple[T, R | BaseException]]:
    """Yield ``(item, result or exception)`` as each call finishes (not in input order)."""
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers}.")
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mailgun") as pool:
        pending: dict[Future[R], T] = {}
        for item in items:
            pending[pool.submit(func, item)] = item
            if len(pending) >= 2 * max_workers:
                yield from _drain(pending, FIRST_COMPLETED)
        while pending:
            yield from _drain(pending, FIRST_COMPLETED)


def _drain(pending: dict[Future[R], T], mode: str) -> Iterator[tuple[T, R | BaseException]]:
    done, _ = wait(list(pending), return_when=mode)
    for future in done:
        item = pending.pop(future)
        error = future.exception()
        yield item, (error if error is not None else future.result())
