# %% [markdown]
# # Notebook: the spectral radius is not the bound
#
# Companion to [Vanishing and exploding gradients](../../vanishing/) (`docs/vanishing.md`). For a linear RNN
# $h_t = h_{t-1}U$, the gradient from $h_t$ back to $h_0$ is multiplied by $t$ factors
# of $U^\top$. With $U = [[0.9, 5], [0, 0.9]]$ the spectral radius is $0.9$, yet the
# gradient grows for many steps before it decays; $\lVert U\rVert_2^t$ bounds it.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinygrad_rnn as tg

U = np.array([[0.9, 5.0], [0.0, 0.9]])
rho, sigma = tg.analysis.spectral_radius(U), tg.analysis.spectral_norm(U)


def grad_norm(t):
    """‖∂h_t/∂h_0‖₂ measured by backward(), seeded with every unit vector at once."""
    h0 = tg.Tensor(np.eye(2), requires_grad=True)
    h = h0
    for _ in range(t):
        h = h @ tg.Tensor(U)
    h.backward(np.eye(2))
    return np.linalg.norm(h0.grad, 2)


ts = np.arange(1, 61)
measured = np.array([grad_norm(t) for t in ts])
print(f"ρ(U) = {rho:.2f}, ‖U‖₂ = {sigma:.2f}, ‖∂h_10/∂h_0‖₂ = {measured[9]:.1f}")
assert rho < 1 and measured[9] > 10

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.semilogy(ts, measured, label="measured ‖∂h_t/∂h_0‖₂")
ax.semilogy(ts, rho ** ts, "--", label="ρ(U)^t")
ax.semilogy(ts, sigma ** ts, ":", label="‖U‖₂^t (the bound)")
ax.set_ylim(1e-3, 1e3)
ax.set_xlabel("t")
ax.legend(loc="upper right")
plt.show()

# %% [markdown]
# ## With ReLU: a different matrix at every step
#
# A ReLU step multiplies the row gradient by $\mathrm{diag}(m_t)\,U^\top$, with $m_t$ the
# 0/1 activity pattern, so the product is of *different* matrices and $\rho(U)$ bounds none
# of it. Two units, $U$ with eigenvalues $\pm 0.95$, a bias and no input: the state stays
# in $[0, 1]$, one unit is active at a time, and each step multiplies the gradient by one
# entry of $U$ (three of the four have modulus 1.50).

# %%
U = np.array([[-2.5, 2.5], [-1.5, 2.5]])
U *= 0.95 / tg.analysis.spectral_radius(U)
cell = tg.nn.RNNCell(1, 2, nonlinearity="relu", dtype=np.float64)
cell.U.data[...], cell.b.data[...] = U, [1.0, -1.0]
Js, hs = tg.analysis.step_jacobians(cell, np.zeros((60, 1)))          # from h_0 = 0
relu_norms = tg.analysis.jacobian_norms(Js)[::-1]                     # index: T - k
print(f"eigenvalues {np.round(tg.analysis.eigenvalues(U).real, 2)}, max h_t = {hs.max():.2f}, "
      f"‖∂h_60/∂h_0‖₂ = {relu_norms[60]:.2e}")
assert relu_norms[60] > 1e5 and hs.max() <= 1 + 1e-12

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.semilogy(ts, relu_norms[1:], label="ReLU RNN ‖∂h_T/∂h_(T-d)‖₂")
ax.semilogy(ts, [np.linalg.norm(np.linalg.matrix_power(U, d), 2) for d in ts], "--",
            label="the same U, linear: ‖U^d‖₂")
ax.set_xlabel("d = T - k")
ax.legend(loc="upper left")
plt.show()

# %% [markdown]
# **Exercise:** find your own $U$ with $\rho(U) < 1$ whose gradient grows at least tenfold in
# 10 steps: `python -m tinygrad_rnn.exercises start nonnormal_growth`.
