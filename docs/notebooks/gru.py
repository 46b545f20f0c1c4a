# %% [markdown]
# # Notebook: the GRU's update gate and the gradient
#
# Companion to [The GRU](../../gru/) (`docs/gru.md`). $h_t = (1 - z_t) * n_t + z_t * h_{t-1}$: where
# $z_t \approx 1$ the state is copied and the gradient passes almost unchanged. Pushing
# the update gate's biases up makes the gradient reach further back.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinygrad_rnn as tg

T = 40
x = tg.Tensor(np.random.default_rng(0).normal(size=(1, T, 3)).astype(np.float32))
curves = {}
for bias in (0.0, 2.0):
    tg.manual_seed(0)
    gru = tg.nn.GRU(3, 16)
    gru.cells[0].b_iz.data[:] = bias
    gru.cells[0].b_hz.data[:] = bias
    outputs, _ = gru(x)
    outputs[:, -1].sum().backward()
    curves[f"b_iz + b_hz = {2 * bias:g}"] = n = tg.analysis.state_grad_norms(gru)
    print(f"b_iz + b_hz = {2 * bias:g}: ‖∂E/∂h_1‖/‖∂E/∂h_T‖ = {n[0] / n[-1]:.2e}")
assert curves["b_iz + b_hz = 4"][0] > curves["b_iz + b_hz = 0"][0]

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for name, n in curves.items():
    ax.semilogy(range(1, T + 1), n, label=name)
ax.set_xlabel("time step t")
ax.set_ylabel("‖∂E/∂h_t‖")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# **Exercise:** write the GRU step yourself and match `nn.GRUCell`:
# `python -m tinygrad_rnn.exercises start gru_cell`.
