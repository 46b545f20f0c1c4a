"""nn.BatchNorm1d against torch.nn.BatchNorm1d in float64: outputs, gradients, running statistics."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

torch = pytest.importorskip("torch")
TOL = dict(rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 3)])
def test_train_and_eval_match_torch(shape):
    rng = np.random.default_rng(0)
    ours = nn.BatchNorm1d(4, momentum=0.2, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(4, momentum=0.2, dtype=torch.float64)
    w, b = rng.normal(size=4), rng.normal(size=4)
    ours.weight.data, ours.bias.data = w.copy(), b.copy()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    for _ in range(3):                                      # three training batches
        x, g = rng.normal(2.0, 3.0, size=shape), rng.normal(size=shape)
        xt = tg.Tensor(x, requires_grad=True)
        y = ours(xt)
        y.backward(g)
        xp = torch.tensor(x, requires_grad=True)
        yp = theirs(xp)
        yp.backward(torch.tensor(g))
        np.testing.assert_allclose(y.data, yp.detach().numpy(), **TOL)
        np.testing.assert_allclose(xt.grad, xp.grad.numpy(), **TOL)     # through μ_B and σ²_B
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **TOL)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **TOL)
        ours.zero_grad()
        theirs.zero_grad()
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **TOL)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **TOL)  # unbiased
    ours.eval()
    theirs.eval()
    x = rng.normal(size=(1,) + shape[1:])                   # a batch of one: only eval can do it
    np.testing.assert_allclose(ours(tg.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), **TOL)


def test_gradcheck_through_the_batch_statistics():
    x = np.random.default_rng(1).normal(size=(6, 3))
    assert tg.gradcheck(lambda x: nn.BatchNorm1d(3, dtype=np.float64)(x), [x])


def test_misuse_names_the_layer_and_the_shapes():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(tg.ShapeError, match=r"BatchNorm1d\(4\): input of shape \(2, 3\) must be \(N, 4\)"):
        bn(tg.Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="more than one value per feature"):
        bn(tg.Tensor(np.zeros((1, 4))))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(4, momentum=1.5)
