"""tg.interop.from_torch / to_torch: the converted layer gives torch's outputs AND gradients
(float64, 1e-12), both ways; options we lack are refused by name; torch stays a lazy import."""

import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn

torch = pytest.importorskip("torch")


def compare(ours, theirs, x, grads):
    """Run both on x, backprop the same random projection, compare outputs, dL/dx and `grads`:
    (our parameter, torch parameter, map from torch's gradient layout to ours)."""
    X = Tensor(x, requires_grad=x.dtype.kind == "f")
    tx = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    y, ty = ours(X), theirs(tx)
    G = np.random.default_rng(0).standard_normal(y.shape)
    (y * G).sum().backward()
    (ty * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    if x.dtype.kind == "f":
        np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-13)
    for p, tp, as_ours in grads:
        np.testing.assert_allclose(p.grad, as_ours(tp.grad.numpy()), rtol=1e-12, atol=1e-13)


def same(a):
    return a


@pytest.mark.parametrize("bias", [True, False])
def test_linear_both_ways(bias):
    torch.manual_seed(0)
    theirs = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64)
    ours = tg.interop.from_torch(theirs)
    assert isinstance(ours, nn.Linear) and ours.weight.shape == (4, 3) and ours.weight.dtype == np.float64
    x = np.random.default_rng(1).standard_normal((5, 4))
    grads = [(ours.weight, theirs.weight, np.transpose)] + ([(ours.bias, theirs.bias, same)] if bias else [])
    compare(ours, theirs, x, grads)
    back = tg.interop.to_torch(ours)
    assert isinstance(back, torch.nn.Linear) and (back.bias is None) == (not bias)
    for name, t in theirs.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name].numpy(), t.numpy())


def test_embedding_both_ways():
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(6, 3, dtype=torch.float64)
    ours = tg.interop.from_torch(theirs)
    idx = np.array([[0, 5, 5], [2, 1, 0]])                  # repeated tokens: gradients add
    compare(ours, theirs, idx, [(ours.weight, theirs.weight, same)])
    np.testing.assert_array_equal(tg.interop.to_torch(ours).weight.detach().numpy(),
                                  theirs.weight.detach().numpy())


def test_layernorm_both_ways():
    torch.manual_seed(0)
    theirs = torch.nn.LayerNorm(4, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = tg.interop.from_torch(theirs)
    compare(ours, theirs, np.random.default_rng(2).standard_normal((3, 4)),
            [(ours.weight, theirs.weight, same), (ours.bias, theirs.bias, same)])
    assert tg.interop.to_torch(ours).eps == 1e-3


def test_dtype_and_training_mode_carry_over():
    theirs = torch.nn.Linear(2, 2)                          # float32, training
    theirs.eval()
    ours = tg.interop.from_torch(theirs)
    assert ours.weight.dtype == np.float32 and not ours.training
    back = tg.interop.to_torch(ours)
    assert back.weight.dtype == torch.float32 and not back.training


def test_options_we_lack_are_refused_by_name():
    with pytest.raises(ValueError, match=r"Embedding uses \{'padding_idx': 0\}"):
        tg.interop.from_torch(torch.nn.Embedding(4, 2, padding_idx=0))
    with pytest.raises(TypeError, match="cannot convert a Conv1d; supported"):
        tg.interop.from_torch(torch.nn.Conv1d(1, 1, 1))
    with pytest.raises(TypeError, match="to_torch: cannot convert a Module"):
        tg.interop.to_torch(nn.Module())


def test_importing_the_package_does_not_import_torch():
    code = "import sys, tinygrad_rnn as tg; tg.interop; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- recurrent layers: 2 layers, bidirectional, batch_first both ways --------------------
B, T, D, H = 2, 5, 3, 4
RECURRENT = [
    ("RNN", dict(num_layers=2, nonlinearity="relu")), ("RNN", dict(bidirectional=True, batch_first=False)),
    ("LSTM", dict(num_layers=2, batch_first=True)), ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(bias=False, batch_first=True)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)), ("GRU", dict()),
]


def torch_recurrent(kind, options):
    torch.manual_seed(3)
    return getattr(torch.nn, kind)(D, H, dtype=torch.float64, **options)


