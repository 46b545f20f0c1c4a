"""Forward values and gradients of every op against PyTorch, in float64, to 1e-9 relative.

PyTorch is a test oracle only. Each case is one op written twice (ours, torch's),
run on the same float64 inputs; the output is seeded with the same random
upstream gradient G, so backward computes ∂<G, y>/∂x for every input x.
The last test unrolls a 6-step tanh RNN and compares ∂E/∂U and every ∂E/∂h_t.
"""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-9, 1e-12
IDX = np.array([0, 0, 2])                   # a repeated row
ROWS, TARGETS = np.arange(4), np.array([1, 0, 1, 1])
MASK = np.array([True, False, True])


def ti(a):
    """An index array for torch."""
    return torch.from_numpy(a)


# id: (ours, torch's, input shapes, positive inputs?)
CASES = {
    "add":            (lambda x, y: x + y, lambda x, y: x + y, [(3, 4), (3, 4)], False),
    "add (3,1)+(1,4)": (lambda x, y: x + y, lambda x, y: x + y, [(3, 1), (1, 4)], False),
    "add (B,T,D)+(D,)": (lambda x, y: x + y, lambda x, y: x + y, [(2, 3, 4), (4,)], False),
    "add scalar":     (lambda x: 2 + x, lambda x: 2 + x, [(2, 3)], False),
    "sub (2,3)-(3,)": (lambda x, y: x - y, lambda x, y: x - y, [(2, 3), (3,)], False),
    "sub scalar":     (lambda x: 2 - x, lambda x: 2 - x, [(2, 3)], False),
    "mul (B,H)*(H,)": (lambda x, y: x * y, lambda x, y: x * y, [(2, 5), (5,)], False),
    "mul (3,)*(2,3)": (lambda x, y: x * y, lambda x, y: x * y, [(3,), (2, 3)], False),
    "div":            (lambda x, y: x / y, lambda x, y: x / y, [(3, 1), (1, 4)], True),
    "div scalar":     (lambda x: 2 / x, lambda x: 2 / x, [(2, 3)], True),
    "pow":            (lambda x, y: x ** y, lambda x, y: x ** y, [(2, 3), (3,)], True),
    "pow const exp":  (lambda x: x ** 3, lambda x: x ** 3, [(2, 3)], False),
    "pow const base": (lambda x: 2 ** x, lambda x: 2 ** x, [(2, 3)], False),
    "neg":            (lambda x: -x, lambda x: -x, [(2, 3)], False),
    "matmul":         (lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)], False),
    "matmul v@v":     (lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4,)], False),
    "matmul v@M":     (lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4, 5)], False),
    "matmul M@v":     (lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4,)], False),
    "matmul v@BMM":   (lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (2, 4, 5)], False),
    "matmul BMM@v":   (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4,)], False),
    "matmul BTD@DH":  (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)], False),
    "matmul bmm":     (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)], False),
    "exp":            (lambda x: x.exp(), lambda x: x.exp(), [(3, 4)], False),
    "log":            (lambda x: x.log(), lambda x: x.log(), [(3, 4)], True),
    "tanh":           (lambda x: x.tanh(), lambda x: x.tanh(), [(3, 4)], False),
    "sigmoid":        (lambda x: (x * 20).sigmoid(), lambda x: (x * 20).sigmoid(), [(3, 4)], False),
    "relu":           (lambda x: x.relu(), lambda x: x.relu(), [(3, 4)], False),
    "sum":            (lambda x: x.sum(), lambda x: x.sum(), [(3, 4)], False),
    "sum axis":       (lambda x: x.sum(axis=-1), lambda x: x.sum(dim=-1), [(2, 3, 4)], False),
    "sum axes keep":  (lambda x: x.sum(axis=(0, 2), keepdims=True),
                       lambda x: x.sum(dim=(0, 2), keepdim=True), [(2, 3, 4)], False),
    "mean":           (lambda x: x.mean(), lambda x: x.mean(), [(3, 4)], False),
    "mean axis":      (lambda x: x.mean(axis=1), lambda x: x.mean(dim=1), [(2, 3, 4)], False),
    "max":            (lambda x: x.max(), lambda x: x.max(), [(3, 4)], False),
    "max axis":       (lambda x: x.max(axis=0), lambda x: x.amax(dim=0), [(3, 4)], False),
    "max axes keep":  (lambda x: x.max(axis=(-1, 0), keepdims=True),
                       lambda x: x.amax(dim=(-1, 0), keepdim=True), [(2, 3, 4)], False),
    "softmax":        (lambda x: x.softmax(), lambda x: x.softmax(-1), [(3, 4)], False),
    "softmax axis 0": (lambda x: x.softmax(axis=0), lambda x: x.softmax(0), [(2, 3, 4)], False),
    "log_softmax":    (lambda x: x.log_softmax(), lambda x: x.log_softmax(-1), [(3, 4)], False),
    "log_softmax ax1": (lambda x: x.log_softmax(axis=1), lambda x: x.log_softmax(1), [(2, 3, 4)], False),
    "reshape":        (lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6), [(2, 3, 4)], False),
    "transpose":      (lambda x: x.transpose(1, 2, 0), lambda x: x.permute(1, 2, 0), [(2, 3, 4)], False),
    ".T":             (lambda x: x.T, lambda x: x.permute(2, 1, 0), [(2, 3, 4)], False),
    "getitem int":    (lambda x: x[-1, 1], lambda x: x[-1, 1], [(3, 4)], False),
    "getitem slice":  (lambda x: x[:, 1:-1:2], lambda x: x[:, 1:-1:2], [(3, 5)], False),
    "getitem repeat": (lambda x: x[IDX], lambda x: x[ti(IDX)], [(3, 4)], False),
    "getitem pairs":  (lambda x: x[ROWS, TARGETS], lambda x: x[ti(ROWS), ti(TARGETS)], [(4, 3)], False),
    "getitem mask":   (lambda x: x[MASK], lambda x: x[ti(MASK)], [(3, 4)], False),
    "cat":            (lambda a, b, c: tg.cat([a, b, c], axis=1),
                       lambda a, b, c: torch.cat([a, b, c], dim=1), [(2, 1), (2, 3), (2, 2)], False),
    "stack":          (lambda a, b, c: tg.stack([a, b, c], axis=-1),
                       lambda a, b, c: torch.stack([a, b, c], dim=-1), [(2, 3)] * 3, False),
    # PyTorch's spellings (dim/keepdim, the methods PyTorch users type), written the same way
    "abs":            (lambda x: x.abs(), lambda x: x.abs(), [(3, 4)], False),
    "sqrt":           (lambda x: x.sqrt(), lambda x: x.sqrt(), [(3, 4)], True),
    "clamp":          (lambda x: x.clamp(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5), [(3, 4)], False),
    "clamp min":      (lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1), [(3, 4)], False),
    "clip max":       (lambda x: x.clip(max=0.2), lambda x: x.clip(max=0.2), [(3, 4)], False),
    "min":            (lambda x: x.min(), lambda x: x.min(), [(3, 4)], False),
    "min dim keep":   (lambda x: x.min(dim=1, keepdim=True).values,
                       lambda x: x.min(dim=1, keepdim=True).values, [(2, 3, 4)], False),
    "max dim":        (lambda x: x.max(dim=-1).values, lambda x: x.max(dim=-1).values, [(2, 3, 4)], False),
    "amax dims keep": (lambda x: x.amax(dim=(0, 2), keepdim=True), lambda x: x.amax(dim=(0, 2), keepdim=True),
                       [(2, 3, 4)], False),
    "mean dim keep":  (lambda x: x.mean(dim=(0, 2), keepdim=True),
                       lambda x: x.mean(dim=(0, 2), keepdim=True), [(2, 3, 4)], False),
    "softmax dim":    (lambda x: x.softmax(dim=1), lambda x: x.softmax(dim=1), [(2, 3, 4)], False),
    "log_softmax dim": (lambda x: x.log_softmax(dim=0), lambda x: x.log_softmax(dim=0), [(2, 3, 4)], False),
    "transpose swap": (lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1), [(2, 3, 4)], False),
    "transpose -1,0": (lambda x: x.transpose(-1, 0), lambda x: x.transpose(-1, 0), [(2, 3, 4)], False),
    "permute":        (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), [(2, 3, 4)], False),
    "view":           (lambda x: x.view(4, -1), lambda x: x.view(4, -1), [(2, 3, 4)], False),
    "flatten":        (lambda x: x.flatten(1), lambda x: x.flatten(1), [(2, 3, 4)], False),
    "unsqueeze":      (lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1), [(3, 4)], False),
    "squeeze":        (lambda x: x.squeeze(), lambda x: x.squeeze(), [(3, 1, 4)], False),
    "cat dim":        (lambda a, b: tg.cat([a, b], dim=-1), lambda a, b: torch.cat([a, b], dim=-1),
                       [(2, 1), (2, 3)], False),
    "stack dim":      (lambda a, b: tg.stack([a, b], dim=0), lambda a, b: torch.stack([a, b], dim=0),
                       [(2, 3)] * 2, False),
    "F.softmax dim":  (lambda x: tg.nn.functional.softmax(x, dim=0),
                       lambda x: torch.nn.functional.softmax(x, dim=0), [(3, 4)], False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_torch(case):
    ours, theirs, shapes, positive = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    arrays = [rng.uniform(0.5, 2.0, s) if positive else rng.standard_normal(s) for s in shapes]

    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = ours(*xs), theirs(*ts)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=RTOL, atol=ATOL)

    G = rng.standard_normal(y.shape)
    y.backward(G)
    ty.backward(torch.from_numpy(G))
    for k, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad.dtype == np.float64
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{case}: gradient of input {k}")


