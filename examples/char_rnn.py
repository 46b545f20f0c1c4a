"""A character-level language model, min-char-rnn style, built from the library's layers.

Karpathy's min-char-rnn (2015) is a vanilla RNN in 112 lines of numpy with a
hand-written backward pass. This is the same model and the same training loop,
with the backward pass left to `loss.backward()`:

    h_t = tanh(x_t W + h_{t-1} U + b)      x_t one-hot (1, V), W (V, H), U (H, H), b (H,)
    y_t = h_t V + c                        the readout Linear(H, V): V (H, V), c (V,)
    E   = Σ_t -log softmax(y_t)[target_t]  summed over the 25 steps of a chunk, as min-char-rnn

The classic settings: hidden size 100, chunks of 25 characters, weights 0.01·randn,
biases 0, every gradient entry clipped to ±5, Adagrad with lr 0.1. The hidden
state is carried from one chunk to the next with `.detach()` (truncated BPTT), and
reset to zeros when the pointer wraps around the text.

min-char-rnn's Adagrad is  mem += g²;  p -= lr · g / √(mem + 1e-8).  `tg.optim.Adagrad`
follows PyTorch (p -= lr · g / (√G + eps), G starting at `initial_accumulator_value`),
so eps=0 with initial_accumulator_value=1e-8 gives exactly min-char-rnn's rule:
G = 1e-8 + Σ g², and √G = √(mem + 1e-8).

    python examples/char_rnn.py                          # 5,000 steps, ~25 s of CPU on examples/data
    python examples/char_rnn.py --quick                  # 200 steps, a few seconds
    python examples/char_rnn.py --data ../shared/data/tinyshakespeare.txt --steps 100000
    python examples/char_rnn.py --resume out/char_rnn/checkpoint.npz --steps 10000

Every `--save-every` steps the model, the optimizer state, the step, the text
pointer, the carried hidden state, the smooth loss and the sampler's random state
are written (atomically) to OUT/checkpoint.npz; `--resume` continues from there
exactly as if the run had never stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # `python examples/char_rnn.py`: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_rnn as tg  # noqa: E402
from examples.figures import can_draw, pyplot  # noqa: E402
from examples.progress import progress  # noqa: E402
from tinygrad_rnn import nn, viz  # noqa: E402
from tinygrad_rnn.nn import functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "data", "tinyshakespeare_100k.txt")


# ---- the data ---------------------------------------------------------------
class Text:
    """A text file as integer character codes, with its vocabulary (sorted, as min-char-rnn)."""

    def __init__(self, path: str):
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.chars = sorted(set(self.text))
        if len(self.text) < 2:
            raise ValueError(f"char_rnn: {path!r} has {len(self.text)} characters; need at least 2")
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        self.ids = np.array([self.index[ch] for ch in self.text], dtype=np.int64)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)


def one_hot(ids: np.ndarray, V: int, dtype) -> np.ndarray:
    """(T,) integer ids -> (T, V) rows with a single 1: x_t W then picks row ids[t] of W."""
    x = np.zeros((len(ids), V), dtype=dtype)
    x[np.arange(len(ids)), ids] = 1
    return x


# ---- the model --------------------------------------------------------------
class CharRNN(nn.Module):
    """One-hot characters -> RNN(V, H) -> Linear(H, V) logits, initialised as min-char-rnn."""

    def __init__(self, vocab_size: int, hidden_size: int = 100, rng=None, dtype=np.float64):
        rng = rng if rng is not None else np.random.default_rng(0)
        V, H = vocab_size, hidden_size
        self.vocab_size, self.hidden_size = V, H
        self.rnn = nn.RNN(V, H, dtype=dtype)        # cells[0]: W (V, H), U (H, H), b (H,)
        self.readout = nn.Linear(H, V, dtype=dtype)  # weight (H, V), bias (V,)
        # min-char-rnn's init: weights 0.01·randn, biases 0.
        cell = self.rnn.cells[0]
        for p in (cell.W, cell.U, self.readout.weight):
            p.data = (0.01 * rng.standard_normal(p.shape)).astype(dtype)
        for p in (cell.b, self.readout.bias):
            p.data = np.zeros(p.shape, dtype)

    def forward(self, ids: np.ndarray, h_prev=None):
        """ids (T,) -> logits (T, V) and h_T (1, H), for one sequence (batch of 1)."""
        return self.from_one_hot(self.one_hot(ids), h_prev)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        return one_hot(ids, self.vocab_size, self.readout.weight.dtype)[None]  # (1, T, V)

    def from_one_hot(self, x: np.ndarray, h_prev=None):
        """x (1, T, V) one-hot -> logits (T, V) and h_T (1, H)."""
        outputs, h_T = self.rnn(x, h_prev)                                   # (1, T, H), (1, H)
        logits = self.readout(outputs[0])                                    # (T, V)
        return logits, h_T


def chunk_loss(model: CharRNN, inputs, targets, h_prev):
    """E = Σ_t -log softmax(y_t)[target_t] over one chunk, and the last hidden state."""
    logits, h_T = model(inputs, h_prev)
    return F.cross_entropy(logits, targets, reduction="sum"), h_T


def make_optimizer(model: CharRNN, lr: float = 0.1):
    """min-char-rnn's Adagrad exactly: p -= lr · g / √(1e-8 + Σ g²) (see the module docstring)."""
    return tg.optim.Adagrad(model.parameters(), lr=lr, eps=0.0, initial_accumulator_value=1e-8)


