"""Shared test helpers. The main one: `check_op(fn, *shapes)` checks fn's gradient against
finite differences; also `graph_nodes(root)`, `run_in_threads(*targets)` and
`assert_printed_norms(labels, values)` (edge labels against norms computed another way).

    check_op(lambda x, y: x * y, (3, 1), (1, 4))

builds one float64 input per shape, runs `tg.gradcheck` (central differences,
∂E/∂x[i] ≈ (E(x + ε e_i) - E(x - ε e_i)) / 2ε) and, on failure, prints the
analytic and numeric values side by side with the shapes that were used.
"""

from __future__ import annotations

import re
import threading

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.autograd import walk


def random_inputs(*shapes, positive=False, seed=0) -> list[np.ndarray]:
    """float64 inputs whose entries stay away from 0 (the kink of relu, the pole of 1/x).

    positive=True draws from [0.5, 2] (for log, pow bases, denominators);
    otherwise |x| is in [0.2, 1] with a random sign.
    """
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if positive:
            out.append(rng.uniform(0.5, 2.0, shape))
        else:
            out.append(rng.uniform(0.2, 1.0, shape) * rng.choice([-1.0, 1.0], shape))
    return out


def check_op(fn, *shapes, positive=False, seed=0, **tolerances) -> None:
    """Assert that backward() of fn(*inputs) agrees with central differences."""
    inputs = random_inputs(*shapes, positive=positive, seed=seed)
    try:
        ok = tg.gradcheck(fn, inputs, **tolerances)
    except tg.GradcheckError as e:
        raise AssertionError(f"check_op with input shapes {shapes}:\n{e}") from None
    assert ok is True, f"gradcheck returned {ok!r}, expected True"


def graph_nodes(root):
    """Every tensor reachable from root through .parents (leaves included)."""
    return walk(root)


def run_in_threads(*targets, barrier=None):
    """Run each target in its own thread; re-raise the first error here. An error
    breaks the barrier, so the other threads fail at once instead of waiting for it."""
    errors, threads = [], []
    for target in targets:
        def run(target=target):
            try:
                target()
            except BaseException as e:      # noqa: BLE001 -- re-raised in the main thread
                errors.append(e)
                if barrier is not None:
                    barrier.abort()
        threads.append(threading.Thread(target=run))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    if errors:
        raise errors[0]


PRINTED = re.compile(r"\d\.\d\de[-+]\d\d")          # a norm as fmt_norm prints it: 1.23e-04


def assert_printed_norms(labels, values, rtol=1e-9):
    """Each label (3 significant digits, as fmt_norm prints) is its value rounded.

    The value is computed another way than the renderer's norm (np.linalg.norm, a
    hand-written BPTT), so the two agree only to rounding: a label passes if it is
    within half a unit of its last digit of the value, widened by rtol (float64 norms
    of a few dozen terms agree to ~1e-15; 1e-9 leaves room and still catches any
    wrong digit). Comparing the strings instead fails on the CPU where the value sits
    on a rounding boundary. Labels and values are matched in sorted order.
    """
    labels, values = sorted(labels, key=float), sorted(float(v) for v in values)
    assert len(labels) == len(values), f"{len(labels)} labels for {len(values)} values"
    for label, value in zip(labels, values):
        assert PRINTED.fullmatch(label), f"{label!r} is not a norm printed as 1.23e-04"
        half_unit = 0.5 * 10.0 ** (int(label.split("e")[1]) - 2)
        assert abs(float(label) - value) <= half_unit + rtol * abs(value), (
            f"label {label} is not {value!r} rounded to 3 significant digits")


def printed_norm_after(text: str, prefix: str) -> str:
    """The norm printed right after prefix in text ('‖∂E/∂U‖ = ' in a node label)."""
    m = re.search(re.escape(prefix) + "(" + PRINTED.pattern + ")", text)
    assert m, f"{prefix!r} not found in {text!r}"
    return m.group(1)


BLOCK_MATPLOTLIB = '''import sys
class BlockMatplotlib:
    """Import hook: this interpreter behaves as if matplotlib were not installed."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, BlockMatplotlib())
'''


def env_without_matplotlib(tmp_path, root):
    """Environment for a subprocess that cannot import matplotlib (a sitecustomize import hook)
    and imports this checkout (root) first."""
    import os
    hook = tmp_path / "no_matplotlib"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(BLOCK_MATPLOTLIB, encoding="utf-8")
    path = os.pathsep.join([str(hook), str(root), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}
