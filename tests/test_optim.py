"""Optimizers: each step equal to torch.optim's to 1e-12 (float64), skipping params without
grad, resuming from a state dict, and the hyperparameter errors."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn, optim

SHAPES = [(3, 4), (4,)]


def grads_for(step):
    """Fixed, different gradients per step, so the state (momentum, sums) matters."""
    r = np.random.default_rng(100 + step)
    return [r.standard_normal(s) for s in SHAPES]


def run_ours(make, steps=3):
    r = np.random.default_rng(0)
    params = [Tensor(r.standard_normal(s), requires_grad=True) for s in SHAPES]
    opt = make(params)
    for k in range(steps):
        for p, g in zip(params, grads_for(k), strict=True):
            p.grad = g
        opt.step()
    return [p.data for p in params]


def run_torch(torch, make, steps=3):
    r = np.random.default_rng(0)
    params = [torch.tensor(r.standard_normal(s), requires_grad=True) for s in SHAPES]
    opt = make(params)
    for k in range(steps):
        for p, g in zip(params, grads_for(k), strict=True):
            p.grad = torch.from_numpy(g)
        opt.step()
    return [p.detach().numpy() for p in params]


CASES = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.1),
            lambda t, ps: t.optim.SGD(ps, lr=0.1)),
    "sgd_momentum_wd": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
                        lambda t, ps: t.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
    "sgd_dampening": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.3),
                      lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.3)),
    "sgd_nesterov": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
                     lambda t, ps: t.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                               weight_decay=0.1)),
    "adagrad": (lambda ps: optim.Adagrad(ps, lr=0.1),
                lambda t, ps: t.optim.Adagrad(ps, lr=0.1)),
    "adagrad_all": (lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.05, weight_decay=0.02,
                                             initial_accumulator_value=0.3, eps=1e-6),
                    lambda t, ps: t.optim.Adagrad(ps, lr=0.1, lr_decay=0.05, weight_decay=0.02,
                                                  initial_accumulator_value=0.3, eps=1e-6)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.01),
             lambda t, ps: t.optim.Adam(ps, lr=0.01)),
    "adam_wd": (lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                lambda t, ps: t.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                           weight_decay=0.1)),
}


@pytest.mark.parametrize("case", CASES)
def test_three_steps_match_torch(case):
    torch = pytest.importorskip("torch")
    ours, theirs = CASES[case]
    for a, b in zip(run_ours(ours), run_torch(torch, lambda ps: theirs(torch, ps)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_adagrad_reproduces_min_char_rnn():
    """min-char-rnn: mem += g²; p -= lr g / √(mem + 1e-8): eps inside the root, which is
    Adagrad with the accumulator starting at 1e-8 and eps = 0."""
    r = np.random.default_rng(1)
    p0 = r.standard_normal((3, 3))
    p = Tensor(p0.copy(), requires_grad=True)
    opt = optim.Adagrad([p], lr=0.1, eps=0.0, initial_accumulator_value=1e-8)
    ref, mem = p0.copy(), np.zeros_like(p0)
    for _ in range(3):
        g = r.standard_normal((3, 3))
        p.grad = g
        opt.step()
        mem += g * g
        ref -= 0.1 * g / np.sqrt(mem + 1e-8)
    np.testing.assert_allclose(p.data, ref, rtol=1e-14)


def test_update_formula_of_plain_sgd():
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    p.grad = np.array([0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1])


def test_param_without_grad_is_skipped_and_gets_no_state():
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, 1.0)
    assert opt.state[b] == {} and int(opt.state[a]["step"]) == 1
    assert not np.allclose(a.data, 1.0)


def test_params_from_a_module_and_zero_grad():
    lin = nn.Linear(3, 2, dtype=np.float64)
    opt = optim.SGD(lin, lr=0.1)                        # a Module works too
    assert opt.params == lin.parameters()
    lin(Tensor(np.ones((4, 3)))).sum().backward()
    w = lin.weight.data.copy()
    opt.step()
    assert not np.allclose(lin.weight.data, w)
    opt.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_float32_params_stay_float32():
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for opt in [optim.SGD([p], lr=0.1, momentum=0.9), optim.Adagrad([p]), optim.Adam([p])]:
        p.grad = np.ones(3, dtype=np.float32)
        opt.step()
        assert p.dtype == np.float32


def test_step_bumps_the_version_so_a_stale_graph_refuses_backward():
    W = Tensor(np.ones((2, 2)), requires_grad=True)
    loss = (Tensor(np.ones((1, 2))) @ W).tanh().sum()
    W.grad = np.ones((2, 2))
    optim.SGD([W], lr=0.1).step()
    with pytest.raises(tg.InplaceModificationError):
        loss.backward()


def test_hyperparameter_errors():
    p = [Tensor(np.ones(2), requires_grad=True)]
    cases = [
        (lambda: optim.SGD(p, lr=0), "SGD: lr must be > 0, got 0"),
        (lambda: optim.SGD(p, lr=-0.1), "SGD: lr must be > 0, got -0.1"),
        (lambda: optim.SGD(p, lr=0.1, momentum=-0.5), "SGD: momentum must be >= 0, got -0.5"),
        (lambda: optim.SGD(p, lr=0.1, weight_decay=-1), "SGD: weight_decay must be >= 0, got -1"),
        (lambda: optim.SGD(p, lr=0.1, nesterov=True), "nesterov needs momentum > 0 and dampening = 0"),
        (lambda: optim.Adagrad(p, lr=0.0), "Adagrad: lr must be > 0, got 0.0"),
        (lambda: optim.Adagrad(p, eps=-1e-10), "Adagrad: eps must be >= 0, got -1e-10"),
        (lambda: optim.Adam(p, lr=-1), "Adam: lr must be > 0, got -1"),
        (lambda: optim.Adam(p, eps=-1.0), "Adam: eps must be >= 0, got -1.0"),
        (lambda: optim.Adam(p, betas=(0.9, 1.0)), "betas must be two numbers in [0, 1), got (0.9, 1.0)"),
        (lambda: optim.Adam(p, betas=(-0.1, 0.9)), "betas must be two numbers in [0, 1), got (-0.1, 0.9)"),
        (lambda: optim.Adam([], lr=0.1), "Adam: got an empty parameter list"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError) as e:
            make()
        assert message in str(e.value)
    with pytest.raises(TypeError, match="parameter 0 is a ndarray, not a Tensor"):
        optim.SGD([np.ones(2)], lr=0.1)


@pytest.mark.parametrize("case", ["sgd_momentum_wd", "adagrad_all", "adam_wd"])
def test_resume_from_state_dict_through_a_checkpoint(case, tmp_path):
    make = CASES[case][0]
    straight = run_ours(make, steps=3)
    # two steps, save parameters and optimizer state, then one step in a fresh optimizer
    r = np.random.default_rng(0)
    params = [Tensor(r.standard_normal(s), requires_grad=True) for s in SHAPES]
    opt = make(params)
    for k in range(2):
        for p, g in zip(params, grads_for(k), strict=True):
            p.grad = g
        opt.step()
    tg.save({"params": {str(i): p for i, p in enumerate(params)}, "optim": opt.state_dict()},
            tmp_path / "ckpt.npz")
    ckpt = tg.load(tmp_path / "ckpt.npz")
    params2 = [Tensor(ckpt["params"][str(i)], requires_grad=True) for i in range(len(SHAPES))]
    opt2 = make(params2)
    opt2.load_state_dict(ckpt["optim"])
    for p, g in zip(params2, grads_for(2), strict=True):
        p.grad = g
    opt2.step()
    for a, b in zip(straight, params2, strict=True):
        np.testing.assert_array_equal(a, b.data)


def test_load_state_dict_restores_hyperparameters_and_lists_problems():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.SGD([a], lr=0.5, momentum=0.9)
    a.grad = np.ones((2, 3))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and list(sd["state"]) == [0]
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    opt2 = optim.SGD([b], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.lr == 0.5 and opt2.momentum == 0.9 and opt2.nesterov is False
    np.testing.assert_array_equal(opt2.state[b]["momentum_buffer"], np.ones((2, 3)))

    bad = {"state": {0: {"momentum_buffer": np.ones((3, 2))}, 4: {"momentum_buffer": np.ones((2, 3))},
                     1: {"exp_avg": np.ones(1)}},
           "param_groups": [{**{k: v for k, v in sd["param_groups"][0].items() if k != "lr"}}]}
    bad["param_groups"][0]["momentum"] = -1.0
    with pytest.raises(RuntimeError) as e:
        opt2.load_state_dict(bad)
    msg = str(e.value)
    assert msg.startswith("SGD.load_state_dict: ")
    assert "group 0 misses ['lr']" in msg
    assert "group 0: momentum must be >= 0, got -1.0" in msg
    assert "state 0.momentum_buffer: shape (3, 2) != parameter shape (2, 3)" in msg
    assert "state 4: no such parameter (this optimizer has 1)" in msg
    assert "state 1: no such parameter" in msg
    assert opt2.lr == 0.5 and opt2.momentum == 0.9             # nothing changed on error
