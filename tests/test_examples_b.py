"""The remedies and sequence-shape examples, in --quick mode: each asserts the claim it teaches.

irnn, lstm_vs_rnn, echo_state, residual_norm, sequence_shapes, and the generators
they share (examples/datasets.py).
"""

import numpy as np
import pytest

from examples import datasets, echo_state, irnn, lstm_vs_rnn, residual_norm, sequence_shapes


def run(module, tmp_path):
    return module.main(["--quick", "--out", str(tmp_path)])


# ---- the shared generators ---------------------------------------------------

def test_adding_problem_marks_two_numbers_one_per_half_and_sums_them():
    x, y = datasets.adding_problem(np.random.default_rng(0), 200, 20)
    assert x.shape == (200, 20, 2) and y.shape == (200, 1)
    marks = x[:, :, 1]
    assert np.all(marks.sum(axis=1) == 2)
    assert np.all(marks[:, :10].sum(axis=1) == 1) and np.all(marks[:, 10:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * marks).sum(axis=1), rtol=1e-6)


def test_adding_problem_trivial_baseline_is_one_sixth():
    _, y = datasets.adding_problem(np.random.default_rng(1), 100_000, 10)
    assert abs(np.mean((y - 1.0) ** 2) - datasets.ADDING_BASELINE) < 0.003


def test_captions_follow_the_image_and_the_plural_rule():
    rng = np.random.default_rng(0)
    features = datasets.caption_features(rng)
    images, caps = datasets.captions(rng, 300, features, noise=0.0)
    assert images.shape == (300, 16) and caps.shape == (300, 5)
    assert np.all(caps[:, 0] == datasets.START) and np.all(caps[:, -1] == datasets.END)
    texts = [datasets.decode(c).split() for c in caps]
    assert all((words[0] == "one") == (words[2] in datasets.SHAPES) for words in texts)
    # noise-free images of the same caption are the same vector, different captions differ
    keys = {tuple(c): tuple(np.round(im, 5)) for c, im in zip(caps, images)}
    assert len(set(keys.values())) == len(keys)


def test_delayed_copy_targets_are_the_tokens_shifted():
    tokens, targets = datasets.delayed_copy(np.random.default_rng(0), 5, 8, delay=3, K=4)
    assert np.all(targets[:, :3] == 4)
    np.testing.assert_array_equal(targets[:, 3:], tokens[:, :5])


def test_mackey_glass_is_bounded_and_not_periodic_noise():
    s = datasets.mackey_glass(500, rng=np.random.default_rng(0))
    assert s.shape == (500,) and np.all(np.isfinite(s))
    assert 0.2 < s.min() < s.max() < 1.6 and s.std() > 0.1
    assert np.mean(np.abs(np.diff(s))) < 0.5 * s.std()            # smooth: predictable one step ahead


# ---- the examples ----------------------------------------------------------------

def test_irnn_gradient_does_not_vanish_and_training_helps(tmp_path):
    r = run(irnn, tmp_path)
    assert r["irnn_grad_ratio"] > 0.1                               # ‖∂E/∂h_1‖/‖∂E/∂h_T‖ with U = I
    assert r["tanh_grad_ratio"] < 1e-3                              # the tanh RNN's has vanished
    assert r["irnn_grad_ratio"] > 1e3 * r["tanh_grad_ratio"]
    assert r["tanh_U_norm"] > 1.0                                   # the docstring: ‖U‖₂ is not < 1 ...
    assert r["tanh_grad_ratio"] ** (1 / (r["T"] - 1)) < 0.8         # ... the shrinkage comes from 1 - h²
    assert r["irnn_mse"] < 0.5 * r["irnn_mse_init"]
    assert (tmp_path / "irnn_adding_loss.png").stat().st_size > 0
    assert (tmp_path / "irnn_gradient_flow.png").stat().st_size > 0


def test_lstm_cell_state_carries_the_gradient_back_and_lstm_learns(tmp_path):
    r = run(lstm_vs_rnn, tmp_path)
    assert 0.6 < r["f_mean"] < 0.85                                # σ(1) ≈ 0.73 with b_f = 1
    assert r["lstm_C_ratio"] > 100 * r["rnn_h_ratio"]               # ‖∂E/∂C_1‖/‖∂E/∂C_T‖ vs RNN's h
    assert r["lstm_C_ratio"] < 0.1                                  # the docstring: small, not "intact"
    assert r["lstm_mse"] < 0.5 * r["lstm_mse_init"]
    assert r["lstm_mse"] < 0.2 * r["baseline"] and r["rnn_mse"] > 0.8 * r["baseline"]  # the figure
    assert (tmp_path / "lstm_vs_rnn_gradient_flow.png").stat().st_size > 0


def test_echo_state_readout_beats_naive_and_states_forget_their_start(tmp_path):
    r = run(echo_state, tmp_path)
    assert r["rho"] == pytest.approx(0.9, rel=1e-4)
    assert r["sigma_max"] > 1.0                                     # ρ < 1 is the recipe, not σ_max < 1
    assert r["reservoir_untouched"]                                 # no gradient ever reached it
    assert r["nrmse_ridge"] < 0.2 * r["nrmse_naive"]
    assert r["nrmse_gd"] < r["nrmse_naive"]
    assert r["gap_end"] < 1e-4 * r["gap_start"]                     # the echo state property
    assert (tmp_path / "echo_state_property.png").stat().st_size > 0


def test_residual_and_layernorm_keep_the_bottom_gradient(tmp_path):
    r = run(residual_norm, tmp_path)
    plain, both = r["norms"]["plain"], r["norms"]["residual + LayerNorm"]
    assert plain[0] < 0.2 * plain[-1]                               # plain: vanishes with depth
    assert both[0] > 10 * plain[0]                                  # residual + LN: 10x more at the bottom
    assert r["residual + LayerNorm bottom/top"] > 0.5
    assert r["norms"]["residual + BatchNorm"][0] > 10 * plain[0]   # BatchNorm between layers does it too
    assert r["BatchNorm bottom/top"] > 10 * r["plain bottom/top"]
    assert r["weight_norms"]["residual + LayerNorm"][0] > 10 * r["weight_norms"]["plain"][0]
    assert (tmp_path / "residual_norm_depth.png").stat().st_size > 0


def test_sequence_shapes_each_learn_beyond_chance(tmp_path):
    r = run(sequence_shapes, tmp_path)
    assert r["one_to_many"]["caption_accuracy"] > 0.5               # chance: 1 in 27
    assert r["many_to_one"]["accuracy"] > 0.75                      # chance: 0.5
    assert r["many_to_many"]["accuracy"] > 0.6                      # chance: 0.25
    assert (tmp_path / "sequence_shapes.png").stat().st_size > 0
