"""Gradient clipping: equal to torch.nn.utils (returned norm and clipped grads), NaN/Inf
handling, and never modifying a gradient array in place."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn

SHAPES = [(3, 4), (4,), (2, 2)]


def make(scale=1.0, seed=0):
    r = np.random.default_rng(seed)
    params = [Tensor(r.standard_normal(s), requires_grad=True) for s in SHAPES]
    for p in params:
        p.grad = scale * r.standard_normal(p.shape)
    return params


def torch_copy(torch, params):
    out = []
    for p in params:
        t = torch.tensor(p.data, requires_grad=True)
        t.grad = torch.tensor(p.grad)
        out.append(t)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])       # clipping, and a no-op
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    params = make(scale=5.0)
    ref = torch_copy(torch, params)
    total = nn.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    ref_total = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(ref_total.item(), rel=1e-12)
    for p, t in zip(params, ref, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clipped_norm_is_max_norm_and_direction_kept():
    params = make(scale=10.0)
    before = np.concatenate([p.grad.ravel() for p in params])
    total = nn.clip_grad_norm_(params, 1.0)
    after = np.concatenate([p.grad.ravel() for p in params])
    assert total == pytest.approx(np.linalg.norm(before), rel=1e-14)
    assert np.linalg.norm(after) == pytest.approx(1.0, rel=1e-5)      # 1 / (1 + 1e-6 / total)
    np.testing.assert_allclose(after / np.linalg.norm(after), before / total, rtol=1e-12)


def test_clip_assigns_new_arrays_and_leaves_edge_grads_alone():
    W = Tensor(np.random.default_rng(0).standard_normal((3, 3)) * 10, requires_grad=True)
    y = Tensor(np.ones((1, 3))) @ W
    (y * y).sum().backward()
    recorded = y.edge_grads[1]                     # the gradient that flowed into W
    old = np.array(recorded)                       # W.grad may be this very array
    nn.clip_grad_norm_([W], 1e-3)
    assert W.grad is not recorded and np.abs(W.grad).max() < 1e-3
    np.testing.assert_array_equal(recorded, old)    # what the renderer shows is untouched
    nn.clip_grad_value_([W], 1e-4)
    np.testing.assert_array_equal(recorded, old)


def test_no_op_keeps_the_arrays():
    params = make(scale=1e-3)
    before = [p.grad for p in params]
    nn.clip_grad_norm_(params, 1.0)
    assert all(p.grad is g for p, g in zip(params, before, strict=True))


def test_nonfinite_total_raises_or_is_returned_as_torch_does():
    torch = pytest.importorskip("torch")
    for bad in [np.nan, np.inf]:
        params = make()
        params[1].grad[2] = bad
        with pytest.raises(RuntimeError) as e:
            nn.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
        assert f"total gradient norm of order 2.0 over 3 parameters is {float(bad)}" in str(e.value)
        assert "detect_anomaly" in str(e.value)
        ref = torch_copy(torch, params)
        total = nn.clip_grad_norm_(params, 1.0)
        ref_total = torch.nn.utils.clip_grad_norm_(ref, 1.0)
        # non-finite totals (inf == inf, NaN matches NaN); finite entries to float64 rounding
        np.testing.assert_allclose(total, ref_total.item(), rtol=1e-12)
        for p, t in zip(params, ref, strict=True):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)


def test_inf_norm_is_the_largest_entry():
    params = make()
    params[2].grad[1, 0] = -42.0
    assert nn.clip_grad_norm_(params, 100.0, norm_type="inf") == 42.0


def test_params_without_grad_modules_and_empty():
    lin = nn.Linear(2, 2)
    assert nn.clip_grad_norm_(lin, 1.0) == 0.0                # no grads yet
    lin.weight.grad = np.full((2, 2), 3.0, dtype=np.float32)  # bias.grad stays None
    assert nn.clip_grad_norm_(lin, 1.0) == pytest.approx(6.0)
    assert lin.weight.grad.dtype == np.float32 and lin.bias.grad is None
    t = Tensor(np.ones(2), requires_grad=True)
    t.grad = np.array([3.0, 4.0])
    assert nn.clip_grad_norm_(t, 10.0) == 5.0                  # a single tensor


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    params = make(scale=3.0)
    ref = torch_copy(torch, params)
    old = [p.grad for p in params]
    assert nn.clip_grad_value_(params, 1.5) is None
    torch.nn.utils.clip_grad_value_(ref, 1.5)
    for p, t, g in zip(params, ref, old, strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
        assert p.grad is not g and np.abs(g).max() > 1.5        # the old array is unchanged


def test_errors():
    params = make()
    with pytest.raises(ValueError, match="max_norm must be >= 0, got -1"):
        nn.clip_grad_norm_(params, -1)
    with pytest.raises(ValueError, match="norm_type must be > 0 or inf, got 0.0"):
        nn.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(ValueError, match="clip_value must be >= 0, got -0.5"):
        nn.clip_grad_value_(params, -0.5)
    assert tg.nn.clip_grad_norm_ is nn.clip.clip_grad_norm_
