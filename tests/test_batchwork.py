"""batch_gc() keeps the collector off the old heap and runs it less often inside, nests across
threads, restores it, and leaves the collector on: other threads' cycles are still collected."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from gateway.batchwork import BATCH_THRESHOLD, batch_gc


def _batch_mode() -> bool:
    return gc.get_freeze_count() > 0 and gc.get_threshold()[0] >= BATCH_THRESHOLD


def test_the_heap_is_frozen_inside_and_thawed_after_even_on_an_error():
    assert gc.isenabled()
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), batch_gc():
        assert gc.isenabled() and _batch_mode()
        raise RuntimeError("a bad batch")
    assert gc.isenabled()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_batches_nest_across_threads():
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with batch_gc():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(5)
    with batch_gc():
        assert _batch_mode()
    assert _batch_mode()  # the other thread's batch still holds
    release.set()
    thread.join(5)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    try:
        with batch_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_cycles_made_during_a_batch_are_still_collected():
    with batch_gc():
        node = _Node()
        gone = weakref.ref(node)
        del node
        junk = [[] for _ in range(3 * BATCH_THRESHOLD)]  # allocations that trigger collections
        assert gone() is None
        del junk
