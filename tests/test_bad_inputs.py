"""Every mistake we could think of, the error it gets, and the table in docs/errors.md.

`CASES` *is* that table: each row tries one mistake, names the exception it must
raise and the fragments its message must contain (the op or layer, the shapes, the
scope or time step), and says what to do. One test runs each row; another renders
the table from real runs and compares it with docs/errors.md, so the page cannot
drift from the code. After changing a message, regenerate the page with

    TG_WRITE_ERRORS_TABLE=1 python -m pytest tests/test_bad_inputs.py

Below the table: `detect_anomaly()` in depth (forward and backward, inside nn.RNN,
nn.LSTM and nn.GRU: the error names the time step where the NaN or Inf starts).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn, optim
from tinygrad_rnn.checkpoint import CheckpointError

F = nn.functional
DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
BEGIN = "<!-- BEGIN bad-inputs table: generated from tests/test_bad_inputs.py; do not edit by hand -->"
END = "<!-- END bad-inputs table -->"
STEP = "rnn/t=3"
B, T, D, H = 2, 6, 3, 4


# ---- small builders, seeded so every message is the same on every run ------------------------
def ones(*shape, grad=True):
    return Tensor(np.ones(shape), requires_grad=grad)


def at_step(fn):
    """fn run inside scope rnn/t=3, as if one step of a hand-written unrolled loop."""
    def run():
        with tg.scope(STEP):
            return fn()
    return run


def make(layer=nn.RNN, *args, **kwargs):
    tg.manual_seed(0)
    return layer(*(args or (D, H)), dtype=np.float64, **kwargs)


def data(nan_at=None, inf_at=None):
    """x (B, T, D) with one NaN or Inf at time step t (x[:, t-1])."""
    x = np.random.default_rng(0).normal(size=(B, T, D))
    if nan_at:
        x[1, nan_at - 1, 2] = np.nan
    if inf_at:
        x[0, inf_at - 1, 0] = np.inf
    return x


def rnn_loss(rnn):
    outputs, _ = rnn(data())
    return (outputs * outputs).mean()


def exploding_relu_rnn(steps):
    """An IRNN-like net with U = 1e100·I and a 1e-300 first input: the forward pass stays
    finite (h_t = 1e-300 · 1e100^(t-1)), but ∂E/∂h_{t-1} = 1e100 · ∂E/∂h_t overflows
    going back: with T = steps + 3 it reaches Inf in the backward of step `steps`."""
    rnn = make(nn.RNN, D, D, nonlinearity="relu")
    cell = rnn.cells[0]
    cell.W.data, cell.U.data, cell.b.data = np.eye(D), 1e100 * np.eye(D), np.zeros(D)
    x = np.zeros((B, steps + 3, D))
    x[:, 0] = 1e-300
    _, h_T = rnn(x)
    return h_T.sum()


def trained_grads(rnn, x):
    outputs, _ = rnn(x)
    (outputs * outputs).mean().backward()
    return rnn


# ---- the cases: shapes -------------------------------------------------------------------------
def inplace_by_optimizer():
    rnn = make()
    loss = rnn_loss(rnn)
    opt = optim.SGD(rnn.parameters(), lr=0.1)
    for p in rnn.parameters():
        p.grad = np.ones(p.shape)          # gradients left over from the previous step
    opt.step()                             # updates W, U, b in place...
    loss.backward()                        # ...before the backward of the graph that used them


def reinit_between_forward_and_backward():
    rnn = make()
    loss = rnn_loss(rnn)
    nn.init.orthogonal_(rnn.cells[0].U)
    loss.backward()


def backward_twice():
    loss = rnn_loss(make())
    loss.backward()
    loss.backward()


def backward_without_graph():
    rnn = make()
    with tg.no_grad():
        loss = rnn_loss(rnn)
    loss.backward()


def nan_at_step_4():
    with tg.detect_anomaly():
        make()(data(nan_at=4))


def inf_at_step_4_lstm():
    with tg.detect_anomaly():
        make(nn.LSTM)(data(inf_at=4))


def overflow_in_backward():
    loss = exploding_relu_rnn(steps=4)
    with tg.detect_anomaly():
        loss.backward()


def nan_without_anomaly():
    rnn = trained_grads(make(), data(nan_at=4))
    tg.GradientMonitor(rnn, on_explode="raise").check()


def exploding_norm():
    rnn = make(nn.RNN, D, H, nonlinearity="relu")
    nn.init.spectral_radius_(rnn.cells[0].U, 3.0)
    trained_grads(rnn, np.ones((B, 12, D)))
    tg.GradientMonitor(rnn, threshold=100.0, on_explode="raise").check()


def monitor_before_backward():
    tg.GradientMonitor(make()).check()


def clip_nan():
    rnn = trained_grads(make(), data(nan_at=4))
    nn.clip_grad_norm_(rnn, 1.0, error_if_nonfinite=True)


def save_rnn(path="rnn.npz"):
    make().save(path)
    return path


def truncated():
    raw = Path(save_rnn()).read_bytes()
    Path("rnn.npz").write_bytes(raw[: len(raw) // 2])
    tg.load("rnn.npz")


def object_arrays():
    np.savez("objects.npz", W=np.array([{"lr": 0.1}], dtype=object))
    tg.load("objects.npz")


def plain_savez():
    np.savez("plain.npz", W=np.ones((3, 4)))
    tg.load("plain.npz")


def not_an_npz():
    Path("notes.txt").write_text("W = [[0.1, 0.2]]")
    tg.load("notes.txt")


def a_directory(action):
    def run():
        os.makedirs("checkpoints", exist_ok=True)
        return tg.load("checkpoints") if action == "load" else tg.save(make().state_dict(), "checkpoints")
    return run


@dataclass(frozen=True)
class Case:
    id: str
    section: str
    tried: str                    # markdown: the mistake
    run: Callable[[], object]     # makes it (in a fresh temporary directory)
    error: type                   # the exact exception type
    names: tuple[str, ...]        # fragments the message must contain: op/layer, shapes, scope
    todo: str                     # markdown: what to do


SHAPES, DTYPES, NONFINITE, EMPTY, LAYERS, VALUES, GRAPH, CKPT = (
    "Shapes that do not fit", "Wrong dtypes", "NaN and Inf", "Empty tensors and sequences",
    "Sequence layers and their states", "Targets, indices and hyperparameters",
    "backward() and the graph", "Checkpoints")

CASES = [
    # -- shapes
    Case("add-broadcast", SHAPES, "`h + b` with h (2, 3) and b (4,), in step 3 of a hand-written loop",
         at_step(lambda: ones(2, 3) + ones(4)), tg.ShapeError, ("add", "(2, 3)", "(4,)", STEP),
         "Make the trailing axes equal (or 1): here b needs 3 entries"),
    Case("matmul-inner", SHAPES, "`x_t @ W` with x_t (2, 3) and W (4, 5)",
         at_step(lambda: ones(2, 3) @ ones(4, 5)), tg.ShapeError, ("matmul", "(2, 3)", "(4, 5)", STEP),
         "W must be (input, hidden) = (3, ·) in the row convention `x_t W`"),
    Case("per-step-weight", SHAPES, "outputs (2, 6, 4) times a per-step weight of shape (6,)",
         at_step(lambda: ones(B, T, H) * ones(T)), tg.ShapeError, ("mul", "(2, 6, 4)", "(6,)", STEP),
         "Give the weight shape (6, 1) so it lines up with the time axis"),
    Case("cat-batch", SHAPES, "`tg.cat([h, x], axis=-1)` with h (2, 4) but x (3, 3)",
         at_step(lambda: tg.cat([ones(2, 4), ones(3, 3)], axis=-1)), tg.ShapeError,
         ("cat", "(2, 4)", "(3, 3)", "axis=-1", STEP), "Use the same batch size for the state and the input"),
    Case("stack-mismatch", SHAPES, "`tg.stack` of states (2, 4) and (2, 5)",
         at_step(lambda: tg.stack([ones(2, 4), ones(2, 5)], axis=1)), tg.ShapeError,
         ("stack", "(2, 4)", "(2, 5)", STEP), "Stack tensors of one shape only"),
    Case("reshape", SHAPES, "`reshape(5, 2)` of a (3, 4) tensor",
         at_step(lambda: ones(3, 4).reshape(5, 2)), tg.ShapeError, ("reshape", "(3, 4)", "(5, 2)", STEP),
         "Keep the number of elements, e.g. `reshape(-1, 2)`"),
    Case("sum-axis", SHAPES, "`sum(axis=2)` of a (3, 4) tensor",
         at_step(lambda: ones(3, 4).sum(axis=2)), tg.ShapeError, ("sum", "(3, 4)", "axis=2", STEP),
         "Use an axis in [-2, 2)"),
    Case("transpose", SHAPES, "`transpose(0, 1, 1)` of a (3, 4) tensor",
         at_step(lambda: ones(3, 4).transpose(0, 1, 1)), tg.ShapeError,
         ("transpose", "(0, 1, 1)", "(3, 4)", STEP),
         "Pass a permutation of all the axes, e.g. `transpose(1, 0)` or `.T`"),
    Case("index-range", SHAPES, "`x[:, 9]` on x (2, 6, 3): a time step past T",
         at_step(lambda: ones(B, T, D)[:, 9]), tg.ShapeError, ("getitem", "(2, 6, 3)", "9", STEP),
         "Index time steps 0 .. T-1 (step t of the course is `x[:, t-1]`)"),
    Case("ragged", SHAPES, "`Tensor([[1, 2], [3]])`: a ragged list",
         lambda: Tensor([[1, 2], [3]]), tg.ShapeError, ("Tensor", "list", "same length"),
         "Pad the rows to one length (and mask the padding)"),
    Case("linear-features", SHAPES, "`nn.Linear(4, 5)` applied to h (2, 3)",
         at_step(lambda: nn.Linear(4, 5)(ones(2, 3))), tg.ShapeError, ("Linear(4, 5)", "(2, 3)", STEP),
         "Match `in_features` to the last axis of the input (the RNN's hidden size)"),
    Case("cell-state", SHAPES, "`nn.RNNCell(3, 4)` called with `h_{t-1}` of shape (2, 5)",
         at_step(lambda: make(nn.RNNCell)(np.ones((B, D)), np.ones((B, 5)))), tg.ShapeError,
         ("RNNCell", "h_{t-1}", "(2, 5)", "(2, 4)", STEP),
         "Carry the state the cell returned: (B, hidden_size)"),
    Case("mse-broadcast", SHAPES, "`mse_loss` of (3, 1) against (3,)",
         at_step(lambda: F.mse_loss(ones(3, 1), ones(3))), tg.ShapeError,
         ("mse_loss", "(3, 1)", "(3,)", STEP),
         "Reshape the target to the prediction's shape: broadcasting would give a (3, 3) loss"),
    Case("ce-shape", SHAPES, "`cross_entropy` of logits (3, 4) with 4 targets",
         at_step(lambda: F.cross_entropy(ones(3, 4), np.zeros(4, int))), tg.ShapeError,
         ("cross_entropy", "(3, 4)", "(4,)", STEP), "One target per row of logits"),
    Case("seed-shape", SHAPES, "`y.backward(grad)` with y (3,) and grad (4,)",
         at_step(lambda: (ones(3) * 2).backward(np.ones(4))), tg.GraphError, ("backward", "(4,)", "(3,)"),
         "Pass a gradient of the root's shape"),
    # -- dtypes
    Case("int-grad", DTYPES, "`Tensor(np.array([1, 2]), requires_grad=True)`",
         lambda: Tensor(np.array([1, 2]), requires_grad=True), TypeError, ("int64", "astype"),
         "Only floats have gradients: `np.array([1., 2.])`"),
    Case("bool-grad", DTYPES, "a bool mask with `requires_grad=True`",
         lambda: Tensor(np.array([True, False]), requires_grad=True), TypeError, ("bool",),
         "Keep masks as constants; multiply by `mask.astype(np.float64)`"),
    Case("object", DTYPES, "`Tensor(np.array([None, 1.0]))`: an object array",
         lambda: Tensor(np.array([None, 1.0])), TypeError, ("object", "float array"),
         "Replace the missing values, then `.astype(np.float64)`"),
    Case("complex", DTYPES, "`Tensor(np.array([1 + 2j]))`",
         lambda: Tensor(np.array([1 + 2j])), TypeError, ("complex128",),
         "Split into real and imaginary parts (`.real`, `.imag`): the engine is real-valued"),
    Case("string", DTYPES, "`Tensor(\"0.5\")`: a string",
         lambda: Tensor("0.5"), TypeError, ("<U3", "str"), "Parse the text first: `float(s)`, `np.loadtxt`"),
    Case("string-rnn", DTYPES, "`nn.RNN(3, 4)` fed an array of strings (2, 6, 3)",
         lambda: make()(np.full((B, T, D), "a")), TypeError, ("RNN 'rnn'", "(B, T, D)", "<U1"),
         "Encode characters as numbers first (one-hot, or an `nn.Embedding`)"),
    Case("complex-lstm", DTYPES, "`nn.LSTM(3, 4)` fed a complex array",
         lambda: make(nn.LSTM)(np.ones((B, T, D)) * 1j), TypeError, ("LSTM 'lstm'", "complex128"),
         "Feed real features (e.g. `np.stack([z.real, z.imag], -1)`)"),
    Case("float-index", DTYPES, "`x[np.array([0., 1.])]`: float indices",
         at_step(lambda: ones(3, 4)[np.array([0.0, 1.0])]), TypeError, ("getitem", "float64", STEP),
         "`.astype(np.int64)`"),
    Case("float-targets", DTYPES, "`cross_entropy` with float targets",
         at_step(lambda: F.cross_entropy(ones(3, 4), np.array([0.0, 1.0, 2.0]))), ValueError,
         ("cross_entropy", "float64", "(3,)", STEP), "Targets are class indices: `.astype(np.int64)`"),
    Case("float-embedding", DTYPES, "`nn.Embedding(5, 2)` looked up with floats",
         at_step(lambda: nn.Embedding(5, 2)(np.array([0.5]))), TypeError,
         ("Embedding", "float64", "(1,)", STEP), "Token ids are integers: `.astype(np.int64)`"),
    Case("default-dtype", DTYPES, "`tg.set_default_dtype(np.int32)`",
         lambda: tg.set_default_dtype(np.int32), TypeError, ("set_default_dtype", "int32"),
         "Use np.float32 or np.float64"),
    # -- NaN and Inf
    Case("nan-step-4", NONFINITE, "a NaN in x at time step 4, under `tg.detect_anomaly()`",
         nan_at_step_4, tg.AnomalyError, ("getitem", "'rnn/t=4'", "'x' (2, 6, 3)", "1 NaN"),
         "Clean the data (`np.isfinite(x).all()`); the message names the step that read it"),
    Case("inf-step-4-lstm", NONFINITE, "an Inf in x at time step 4 of an `nn.LSTM`, under `detect_anomaly()`",
         inf_at_step_4_lstm, tg.AnomalyError, ("getitem", "'lstm/t=4'", "(2, 6, 3)", "1 Inf"),
         "As above: fix the data at that step"),
    Case("log-negative", NONFINITE, "`x.log()` of a negative value, under `detect_anomaly()`",
         at_step(lambda: _anomalous(lambda: Tensor(np.array([1.0, -1.0]), name="x").log())), tg.AnomalyError,
         ("log", STEP, "'x' (2,)", "[-1, 1]"), "Keep the argument positive (`(x * x + eps).log()`, softmax)"),
    Case("overflow-backward", NONFINITE,
         "gradients that overflow going back through time ($U = 10^{100} I$), under `detect_anomaly()`",
         overflow_in_backward, tg.AnomalyError,
         ("backward of matmul", "'rnn/t=4'", "'h_t'", "upstream gradient"),
         "Clip (`nn.clip_grad_norm_`), lower the learning rate, shrink $\\rho(U)$"),
    Case("nan-no-anomaly", NONFINITE,
         "the same NaN without `detect_anomaly()`: the loss is NaN, and "
         "`GradientMonitor(..., on_explode=\"raise\").check()` after backward",
         nan_without_anomaly, tg.GradientExplosionError,
         ("GradientMonitor", "step 1", "'cells.0.W' (3, 4)", "detect_anomaly"),
         "Re-run the step under `tg.detect_anomaly()` to find where the NaN starts"),
    Case("norm-threshold", NONFINITE,
         "$\\lVert g \\rVert$ above the monitor's threshold (a ReLU RNN with $\\rho(U) = 3$, $T = 12$)",
         exploding_norm, tg.GradientExplosionError,
         ("GradientMonitor", "step 1", "threshold 100", "'cells.0.U'"),
         "Clip, lower the learning rate, or initialise $U$ with $\\rho(U) \\le 1$"),
    Case("clip-nan", NONFINITE, "`clip_grad_norm_(..., error_if_nonfinite=True)` on NaN gradients",
         clip_nan, RuntimeError, ("clip_grad_norm_", "3 parameters", "nan"),
         "Find the NaN's origin with `detect_anomaly()`"),
    # -- empty
    Case("max-empty", EMPTY, "`max()` of an empty (0, 3) tensor",
         at_step(lambda: Tensor(np.empty((0, 3))).max()), tg.ShapeError, ("max", "(0, 3)", STEP),
         "Check the batch is not empty before reducing it"),
    Case("cat-empty", EMPTY, "`tg.cat([])`",
         at_step(lambda: tg.cat([])), tg.ShapeError, ("cat", "empty", STEP), "Pass at least one tensor"),
    Case("zero-steps", EMPTY, "a sequence with no time steps, x (2, 0, 3)",
         lambda: make()(np.ones((B, 0, D))), tg.ShapeError, ("RNN 'rnn'", "(2, 0, 3)", "T = 0"),
         "Skip empty sequences before the layer"),
    Case("item", EMPTY, "`.item()` of a (3,) tensor",
         lambda: ones(3).item(), ValueError, ("item", "(3,)"), "Reduce or index it first"),
    # -- sequence layers
    Case("rnn-4d", LAYERS, "a 4-D input (1, 2, 6, 3) to `nn.RNN`",
         lambda: make()(np.ones((1, B, T, D))), tg.ShapeError, ("RNN 'rnn'", "(1, 2, 6, 3)", "(B, T, D)"),
         "Pass (B, T, D), or (T, D) for one sequence"),
    Case("gru-features", LAYERS, "x (2, 6, 7) to `nn.GRU(3, 4)`",
         lambda: make(nn.GRU)(np.ones((B, T, 7))), tg.ShapeError, ("GRU 'gru'", "(2, 6, 7)", "input_size=3"),
         "Build the layer with `input_size=7`"),
    Case("h0-batch", LAYERS, "`rnn(x, h0)` with x (2, 6, 3) and h0 (3, 4)",
         lambda: make()(np.ones((B, T, D)), np.zeros((3, H))), tg.ShapeError,
         ("RNN 'rnn'", "h_0", "(3, 4)", "(2, 6, 3)"), "One initial state per sequence: h0 (2, 4)"),
    Case("C0-batch", LAYERS, "`lstm(x, (h0, C0))` with C0 (1, 4) for a batch of 2",
         lambda: make(nn.LSTM)(np.ones((B, T, D)), (np.zeros((B, H)), np.zeros((1, H)))), tg.ShapeError,
         ("LSTM 'lstm'", "C_0", "(1, 4)", "(2, 6, 3)"), "C0 has the shape of h0: (B, H)"),
    Case("lstm-state", LAYERS, "`lstm(x, h0)`: one state instead of the pair",
         lambda: make(nn.LSTM)(np.ones((B, T, D)), np.zeros((B, H))), TypeError,
         ("LSTM 'lstm'", "(h_0, C_0)"), "Pass `(h0, C0)`"),
    Case("layers-state", LAYERS, "a (2, 4) state for a 2-layer `nn.GRU`",
         lambda: make(nn.GRU, num_layers=2)(np.ones((B, T, D)), np.zeros((B, H))), tg.ShapeError,
         ("GRU 'gru'", "(2, 4)", "(2, 2, 4)"), "One state per layer: (num_layers, B, H)"),
    # -- values
    Case("target-range", VALUES, "`cross_entropy` with targets 4 and -1 for 4 classes",
         at_step(lambda: F.cross_entropy(ones(3, 4), np.array([0, 4, -1]))), ValueError,
         ("cross_entropy", "[4, -1]", "(3, 4)", STEP),
         "Size the output layer to the vocabulary; map unknowns to a class"),
    Case("embedding-range", VALUES, "`nn.Embedding(5, 2)` looked up with token 7",
         at_step(lambda: nn.Embedding(5, 2)(np.array([7]))), IndexError,
         ("Embedding(5, 2)", "[7]", "(1,)", STEP),
         "Build the table with `num_embeddings` ≥ the vocabulary size"),
    Case("sgd-lr", VALUES, "`optim.SGD(params, lr=0)`",
         lambda: optim.SGD(make().parameters(), lr=0), ValueError, ("SGD", "lr", "got 0"),
         "A positive step size"),
    Case("adam-lr", VALUES, "`optim.Adam(params, lr=-1e-3)`",
         lambda: optim.Adam(make().parameters(), lr=-1e-3), ValueError, ("Adam", "lr", "-0.001"),
         "A positive step size (the sign is already in the update)"),
    Case("adagrad-lr", VALUES, "`optim.Adagrad(params, lr=float(\"nan\"))`",
         lambda: optim.Adagrad(make().parameters(), lr=float("nan")), ValueError, ("Adagrad", "lr", "nan"),
         "A positive, finite step size"),
    Case("nonlinearity", VALUES, "`nn.RNN(3, 4, nonlinearity=\"gelu\")`",
         lambda: nn.RNN(D, H, nonlinearity="gelu"), ValueError, ("RNNCell", "'gelu'", "'tanh'"),
         "Use \"tanh\", \"relu\" or \"sigmoid\" (or an `nn.LSTM`/`nn.GRU`)"),
    Case("num-layers", VALUES, "`nn.LSTM(3, 4, num_layers=0)`",
         lambda: nn.LSTM(D, H, num_layers=0), ValueError, ("LSTM", "num_layers", "0"), "At least one layer"),
    Case("dropout-p", VALUES, "`nn.Dropout(1.5)`",
         lambda: nn.Dropout(1.5), ValueError, ("Dropout", "1.5"), "A probability in [0, 1]"),
    Case("monitor-action", VALUES, "`GradientMonitor(model, on_explode=\"stop\")`",
         lambda: tg.GradientMonitor(make(), on_explode="stop"), ValueError,
         ("GradientMonitor", "'stop'", "'warn'"), "\"warn\", \"raise\", \"ignore\" or a function"),
    # -- backward and the graph
    Case("backward-twice", GRAPH, "`loss.backward()` twice on an RNN's loss",
         backward_twice, tg.GraphError, ("backward", "retain_graph=True"),
         "Run the forward pass again (or `retain_graph=True` the first time)"),
    Case("backward-nonscalar", GRAPH, "`outputs.backward()` on the RNN's outputs (2, 6, 4)",
         lambda: make()(data())[0].backward(), tg.GraphError, ("stack", "(2, 6, 4)", "scalar"),
         "Reduce to a loss first, or pass `grad=` of the same shape"),
    Case("backward-no-graph", GRAPH, "backward of a loss computed under `tg.no_grad()`",
         backward_without_graph, tg.GraphError, ("does not require grad", "no_grad()"),
         "Compute the loss outside `no_grad()`"),
    Case("optimizer-in-between", GRAPH, "`opt.step()` between the forward pass and `loss.backward()`",
         inplace_by_optimizer, tg.InplaceModificationError, ("backward of add", "'rnn/t=6'", "'b'", "(4,)"),
         "backward() first, then step(), then the next forward pass"),
    Case("reinit-in-between", GRAPH, "`nn.init.orthogonal_(rnn.cells[0].U)` between forward and backward",
         reinit_between_forward_and_backward, tg.InplaceModificationError,
         ("backward of matmul", "'rnn/t=6'", "'U'", "(4, 4)"), "Initialise before the forward pass"),
    Case("monitor-early", GRAPH, "`GradientMonitor.check()` before any backward()",
         monitor_before_backward, RuntimeError,
         ("GradientMonitor.check()", "3 parameters", "after loss.backward()"),
         "Call it between backward() and zero_grad()"),
    # -- checkpoints
    Case("truncated", CKPT, "a checkpoint cut to half its bytes",
         truncated, CheckpointError, ("rnn.npz", "truncated"),
         "Restore a backup; saves are atomic, so the previous file is intact"),
    Case("wrong-keys", CKPT, "an `nn.RNN` checkpoint loaded into an `nn.LSTM`",
         lambda: make(nn.LSTM).load(save_rnn()), RuntimeError,
         ("LSTM", "missing key 'cells.0.W_f'", "unexpected key 'cells.0.U'"),
         "Build the architecture that was saved"),
    Case("wrong-shapes", CKPT, "an `nn.RNN(3, 4)` checkpoint loaded into `nn.RNN(3, 5)`",
         lambda: make(nn.RNN, D, 5).load(save_rnn()), RuntimeError,
         ("RNN", "'cells.0.U'", "(4, 4)", "(5, 5)"), "Build the model with the saved sizes"),
    Case("object-arrays", CKPT, "an `.npz` holding a pickled object array",
         object_arrays, CheckpointError, ("objects.npz", "pickled", "refused"),
         "Save numeric arrays only; never unpickle untrusted files"),
    Case("plain-savez", CKPT, "a plain `np.savez` file (no format version)",
         plain_savez, CheckpointError, ("plain.npz", "format version", "np.load"),
         "Read it with np.load, or re-save with `tg.save`"),
    Case("not-npz", CKPT, "a text file passed to `tg.load`",
         not_an_npz, CheckpointError, ("notes.txt", "not an .npz"), "Pass the .npz written by `tg.save`"),
    Case("missing-file", CKPT, "`tg.load(\"missing.npz\")`",
         lambda: tg.load("missing.npz"), CheckpointError, ("missing.npz", "no such file"), "Check the path"),
    Case("load-directory", CKPT, "`tg.load` of a directory",
         a_directory("load"), CheckpointError, ("checkpoints", "directory"), "Name the file inside it"),
    Case("save-directory", CKPT, "`tg.save` to a directory path",
         a_directory("save"), CheckpointError, ("checkpoints", "directory", "model.npz"), "Give a file name"),
    Case("save-objects", CKPT, "`tg.save({\"vocab\": np.array([\"a\", None])}, ...)`",
         lambda: tg.save({"vocab": np.array(["a", None])}, "vocab.npz"), CheckpointError,
         ("'vocab'", "object"), "Store strings elsewhere (JSON), or as integer codes"),
]


def _anomalous(fn):
    with tg.detect_anomaly():
        return fn()


def provoke(case: Case) -> BaseException:
    """Run the case; return the exception it raised (fail if it raised none)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            case.run()
        except Exception as e:      # noqa: BLE001 -- the exception is the result
            return e
    raise AssertionError(f"{case.id}: no error was raised for: {case.tried}")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # checkpoint cases write relative paths, so messages are stable
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_input_gets_its_error(case, in_tmp):
    error = provoke(case)
    assert type(error) is case.error, f"{case.id}: expected {case.error.__name__}, got {error!r}"
    message = str(error)
    for fragment in case.names:
        assert fragment in message, f"{case.id}: {fragment!r} not in: {message}"
    assert tg.context.current_scope() == "", "a case leaked its scope"


