"""Engine state is per thread: no_grad, scope and detect_anomaly in one thread never leak into another.

Each switch is a contextvars.ContextVar (context.py), so two threads training two models
at once must compute exactly what each computes alone. The tests force the overlap with
a threading.Barrier (both threads are inside their contexts at the same moment) and a
tiny interpreter switch interval (the threads interleave within a forward pass), never
with sleeps. The basics (scope, no_grad, raw tensors) are in test_engine.py; here:
detect_anomaly, the layers' per-step scopes, and whole training loops with optimizers.
"""

import sys
import threading

import numpy as np
import pytest
from helpers import run_in_threads

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn, optim

F = nn.functional


@pytest.fixture(autouse=True)
def switch_often():
    """Let the interpreter switch threads every microsecond, so they interleave inside ops."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)





def test_detect_anomaly_is_per_thread():
    barrier = threading.Barrier(2, timeout=30)
    seen = {}

    def watching():
        with tg.detect_anomaly(), np.errstate(invalid="ignore"):     # numpy's errstate is per thread too
            barrier.wait()                       # the other thread is outside detect_anomaly now
            try:
                Tensor(np.array([-1.0])).log()
            except tg.AnomalyError as e:
                seen["watching"] = str(e)
            barrier.wait()

    def not_watching():
        barrier.wait()                           # the other thread is inside detect_anomaly now
        with np.errstate(invalid="ignore"):
            seen["not_watching"] = Tensor(np.array([-1.0])).log().data[0]
        barrier.wait()

    run_in_threads(watching, not_watching, barrier=barrier)
    assert "log" in seen["watching"] and "produced NaN" in seen["watching"]
    assert np.isnan(seen["not_watching"])
    assert not tg.context.is_anomaly_enabled()


def test_step_scopes_no_grad_and_anomaly_stay_in_their_thread_step_by_step():
    """Two hand-written unrolled loops, in lock step: at every t both threads are inside
    their own scope ('a/t=3' and 'b/t=3'), one under no_grad, one under detect_anomaly."""
    tg.manual_seed(0)
    cells = {"a": nn.LSTMCell(3, 4), "b": nn.LSTMCell(3, 4)}
    barrier = threading.Barrier(2, timeout=30)
    made = {"a": [], "b": []}

    def loop(name, *contexts):
        def run():
            x = np.random.default_rng(1).normal(size=(2, 5, 3))
            state = None
            for ctx in contexts:
                ctx.__enter__()
            try:
                for t in range(1, 6):
                    with tg.scope(f"{name}/t={t}"):
                        barrier.wait()           # both threads inside their step's scope
                        state = cells[name](x[:, t - 1], state)
                        made[name].append((state[0].scope, state[0].requires_grad,
                                           tg.context.is_anomaly_enabled()))
                        barrier.wait()
            finally:
                for ctx in reversed(contexts):
                    ctx.__exit__(None, None, None)
        return run

    run_in_threads(loop("a", tg.no_grad()), loop("b", tg.detect_anomaly()), barrier=barrier)
    assert made["a"] == [(f"a/t={t}", False, False) for t in range(1, 6)]
    assert made["b"] == [(f"b/t={t}", True, True) for t in range(1, 6)]


def test_layers_in_two_threads_name_their_own_steps():
    tg.manual_seed(0)
    layers = {"enc": nn.RNN(3, 4, name="enc"), "dec": nn.GRU(3, 4, name="dec")}
    barrier = threading.Barrier(2, timeout=30)
    scopes = {}

    def forward(name):
        def run():
            barrier.wait()
            for _ in range(20):
                outputs, _ = layers[name](np.ones((2, 8, 3)))
                scopes.setdefault(name, set()).update(h.scope for h in layers[name].states)
                assert outputs.requires_grad
        return run

    run_in_threads(forward("enc"), forward("dec"), barrier=barrier)
    assert scopes == {name: {f"{name}/t={t}" for t in range(1, 9)} for name in layers}


# ---- two models trained at once -------------------------------------------------------------------
class Model(nn.Module):
    """An LSTM over one-hot symbols and a linear readout to the next symbol's logits."""

    def __init__(self, seed):
        tg.manual_seed(seed)
        self.lstm = nn.LSTM(4, 8, dtype=np.float64)
        self.head = nn.Linear(8, 4, dtype=np.float64)

    def forward(self, x):
        outputs, _ = self.lstm(x)            # (B, T, H)
        return self.head(outputs)            # (B, T, K)


def batches(seed, steps):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        symbols = rng.integers(0, 4, (3, 6))
        yield np.eye(4)[symbols], np.roll(symbols, 1, axis=1)      # echo: y_t = s_{t-1}


def train(model, seed, steps=8, barrier=None, context=None):
    """Adam steps; returns every step's gradients and the final parameters (copies)."""
    wait = barrier.wait if barrier else (lambda: None)
    opt = optim.Adam(model, lr=1e-2)
    grads = []
    with context or tg.enable_grad():
        for x, y in batches(seed, steps):
            opt.zero_grad()
            wait()                                               # both threads run forward together
            loss = F.cross_entropy(model(x), y)
            wait()                                               # ... and backward together
            loss.backward()
            grads.append([p.grad.copy() for p in model.parameters()])
            with tg.no_grad():
                model(x)                                         # an evaluation pass in between
            opt.step()
    return grads, [p.data.copy() for p in model.parameters()]


def test_two_threads_training_two_models_match_training_them_one_at_a_time():
    alone = {seed: train(Model(seed), seed) for seed in (1, 2)}

    models = {seed: Model(seed) for seed in (1, 2, 3)}
    barrier = threading.Barrier(3, timeout=60)
    together = {}

    def worker(seed, context):
        def run():
            together[seed] = train(models[seed], seed, barrier=barrier, context=context)
        return run

    def evaluator():
        """A third thread evaluating under no_grad while the two others run their forward
        passes: if no_grad leaked, their losses would have no graph to backpropagate."""
        for x, _ in batches(3, 8):
            barrier.wait()
            with tg.no_grad():
                assert not models[3](x).requires_grad
            barrier.wait()

    # One thread trains under detect_anomaly, the other with the default settings.
    run_in_threads(worker(1, tg.detect_anomaly()), worker(2, None), evaluator, barrier=barrier)
    for seed in (1, 2):
        grads_alone, params_alone = alone[seed]
        grads_together, params_together = together[seed]
        assert len(grads_together) == len(grads_alone) == 8
        for step_alone, step_together in zip(grads_alone, grads_together):
            for g_alone, g_together in zip(step_alone, step_together):
                np.testing.assert_array_equal(g_together, g_alone)
        for p_alone, p_together in zip(params_alone, params_together):
            np.testing.assert_array_equal(p_together, p_alone)
    # and the two models really are different runs
    assert not np.array_equal(together[1][1][0], together[2][1][0])
