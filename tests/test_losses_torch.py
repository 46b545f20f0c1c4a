"""cross_entropy's PyTorch options (weight, ignore_index, label_smoothing, reduction, and every
combination), nll_loss, and the module forms: values and gradients against torch in float64,
finite differences, and the errors."""

import itertools

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.nn import functional as F

K = 5
OPTIONS = list(itertools.product(
    [None, "w"],                       # weight
    [-100, 2],                         # ignore_index: the default (rows with -100) or a real class
    [0.0, 0.3],                        # label_smoothing
    ["mean", "sum", "none"],           # reduction
    [(7,), (2, 4)],                    # targets' shape (logits add K on the last axis)
))


def problem(shape, ignore_index, seed=0):
    r = np.random.default_rng(seed)
    z = r.standard_normal((*shape, K))
    t = r.integers(0, K, shape)
    t.flat[[1, 4]] = ignore_index                   # two rows ignored
    w = r.uniform(0.2, 2.0, K)
    return z, t, w


def torch_ce(torch, z, t, reduction, **kw):
    tz = torch.tensor(z, requires_grad=True)
    zz = tz if z.ndim == 2 else tz.permute(0, 2, 1)     # torch: classes on axis 1
    if "weight" in kw and kw["weight"] is not None:
        kw["weight"] = torch.from_numpy(kw["weight"])
    return tz, torch.nn.functional.cross_entropy(zz, torch.from_numpy(t), reduction=reduction, **kw)