def test_there_are_at_least_30_distinct_cases():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
    assert {c.section for c in CASES} == {SHAPES, DTYPES, NONFINITE, EMPTY, LAYERS, VALUES, GRAPH, CKPT}


def test_nothing_on_the_scope_or_anomaly_stack_leaks_out_of_an_error(in_tmp):
    for case in CASES:
        provoke(case)
        assert tg.context.current_scope() == "" and not tg.context.is_anomaly_enabled()
        assert tg.is_grad_enabled()


# ---- the table in docs/errors.md ----------------------------------------------------------------
def _code(message: str) -> str:
    """A message as a markdown code span inside a table cell."""
    assert "``" not in message
    return "`` " + message.replace("\n", " ").replace("|", "\\|") + " ``"


def render(cases=None, begin=BEGIN, end=END, prefix="") -> str:
    """The generated table of `cases` (this file's by default), rows numbered prefix1, prefix2, ..."""
    cases = CASES if cases is None else cases
    lines, number = [begin], 0
    for section in dict.fromkeys(c.section for c in cases):
        lines += ["", f"### {section}", "",
                  "| # | What was tried | Exception | Message (copied from a run) | What to do |",
                  "|---|---|---|---|---|"]
        for case in (c for c in cases if c.section == section):
            number += 1
            error = provoke(case)
            lines.append(f"| {prefix}{number} | {case.tried} | `{type(error).__name__}` | "
                         f"{_code(str(error))} | {case.todo} |")
    return "\n".join(lines + ["", end])


