"""apply() looks at detect_anomaly(), tg.compile's capture and no_grad() only while a block of one is open
somewhere (context._Watch): the mark must be counted exactly as long as any context holds it."""

import contextvars

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.context import GRAD_OFF, WATCHED


def _nan_op():
    x = tg.Tensor(np.array([-1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        return x.log()                              # NaN: an AnomalyError in anomaly mode


def test_the_count_follows_the_blocks_nested_and_reentered():
    before = WATCHED[0]
    anomaly = tg.detect_anomaly()
    with anomaly:
        assert WATCHED[0] == before + 1
        with anomaly:                               # the same object, re-entered
            assert WATCHED[0] == before + 2
            with tg.detect_anomaly(False):          # switched off inside: still looked at
                assert WATCHED[0] == before + 3
                _nan_op()                           # no error: anomaly mode is off here
        assert WATCHED[0] == before + 1
    assert WATCHED[0] == before


def test_a_context_copied_inside_the_block_keeps_its_anomaly_mode_after_the_block():
    """An asyncio task copies the context it was made in: the copy holds the mark, so ops run
    in it after the block has ended still see anomaly mode on (as the ContextVar says)."""
    before = WATCHED[0]
    with tg.detect_anomaly():
        copied = contextvars.copy_context()
    assert WATCHED[0] == before + 1                 # the copy holds it
    with pytest.raises(tg.AnomalyError, match="log"):
        copied.run(_nan_op)
    _nan_op()                                       # here the block is over: no check
    del copied
    assert WATCHED[0] == before


def test_anomaly_mode_as_a_decorator_counts_each_call():
    before = WATCHED[0]

    @tg.detect_anomaly()
    def step():
        assert WATCHED[0] == before + 1
        return _nan_op()

    with pytest.raises(tg.AnomalyError, match="log"):
        step()
    assert WATCHED[0] == before


# no_grad() leaves its own counted mark (GRAD_OFF): apply reads `_GRAD_ENABLED` only while one lives.
def _graph_op():
    return tg.Tensor(np.array([2.0]), requires_grad=True) * 3.0


def test_no_grad_is_counted_apart_from_the_hooks_nested_and_with_enable_grad_inside():
    off, watched = GRAD_OFF[0], WATCHED[0]
    with tg.no_grad():
        assert GRAD_OFF[0] == off + 1 and WATCHED[0] == watched    # hooks stay unlooked-at
        assert not _graph_op().requires_grad
        with tg.no_grad():
            assert GRAD_OFF[0] == off + 2
        with tg.enable_grad():                                     # back on inside: a graph again
            assert _graph_op().requires_grad
        assert not _graph_op().requires_grad
    assert GRAD_OFF[0] == off and _graph_op().requires_grad


def test_a_context_copied_inside_no_grad_builds_no_graph_after_the_block():
    off = GRAD_OFF[0]
    with tg.no_grad():
        copied = contextvars.copy_context()
    assert GRAD_OFF[0] == off + 1                   # the copy holds the mark
    assert not copied.run(_graph_op).requires_grad
    assert _graph_op().requires_grad                # here the block is over
    del copied
    assert GRAD_OFF[0] == off


def test_no_grad_as_a_decorator_counts_each_call():
    off = GRAD_OFF[0]

    @tg.no_grad()
    def evaluate():
        assert GRAD_OFF[0] == off + 1
        return _graph_op()

    assert not evaluate().requires_grad
    assert GRAD_OFF[0] == off and _graph_op().requires_grad
