"""apply() looks at detect_anomaly() and tg.compile's capture only while a block of one is open
somewhere (context._Watch): the mark must be counted exactly as long as any context holds it."""

import contextvars

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.context import WATCHED


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
