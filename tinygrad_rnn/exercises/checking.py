"""What every checker shares: load the student's function, compare arrays, say where.

A check either returns a one-line success message or raises `ExerciseFailure`
whose message names the place (the parameter, the time step, the entry) and gives
the expected and the obtained value side by side, as `tg.gradcheck` does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..tensor import Tensor


class ExerciseFailure(AssertionError):
    """The solution is wrong; the message says what and where."""


def load(path, function: str):
    """The function `function` defined in the Python file `path` (the student's solution)."""
    path = Path(path)
    if not path.is_file():
        raise ExerciseFailure(f"no solution file {path}: write one with "
                              f"`python -m tinygrad_rnn.exercises start NAME {path}`")
    spec = importlib.util.spec_from_file_location(f"solution_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ExerciseFailure(f"{path} defines no function {function}(...)")
    return fn


def array(what: str, value) -> np.ndarray:
    """The student's value as a numpy array (a Tensor gives its .data)."""
    if isinstance(value, Tensor):
        value = value.data
    if value is None:
        raise ExerciseFailure(f"{what} is None: did the function forget to return it?")
    return np.asarray(value, dtype=np.float64)


def compare(what: str, expected, got, rtol: float = 1e-6, atol: float = 1e-9, hint: str = "") -> None:
    """Raise unless `got` equals `expected` within the tolerance; name the worst entry."""
    expected, got = np.asarray(expected, dtype=np.float64), array(what, got)
    if got.shape != expected.shape:
        raise ExerciseFailure(f"{what}: shape {got.shape}, expected {expected.shape}"
                              + (f"\n  hint: {hint}" if hint else ""))
    excess = np.abs(got - expected) - (atol + rtol * np.abs(expected))
    if not np.all(np.isfinite(got)):
        excess = np.where(np.isfinite(got), excess, np.inf)
    if excess.size and excess.max() > 0:
        i = np.unravel_index(np.argmax(excess), expected.shape)
        bad = int((excess > 0).sum())
        place = f"entry {tuple(int(k) for k in i)} is" if expected.ndim else "is"
        raise ExerciseFailure(f"{what}: {place} {got[i]:.6g}, expected {expected[i]:.6g}"
                              + (f" ({bad} of {expected.size} entries differ)" if expected.ndim else "")
                              + (f"\n  hint: {hint}" if hint else ""))


def close(a, b, rtol: float = 1e-6) -> bool:
    """Whether two arrays agree (for diagnosing a typical mistake, not for passing)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=1e-9)


def float64_params(module) -> dict[str, Tensor]:
    """A reference layer's parameters as float64 leaves the student's code can use: name -> Tensor."""
    for _, p in module.named_parameters():
        p.data = p.data.astype(np.float64)
    return {name: p for name, p in module.named_parameters()}


def leaf_copies(params: dict[str, Tensor]) -> dict[str, Tensor]:
    """Fresh float64 leaves with the same values, so the student's graph is separate."""
    return {k: Tensor(p.data.copy(), requires_grad=True, name=k) for k, p in params.items()}


def compare_grads(expected: dict[str, Tensor], got: dict[str, Tensor], output: str, hint=None) -> None:
    """Each parameter's .grad after backward(), against the reference; `hint(name)` may explain."""
    for name, ref in expected.items():
        g = got[name].grad
        if g is None:
            raise ExerciseFailure(f"p['{name}'].grad is None: {name} does not reach {output} through "
                                  "Tensor ops (was it used through .data or numpy, or not at all?)")
        compare(f"∂/∂{name}", ref.grad, g, hint=hint(name) if hint else "")


def check_step(fn, ref_cell, state: tuple, output_names: tuple, hint=None) -> None:
    """A student's one-step function `fn(x_t, state, p)` against a reference cell.

    Both run on the same x_t (B, D), state and float64 parameters p (name -> Tensor);
    every output (h_t, or h_t and C_t) is compared, then every gradient after
    backward() from Σ_k R_k · output_k with fixed random R_k. `hint(what)` may
    explain a mismatch of `what` (an output name or a parameter name).
    """
    rng = np.random.default_rng(11)
    ref_p = float64_params(ref_cell)
    p = leaf_copies(ref_p)
    x_t = rng.normal(size=(2, ref_cell.input_size))
    ref_in = [Tensor(x_t.copy(), requires_grad=True)] + [Tensor(s.copy(), requires_grad=True) for s in state]
    got_in = [Tensor(x_t.copy(), requires_grad=True)] + [Tensor(s.copy(), requires_grad=True) for s in state]
    ref_out = ref_cell.forward(ref_in[0], ref_cell.from_tuple(tuple(ref_in[1:])))
    got_out = fn(got_in[0], got_in[1] if len(state) == 1 else tuple(got_in[1:]), p)
    ref_out = ref_out if isinstance(ref_out, tuple) else (ref_out,)
    got_out = got_out if isinstance(got_out, tuple) else (got_out,)
    if len(got_out) != len(ref_out) or not all(isinstance(o, Tensor) for o in got_out):
        raise ExerciseFailure(f"the step must return {' and '.join(output_names)} as Tensor"
                              f"{'s' if len(output_names) > 1 else ''}, got {got_out!r:.80}")
    for name, e, g in zip(output_names, ref_out, got_out):
        compare(f"forward: {name}", e.data, g.data, hint=hint(name) if hint else "")
    Rs = [rng.normal(size=o.shape) for o in ref_out]
    sum((o * R).sum() for o, R in zip(ref_out, Rs)).backward()
    sum((o * R).sum() for o, R in zip(got_out, Rs)).backward()
    compare_grads(ref_p, p, " and ".join(output_names), hint)
    for name, e, g in zip(("x_t", "h_{t-1}", "C_{t-1}"), ref_in, got_in):
        if g.grad is None:
            raise ExerciseFailure(f"{name}.grad is None: the outputs do not depend on {name}")
        compare(f"∂/∂{name}", e.grad, g.grad, hint=hint(name) if hint else "")
