"""memory.py: the collector is held while a layer unrolls and backward() walks; glibc is tuned once."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor
from tinygrad_rnn.memory import gc_paused

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_as_it_was_even_after_an_error(enabled):
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(ZeroDivisionError):
            with gc_paused():
                assert not gc.isenabled()
                raise ZeroDivisionError
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def _collections(fn) -> int:
    """How many garbage collections start while fn runs."""
    seen = []

    def count(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        fn()
    finally:
        gc.callbacks.remove(count)
    return len(seen)


def test_the_collector_waits_while_a_long_unroll_is_built_and_backpropagated():
    rnn = tg.nn.RNN(3, 4)
    x = np.random.default_rng(0).standard_normal((1, 3000, 3)).astype(np.float32)
    kept = {}

    def by_hand():                          # the same cell, unrolled outside the layer
        h = None
        for t in range(x.shape[1]):
            h = rnn.cells[0](x[:, t], h)
        kept["h"] = h

    def layer():
        kept["h"] = rnn(x)[1]

    def backward():
        (kept["h"] * kept["h"]).sum().backward()

    assert _collections(by_hand) > 10       # ~20,000 surviving Tensors: many young collections
    assert _collections(layer) <= 1         # at most the one that runs when the pause ends
    assert _collections(backward) <= 1
    assert gc.isenabled()
    assert np.isfinite(rnn.cells[0].U.grad).all()


def _tuned_in_fresh_process(env) -> str:
    code = "import tinygrad_rnn as tg; print(tg.memory.MALLOC_TUNED)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_malloc_is_tuned_at_import_on_glibc_unless_asked_not_to():
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert _tuned_in_fresh_process({}) == str(glibc)
    assert _tuned_in_fresh_process({"TINYGRAD_RNN_MALLOC": "default"}) == "False"
    assert _tuned_in_fresh_process({"MALLOC_TRIM_THRESHOLD_": "1000000"}) == "False"  # the user chose


def _backward_peak(loss) -> int:
    """Bytes backward() held at most beyond what existed before it (the graph)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        loss.backward()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_gradient_passed_on_unchanged_is_shared_until_read_not_copied_per_tensor():
    # add passes g on as it is: ten adds would be ten copies of one (1000, 500) gradient
    x = Tensor(np.random.default_rng(0).standard_normal((1000, 500)), requires_grad=True)
    y, chain = x.tanh(), []
    for k in range(10):
        y = y + float(k)
        chain.append(y)
    peak = _backward_peak((y * 2.0).sum())
    assert peak < 6 * x.data.nbytes                 # the seed, its broadcast, g * 2, tanh's VJP, temporaries
    g = chain[-1].grad                              # the first read makes the tensor's own copy
    g *= 10
    np.testing.assert_allclose(chain[0].grad, np.full((1000, 500), 2.0), rtol=0, atol=0)
    assert not np.shares_memory(chain[0].grad, chain[-1].grad)


def test_a_shared_weight_is_formed_from_its_factors_a_few_steps_at_a_time():
    from tinygrad_rnn.sparse import CHUNK_BYTES, FactoredGrad
    rng = np.random.default_rng(1)
    parts = [(rng.standard_normal((64, 48)), rng.standard_normal((64, 40))) for _ in range(80)]
    stacked = 80 * 64 * (48 + 40) * 8                   # bytes of both factors stacked whole
    assert stacked > 8 * CHUNK_BYTES
    tracemalloc.start()
    try:
        dense = np.asarray(FactoredGrad((48, 40), np.float64, parts))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(dense, sum(a.T @ g for a, g in parts), rtol=1e-12, atol=1e-12)
    assert peak < 3 * CHUNK_BYTES                        # one block of factors, not all 80 steps


def test_ops_without_params_share_one_empty_mapping_and_a_step_shares_one_scope_string():
    rnn = tg.nn.RNN(3, 4)
    h = rnn(np.ones((1, 3, 3), np.float32))[0]
    nodes = tg.autograd.walk(h)
    matmuls = [t for t in nodes if t.op == "matmul"]
    assert len(matmuls) == 6 and len({id(t._params) for t in matmuls}) == 1
    x_2 = next(t for t in nodes if t.name == "x_t" and t.scope == "rnn/t=2")
    h_2 = next(t for t in nodes if t.name == "h_t" and t.scope == "rnn/t=2")
    assert x_2.scope is h_2.scope                       # one string per step, not one per use


def test_a_long_unroll_of_tiny_steps_is_summed_in_blocks_of_a_few_hundred_steps():
    from tinygrad_rnn.sparse import SummedGrad
    rows = [np.full((1, 32), float(k)) for k in range(4000)]        # T = 4,000 steps of (1, H)
    tracemalloc.start()
    try:
        total = np.asarray(SummedGrad((32,), np.float64, rows))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(total, np.full(32, 3999 * 4000 / 2), rtol=1e-12)
    assert peak < 300 * 2**10                  # the 4,000 reshaped rows at once would be ~1.5 MB


def test_the_memory_benchmark_names_the_lines_holding_a_step_after_backward():
    from benchmarks import impls
    from benchmarks.memory import sites
    step = impls.load("engine").build("rnn", impls.Problem("rnn", "tiny", "float64"))
    top = sites(step, 5)
    assert len(top) == 5 and all(mb > 0 and blocks > 0 for _, mb, blocks in top)
    assert top[0][1] >= top[-1][1] and top[0][0].startswith("tinygrad_rnn/")   # largest first
    assert "forward_backward" not in vars(step)                 # the step is left as it was
