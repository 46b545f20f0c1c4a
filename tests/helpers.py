"""Shared test helpers. The main one: `check_op(fn, *shapes)` checks fn's gradient against
finite differences; also `graph_nodes(root)` and `run_in_threads(*targets)`.

    check_op(lambda x, y: x * y, (3, 1), (1, 4))

builds one float64 input per shape, runs `tg.gradcheck` (central differences,
∂E/∂x[i] ≈ (E(x + ε e_i) - E(x - ε e_i)) / 2ε) and, on failure, prints the
analytic and numeric values side by side with the shapes that were used.
"""

from __future__ import annotations

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