def run_recurrent(layer, x, h0, lib):
    """outputs and final states, and a loss projecting all of them on fixed random weights."""
    out, state = layer(x, h0)
    states = list(state) if isinstance(state, tuple) else [state]
    r = np.random.default_rng(4)
    parts = [out, *states]
    Gs = [r.standard_normal(tuple(p.shape)) for p in parts]
    if lib is torch:
        loss = sum((p * torch.from_numpy(G)).sum() for p, G in zip(parts, Gs))
    else:
        loss = sum(((p * G).sum() for p, G in zip(parts, Gs)), Tensor(0.0, dtype=np.float64))
    loss.backward()
    return parts


@pytest.mark.parametrize("kind, options", RECURRENT, ids=[f"{k}-{o}" for k, o in RECURRENT])
def test_recurrent_from_torch_outputs_and_gradients(kind, options):
    theirs = torch_recurrent(kind, options)
    ours = tg.interop.from_torch(theirs)
    assert type(ours).__name__ == kind and ours.batch_first == theirs.batch_first
    r = np.random.default_rng(5)
    x = r.standard_normal((B, T, D) if theirs.batch_first else (T, B, D))
    L = theirs.num_layers * (2 if theirs.bidirectional else 1)
    h0 = [r.standard_normal((L, B, H)) for _ in range(2 if kind == "LSTM" else 1)]
    X, H0 = Tensor(x, requires_grad=True), [Tensor(h, requires_grad=True) for h in h0]
    tx, th0 = torch.tensor(x, requires_grad=True), [torch.tensor(h, requires_grad=True) for h in h0]
    mine = run_recurrent(ours, X, tuple(H0) if kind == "LSTM" else H0[0], tg)
    yours = run_recurrent(theirs, tx, tuple(th0) if kind == "LSTM" else th0[0], torch)
    for a, b in zip(mine, yours, strict=True):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-13)
    for a, b in [(X, tx), *zip(H0, th0)]:
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    torch_grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    expected = tg.nn.torch_layout.layer_from_torch(ours, torch_grads, grads=True)
    got = dict(ours.named_parameters())
    assert expected.keys() == got.keys()
    for name, g in expected.items():
        np.testing.assert_allclose(got[name].grad, g, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind, options", RECURRENT, ids=[f"{k}-{o}" for k, o in RECURRENT])
def test_recurrent_to_torch_round_trip(kind, options):
    theirs = torch_recurrent(kind, options)
    back = tg.interop.to_torch(tg.interop.from_torch(theirs))
    assert type(back) is type(theirs)
    for attr in ("num_layers", "bias", "batch_first", "bidirectional", "dropout", "hidden_size"):
        assert getattr(back, attr) == getattr(theirs, attr)
    for name, t in theirs.state_dict().items():
        if "bias" in name:     # two biases fold into one and come back as (sum, 0)
            continue
        np.testing.assert_array_equal(back.state_dict()[name].numpy(), t.numpy(), err_msg=name)
    x = torch.from_numpy(np.random.default_rng(6).standard_normal((B, T, D)))
    a, b = back(x)[0], theirs(x)[0]
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_copy_from_torch_matches_a_model_written_twice_by_attribute_name():
    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.head = (torch.nn.Embedding(6, D, dtype=torch.float64),
                                              torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64),
                                              torch.nn.Linear(H, 6, dtype=torch.float64))

        def forward(self, idx):
            return self.head(self.lstm(self.emb(idx))[0])

    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.head = (nn.Embedding(6, D, dtype=np.float64),
                                              nn.LSTM(D, H, batch_first=True, dtype=np.float64),
                                              nn.Linear(H, 6, dtype=np.float64))

        def forward(self, idx):
            return self.head(self.lstm(self.emb(idx))[0])

    torch.manual_seed(0)
    theirs, ours = Theirs(), Ours()
    assert tg.interop.copy_from_torch(ours, theirs) is ours
    idx = np.random.default_rng(7).integers(0, 6, (B, T))
    np.testing.assert_allclose(ours(idx).data, theirs(torch.from_numpy(idx)).detach().numpy(),
                               rtol=1e-12, atol=1e-13)
    with pytest.raises(TypeError, match="torch's Linear cannot be copied into a Embedding"):
        tg.interop.copy_from_torch(ours.emb, theirs.head)


def test_lstm_projections_are_refused():
    with pytest.raises(ValueError, match=r"LSTM uses \{'proj_size': 2\}"):
        tg.interop.from_torch(torch.nn.LSTM(3, 4, proj_size=2))


