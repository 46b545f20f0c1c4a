"""RNN, LSTM and GRU against torch.nn.RNN / LSTM / GRU in float64, every option.

Our weights go into torch's layout with `tinygrad_rnn.nn.torch_layout` (torch stacks
each layer's gates row-wise and transposed, in the order i, f, g(=C̃), o for the LSTM
and r, z, n for the GRU; our LSTM's W_g acts on [h, x]; torch's RNN and LSTM carry a
second bias). torch's gradients come back through the same module.

The loss sums random projections of the outputs and of the final states, so the
gradient reaches every returned tensor; outputs, final states and every gradient
(parameters, x, h0, C0) must agree to 1e-10.
"""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import torch_layout

B, T, D, H = 2, 5, 3, 4
TOL = dict(rtol=1e-10, atol=1e-12)
MODELS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
LAYERS = {"rnn": (nn.RNN, "RNN"), "lstm": (nn.LSTM, "LSTM"), "gru": (nn.GRU, "GRU")}


def make_pair(torch, model, num_layers=1, **options):
    """Our layer with seeded random weights and the torch module holding the same weights."""
    tg.manual_seed(0)
    kind = model.split("_")[0]
    ours_cls, torch_name = LAYERS[kind]
    extra = {"nonlinearity": model[4:]} if kind == "rnn" else {}
    torch_options = {"batch_first": True, **options}
    torch_options.pop("state_layout", None)
    ours = ours_cls(D, H, num_layers, dtype=np.float64, **extra, **options)
    theirs = getattr(torch.nn, torch_name)(D, H, num_layers, dtype=torch.float64, **extra, **torch_options)
    state = {k: torch.tensor(v) for k, v in torch_layout.layer_to_torch(ours).items()}
    theirs.load_state_dict(state)            # strict: every torch parameter is mapped
    return ours, theirs


def run_both(torch, model, ours, theirs, x, init, init_torch=None):
    """The same loss on both sides, then backward; returns, for each side,
    (outputs, the final states as a list, x, the initial states)."""
    rng = np.random.default_rng(3)
    lstm = model == "lstm"
    x_ours = tg.Tensor(x, requires_grad=True)
    init_ours = [tg.Tensor(s, requires_grad=True) for s in init]
    out, final = ours(x_ours, (tuple(init_ours) if lstm else init_ours[0]) if init else None)
    final = list(final) if lstm else [final]
    R = rng.normal(size=out.shape)
    S = [rng.normal(size=f.shape) for f in final]
    ((out * R).sum() + sum((f * s).sum() for f, s in zip(final, S))).backward()

    x_torch = torch.tensor(x, requires_grad=True)
    init_torch = [torch.tensor(s, requires_grad=True) for s in (init if init_torch is None else init_torch)]
    out_t, final_t = theirs(x_torch, (tuple(init_torch) if lstm else init_torch[0]) if init else None)
    final_t = list(final_t) if lstm else [final_t]
    loss_t = (out_t * torch.tensor(R)).sum() + sum((f * torch.tensor(s)).sum() for f, s in zip(final_t, S))
    loss_t.backward()
    return (out, final, x_ours, init_ours), (out_t, final_t, x_torch, init_torch)


