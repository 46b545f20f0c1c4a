"""Sequence shapes: one-to-many, many-to-one and many-to-many, each a small RNN trained briefly.

The same recurrence h_t = tanh(x_t W + h_{t-1} U + b) serves three kinds of task;
only where the inputs come in and where the outputs are read changes:

- one-to-many, a toy *captioner*: a synthetic "image feature" vector v (what a
  convolutional network would compute) sets the initial state h_0 = tanh(v W_img + b_img),
  then the RNN emits a caption word by word, y_t = softmax(h_t V + c). Training uses
  *teacher forcing* (the input at step t is the true word t-1); at test time the
  decoder is *greedy* (the input at step t is its own most likely word at t-1).
- many-to-one, sequence classification: read T numbers, then say from h_T whether
  their sum is positive.
- many-to-many, per-step tagging: at every step output the token seen `delay` steps
  earlier (a delayed copy: the state must hold the last few tokens).

Figure: the three shapes, drawn as unrolled cells (inputs below, outputs above).

Run:  python examples/sequence_shapes.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # `python examples/sequence_shapes.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples import datasets as data
from examples.figures import Figure, can_draw
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F

# ---- one-to-many: the captioner ----------------------------------------------


class Captioner(nn.Module):
    """Image vector -> h_0, then one word per step: y_t = softmax(h_t V + c)."""

    def __init__(self, image_dim: int, vocab: int, embed: int, hidden: int):
        self.init_state = nn.Linear(image_dim, hidden)       # v -> h_0
        self.embed = nn.Embedding(vocab, embed)               # word id -> x_t
        self.rnn = nn.RNN(embed, hidden, name="captioner")
        self.readout = nn.Linear(hidden, vocab)               # h_t -> logits

    def h0(self, images) -> tg.Tensor:
        return self.init_state(tg.Tensor(images)).tanh()      # (B, H)  h_0 = tanh(v W_img + b_img)

    def forward(self, images, words) -> tg.Tensor:
        """Teacher forcing: the inputs are the true words <start> w_1 ... w_{n-1}; logits (B, n, V)."""
        outputs, _ = self.rnn(self.embed(words), self.h0(images))   # (B, n, H)
        return self.readout(outputs)                                 # (B, n, V)

    def greedy(self, images, max_len: int) -> np.ndarray:
        """Greedy decoding: feed back the most likely word, the cell called step by step."""
        cell = self.rnn.cells[0]
        with tg.no_grad():
            h = self.h0(images)                                      # (B, H)
            word = np.full(len(images), data.START)                  # (B,)
            words = []
            for t in range(1, max_len + 1):
                with tg.scope(f"captioner/t={t}"):
                    h = cell(self.embed(word), h)                    # (B, H)
                    word = self.readout(h).data.argmax(axis=-1)      # (B,)
                words.append(word)
        return np.stack(words, axis=1)                               # (B, max_len)


def train_captioner(rng, steps: int, hidden: int, lr: float) -> dict:
    features = data.caption_features(rng)
    model = Captioner(features.shape[1], len(data.VOCAB), 16, hidden)
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    with tg.record_edge_grads(False):
        for _ in range(steps):
            images, caps = data.captions(rng, 32, features)          # (32, dim), (32, 5)
            logits = model(images, caps[:, :-1])                     # (32, 4, V)
            loss = F.cross_entropy(logits, caps[:, 1:])              # next word at every step
            opt.zero_grad()
            loss.backward()
            opt.step()
    images, caps = data.captions(rng, 500, features)
    decoded = model.greedy(images, max_len=caps.shape[1] - 1)        # (500, 4)
    target = caps[:, 1:]                                             # count colour shape <end>
    examples = [(data.decode(d), data.decode(c)) for d, c in zip(decoded[:3], caps[:3])]
    return {"caption_accuracy": float(np.mean(np.all(decoded == target, axis=1))),
            "word_accuracy": float(np.mean(decoded == target)), "loss": loss.item(),
            "examples": examples}


# ---- many-to-one: the sign of a sum -----------------------------------------


class Classifier(nn.Module):
    """Read the whole sequence, classify from h_T: logits = h_T V + c."""

    def __init__(self, hidden: int):
        self.rnn = nn.RNN(1, hidden)
        self.readout = nn.Linear(hidden, 2)

    def forward(self, x) -> tg.Tensor:
        _, h_T = self.rnn(x)                                         # (B, H)
        return self.readout(h_T)                                     # (B, 2)


def train_classifier(rng, steps: int, hidden: int, lr: float, T: int = 10) -> dict:
    model = Classifier(hidden)
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    with tg.record_edge_grads(False):
        for _ in range(steps):
            x, y = data.sum_sign(rng, 32, T)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    x, y = data.sum_sign(rng, 1000, T)
    with tg.no_grad():
        pred = model(x).data.argmax(axis=-1)
    return {"accuracy": float(np.mean(pred == y)), "loss": loss.item(), "chance": 0.5}


# ---- many-to-many: a delayed copy -------------------------------------------


class Tagger(nn.Module):
    """One output per input step: logits_t = h_t V + c."""

    def __init__(self, K: int, hidden: int):
        self.embed = nn.Embedding(K, 8)
        self.rnn = nn.RNN(8, hidden)
        self.readout = nn.Linear(hidden, K + 1)                      # K tokens + "blank"

    def forward(self, tokens) -> tg.Tensor:
        outputs, _ = self.rnn(self.embed(tokens))                    # (B, T, H)
        return self.readout(outputs)                                 # (B, T, K + 1)


def train_tagger(rng, steps: int, hidden: int, lr: float, T: int = 10, delay: int = 2,
                 K: int = 4) -> dict:
    model = Tagger(K, hidden)
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    with tg.record_edge_grads(False):
        for _ in range(steps):
            tokens, targets = data.delayed_copy(rng, 32, T, delay, K)
            loss = F.cross_entropy(model(tokens), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
    tokens, targets = data.delayed_copy(rng, 500, T, delay, K)
    with tg.no_grad():
        pred = model(tokens).data.argmax(axis=-1)                    # (500, T)
    copied = slice(delay, None)                                      # steps with a token to copy
    return {"accuracy": float(np.mean(pred[:, copied] == targets[:, copied])),
            "loss": loss.item(), "chance": 1.0 / K, "delay": delay}


# ---- main ---------------------------------------------------------------------


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/sequence_shapes", help="folder for the figures")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    steps, hidden, lr = (150, 32, 0.02) if args.quick else (500, 32, 0.01)

    result = {}
    for name, train in (("one_to_many", train_captioner), ("many_to_one", train_classifier),
                        ("many_to_many", train_tagger)):
        tg.manual_seed(args.seed)
        result[name] = train(np.random.default_rng(args.seed), steps, hidden, lr)
    if can_draw():
        _draw_shapes(out / "sequence_shapes.png")
    result["seconds"] = time.perf_counter() - start

    cap, cls, tag = result["one_to_many"], result["many_to_one"], result["many_to_many"]
    print(f"each trained for {steps} Adam steps of batch 32, hidden size {hidden}")
    print(f"one-to-many  (captioner, greedy decoding): {cap['caption_accuracy']:.1%} of 500 test "
          f"captions exactly right, {cap['word_accuracy']:.1%} of words "
          f"(chance: 1 in {len(data.COUNTS) * len(data.COLOURS) * len(data.SHAPES)} captions)")
    for said, truth in cap["examples"]:
        print(f"    generated '{said}'   true '{truth}'")
    print(f"many-to-one  (sign of a sum of 10 numbers): accuracy {cls['accuracy']:.1%} (chance 50%)")
    print(f"many-to-many (copy the token from {tag['delay']} steps back): accuracy {tag['accuracy']:.1%} "
          f"(chance {tag['chance']:.0%})")
    print(f"figures in {out}/  ({result['seconds']:.1f} s)")
    return result


def _draw_shapes(path):
    """Three unrolled RNNs, one column per step: input below, state h_t, output above."""
    panels = {   # title: [(input, state, output) per column]; None = nothing there
        "one-to-many: captioning": [("image", "h₀", None), ("<start>", "h₁", "w₁"),
                                    ("w₁", "h₂", "w₂"), ("w₂", "h₃", "<end>")],
        "many-to-one: classification": [("x₁", "h₁", None), ("x₂", "h₂", None),
                                        ("x₃", "h₃", None), ("x₄", "h₄", "sign")],
        "many-to-many: tagging": [("x₁", "h₁", "y₁"), ("x₂", "h₂", "y₂"),
                                  ("x₃", "h₃", "y₃"), ("x₄", "h₄", "y₄")],
    }
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    for ax, (title, columns) in zip(fig.subplots(1, 3), panels.items()):
        for t, (x, h, y) in enumerate(columns):
            _box(ax, t, 0, x, "#fdd0a2" if x == "image" else "#fc9272")
            _box(ax, t, 1, h, "#9ecae1")
            _arrow(ax, (t, 0.2), (t, 0.8))                           # x_t -> h_t
            if y is not None:
                _box(ax, t, 2, y, "#a1d99b")
                _arrow(ax, (t, 1.2), (t, 1.8))                       # h_t -> y_t
            if t + 1 < len(columns):
                _arrow(ax, (t + 0.3, 1), (t + 0.7, 1))               # h_t -> h_{t+1}
            if t + 1 < len(columns) and y is not None and columns[t + 1][0] == y:
                _arrow(ax, (t + 0.25, 1.85), (t + 0.75, 0.2), dashed=True)  # y_t is the next input
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-0.5, len(columns) - 0.5)
        ax.set_ylim(-0.4, 2.4)
        ax.axis("off")
    fig.suptitle("Sequence shapes: inputs (red) below, states h_t (blue), outputs (green) above; "
                 "dashed: the word fed back when decoding")
    fig.savefig(path, dpi=120)


def _box(ax, x, y, label, colour):
    from matplotlib.patches import FancyBboxPatch
    ax.add_patch(FancyBboxPatch((x - 0.3, y - 0.2), 0.6, 0.4, boxstyle="round,pad=0.02",
                                facecolor=colour, edgecolor="black", linewidth=0.8))
    ax.text(x, y, label, ha="center", va="center", fontsize=8)


def _arrow(ax, start, end, dashed=False):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="->", lw=0.9, ls="--" if dashed else "-",
                                color="gray" if dashed else "black"))


if __name__ == "__main__":
    main()
