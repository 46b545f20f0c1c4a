"""Sequence layers: RNN, LSTM and GRU are their cell called T times in a Python loop.

    for t = 1 .. T:                       each step inside scope "rnn/t={t}"
        h_t = cell(x_t, h_{t-1})          (h_t, C_t) = cell(x_t, (h_{t-1}, C_{t-1})) for the LSTM

Running the loop builds the unrolled graph, so backpropagation through time is
nothing but `backward()` on a loss of the outputs: the weights are shared by every
step, and their gradient is the sum over the steps (∂E/∂U = Σ_t ...). One loop,
`_Recurrent._run`, serves the three layers: it carries the state as a tuple, (h,)
or (h, C).

Conventions (PyTorch's, batch first by default):

- input x (B, T, D) (``batch_first=False``: (T, B, D); one unbatched sequence: (T, D)),
  a Tensor or a numpy array (converted to the layer's dtype);
- optional initial state (B, H), or (num_layers·directions, B, H); zeros by default;
- returns ``(outputs, h_T)`` (LSTM: ``(outputs, (h_T, C_T))``), outputs (B, T, H·directions)
  holding the last layer's h_1..h_T, states (B, H) when there is one layer and one
  direction, (num_layers·directions, B, H) otherwise; ``state_layout="torch"`` always
  returns torch's (num_layers·directions, B, H);
- time is counted from 1, as in the course: step t reads x_t and makes h_t.
  With num_layers > 1, layer l (0-based, as in ``cells[l]``) runs in the nested
  scope "rnn/t={t}/layer={l}"; a bidirectional layer's backward direction runs
  t = T .. 1 in the scopes "rnn/reverse/t={t}" (its cells are ``reverse_cells``).

Options as torch.nn.RNN/LSTM/GRU: ``bias=False`` (no bias parameters),
``dropout=p`` (on the outputs of every layer but the last, in training mode only),
``bidirectional=True`` (a second stack of cells reads the sequence backwards; the
outputs of both directions are concatenated, forward first).

The per-step states of the most recent forward pass are ``layer.states``
([h_1, ..., h_T] of the last layer) and, for the LSTM, ``layer.cell_states``
([C_1, ..., C_T]); ``reverse_states`` (``reverse_cell_states``) for the backward direction. After
``loss.backward()`` their ``.grad`` is ∂E/∂h_t (∂E/∂C_t). The layer holds them
through weak references: they are the very tensors of the graph, alive as long as
the outputs (or a loss built from them) are, and the layer never keeps a graph
alive after you drop it.
"""

from __future__ import annotations

import math
import sys
import warnings
import weakref

import numpy as np

from .. import ops
from ..autograd import TICK
from ..context import _SCOPE, current_scope, on_replay, scope
from ..errors import ShapeError
from ..memory import free_unread, frees_values, gc_paused, pass_start, share_stacked
from ..tensor import Tensor, apply, cat, stack
from . import checks
from .cells import GRUCell, LSTMCell, RNNCell, sizes
from .layers import Dropout
from .module import Module

STATE_LAYOUTS = ("course", "torch")
_SCOPES: dict[tuple, list[str]] = {}    # (caller's scope, name, reverse, layer) -> steps' scopes
_KEPT_SCOPES = 1000                     # longer sequences make theirs each pass (memory: see _scopes)


def _joined(h_t: list[Tensor], mask) -> Tensor:
    """h_t of one direction, or both side by side [h_t→, h_t←]; times the dropout mask if any."""
    inp = h_t[0] if len(h_t) == 1 else cat(h_t, axis=-1).named("[h_t→, h_t←]")   # (B, H·dirs)
    return inp if mask is None else (inp * mask).named("dropout")


class _TimeSteps:
    """The steps x_1 .. x_T of an input x (B, T, D), or (T, B, D) with time_axis 0, as a
    sequence: item t - 1 is x_t (B, D), sliced and named when it is asked for."""

    __slots__ = ("x", "time_axis", "T")

    def __init__(self, x: Tensor, time_axis: int, T: int):
        self.x, self.time_axis, self.T = x, time_axis, T

    def __len__(self) -> int:
        return self.T

    def __getitem__(self, i: int) -> Tensor:
        # x[:, t - 1] (or x[t - 1]) as the getitem op itself: an int and a slice need none of
        # Tensor.__getitem__'s index conversions (skipping them is 1% of a tiny RNN step)
        index = (slice(None), i) if self.time_axis == 1 else (i,)
        return apply(ops.getitem, self.x, index=index).named("x_t")             # (B, D)