CELLS = [("RNNCell", dict(nonlinearity="relu")), ("RNNCell", dict(bias=False)), ("LSTMCell", dict()),
         ("GRUCell", dict()), ("GRUCell", dict(bias=False))]


@pytest.mark.parametrize("kind, options", CELLS, ids=[f"{k}-{o}" for k, o in CELLS])
def test_cells_both_ways(kind, options):
    torch.manual_seed(8)
    theirs = getattr(torch.nn, kind)(D, H, dtype=torch.float64, **options)
    ours = tg.interop.from_torch(theirs)
    r = np.random.default_rng(9)
    x, h = r.standard_normal((B, D)), r.standard_normal((B, H))
    state = (h, r.standard_normal((B, H))) if kind == "LSTMCell" else h
    X, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    S = tuple(Tensor(s) for s in state) if kind == "LSTMCell" else Tensor(state)
    tS = tuple(torch.tensor(s) for s in state) if kind == "LSTMCell" else torch.tensor(state)
    out, tout = ours(X, S), theirs(tx, tS)
    out, tout = (out[0], tout[0]) if kind == "LSTMCell" else (out, tout)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    G = r.standard_normal(out.shape)
    (out * G).sum().backward()
    (tout * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    expected = tg.nn.torch_layout.cell_from_torch(
        ours, {k: p.grad.numpy() for k, p in theirs.named_parameters()}, grads=True)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    back = tg.interop.to_torch(ours)
    np.testing.assert_allclose(back(tx, tS)[0 if kind == "LSTMCell" else ...].detach().numpy(),
                               tout.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_dropout_both_ways():
    ours = tg.interop.from_torch(torch.nn.Dropout(0.3).eval())
    assert isinstance(ours, nn.Dropout) and ours.p == 0.3 and not ours.training
    assert tg.interop.to_torch(ours).p == 0.3


def test_sequential_of_layers_and_activations_both_ways():
    torch.manual_seed(10)
    theirs = torch.nn.Sequential(torch.nn.Linear(D, H, dtype=torch.float64), torch.nn.Tanh(),
                                 torch.nn.Linear(H, H, dtype=torch.float64), torch.nn.ReLU(),
                                 torch.nn.Linear(H, 3, dtype=torch.float64), torch.nn.LogSoftmax(dim=-1))
    ours = tg.interop.from_torch(theirs)
    assert isinstance(ours, nn.Sequential) and len(ours) == 6 and isinstance(ours[1], nn.Tanh)
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    x = np.random.default_rng(11).standard_normal((5, D))
    compare(ours, theirs, x, [(ours[0].weight, theirs[0].weight, np.transpose),
                              (ours[4].bias, theirs[4].bias, same)])
    back = tg.interop.to_torch(ours)
    assert isinstance(back[5], torch.nn.LogSoftmax) and back[5].dim == -1
    np.testing.assert_allclose(back(torch.from_numpy(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_sequential_alone():
    model = nn.Sequential(nn.Linear(2, 3, dtype=np.float64), nn.Sigmoid(), nn.Softmax(dim=0))
    model.eval()
    assert len(model) == 3 and [type(m).__name__ for m in model] == ["Linear", "Sigmoid", "Softmax"]
    y = model(Tensor(np.ones((4, 2))))
    np.testing.assert_allclose(y.data.sum(axis=0), 1.0)
    assert set(model.state_dict()) == {"0.weight", "0.bias"}
    with pytest.raises(TypeError, match="Sequential: layer 1 is a function, not a Module"):
        nn.Sequential(nn.Tanh(), lambda x: x)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm_both_ways_train_and_eval(shape):
    torch.manual_seed(12)
    theirs = torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.2, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
        theirs.running_mean.normal_()
        theirs.running_var.uniform_(0.5, 2.0)
    ours = tg.interop.from_torch(theirs)
    x = np.random.default_rng(13).standard_normal(shape)
    compare(ours, theirs, x, [(ours.weight, theirs.weight, same), (ours.bias, theirs.bias, same)])
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-13)
    back = tg.interop.to_torch(ours)
    assert not back.training
    np.testing.assert_allclose(back(torch.from_numpy(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match=r"BatchNorm1d uses \{'affine': False\}"):
        tg.interop.from_torch(torch.nn.BatchNorm1d(3, affine=False))
