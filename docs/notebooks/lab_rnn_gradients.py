# %% [markdown]
# # Lab: watch a gradient vanish and explode
#
# You will write an RNN cell from Tensors, unroll it, call `backward()`, read the
# gradient that reached every hidden state, plot it, draw the graph, and then change
# $U$ and watch the gradient vanish and explode. Row convention, as in the course:
# $h_t = \tanh(x_t W + h_{t-1} U + b)$, and one step back multiplies the row
# gradient by $\mathrm{diag}(1-h_t^2)\,U^\top$ (see [Conventions](../../conventions/),
# `docs/conventions.md`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinygrad_rnn as tg

rng = np.random.default_rng(0)
H, D, T = 8, 3, 20
Q, _ = np.linalg.qr(rng.normal(size=(H, H)))        # an orthogonal matrix: every singular value 1
x = rng.normal(size=(T, 1, D)) * 0.1                # one sequence, batch 1
W = tg.Tensor(rng.normal(size=(D, H)) * 0.5, requires_grad=True, name="W")
b = tg.Tensor(np.zeros(H), requires_grad=True, name="b")

# %% [markdown]
# ## 1. The cell, from Tensors, and the unrolled loop
# The loop *is* the unrolled graph; `tg.scope` names each time step for the picture.

# %%
def cell(x_t, h_prev, U):
    return (x_t @ W + h_prev @ U + b).tanh().named("h_t")     # (1, H)


def unroll(U, steps=T):
    h, hs = tg.Tensor(np.zeros((1, H))), []
    for t in range(steps):
        with tg.scope(f"rnn/t={t + 1}"):
            h = cell(x[t], h, U)
        hs.append(h)
    return hs


U = tg.Tensor(1.0 * Q, requires_grad=True, name="U")
hs = unroll(U)
E = hs[-1].sum()                                  # a loss at the last step only
E.backward()                                      # BPTT: nothing but backward()

# %% [markdown]
# ## 2. Per-step norms of the gradient
# Every intermediate tensor keeps its `.grad`, so the gradient that reached $h_t$ is
# `hs[t].grad`. `tg.analysis.state_grad_norms` reads the same numbers.

# %%
norms = np.array([np.linalg.norm(h.grad) for h in hs])
np.testing.assert_allclose(norms, tg.analysis.state_grad_norms(hs))
print("‖∂E/∂h_1‖ =", norms[0], "  ‖∂E/∂h_T‖ =", norms[-1])

# %% [markdown]
# ## 3. Change U: scale it to spectral norm s
# With $U = sQ$, every singular value of $U$ is $s$. Below $s = 1$ each step back
# shrinks the gradient at least by $s$ (the bound $\lVert U\rVert_2 < 1/\gamma$, $\gamma = 1$
# for tanh); above it, the gradient can grow until tanh saturates.

# %%
def step_norms(s, steps=T):
    U = tg.Tensor(s * Q, requires_grad=True, name="U")
    hs = unroll(U, steps)
    hs[-1].sum().backward()
    return tg.analysis.state_grad_norms(hs), hs

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for s in (0.5, 1.0, 1.5, 3.0):
    n, _ = step_norms(s)
    ax.semilogy(range(1, T + 1), n, marker=".", label=f"s = {s}")
ax.set_xlabel("time step t")
ax.set_ylabel("‖∂E/∂h_t‖")
ax.legend(loc="lower right")
ax.set_title("tanh RNN, loss at t = T")
plt.show()

vanish, _ = step_norms(0.5)
grow, _ = step_norms(3.0)
assert vanish[0] / vanish[-1] < 1e-4          # vanished: 0.5^19 ≈ 2e-6 is the bound
assert grow[0] / grow[-1] > 2                 # grew, then saturation capped it
print(f"s = 0.5: ‖∂E/∂h_1‖/‖∂E/∂h_T‖ = {vanish[0] / vanish[-1]:.1e};  s = 3: {grow[0] / grow[-1]:.2f}")

# %% [markdown]
# ## 4. Draw the graph
# After `backward()` every edge is labelled with the norm of the gradient that flowed
# along it. A short unroll at op level, then the long one at cell level.

# %%
_, short = step_norms(3.0, steps=3)
tg.viz.draw_graph(short[-1], level="op")

# %%
_, long = step_norms(0.5)
tg.viz.draw_graph(long[-1], level="cell", elide=3)

# %% [markdown]
# ## 5. Your turn
# * Replace `.tanh()` by nothing (a linear RNN): what is $\lVert \partial E/\partial h_1\rVert$
#   for $s = 1.5$? (It should be close to $1.5^{19}\,\lVert \partial E/\partial h_T\rVert$.)
# * Put the loss at every step (`sum(h.sum() for h in hs)`): does the early gradient still vanish?
# * Try `U = [[0.9, 5], [0, 0.9]]` padded to $H$: $\rho(U) = 0.9$, yet... (exercise `nonnormal_growth`).
