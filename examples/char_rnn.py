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

As a language model: the last `--held-out` characters (10,000) are never trained
on, and at every sample the script prints the perplexity on them,
exp(mean -log p(next character)), beside one sample per `--temperature`.
`--cell lstm` trains an LSTM instead (the state is then the pair (h, C)),
with the same loop, the same optimiser and the same tg.compile replay.

min-char-rnn's Adagrad is  mem += g²;  p -= lr · g / √(mem + 1e-8).  `tg.optim.Adagrad`
follows PyTorch (p -= lr · g / (√G + eps), G starting at `initial_accumulator_value`),
so eps=0 with initial_accumulator_value=1e-8 gives exactly min-char-rnn's rule:
G = 1e-8 + Σ g², and √G = √(mem + 1e-8).

    python examples/char_rnn.py                          # 5,000 steps, ~6 s of CPU on examples/data
    python examples/char_rnn.py --quick                  # 200 steps, a few seconds
    python examples/char_rnn.py --cell lstm --temperature 0.5,1,1.5 --sample-at 0,200,1000,5000
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
CELLS = ("rnn", "lstm")


class CharRNN(nn.Module):
    """One-hot characters -> RNN(V, H) or LSTM(V, H) -> Linear(H, V) logits.

    The RNN and the readout start as min-char-rnn's (weights 0.01·randn, biases 0).
    The LSTM keeps the library's init (PyTorch's, uniform in ±1/√H): its gates then
    start near σ(0) = 1/2, half open, and the cell state C_t carries the memory.
    The state is h (1, H) for the RNN and the pair (h, C) for the LSTM.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 100, rng=None, dtype=np.float64,
                 cell: str = "rnn"):
        if cell not in CELLS:
            raise ValueError(f"char_rnn: cell {cell!r} is not one of {CELLS}")
        rng = rng if rng is not None else np.random.default_rng(0)
        V, H = vocab_size, hidden_size
        self.vocab_size, self.hidden_size, self.cell = V, H, cell
        layer = nn.RNN if cell == "rnn" else nn.LSTM
        self.rnn = layer(V, H, dtype=dtype)          # RNN cells[0]: W (V, H), U (H, H), b (H,)
        self.readout = nn.Linear(H, V, dtype=dtype)  # weight (H, V), bias (V,)
        # min-char-rnn's init: weights 0.01·randn, biases 0.
        weights = (self.rnn.cells[0].W, self.rnn.cells[0].U) if cell == "rnn" else ()
        for p in (*weights, self.readout.weight):
            p.data = (0.01 * rng.standard_normal(p.shape)).astype(dtype)
        biases = (self.rnn.cells[0].b,) if cell == "rnn" else ()
        for p in (*biases, self.readout.bias):
            p.data = np.zeros(p.shape, dtype)

    def zero_state(self):
        """h_0 = 0 for the RNN, (h_0, C_0) = (0, 0) for the LSTM; a batch of one."""
        parts = [tg.Tensor(np.zeros((1, self.hidden_size), self.readout.weight.dtype))
                 for _ in range(1 if self.cell == "rnn" else 2)]
        return self.state_from_parts(parts)

    def state_parts(self, state) -> tuple:
        """The state as a tuple of Tensors: (h,) or (h, C) (tg.compile takes Tensors, not pairs)."""
        return (state,) if self.cell == "rnn" else tuple(state)

    def state_from_parts(self, parts):
        return parts[0] if self.cell == "rnn" else tuple(parts)

    def forward(self, ids: np.ndarray, h_prev=None):
        """ids (T,) -> logits (T, V) and the last state, for one sequence (batch of 1)."""
        return self.from_one_hot(self.one_hot(ids), h_prev)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        return one_hot(ids, self.vocab_size, self.readout.weight.dtype)[None]  # (1, T, V)

    def from_one_hot(self, x: np.ndarray, h_prev=None):
        """x (1, T, V) one-hot -> logits (T, V) and h_T (1, H) (the LSTM: (h_T, C_T))."""
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
    """One min-char-rnn iteration: forward a chunk, BPTT, clip, Adagrad. Returns (E, state detached).

    `backprop` is the chunk's forward and backward pass; `compiled_backprop(model)`
    gives the same pass under tg.compile (recorded once, then replayed as flat numpy).
    """
    opt.zero_grad()
    loss, *state = (backprop or eager_backprop(model))(model.one_hot(inputs), targets,
                                                        *model.state_parts(h_prev))
    nn.clip_grad_value_(model.parameters(), clip)          # every entry into [-clip, clip]
    opt.step()
    return loss.item(), model.state_from_parts(state)


def eager_backprop(model: CharRNN):
    def backprop(x, targets, *state):                      # state: h, or h and C
        logits, state_T = model.from_one_hot(x, model.state_from_parts(state))
        loss = F.cross_entropy(logits, targets, reduction="sum")
        loss.backward()                                    # BPTT through the T steps of the chunk
        # carry the values, cut the graph
        return (loss, *(s.detach() for s in model.state_parts(state_T)))
    return backprop


def compiled_backprop(model: CharRNN):
    """The same pass, captured (twice: the second checks the tape) and replayed: ~4x faster at
    this size (docs/compile.md)."""
    return tg.compile(eager_backprop(model))


def perplexity(model: CharRNN, ids: np.ndarray, state=None, chunk: int = 250) -> float:
    """exp(mean -log p(next character)) over ids, the state carried through the whole text.

    A language model's standard score on text it has not trained on: the number of
    characters it is, on average, as unsure as a uniform choice among (V for a uniform
    guess). Start from the state the training loop carries (`state`), not from zeros:
    a vanilla RNN trained with a carried state never sees h = 0 again after its first
    chunk, and from h = 0 it can settle into another regime of saturated units and stay
    there for the whole text (docs/char_rnn.md measures it).
    """
    nll = 0.0
    with tg.no_grad():
        for s in range(0, len(ids) - 1, chunk):
            targets = ids[s + 1:s + chunk + 1]
            loss, state = chunk_loss(model, ids[s:s + len(targets)], targets, state)
            nll += loss.item()
    return math.exp(nll / (len(ids) - 1))


def sample(model: CharRNN, h, seed_id: int, n: int, rng, temperature: float = 1.0) -> list[int]:
    """Draw n characters one at a time, feeding each back in: p = softmax(y_t / temperature).

    Temperature < 1 sharpens the distribution (safer, more repetitive text),
    > 1 flattens it (more surprising, more misspelt). No graph is needed: no_grad().
    `h` is the state to start from (h, or (h, C) for the LSTM).
    """
    cell, V = model.rnn.cells[0], model.vocab_size
    dtype = model.readout.weight.dtype
    ids, x = [], np.zeros((1, V), dtype)
    x[0, seed_id] = 1
    with tg.no_grad():
        for _ in range(n):
            h = cell(x, h)                                        # (1, H), or the pair (h, C)
            y = model.readout(model.state_parts(h)[0])            # (1, V)
            p = (y * (1.0 / temperature)).softmax(axis=-1).data[0]   # (V,)
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
    parts = model.state_parts(h)
    C = parts[1].data if len(parts) > 1 else np.zeros(0)         # the LSTM's C_t
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step,
             "pointer": pointer, "hprev": parts[0].data, "cell_state": C,
             "cell": np.frombuffer(model.cell.encode(), dtype=np.uint8), "smooth_loss": smooth_loss,
             "rng": rng_state(rng), "vocab": np.array([ord(c) for c in vocab], dtype=np.int64)}, path)


def load_checkpoint(path, model, opt, rng, vocab):
    ck = tg.load(path)
    saved = "".join(chr(c) for c in ck["vocab"])
    if saved != "".join(vocab):
        raise ValueError(f"char_rnn: checkpoint {path!r} was trained on a vocabulary of {len(saved)} "
                         f"characters, but this text has {len(vocab)}; resume with the same --data")
    cell = np.asarray(ck.get("cell", np.frombuffer(b"rnn", dtype=np.uint8)), np.uint8).tobytes().decode()
    if cell != model.cell:
        raise ValueError(f"char_rnn: checkpoint {path!r} holds a {cell} model; resume with --cell {cell}")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    set_rng_state(rng, ck["rng"])
    parts = [tg.Tensor(ck["hprev"])] + ([tg.Tensor(ck["cell_state"])] if model.cell == "lstm" else [])
    return int(ck["step"]), int(ck["pointer"]), model.state_from_parts(parts), float(ck["smooth_loss"])


# ---- training ----------------------------------------------------------------
def numbers(kind):
    """An argparse type: a comma-separated list of numbers, '0,200,1000' -> [0, 200, 1000]."""
    def parse(text):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s, got {text!r}") from None
    return parse


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="a plain-text file (default: %(default)s)")
    ap.add_argument("--cell", choices=CELLS, default="rnn", help="the recurrent layer (default rnn)")
    ap.add_argument("--steps", type=int, default=None,
                    help="total training steps, counting those of a resumed run (default 5000; --quick 200)")
    ap.add_argument("--hidden", type=int, default=100, help="hidden size H (default 100)")
    ap.add_argument("--seq-length", type=int, default=25, help="characters per chunk (default 25)")
    ap.add_argument("--lr", type=float, default=0.1, help="Adagrad learning rate (default 0.1)")
    ap.add_argument("--clip", type=float, default=5.0, help="clip each gradient entry to ±clip (default 5)")
    ap.add_argument("--eager", action="store_true",
                    help="run every step eagerly instead of replaying it with tg.compile")
    ap.add_argument("--held-out", type=int, default=None, metavar="N",
                    help="keep the last N characters out of training and report the perplexity on "
                         "them at every sample (default 10000, at most a fifth of the text; 0: none)")
    ap.add_argument("--temperature", type=numbers(float), default=[1.0], metavar="TAU[,TAU...]",
                    help="sampling temperature(s), e.g. 0.5,1,1.5: one sample each (default 1)")
    ap.add_argument("--sample-every", type=int, default=None,
                    help="sample every N steps (default 1000; --quick 100)")
    ap.add_argument("--sample-at", type=numbers(int), default=None, metavar="STEP[,STEP...]",
                    help="sample at these steps instead, e.g. 0,200,1000 (and at the end)")
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
    if args.held_out is not None and args.held_out < 0:
        ap.error(f"--held-out must be >= 0, got {args.held_out}")
    if not args.temperature or min(args.temperature) <= 0:
        ap.error(f"--temperature must be > 0, got {args.temperature}")
    if not os.path.isfile(args.data):
        ap.error(f"--data {args.data!r}: no such file")
    return args


def is_sample_step(args, step: int) -> bool:
    return step in args.sample_at if args.sample_at is not None else step % args.sample_every == 0


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)          # init, then sampling
    data = Text(args.data)
    V, T = data.vocab_size, args.seq_length
    if args.held_out is None:
        args.held_out = min(10_000, len(data.ids) // 5)
    train_ids, held_out = data.ids[:len(data.ids) - args.held_out], data.ids[len(data.ids) - args.held_out:]
    if len(train_ids) < T + 2 or 0 < len(held_out) < 2:
        raise ValueError(f"char_rnn: {args.data!r} has {len(data.ids)} characters; --seq-length {T} "
                         f"and --held-out {args.held_out} need at least {T + 2 + args.held_out}")
    model = CharRNN(V, args.hidden, rng=rng, cell=args.cell)
    opt = make_optimizer(model, args.lr)
    step, p = 0, 0
    h = model.zero_state()
    smooth_loss = -math.log(1.0 / V) * T             # the loss of a uniform guess, as min-char-rnn
    if args.resume:
        step, p, h, smooth_loss = load_checkpoint(args.resume, model, opt, rng, data.chars)
    start_step, start_loss = step, smooth_loss
    ckpt = os.path.join(args.out, "checkpoint.npz")
    print(f"char_rnn: {args.cell}, {len(train_ids):,} characters to train on"
          f"{f' and {len(held_out):,} held out' if len(held_out) else ''}, vocabulary {V}, "
          f"hidden {args.hidden}, chunks of {T}, steps {step} -> {args.steps}")

    history, samples, losses, perplexities = [(step, smooth_loss)], [], [], []
    bar = progress(args.steps, step, not args.no_progress)

    def report(seed_id):
        """min-char-rnn's sample, at each temperature, and the held-out perplexity."""
        if len(held_out):
            perplexities.append((step, perplexity(model, held_out, h)))
            bar.write(f"step {step}: held-out perplexity {perplexities[-1][1]:.2f} (uniform {V})")
        for tau in args.temperature:
            samples.append((step, tau, data.decode(sample(model, h, seed_id, args.sample_length,
                                                          rng, tau))))
            bar.write(f"---- step {step}, temperature {tau:g}\n{samples[-1][2]}\n----")

    backprop = eager_backprop(model) if args.eager else compiled_backprop(model)
    seconds = 0.0
    with tg.record_edge_grads(False):                # nothing is drawn during training
        while step < args.steps:
            if p + T + 1 >= len(train_ids):          # wrap around: start again, forget h
                p, h = 0, model.zero_state()
            inputs, targets = train_ids[p:p + T], train_ids[p + 1:p + T + 1]
            if is_sample_step(args, step):
                report(int(inputs[0]))
            t0 = time.perf_counter()
            loss, h = train_step(model, opt, inputs, targets, h, args.clip, backprop)
            seconds += time.perf_counter() - t0
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
    if history[-1][0] != step:
        history.append((step, smooth_loss))
    trained = step - start_step
    print(f"trained {trained} steps in {seconds:.1f} s ({1e3 * seconds / max(trained, 1):.2f} ms/step); "
          f"smooth loss {start_loss:.2f} -> {smooth_loss:.2f} "
          f"(per character {start_loss / T:.3f} -> {smooth_loss / T:.3f} nats)")
    print(f"checkpoint: {ckpt}")
    report(int(train_ids[p]))                        # the final samples and perplexity
    final_sample = samples[-len(args.temperature)][2]

    figures = {} if args.no_figures else write_figures(args.out, model, data, p, h, history, T,
                                                         perplexities)
    return {"steps": step, "trained_steps": trained, "seconds": seconds, "start_loss": start_loss,
            "smooth_loss": smooth_loss, "losses": losses, "history": history, "samples": samples,
            "perplexities": perplexities, "final_sample": final_sample, "checkpoint": ckpt,
            "vocab_size": V, "cell": args.cell, "figures": figures}


