# %% [markdown]
# # Notebook: a tiny char-RNN
#
# Companion to [Char-RNN tutorial](../../char_rnn/): an RNN reads one character at a
# time and predicts the next; the loss is $E = \sum_t -\log y_t[\text{target}_t]$.
# A few hundred Adam steps on one repeated sentence, then a sample.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

text = "black and white dog jumps over bar. " * 4
chars = sorted(set(text))
ids = np.array([chars.index(c) for c in text])
K, H, T = len(chars), 32, 24

tg.manual_seed(0)
embed, rnn, readout = tg.nn.Embedding(K, H), tg.nn.RNN(H, H), tg.nn.Linear(H, K)
params = embed.parameters() + rnn.parameters() + readout.parameters()
opt = tg.optim.Adam(params, lr=0.01)
rng = np.random.default_rng(0)
losses = []
for _ in range(150):
    i = rng.integers(0, len(ids) - T - 1)
    inputs, targets = ids[i:i + T], ids[i + 1:i + T + 1]
    outputs, _ = rnn(embed(inputs[None]))                       # (1, T, H)
    E = F.cross_entropy(readout(outputs).reshape(T, K), targets, reduction="sum")
    opt.zero_grad()
    E.backward()
    tg.nn.clip_grad_norm_(params, 5.0)
    opt.step()
    losses.append(float(E.data) / T)
print(f"loss per character: {np.mean(losses[:10]):.3f} at the start, {np.mean(losses[-10:]):.3f} at the end")
assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])

# %%
def sample(n, temperature=1.0, start="b"):
    out, h, c = [start], None, chars.index(start)
    with tg.no_grad():
        for _ in range(n):
            o, h = rnn(embed(np.array([[c]])), h)
            p = (readout(o[:, -1]) / temperature).softmax(axis=-1).data[0].astype(np.float64)
            c = rng.choice(K, p=p / p.sum())
            out.append(chars[c])
    return "".join(out)

for temperature in (0.5, 1.0):
    print(f"T = {temperature}: {sample(40, temperature)!r}")

# %% [markdown]
# **Exercise:** write the loss yourself (a sum over time, as min-char-rnn):
# `python -m tinygrad_rnn.exercises start sequence_loss`.
