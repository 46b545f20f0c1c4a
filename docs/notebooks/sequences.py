# %% [markdown]
# # Notebook: where the loss sits decides where the gradient goes
#
# Companion to [Sequence shapes](../../sequences/) (`docs/sequences.md`). The same RNN, three losses:
# many-to-one (the last output only), many-to-many (every output) and delayed
# (every output after a delay of 3 steps). Which hidden states receive a gradient?

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

tg.manual_seed(0)
B, T, D, H, K, d = 2, 8, 3, 16, 4, 3
rnn, readout = tg.nn.RNN(D, H), tg.nn.Linear(H, K)
x = tg.Tensor(np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32))
targets = np.random.default_rng(1).integers(0, K, (B, T))


def norms(loss_of):
    rnn.zero_grad()
    outputs, _ = rnn(x)
    loss_of(readout(outputs)).backward()                           # logits (B, T, K)
    return tg.analysis.state_grad_norms(rnn)


shapes = {
    "many-to-one": lambda lg: F.cross_entropy(lg[:, -1], targets[:, -1]),
    "many-to-many": lambda lg: F.cross_entropy(lg.reshape(B * T, K), targets.reshape(-1)),
    "delayed (d = 3)": lambda lg: F.cross_entropy(lg[:, d:].reshape(B * (T - d), K),
                                                  targets[:, :T - d].reshape(-1)),
}
table = {name: norms(fn) for name, fn in shapes.items()}
print("t:              " + " ".join(f"{t:>8}" for t in range(1, T + 1)))
for name, n in table.items():
    print(f"{name:16}" + " ".join(f"{v:8.1e}" for v in n))
assert table["many-to-many"][0] > table["many-to-one"][0]      # a loss at step 1 feeds h_1 directly

# %% [markdown]
# In many-to-one every gradient comes from the end, through the whole Jacobian product,
# so it shrinks towards t = 1; with a loss at every step each $h_t$ also gets its own term.
# In the delayed model the first $d = 3$ states have no loss of their own: like
# many-to-one, they receive only what comes back from the later steps.
#
# **Exercise:** `python -m tinygrad_rnn.exercises start delayed_loss`.
