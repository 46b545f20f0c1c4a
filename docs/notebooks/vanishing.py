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
# **Exercise:** find your own $U$ with $\rho(U) < 1$ whose gradient grows at least tenfold in
# 10 steps: `python -m tinygrad_rnn.exercises start nonnormal_growth`.
