"""Every exercise's checker passes its solution and fails typical wrong answers, naming the place.

The solutions are tests/exercise_solutions/NAME.py; each wrong answer below is one
mistake a student makes, and the test asserts the message says where it is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.exercises import EXERCISES, ExerciseFailure, check_file, load
from tinygrad_rnn.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "tests" / "exercise_solutions"


def solution(name: str):
    return load(SOLUTIONS / f"{name}.py", EXERCISES[name].FUNCTION)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_solution_passes(name):
    assert check_file(name, SOLUTIONS / f"{name}.py")


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_template_fails(name, tmp_path):
    """The file `start` writes is not a solution yet: the checker says so."""
    path = tmp_path / f"{name}.py"
    path.write_text(EXERCISES[name].TEMPLATE, encoding="utf-8")
    with pytest.raises(ExerciseFailure):
        check_file(name, path)


def _gru_reset_before(x_t, h_prev, p):
    r_t = (x_t @ p["W_r"] + p["b_ir"] + h_prev @ p["U_r"] + p["b_hr"]).sigmoid()
    z_t = (x_t @ p["W_z"] + p["b_iz"] + h_prev @ p["U_z"] + p["b_hz"]).sigmoid()
    n_t = (x_t @ p["W_n"] + p["b_in"] + (r_t * h_prev) @ p["U_n"] + p["b_hn"]).tanh()
    return (1 - z_t) * n_t + z_t * h_prev


def _lstm_input_first(x_t, state, p):
    return _lstm_z(tg.cat([x_t, state[0]], axis=-1), state, p)   # z_t = [x_t, h_{t-1}]: the wrong order


def _lstm_z(z_t, state, p):
    f_t = (z_t @ p["W_f"] + p["b_f"]).sigmoid()
    i_t = (z_t @ p["W_i"] + p["b_i"]).sigmoid()
    C_t = f_t * state[1] + i_t * (z_t @ p["W_c"] + p["b_c"]).tanh()
    return (z_t @ p["W_o"] + p["b_o"]).sigmoid() * C_t.tanh(), C_t


def _bptt_no_future(x, targets, W, U, V):
    """Each share from E_k alone: the gradient from later steps forgotten."""
    hs = [np.zeros(U.shape[0])]
    for t in range(len(x)):
        hs.append(np.tanh(x[t] @ W + hs[-1] @ U))
    out = []
    for t in range(len(x)):
        y = np.exp(hs[t + 1] @ V)
        y /= y.sum()
        y[targets[t]] -= 1
        out.append(np.outer(x[t], (y @ V.T) * (1 - hs[t + 1] ** 2)))
    return out


def _clip_each(grads, threshold):
    return [g * min(1.0, threshold / np.linalg.norm(g)) for g in grads]


def _omega_numpy_norm(hs, grads, U):
    total = tg.Tensor(0.0)
    for k in range(len(hs) - 1):
        h = hs[k + 1]
        back = (tg.Tensor(grads[k + 1]) * (1 - h * h)) @ U.T
        ratio = tg.Tensor(np.linalg.norm(back.data, axis=-1)) / np.linalg.norm(grads[k + 1], axis=-1)
        total = total + ((ratio - 1) ** 2).sum() + 0 * U.sum()
    return total


def _sequence_mean(inputs, targets, p):
    return solution("sequence_loss")(inputs, targets, p) / len(inputs)


def _delayed_first_steps(logits, targets, delay):
    """Scores the first T - d outputs: the delay on the wrong side."""
    B, T, K = logits.shape
    return F.cross_entropy(logits[:, :T - delay].reshape(B * (T - delay), K), targets.reshape(-1))


def _delayed_all_steps(logits, targets, delay):
    """Pads the targets with class 0 and scores every step."""
    B, T, K = logits.shape
    padded = np.concatenate([np.zeros((B, delay), dtype=targets.dtype), targets], axis=1)
    return F.cross_entropy(logits.reshape(B * T, K), padded.reshape(-1))


def _tbptt(x, y, p, k, carry=True, cut=True):
    """Chunk losses with one mistake: the state restarted at 0, or the graph not cut."""
    h, losses = tg.Tensor(np.zeros((x.shape[0], 4))), []
    for start in range(0, x.shape[1], k):
        h = h if carry else tg.Tensor(np.zeros((x.shape[0], 4)))
        loss = tg.Tensor(0.0)
        for t in range(start, min(start + k, x.shape[1])):
            h = (tg.Tensor(x[:, t]) @ p["W"] + h @ p["U"] + p["b"]).tanh()
            loss = loss + ((h - tg.Tensor(y[:, t])) ** 2).sum()
        losses.append(loss)
        h = h.detach() if cut else h
    return losses


def _esn(x, y, W, U, washout, ridge, transpose=False, shape_swap=False):
    V = solution("echo_state")(x, y, W, U.T if transpose else U, washout, ridge)
    return V.T if shape_swap else V


def _bn_numpy_stats(x, weight, bias, mean, var, m, eps):
    """μ_B and σ²_B as numpy constants: the gradient misses the paths through them."""
    mu, v = x.data.mean(axis=0), x.data.var(axis=0)
    y = (x - tg.Tensor(mu)) * tg.Tensor((v + eps) ** -0.5) * weight + bias
    return y, (1 - m) * mean + m * mu, (1 - m) * var + m * v * len(x.data) / (len(x.data) - 1)


def _bn_rows(x, weight, bias, mean, var, m, eps):
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    y = xc * ((xc * xc).mean(axis=1, keepdims=True) + eps) ** -0.5 * weight + bias
    return y, mean, var


def _bn_biased_running_var(x, weight, bias, mean, var, m, eps):
    y, new_mean, _ = solution("batch_norm")(x, weight, bias, mean, var, m, eps)
    return y, new_mean, (1 - m) * var + m * x.data.var(axis=0)


WRONG = [   # (exercise, a typical wrong answer, what the message must say)
    ("jacobian_step", lambda h, U: U @ np.diag(1 - h ** 2), r"transpose.*gradient layout"),
    ("jacobian_step", lambda h, U: U.T @ np.diag(1 - h ** 2), r"notes' W_hᵀ"),
    ("jacobian_step", lambda h, U: U.T, r"entry \(\d, \d\).*slope of tanh"),
    ("bptt_shares", _bptt_no_future, r"time step 1: S_1.*entry.*only E_1's own term"),
    ("bptt_shares", lambda *a: solution("bptt_shares")(*a)[:2], r"list of 3 arrays"),
    ("nonnormal_growth", lambda: np.array([[1.1, 0.0], [0.0, 0.5]]), r"ρ\(U\) = 1.1 >= 1"),
    ("nonnormal_growth", lambda: 0.9 * np.eye(3), r"‖∂h_10/∂h_0‖₂ = 0.3487.*U is normal"),
    ("nonnormal_growth", lambda: np.array([[0.5, 1.0], [0.0, 0.5]]), r"non-normal but not enough"),
    ("clip_by_norm", _clip_each, r"parameter 'W'.*entry.*own norm"),
    ("clip_by_norm", lambda g, t: [x * t for x in g], r"threshold .*parameter 'W': entry"),
    ("sum_or_mean", lambda lr, tau, B, T: (lr * T, tau / T), r"B = 2, T = 20 \(no clipping\): parameter "
     r"'rnn.cells.0.W' after one step: entry.*all B·T = 40 rows"),
    ("sum_or_mean", lambda lr, tau, B, T: (lr * B * T, tau), r"clipping acts.*threshold must shrink"),
    ("sum_or_mean", lambda lr, tau, B, T: (lr / (B * T), tau * B * T), r"the other way round"),
    ("truncated_bptt", lambda x, y, p, k: _tbptt(x, y, p, k, carry=False),
     r"chunk 2 \(steps 5..8\): L_2 \(the value\).*started from h = 0"),
    ("truncated_bptt", lambda x, y, p, k: _tbptt(x, y, p, k, cut=False),
     r"chunk 2 \(steps 5..8\): ∂L_2/∂W: entry.*h = h.detach\(\)"),
    ("truncated_bptt", lambda x, y, p, k: _tbptt(x, y, p, k)[:2], r"list of 3 losses"),
    ("echo_state", lambda x, y, W, U, w, r: _esn(x, y, W, U, 0, r), r"V \(the readout\).*drop the washout"),
    ("echo_state", lambda x, y, W, U, w, r: _esn(x, y, W, U, w, 0.0), r"no ridge term"),
    ("echo_state", lambda x, y, W, U, w, r: _esn(x, y, W, U, w, r, transpose=True), r"h_\{t-1\} Uᵀ"),
    ("echo_state", lambda x, y, W, U, w, r: _esn(x, y, W, U, w, r, shape_swap=True), r"V is \(H, O\)"),
    ("batch_norm", _bn_numpy_stats, r"∂/∂x: entry.*through μ_B and σ²_B"),
    ("batch_norm", _bn_rows, r"forward: y: entry.*LayerNorm"),
    ("batch_norm", lambda x, w, b, m, v, mo, eps: solution("batch_norm")(x, w, b, m, v, mo, 0.0),
     r"forward: y: entry.*ε is missing"),
    ("batch_norm", lambda x, w, b, m, v, mo, eps: solution("batch_norm")(x, w, b, m, v, 1 - mo, eps),
     r"running_mean: entry.*with m = momentum"),
    ("batch_norm", _bn_biased_running_var, r"running_var: entry.*unbiased"),
    ("omega_penalty", lambda hs, g, U: solution("omega_penalty")(hs, g, U.T), r"Ω \(the value\).*Uᵀ"),
    ("omega_penalty", _omega_numpy_norm, r"finite differences.*outside the engine"),
    ("lstm_cell", _lstm_input_first, r"forward: (h_t|C_t): entry"),
    ("lstm_cell", lambda x, s, p: (solution("lstm_cell")(x, s, p)[0], s[1]),
     r"forward: C_t: entry.*C_t = f_t \* C_\{t-1\}"),
    ("gru_cell", _gru_reset_before, r"forward: h_t: entry.*r_t \* \(h_\{t-1\} U_n \+ b_hn\)"),
    ("gru_cell", lambda x, h, p: solution("gru_cell")(x, h, {**p, "b_hz": p["b_hz"].detach()}),
     r"p\['b_hz'\].grad is None"),
    ("sequence_loss", _sequence_mean, r"E \(the value\).*mean over time"),
    ("delayed_loss", _delayed_first_steps, r"time step 1 \(delay 2\): its logits received a gradient"),
    ("delayed_loss", _delayed_all_steps, r"time step 1 \(delay 2\): its logits received a gradient"),
    ("delayed_loss", lambda lg, t, d: solution("delayed_loss")(lg, t, d) * (lg.shape[0] * (lg.shape[1] - d)),
     r"time step 3 \(delay 2\): ∂J/∂logits\[:, 2\]: entry"),
]


@pytest.mark.parametrize("name, wrong, message", WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_answer_is_located(name, wrong, message):
    with pytest.raises(ExerciseFailure, match="(?s)" + message):
        EXERCISES[name].check(wrong)


def test_every_exercise_has_a_wrong_answer_and_a_page():
    assert {w[0] for w in WRONG} == set(EXERCISES)
    for m in EXERCISES.values():
        assert (ROOT / "docs" / m.PAGE).is_file() and m.__doc__ and m.FUNCTION in m.TEMPLATE


def test_command_line_start_and_check(tmp_path):
    """`start` writes a template (and refuses to overwrite), `check` exits 1 on it and 0 on a solution."""
    run = lambda *a: subprocess.run([sys.executable, "-m", "tinygrad_rnn.exercises", *a], cwd=tmp_path,
                                    capture_output=True, text=True)
    assert "clip_by_norm" in run("list").stdout
    assert run("start", "clip_by_norm").returncode == 0
    assert run("start", "clip_by_norm").returncode == 2
    failed = run("check", "clip_by_norm")
    assert failed.returncode == 1 and "FAIL clip_by_norm: threshold" in failed.stdout
    passed = run("check", "clip_by_norm", str(SOLUTIONS / "clip_by_norm.py"))
    assert passed.returncode == 0 and passed.stdout.startswith("PASS clip_by_norm")
    missing = run("check", "clip_by_norm", "nowhere.py")
    assert missing.returncode == 1 and "no solution file nowhere.py" in missing.stdout


def test_each_page_lists_its_exercises_and_links_its_notebook():
    for m in EXERCISES.values():
        text = (ROOT / "docs" / m.PAGE).read_text(encoding="utf-8")
        section = text.split("\n## Exercises\n", 1)
        assert len(section) == 2, f"docs/{m.PAGE} has no Exercises section"
        assert f"exercises start {m.NAME}" in section[1] and f"exercises check {m.NAME}" in section[1]
        assert "(notebooks/" in section[1], f"docs/{m.PAGE}: the Exercises section links no notebook"


@pytest.mark.parametrize("page", ["conventions", "bptt", "vanishing", "remedies", "lstm", "gru", "sequences",
                                  "char_rnn"])
def test_a_page_says_where_its_notebook_source_is_in_the_repository(page):
    """The site links the rendered notebook; from the repository the reader needs the .py path."""
    text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(notebooks/(\w+)\.py\)", text))
    assert linked
    for nb in linked:
        assert f"`docs/notebooks/{nb}.py`" in text and (ROOT / "docs" / "notebooks" / f"{nb}.py").is_file()
    source = (ROOT / "docs" / "notebooks" / f"{page}.py")
    if source.is_file():                                   # and the notebook names its page's file
        assert f"(`docs/{page}.md`)" in source.read_text(encoding="utf-8")
