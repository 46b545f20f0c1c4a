# %% [markdown]
# # Notebook: the conventions, checked by the engine
#
# Companion to [Conventions](../../conventions/) (`docs/conventions.md`). The engine computes the one-step
# Jacobian $\partial h_t/\partial h_{t-1}$ by `backward()`; we compare it with
# $\mathrm{diag}(1-h_t^2)\,U^\top$ and with the look-alike $U^\top \mathrm{diag}(1-h_t^2)$.

# %%
import numpy as np

import tinygrad_rnn as tg

tg.manual_seed(0)
cell = tg.nn.RNNCell(3, 4)
rng = np.random.default_rng(1)
x_t, h_prev = rng.normal(size=(1, 3)), rng.normal(size=(1, 4))
J_grad_layout, h_t = tg.analysis.step_jacobian(cell, x_t, h_prev)   # J[i, j] = ∂h_t[j]/∂h_{t-1}[i]
U, d = cell.U.data, np.diag(1 - h_t ** 2)

# %%
numerator = d @ U.T                   # row j = output h_t[j]
print("diag(1-h²) Uᵀ equals the engine's Jacobian:", np.allclose(J_grad_layout.T, numerator, atol=1e-6))
print("U diag(1-h²) is its transpose (gradient layout):", np.allclose(J_grad_layout, U @ d, atol=1e-6))
wrong = U.T @ d
print(f"‖diag(1-h²) Uᵀ‖₂ = {np.linalg.norm(numerator, 2):.3f}, "
      f"‖Uᵀ diag(1-h²)‖₂ = {np.linalg.norm(wrong, 2):.3f} (a different matrix)")
assert np.allclose(J_grad_layout.T, numerator, atol=1e-6)

# %% [markdown]
# One step of backprop is a row gradient times the transpose of that Jacobian:
# $g_{t-1} = (g_t \circ (1-h_t^2))\,U^\top$.

# %%
h = tg.Tensor(h_prev, requires_grad=True)
out = cell(tg.Tensor(x_t), h)
g_t = rng.normal(size=(1, 4))
out.backward(g_t)
print("h_{t-1}.grad == (g_t ∘ (1-h_t²)) Uᵀ:", np.allclose(h.grad, (g_t * (1 - h_t ** 2)) @ U.T, atol=1e-6))

# %% [markdown]
# **Exercise:** `python -m tinygrad_rnn.exercises start jacobian_step`, write the Jacobian,
# then `python -m tinygrad_rnn.exercises check jacobian_step`.
