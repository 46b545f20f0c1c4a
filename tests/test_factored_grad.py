"""FactoredGrad, the twin of SparseGrad: a weight's shares from y = a W kept as (a, g) factors."""

from __future__ import annotations

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.sparse import FactoredGrad, SparseGrad


def factors(seed, rows=(2, 3), D=4, H=5):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((r, D)), rng.standard_normal((r, H))) for r in rows]


def test_its_dense_form_is_the_sum_of_the_shares_as_one_stacked_matmul():
    parts = factors(0)
    g = FactoredGrad((4, 5), np.float64, parts)
    np.testing.assert_allclose(np.asarray(g), sum(a.T @ d for a, d in parts), rtol=1e-12, atol=1e-14)


def test_a_batched_factor_counts_its_leading_axes_as_rows():
    rng = np.random.default_rng(1)
    a, d = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))
    expected = np.einsum("btd,bth->dh", a, d)
    np.testing.assert_allclose(np.asarray(FactoredGrad((4, 5), np.float64, [(a, d)])), expected,
                               rtol=1e-12, atol=1e-14)


def test_summing_shares_never_changes_an_edge_record():
    (a1, g1), (a2, g2) = factors(2)
    first = FactoredGrad((4, 5), np.float64, [(a1, g1)])      # an edge's record
    total = first + FactoredGrad((4, 5), np.float64, [(a2, g2)])
    total = total + FactoredGrad((4, 5), np.float64, [(a2, g2)])
    assert len(first.parts) == 1                                # the record is untouched
    np.testing.assert_allclose(np.asarray(first), a1.T @ g1, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(total), a1.T @ g1 + 2 * a2.T @ g2, rtol=1e-12)


def test_it_sums_with_a_dense_array_and_a_sparse_gradient_either_way():
    (a, g), = factors(3, rows=(2,))
    f = FactoredGrad((4, 5), np.float64, [(a, g)])
    dense = np.ones((4, 5))
    sparse = SparseGrad((4, 5), np.float64, [((0, slice(None)), np.ones(5))])
    expected_sparse = a.T @ g
    expected_sparse[0] += 1
    np.testing.assert_allclose(f + dense, a.T @ g + 1, rtol=1e-12)
    np.testing.assert_allclose(dense + f, a.T @ g + 1, rtol=1e-12)
    np.testing.assert_allclose(f + sparse, expected_sparse, rtol=1e-12)
    np.testing.assert_allclose(sparse + f, expected_sparse, rtol=1e-12)


def test_a_shared_weight_gets_the_eager_sum_and_each_edge_its_own_share():
    rng = np.random.default_rng(4)
    W = tg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    xs = [tg.Tensor(rng.standard_normal((1, 3))) for _ in range(4)]
    ys = [x @ W for x in xs]
    loss = sum((y * y).sum() for y in ys)
    loss.backward()
    shares = [2 * x.data.T @ y.data for x, y in zip(xs, ys)]
    np.testing.assert_allclose(W.grad, sum(shares), rtol=1e-12)
    assert type(W.grad) is np.ndarray and W.grad.flags.writeable
    for y, share in zip(ys, shares):
        assert isinstance(y.edge_grads[1], FactoredGrad)         # formed on demand
        np.testing.assert_allclose(np.asarray(y.edge_grads[1]), share, rtol=1e-12)


def test_pieces_of_two_layouts_are_stacked_as_rows():
    # (B, D) steps and a (B, T, D) use of one W: each piece's leading axes are its rows
    rng = np.random.default_rng(7)
    parts = [(rng.standard_normal((2, 4)), rng.standard_normal((2, 5))) for _ in range(3)]
    parts.append((rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))))
    parts.append((rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 3, 5))))
    expected = sum(a.reshape(-1, 4).T @ d.reshape(-1, 5) for a, d in parts)
    np.testing.assert_allclose(np.asarray(FactoredGrad((4, 5), np.float64, parts)), expected,
                               rtol=1e-12, atol=1e-14)


def test_blocks_of_a_few_steps_sum_to_the_one_block_sum(monkeypatch):
    from tinygrad_rnn import sparse
    parts = factors(3, rows=(1,) * 7)
    whole = np.asarray(FactoredGrad((4, 5), np.float64, parts))
    monkeypatch.setattr(sparse, "CHUNK_PARTS", 3)                # blocks of 3, 3 and 1 steps
    np.testing.assert_allclose(np.asarray(FactoredGrad((4, 5), np.float64, parts)), whole,
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(whole, sum(a.T @ d for a, d in parts), rtol=1e-12, atol=1e-14)
