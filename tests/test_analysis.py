"""tinygrad_rnn.analysis: engine Jacobians against finite differences and the course's formula."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis


def make_cell(nonlinearity="tanh", D=3, H=4, seed=0, rho=None):
    tg.manual_seed(seed)
    cell = tg.nn.RNNCell(D, H, nonlinearity=nonlinearity, dtype=np.float64)
    if rho is not None:
        tg.nn.init.normal_(cell.U)
        tg.nn.init.spectral_radius_(cell.U, rho)
    return cell


def numpy_step(cell, x_t, h):
    """h_t = f(x_t W + h_{t-1} U + b), written in numpy."""
    a = x_t @ cell.W.data + h @ cell.U.data + cell.b.data
    return np.tanh(a) if cell.nonlinearity == "tanh" else np.maximum(a, 0)


def numpy_run(cell, xs, h):
    for x_t in xs:
        h = numpy_step(cell, x_t, h)
    return h


def fd_jacobian(f, h, eps=1e-6):
    """Gradient layout by central differences: J[i, j] = ∂f(h)[j] / ∂h[i]."""
    J = np.zeros((h.size, f(h).size))
    for i in range(h.size):
        e = np.zeros_like(h)
        e[i] = eps
        J[i] = (f(h + e) - f(h - e)) / (2 * eps)
    return J


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_step_jacobian_matches_finite_differences(nonlinearity):
    cell = make_cell(nonlinearity, seed=1)
    rng = np.random.default_rng(1)
    x_t, h = rng.normal(size=3), rng.normal(size=4)
    J, h_t = analysis.step_jacobian(cell, x_t, h)
    np.testing.assert_allclose(h_t, numpy_step(cell, x_t, h), atol=1e-14)
    np.testing.assert_allclose(J, fd_jacobian(lambda v: numpy_step(cell, x_t, v), h), atol=1e-8)


def test_step_jacobian_is_the_course_formula():
    """J_t = U diag(1 - h_t²) (ours, row convention) = U_col^T diag(1 - h_t²) (the notes)."""
    cell = make_cell(seed=2)
    xs = np.random.default_rng(2).normal(size=(6, 3))
    Js, hs = analysis.step_jacobians(cell, xs)
    U = cell.U.data
    U_col = U.T                                  # the notes' h_t = tanh(U_col h_{t-1} + ...)
    for t, J in enumerate(Js, start=1):
        np.testing.assert_allclose(J, U @ np.diag(1 - hs[t] ** 2), atol=1e-15)
        np.testing.assert_allclose(J, U_col.T @ np.diag(1 - hs[t] ** 2), atol=1e-15)
    np.testing.assert_allclose(hs[-1], numpy_run(cell, xs, np.zeros(4)), atol=1e-14)


def test_jacobian_products_match_numpy_and_finite_differences():
    cell = make_cell(seed=3, rho=1.2)
    xs = np.random.default_rng(3).normal(size=(7, 3))
    Js, hs = analysis.step_jacobians(cell, xs)
    products = analysis.jacobian_products(Js)
    assert len(products) == len(xs) + 1
    np.testing.assert_array_equal(products[-1], np.eye(4))
    U = cell.U.data
    for k in range(len(xs) + 1):
        P = np.eye(4)                            # hand-written: J_{k+1} J_{k+2} ... J_T
        for t in range(k + 1, len(xs) + 1):
            P = P @ (U * (1 - hs[t] ** 2))
        np.testing.assert_allclose(products[k], P, atol=1e-13)
        fd = fd_jacobian(lambda h, k=k: numpy_run(cell, xs[k:], h), hs[k])
        np.testing.assert_allclose(products[k], fd, atol=1e-7)
    norms = analysis.jacobian_norms(Js)
    np.testing.assert_allclose(norms, [np.linalg.norm(P, 2) for P in products])


def test_step_jacobian_takes_a_plain_function_and_keeps_parameter_grads():
    cell = make_cell(seed=4)
    cell.U.grad = np.full((4, 4), 7.0)
    analysis.step_jacobians(cell, np.ones((3, 3)))
    np.testing.assert_array_equal(cell.U.grad, np.full((4, 4), 7.0))
    assert cell.W.grad is None
    U = np.random.default_rng(4).normal(size=(4, 4))
    U_t = tg.Tensor(U, requires_grad=True)
    linear = lambda x_t, h: h @ U_t              # h_t = h_{t-1} U: J_t = U at every step
    Js, _ = analysis.step_jacobians(linear, np.zeros((5, 2)), h0=np.ones(4))
    assert U_t.grad is None                      # a captured weight is left alone too
    np.testing.assert_allclose(analysis.jacobian_products(Js)[0], np.linalg.matrix_power(U, 5),
                               rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_bound_holds_for_random_U(seed):
    rng = np.random.default_rng(seed)
    scale = [0.3, 0.8, 1.0, 1.5, 2.5, 4.0][seed]
    cell = make_cell(seed=seed, H=5)
    cell.U.data = rng.normal(size=(5, 5)) * scale / np.sqrt(5)
    xs = rng.normal(size=(12, 3))
    Js, _ = analysis.step_jacobians(cell, xs)
    measured = analysis.jacobian_norms(Js)
    bound = analysis.gradient_bound(cell.U, np.arange(12, -1, -1))
    assert np.all(measured <= bound * (1 + 1e-12)), (measured, bound)


def test_sigmoid_bound_uses_a_quarter():
    rng = np.random.default_rng(7)
    U = rng.normal(size=(4, 4)) * 2.0
    sig = lambda x_t, h: (x_t + h @ tg.Tensor(U)).sigmoid()
    Js, _ = analysis.step_jacobians(sig, rng.normal(size=(8, 4)), h0=np.zeros(4))
    measured = analysis.jacobian_norms(Js)
    bound = analysis.gradient_bound(U, np.arange(8, -1, -1), "sigmoid")
    assert np.all(measured <= bound * (1 + 1e-12))
    assert bound[0] < analysis.gradient_bound(U, [8], "tanh")[0]


def test_spectral_radius_and_eigenvalues_match_numpy():
    rng = np.random.default_rng(8)
    for _ in range(5):
        U = rng.normal(size=(6, 6))
        lam = np.linalg.eigvals(U)
        assert analysis.spectral_radius(U) == pytest.approx(np.max(np.abs(lam)), rel=1e-12)
        got = analysis.eigenvalues(tg.Tensor(U))
        assert np.all(np.diff(np.abs(got)) <= 1e-12)                 # largest |λ| first
        np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(lam), rtol=1e-10)
        assert analysis.spectral_norm(U) >= analysis.spectral_radius(U)
    S = U + U.T                                                    # normal: ‖S‖_2 = ρ(S)
    assert analysis.spectral_norm(S) == pytest.approx(analysis.spectral_radius(S), rel=1e-10)
    with pytest.raises(ValueError, match="square"):
        analysis.spectral_radius(np.ones((2, 3)))
    with pytest.raises(ValueError, match="nonlinearity"):
        analysis.gradient_bound(S, [1], "softsign")


def test_state_grad_norms_agree_with_jacobian_products():
    """‖∂E/∂h_k‖ read off backward() equals ‖(∂h_T/∂h_k) ∂E/∂h_T‖ from the Jacobians."""
    tg.manual_seed(9)
    rnn = tg.nn.RNN(3, 4, dtype=np.float64)
    x = np.random.default_rng(9).normal(size=(1, 8, 3))
    _, h_T = rnn(x)
    v = np.random.default_rng(10).normal(size=(4,))
    (h_T * tg.Tensor(v)).sum().backward()                          # E = h_T · v
    norms = analysis.state_grad_norms(rnn)
    np.testing.assert_allclose(norms, analysis.state_grad_norms(rnn.states), rtol=1e-12, atol=0)
    Js, _ = analysis.step_jacobians(rnn.cells[0], x)
    expected = [np.linalg.norm(P @ v) for P in analysis.jacobian_products(Js)[1:]]
    np.testing.assert_allclose(norms, expected, rtol=1e-12)


def test_param_edge_grads_are_the_terms_of_the_sum():
    tg.manual_seed(11)
    rnn = tg.nn.RNN(2, 3, dtype=np.float64)
    out, _ = rnn(np.random.default_rng(11).normal(size=(2, 5, 2)))
    (out ** 2).sum().backward()
    U = rnn.cells[0].U
    terms = analysis.param_edge_grads(out, U)
    assert sorted(terms) == [f"rnn/t={t}" for t in range(1, 6)]
    np.testing.assert_allclose(sum(terms.values()), U.grad, rtol=1e-12)
    assert not np.any(terms["rnn/t=1"])            # h_0 = 0: the first use of U gets nothing
