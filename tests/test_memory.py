"""memory.py: the collector is held while a layer unrolls and backward() walks; glibc is tuned once."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
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