def assert_same(ours_run, torch_run, ours, theirs, squeeze=lambda a: a):
    (out, final, x, init), (out_t, final_t, x_t, init_t) = ours_run, torch_run
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), **TOL, err_msg="outputs")
    for f, f_t in zip(final, final_t, strict=True):
        np.testing.assert_allclose(f.data, squeeze(f_t.detach().numpy()), **TOL, err_msg="final state")
    np.testing.assert_allclose(x.grad, x_t.grad.numpy(), **TOL, err_msg="∂E/∂x")
    for s, s_t in zip(init, init_t, strict=True):
        np.testing.assert_allclose(s.grad, squeeze(s_t.grad.numpy()), **TOL, err_msg="∂E/∂state_0")
    expected = torch_layout.layer_from_torch(
        ours, {k: p.grad.numpy() for k, p in theirs.named_parameters()}, grads=True)
    params = dict(ours.named_parameters())
    assert set(expected) == set(params)
    for name, p in params.items():
        np.testing.assert_allclose(p.grad, expected[name], **TOL, err_msg=f"∂E/∂{name}")


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("model", MODELS)
def test_layer_matches_torch(model, num_layers):
    """The default (course) state layout: with one layer, states are (B, H), not (1, B, H)."""
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(torch, model, num_layers)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, D))
    init = [rng.normal(0, 0.5, (num_layers, B, H)) for _ in range(2 if model == "lstm" else 1)]
    squeeze = (lambda a: a[0]) if num_layers == 1 else (lambda a: a)
    ours_run, torch_run = run_both(torch, model, ours, theirs, x, [squeeze(s) for s in init], init)
    assert_same(ours_run, torch_run, ours, theirs, squeeze)


OPTIONS = {
    "seq_first": dict(batch_first=False),
    "no_bias": dict(bias=False),
    "two_layers": dict(num_layers=2),
    "bidirectional": dict(bidirectional=True),
    "deep_bidirectional": dict(num_layers=2, bidirectional=True),
    "everything": dict(num_layers=2, bidirectional=True, batch_first=False, bias=False),
    "unbatched": dict(unbatched=True),
    "unbatched_deep_bidirectional": dict(num_layers=2, bidirectional=True, unbatched=True),
}


@pytest.mark.parametrize("case", OPTIONS)
@pytest.mark.parametrize("model", MODELS)
def test_options_match_torch(model, case):
    """state_layout='torch': states (num_layers·directions, B, H) for every option, as torch's."""
    torch = pytest.importorskip("torch")
    options = dict(OPTIONS[case])
    unbatched = options.pop("unbatched", False)
    num_layers = options.pop("num_layers", 1)
    ours, theirs = make_pair(torch, model, num_layers, state_layout="torch", **options)
    K = num_layers * (2 if options.get("bidirectional") else 1)
    rng = np.random.default_rng(1)
    if unbatched:
        x, state_shape = rng.normal(size=(T, D)), (K, H)
    elif options.get("batch_first", True):
        x, state_shape = rng.normal(size=(B, T, D)), (K, B, H)
    else:
        x, state_shape = rng.normal(size=(T, B, D)), (K, B, H)
    init = [rng.normal(0, 0.5, state_shape) for _ in range(2 if model == "lstm" else 1)]
    ours_run, torch_run = run_both(torch, model, ours, theirs, x, init)
    assert ours_run[0].shape == tuple(torch_run[0].shape)
    assert_same(ours_run, torch_run, ours, theirs)


