# %% [markdown]
# # Notebook: a tiny char-RNN
#
# Companion to [Char-RNN tutorial](../../char_rnn/) (`docs/char_rnn.md`): an RNN reads one character at a
# time and predicts the next; the loss is $E = \sum_t -\log y_t[\text{target}_t]$.
# A few hundred Adam steps on one repeated sentence, with a sample at three points
# of training, then samples at three temperatures, and an LSTM trained the same way.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

text = "black and white dog jumps over bar. " * 4
chars = sorted(set(text))
ids = np.array([chars.index(c) for c in text])
K, H, T = len(chars), 32, 24


def sample(embed, layer, readout, n, rng, temperature=1.0, start="b"):
    """Feed the model its own draws: p = softmax(y_t / temperature)."""
    out, state, c = [start], None, chars.index(start)
    with tg.no_grad():
        for _ in range(n):
            o, state = layer(embed(np.array([[c]])), state)
            p = (readout(o[:, -1]) / temperature).softmax(axis=-1).data[0].astype(np.float64)
            c = rng.choice(K, p=p / p.sum())
            out.append(chars[c])
    return "".join(out)


def train(layer, steps=150, sample_at=(0, 50, 150), seed=0):
    """Adam on random 24-character windows; returns the model, the losses and the samples."""
    tg.manual_seed(seed)
    embed, readout = tg.nn.Embedding(K, H), tg.nn.Linear(H, K)
    params = embed.parameters() + layer.parameters() + readout.parameters()
    opt, rng = tg.optim.Adam(params, lr=0.01), np.random.default_rng(seed)
    losses, samples = [], {}
    for step in range(steps + 1):
        if step in sample_at:
            samples[step] = sample(embed, layer, readout, 40, rng)
        if step == steps:
            break
        i = rng.integers(0, len(ids) - T - 1)
        inputs, targets = ids[i:i + T], ids[i + 1:i + T + 1]
        outputs, _ = layer(embed(inputs[None]))                     # (1, T, H)
        E = F.cross_entropy(readout(outputs).reshape(T, K), targets, reduction="sum")
        opt.zero_grad()
        E.backward()
        tg.nn.clip_grad_norm_(params, 5.0)
        opt.step()
        losses.append(float(E.data) / T)
    return (embed, layer, readout), losses, samples, rng


rnn_model, losses, samples, rng = train(tg.nn.RNN(H, H))
print(f"loss per character: {np.mean(losses[:10]):.3f} at the start, {np.mean(losses[-10:]):.3f} at the end")
for step, s in samples.items():
    print(f"after {step:3} steps: {s!r}")
assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])

# %% [markdown]
# **Temperature.** Dividing the logits by $\tau$ before the softmax sharpens the
# next-character distribution ($\tau < 1$) or flattens it ($\tau > 1$). Its mean
# entropy over the text, and a sample at each:

# %%
embed, rnn, readout = rnn_model
with tg.no_grad():
    outputs, _ = rnn(embed(ids[None]))
    logits = readout(outputs).data[0].astype(np.float64)               # (len(text), K)
entropies = []
for tau in (0.5, 1.0, 1.5):
    z = logits / tau
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    entropies.append(-(p * np.log(p)).sum(axis=1).mean())
    print(f"τ = {tau}: entropy {entropies[-1]:.2f} nats, {sample(embed, rnn, readout, 40, rng, tau)!r}")
assert entropies[0] < entropies[1] < entropies[2]

# %% [markdown]
# **An LSTM beside it.** Only the layer changes: `tg.nn.LSTM(H, H)` carries the pair
# $(h_t, C_t)$. The page trains both on Shakespeare and compares their held-out
# perplexity (`python examples/char_rnn.py --cell lstm`).

# %%
_, lstm_losses, lstm_samples, _ = train(tg.nn.LSTM(H, H))
print(f"mean loss per character over the last 10 steps: RNN {np.mean(losses[-10:]):.3f}, "
      f"LSTM {np.mean(lstm_losses[-10:]):.3f}")
print(f"LSTM after 150 steps: {lstm_samples[150]!r}")
assert np.mean(lstm_losses[-10:]) < 0.5 * np.mean(lstm_losses[:10])

# %% [markdown]
# **Exercise:** write the loss yourself (a sum over time, as min-char-rnn):
# `python -m tinygrad_rnn.exercises start sequence_loss`.
