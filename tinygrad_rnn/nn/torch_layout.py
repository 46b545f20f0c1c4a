"""Our recurrent parameters in torch.nn.RNN/LSTM/GRU's layout, and back (numpy only).

The two layouts hold the same numbers arranged differently:

- torch stores each layer's gates stacked row-wise and transposed (column-vector
  convention): ``weight_ih_l{l}`` (G·H, in), ``weight_hh_l{l}`` (G·H, H), and two
  biases ``bias_ih_l{l}``, ``bias_hh_l{l}`` (G·H,); the backward direction of a
  bidirectional layer adds the suffix ``_reverse``.
- RNN: our W (in, H) is weight_ihᵀ, U (H, H) is weight_hhᵀ, b = bias_ih + bias_hh.
- LSTM: torch's gate order is i, f, g (= C̃), o; ours is f, i, C̃, o on z_t = [h_{t-1}, x_t],
  so each W_g (H + in, H) is [weight_hh rows of g; weight_ih rows of g]ᵀ
  (`LSTMCell.hidden_rows` on top), and b_g = bias_ih + bias_hh of gate g.
- GRU: the same equations as torch (r, z, n), so both biases stay: b_hn sits inside
  r_t * (h_{t-1} U_n + b_hn) and cannot be folded into b_in.

Mapping values, a torch pair of biases becomes their sum, and ours goes to bias_ih
with bias_hh = 0. Mapping gradients (``grads=True``), ∂E/∂b = ∂E/∂bias_ih = ∂E/∂bias_hh,
so the gradient is copied, not summed. torch is never imported here: these are
dictionaries of numpy arrays, for `tg.interop` and the tests against torch.
"""

from __future__ import annotations

import numpy as np

from .cells import GRUCell, LSTMCell, RNNCell

GATES = {"rnn": "", "lstm": "ifco", "gru": "rzn"}   # torch's gate order, in our gate letters


def kind_of(cell) -> str:
    """'rnn', 'lstm' or 'gru' for one of our cells."""
    for kind, cls in (("rnn", RNNCell), ("lstm", LSTMCell), ("gru", GRUCell)):
        if isinstance(cell, cls):
            return kind
    raise TypeError(f"torch_layout: expected an RNNCell, LSTMCell or GRUCell, got {type(cell).__name__}")


def cell_to_torch(cell, grads: bool = False) -> dict[str, np.ndarray]:
    """One cell's parameters (or their .grad) as weight_ih, weight_hh (and bias_ih, bias_hh)."""
    kind = kind_of(cell)
    p = {name: (t.grad if grads else t.data) for name, t in cell.named_parameters()}
    if kind == "rnn":
        out = {"weight_ih": p["W"].T, "weight_hh": p["U"].T}
        biases = [p["b"]] if cell.bias else []
    elif kind == "lstm":
        rows_h, rows_x = cell.hidden_rows, cell.input_rows
        out = {"weight_ih": np.concatenate([p["W_" + g][rows_x].T for g in GATES[kind]]),  # (4H, in)
               "weight_hh": np.concatenate([p["W_" + g][rows_h].T for g in GATES[kind]])}  # (4H, H)
        biases = [np.concatenate([p["b_" + g] for g in GATES[kind]])] if cell.bias else []
    else:
        out = {"weight_ih": np.concatenate([p["W_" + g].T for g in GATES[kind]]),          # (3H, in)
               "weight_hh": np.concatenate([p["U_" + g].T for g in GATES[kind]])}          # (3H, H)
        if cell.bias:
            out["bias_ih"] = np.concatenate([p["b_i" + g] for g in GATES[kind]])
            out["bias_hh"] = np.concatenate([p["b_h" + g] for g in GATES[kind]])
        return out
    for b in biases:        # one bias of ours: all of it in bias_ih (or, for gradients, in both)
        out["bias_ih"], out["bias_hh"] = b, (b if grads else np.zeros_like(b))
    return out


def cell_from_torch(cell, arrays: dict, grads: bool = False) -> dict[str, np.ndarray]:
    """torch's weight_ih, weight_hh (, bias_ih, bias_hh) for one cell, as our parameter names."""
    kind, H = kind_of(cell), cell.hidden_size
    a = {k: np.asarray(v) for k, v in arrays.items()}
    if cell.bias:   # one bias of ours is the sum of torch's two (its gradient is either one's)
        fold = a["bias_ih"] if grads else a["bias_ih"] + a["bias_hh"]
    if kind == "rnn":
        out = {"W": a["weight_ih"].T, "U": a["weight_hh"].T}
        if cell.bias:
            out["b"] = fold
        return out
    out = {}
    for k, g in enumerate(GATES[kind]):
        rows = slice(k * H, (k + 1) * H)
        if kind == "lstm":              # h first, then x
            out["W_" + g] = np.concatenate([a["weight_hh"][rows].T, a["weight_ih"][rows].T])
            if cell.bias:
                out["b_" + g] = fold[rows]
        else:
            out["W_" + g], out["U_" + g] = a["weight_ih"][rows].T, a["weight_hh"][rows].T
            if cell.bias:
                out["b_i" + g], out["b_h" + g] = a["bias_ih"][rows], a["bias_hh"][rows]
    return out


def _cells(layer):
    """(prefix of our names, suffix of torch's, cell) for every cell, in torch's order."""
    for l, cell in enumerate(layer.cells):
        yield f"cells.{l}.", f"_l{l}", cell
        if layer.bidirectional:
            yield f"reverse_cells.{l}.", f"_l{l}_reverse", layer.reverse_cells[l]


def layer_to_torch(layer, grads: bool = False) -> dict[str, np.ndarray]:
    """A whole RNN/LSTM/GRU as torch's state_dict names: weight_ih_l0, ..., bias_hh_l1_reverse."""
    return {name + suffix: value for _, suffix, cell in _cells(layer)
            for name, value in cell_to_torch(cell, grads).items()}


def layer_from_torch(layer, arrays: dict, grads: bool = False) -> dict[str, np.ndarray]:
    """torch's state_dict (or gradients) of the equivalent torch layer, as our state_dict names."""
    out = {}
    for prefix, suffix, cell in _cells(layer):
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if cell.bias else ())
        missing = [n + suffix for n in names if n + suffix not in arrays]
        if missing:
            raise KeyError(f"torch_layout: {type(layer).__name__} '{layer.name}' needs "
                           f"{', '.join(missing)} (is the torch layer built with the same "
                           "num_layers, bias and bidirectional?)")
        mapped = cell_from_torch(cell, {n: arrays[n + suffix] for n in names}, grads)
        out.update({prefix + k: v for k, v in mapped.items()})
    return out


def load_from_torch(layer, arrays: dict) -> None:
    """Copy a torch layer's state_dict (as numpy arrays) into our `layer`."""
    layer.load_state_dict(layer_from_torch(layer, arrays))
