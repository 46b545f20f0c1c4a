"""Parameter groups as torch.optim's (per-group hyperparameters, state_dict layout and round
trip, loading a torch state dict), and the optimizer misuse that must not pass silently:
duplicates, non-leaves, a grad of the wrong shape, hyperparameters of the wrong type,
setting `opt.lr`, and load_state_dict checked and all-or-nothing."""

import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, optim

SHAPES = [(3, 4), (4,), (2, 2)]


def grads_for(step):
    r = np.random.default_rng(200 + step)
    return [r.standard_normal(s) for s in SHAPES]


def start():
    r = np.random.default_rng(7)
    return [r.standard_normal(s) for s in SHAPES]


def groups_of(ps):
    return [{"params": [ps[0]]}, {"params": ps[1:], "lr": 0.05}]


GROUPED = {
    "sgd": (lambda g: optim.SGD(g, lr=0.1, momentum=0.9),
            lambda t, g: t.optim.SGD(g, lr=0.1, momentum=0.9),
            {"momentum": 0.5, "weight_decay": 0.1}),
    "adagrad": (lambda g: optim.Adagrad(g, lr=0.1),
                lambda t, g: t.optim.Adagrad(g, lr=0.1),
                {"lr_decay": 0.1, "eps": 1e-6, "weight_decay": 0.05}),
    "adam": (lambda g: optim.Adam(g, lr=0.01),
             lambda t, g: t.optim.Adam(g, lr=0.01),
             {"betas": (0.8, 0.99), "weight_decay": 0.01}),
}


def grouped(ps, extra):
    g = groups_of(ps)
    g[1].update(extra)
    return g


def run(params, opt, steps, set_grad, first=0):
    for k in range(first, first + steps):
        for p, g in zip(params, grads_for(k), strict=True):
            set_grad(p, g)
        opt.step()


def ours(case, steps=3):
    make, _, extra = GROUPED[case]
    ps = [Tensor(a, requires_grad=True) for a in start()]
    opt = make(grouped(ps, extra))
    run(ps, opt, steps, lambda p, g: setattr(p, "grad", g))
    return ps, opt


def theirs(torch, case, steps=3):
    _, make, extra = GROUPED[case]
    ps = [torch.tensor(a, requires_grad=True) for a in start()]
    opt = make(torch, grouped(ps, extra))
    run(ps, opt, steps, lambda p, g: setattr(p, "grad", torch.from_numpy(g)))
    return ps, opt


@pytest.mark.parametrize("case", GROUPED)
def test_groups_with_their_own_hyperparameters_match_torch(case):
    torch = pytest.importorskip("torch")
    (a, _), (b, _) = ours(case), theirs(torch, case)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", GROUPED)
def test_state_dict_has_torchs_layout(case):
    torch = pytest.importorskip("torch")
    (_, opt), (_, topt) = ours(case), theirs(torch, case)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sd["state"].keys() == tsd["state"].keys()
    for i in sd["state"]:
        assert sd["state"][i].keys() == tsd["state"][i].keys()
        for k in sd["state"][i]:
            np.testing.assert_allclose(sd["state"][i][k], tsd["state"][i][k].numpy(), rtol=1e-12)
    for g, tgroup in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        assert g["params"] == tgroup["params"]
        assert {k: v for k, v in tgroup.items() if k in g} == g