class _Pass:
    """Weak references to one direction's states of the last forward pass: ``parts[0]`` to
    h_1 .. h_T (``parts[1]`` to C_1 .. C_T for the LSTM). An object, not a list: `Module.parameters()`
    looks inside every list and tuple a module holds, and zero_grad() runs it every training step
    (walking T tuples of references was 2.2% of a tiny RNN step, measured). One list per part, made
    by `map`: a tuple of references per step cost three times as much."""

    __slots__ = ("parts",)

    def __init__(self, states: list[tuple]):
        self.parts = [list(map(weakref.ref, part)) for part in zip(*states)]


class _Recurrent(Module):
    """What RNN, LSTM and GRU share: the cells, the loop, input and state checks, `states`."""

    def __init__(self, make_cell, input_size: int, hidden_size: int, num_layers: int, name: str,
                 batch_first: bool, dropout: float, bidirectional: bool, state_layout: str):
        who = type(self).__name__
        num_layers = checks.size(who, "num_layers", num_layers, 1)
        input_size, hidden_size = sizes(who, input_size, hidden_size)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{who}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{who}: dropout acts between stacked layers (never after the last), so "
                          f"dropout={dropout} with num_layers=1 does nothing", stacklevel=3)
        if state_layout not in STATE_LAYOUTS:
            raise ValueError(f"{who}: unknown state_layout {state_layout!r}; choose one of "
                             f"{', '.join(map(repr, STATE_LAYOUTS))}")
        self.input_size, self.hidden_size, self.num_layers, self.name = \
            input_size, hidden_size, int(num_layers), name
        self.batch_first, self.dropout, self.bidirectional, self.state_layout = \
            bool(batch_first), float(dropout), bool(bidirectional), state_layout
        self.num_directions = 2 if bidirectional else 1
        # Layer 0 reads x_t (D features); layer l > 0 reads the h_t of layer l-1
        # (H features, 2H when bidirectional). Built in torch's order: l0, l0_reverse, l1, ...
        cells, reverse = [], []
        for l in range(self.num_layers):
            width = input_size if l == 0 else hidden_size * self.num_directions
            cells.append(make_cell(width))
            if bidirectional:
                reverse.append(make_cell(width))
                for p in reverse[-1].parameters():      # labels: "U_reverse", as torch's suffix
                    p.name = f"{p.name}_reverse"
        self.cells, self.reverse_cells = cells, reverse
        self.bias = cells[0].bias                       # False: no bias parameters
        self._refs = self._reverse_refs = None          # weak references to the last pass's states

    # ---- the loop ---------------------------------------------------------
    def _run(self, cell, xs: list[Tensor], state: tuple, l: int, reverse: bool) -> list[tuple]:
        """The recurrence, once: state_t = cell(x_t, state_{t-1}) for t = 1..T (T..1 reversed).
        `state` is a tuple, (h,) or (h, C); returns the state of every step, indexed by t - 1.

        Step t runs in its scope ('rnn/t=3', under the caller's), set here as ``with scope(...)``
        would, without a scope object and its re-entry bookkeeping per step (1.2% of a tiny RNN
        training step, measured); the caller's scope comes back once, after the last step (a
        reset per step was another 0.4%: nothing makes a tensor between two steps)."""
        T = len(xs)
        out = [None] * T
        h = state[0]                      # (B, H); record_edge_grads(False): see memory.py
        frees = frees_values(T * math.prod(h.shape) * h.dtype.itemsize)
        scopes = self._scopes(T, reverse, l)
        token = _SCOPE.set(_SCOPE.get())
        try:
            for t in (range(T, 0, -1) if reverse else range(1, T + 1)):
                since = next(TICK) if frees else None
                _SCOPE.set(scopes[t - 1])
                state = cell.step(xs[t - 1], state)               # (B, H) each
                if frees:
                    free_unread(state, since)     # the step's values no backward rule reads, at once
                out[t - 1] = state
        finally:
            _SCOPE.reset(token)
        return out

    def forward(self, x, state=None):
        with gc_paused():                 # T steps of tensors that all survive: see memory.py
            return self._unroll(x, state)

    def _unroll(self, x, state):
        x, batched = self._check_input(x)                         # (B, T, D) or (T, B, D)
        time_axis = 1 if self.batch_first or not batched else 0
        T = x.shape[time_axis]
        initial = self._initial_states(state, x, batched)         # L·dirs tuples of (B, H)
        directions = [(self.cells, False), (self.reverse_cells, True)][:self.num_directions]
        xs = [self._inputs(x, time_axis, T, reverse) for _, reverse in directions]   # x_1 .. x_T per lane
        finals = []
        for l in range(self.num_layers):
            seqs = []                                             # per direction: the states of every step
            for d, (cells, reverse) in enumerate(directions):
                seqs.append(self._run(cells[l], xs[d], initial[l * self.num_directions + d], l, reverse))
                finals.append(seqs[-1][0 if reverse else -1])      # after reading the whole sequence
            if l < self.num_layers - 1:
                xs = self._next_inputs([[step[0] for step in seq] for seq in seqs])
        self._refs = _Pass(seqs[0])
        self._reverse_refs = _Pass(seqs[1]) if self.bidirectional else None
        on_replay(self, "_refs", "_reverse_refs")                 # tg.compile: states of a replay
        h = seqs[0][0][0]                                         # h_1: (B, H)
        nbytes = T * len(seqs) * math.prod(h.shape) * h.dtype.itemsize     # of the outputs
        since = pass_start(nbytes)            # record_edge_grads(False): a tick; what follows is freed
        outputs = [stack([step[0] for step in seq], axis=time_axis) for seq in seqs]   # (B, T, H) each
        if since is not None and len(outputs) == 1:       # (two directions: the cat below copies)
            share_stacked(outputs[0], [step[0] for step in seqs[0]])   # h_t: views of the stack's rows
        outputs = outputs[0] if len(outputs) == 1 else cat(outputs, axis=-1)          # (B, T, H·dirs)
        result = tuple(self._final([s[k] for s in finals], batched) for k in range(len(finals[0])))
        if not batched:
            outputs = outputs[0]                                  # (T, H·dirs)
        free_unread((outputs, *result), since)    # the stacks a cat copied (bidirectional), if any
        return outputs, self.cells[0].from_tuple(result)

    def _scope(self, t: int, reverse: bool, l: int | None = None) -> str:
        """Where step t runs: 'rnn/t=3', 'rnn/t=3/layer=1', 'rnn/reverse/t=3/layer=1'. The
        backward direction is a lane of its own ('rnn/reverse'), so pictures draw it as one."""
        lane = f"{self.name}/reverse" if reverse else self.name
        # interned: x_t and the cell's tensors of one step share one string, not one each
        return sys.intern(f"{lane}/t={t}" + (f"/layer={l}" if l is not None and self.num_layers > 1 else ""))

    def _scopes(self, T: int, reverse: bool, l: int) -> list[str]:
        """The scopes of steps 1..T under the caller's ('outer/rnn/t=3'), by t - 1. Kept for the
        next pass (up to _KEPT_SCOPES steps; a key per caller's scope, name, lane and layer): a
        training loop runs the same steps every time, and making each step's name again (an
        f-string and an intern) was 0.9% of a tiny RNN step, measured."""
        parent = current_scope()
        key = (parent, self.name, reverse, l if self.num_layers > 1 else None)
        scopes = _SCOPES.get(key)
        if scopes is None or len(scopes) < T:
            prefix = f"{parent}/" if parent else ""
            scopes = [sys.intern(prefix + self._scope(t, reverse, l)) for t in range(1, T + 1)]
            if T <= _KEPT_SCOPES:
                if len(_SCOPES) >= 64:    # many callers' scopes: start again rather than grow
                    _SCOPES.clear()
                _SCOPES[key] = scopes
        return scopes

    def _inputs(self, x: Tensor, time_axis: int, T: int, reverse: bool):
        """x_1 .. x_T of one lane, (B, D) each. One layer: read when its step runs, inside
        the step's scope, so a step enters one scope, not two. Stacked layers: read up
        front, each in its 'rnn/t=3' scope (the cells run in 'rnn/t=3/layer=0')."""
        if self.num_layers == 1:
            return _TimeSteps(x, time_axis, T)
        steps = []
        for t in range(1, T + 1):
            with scope(self._scope(t, reverse)):
                steps.append(_TimeSteps(x, time_axis, T)[t - 1])
        return steps

    def _in_step(self, t: int, reverse: bool, make):
        with scope(self._scope(t, reverse)):
            return make()

    def _next_inputs(self, h: list[list[Tensor]]) -> list[list[Tensor]]:
        """Layer l+1's inputs: layer l's h_t (both directions side by side), per direction.
        In training, dropout multiplies h_t by one mask per step, shared by both directions."""
        drop = Dropout(self.dropout) if self.training and self.dropout > 0 else None
        out = [[] for _ in h]
        for t in range(1, len(h[0]) + 1):
            h_t = [seq[t - 1] for seq in h]                       # (B, H) per direction
            width = sum(s.shape[-1] for s in h_t)
            mask = drop.mask((h_t[0].shape[0], width), h_t[0].dtype) if drop else None  # (B, H·dirs)
            for d, reverse in enumerate((False, True)[:len(h)]):
                out[d].append(self._in_step(t, reverse, lambda: _joined(h_t, mask)))
        return out

    # ---- the states of the last forward pass -----------------------------
    @property
    def states(self) -> list[Tensor]:
        """[h_1, ..., h_T] of the last layer in the most recent forward pass.

        After backward(), ``states[t-1].grad`` is ∂E/∂h_t. They live as long as
        the outputs or the loss do (under no_grad() nothing keeps them: read
        ``outputs[:, t-1]`` instead).
        """
        return self._live(self._refs, 0, "states")

    @property
    def reverse_states(self) -> list[Tensor]:
        """The backward direction's h_t of the last layer, by position: ``reverse_states[t-1]``
        has read x_T .. x_t. Only for ``bidirectional=True``."""
        return self._live(self._reverse_refs, 0, "reverse_states")

    def _live(self, refs: _Pass | None, k: int, what: str) -> list[Tensor]:
        if what.startswith("reverse") and not self.bidirectional:
            raise RuntimeError(f"{self._who()}: `{what}` needs bidirectional=True")
        if refs is None:
            raise RuntimeError(f"{self._who()}: `{what}` is empty: run a forward pass first")
        tensors = [r() for r in refs.parts[k]]
        if any(t is None for t in tensors):
            raise RuntimeError(
                f"{self._who()}: the per-step tensors behind `{what}` were freed with the outputs of "
                "the last forward pass; keep the outputs (or the loss) alive while you read them. "
                "Under no_grad() nothing keeps them: read outputs[:, t-1] instead")
        return tensors

    # ---- checks, initial and final states ---------------------------------
    def _who(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    @property
    def dtype(self):
        return self.cells[0].dtype

    def _check_input(self, x) -> tuple[Tensor, bool]:
        """x as a Tensor with a batch axis, and whether it came with one ((T, D) did not)."""
        if not isinstance(x, Tensor):
            try:
                x = Tensor(x, name="x", dtype=self.dtype)
            except TypeError as e:
                raise TypeError(f"{self._who()}: the input x must be numbers (B, T, D): {e}") from None
        layout = "(B, T, D) = (batch, time, features)" if self.batch_first else \
            "(T, B, D) = (time, batch, features) (batch_first=False)"
        if x.ndim not in (2, 3):
            raise ShapeError(f"{self._who()}: expected an input {layout}, or one sequence (T, D), "
                             f"got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{self._who()}: input of shape {x.shape} has {x.shape[-1]} features, "
                             f"but the layer was built with input_size={self.input_size}; give x "
                             f"{self.input_size} features or build the layer with input_size={x.shape[-1]}")
        T = x.shape[1 if x.ndim == 3 and self.batch_first else 0]
        if T == 0:
            raise ShapeError(f"{self._who()}: input of shape {x.shape} has no time steps (T = 0); "
                             "a sequence needs at least one step")
        if x.ndim == 2:
            return x.reshape(1, *x.shape), False                  # (1, T, D)
        return x, True

    def _initial_states(self, state, x: Tensor, batched: bool) -> list[tuple]:
        """One state tuple per layer and direction ((h,) or (h, C), each (B, H)), torch's order."""
        names = [n.replace("{t-1}", "0") for n in self.cells[0].state_names]    # h_0 (, C_0)
        if len(names) > 1 and state is not None and not (isinstance(state, (tuple, list))
                                                         and len(state) == len(names)):
            raise TypeError(f"{self._who()}: the initial state must be a pair ({', '.join(names)}), "
                            f"got {type(state).__name__}")
        parts = (state,) if len(names) == 1 else (state or (None,) * len(names))
        B = x.shape[0] if self.batch_first or not batched else x.shape[1]
        per_part = [self._initial_state(s, x, B, batched, name) for s, name in zip(parts, names)]
        return list(zip(*per_part))

    def _initial_state(self, s, x: Tensor, B: int, batched: bool, label: str) -> list[Tensor]:
        """K = num_layers·directions states (B, H): zeros named `label`, or the user's split."""
        K, H = self.num_layers * self.num_directions, self.hidden_size
        if s is None:
            return [Tensor(np.zeros((B, H), self.dtype), name=label) for _ in range(K)]
        s = s if isinstance(s, Tensor) else Tensor(np.asarray(s), dtype=self.dtype)
        stacked = "(num_layers, " if K == self.num_layers else "(num_layers·2, "
        if not batched:                                           # one sequence: no batch axis
            if s.shape == (K, H) or (K == 1 and s.shape == (H,)):
                return [s.reshape(K, 1, H)[k] for k in range(K)]  # (1, H) each
            raise ShapeError(f"{self._who()}: the initial state {label} of an unbatched input has "
                             f"shape {s.shape}; expected {stacked}H) = {(K, H)}"
                             + (f" or (H,) = {(H,)}" if K == 1 else ""))
        if s.ndim in (2, 3) and s.shape[-2] != B:
            raise ShapeError(f"{self._who()}: the initial state {label} has batch size {s.shape[-2]} "
                             f"(shape {s.shape}) but the input has batch size {B} (shape {x.shape}); "
                             "give one initial state per sequence")
        if K == 1 and s.shape == (B, H):
            return [s]
        if s.shape == (K, B, H):
            return [s[k] for k in range(K)]                       # (B, H) each
        expected = f"{stacked}B, H) = {(K, B, H)}" + (f" or (B, H) = {(B, H)}" if K == 1 else "")
        raise ShapeError(f"{self._who()}: the initial state {label} has shape {s.shape}; "
                         f"expected {expected}")

    def _final(self, per_layer: list[Tensor], batched: bool) -> Tensor:
        """The K final states as the layout says: (B, H) alone for K = 1 in the course's
        layout, else (K, B, H); without the batch axis for an unbatched input."""
        if len(per_layer) == 1 and self.state_layout == "course":
            s = per_layer[0]                                      # (B, H)
            return s if batched else s[0]                         # (H,)
        s = stack(per_layer, axis=0)                              # (K, B, H)
        return s if batched else s[:, 0]                          # (K, H)

    def extra_repr(self):
        options = "".join(f", {k}={v!r}" for k, v, default in (
            ("batch_first", self.batch_first, True), ("dropout", self.dropout, 0.0),
            ("bidirectional", self.bidirectional, False), ("state_layout", self.state_layout, "course"))
            if v != default)
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"name={self.name!r}{options}")