def compare_with_docs(table: str, begin: str, end: str, source: str) -> None:
    """Assert the page holds `table` between its markers (or write it, with TG_WRITE_ERRORS_TABLE=1)."""
    page = DOC.read_text(encoding="utf-8")
    start, stop = page.find(begin), page.find(end)
    assert 0 <= start < stop, f"{DOC} lost its markers {begin!r} ... {end!r}"
    if os.environ.get("TG_WRITE_ERRORS_TABLE"):
        DOC.write_text(page[:start] + table + page[stop + len(end):], encoding="utf-8")
        return
    assert page[start:stop + len(end)] == table, (
        "docs/errors.md is out of date with the messages; regenerate it with "
        f"TG_WRITE_ERRORS_TABLE=1 python -m pytest {source}")


def test_the_docs_table_is_these_cases(in_tmp):
    compare_with_docs(render(), BEGIN, END, "tests/test_bad_inputs.py")


# ---- detect_anomaly in depth ---------------------------------------------------------------------
LAYERS_BY_NAME = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@pytest.mark.parametrize("name", LAYERS_BY_NAME)
@pytest.mark.parametrize("t", [1, 4, 6])
def test_anomaly_names_the_step_where_a_nan_enters(name, t):
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as info:
        make(LAYERS_BY_NAME[name])(data(nan_at=t))
    message = str(info.value)
    assert f"getitem in scope '{name}/t={t}' produced NaN" in message
    assert "'x' (2, 6, 3)" in message and "with 1 NaN" in message and "An input already held it" in message
    finite = data(nan_at=t)[np.isfinite(data(nan_at=t))]
    assert f"in [{finite.min():.3g}, {finite.max():.3g}]" in message          # the finite range


