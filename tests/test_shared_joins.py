"""The small joins one backward() shares between sums of the very same pieces (sparse.joins_kept):
∂E/∂W = Σ x_tᵀ δ_t, ∂E/∂U = Σ h_{t-1}ᵀ δ_t and ∂E/∂b = Σ δ_t join the steps' δ_t once."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import sparse
from tinygrad_rnn.sparse import FactoredGrad, LazyGrad, SummedGrad


def _pieces(n, shape=(1, 3), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(n)]


def test_the_same_pieces_are_joined_once_within_a_walk():
    g = _pieces(5)
    with sparse.joins_kept():
        first = sparse._joined(g)
        again = sparse._joined(list(g))                 # another list, the same arrays in order
    assert again is first
    np.testing.assert_array_equal(first, np.concatenate(g))


def test_pieces_that_only_start_alike_are_joined_anew():
    g, other = _pieces(5), _pieces(5, seed=1)
    mixed = [g[0], *other[1:]]                          # the same first piece, then others
    shorter = g[:3]
    with sparse.joins_kept():
        sparse._joined(g)
        np.testing.assert_array_equal(sparse._joined(mixed), np.concatenate(mixed))
        np.testing.assert_array_equal(sparse._joined(shorter), np.concatenate(shorter))


def test_nothing_is_kept_outside_a_walk_nor_a_large_join():
    g = _pieces(4)
    assert sparse._joined(g) is not sparse._joined(g)  # no walk: no memo
    big = _pieces(3, shape=(sparse.SHARED_JOIN_BYTES // 8, 1))
    with sparse.joins_kept():
        assert sparse._joined(big) is not sparse._joined(big)
        g2, g3 = _pieces(4, seed=3), _pieces(4, seed=4)
        sparse._joined(g), sparse._joined(g2), sparse._joined(g3)    # three joins: two kept
        assert len(sparse._JOINS[0]) == 2 and sparse._joined(g3) is sparse._joined(g3)
    assert sparse._JOINS[0] is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rnn_gradients_with_shared_joins_equal_the_sums_one_by_one(dtype):
    """W, U and b of an RNN from one backward() against Σ_t of each step's recorded share."""
    rnn = tg.nn.RNN(3, 4, dtype=dtype)
    x = tg.Tensor(np.random.default_rng(2).normal(size=(2, 6, 3)).astype(dtype))
    hs, _ = rnn(x)
    (hs * hs).sum().backward()
    cell = rnn.cells[0]
    for p in (cell.W, cell.U, cell.b):
        one_by_one = None
        for node in tg.autograd.walk(hs):
            for q, share in zip(node._parents, node.edge_grads or ()):
                if q is p:
                    s = np.asarray(share)
                    s = s if s.shape == p.shape else s.reshape(-1, *p.shape).sum(axis=0)
                    one_by_one = s if one_by_one is None else one_by_one + s
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(p.grad, one_by_one, rtol=tol, atol=tol)


def test_of_makes_the_lazy_gradient_init_makes():
    a, g = _pieces(2)
    fast = FactoredGrad.of((3, 3), a.dtype, [(a, g)])
    assert isinstance(fast, LazyGrad) and fast.shape == (3, 3) and fast.dtype == a.dtype
    assert not fast._owned
    np.testing.assert_allclose(np.asarray(fast), a.T @ g, rtol=1e-15)
    s = SummedGrad.of((3,), a.dtype, [a, g], owned=True)
    assert s._owned
    np.testing.assert_allclose(s.dense(), (a + g)[0], rtol=1e-15)
