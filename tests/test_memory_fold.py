"""A weight's running sum formed a block at a time during backward (LazyGrad.fold): the same
bits as the sum formed once at the end, and each step's δ_t let go when its block is formed."""

from __future__ import annotations

import tracemalloc

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.sparse import CHUNK_PARTS, FactoredGrad, SummedGrad


def _running_sum(kind, shape, pieces):
    """The pieces sent one by one, as backward() sends a weight's T shares (`accumulate`)."""
    total = kind(shape, np.float64, [pieces[0]])
    for piece in pieces[1:]:
        total = total.accumulate(kind(shape, np.float64, [piece]))
    return total


def test_a_factored_sum_formed_in_blocks_has_the_bits_of_the_one_formed_at_the_end():
    rng = np.random.default_rng(0)
    # one-row steps (blocks of CHUNK_PARTS) and some of many rows (blocks cut by bytes)
    rows = [1] * 700 + [300] * 9 + [1] * 300
    parts = [(rng.standard_normal((r, 6)), rng.standard_normal((r, 5))) for r in rows]
    folded = _running_sum(FactoredGrad, (6, 5), parts)
    assert folded._formed is not None and len(folded.parts) < CHUNK_PARTS   # formed as it grew
    whole = FactoredGrad((6, 5), np.float64, list(parts))                    # never folded
    np.testing.assert_allclose(np.asarray(folded), np.asarray(whole), rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(folded), sum(a.T @ g for a, g in parts), rtol=1e-10)


def test_a_summed_bias_formed_in_blocks_adds_its_pieces_in_step_order():
    rng = np.random.default_rng(1)
    pieces = [rng.standard_normal((2, 7)) for _ in range(1000)]
    folded = _running_sum(SummedGrad, (7,), pieces)
    assert len(folded.parts) < CHUNK_PARTS
    in_order = pieces[0].copy()
    for g in pieces[1:]:
        in_order += g                                   # g_1 + … + g_T, one at a time
    np.testing.assert_allclose(np.asarray(folded), in_order.sum(axis=0), rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(folded), np.asarray(SummedGrad((7,), np.float64, pieces)),
                               rtol=0, atol=0)


def test_pieces_of_two_shapes_are_added_up_by_shape():
    rng = np.random.default_rng(4)
    pieces = [rng.standard_normal((1, 3)) if k % 3 else rng.standard_normal((2, 3)) for k in range(900)]
    total = _running_sum(SummedGrad, (3,), pieces)
    assert len(total.parts) < CHUNK_PARTS
    np.testing.assert_allclose(np.asarray(total), np.asarray(SummedGrad((3,), np.float64, pieces)),
                               rtol=0, atol=0)


def test_a_folded_sum_added_to_another_is_its_dense_form_plus_the_other():
    rng = np.random.default_rng(2)
    parts = [(rng.standard_normal((1, 4)), rng.standard_normal((1, 3))) for _ in range(300)]
    folded = _running_sum(FactoredGrad, (4, 3), parts)
    other = FactoredGrad((4, 3), np.float64, [parts[0]])
    expected = np.asarray(folded) + np.asarray(other)
    for total in (folded + other, other + folded, other.accumulate(folded)):
        np.testing.assert_allclose(np.asarray(total), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(folded), sum(a.T @ g for a, g in parts), rtol=1e-10)


def _rnn_backward(T, fold, monkeypatch):
    if not fold:
        for kind in (FactoredGrad, SummedGrad):
            monkeypatch.setattr(kind, "fold", lambda self: None)
    tg.manual_seed(0)
    rnn = tg.nn.RNN(8, 32)
    x = np.random.default_rng(3).standard_normal((1, T, 8))
    with tg.record_edge_grads(False):
        outputs, _ = rnn(x)
        loss = (outputs * outputs).sum()
        tracemalloc.start()
        try:
            loss.backward()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    grads = {p.name: p.grad.copy() for p in rnn.parameters()}
    dh = rnn.states[T // 2].grad.copy()
    monkeypatch.undo()
    return grads, dh, peak


def test_an_rnn_unroll_gets_the_same_gradients_and_lets_each_step_delta_go(monkeypatch):
    T = 2000
    grads, dh, peak = _rnn_backward(T, True, monkeypatch)
    grads0, dh0, peak0 = _rnn_backward(T, False, monkeypatch)
    for name in grads0:                                  # W, U, b: bit for bit
        np.testing.assert_allclose(grads[name], grads0[name], rtol=0, atol=0, err_msg=name)
    np.testing.assert_allclose(dh, dh0, rtol=0, atol=0)  # ∂E/∂h_t kept, as before
    # δ_t (1, 32) float64 is 256 bytes of numbers: held to the end, it was the peak; let go,
    # the peak is elsewhere (the start of the walk), ~200 bytes a step lower (measured)
    assert peak0 - peak > 0.5 * T * 32 * 8, (peak0, peak)
