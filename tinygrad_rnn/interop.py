"""Models between PyTorch and tinygrad_rnn in one call: `from_torch` and `to_torch`.

    lstm = tg.interop.from_torch(torch.nn.LSTM(3, 8, num_layers=2, batch_first=True))
    back = tg.interop.to_torch(lstm)          # a torch.nn.LSTM holding the same numbers
    tg.interop.copy_from_torch(our_model, torch_model)   # same model written twice: match by name

Both build the equivalent layer (same sizes, options and dtype) and copy the
weights, mapped between the two layouts:

- Linear: torch stores weight (out, in) and computes x Wᵀ + b; ours is W (in, out),
  y = x W + b (row convention), so the weight is transposed.
- Embedding, LayerNorm, BatchNorm1d: the same arrays (BatchNorm1d's running statistics too).
- Dropout: its p (no weights).
- RNN, LSTM, GRU and their cells: gates stacked and transposed, LSTM gate order i, f, g, o against
  the course's f, i, C̃, o on [h, x], two biases folded into one: see `nn.torch_layout`,
  the one place that mapping lives. The layer keeps torch's state layout
  (``state_layout="torch"``: states (num_layers·directions, B, H)), so the outputs
  match torch's exactly.

torch is imported only when `to_torch` is called (an optional dependency: nothing
else in the package imports it). Options we do not have (Embedding's padding_idx,
LSTM's proj_size, ...) are refused with their name, never dropped.
"""

from __future__ import annotations

import numpy as np

from . import nn
from .nn import torch_layout


def _numpy(t) -> np.ndarray:
    """A torch tensor's values as a numpy array of its dtype (a copy, detached)."""
    return t.detach().cpu().numpy().copy()


def _refuse(module, **options_at_default) -> None:
    """Raise if a torch module uses an option we do not have (name -> its harmless value)."""
    used = {k: getattr(module, k) for k, off in options_at_default.items()
            if getattr(module, k, off) != off}
    if used:
        raise ValueError(f"from_torch: {type(module).__name__} uses {used}, which tinygrad_rnn's "
                         f"layer does not have; build it without {', '.join(used)}")


def from_torch(module) -> nn.Module:
    """The tinygrad_rnn layer equivalent to a torch.nn Linear, Embedding, LayerNorm, BatchNorm1d,
    Dropout, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, an activation (ReLU, Tanh, Sigmoid, Softmax,
    LogSoftmax) or a Sequential of them."""
    kind = type(module).__name__
    if kind not in _BUILD:
        raise TypeError(f"from_torch: cannot convert a {kind}; supported: {sorted(_BUILD)} (for a "
                        "model of your own, write it with tinygrad_rnn's layers and copy the "
                        "weights with copy_from_torch(ours, theirs))")
    ours = _BUILD[kind](module)
    copy_from_torch(ours, module)
    return ours


def copy_from_torch(ours: nn.Module, theirs) -> nn.Module:
    """Copy a torch module's weights into the same model written with tinygrad_rnn.

    A supported layer is mapped directly; any other module is matched child by child
    through its attribute names (``ours.lstm`` <- ``theirs.lstm``), so a model class
    written twice with the same attribute names converts in one call. The train/eval
    mode is copied too.
    """
    kind = type(theirs).__name__
    if kind in _STATE:
        if type(ours).__name__ != kind:
            raise TypeError(f"copy_from_torch: torch's {kind} cannot be copied into a "
                            f"{type(ours).__name__}")
        ours.load_state_dict(_STATE[kind](ours, theirs))
    else:
        children = [(k, v) for k, v in ours.named_children() if isinstance(v, nn.Module)]
        if not children:
            raise TypeError(f"copy_from_torch: cannot copy a torch {kind} into a {type(ours).__name__}")
        for name, child in children:
            if not hasattr(theirs, name):
                raise AttributeError(f"copy_from_torch: our model has a layer '{name}' "
                                     f"({type(child).__name__}) that the torch {kind} does not")
            copy_from_torch(child, getattr(theirs, name))
    ours.train(theirs.training)
    return ours


_ACTIVATIONS = ("ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax")


def _linear_build(m):
    return nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=_numpy(m.weight).dtype)


def _linear_state(ours, m):
    state = {"weight": _numpy(m.weight).T}                        # (out, in) -> (in, out)
    return state if m.bias is None else {**state, "bias": _numpy(m.bias)}


def _embedding_build(m):
    _refuse(m, padding_idx=None, max_norm=None, scale_grad_by_freq=False, sparse=False)
    return nn.Embedding(m.num_embeddings, m.embedding_dim, dtype=_numpy(m.weight).dtype)


def _layernorm_build(m):
    if not m.elementwise_affine or m.bias is None:
        raise ValueError("from_torch: LayerNorm without elementwise_affine (or bias) is not "
                         "supported; tinygrad_rnn's LayerNorm always has weight and bias")
    return nn.LayerNorm(m.normalized_shape, eps=m.eps, dtype=_numpy(m.weight).dtype)


def _batchnorm_build(m):
    _refuse(m, affine=True, track_running_stats=True)
    if m.momentum is None:
        raise ValueError("from_torch: BatchNorm1d with momentum=None (a cumulative average) is not "
                         "supported; tinygrad_rnn's BatchNorm1d keeps an exponential one")
    return nn.BatchNorm1d(m.num_features, eps=m.eps, momentum=m.momentum, dtype=_numpy(m.weight).dtype)


