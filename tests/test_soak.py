"""Soak: 1,000 training iterations of a small LSTM keep memory flat and are reproducible.

Every iteration builds a fresh unrolled graph (T steps of the LSTM's primitive ops),
backpropagates through it and lets it go. Nothing may accumulate: no graph kept alive
by a layer, an optimizer or a recorded edge gradient. tracemalloc measures the
heap after a warm-up and at the end; the difference, the drift, is printed for the
record (`pytest -s`). The same seed must then give bit-for-bit the same parameters.
"""

import gc
import tracemalloc

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim

F = nn.functional
ITERATIONS, WARM_UP = 1000, 100
K, B, T, H = 3, 2, 3, 4          # symbols, batch, time steps, hidden units: tiny, to run fast


def soak(seed: int, iterations: int = ITERATIONS, measure: bool = False) -> dict:
    """Train an LSTM + Linear readout with Adam on the echo task y_t = s_{t-1}."""
    tg.manual_seed(seed)
    lstm, head = nn.LSTM(K, H), nn.Linear(H, K)
    params = lstm.parameters() + head.parameters()
    opt = optim.Adam(params, lr=1e-2)
    rng = np.random.default_rng(seed)
    losses, memory = np.zeros(iterations), {}
    if measure:
        tracemalloc.start()
    try:
        for i in range(1, iterations + 1):
            symbols = rng.integers(0, K, (B, T))
            x = np.eye(K, dtype=np.float32)[symbols]                 # (B, T, K) one-hot
            y = np.roll(symbols, 1, axis=1)                          # echo the previous symbol
            opt.zero_grad()
            outputs, _ = lstm(x)                                     # (B, T, H)
            loss = F.cross_entropy(head(outputs), y)                 # logits (B, T, K)
            loss.backward()
            opt.step()
            losses[i - 1] = loss.item()                              # preallocated: no growing list
            if measure and i in (WARM_UP, ITERATIONS):
                # A full collection also empties the interpreter's free lists: without it,
                # up to 2,000 freed tuples per size stay allocated and look like a leak.
                gc.collect()
                memory[i] = tracemalloc.get_traced_memory()[0]
    finally:
        if measure:
            tracemalloc.stop()
    return {"losses": losses, "params": [p.data.copy() for p in params], "memory": memory}


def test_a_thousand_lstm_iterations_keep_memory_flat_and_rerun_identically():
    first = soak(seed=0, measure=True)
    drift = first["memory"][ITERATIONS] - first["memory"][WARM_UP]
    print(f"\nsoak: {ITERATIONS} iterations; the traced heap grew by {drift} bytes "
          f"({drift / 1024:+.2f} KB) from iteration {WARM_UP} to the end")
    # Leaking one float per iteration (24 bytes) would show as 21 KB; a tensor, as 200 KB.
    assert drift < 16 * 1024, f"the heap grew by {drift / 1024:.1f} KB over {ITERATIONS - WARM_UP} iterations"

    # It learned (the echo task is learnable at every step but the first): not a frozen loop.
    assert first["losses"][-100:].mean() < 0.5 * first["losses"][:10].mean()

    again = soak(seed=0)
    np.testing.assert_array_equal(again["losses"], first["losses"])
    for p, q in zip(again["params"], first["params"]):
        np.testing.assert_array_equal(p, q)
    other = soak(seed=1, iterations=1)                       # and the seed matters
    assert not np.array_equal(other["params"][0], first["params"][0])