# ---- figures ---------------------------------------------------------------
def write_figures(out, model, data, p, h, history, seq_length, perplexities=()) -> dict:
    """The smooth-loss curve (and the held-out perplexity beside it, if measured), and the
    cell-level graph of one chunk with ‖∂E/∂h_t‖ on its edges."""
    figures = {}
    if can_draw():
        plt = pyplot()
        panels = 2 if len(perplexities) > 1 else 1
        fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.5), squeeze=False)
        ax = axes[0, 0]
        ax.plot([s for s, _ in history], [l for _, l in history])
        ax.set_xlabel("step")
        ax.set_ylabel(f"smooth loss (nats per {seq_length} characters)")
        ax.set_title(f"char-RNN ({model.cell}) on " + os.path.basename(data.path))
        ax.grid(alpha=0.3)
        if panels == 2:
            ax = axes[0, 1]
            ax.plot(*zip(*perplexities), marker="o", label="held-out perplexity")
            ax.axhline(model.vocab_size, color="gray", ls="--", label=f"uniform guess ({model.vocab_size})")
            ax.set_xlabel("step")
            ax.set_ylabel("perplexity")
            ax.set_title("on the held-out text")
            ax.legend(loc="upper right")
            ax.grid(alpha=0.3)
            ax.set_ylim(0, 1.1 * model.vocab_size)
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