def train_step(model: CharRNN, opt, inputs, targets, h_prev, clip: float = 5.0, backprop=None):
    """One min-char-rnn iteration: forward a chunk, BPTT, clip, Adagrad. Returns (E, h_T detached).

    `backprop` is the chunk's forward and backward pass; `compiled_backprop(model)`
    gives the same pass under tg.compile (recorded once, then replayed as flat numpy).
    """
    opt.zero_grad()
    loss, h_T = (backprop or eager_backprop(model))(model.one_hot(inputs), targets, h_prev)
    nn.clip_grad_value_(model.parameters(), clip)          # every entry into [-clip, clip]
    opt.step()
    return loss.item(), h_T


def eager_backprop(model: CharRNN):
    def backprop(x, targets, h_prev):
        logits, h_T = model.from_one_hot(x, h_prev)
        loss = F.cross_entropy(logits, targets, reduction="sum")
        loss.backward()                                    # BPTT through the T steps of the chunk
        return loss, h_T.detach()                          # carry the value, cut the graph
    return backprop


def compiled_backprop(model: CharRNN):
    """The same pass, captured once and replayed: ~4x faster at this size (docs/compile.md)."""
    return tg.compile(eager_backprop(model))


def sample(model: CharRNN, h, seed_id: int, n: int, rng, temperature: float = 1.0) -> list[int]:
    """Draw n characters one at a time, feeding each back in: p = softmax(y_t / temperature).

    Temperature < 1 sharpens the distribution (safer, more repetitive text),
    > 1 flattens it (more surprising, more misspelt). No graph is needed: no_grad().
    """
    cell, V = model.rnn.cells[0], model.vocab_size
    dtype = model.readout.weight.dtype
    ids, x = [], np.zeros((1, V), dtype)
    x[0, seed_id] = 1
    with tg.no_grad():
        for _ in range(n):
            h = cell(x, h)                                        # (1, H)
            p = (model.readout(h) * (1.0 / temperature)).softmax(axis=-1).data[0]   # (V,)
            ix = int(rng.choice(V, p=p / p.sum()))
            x = np.zeros((1, V), dtype)
            x[0, ix] = 1
            ids.append(ix)
    return ids


# ---- checkpoints -------------------------------------------------------------
def rng_state(rng) -> np.ndarray:
    """A numpy Generator's state as JSON bytes in a uint8 array (a checkpoint holds arrays only)."""
    return np.frombuffer(json.dumps(rng.bit_generator.state).encode(), dtype=np.uint8)


