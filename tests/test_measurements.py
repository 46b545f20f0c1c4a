"""One home per measurement: tg.analysis computes the norm, the state norms and ρ(U)."""

import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, analysis, nn, viz
from tinygrad_rnn.nn.module import parameters_of


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5])
def test_norm_is_numpys_entrywise_norm(p):
    a = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(analysis.norm(a, p), np.sum(np.abs(a) ** p) ** (1 / p), rtol=1e-13)


def test_norm_does_not_overflow_and_keeps_inf_nan_and_empty():
    assert analysis.norm(np.array([3e200, 4e200])) == pytest.approx(5e200, rel=1e-15)
    assert analysis.norm(np.array([1.0, -7.0]), math.inf) == 7.0
    assert math.isnan(analysis.norm(np.array([1.0, np.nan])))
    assert analysis.norm(np.array([1.0, np.inf])) == math.inf
    assert analysis.norm(np.zeros((0, 3))) == 0.0


def test_state_grad_norms_reads_a_graph_a_layer_or_a_list_alike():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4)
    hs, _ = rnn(Tensor(np.random.default_rng(1).standard_normal((2, 5, 3))))
    E = (hs * hs).sum()
    E.backward()
    expected = [np.linalg.norm(h.grad) for h in rnn.states]
    for source in (E, rnn, rnn.states):
        np.testing.assert_allclose(analysis.state_grad_norms(source), expected, rtol=1e-12)
    with pytest.warns(DeprecationWarning, match="analysis.state_grad_norms"):
        old = viz.state_grad_norms(E)                                 # the old name still works
    assert isinstance(old, list)
    np.testing.assert_allclose(old, expected, rtol=1e-12)


def test_spectral_radius_lives_in_analysis_and_the_old_name_warns():
    U = np.diag([0.5, -2.0, 1.0])
    assert analysis.spectral_radius(U) == pytest.approx(2.0, abs=1e-12)
    with pytest.warns(DeprecationWarning, match="analysis.spectral_radius"):
        assert nn.init.spectral_radius(U) == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(ValueError, match="square"):
        analysis.spectral_radius(np.ones((2, 3)))


def test_one_helper_reads_a_module_a_tensor_or_a_list_of_parameters():
    m = nn.Linear(2, 3)
    assert parameters_of(m) == [m.weight, m.bias]
    assert parameters_of(m.weight) == [m.weight]
    assert parameters_of(p for p in [m.bias]) == [m.bias]
    assert tg.analysis is analysis


def test_clipping_uses_the_same_norm_as_the_monitor():
    m = nn.Linear(2, 3)
    m.weight.grad, m.bias.grad = np.full((2, 3), 3.0), np.full(3, 4.0)
    seen = tg.GradientMonitor(m, on_explode="ignore").check().total
    assert nn.clip_grad_norm_(m, 1.0) == pytest.approx(seen, rel=1e-15)


def test_the_generator_module_is_rng_and_the_old_attribute_warns():
    assert tg.manual_seed(3) is tg.rng.generator()
    with pytest.warns(DeprecationWarning, match="tinygrad_rnn.rng"):
        assert tg.random.generator() is tg.rng.generator()
