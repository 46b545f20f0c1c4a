"""Initialisers: the property each promises, in place, reproducible under tg.manual_seed."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor
from tinygrad_rnn.nn import init


def param(*shape, dtype=np.float64):
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=True)


def test_fills_in_place_and_returns_the_tensor_keeping_dtype():
    t = param(3, 4, dtype=np.float32)
    before = t._written_at
    assert init.normal_(t) is t
    assert t.dtype == np.float32 and t.shape == (3, 4)
    assert t._written_at > before                 # went through the data setter


def test_constants():
    np.testing.assert_array_equal(init.ones_(param(2, 3)).data, 1)
    np.testing.assert_array_equal(init.zeros_(init.ones_(param(2, 3))).data, 0)
    np.testing.assert_array_equal(init.constant_(param(4), 0.5).data, 0.5)


def test_eye_is_the_identity():
    np.testing.assert_array_equal(init.eye_(init.normal_(param(5, 5))).data, np.eye(5))
    np.testing.assert_array_equal(init.eye_(param(2, 3)).data, np.eye(2, 3))
    with pytest.raises(ValueError, match=r"eye_: needs a 2-D Tensor \(a matrix\), got \(2, 2, 2\)"):
        init.eye_(param(2, 2, 2))


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8)])
def test_orthogonal(shape):
    q = init.orthogonal_(param(*shape), gain=2.0).data / 2.0
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T   # the smaller Gram matrix is I
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    if shape[0] == shape[1]:
        assert tg.analysis.spectral_radius(q) == pytest.approx(1.0, abs=1e-12)


def test_orthogonal_sign_fix_makes_diag_r_positive():
    # torch's recipe: Q from QR of a Gaussian, columns multiplied by sign(diag R).
    tg.manual_seed(5)
    q = init.orthogonal_(param(5, 5)).data
    tg.manual_seed(5)
    a = tg.rng.generator().standard_normal((5, 5))
    np.testing.assert_allclose(q.T @ a, np.triu(q.T @ a), atol=1e-12)  # a = Q R, R upper
    assert np.all(np.diag(q.T @ a) > 0)


def test_uniform_and_normal_ranges():
    tg.manual_seed(0)
    u = init.uniform_(param(100, 100), -0.5, 2.0).data
    assert u.min() >= -0.5 and u.max() < 2.0 and abs(u.mean() - 0.75) < 0.02
    n = init.normal_(param(100, 100), mean=1.0, std=3.0).data
    assert abs(n.mean() - 1.0) < 0.1 and abs(n.std() - 3.0) < 0.05


def test_xavier_uniform_bound_and_std():
    tg.manual_seed(0)
    fan_in, fan_out, gain = 200, 300, 1.5
    w = init.xavier_uniform_(param(fan_in, fan_out), gain=gain).data
    a = gain * np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a
    assert w.std() == pytest.approx(gain * np.sqrt(2 / (fan_in + fan_out)), rel=0.01)


def test_xavier_normal_std():
    tg.manual_seed(0)
    w = init.xavier_normal_(param(200, 300), gain=0.5).data
    assert w.std() == pytest.approx(0.5 * np.sqrt(2 / 500), rel=0.01)
    assert abs(w.mean()) < 0.002
    with pytest.raises(ValueError, match="at least 2 dims, got \\(7,\\)"):
        init.xavier_normal_(param(7))


@pytest.mark.parametrize("rho", [0.5, 1.0, 1.7])
def test_spectral_radius_hits_rho(rho):
    U = init.normal_(param(16, 16))
    init.spectral_radius_(U, rho)
    assert abs(tg.analysis.spectral_radius(U) - rho) < 1e-10
    assert abs(np.max(np.abs(np.linalg.eigvals(U.data))) - rho) < 1e-10


def test_spectral_radius_keeps_float32():
    U = init.spectral_radius_(init.normal_(param(8, 8, dtype=np.float32)), 0.9)
    assert U.dtype == np.float32
    assert tg.analysis.spectral_radius(U) == pytest.approx(0.9, rel=1e-5)


def test_spectral_radius_errors():
    with pytest.raises(ValueError) as e:
        init.spectral_radius_(param(3, 4), 1.0)
    assert "square matrix, got shape (3, 4)" in str(e.value)
    with pytest.raises(ValueError) as e:
        init.spectral_radius_(param(4, 4), 1.0)
    assert "spectral radius 0" in str(e.value) and "(4, 4)" in str(e.value)
    with pytest.raises(ValueError, match="rho must be >= 0, got -1"):
        init.spectral_radius_(init.normal_(param(3, 3)), -1)
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        init.normal_(np.zeros((2, 2)))


@pytest.mark.parametrize("fn", [init.normal_, init.uniform_, init.orthogonal_,
                                init.xavier_uniform_, init.xavier_normal_])
def test_reproducible_with_manual_seed(fn):
    tg.manual_seed(42)
    a = fn(param(4, 6)).data.copy()
    tg.manual_seed(42)
    b = fn(param(4, 6)).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fn(param(4, 6)).data)       # the stream moves on
