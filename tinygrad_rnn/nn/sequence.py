"""Sequence layers: RNN, LSTM and GRU are their cell called T times in a Python loop.

    for t = 1 .. T:                       each step inside scope "rnn/t={t}"
        h_t = cell(x_t, h_{t-1})          (h_t, C_t) = cell(x_t, (h_{t-1}, C_{t-1})) for the LSTM

Running the loop builds the unrolled graph, so backpropagation through time is
nothing but `backward()` on a loss of the outputs: the weights are shared by every
step, and their gradient is the sum over the steps (∂E/∂U = Σ_t ...).

Conventions (PyTorch's, batch first):

- input x (B, T, D), a Tensor or a numpy array (converted to the layer's dtype);
- optional initial state (B, H), or (num_layers, B, H); zeros by default;
- returns ``(outputs, h_T)`` (LSTM: ``(outputs, (h_T, C_T))``), outputs (B, T, H)
  stacking the last layer's h_1..h_T, states (B, H) ((num_layers, B, H) if num_layers > 1);
- time is counted from 1, as in the course: step t reads x[:, t-1] and makes h_t.
  With num_layers > 1, layer l (0-based, as in ``cells[l]``) runs in the nested
  scope "rnn/t={t}/layer={l}".

The per-step states of the most recent forward pass are ``layer.states``
([h_1, ..., h_T] of the last layer) and, for the LSTM, ``layer.cell_states``
([C_1, ..., C_T]). After ``loss.backward()`` their ``.grad`` is ∂E/∂h_t (∂E/∂C_t).
The layer holds them through weak references: they are the very tensors of the
graph, alive as long as the outputs (or a loss built from them) are, and the layer
never keeps a graph alive after you drop it.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

from ..context import scope
from ..errors import ShapeError
from ..tensor import Tensor, stack
from .cells import GRUCell, LSTMCell, RNNCell
from .module import Module


class _Recurrent(Module):
    """What RNN, LSTM and GRU share: the cells, input and state checks, `states`.

    Its `forward` is the loop for cells whose state is h alone (RNN, GRU); the
    LSTM writes the same loop carrying (h, C).
    """

    def __init__(self, make_cell, input_size: int, hidden_size: int, num_layers: int, name: str):
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers, self.name = \
            input_size, hidden_size, num_layers, name
        # Layer 0 reads x_t (D features); layer l > 0 reads the h_t of layer l-1 (H features).
        self.cells = [make_cell(input_size if l == 0 else hidden_size) for l in range(num_layers)]
        self._h_refs = self._C_refs = None   # weak references to the last pass's h_t, C_t

    def forward(self, x, h0=None) -> tuple[Tensor, Tensor]:
        x = self._check_input(x)                                  # (B, T, D)
        h = self._initial_state(h0, x, "h_0")                     # num_layers × (B, H)
        hs = []                                                   # h_1 .. h_T, last layer
        for t in range(1, x.shape[1] + 1):
            with scope(f"{self.name}/t={t}"):
                inp = x[:, t - 1]                                 # (B, D)  x_t
                inp.name = "x_t"
                for l, cell in enumerate(self.cells):
                    with self._layer_scope(l):
                        h[l] = cell(inp, h[l])                    # (B, H)  h_t of layer l
                    inp = h[l]
            hs.append(h[-1])
        self._h_refs = [weakref.ref(h_t) for h_t in hs]
        return stack(hs, axis=1), self._final(h)                  # (B, T, H), (B, H)

    # ---- the states of the last forward pass -----------------------------
    @property
    def states(self) -> list[Tensor]:
        """[h_1, ..., h_T] of the last layer in the most recent forward pass.

        After backward(), ``states[t-1].grad`` is ∂E/∂h_t. They live as long as
        the outputs or the loss do (under no_grad() nothing keeps them: read
        ``outputs[:, t-1]`` instead).
        """
        return self._live(self._h_refs, "states")

    def _live(self, refs, what) -> list[Tensor]:
        if refs is None:
            raise RuntimeError(f"{self._who()}: `{what}` is empty: run a forward pass first")
        tensors = [r() for r in refs]
        if any(t is None for t in tensors):
            raise RuntimeError(
                f"{self._who()}: the per-step tensors behind `{what}` were freed with the outputs of "
                "the last forward pass; keep the outputs (or the loss) alive while you read them. "
                "Under no_grad() nothing keeps them: read outputs[:, t-1] instead")
        return tensors

    # ---- checks and initial states ---------------------------------------
    def _who(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    @property
    def dtype(self):
        return self.cells[0].parameters()[0].dtype

    def _check_input(self, x) -> Tensor:
        if not isinstance(x, Tensor):
            try:
                x = Tensor(x, name="x", dtype=self.dtype)
            except TypeError as e:
                raise TypeError(f"{self._who()}: the input x must be numbers (B, T, D): {e}") from None
        if x.ndim != 3:
            raise ShapeError(f"{self._who()}: expected a batch-first input (B, T, D) = (batch, time, "
                             f"features), got shape {x.shape}; for one sequence (T, D) pass x[None]")
        if x.shape[2] != self.input_size:
            raise ShapeError(f"{self._who()}: input of shape {x.shape} has {x.shape[2]} features, "
                             f"but the layer was built with input_size={self.input_size}; give x "
                             f"{self.input_size} features or build the layer with input_size={x.shape[2]}")
        if x.shape[1] == 0:
            raise ShapeError(f"{self._who()}: input of shape {x.shape} has no time steps (T = 0); "
                             "a sequence needs at least one step")
        return x

    def _initial_state(self, s, x: Tensor, label: str) -> list[Tensor]:
        """One (B, H) state per layer: zeros named `label`, or the user's state split by layer."""
        B, L, H = x.shape[0], self.num_layers, self.hidden_size
        if s is None:
            return [Tensor(np.zeros((B, H), self.dtype), name=label) for _ in range(L)]
        s = s if isinstance(s, Tensor) else Tensor(np.asarray(s), dtype=self.dtype)
        if s.ndim in (2, 3) and s.shape[-2] != B:
            raise ShapeError(f"{self._who()}: the initial state {label} has batch size {s.shape[-2]} "
                             f"(shape {s.shape}) but the input has batch size {B} (shape {x.shape}); "
                             "give one initial state per sequence")
        if L == 1 and s.shape == (B, H):
            return [s]
        if s.shape == (L, B, H):
            return [s[l] for l in range(L)]                       # (B, H) each
        expected = f"(num_layers, B, H) = {(L, B, H)}" + (f" or (B, H) = {(B, H)}" if L == 1 else "")
        raise ShapeError(f"{self._who()}: the initial state {label} has shape {s.shape}; "
                         f"expected {expected}")

    def _layer_scope(self, l: int):
        return scope(f"layer={l}") if self.num_layers > 1 else contextlib.nullcontext()

    def _final(self, per_layer: list[Tensor]) -> Tensor:
        return per_layer[0] if self.num_layers == 1 else stack(per_layer, axis=0)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, name={self.name!r}"


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
                 nonlinearity: str = "tanh", name: str = "rnn", dtype=None):
        self.nonlinearity = nonlinearity
        super().__init__(lambda d: RNNCell(d, hidden_size, nonlinearity, dtype=dtype),
                         input_size, hidden_size, num_layers, name)


