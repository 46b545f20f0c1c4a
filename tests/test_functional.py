"""Losses (cross_entropy, mse_loss, the sequence loss J) and the activation wrappers:
values and gradients against finite differences and PyTorch, and the errors."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor
from tinygrad_rnn.nn import functional as F

rng = np.random.default_rng(0)


# ---- cross_entropy -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 5)])
def test_cross_entropy_gradcheck(shape):
    targets = rng.integers(0, shape[-1], shape[:-1])
    assert tg.gradcheck(lambda z: F.cross_entropy(z, targets), [rng.standard_normal(shape)])


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    z, t = rng.standard_normal((4, 3)), np.array([0, 2, 2, 1])
    Z = Tensor(z, requires_grad=True)
    F.cross_entropy(Z, t).backward()
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(Z.grad, (p - np.eye(3)[t]) / 4, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(shape, reduction):
    torch = pytest.importorskip("torch")
    z, t = rng.standard_normal(shape), rng.integers(0, shape[-1], shape[:-1])
    Z = Tensor(z, requires_grad=True)
    loss = F.cross_entropy(Z, t, reduction=reduction)
    G = rng.standard_normal(loss.shape)
    (loss * G).sum().backward()
    tz = torch.tensor(z, requires_grad=True)
    # torch wants the classes on axis 1: (B, K, T) for sequences
    tl = torch.nn.functional.cross_entropy(tz if tz.ndim == 2 else tz.permute(0, 2, 1),
                                           torch.from_numpy(t), reduction=reduction)
    (tl * torch.from_numpy(G)).sum().backward()
    assert loss.shape == tuple(tl.shape)
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Z.grad, tz.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_cross_entropy_is_stable_for_huge_logits():
    torch = pytest.importorskip("torch")
    z, t = np.array([[1e4, -1e4, 0.0], [-800.0, 800.0, 799.0]]), np.array([1, 2])
    Z = Tensor(z, requires_grad=True)
    loss = F.cross_entropy(Z, t)
    loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(t))
    tl.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(Z.grad))
    assert loss.item() == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(Z.grad, tz.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_accepts_lists_tensors_and_flattened_logits():
    z, t = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 3))
    ref = F.cross_entropy(Tensor(z), t).item()
    assert F.cross_entropy(Tensor(z), t.tolist()).item() == pytest.approx(ref, rel=1e-15)
    assert F.cross_entropy(Tensor(z), Tensor(t)).item() == pytest.approx(ref, rel=1e-15)
    assert F.cross_entropy(Tensor(z.reshape(6, 4)), t).item() == pytest.approx(ref, rel=1e-15)


def test_cross_entropy_out_of_range_targets():
    with tg.scope("rnn/t=3"), pytest.raises(ValueError) as e:
        F.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 4, -1]))
    msg = str(e.value)
    assert "targets [4, -1]" in msg and "positions [(1,), (2,)]" in msg
    assert "4 classes [0, 3]" in msg and "(3, 4)" in msg and "in scope 'rnn/t=3'" in msg


def test_cross_entropy_non_integer_targets():
    with pytest.raises(ValueError) as e:
        F.cross_entropy(Tensor(np.zeros((2, 4))), np.array([1.0, 2.0]))
    assert "integer class indices" in str(e.value) and "float64" in str(e.value)
    assert "(2,)" in str(e.value) and "top level" in str(e.value)


def test_cross_entropy_shape_mismatch():
    with tg.scope("loss"), pytest.raises(ValueError) as e:
        F.cross_entropy(Tensor(np.zeros((2, 3, 4))), np.zeros((3, 2), dtype=int))
    msg = str(e.value)
    assert isinstance(e.value, tg.ShapeError)
    assert "(2, 3, 4)" in msg and "need targets of shape (2, 3)" in msg and "(3, 2)" in msg
    assert "in scope 'loss'" in msg
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), [0, 1], reduction="avg")


# ---- mse_loss --------------------------------------------------------------------
def test_mse_gradcheck_and_torch():
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert tg.gradcheck(lambda x, y: F.mse_loss(x, y), [a, b])
    for reduction in ["mean", "sum", "none"]:
        A = Tensor(a, requires_grad=True)
        loss = F.mse_loss(A, b, reduction=reduction)
        loss.sum().backward()
        ta = torch.tensor(a, requires_grad=True)
        tl = torch.nn.functional.mse_loss(ta, torch.from_numpy(b), reduction=reduction)
        tl.sum().backward()
        np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(A.grad, ta.grad.numpy(), rtol=1e-12)


def test_mse_refuses_broadcasting():
    with pytest.raises(tg.ShapeError) as e:
        F.mse_loss(Tensor(np.zeros((4, 1))), Tensor(np.zeros(4)))
    assert "(4, 1)" in str(e.value) and "(4,)" in str(e.value) and "differ" in str(e.value)


# ---- the sequence loss J = (1/T) Σ_t J_t -----------------------------------------
def test_sequence_loss_is_the_mean_of_the_step_losses():
    B, T, K = 3, 4, 5
    z, y = rng.standard_normal((B, T, K)), rng.integers(0, K, (B, T))
    steps = [Tensor(z[:, t]) for t in range(T)]
    J = F.sequence_loss(steps, y).item()
    J_t = [F.cross_entropy(steps[t], y[:, t]).item() for t in range(T)]
    assert J == pytest.approx(np.mean(J_t), rel=1e-14)
    # with equal batch sizes, also the cross-entropy over all B·T positions
    assert J == pytest.approx(F.cross_entropy(Tensor(z), y).item(), rel=1e-14)
    assert F.sequence_loss(Tensor(z), y).item() == pytest.approx(J, rel=1e-15)


def test_sequence_loss_gradcheck():
    y = rng.integers(0, 3, (2, 4))
    assert tg.gradcheck(lambda *zs: F.sequence_loss(list(zs), y),
                        [rng.standard_normal((2, 3)) for _ in range(4)])


def test_sequence_loss_errors():
    msg = r"3 steps of logits need targets of shape \(B, 3\), got \(2, 4\)"
    with pytest.raises(tg.ShapeError, match=msg):
        F.sequence_loss([Tensor(np.zeros((2, 5)))] * 3, np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="no time steps"):
        F.sequence_loss([], np.zeros((2, 0), dtype=int))


# ---- activation wrappers ---------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softmax", "log_softmax"])
def test_wrappers_are_the_tensor_methods(name):
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    np.testing.assert_array_equal(getattr(F, name)(x).data, getattr(x, name)().data)
    assert getattr(F, name)(x).op == name
