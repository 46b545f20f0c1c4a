# %% [markdown]
# # Notebook: the gradient through an LSTM and through an RNN
#
# Companion to [The LSTM](../../lstm/) (`docs/lstm.md`). A loss at the last step only; how much of it
# reaches each $h_t$? The RNN's gradient shrinks by a factor $\mathrm{diag}(1-h_t^2)U^\top$
# per step; the LSTM's cell state carries it along $C_t = f_t * C_{t-1} + \dots$

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinygrad_rnn as tg

tg.manual_seed(0)
T = 40
x = tg.Tensor(np.random.default_rng(0).normal(size=(1, T, 3)).astype(np.float32))
curves = {}
for name, layer in (("RNN", tg.nn.RNN(3, 16)), ("LSTM", tg.nn.LSTM(3, 16))):
    if name == "LSTM":
        layer.cells[0].b_f.data[:] = 1.0          # forget gate open at the start
    outputs, _ = layer(x)
    outputs[:, -1].sum().backward()
    curves[name] = tg.analysis.state_grad_norms(layer)
    print(f"{name}: ‖∂E/∂h_1‖/‖∂E/∂h_T‖ = {curves[name][0] / curves[name][-1]:.2e}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for name, n in curves.items():
    ax.semilogy(range(1, T + 1), n, label=name)
ax.set_xlabel("time step t")
ax.set_ylabel("‖∂E/∂h_t‖")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# **Exercises:** write the cells yourself and match the library's:
# `python -m tinygrad_rnn.exercises start lstm_cell` and `start gru_cell`.
