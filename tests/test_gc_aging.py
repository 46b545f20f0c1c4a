"""memory._age_young: the objects a paused block leaves behind are not rescanned by a
young collection, cycles among them are still collected, and a program's frozen objects stay frozen."""

from __future__ import annotations

import gc
import weakref

import pytest

from tests.test_memory import _collections
from tinygrad_rnn.memory import gc_paused


class Node:
    """A tracked object that can hold a reference cycle."""

    def __init__(self):
        self.other = None


@pytest.fixture
def collector():
    gc.collect()
    gc.enable()
    yield
    gc.enable()


def test_a_block_that_leaves_many_live_objects_starts_no_young_collection_after_it(collector):
    kept = []

    def block_then_more():
        with gc_paused():
            kept.extend(Node() for _ in range(3 * gc.get_threshold()[0]))   # the "graph": alive
        kept.extend(Node() for _ in range(50))

    assert _collections(block_then_more) == 0
    assert len(kept) == 3 * gc.get_threshold()[0] + 50


def test_a_cycle_made_inside_aged_blocks_is_still_collected(collector):
    a, b = Node(), Node()
    a.other, b.other = b, a                  # a reference cycle: only the collector frees it
    gone = weakref.ref(a)
    del a, b
    threshold0, threshold1, threshold2 = gc.get_threshold()
    for _ in range(threshold1 * threshold2 + 1):    # each block is due a young collection
        with gc_paused():
            kept = [Node() for _ in range(threshold0 + 10)]
        del kept
    assert gone() is None


def test_objects_the_program_froze_stay_frozen(collector):
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            kept = [Node() for _ in range(2 * gc.get_threshold()[0])]
        assert gc.get_freeze_count() == frozen
        assert len(kept) == 2 * gc.get_threshold()[0]
    finally:
        gc.unfreeze()