@pytest.mark.parametrize("model", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("options", [{}, {"bidirectional": True, "num_layers": 2}])
def test_default_initial_state_matches_torch(model, options):
    torch = pytest.importorskip("torch")
    num_layers = options.pop("num_layers", 1)
    ours, theirs = make_pair(torch, model, num_layers, **options)
    x = np.random.default_rng(2).normal(size=(B, T, D))
    outputs, _ = ours(x)
    out_t, _ = theirs(torch.tensor(x))
    np.testing.assert_allclose(outputs.data, out_t.detach().numpy(), **TOL)


def test_torch_layout_round_trip_and_missing_keys():
    """Ours -> torch -> ours gives the same parameters; a mismatched torch layer is named."""
    tg.manual_seed(4)
    for layer in (nn.LSTM(D, H, 2, bidirectional=True), nn.GRU(D, H, bias=False), nn.RNN(D, H, 2)):
        before = layer.state_dict()
        mapped = torch_layout.layer_to_torch(layer)
        for p in layer.parameters():
            p.data = np.zeros_like(p.data)
        torch_layout.load_from_torch(layer, mapped)
        for k, v in layer.state_dict().items():
            np.testing.assert_allclose(v, before[k], rtol=1e-6, atol=1e-7, err_msg=k)
    with pytest.raises(KeyError, match=r"LSTM 'lstm' needs weight_ih_l0_reverse, weight_hh_l0_reverse"):
        torch_layout.layer_from_torch(nn.LSTM(D, H, bidirectional=True, bias=False),
                                      torch_layout.layer_to_torch(nn.LSTM(D, H, bias=False)))


# ---------------------------------------------------------------- dropout between layers

P = 0.4


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("model", ["rnn_tanh", "lstm", "gru"])
def test_dropout_is_the_seeded_mask_between_layers(model, bidirectional):
    """Training mode: layer 1 reads layer 0's h_t times a mask m_t / (1 - p), one mask per step
    drawn from the library generator (t = 1..T), none after the last layer. Rebuilt by hand
    from the same seed, with two one-layer torch modules and the mask applied between them."""
    torch = pytest.importorskip("torch")
    ours, _ = make_pair(torch, model, 2, dropout=P, bidirectional=bidirectional, state_layout="torch")
    dirs = 2 if bidirectional else 1
    arrays = torch_layout.layer_to_torch(ours)
    lower, upper = [], []
    for l, module in ((0, lower), (1, upper)):
        _, name = LAYERS[model.split("_")[0]]
        extra = {"nonlinearity": "tanh"} if model.startswith("rnn") else {}
        m = getattr(torch.nn, name)(D if l == 0 else dirs * H, H, 1, batch_first=True,
                                    bidirectional=bidirectional, dtype=torch.float64, **extra)
        m.load_state_dict({k.replace(f"_l{l}", "_l0"): torch.tensor(v) for k, v in arrays.items()
                           if f"_l{l}" in k})
        module.append(m)
    x = np.random.default_rng(5).normal(size=(B, T, D))

    tg.manual_seed(7)
    outputs, final = ours(tg.Tensor(x))
    gen = tg.manual_seed(7)
    masks = np.stack([(gen.random((B, dirs * H)) >= P) / (1 - P) for _ in range(T)], axis=1)  # (B, T, dirs·H)

    out0, state0 = lower[0](torch.tensor(x))
    out1, state1 = upper[0](out0 * torch.tensor(masks))
    np.testing.assert_allclose(outputs.data, out1.detach().numpy(), **TOL)
    h_T = final[0] if model == "lstm" else final
    h0_t, h1_t = (state0[0], state1[0]) if model == "lstm" else (state0, state1)
    np.testing.assert_allclose(h_T.data, torch.cat([h0_t, h1_t]).detach().numpy(), **TOL)
    assert 0 < (masks == 0).mean() < 1                      # the mask did drop something


def test_dropout_follows_train_and_eval():
    tg.manual_seed(0)
    plain = nn.LSTM(D, H, 2, dtype=np.float64)
    tg.manual_seed(0)
    dropped = nn.LSTM(D, H, 2, dropout=0.5, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(B, T, D))
    reference, _ = plain(x)
    first, _ = dropped(x)                                   # training mode: masks
    second, _ = dropped(x)
    assert np.abs(first.data - reference.data).max() > 1e-3
    assert np.abs(first.data - second.data).max() > 1e-3    # a new mask every call
    dropped.eval()
    evaluated, _ = dropped(x)                               # eval(): the identity
    np.testing.assert_allclose(evaluated.data, reference.data, **TOL)
    dropped.train()
    again, _ = dropped(x)
    assert np.abs(again.data - reference.data).max() > 1e-3
    tg.manual_seed(0)
    with pytest.warns(UserWarning, match="RNN: dropout acts between stacked layers"):
        one_layer = nn.RNN(D, H, dropout=0.5, dtype=np.float64)   # nothing after the last layer
    tg.manual_seed(0)
    np.testing.assert_allclose(one_layer(x)[0].data, nn.RNN(D, H, dtype=np.float64)(x)[0].data, **TOL)
