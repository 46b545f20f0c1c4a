"""SummedGrad: a broadcast bias's shares from y = a + b kept as pieces, summed once when b is reached."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.sparse import SparseGrad, SummedGrad


def test_its_dense_form_sums_every_piece_over_its_leading_axes():
    rng = np.random.default_rng(0)
    pieces = [rng.standard_normal((2, 5)), rng.standard_normal((3, 4, 5)), rng.standard_normal((1, 5))]
    g = SummedGrad((5,), np.float64, pieces)
    expected = pieces[0].sum(0) + pieces[1].sum((0, 1)) + pieces[2].sum(0)
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-12, atol=1e-14)
    assert np.asarray(g).shape == (5,)


def test_a_matrix_bias_keeps_its_trailing_shape():
    rng = np.random.default_rng(1)
    piece = rng.standard_normal((4, 2, 3))                      # (B, 2, 3) + (2, 3)
    np.testing.assert_allclose(np.asarray(SummedGrad((2, 3), np.float64, [piece])), piece.sum(0),
                               rtol=1e-12, atol=1e-14)


def test_it_forms_its_own_dtype_and_a_new_array():
    piece = np.ones((3, 2), np.float64)
    out = np.asarray(SummedGrad((2,), np.float32, [piece]))
    assert out.dtype == np.float32 and not np.shares_memory(out, piece)
    np.testing.assert_array_equal(out, [3.0, 3.0])


def test_summing_shares_never_changes_an_edge_record():
    first = SummedGrad((2,), np.float64, [np.ones((1, 2))])    # an edge's record
    total = first + SummedGrad((2,), np.float64, [2 * np.ones((1, 2))])
    total = total + SummedGrad((2,), np.float64, [3 * np.ones((2, 2))])
    assert len(first.parts) == 1
    np.testing.assert_array_equal(np.asarray(first), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(total), [9.0, 9.0])


def test_it_sums_with_dense_and_sparse_gradients_either_way():
    s = SummedGrad((3,), np.float64, [np.arange(6.0).reshape(2, 3)])     # [3, 5, 7]
    sparse = SparseGrad((3,), np.float64, [((slice(0, 1),), np.ones(1))])
    np.testing.assert_array_equal(s + np.ones(3), [4.0, 6.0, 8.0])
    np.testing.assert_array_equal(np.ones(3) + s, [4.0, 6.0, 8.0])
    np.testing.assert_array_equal(s + sparse, [4.0, 5.0, 7.0])
    np.testing.assert_array_equal(sparse + s, [4.0, 5.0, 7.0])


def test_a_bias_shared_by_every_step_gets_the_sum_and_each_edge_its_own_share():
    rng = np.random.default_rng(2)
    b = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    xs = [tg.Tensor(rng.standard_normal((2, 3))) for _ in range(4)]       # (B, H) each
    ys = [x + b for x in xs]
    sum((y * y).sum() for y in ys).backward()
    shares = [(2 * y.data).sum(axis=0) for y in ys]                        # Σ over the batch
    np.testing.assert_allclose(b.grad, sum(shares), rtol=1e-12)
    assert type(b.grad) is np.ndarray and b.grad.shape == (3,) and b.grad.flags.writeable
    for y, share in zip(ys, shares):
        assert isinstance(y.edge_grads[1], SummedGrad)                     # formed on demand
        np.testing.assert_allclose(np.asarray(y.edge_grads[1]), share, rtol=1e-12)
        assert y.edge_grads[0] is None                                      # x needs no gradient


@pytest.mark.parametrize("x_shape, b_shape", [((2, 3), (3,)), ((4, 2, 3), (2, 3)), ((2, 3), (1, 3)),
                                              ((2, 3), ()), ((3, 1), (1, 4))])
def test_bias_gradients_match_finite_differences(x_shape, b_shape):
    rng = np.random.default_rng(3)
    x = tg.Tensor(rng.standard_normal(x_shape), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert tg.gradcheck(lambda x, b: ((x + b).tanh() * (x - b)).sum(), (x, b))


def test_an_rnn_bias_matches_the_per_step_sum_with_recording_off_too():
    tg.manual_seed(0)
    rnn = tg.nn.RNN(3, 4, dtype=np.float64)
    x = np.random.default_rng(4).standard_normal((2, 6, 3))
    grads = []
    for record in (False, True):                # recorded last: the a_t below keep their .grad
        rnn.zero_grad()
        with tg.record_edge_grads(record):
            outputs, _ = rnn(x)
            (outputs ** 2).sum().backward()
        grads.append(rnn.cells[0].b.grad.copy())
    # ∂E/∂b = Σ_t Σ_batch ∂E/∂a_t, read off the per-step pre-activations' gradients
    pre = [h.parents[0] for h in rnn.states]                               # a_t = x_t W + h U + b
    expected = sum(a.grad.sum(axis=0) for a in pre)
    for g in grads:
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)


def test_backward_forms_each_lazy_gradient_once(monkeypatch):
    # One dense form per weight (W, U, the readout's V) and per bias (b, c): a share
    # asked whether it is a view must not be formed to answer (it was, twice a step).
    from tinygrad_rnn import sparse
    formed = []
    for cls in (sparse.FactoredGrad, sparse.SummedGrad):
        dense = cls.dense
        monkeypatch.setattr(cls, "dense", lambda self, dense=dense: formed.append(type(self).__name__)
                            or dense(self))
    tg.manual_seed(0)
    rnn, readout = tg.nn.RNN(3, 4, dtype=np.float64), tg.nn.Linear(4, 5, dtype=np.float64)
    x = np.random.default_rng(5).standard_normal((2, 6, 3))
    outputs, _ = rnn(x)
    tg.nn.functional.cross_entropy(readout(outputs), np.zeros((2, 6), dtype=np.int64)).backward()
    assert sorted(formed) == ["FactoredGrad"] * 3 + ["SummedGrad"] * 2


@pytest.mark.parametrize("shape, T", [((1, 32), 25), ((1, 1), 25), ((3, 5), 9), ((64, 128), 8)])
def test_the_pieces_of_one_shape_sum_in_step_order_small_or_large(shape, T):
    # small ones joined and summed in one call, one-element and large ones added in place
    rng = np.random.default_rng(8)
    pieces = [rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3) for _ in range(T)]
    total = pieces[0].copy()
    for g in pieces[1:]:
        total += g                                              # g_1 + ... + g_T, in this order
    np.testing.assert_allclose(np.asarray(SummedGrad(shape[1:], np.float64, pieces)), total.sum(0),
                               rtol=1e-14, atol=1e-12)


def test_pieces_of_two_dtypes_are_summed_and_formed_in_the_bias_dtype():
    pieces = [np.full((1, 3), 0.5, np.float32), np.full((1, 3), 0.25, np.float64),
              np.ones((1, 3), np.float32)]
    out = np.asarray(SummedGrad((3,), np.float32, pieces))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1.75] * 3, rtol=1e-6)
