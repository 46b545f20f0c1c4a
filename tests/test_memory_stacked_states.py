"""Under record_edge_grads(False) a recurrent layer's states h_t become views of their rows of
the outputs it stacked (memory.share_stacked): the same values, held once. (Only for outputs
of 64 KiB or more: the small ones here are let through by setting the threshold to 0.)"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import memory
from tinygrad_rnn.errors import InplaceModificationError

B, T, D, H = 2, 6, 3, 4


@pytest.fixture(autouse=True)
def _every_size(monkeypatch):
    monkeypatch.setattr(memory, "SHARED_STACK_BYTES", 0)
    monkeypatch.setattr(memory, "FREED_PASS_BYTES", 0)


def _x():
    return np.random.default_rng(0).standard_normal((B, T, D))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_the_states_are_their_rows_of_the_outputs_and_keep_their_values(kind):
    values = {}
    for record in (True, False):
        tg.manual_seed(0)
        layer = getattr(tg.nn, kind)(D, H)
        with tg.record_edge_grads(record):
            outputs, _ = layer(_x())
        states = layer.states
        values[record] = [h.data.copy() for h in states]
        for t, h in enumerate(states):
            np.testing.assert_allclose(h.data, outputs.data[:, t], rtol=0, atol=0)
            assert np.shares_memory(h.data, outputs.data) is not record   # one copy, unrecorded
    for kept, viewed in zip(values[True], values[False]):
        np.testing.assert_allclose(viewed, kept, rtol=0, atol=0)


def test_gradients_are_those_of_a_run_that_keeps_its_own_state_arrays():
    grads = {}
    for record in (True, False):
        tg.manual_seed(0)
        rnn, readout = tg.nn.RNN(D, H), tg.nn.Linear(H, 5)
        with tg.record_edge_grads(record):
            outputs, h_T = rnn(_x())
            loss = tg.nn.functional.cross_entropy(readout(outputs), np.zeros((B, T), np.int64)) \
                + (h_T * h_T).sum()
            loss.backward()
        grads[record] = [p.grad.copy() for p in rnn.parameters() + readout.parameters()]
        grads[record] += [h.grad.copy() for h in rnn.states]                   # ∂E/∂h_t
    for a, b in zip(grads[True], grads[False]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_a_write_to_a_state_is_seen_by_the_readout_that_reads_the_outputs():
    rnn, readout = tg.nn.RNN(D, H), tg.nn.Linear(H, 5)
    with tg.record_edge_grads(False):
        outputs, _ = rnn(_x())
        loss = readout(outputs).sum()
        h_2 = rnn.states[1]
        h_2.data -= 1.0                          # in place: the outputs' row 2 changes with it
        np.testing.assert_allclose(outputs.data[:, 1], h_2.data, rtol=0, atol=0)
        with pytest.raises(InplaceModificationError, match="'stack'"):
            loss.backward()                      # the readout's rule would read the new values


def test_a_new_array_for_a_state_leaves_the_outputs_as_they_were():
    rnn = tg.nn.RNN(D, H)
    with tg.record_edge_grads(False):
        outputs, _ = rnn(_x())
    before = outputs.data.copy()
    rnn.states[0].data = np.zeros((B, H))        # new memory for h_1, as `.data =` always gives
    np.testing.assert_allclose(outputs.data, before, rtol=0, atol=0)


def test_small_outputs_and_two_directions_keep_the_states_own_arrays(monkeypatch):
    monkeypatch.setattr(memory, "SHARED_STACK_BYTES", 2**16)
    for layer in (tg.nn.RNN(D, H), tg.nn.RNN(D, H, bidirectional=True)):
        with tg.record_edge_grads(False):
            outputs, _ = layer(_x())                      # (2, 6, 4): 384 bytes
        assert not any(np.shares_memory(h.data, outputs.data) for h in layer.states)
    monkeypatch.setattr(memory, "SHARED_STACK_BYTES", 0)
    layer = tg.nn.RNN(D, H, bidirectional=True)           # the cat copies the two stacks
    with tg.record_edge_grads(False):
        outputs, _ = layer(_x())
    assert not any(np.shares_memory(h.data, outputs.data) for h in layer.states)


def test_a_long_unroll_holds_its_states_once(monkeypatch):
    monkeypatch.setattr(memory, "SHARED_STACK_BYTES", 2**16)
    rnn = tg.nn.RNN(D, 32)
    with tg.record_edge_grads(False):
        outputs, _ = rnn(np.ones((1, 600, D)))          # (1, 600, 32) float32: 75 KiB of outputs
    assert outputs.data.nbytes >= memory.SHARED_STACK_BYTES
    assert all(h.data.base is outputs.data for h in rnn.states)
