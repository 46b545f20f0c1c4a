"""A small character-level RNN learns the first 2,000 characters of tiny shakespeare.

Embedding -> RNN -> Linear, trained with truncated BPTT (chunks of T = 25, the state
carried with .detach()), Adam and clip_grad_norm_, seeded. It must beat the bigram
entropy of the text: a model that only looked at the previous character could not
go below it, so the recurrence is carrying information through time.
"""

import os

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F

DATA = os.path.join(os.path.dirname(__file__), "..", "examples", "data", "tinyshakespeare_100k.txt")
B, T, EPOCHS, THRESHOLD = 16, 25, 20, 1.8


class CharRNN(nn.Module):
    def __init__(self, vocab, embed=16, hidden=64):
        self.embed = nn.Embedding(vocab, embed, dtype=np.float64)
        self.rnn = nn.RNN(embed, hidden, dtype=np.float64)
        self.readout = nn.Linear(hidden, vocab, dtype=np.float64)

    def forward(self, idx, h=None):
        outputs, h = self.rnn(self.embed(idx), h)        # (B, T, H), (B, H)
        return self.readout(outputs), h                   # (B, T, V)


def load_text(n=2000):
    with open(DATA, encoding="utf-8") as f:
        text = f.read()[:n]
    chars = sorted(set(text))
    return np.array([chars.index(c) for c in text]), len(chars)


def bigram_entropy(data, vocab):
    counts = np.zeros((vocab, vocab))
    np.add.at(counts, (data[:-1], data[1:]), 1)
    p = counts / counts.sum(1, keepdims=True)
    return -np.mean(np.log(p[data[:-1], data[1:]]))


def test_char_rnn_beats_the_bigram_floor(tmp_path):
    data, V = load_text()
    L = (len(data) - 1) // B
    xs, ys = data[:B * L].reshape(B, L), data[1:B * L + 1].reshape(B, L)   # B parallel streams
    tg.manual_seed(0)
    model = CharRNN(V)
    opt = optim.Adam(model.parameters(), lr=0.01)
    losses = []
    with tg.record_edge_grads(False):
        for _ in range(EPOCHS):
            h = None
            for s in range(0, L - T + 1, T):
                logits, h = model(xs[:, s:s + T], h)
                loss = F.cross_entropy(logits, ys[:, s:s + T])
                opt.zero_grad()
                loss.backward()
                nn.clip_grad_norm_(model, 5.0)
                opt.step()
                h = h.detach()
                losses.append(loss.item())
    steps_per_epoch = len(losses) // EPOCHS
    assert abs(losses[0] - np.log(V)) < 0.3                # starts near uniform: ln V
    final = np.mean(losses[-steps_per_epoch:])
    assert final < THRESHOLD < bigram_entropy(data, V), (final, losses[::steps_per_epoch])

    # the trained model survives a checkpoint round trip
    model.save(tmp_path / "char_rnn.npz")
    tg.manual_seed(1)
    fresh = CharRNN(V).load(tmp_path / "char_rnn.npz")
    with tg.no_grad():
        a, _ = model(xs[:, :T])
        b, _ = fresh(xs[:, :T])
    np.testing.assert_array_equal(a.data, b.data)
