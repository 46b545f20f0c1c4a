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


def trained_pair(seed=0, batches=3):
    """Our BatchNorm1d and torch's after the same training batches (same weight and bias)."""
    rng = np.random.default_rng(seed)
    ours = nn.BatchNorm1d(4, momentum=0.3, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(4, momentum=0.3, dtype=torch.float64)
    for _ in range(batches):
        x = rng.normal(1.0, 2.0, size=(6, 4))
        ours(tg.Tensor(x))
        theirs(torch.tensor(x))
    return ours, theirs


def test_state_dict_has_the_buffers_with_torchs_names_and_values():
    ours, theirs = trained_pair()
    mine, torchs = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(torchs) == ["weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked"]
    for k in torchs:
        np.testing.assert_allclose(mine[k], torchs[k].numpy(), **TOL)
    assert mine["num_batches_tracked"].dtype == np.int64 and int(mine["num_batches_tracked"]) == 3
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]   # buffers are not trained
    mine["running_mean"][:] = 7.0                                         # a copy, not the module's array
    assert not np.allclose(ours.running_mean, 7.0)
    ours.eval()
    ours(tg.Tensor(np.ones((2, 4))))                                      # eval counts nothing
    assert int(ours.num_batches_tracked) == 3


def test_load_state_dict_restores_the_running_statistics_from_torch_and_back():
    ours, theirs = trained_pair(seed=1)
    fresh = nn.BatchNorm1d(4, momentum=0.3, dtype=np.float64)
    fresh.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    fresh.eval()
    theirs.eval()
    x = np.random.default_rng(2).normal(size=(3, 4))
    np.testing.assert_allclose(fresh(tg.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), **TOL)
    back = torch.nn.BatchNorm1d(4, momentum=0.3, dtype=torch.float64)
    back.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ours.state_dict().items()})
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(back.state_dict()[k].numpy(), v.numpy(), **TOL)
    with pytest.raises(RuntimeError,
                       match=r"missing key 'running_var'.*'running_mean': checkpoint shape \(3,\)"):
        fresh.load_state_dict({"weight": np.ones(4), "bias": np.zeros(4), "running_mean": np.zeros(3),
                               "num_batches_tracked": np.array(0)})


def test_checkpoint_round_trip_keeps_the_running_statistics_of_a_nested_batchnorm(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.BatchNorm1d(4, dtype=np.float64))
    rng = np.random.default_rng(3)
    for _ in range(4):
        model(tg.Tensor(rng.normal(size=(5, 3))))
    assert list(model.state_dict())[-3:] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    model.save(tmp_path / "bn.npz")
    copy = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.BatchNorm1d(4, dtype=np.float64))
    copy.load(tmp_path / "bn.npz")
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(copy.state_dict()[k], v, **TOL)
    assert copy[1].running_mean.dtype == np.float64 and int(copy[1].num_batches_tracked) == 4
    x = tg.Tensor(rng.normal(size=(2, 3)))
    np.testing.assert_allclose(copy.eval()(x).data, model.eval()(x).data, **TOL)


def test_register_buffer_refuses_a_parameter_name():
    bn = nn.BatchNorm1d(2)
    with pytest.raises(KeyError, match="'weight' is already a parameter"):
        bn.register_buffer("weight", np.zeros(2))


def test_register_buffer_refuses_a_name_that_is_not_an_identifier():
    bn = nn.BatchNorm1d(2)
    with pytest.raises(KeyError, match="must be an identifier, got 'running.mean'"):
        bn.register_buffer("running.mean", np.zeros(2))


def test_a_loaded_buffer_is_a_copy_of_the_checkpoint_array():
    """Writing into the dict loaded from must not change the model (parameters copy too)."""
    bn = nn.BatchNorm1d(2, dtype=np.float64)
    state = bn.state_dict()
    bn.load_state_dict(state)
    state["running_mean"][:] = 5.0
    state["weight"][:] = 5.0
    np.testing.assert_array_equal(bn.running_mean, [0.0, 0.0])
    np.testing.assert_array_equal(bn.weight.data, [1.0, 1.0])