def test_tanh_rnn_bptt_matches_torch():
    """h_t = tanh(x_t W + h_{t-1} U + b), E = Σ_t mean_b -log softmax(h_t V + c)[target]."""
    rng = np.random.default_rng(0)
    B, T, D, H, K = 2, 6, 3, 4, 5
    arrays = {"W": rng.normal(0, 0.5, (D, H)), "U": rng.normal(0, 0.5, (H, H)),
              "b": rng.normal(0, 0.1, H), "V": rng.normal(0, 0.5, (H, K)), "c": rng.normal(0, 0.1, K)}
    x = rng.standard_normal((B, T, D))
    targets = rng.integers(0, K, (B, T))
    rows = np.arange(B)

    def unroll(p, x, pick, zeros):
        h, hs, E = zeros, [], 0
        for t in range(T):
            h = (x[:, t] @ p["W"] + h @ p["U"] + p["b"]).tanh()     # (B, H)
            hs.append(h)
            logp = (h @ p["V"] + p["c"]).log_softmax(-1)             # (B, K)
            E = E - pick(logp, t).mean()
        return E, hs

    ours = {k: Tensor(v, requires_grad=True, name=k) for k, v in arrays.items()}
    E, hs = unroll(ours, Tensor(x), lambda lp, t: lp[rows, targets[:, t]], Tensor(np.zeros((B, H))))
    E.backward()

    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    tE, ths = unroll(theirs, torch.from_numpy(x),
                     lambda lp, t: lp[ti(rows), ti(targets[:, t])], torch.zeros(B, H, dtype=torch.float64))
    for th in ths:
        th.retain_grad()
    tE.backward()

    np.testing.assert_allclose(E.item(), tE.item(), rtol=RTOL)
    for k in arrays:
        np.testing.assert_allclose(ours[k].grad, theirs[k].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"∂E/∂{k}")
    for t, (h, th) in enumerate(zip(hs, ths), start=1):
        np.testing.assert_allclose(h.grad, th.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"∂E/∂h_{t}")