class RNN(_Recurrent):
    """A stack of `RNNCell`s over a sequence:  h_t = f(x_t W + h_{t-1} U + b).

    ``outputs, h_T = rnn(x, h0)``: x (B, T, D), h0 (B, H) or None (zeros),
    outputs (B, T, H). Parameters: ``rnn.cells[l].W``, ``.U``, ``.b``.

    Truncated BPTT: run the sequence in chunks and carry the last state over with
    ``.detach()``; the state's value goes on, its graph does not, so each
    backward() runs through one chunk only (and the previous chunk's freed graph
    is never reached again).

        >>> import numpy as np, tinygrad_rnn as tg
        >>> _ = tg.manual_seed(0)
        >>> rnn = tg.nn.RNN(input_size=3, hidden_size=4)
        >>> x = np.random.default_rng(0).normal(size=(2, 20, 3))   # (B, T, D)
        >>> h = None                                               # zeros at the start
        >>> for start in range(0, 20, 5):                          # 4 chunks of 5 steps
        ...     outputs, h = rnn(x[:, start:start + 5], h)         # (2, 5, 4), (2, 4)
        ...     loss = (outputs ** 2).mean()
        ...     rnn.zero_grad()
        ...     loss.backward()                                    # BPTT through 5 steps
        ...     for p in rnn.parameters():
        ...         p.data = p.data - 0.1 * p.grad                 # an SGD step
        ...     h = h.detach()                                     # carry the value, cut the graph
        >>> len(rnn.states), rnn.states[0].grad.shape              # ∂E/∂h_t, last chunk
        (5, (2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", name: str = "rnn", dtype=None, *, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 state_layout: str = "course"):
        self.nonlinearity = nonlinearity
        super().__init__(lambda d: RNNCell(d, hidden_size, nonlinearity, bias=bias, dtype=dtype),
                         input_size, hidden_size, num_layers, name,
                         batch_first, dropout, bidirectional, state_layout)


class GRU(_Recurrent):
    """A stack of `GRUCell`s over a sequence (torch.nn.GRU's equations, see GRUCell).

    ``outputs, h_T = gru(x, h0)``, as `RNN`; parameters ``gru.cells[l].W_r``, ...
    Truncated BPTT as for `RNN`: carry ``h.detach()`` into the next chunk.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 name: str = "gru", dtype=None, *, bias: bool = True, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, state_layout: str = "course"):
        super().__init__(lambda d: GRUCell(d, hidden_size, bias=bias, dtype=dtype),
                         input_size, hidden_size, num_layers, name,
                         batch_first, dropout, bidirectional, state_layout)


