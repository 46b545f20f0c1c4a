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
    with pytest.raises(TypeError, match="to_torch: cannot convert a Dropout"):
        tg.interop.to_torch(nn.Dropout(0.1))


def test_importing_the_package_does_not_import_torch():
    code = "import sys, tinygrad_rnn as tg; tg.interop; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
