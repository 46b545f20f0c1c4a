"""One training step, written once per framework, on the same problem.

The step (identical for every implementation):

    x (B, T, D) floats, targets (B, T) ints in [0, K), K = D
    h_1 .. h_T = recurrent layer (RNN or LSTM) over x        # (B, T, H)
    logits_t = h_t V + c  on every step                      # (B, T, K)
    E = mean over the B*T positions of cross-entropy(logits_t, target_t)
    backward to every parameter; optionally one SGD step  p <- p - lr * dE/dp

Every module in this package exposes

    NAME      short key used on the command line and in RESULTS.md
    LABEL     what a reader sees in the tables
    PACKAGE   the import it needs (missing: the harness skips it and says so)
    SIZES     the sizes it runs at (None: all)
    build(model, problem, lr=None) -> Step

`Step()` runs one training step and returns the loss; `Step.grads()` returns the
gradients of the last step under the oracle's names (W, U, b, V, c or W_f, ..., b_o,
V, c) as numpy arrays, so the harness can check every implementation against the
hand-written numpy BPTT before it times anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

# BLAS threads are fixed when numpy loads its BLAS, so this must run before
# numpy is imported. This 2-core machine is shared: two threads measured 2-3x
# slower and far noisier than one.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

# (B, T, D = K, H). toy exists for the scalar engine (micrograd) only.
SIZES = {
    "toy": (1, 5, 8, 8),
    "tiny": (1, 25, 32, 32),        # min-char-rnn's shape, small
    "char": (1, 25, 65, 100),       # min-char-rnn exactly: 65 characters, 100 hidden units
    "medium": (32, 50, 64, 128),
    "large": (64, 100, 128, 512),
}
MODELS = ("rnn", "lstm")
LR = 0.1

# In the order of the tables: the limit first, then the engine, then the others.
MODULES = ("numpy_impl", "engine", "engine_noedges", "engine_compiled", "torch_composed", "torch_fused",
           "hips_autograd", "mygrad_impl", "micrograd_impl")


def single_threaded() -> str:
    """Pin BLAS (and torch, if loaded later by an implementation) to one thread.

    The environment variables above cover a fresh process; threadpoolctl covers
    a process that imported numpy before this module (pytest). Returns a short
    description of the BLAS that will run, for RESULTS.md.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return "BLAS: unknown (install threadpoolctl to report it)"
    threadpool_limits(1)
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')}, kernel {i.get('architecture')}, "
                     f"{i.get('num_threads')} thread(s)" for i in blas) or "BLAS: none found"


class Problem:
    """Parameters (oracle names and layout), inputs and targets for one configuration.

    RNN:  W (D, H), U (H, H), b (H,);  LSTM: W_f, W_i, W_c, W_o (H + D, H) on
    z_t = [h_{t-1}, x_t] and b_f, ..., b_o (H,);  both: V (H, K), c (K,).
    """

    def __init__(self, model: str, size: str | tuple, dtype="float64", seed: int = 0):
        self.model, self.dtype = model, np.dtype(dtype)
        self.size = size if isinstance(size, str) else "custom"
        B, T, D, H = SIZES[size] if isinstance(size, str) else size
        self.B, self.T, self.D, self.H, self.K = B, T, D, H, D
        rng = np.random.default_rng(seed)

        def normal(shape, fan_in):
            return rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape).astype(self.dtype)

        p = {}
        if model == "rnn":
            p["W"], p["U"], p["b"] = normal((D, H), D), normal((H, H), H), normal(H, 10 * H)
        elif model == "lstm":
            for g in "fico":
                p["W_" + g], p["b_" + g] = normal((H + D, H), H + D), normal(H, 10 * H)
        else:
            raise ValueError(f"model must be 'rnn' or 'lstm', got {model!r}")
        p["V"], p["c"] = normal((H, self.K), H), normal(self.K, 10 * H)
        self.params = p
        self.x = rng.normal(0.0, 1.0, (B, T, D)).astype(self.dtype)  # (B, T, D)
        self.targets = rng.integers(0, self.K, (B, T))  # (B, T)

    def copy_params(self) -> dict[str, np.ndarray]:
        """A private copy: an SGD step must not change the next implementation's start."""
        return {k: v.copy() for k, v in self.params.items()}


def load(name: str):
    """The implementation module, or a string saying why it cannot run here."""
    module = importlib.import_module(f"{__name__}.{name}")
    missing = [p for p in module.PACKAGE if importlib.util.find_spec(p) is None]
    if missing:
        return f"{module.LABEL}: skipped, package {', '.join(missing)} is not installed"
    return module


def runs_at(module, size: str) -> bool:
    return module.SIZES is None or size in module.SIZES