def test_without_detect_anomaly_the_nan_is_silent_and_starts_at_its_step():
    outputs, _ = make()(data(nan_at=4))
    h = outputs.data                                             # (B, T, H)
    assert np.isfinite(h[:, :3]).all()                           # h_1 .. h_3 are fine
    assert np.isnan(h[1, 3:]).all() and np.isfinite(h[0]).all()  # from h_4 on, in sequence 1 only


def test_anomaly_in_forward_made_by_an_op_from_finite_inputs():
    """U = 1e150·I: h_t grows 1e150 per step and overflows in the matmul h_{t-1} U of step 4."""
    rnn = make(nn.RNN, D, D, nonlinearity="relu")
    cell = rnn.cells[0]
    cell.W.data, cell.U.data, cell.b.data = 0.5 * np.eye(D), 1e150 * np.eye(D), np.zeros(D)
    x = np.random.default_rng(1).uniform(0.1, 1.0, (B, T, D))
    with np.errstate(over="ignore"), tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as info:
        rnn(x)
    message = str(info.value)
    assert "matmul in scope 'rnn/t=4' produced Inf" in message
    assert "'h_t' (2, 3) in [" in message and "'U' (3, 3) in [0, 1e+150]" in message
    assert "This op made it from finite inputs" in message
    with np.errstate(over="ignore", invalid="ignore"):
        outputs, _ = rnn(x)                                      # without the check: Inf from step 4 on
    assert np.isfinite(outputs.data[:, :3]).all() and np.isinf(outputs.data[:, 3]).any()