def _same_state(ours, m):
    return {k: _numpy(v) for k, v in m.state_dict().items()}


def _make(library, m, **options):
    """library.<same class name>(input_size, hidden_size, **options), with the nonlinearity of
    an RNN or RNNCell: the one constructor call both directions share."""
    kind = type(m).__name__
    if kind.startswith("RNN"):
        options["nonlinearity"] = m.nonlinearity
    return getattr(library, kind)(m.input_size, m.hidden_size, **options)


def _recurrent_build(m):
    """Same sizes and options; torch's state layout, so the outputs match torch's exactly."""
    _refuse(m, proj_size=0)
    return _make(nn, m, num_layers=m.num_layers, dtype=_numpy(m.weight_ih_l0).dtype, bias=m.bias,
                 batch_first=m.batch_first, dropout=m.dropout, bidirectional=m.bidirectional,
                 state_layout="torch")


def _recurrent_state(ours, m):
    return torch_layout.layer_from_torch(ours, _same_state(ours, m))


def _cell_build(m):
    return _make(nn, m, bias=m.bias, dtype=_numpy(m.weight_ih).dtype)


def _cell_state(ours, m):
    return torch_layout.cell_from_torch(ours, _same_state(ours, m))


def _dropout_build(m):
    return nn.Dropout(m.p)


def _sequential_build(m):
    return nn.Sequential(*[from_torch(layer) for layer in m])


def _activation_build(m):
    kind = type(m).__name__
    if "Softmax" in kind:
        return getattr(nn, kind)(m.dim if m.dim is not None else -1)
    return getattr(nn, kind)()


def _no_state(ours, m):
    return {}


_BUILD = {"Linear": _linear_build, "Embedding": _embedding_build, "LayerNorm": _layernorm_build,
          "RNN": _recurrent_build, "LSTM": _recurrent_build, "GRU": _recurrent_build,
          "RNNCell": _cell_build, "LSTMCell": _cell_build, "GRUCell": _cell_build, "Dropout": _dropout_build,
          "BatchNorm1d": _batchnorm_build, "Sequential": _sequential_build,
          **dict.fromkeys(_ACTIVATIONS, _activation_build)}
_STATE = {"Linear": _linear_state, "Embedding": _same_state, "LayerNorm": _same_state,
          "RNN": _recurrent_state, "LSTM": _recurrent_state, "GRU": _recurrent_state,
          "RNNCell": _cell_state, "LSTMCell": _cell_state, "GRUCell": _cell_state, "Dropout": _no_state,
          "BatchNorm1d": _same_state, **dict.fromkeys(_ACTIVATIONS, _no_state)}


def to_torch(module):
    """The torch.nn module equivalent to one of ours (imports torch, which must be installed)."""
    try:
        import torch
    except ImportError as e:
        raise ImportError("to_torch needs PyTorch, an optional dependency: pip install torch") from e
    kind = type(module).__name__
    build = _TO.get(kind)
    if build is None:
        raise TypeError(f"to_torch: cannot convert a {kind}; supported: {sorted(_TO)}")
    params = module.parameters()
    dtype = getattr(torch, np.dtype(params[0].dtype).name) if params else None
    theirs, state = build(torch, module, dtype)
    if state is not None:            # a Sequential's layers were converted with their weights
        theirs.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    theirs.train(module.training)
    return theirs


def _linear_to(torch, m, dtype):
    state = {"weight": m.weight.data.T}
    if m.bias is not None:
        state["bias"] = m.bias.data
    return torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=dtype), state


def _embedding_to(torch, m, dtype):
    return torch.nn.Embedding(m.num_embeddings, m.embedding_dim, dtype=dtype), m.state_dict()


def _layernorm_to(torch, m, dtype):
    return torch.nn.LayerNorm(m.normalized_shape, eps=m.eps, dtype=dtype), m.state_dict()


def _recurrent_to(torch, m, dtype):
    theirs = _make(torch.nn, m, num_layers=m.num_layers, bias=m.cells[0].bias, batch_first=m.batch_first,
                   dropout=m.dropout, bidirectional=m.bidirectional, dtype=dtype)
    return theirs, torch_layout.layer_to_torch(m)


def _cell_to(torch, m, dtype):
    return _make(torch.nn, m, bias=m.bias, dtype=dtype), torch_layout.cell_to_torch(m)


def _batchnorm_to(torch, m, dtype):
    theirs = torch.nn.BatchNorm1d(m.num_features, eps=m.eps, momentum=m.momentum, dtype=dtype)
    return theirs, m.state_dict()          # the same names: weight, bias and the three buffers


_TO = {"Linear": _linear_to, "Embedding": _embedding_to, "LayerNorm": _layernorm_to,
       "RNN": _recurrent_to, "LSTM": _recurrent_to, "GRU": _recurrent_to,
       "RNNCell": _cell_to, "LSTMCell": _cell_to, "GRUCell": _cell_to,
       "Dropout": lambda torch, m, dtype: (torch.nn.Dropout(m.p), {}),
       "BatchNorm1d": _batchnorm_to,
       "Sequential": lambda torch, m, dtype: (torch.nn.Sequential(*[to_torch(layer) for layer in m]), None),
       **{k: (lambda torch, m, dtype: (_activation_to(torch, m), {})) for k in _ACTIVATIONS}}


def _activation_to(torch, m):
    kind = type(m).__name__
    return getattr(torch.nn, kind)(dim=m.axis) if "Softmax" in kind else getattr(torch.nn, kind)()