def set_rng_state(rng, arr) -> None:
    rng.bit_generator.state = json.loads(np.asarray(arr, dtype=np.uint8).tobytes().decode())


def save_checkpoint(path, model, opt, step, pointer, h, smooth_loss, rng, vocab):
    """Everything needed to continue exactly where we stopped; tg.save writes atomically."""
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step,
             "pointer": pointer, "hprev": h.data, "smooth_loss": smooth_loss,
             "rng": rng_state(rng), "vocab": np.array([ord(c) for c in vocab], dtype=np.int64)}, path)


def load_checkpoint(path, model, opt, rng, vocab):
    ck = tg.load(path)
    saved = "".join(chr(c) for c in ck["vocab"])
    if saved != "".join(vocab):
        raise ValueError(f"char_rnn: checkpoint {path!r} was trained on a vocabulary of {len(saved)} "
                         f"characters, but this text has {len(vocab)}; resume with the same --data")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    set_rng_state(rng, ck["rng"])
    h = tg.Tensor(ck["hprev"])
    return int(ck["step"]), int(ck["pointer"]), h, float(ck["smooth_loss"])


# ---- training ----------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="a plain-text file (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=None,
                    help="total training steps, counting those of a resumed run (default 5000; --quick 200)")
    ap.add_argument("--hidden", type=int, default=100, help="hidden size H (default 100)")
    ap.add_argument("--seq-length", type=int, default=25, help="characters per chunk (default 25)")
    ap.add_argument("--lr", type=float, default=0.1, help="Adagrad learning rate (default 0.1)")
    ap.add_argument("--clip", type=float, default=5.0, help="clip each gradient entry to ±clip (default 5)")
    ap.add_argument("--eager", action="store_true",
                    help="run every step eagerly instead of replaying it with tg.compile")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    ap.add_argument("--sample-every", type=int, default=None, help="print a sample every N steps")
    ap.add_argument("--sample-length", type=int, default=200, help="characters per sample (default 200)")
    ap.add_argument("--save-every", type=int, default=1000, help="checkpoint every N steps (default 1000)")
    ap.add_argument("--resume", default=None, metavar="PATH", help="continue from a checkpoint")
    ap.add_argument("--out", default=os.path.join("out", "char_rnn"), help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="200 steps, for CI")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    ap.add_argument("--no-figures", action="store_true", help="skip the loss plot and the graph")
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = 200 if args.quick else 5000
    if args.sample_every is None:
        args.sample_every = 100 if args.quick else 1000
    for name in ("steps", "hidden", "seq_length", "sample_every", "save_every"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not os.path.isfile(args.data):
        ap.error(f"--data {args.data!r}: no such file")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)          # init, then sampling
    data = Text(args.data)
    V, T = data.vocab_size, args.seq_length
    if len(data.ids) < T + 1:
        raise ValueError(f"char_rnn: {args.data!r} has {len(data.ids)} characters; "
                         f"--seq-length {T} needs at least {T + 1}")
    model = CharRNN(V, args.hidden, rng=rng)
    opt = make_optimizer(model, args.lr)
    step, p = 0, 0
    h = tg.Tensor(np.zeros((1, args.hidden)))
    smooth_loss = -math.log(1.0 / V) * T             # the loss of a uniform guess, as min-char-rnn
    if args.resume:
        step, p, h, smooth_loss = load_checkpoint(args.resume, model, opt, rng, data.chars)
    start_step, start_loss = step, smooth_loss
    ckpt = os.path.join(args.out, "checkpoint.npz")
    print(f"char_rnn: {len(data.ids):,} characters, vocabulary {V}, hidden {args.hidden}, "
          f"chunks of {T}, steps {step} -> {args.steps}")

    history, samples, losses = [(step, smooth_loss)], [], []
    bar = progress(args.steps, step, not args.no_progress)
    backprop = eager_backprop(model) if args.eager else compiled_backprop(model)
    t0 = time.perf_counter()
    with tg.record_edge_grads(False):                # nothing is drawn during training
        while step < args.steps:
            if p + T + 1 >= len(data.ids):           # wrap around: start again, forget h
                p, h = 0, tg.Tensor(np.zeros((1, args.hidden)))
            inputs, targets = data.ids[p:p + T], data.ids[p + 1:p + T + 1]
            if step % args.sample_every == 0:
                ids = sample(model, h, int(inputs[0]), args.sample_length, rng, args.temperature)
                samples.append((step, data.decode(ids)))
                bar.write(f"----\n{samples[-1][1]}\n----")
            loss, h = train_step(model, opt, inputs, targets, h, args.clip, backprop)
            losses.append(loss)
            smooth_loss = smooth_loss * 0.999 + loss * 0.001
            step, p = step + 1, p + T
            bar.update()
            if step % 100 == 0:
                history.append((step, smooth_loss))
                bar.set_postfix_str(f"smooth loss {smooth_loss:.2f}")
            if step % args.sample_every == 0:
                bar.write(f"iter {step}, loss: {smooth_loss:f}")   # min-char-rnn's line
            if step % args.save_every == 0 or step == args.steps:
                save_checkpoint(ckpt, model, opt, step, p, h, smooth_loss, rng, data.chars)
    bar.close()
    seconds = time.perf_counter() - t0
    if history[-1][0] != step:
        history.append((step, smooth_loss))
    final_sample = data.decode(sample(model, h, int(data.ids[p]), args.sample_length, rng,
                                      args.temperature))
    trained = step - start_step
    print(f"trained {trained} steps in {seconds:.1f} s ({1e3 * seconds / max(trained, 1):.2f} ms/step); "
          f"smooth loss {start_loss:.2f} -> {smooth_loss:.2f} "
          f"(per character {start_loss / T:.3f} -> {smooth_loss / T:.3f} nats)")
    print(f"checkpoint: {ckpt}")
    print(f"sample at step {step}:\n----\n{final_sample}\n----")

    figures = {} if args.no_figures else write_figures(args.out, model, data, p, h, history, T)
    return {"steps": step, "trained_steps": trained, "seconds": seconds, "start_loss": start_loss,
            "smooth_loss": smooth_loss, "losses": losses, "history": history, "samples": samples,
            "final_sample": final_sample, "checkpoint": ckpt, "vocab_size": V, "figures": figures}