@pytest.mark.parametrize("t", [2, 3, 4])
def test_anomaly_in_backward_names_the_step_where_the_gradient_overflows(t):
    loss = exploding_relu_rnn(steps=t)
    assert np.isfinite(loss.data)
    with np.errstate(over="ignore", invalid="ignore"), tg.detect_anomaly(), \
            pytest.raises(tg.AnomalyError) as info:
        loss.backward()
    message = str(info.value)
    assert (f"backward of matmul (the gradient for its input 'h_t') in scope 'rnn/t={t}' produced Inf"
            in message)
    assert "upstream gradient ∂E/∂'matmul' (2, 3) in [1e+300, 1e+300]" in message
    assert "The gradient became non-finite here from finite values" in message


def test_the_engine_is_usable_after_an_anomaly_in_backward():
    loss = exploding_relu_rnn(steps=4)
    with np.errstate(over="ignore", invalid="ignore"), tg.detect_anomaly(), pytest.raises(tg.AnomalyError):
        loss.backward()
    rnn = make()
    loss = rnn_loss(rnn)
    with tg.detect_anomaly():
        loss.backward()                                          # no half-summed gradient left behind
    expected = make()
    rnn_loss(expected).backward()
    for p, q in zip(rnn.parameters(), expected.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_detect_anomaly_can_be_switched_off_inside_and_restores_on_exit():
    x = Tensor(np.array([-1.0]))
    with np.errstate(invalid="ignore"), tg.detect_anomaly():
        with tg.detect_anomaly(False):
            assert np.isnan(x.log().data).all()
        with pytest.raises(tg.AnomalyError):
            x.log()
    assert not tg.context.is_anomaly_enabled()
