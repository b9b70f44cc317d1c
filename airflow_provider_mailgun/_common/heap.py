"""Large sends and the cyclic garbage collector.

A 100,000-recipient send holds its input (a dict per recipient) for the whole run, and each batch
allocates a few thousand short-lived objects. Those allocations set off CPython's full collections,
and each full collection walks the whole heap, input included: about 0.1 s a time, close to half
of the CPU a batch send spends. :func:`heap_frozen` moves what exists when the send starts out of
the collector's sight (``gc.freeze()``) and back afterwards::

    with heap_frozen():
        plan = build_plan(spec, scope)
        sender.run()

Objects created during the block are collected as usual, and what was frozen is collectable
again afterwards. When the process had frozen its heap already (LocalExecutor freezes before it
forks task processes, which inherit that), the freeze is left in place: reference cycles that
were already garbage when the send started are then reclaimed only when the process exits, which
a task process does after its task.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep the objects that exist now out of full collections until the block ends."""
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
