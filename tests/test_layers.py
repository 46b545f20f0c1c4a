"""Linear, Embedding, Dropout, LayerNorm: shapes, init, gradients (finite differences
and PyTorch in float64), and their error messages."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn

rng = np.random.default_rng(0)


# ---- Linear ------------------------------------------------------------------
def test_linear_shapes_names_and_init_bounds():
    tg.manual_seed(0)
    lin = nn.Linear(50, 7)
    assert lin.weight.shape == (50, 7) and lin.bias.shape == (7,)
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    assert [name for name, _ in lin.named_parameters()] == ["weight", "bias"]
    assert lin.weight.name == "weight" and lin.bias.name == "bias"
    bound = 1 / np.sqrt(50)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.9 * bound          # uniform over the whole range
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    assert nn.Linear(3, 2, bias=False).parameters()[0].shape == (3, 2)
    assert len(nn.Linear(3, 2, bias=False).parameters()) == 1


def test_linear_init_is_reproducible_with_manual_seed():
    tg.manual_seed(3)
    a = nn.Linear(4, 5).weight.data.copy()
    tg.manual_seed(3)
    b = nn.Linear(4, 5).weight.data
    tg.manual_seed(4)
    c = nn.Linear(4, 5).weight.data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_gradcheck(x_shape):
    lin = nn.Linear(3, 4, dtype=np.float64)

    def f(x, W, b):
        lin.weight, lin.bias = W, b
        return lin(x)

    assert tg.gradcheck(f, [rng.standard_normal(x_shape), rng.standard_normal((3, 4)),
                            rng.standard_normal(4)])


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(3, 4, dtype=np.float64)
    x = rng.standard_normal((2, 5, 3))
    X = Tensor(x, requires_grad=True)
    y = lin(X)
    (y * y).sum().backward()
    ref = torch.nn.Linear(3, 4).double()
    with torch.no_grad():                       # torch stores the transpose: (out, in)
        ref.weight.copy_(torch.from_numpy(lin.weight.data.T))
        ref.bias.copy_(torch.from_numpy(lin.bias.data))
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin.weight.grad, ref.weight.grad.numpy().T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin.bias.grad, ref.bias.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_wrong_feature_size_names_shapes_and_scope():
    lin = nn.Linear(3, 4)
    with tg.scope("readout"), pytest.raises(tg.ShapeError) as e:
        lin(Tensor(np.zeros((2, 5))))
    msg = str(e.value)
    assert "Linear(3, 4)" in msg and "(2, 5)" in msg and "readout" in msg


# ---- Embedding ---------------------------------------------------------------
def test_embedding_lookup_and_scattered_gradient():
    emb = nn.Embedding(6, 3, dtype=np.float64)
    idx = np.array([[1, 4, 1], [0, 1, 5]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    G = rng.standard_normal(out.shape)
    (out * G).sum().backward()
    expected = np.zeros((6, 3))
    for (b, t), i in np.ndenumerate(idx):
        expected[i] += G[b, t]                  # token 1 appears 3 times: 3 contributions
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-15, atol=0)
    assert np.all(emb.weight.grad[[2, 3]] == 0)  # never looked up, no gradient


def test_embedding_gradcheck_with_repeated_indices():
    emb = nn.Embedding(5, 4, dtype=np.float64)
    idx = Tensor(np.array([3, 0, 3, 3, 1]))     # indices as an integer Tensor

    def f(W):
        emb.weight = W
        return emb(idx).tanh()

    assert tg.gradcheck(f, [rng.standard_normal((5, 4))])


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    emb = nn.Embedding(7, 3, dtype=np.float64)
    idx = rng.integers(0, 7, (4, 6))
    out = emb(idx)
    G = rng.standard_normal(out.shape)
    (out * G).sum().backward()
    W = torch.tensor(emb.weight.data, requires_grad=True)
    tout = torch.nn.functional.embedding(torch.from_numpy(idx), W)
    (tout * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(emb.weight.grad, W.grad.numpy(), rtol=1e-13, atol=1e-13)


def test_embedding_errors():
    emb = nn.Embedding(5, 2)
    with tg.scope("embed"), pytest.raises(IndexError) as e:
        emb([0, 5, -1])
    assert "[5, -1]" in str(e.value) and "[0, 4]" in str(e.value) and "embed" in str(e.value)
    with pytest.raises(TypeError) as e:
        emb(np.array([0.0, 1.0]))
    assert "integers" in str(e.value) and "float64" in str(e.value)


# ---- Dropout -----------------------------------------------------------------
def test_dropout_is_identity_in_eval_and_for_p0():
    x = Tensor(rng.standard_normal((4, 5)))
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_inverted_scaling_and_mask_gradient():
    p = 0.25
    x = Tensor(np.ones((200, 100)), requires_grad=True)
    tg.manual_seed(1)
    y = nn.Dropout(p)(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / (1 - p))     # survivors scaled by 1/(1-p)
    assert abs((~kept).mean() - p) < 0.01                       # 20,000 draws: within 1%
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / (1 - p))          # the gradient goes through the mask


def test_dropout_mask_is_reproducible_and_validated():
    x = Tensor(np.ones((10, 10)))
    tg.manual_seed(7)
    a = nn.Dropout(0.5)(x).data
    tg.manual_seed(7)
    b = nn.Dropout(0.5)(x).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).data, 0)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


# ---- LayerNorm ---------------------------------------------------------------
def test_layernorm_normalises_each_row():
    ln = nn.LayerNorm(8, dtype=np.float64)
    y = ln(Tensor(rng.standard_normal((3, 8)) * 5 + 2)).data
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-5)       # eps keeps it just below 1
    assert ln.weight.name == "weight" and ln.bias.shape == (8,)


@pytest.mark.parametrize("shape,normalized", [((4, 5), 5), ((2, 3, 4), (3, 4))])
def test_layernorm_gradcheck(shape, normalized):
    ln = nn.LayerNorm(normalized, dtype=np.float64)
    w_shape = ln.weight.shape

    def f(x, w, b):
        ln.weight, ln.bias = w, b
        return ln(x)

    assert tg.gradcheck(f, [rng.standard_normal(shape), rng.standard_normal(w_shape),
                            rng.standard_normal(w_shape)])


def test_layernorm_matches_torch():
    torch = pytest.importorskip("torch")
    ln = nn.LayerNorm(6, dtype=np.float64)
    ln.weight.data, ln.bias.data = rng.standard_normal(6), rng.standard_normal(6)
    x = rng.standard_normal((2, 3, 6))
    X = Tensor(x, requires_grad=True)
    y = ln(X)
    G = rng.standard_normal(y.shape)
    (y * G).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(ln.weight.data, requires_grad=True)
    tb = torch.tensor(ln.bias.data, requires_grad=True)
    ty = torch.nn.functional.layer_norm(tx, (6,), tw, tb, eps=1e-5)
    (ty * torch.from_numpy(G)).sum().backward()
    for ours, theirs in [(y.data, ty.detach()), (X.grad, tx.grad), (ln.weight.grad, tw.grad),
                         (ln.bias.grad, tb.grad)]:
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_layernorm_wrong_shape_error():
    with pytest.raises(tg.ShapeError) as e:
        nn.LayerNorm(4)(Tensor(np.zeros((2, 5))))
    assert "LayerNorm(4,)" in str(e.value) and "(2, 5)" in str(e.value)