# ---- figures ---------------------------------------------------------------
def write_figures(out, model, data, p, h, history, seq_length) -> dict:
    """The smooth-loss curve, and the cell-level graph of one chunk with ‖∂E/∂h_t‖ on its edges."""
    figures = {}
    if can_draw():
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([s for s, _ in history], [l for _, l in history])
        ax.set_xlabel("step")
        ax.set_ylabel(f"smooth loss (nats per {seq_length} characters)")
        ax.set_title("char-RNN on " + os.path.basename(data.path))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figures["loss"] = os.path.join(out, "loss.png")
        fig.savefig(figures["loss"], dpi=100)
        plt.close(fig)

    # One more chunk, this time recording every edge's gradient, for the picture.
    if p + 11 >= len(data.ids):
        p = 0
    T = min(10, len(data.ids) - p - 1)
    loss, _ = chunk_loss(model, data.ids[p:p + T], data.ids[p + 1:p + T + 1], h)
    loss.backward()
    norms = tg.analysis.state_grad_norms(loss)
    print("‖∂E/∂h_t‖ over one chunk of", T, "steps:", " ".join(f"{n:.2e}" for n in norms))
    graph = viz.draw_graph(loss, level="cell", title=f"char-RNN, one chunk of {T} characters")
    try:
        figures["graph"] = str(viz.write(graph, os.path.join(out, "chunk_graph.svg")))
    except viz.GraphvizNotFoundError as e:
        figures["graph"] = str(viz.write(graph, os.path.join(out, "chunk_graph.dot")))
        print(e)
    figures["h_grad_norms"] = norms
    return figures


if __name__ == "__main__":
    main()