class LSTM(_Recurrent):
    """A stack of `LSTMCell`s over a sequence (the course's equations, see LSTMCell).

    ``outputs, (h_T, C_T) = lstm(x, (h0, C0))``: x (B, T, D), each state (B, H) or
    None (zeros). Per-step states: ``lstm.states`` (h_t) and ``lstm.cell_states`` (C_t).
    Truncated BPTT as for `RNN`, detaching both halves of the state:

        >>> import numpy as np, tinygrad_rnn as tg
        >>> lstm, x = tg.nn.LSTM(3, 4), np.ones((2, 10, 3))
        >>> state = None
        >>> for start in range(0, 10, 5):
        ...     outputs, (h, C) = lstm(x[:, start:start + 5], state)
        ...     outputs.sum().backward()
        ...     state = (h.detach(), C.detach())
        >>> len(lstm.cell_states), lstm.cell_states[-1].grad.shape
        (5, (2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 name: str = "lstm", dtype=None, *, bias: bool = True, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, state_layout: str = "course"):
        super().__init__(lambda d: LSTMCell(d, hidden_size, bias=bias, dtype=dtype),
                         input_size, hidden_size, num_layers, name,
                         batch_first, dropout, bidirectional, state_layout)

    @property
    def cell_states(self) -> list[Tensor]:
        """[C_1, ..., C_T] of the last layer in the most recent forward pass; after
        backward(), ``cell_states[t-1].grad`` is ∂E/∂C_t. Held as `states` is."""
        return self._live(self._refs, 1, "cell_states")

    @property
    def reverse_cell_states(self) -> list[Tensor]:
        """The backward direction's C_t of the last layer, by position (see `reverse_states`)."""
        return self._live(self._reverse_refs, 1, "reverse_cell_states")