@pytest.mark.parametrize("weight, ignore_index, smoothing, reduction, shape", OPTIONS)
def test_cross_entropy_options_match_torch(weight, ignore_index, smoothing, reduction, shape):
    torch = pytest.importorskip("torch")
    z, t, w = problem(shape, ignore_index)
    w = w if weight else None
    Z = Tensor(z, requires_grad=True)
    loss = F.cross_entropy(Z, t, weight=w, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=smoothing)
    tz, tl = torch_ce(torch, z, t, reduction, weight=w, ignore_index=ignore_index,
                      label_smoothing=smoothing)
    G = np.random.default_rng(1).standard_normal(loss.shape)
    (loss * G).sum().backward()
    (tl * torch.from_numpy(G)).sum().backward()
    assert loss.shape == tuple(tl.shape)
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(Z.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("weight, ignore_index, smoothing", [(None, 2, 0.0), ("w", 2, 0.2), ("w", -100, 0.1)])
def test_cross_entropy_options_gradcheck(weight, ignore_index, smoothing):
    z, t, w = problem((6,), ignore_index, seed=3)
    assert tg.gradcheck(lambda x: F.cross_entropy(x, t, weight=w if weight else None,
                                                  ignore_index=ignore_index,
                                                  label_smoothing=smoothing), [z])


@pytest.mark.parametrize("weight, smoothing, reduction, shape", list(itertools.product(
    [None, "w"], [0.0, 0.25], ["mean", "sum", "none"], [(6,), (2, 3)])))
def test_probability_targets_match_torch(weight, smoothing, reduction, shape):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(11)
    z, w = r.standard_normal((*shape, K)), r.uniform(0.2, 2.0, K)
    p = r.dirichlet(np.ones(K), shape)                      # each row sums to 1
    w = w if weight else None
    Z, P = Tensor(z, requires_grad=True), Tensor(p, requires_grad=True)
    loss = F.cross_entropy(Z, P, weight=w, reduction=reduction, label_smoothing=smoothing)
    tz, tp = torch.tensor(z, requires_grad=True), torch.tensor(p, requires_grad=True)
    move = (lambda a: a) if len(shape) == 1 else (lambda a: a.permute(0, 2, 1))
    tl = torch.nn.functional.cross_entropy(move(tz), move(tp), reduction=reduction, label_smoothing=smoothing,
                                           weight=None if w is None else torch.from_numpy(w))
    G = r.standard_normal(loss.shape)
    (loss * G).sum().backward()
    (tl * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(Z.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(P.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_probability_targets_gradcheck():
    r = np.random.default_rng(12)
    p = r.dirichlet(np.ones(K), 4)
    assert tg.gradcheck(lambda z, q: F.cross_entropy(z, q, label_smoothing=0.1),
                        [r.standard_normal((4, K)), p])


def test_every_row_ignored_gives_nan_as_torch():
    torch = pytest.importorskip("torch")
    z, t = np.zeros((3, K)), np.full(3, -100)
    _, tl = torch_ce(torch, z, t, "mean")
    assert np.isnan(tl.item()) and np.isnan(F.cross_entropy(Tensor(z), t).item())
    assert F.cross_entropy(Tensor(z), t, reduction="sum").item() == 0.0


@pytest.mark.parametrize("weight, ignore_index, reduction", list(itertools.product(
    [None, "w"], [-100, 0], ["mean", "sum", "none"])))
def test_nll_loss_matches_torch(weight, ignore_index, reduction):
    torch = pytest.importorskip("torch")
    z, t, w = problem((8,), ignore_index, seed=5)
    w = w if weight else None
    logp = Tensor(z, requires_grad=True).log_softmax(axis=-1)
    loss = F.nll_loss(logp, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    (loss * 1.5).sum().backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.nll_loss(tz.log_softmax(-1), torch.from_numpy(t),
                                      weight=None if w is None else torch.from_numpy(w),
                                      ignore_index=ignore_index, reduction=reduction)
    (tl * 1.5).sum().backward()
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(logp.parents[0].grad, tz.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_module_forms_match_torchs_modules():
    torch = pytest.importorskip("torch")
    z, t, w = problem((6,), 1, seed=9)
    ours = nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1)(Tensor(z), t)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w), ignore_index=1,
                                       label_smoothing=0.1)(torch.from_numpy(z), torch.from_numpy(t))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    logp = np.log(np.exp(z) / np.exp(z).sum(-1, keepdims=True))
    ours = nn.NLLLoss(reduction="sum")(Tensor(logp), np.where(t == 1, 0, t))
    theirs = torch.nn.NLLLoss(reduction="sum")(torch.from_numpy(logp),
                                               torch.from_numpy(np.where(t == 1, 0, t)))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    a, b = np.random.default_rng(2).standard_normal((2, 3, 4))
    for reduction in ["mean", "sum", "none"]:
        np.testing.assert_allclose(
            nn.MSELoss(reduction)(Tensor(a), Tensor(b)).data,
            torch.nn.MSELoss(reduction=reduction)(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
            rtol=1e-12)
    assert nn.CrossEntropyLoss().parameters() == []
    assert "ignore_index=-100" in repr(nn.CrossEntropyLoss())


def test_nn_utils_is_where_torch_users_look():
    from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_
    assert clip_grad_norm_ is nn.clip_grad_norm_ and tg.nn.utils.clip_grad_value_ is clip_grad_value_


@pytest.mark.parametrize("call, kind, message", [
    (lambda z, t: F.cross_entropy(z, t, weight=np.ones(4)), tg.ShapeError,
     "cross_entropy: weight must have one entry per class, shape (5,), got (4,)"),
    (lambda z, t: F.cross_entropy(z, t, label_smoothing=1.5), ValueError,
     "label_smoothing must be a number in [0, 1], got 1.5"),
    (lambda z, t: F.cross_entropy(z, t, label_smoothing="0.1"), ValueError,
     "label_smoothing must be a number in [0, 1], got '0.1'"),
    (lambda z, t: F.cross_entropy(z, t, reduction="avg"), ValueError,
     "cross_entropy: reduction must be one of ('mean', 'sum', 'none'), got 'avg'"),
    (lambda z, t: F.cross_entropy(z, np.array([0, 1, -1]), ignore_index=-100), ValueError,
     "targets [-1] at positions [(2,)] are outside the 5 classes"),
    (lambda z, t: F.cross_entropy(z, np.array([0, 1, 7]), ignore_index=0), ValueError,
     "ignore_index is 0"),
    (lambda z, t: F.nll_loss(z, t.astype(float)), ValueError, "nll_loss: targets must be integer"),
    (lambda z, t: nn.CrossEntropyLoss(reduction="mena"), ValueError, "CrossEntropyLoss: reduction"),
    (lambda z, t: nn.MSELoss("avg"), ValueError, "MSELoss: reduction"),
])
def test_loss_option_errors(call, kind, message):
    with pytest.raises(kind) as e:
        call(Tensor(np.zeros((3, K))), np.array([0, 1, 2]))
    assert message in str(e.value)
