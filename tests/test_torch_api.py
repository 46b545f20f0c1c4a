"""PyTorch's spellings beside numpy's: dim/keepdim, the transpose rule, sizes, casts,
comparisons and argmax (outside the graph), float(loss), zero_(), and the factories with
torch's dtype inference, each checked against torch."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).standard_normal((2, 3, 4))


def as_np(t):
    return t.numpy() if hasattr(t, "numpy") and not isinstance(t, Tensor) else t.data


@pytest.mark.parametrize("call", [
    lambda m, x: x.sum(dim=1), lambda m, x: x.sum(dim=(0, 2), keepdim=True),
    lambda m, x: x.mean(dim=-1), lambda m, x: x.softmax(dim=0), lambda m, x: x.log_softmax(dim=-1),
    lambda m, x: m.cat([x, x], dim=2), lambda m, x: m.stack([x, x], dim=1),
    lambda m, x: x.argmax(dim=1), lambda m, x: x.argmin(dim=-1, keepdim=True), lambda m, x: x.argmax(),
    lambda m, x: x > 0, lambda m, x: x <= 0.1, lambda m, x: x.eq(x), lambda m, x: x.ne(0.0),
    lambda m, x: x.transpose(0, 1), lambda m, x: x.transpose(2, 0), lambda m, x: x.permute(1, 2, 0),
    lambda m, x: x.unsqueeze(0), lambda m, x: x.unsqueeze(-1), lambda m, x: x[:, :1].squeeze(1),
    lambda m, x: x.flatten(), lambda m, x: x.flatten(0, 1), lambda m, x: x.view(-1, 4),
    lambda m, x: x.clamp(min=0), lambda m, x: x.abs(), lambda m, x: (x > 0).any(),
    lambda m, x: (x > -9).all(), lambda m, x: x.double(), lambda m, x: x.float(),
])
def test_same_call_same_result_as_torch(call):
    ours, theirs = call(tg, Tensor(X)), call(torch, torch.from_numpy(X))
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


def test_comparisons_and_argmax_are_outside_the_graph():
    x = Tensor(X, requires_grad=True)
    for out in (x > 0, x < 0, x >= 0, x <= 0, x.eq(x), x.argmax(dim=-1)):
        assert not out.requires_grad and out.op is None
    mask = (x > 0).double()                         # relu by hand: the mask is a constant
    (x * mask).sum().backward()
    np.testing.assert_array_equal(x.grad, X > 0)


def test_numpy_spelling_still_works_and_both_at_once_is_an_error():
    x = Tensor(X)
    np.testing.assert_array_equal(x.sum(axis=1, keepdims=True).data, x.sum(dim=1, keepdim=True).data)
    with pytest.raises(TypeError, match="sum: got both axis= and dim="):
        x.sum(axis=1, dim=1)
    with pytest.raises(TypeError, match="got both keepdims= and keepdim="):
        x.mean(keepdims=True, keepdim=True)


def test_transpose_rule():
    x = Tensor(X)
    assert x.transpose(0, 1).shape == (3, 2, 4)               # two ints: swap (torch)
    assert x.transpose(1, 2, 0).shape == (3, 4, 2)            # a permutation (numpy)
    assert x.transpose((0, 2, 1)).shape == (2, 4, 3)
    assert x.transpose().shape == x.T.shape == (4, 3, 2)
    m = Tensor(X[0])
    np.testing.assert_array_equal(m.transpose(0, 1).data, X[0].T)   # swap, also on 2-D
    np.testing.assert_array_equal(m.transpose((0, 1)).data, X[0])   # a tuple is a permutation
    with pytest.raises(tg.ShapeError, match=r"transpose: dims \(0, 3\) are out of range for the 3 axes"):
        x.transpose(0, 3)
    with pytest.raises(tg.ShapeError, match="permute: dims"):
        x.permute(0, 1)


def test_sizes_numbers_and_bool():
    x = Tensor(X)
    assert x.size == 24 and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.numel() == 24 and len(x) == 2
    loss = x.sum()
    assert float(loss) == pytest.approx(X.sum()) and isinstance(float(loss), float)
    assert int(Tensor(3)) == 3
    assert bool(Tensor(1.0)) and not bool(Tensor(0.0))
    with pytest.raises(ValueError, match=r"the truth value of a tensor of shape \(2, 3, 4\) is ambiguous"):
        bool(x > 0)
    with pytest.raises(ValueError, match="item"):
        float(x)


def test_in_place_writes_as_torch_under_no_grad_and_refused_outside():
    w = Tensor(np.ones(3), requires_grad=True)
    y = (w * w).sum()
    with pytest.raises(RuntimeError, match=r"zero_: 'tensor' \(shape \(3,\)\) requires grad.*tg.no_grad"):
        w.zero_()
    with tg.no_grad():
        assert w.mul_(3.0).add_(np.ones(3), alpha=2).sub_(1.0).div_(2.0) is w
    np.testing.assert_array_equal(w.data, 2.0)
    with pytest.raises(tg.InplaceModificationError):        # the graph read the old values
        y.backward()
    with tg.no_grad():
        w.clamp_(max=1.5).copy_(np.array([0.0, 1.0, 2.0])).fill_(4.0)
    np.testing.assert_array_equal(w.data, 4.0)
    with tg.no_grad():
        w.zero_()
    np.testing.assert_array_equal(w.data, 0.0)


def test_in_place_refusals():
    x, i = Tensor(np.zeros((2, 3))), Tensor([1, 2])
    view = x[0]
    x.add_(1.0)                                              # no grad: allowed, views see it
    np.testing.assert_array_equal(view.data, 1.0)
    with pytest.raises(TypeError, match="add_: a float64 result cannot be written into 'tensor' of "
                                        "dtype int64"):
        i.add_(0.5)
    with pytest.raises(tg.ShapeError, match=r"copy_: a result of shape \(4,\) cannot be written into"):
        x.copy_(np.ones(4))
    with torch.no_grad():                                    # the same rule in torch
        t = torch.zeros(2, 3, requires_grad=True)
        t.add_(1.0)
    with pytest.raises(RuntimeError):
        torch.zeros(2, requires_grad=True).add_(1.0)


@pytest.mark.parametrize("make", [
    lambda m: m.tensor([0, 1]), lambda m: m.tensor([0.5, 1]), lambda m: m.tensor(3),
    lambda m: m.tensor(2.5), lambda m: m.tensor([True, False]),
    lambda m: m.tensor([[1, 2], [3, 4]], dtype=m.float64),
    lambda m: m.zeros(2, 3), lambda m: m.ones((2, 3)), lambda m: m.zeros(2, dtype=m.int64),
    lambda m: m.full((2,), 7), lambda m: m.full((2,), 7.0),
    lambda m: m.arange(5), lambda m: m.arange(1, 7, 2), lambda m: m.arange(0, 1, 0.25),
    lambda m: m.zeros_like(m.ones(2, 2, dtype=m.float64)), lambda m: m.ones_like(m.tensor([1, 2])),
])
def test_factories_infer_dtypes_as_torch(make):
    a, b = make(tg), make(torch)
    assert a.dtype == b.numpy().dtype and a.shape == tuple(b.shape)
    np.testing.assert_array_equal(a.data, b.numpy())


def test_random_factories_follow_the_seed_and_the_default_dtype():
    tg.manual_seed(5)
    a = tg.randn(2, 3)
    tg.manual_seed(5)
    b = tg.randn((2, 3))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == tg.get_default_dtype() and tg.rand(4).data.max() < 1
    r = tg.randint(0, 5, (100,))
    assert r.dtype == np.int64 and 0 <= r.data.min() and r.data.max() < 5
    assert tg.randn_like(a).shape == (2, 3)
    w = tg.randn(3, requires_grad=True, dtype=torch.float64)    # a torch dtype is understood
    assert w.requires_grad and w.dtype == np.float64


def test_tensor_copies_and_int_lists_index():
    a = np.zeros(3)
    t = tg.tensor(a)
    a[0] = 1
    assert t.data[0] == 0                                   # torch.tensor copies
    x = Tensor(X[0])
    np.testing.assert_array_equal(x[Tensor([0, 1])].data, X[0][[0, 1]])   # int64: can index
    loss = tg.nn.functional.cross_entropy(Tensor(X[0]), Tensor([0, 3, 1]))  # targets
    assert np.isfinite(loss.item())


def test_a_mask_from_a_comparison_follows_the_input_under_compile():
    """Comparisons are ops (without VJPs), so tg.compile replays them on the new input."""
    w = Tensor(np.ones(3), requires_grad=True)

    def step(x):
        X = Tensor(x)
        loss = (X * w * (X > 0)).sum()
        loss.backward()
        return loss

    compiled = tg.compile(step)
    for x in ([1.0, -1.0, 2.0], [-1.0, 1.0, -2.0], [3.0, 4.0, -3.0]):
        w.grad = None
        x = np.array(x)
        loss = compiled(x)
        kept = np.where(x > 0, x, 0.0)
        assert loss.item() == pytest.approx(kept.sum())
        np.testing.assert_allclose(w.grad, kept)