class GRU(_Recurrent):
    """A stack of `GRUCell`s over a sequence (torch.nn.GRU's equations, see GRUCell).

    ``outputs, h_T = gru(x, h0)``, as `RNN`; parameters ``gru.cells[l].W_r``, ...
    Truncated BPTT as for `RNN`: carry ``h.detach()`` into the next chunk.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 name: str = "gru", dtype=None):
        super().__init__(lambda d: GRUCell(d, hidden_size, dtype=dtype),
                         input_size, hidden_size, num_layers, name)


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
                 name: str = "lstm", dtype=None):
        super().__init__(lambda d: LSTMCell(d, hidden_size, dtype=dtype),
                         input_size, hidden_size, num_layers, name)

    def forward(self, x, state=None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x = self._check_input(x)                                  # (B, T, D)
        if state is not None and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError(f"{self._who()}: the initial state must be a pair (h_0, C_0), "
                            f"got {type(state).__name__}")
        h0, C0 = state if state is not None else (None, None)
        h = self._initial_state(h0, x, "h_0")                     # num_layers × (B, H)
        C = self._initial_state(C0, x, "C_0")                     # num_layers × (B, H)
        hs, Cs = [], []                                           # h_t, C_t of the last layer
        for t in range(1, x.shape[1] + 1):
            with scope(f"{self.name}/t={t}"):
                inp = x[:, t - 1]                                 # (B, D)  x_t
                inp.name = "x_t"
                for l, cell in enumerate(self.cells):
                    with self._layer_scope(l):
                        h[l], C[l] = cell(inp, (h[l], C[l]))      # (B, H), (B, H)
                    inp = h[l]
            hs.append(h[-1])
            Cs.append(C[-1])
        self._h_refs = [weakref.ref(h_t) for h_t in hs]
        self._C_refs = [weakref.ref(C_t) for C_t in Cs]
        return stack(hs, axis=1), (self._final(h), self._final(C))

    @property
    def cell_states(self) -> list[Tensor]:
        """[C_1, ..., C_T] of the last layer in the most recent forward pass; after
        backward(), ``cell_states[t-1].grad`` is ∂E/∂C_t. Held as `states` is."""
        return self._live(self._C_refs, "cell_states")
