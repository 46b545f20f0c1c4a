"""benchmarks/floor.py: the minimal eager engine and its stages compute the numpy oracle's step.

No timing is asserted: the floor's numbers live in benchmarks/README.md. What is checked is
that every stage timed against numpy computes the same loss and gradients (float64, 1e-10),
over two steps (the second must not see the first's gradients), and that the stages do
record what they claim to pay for (names and scopes, edge records).
"""

import numpy as np
import pytest

import tinygrad_rnn as tg
from benchmarks import floor, impls

SMALL = (2, 4, 5, 6)     # B, T, D = K, H: a short unroll, a batch of two


@pytest.mark.parametrize("stage", list(floor.STAGES))
@pytest.mark.parametrize("model", impls.MODELS)
def test_every_stage_equals_numpy_over_two_steps(model, stage):
    tg.Tensor(np.zeros(2)).data = np.ones(2)    # a write elsewhere: the +checks stage's written-since test
    problem = impls.Problem(model, SMALL, "float64", seed=3)
    ref = impls.load("numpy_impl").build(model, problem)
    step = floor.build(stage, model, problem)
    for _ in range(2):
        loss, ref_loss = step(), ref()
        assert loss == pytest.approx(ref_loss, rel=1e-10)
        expected, got = ref.grads(), step.grads()
        assert set(got) == set(expected)
        for k in expected:
            np.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-13, err_msg=f"{stage} {k}")


def _nodes(loss):
    seen, todo = {loss}, [loss]
    while todo:
        for p in todo.pop()._parents:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _recorded(stage, model="rnn"):
    step = floor.build(stage, model, impls.Problem(model, SMALL, "float64"))
    loss = step.loss_fn(step.F, step.params, step.x, step.targets)
    step.F.backward(loss)
    return _nodes(loss)


def test_the_names_stage_names_every_step_in_its_scope():
    states = [n for n in _recorded("+names") if n._name == "h_t"]
    assert sorted(n.scope for n in states) == [f"rnn/t={t}" for t in range(1, SMALL[1] + 1)]
    assert not any(hasattr(n, "scope") for n in _recorded("+op table"))   # the stage before pays for none


def test_the_records_stage_keeps_a_share_per_edge_and_the_plain_stages_keep_none():
    ops_nodes = [n for n in _recorded("+records", "lstm") if n._op is not None]
    assert ops_nodes and all(len(n.edge_grads) == len(n._parents) for n in ops_nodes)
    plain = [n for n in _recorded("+op table", "lstm") if n._op is not None]
    assert plain and not any(hasattr(n, "edge_grads") for n in plain)


def test_the_contract_stage_names_scopes_and_keeps_every_share():
    step = floor.build("floor+contract", "rnn", impls.Problem("rnn", SMALL, "float64"))
    step()
    T = SMALL[1]
    assert [len(step.params[k].shares) for k in ("W", "U", "b", "V", "c")] == [T, T, T, 1, 1]
    loss = step.loss_fn(step.F, step.params, step.x, step.targets)
    step.F.backward(loss)
    order = floor.newest_first(loss)
    states = [n for n in order if n.name == "h_t"]
    assert sorted(n.scope for n in states) == [f"rnn/t={t}" for t in range(1, T + 1)]
    assert all(n.used for n in order if n.back is not None) and loss.visits == [n.tick for n in order]
    with pytest.raises(RuntimeError, match="graph used twice"):
        step.F.backward(loss)


def test_the_table_runs_end_to_end(capsys):
    floor.main(["--models", "rnn", "--sizes", "toy", "--dtypes", "float64", "--repeats", "1",
                "--sample-ms", "1"])
    out = capsys.readouterr().out
    assert "| rnn toy float64 |" in out and "engine" in out
