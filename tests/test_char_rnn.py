"""examples/char_rnn.py: min-char-rnn's gradients and updates, training, save and resume.

min-char-rnn (benchmarks/numpy_bptt.py: `min_char_rnn_step`) uses column vectors,
so its matrices are the transposes of ours:

    ours (rows)                       min-char-rnn (columns)
    h_t = tanh(x_t W + h U + b)       hs[t] = tanh(Wxh xs[t] + Whh hs[t-1] + bh)
    W (V, H), U (H, H), b (H,)        Wxh = Wᵀ (H, V), Whh = Uᵀ (H, H), bh = b (H, 1)
    readout weight (H, V), bias (V,)  Why = weightᵀ (V, H), by = bias (V, 1)
    h (1, H)                          hprev = hᵀ (H, 1)

and both sum the loss over the steps of a chunk.
"""

import numpy as np
import pytest

import tinygrad_rnn as tg
from benchmarks.numpy_bptt import min_char_rnn_step
from examples import char_rnn

V, H, T = 13, 100, 25


def random_model(rng, vocab=V, hidden=H):
    """A CharRNN with weights far from min-char-rnn's tiny init, so every term matters."""
    model = char_rnn.CharRNN(vocab, hidden, rng=rng)
    for p in model.parameters():
        p.data = 0.3 * rng.standard_normal(p.shape)
    return model


def to_min_char_rnn(model):
    cell, out = model.rnn.cells[0], model.readout
    return dict(Wxh=cell.W.data.T.copy(), Whh=cell.U.data.T.copy(), Why=out.weight.data.T.copy(),
                bh=cell.b.data[:, None].copy(), by=out.bias.data[:, None].copy())


def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def test_gradients_equal_min_char_rnn_backward_for_one_chunk():
    rng = np.random.default_rng(1)
    model = random_model(rng)
    inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)
    h0 = 0.5 * rng.standard_normal((1, H))

    loss, h_T = char_rnn.chunk_loss(model, inputs, targets, tg.Tensor(h0))
    loss.backward()
    ref = to_min_char_rnn(model)
    ref_loss, dWxh, dWhh, dWhy, dbh, dby, h_last = min_char_rnn_step(
        list(inputs), list(targets), h0.T.copy(), **ref)

    cell, out = model.rnn.cells[0], model.readout
    assert cell.W.dtype == np.float64
    assert rel(loss.item(), ref_loss) < 1e-12
    assert rel(h_T.data, h_last.T) < 1e-12
    for ours, theirs in [(cell.W.grad, dWxh.T), (cell.U.grad, dWhh.T), (cell.b.grad, dbh[:, 0]),
                         (out.weight.grad, dWhy.T), (out.bias.grad, dby[:, 0])]:
        assert ours.shape == theirs.shape
        assert rel(ours, theirs) < 1e-10
    # The gradient is not trivially small: the chunk really exercises BPTT through U.
    assert np.abs(cell.U.grad).max() > 1e-2


@pytest.mark.parametrize("backprop", [char_rnn.eager_backprop, char_rnn.compiled_backprop])
def test_training_steps_equal_min_char_rnn_updates(backprop):
    """Clip to ±5 and Adagrad(eps=0, initial_accumulator_value=1e-8) is min-char-rnn's
    `mem += g²; p -= lr·g/√(mem + 1e-8)`, up to rounding; eager or replayed by tg.compile."""
    rng = np.random.default_rng(2)
    model = random_model(rng, hidden=20)
    opt = char_rnn.make_optimizer(model, lr=0.1)
    step = backprop(model)
    ref = to_min_char_rnn(model)
    mem = {k: np.zeros_like(v) for k, v in ref.items()}
    h, hprev = tg.Tensor(np.zeros((1, 20))), np.zeros((20, 1))
    clipped = 0
    for _ in range(5):
        inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)
        loss, h = char_rnn.train_step(model, opt, inputs, targets, h, clip=5.0, backprop=step)
        ref_loss, *grads, hprev = min_char_rnn_step(list(inputs), list(targets), hprev, **ref)
        assert rel(loss, ref_loss) < 1e-10
        for k, g in zip(["Wxh", "Whh", "Why", "bh", "by"], grads):
            clipped += int((np.abs(g) > 5).sum())
            g = np.clip(g, -5, 5)
            mem[k] += g * g
            ref[k] -= 0.1 * g / np.sqrt(mem[k] + 1e-8)
    assert clipped > 0                                   # the clip was exercised
    if backprop is char_rnn.compiled_backprop:
        assert step.replays == 3                         # recorded twice, then replayed
    got = to_min_char_rnn(model)
    for k in ref:
        assert rel(got[k], ref[k]) < 1e-10, k


