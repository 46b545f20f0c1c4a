# %% [markdown]
# # Notebook: clipping by norm and the identity initialisation
#
# Companion to [Remedies](../../remedies/) (`docs/remedies.md`). Clipping rescales every gradient by one
# factor, so the direction is kept; an identity $U$ with ReLU (IRNN) starts with
# every singular value 1, so the gradient neither vanishes nor explodes at first.

# %%
import numpy as np

import tinygrad_rnn as tg

tg.manual_seed(0)
rnn = tg.nn.RNN(2, 8, nonlinearity="relu")
x = tg.Tensor(np.random.default_rng(0).normal(size=(1, 30, 2)).astype(np.float32))


def state_norms():
    rnn.zero_grad()
    outputs, h_T = rnn(x)
    h_T.sum().backward()
    return tg.analysis.state_grad_norms(rnn)


random_init = state_norms()
tg.nn.init.eye_(rnn.cells[0].U)
irnn = state_norms()
print(f"‖∂E/∂h_1‖/‖∂E/∂h_T‖: default init {random_init[0] / random_init[-1]:.2e}, "
      f"identity U {irnn[0] / irnn[-1]:.2f}")

# %%
params = rnn.parameters()
before = np.concatenate([p.grad.ravel() for p in params])
total = tg.nn.clip_grad_norm_(params, max_norm=1.0)
after = np.concatenate([p.grad.ravel() for p in params])
cosine = before @ after / (np.linalg.norm(before) * np.linalg.norm(after))
print(f"‖g‖ before {total:.3f}, after {np.linalg.norm(after):.3f}, cos(before, after) = {cosine:.6f}")
assert abs(np.linalg.norm(after) - min(total, 1.0)) < 1e-4 and cosine > 1 - 1e-6

# %% [markdown]
# **Exercises:** `clip_by_norm` (clip by hand) and `omega_penalty` (Pascanu's $\Omega$):
# `python -m tinygrad_rnn.exercises start clip_by_norm`.