@pytest.mark.parametrize("case", GROUPED)
def test_resume_through_tg_save_equals_the_straight_run(case, tmp_path):
    straight, _ = ours(case, steps=4)
    ps, opt = ours(case, steps=2)
    tg.save({"params": {str(i): p for i, p in enumerate(ps)}, "optim": opt.state_dict()},
            tmp_path / "ck.npz")
    ck = tg.load(tmp_path / "ck.npz")
    ps2 = [Tensor(ck["params"][str(i)], requires_grad=True) for i in range(len(SHAPES))]
    make, _, extra = GROUPED[case]
    opt2 = make(grouped(ps2, {}))            # the group hyperparameters come from the file
    opt2.load_state_dict(ck["optim"])
    assert opt2.param_groups[1]["lr"] == 0.05
    assert all(opt2.param_groups[1][k] == v for k, v in extra.items())
    run(ps2, opt2, 2, lambda p, g: setattr(p, "grad", g), first=2)
    for a, b in zip(straight, ps2, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("case", GROUPED)
def test_a_torch_state_dict_loads_and_continues_as_torch(case):
    torch = pytest.importorskip("torch")
    tps, topt = theirs(torch, case, steps=2)
    ps = [Tensor(p.detach().numpy().copy(), requires_grad=True) for p in tps]
    opt = GROUPED[case][0](grouped(ps, {}))
    opt.load_state_dict(topt.state_dict())
    run(ps, opt, 2, lambda p, g: setattr(p, "grad", g), first=2)
    run(tps, topt, 2, lambda p, g: setattr(p, "grad", torch.from_numpy(g)), first=2)
    for p, q in zip(ps, tps, strict=True):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_setting_lr_takes_effect_in_every_group():
    torch = pytest.importorskip("torch")
    ps, opt = ours("adam", steps=1)
    tps, topt = theirs(torch, "adam", steps=1)
    opt.lr = 1e-4                                     # every group, as the loop below in torch
    for g in topt.param_groups:
        g["lr"] = 1e-4
    opt.param_groups[0]["eps"] = 1e-3
    topt.param_groups[0]["eps"] = 1e-3
    assert opt.lr == 1e-4 and opt.param_groups[1]["lr"] == 1e-4
    run(ps, opt, 2, lambda p, g: setattr(p, "grad", g), first=1)
    run(tps, topt, 2, lambda p, g: setattr(p, "grad", torch.from_numpy(g)), first=1)
    for p, q in zip(ps, tps, strict=True):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_reading_a_hyperparameter_the_groups_disagree_on_says_so():
    _, opt = ours("sgd", steps=0)
    with pytest.raises(AttributeError, match=r"SGD.lr: the parameter groups have different values "
                                             r"\[0.1, 0.05\]; read opt.param_groups\[i\]\['lr'\]"):
        opt.lr  # noqa: B018
    assert opt.dampening == 0.0                       # the same in every group: readable


def p_():
    return Tensor(np.ones(2), requires_grad=True)


BAD_HYPER = [
    (lambda p: optim.SGD([p], lr="0.1"), TypeError, "SGD: lr must be a number, got '0.1' (str)"),
    (lambda p: optim.SGD([p], lr=np.array([0.1, 0.2])), TypeError, "SGD: lr must be a number"),
    (lambda p: optim.SGD([p], lr=True), TypeError, "SGD: lr must be a number, got True (bool)"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=None), TypeError, "momentum must be a number, got None"),
    (lambda p: optim.SGD([p], lr=0.1, nesterov="yes"), TypeError, "nesterov must be True or False"),
    (lambda p: optim.Adam([p], betas=0.9), TypeError, "Adam: betas must be two numbers (β1, β2), got 0.9"),
    (lambda p: optim.Adam([p], betas=("0.9", 0.99)), TypeError, "betas must be a number, got '0.9'"),
    (lambda p: optim.Adam([p], betas=(0.9, 0.99, 0.1)), TypeError, "betas must be two numbers"),
    (lambda p: optim.Adagrad([p], eps="1e-10"), TypeError, "Adagrad: eps must be a number"),
    (lambda p: optim.Adam([{"params": [p], "lr": "1e-3"}]), TypeError,
     "Adam.param_groups[0]: lr must be a number, got '1e-3' (str)"),
    (lambda p: optim.Adam([{"params": [p], "lr": -1.0}]), ValueError,
     "Adam.param_groups[0]: lr must be > 0, got -1.0"),
    (lambda p: optim.Adam([{"params": [p], "momentum": 0.9}]), ValueError,
     "Adam.param_groups[0]: unknown hyperparameter 'momentum'; Adam takes ['betas', 'eps', 'lr', "
     "'weight_decay']"),
    (lambda p: optim.SGD([{"params": [p], "nesterov": True}], lr=0.1), ValueError,
     "nesterov needs momentum > 0"),
    (lambda p: optim.SGD([{"lr": 0.1}]), TypeError, "a parameter group is a dict with a 'params' key"),
    (lambda p: optim.SGD({p}, lr=0.1), TypeError, "params is a set"),
]


@pytest.mark.parametrize("make, kind, message", BAD_HYPER)
def test_bad_hyperparameters_are_refused_clearly(make, kind, message):
    with pytest.raises(kind) as e:
        make(p_())
    assert message in str(e.value)


def test_a_numpy_scalar_hyperparameter_is_a_number():
    p = p_()
    opt = optim.SGD([p], lr=np.array(0.5))
    p.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(p.data, [0.5, 0.5])