def test_quick_run_lowers_the_smooth_loss_and_writes_figures(tmp_path):
    out = char_rnn.main(["--quick", "--out", str(tmp_path), "--no-progress", "--sample-length", "50"])
    assert out["trained_steps"] == out["steps"] == 200
    start, V = out["start_loss"], out["vocab_size"]
    assert start == pytest.approx(25 * np.log(V))         # min-char-rnn's starting smooth loss
    # The smooth loss moves only 0.1% per step toward the chunk loss, so its fall is modest.
    assert out["smooth_loss"] < start - 1.0
    # The chunk losses themselves fall well under a uniform guess (≈86 against 102.8),
    # and far under the first steps' (Adagrad's first steps overshoot: ≈140).
    assert np.mean(out["losses"][-50:]) < start - 10
    assert np.mean(out["losses"][-50:]) < np.mean(out["losses"][:20]) - 20
    assert len(out["final_sample"]) == 50
    assert (tmp_path / "checkpoint.npz").exists()
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert len(out["figures"]["h_grad_norms"]) == 10


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    common = ["--hidden", "16", "--sample-every", "5", "--held-out", "0", "--sample-length", "20",
              "--save-every", "10", "--no-progress", "--no-figures", "--seed", "3"]
    full = char_rnn.main(common + ["--steps", "20", "--out", str(tmp_path / "full")])
    first = char_rnn.main(common + ["--steps", "10", "--out", str(tmp_path / "part")])
    resumed = char_rnn.main(common + ["--steps", "20", "--out", str(tmp_path / "part"),
                                      "--resume", first["checkpoint"]])
    assert resumed["trained_steps"] == 10
    a, b = tg.load(full["checkpoint"]), tg.load(resumed["checkpoint"])
    assert set(a["model"]) == set(b["model"]) and len(a["model"]) == 5
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    assert set(a["optim"]) == set(b["optim"]) == {"state", "param_groups"}
    for part in ("state", "param_groups"):     # {"0": {"step": ..., "sum": ...}, ...}
        assert a["optim"][part].keys() == b["optim"][part].keys()
        for i in a["optim"][part]:
            assert a["optim"][part][i].keys() == b["optim"][part][i].keys()
            for k in a["optim"][part][i]:
                np.testing.assert_array_equal(a["optim"][part][i][k], b["optim"][part][i][k])
    for k in ("step", "pointer", "hprev", "smooth_loss", "rng"):
        np.testing.assert_array_equal(a[k], b[k])
    assert resumed["smooth_loss"] == full["smooth_loss"]
    # The sampler's random state is restored too: the samples after step 10 agree.
    samples = {"full": {}, "resumed": {}}
    for name, run in (("full", full), ("resumed", resumed)):
        for step, _tau, text in run["samples"]:
            samples[name].setdefault(step, text)          # the first at a step: the in-loop sample
    assert samples["full"][10] == samples["resumed"][10]
    assert samples["full"][15] == samples["resumed"][15]
    # And the run did change the parameters (so equality above means something).
    assert not np.array_equal(a["model"]["readout.bias"], np.zeros_like(a["model"]["readout.bias"]))


def test_resume_with_another_text_is_refused(tmp_path):
    run = char_rnn.main(["--steps", "2", "--hidden", "8", "--out", str(tmp_path), "--no-progress",
                         "--no-figures", "--sample-length", "5"])
    other = tmp_path / "other.txt"
    other.write_text("abcabcabcabcabcabcabcabcabcabcabcabc\n" * 3)
    with pytest.raises(ValueError, match="vocabulary"):
        char_rnn.main(["--steps", "4", "--hidden", "8", "--out", str(tmp_path), "--no-progress",
                       "--no-figures", "--data", str(other), "--resume", run["checkpoint"]])


