"""Truncated BPTT: carry h.detach() from one chunk to the next.

Split a sequence of T = 6 steps into two chunks of 3, with E_2 the loss on the
second chunk. Truncated BPTT computes ∂E_2/∂θ through the steps of chunk 2 only.
The full unrolled graph tells us what that must be: backward() of E_2 on the full
graph records the gradient along every edge, and the edges from a weight into the
ops of steps t = 4..6 carry exactly the paths that stay inside chunk 2. Their sum
is "the full gradient restricted to the chunk"; the edges of steps 1..3 carry what
truncation drops.
"""

import doctest

import numpy as np
import pytest
from helpers import graph_nodes

import tinygrad_rnn as tg
from tinygrad_rnn import nn

B, T, D, H, CUT = 2, 6, 3, 4, 3      # CUT: the step where the sequence is cut
MODELS = ["rnn", "lstm", "gru"]


def make(model):
    tg.manual_seed(0)
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[model](D, H, dtype=np.float64)
    rng = np.random.default_rng(1)
    return layer, rng.normal(size=(B, T, D)), rng.normal(size=(B, T, H))   # layer, x, loss weights


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def edge_grads_in_steps(root, param, scopes):
    """Σ of the gradients that flowed from param into ops made in the given scopes."""
    total = np.zeros_like(param.data)
    for node in graph_nodes(root):
        if node.scope in scopes and node.edge_grads is not None:
            for parent, g in zip(node.parents, node.edge_grads):
                if parent is param:
                    total += g
    return total


@pytest.mark.parametrize("model", MODELS)
def test_chunks_carry_the_state_forward(model):
    layer, x, _ = make(model)
    full, full_final = layer(x)
    first, state = layer(x[:, :CUT])
    second, final = layer(x[:, CUT:], detach(state))
    # two chunks and one call do the same arithmetic step by step; compared to float64 rounding
    tol = dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), full.data, **tol)
    for a, b in zip(final if model == "lstm" else [final], full_final if model == "lstm" else [full_final]):
        np.testing.assert_allclose(a.data, b.data, **tol)


@pytest.mark.parametrize("model", MODELS)
def test_truncated_gradient_is_the_full_gradient_restricted_to_the_chunk(model):
    layer, x, R = make(model)
    params = dict(layer.cells[0].named_parameters())
    name = layer.name

    # truncated: chunk 1, backward, then chunk 2 from the detached state
    outputs, state = layer(x[:, :CUT])
    (outputs * R[:, :CUT]).sum().backward()
    layer.zero_grad()
    outputs, _ = layer(x[:, CUT:], detach(state))
    (outputs * R[:, CUT:]).sum().backward()                   # E_2, through chunk 2 only
    truncated = {k: p.grad.copy() for k, p in params.items()}
    truncated_dh = [h.grad.copy() for h in layer.states]

    # full: one graph over all T steps, backward of the same E_2
    layer.zero_grad()
    outputs, _ = layer(x)
    E_2 = (outputs[:, CUT:] * R[:, CUT:]).sum()
    with tg.record_edge_grads(True):
        E_2.backward()
    chunk_2 = {f"{name}/t={t}" for t in range(CUT + 1, T + 1)}
    chunk_1 = {f"{name}/t={t}" for t in range(1, CUT + 1)}
    for k, p in params.items():
        restricted = edge_grads_in_steps(E_2, p, chunk_2)
        dropped = edge_grads_in_steps(E_2, p, chunk_1)
        np.testing.assert_allclose(truncated[k], restricted, rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(p.grad, restricted + dropped, rtol=1e-10, atol=1e-12, err_msg=k)
        assert np.abs(dropped).max() > 1e-6, f"{k}: truncation should drop something"
    for t, dh in enumerate(truncated_dh, start=CUT + 1):     # ∂E_2/∂h_t inside the chunk: equal
        np.testing.assert_allclose(dh, layer.states[t - 1].grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_forgetting_detach_raises_on_the_second_backward(model):
    layer, x, _ = make(model)
    outputs, state = layer(x[:, :CUT])
    outputs.sum().backward()                                  # frees chunk 1's graph
    outputs, _ = layer(x[:, CUT:], state)                    # no .detach(): chunk 1 is still linked
    with pytest.raises(tg.GraphError, match=r"already used by a previous backward\(\).*h\.detach\(\)"):
        outputs.sum().backward()


def test_without_detach_and_with_retain_graph_the_gradient_is_the_full_one():
    layer, x, R = make("rnn")
    outputs, h = layer(x[:, :CUT])
    (outputs * R[:, :CUT]).sum().backward(retain_graph=True)
    layer.zero_grad()
    outputs, _ = layer(x[:, CUT:], h)                        # linked: BPTT reaches chunk 1
    (outputs * R[:, CUT:]).sum().backward()
    linked = layer.cells[0].U.grad.copy()
    layer.zero_grad()
    full, _ = layer(x)
    (full[:, CUT:] * R[:, CUT:]).sum().backward()
    np.testing.assert_allclose(linked, layer.cells[0].U.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer_class", [nn.RNN, nn.LSTM])
def test_docstring_example_runs(layer_class):
    examples = doctest.DocTestFinder().find(layer_class, layer_class.__name__, globs={})
    examples = [e for e in examples if e.examples]
    assert examples, f"{layer_class.__name__} has no example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for example in examples:
        runner.run(example)
    assert runner.summarize(verbose=False).failed == 0
