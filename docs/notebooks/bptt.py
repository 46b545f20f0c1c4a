# %% [markdown]
# # Notebook: BPTT is backward() on the unrolled graph
#
# Companion to [BPTT derived](../../bptt/) (`docs/bptt.md`). A weight used at every step collects one
# share per step: $\partial E/\partial W = \sum_k S_k$. The engine records each share
# on its edge; `tg.analysis.param_edge_grads` reads them, keyed by time step.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

tg.manual_seed(0)
rnn, readout = tg.nn.RNN(2, 3), tg.nn.Linear(3, 4)
rng = np.random.default_rng(3)
x, targets = rng.normal(size=(1, 3, 2)).astype(np.float32), rng.integers(0, 4, 3)
outputs, _ = rnn(tg.Tensor(x))                                           # (1, 3, H)
E = F.cross_entropy(readout(outputs).reshape(3, 4), targets, reduction="sum")   # E = E_1 + E_2 + E_3
E.backward()

# %%
W = rnn.cells[0].W
shares = tg.analysis.param_edge_grads(E, W)
for step, S in shares.items():
    print(f"{step}: ‖S‖ = {np.linalg.norm(S):.4f}")
print("Σ_k S_k == W.grad:", np.allclose(sum(shares.values()), W.grad, atol=1e-6))
assert len(shares) == 3 and np.allclose(sum(shares.values()), W.grad, atol=1e-6)

# %% [markdown]
# The picture: one box per time step, $W$ drawn once with an edge from each step.

# %%
tg.viz.draw_graph(E, level="op")

# %% [markdown]
# **Exercise:** derive the three shares by hand in numpy:
# `python -m tinygrad_rnn.exercises start bptt_shares`, then `check bptt_shares`.