@pytest.mark.parametrize("cell", char_rnn.CELLS)
def test_compiled_step_equals_the_eager_step_for_both_cells(cell):
    """--cell lstm trains through the same tg.compile replay as the RNN (the state (h, C)
    passed as two Tensors), and --eager gives the same parameters and carried state."""
    runs = []
    for backprop in (char_rnn.eager_backprop, char_rnn.compiled_backprop):
        tg.manual_seed(0)
        model = char_rnn.CharRNN(V, 16, rng=np.random.default_rng(0), cell=cell)
        opt, step, state = char_rnn.make_optimizer(model), backprop(model), model.zero_state()
        data = np.random.default_rng(5).integers(0, V, (5, T + 1))
        for row in data:
            loss, state = char_rnn.train_step(model, opt, row[:-1], row[1:], state, backprop=step)
        runs.append((model, model.state_parts(state), step))
    (eager, eager_state, _), (compiled, compiled_state, step) = runs
    assert len(eager_state) == (1 if cell == "rnn" else 2)
    assert step.replays == 3                              # recorded twice, then replayed
    for (name, a), (_, b) in zip(eager.named_parameters(), compiled.named_parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-10, atol=1e-12, err_msg=name)
    for a, b in zip(eager_state, compiled_state):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-10, atol=1e-12)


def test_perplexity_is_the_exponential_of_the_mean_loss_per_character():
    model = random_model(np.random.default_rng(6))
    ids = np.random.default_rng(7).integers(0, V, 600)
    loss, _ = char_rnn.chunk_loss(model, ids[:-1], ids[1:], None)      # one chunk of 599 steps
    expected = np.exp(loss.item() / 599)
    np.testing.assert_allclose(char_rnn.perplexity(model, ids, chunk=250), expected, rtol=1e-10)
    # an untrained min-char-rnn model guesses uniformly: perplexity = the vocabulary size
    fresh = char_rnn.CharRNN(V, H, rng=np.random.default_rng(0))
    np.testing.assert_allclose(char_rnn.perplexity(fresh, ids), V, rtol=1e-2)


def test_quick_lstm_run_reports_held_out_perplexity_and_samples_per_temperature(tmp_path):
    runs = {cell: char_rnn.main(["--quick", "--cell", cell, "--out", str(tmp_path / cell),
                                 "--no-progress", "--no-figures", "--sample-length", "30",
                                 "--temperature", "0.5,1.5", "--sample-at", "0,100"])
            for cell in char_rnn.CELLS}
    for cell, run in runs.items():
        assert [(s, tau) for s, tau, _ in run["samples"]] == [
            (0, 0.5), (0, 1.5), (100, 0.5), (100, 1.5), (200, 0.5), (200, 1.5)], cell
        assert all(len(text) == 30 for _, _, text in run["samples"])
        steps, ppl = zip(*run["perplexities"])
        assert steps == (0, 100, 200)
        # untrained: a uniform guess over the vocabulary; then it learns
        assert ppl[0] == pytest.approx(run["vocab_size"], rel=0.02)
        assert ppl[2] < ppl[1] < 0.75 * ppl[0], (cell, ppl)
    # After the same 200 steps the LSTM is far ahead (≈15 against ≈33 on the shipped text).
    assert runs["lstm"]["perplexities"][-1][1] < 0.7 * runs["rnn"]["perplexities"][-1][1]


def test_resume_with_another_cell_is_refused(tmp_path):
    common = ["--steps", "2", "--hidden", "8", "--out", str(tmp_path), "--no-progress",
              "--no-figures", "--sample-length", "5", "--held-out", "0"]
    run = char_rnn.main(common + ["--cell", "lstm"])
    with pytest.raises(ValueError, match="--cell lstm"):
        char_rnn.main(common[:1] + ["4"] + common[2:] + ["--resume", run["checkpoint"]])
    resumed = char_rnn.main(common[:1] + ["4"] + common[2:] + ["--cell", "lstm", "--resume",
                                                                run["checkpoint"]])
    assert resumed["trained_steps"] == 2 and resumed["perplexities"] == []