@pytest.mark.parametrize("value, kind, message", [
    ("1e-4", TypeError, "lr must be a number, got '1e-4' (str)"),
    (-1.0, ValueError, "lr must be > 0, got -1.0"),
    (float("nan"), ValueError, "lr must be > 0, got nan"),
])
def test_writing_a_bad_hyperparameter_is_refused_and_changes_nothing(value, kind, message):
    _, opt = ours("adam", steps=0)
    with pytest.raises(kind, match=re.escape(message)):
        opt.lr = value
    with pytest.raises(kind, match=re.escape(f"Adam.param_groups[1]: {message}")):
        opt.param_groups[1]["lr"] = value
    with pytest.raises(ValueError, match="unknown hyperparameter 'lrr'"):
        opt.param_groups[0]["lrr"] = 1.0
    with pytest.raises(TypeError, match="params cannot be replaced"):
        opt.param_groups[0]["params"] = []
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.05]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Adam(ps),
                                  lambda ps: optim.Adagrad(ps)])
def test_a_parameter_passed_twice_is_refused(make):
    p, q = p_(), p_()
    with pytest.raises(ValueError, match=r"parameter 2 \('tensor', shape \(2,\)\) is the same tensor "
                                         r"as parameter 0; pass each parameter once"):
        make([p, q, p])
    with pytest.raises(ValueError, match="parameter 1 .* is the same tensor as parameter 0"):
        make([{"params": [p]}, {"params": [p], "lr": 0.5}])


def test_a_non_leaf_is_refused():
    w = p_()
    h = w * 2
    with pytest.raises(ValueError, match=r"SGD: parameter 1 \('mul', shape \(2,\)\) is not a leaf "
                                         r"\(it was made by mul\)"):
        optim.SGD([p_(), h], lr=0.1)


def test_a_grad_of_the_wrong_shape_is_refused_before_any_update():
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = np.ones((2, 3)), np.ones(3)       # (3,) would broadcast into (2, 3)
    with pytest.raises(tg.ShapeError, match=r"SGD.step: parameter 1 \('tensor'\) has shape \(2, 3\) "
                                            r"but its grad has shape \(3,\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, 1.0)        # all or nothing


def test_load_state_dict_checks_like_the_constructor_and_changes_nothing_on_error():
    ps, opt = ours("adam", steps=2)
    sd = opt.state_dict()
    before = {k: v.copy() for k, v in opt.state[ps[0]].items()}
    cases = [
        ({**sd, "param_groups": sd["param_groups"][:1]}, "1 parameter groups, this optimizer has 2"),
        ({**sd, "param_groups": [sd["param_groups"][0], {**sd["param_groups"][1], "params": [1]}]},
         "group 1 has 1 parameters, this optimizer's 2"),
        ({**sd, "param_groups": [{**sd["param_groups"][0], "lr": "0.1"}, sd["param_groups"][1]]},
         "group 0: lr must be a number, got '0.1' (str)"),
        ({**sd, "param_groups": [{**sd["param_groups"][0], "betas": 0.9}, sd["param_groups"][1]]},
         "group 0: betas must be two numbers"),
        ({**sd, "param_groups": [{**sd["param_groups"][0], "amsgrad": True}, sd["param_groups"][1]]},
         "unknown hyperparameter 'amsgrad'"),
        ({**sd, "state": {0: {**sd["state"][0], "step": np.array(-1)}}}, "state 0.step must be a whole"),
        ({**sd, "state": {0: {**sd["state"][0], "exp_avg": np.ones(4)}}},
         "state 0.exp_avg: shape (4,) != parameter shape (3, 4)"),
        ({**sd, "state": {"x": {}}}, "state 'x': no such parameter"),
        ({"state": {}}, "expected a dict with keys 'state' and 'param_groups'"),
    ]
    for bad, message in cases:
        bad_copy = {k: v for k, v in bad.items()}
        bad_copy["state"] = {**sd["state"], **bad.get("state", {})} if "state" in bad else sd["state"]
        with pytest.raises(RuntimeError) as e:
            opt.load_state_dict(bad if message.startswith("expected") else bad_copy)
        assert message in str(e.value), (message, str(e.value))
        assert [g["lr"] for g in opt.param_groups] == [0.01, 0.05]
        for k, v in before.items():
            np.testing.assert_array_equal(opt.state[ps[0]][k], v)


def test_zero_grad_to_zeros_and_step_with_a_closure():
    p = p_()
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, 0.0)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(2.0)
    np.testing.assert_allclose(p.data, [0.8, 0.8])


def test_add_param_group_takes_the_defaults():
    a, b = p_(), p_()
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.2})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.2
    assert opt.params == [a, b]
