"""The send's input is kept out of full garbage collections while it runs, and given back after."""

from __future__ import annotations

import gc

from airflow_provider_mailgun._common.heap import heap_frozen


def test_the_heap_is_frozen_inside_and_collectable_again_after() -> None:
    input_ = [{"address": f"r{i}@example.org", "variables": {"n": i}} for i in range(1000)]
    assert gc.get_freeze_count() == 0
    with heap_frozen():
        assert gc.get_freeze_count() >= len(input_)
    assert gc.get_freeze_count() == 0


def test_a_heap_the_process_froze_itself_stays_frozen() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with heap_frozen():
            pass
        assert gc.get_freeze_count() >= before
    finally:
        gc.unfreeze()
