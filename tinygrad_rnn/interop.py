"""Models between PyTorch and tinygrad_rnn in one call: `from_torch` and `to_torch`.

    lstm = tg.interop.from_torch(torch.nn.LSTM(3, 8, num_layers=2, batch_first=True))
    back = tg.interop.to_torch(lstm)          # a torch.nn.LSTM holding the same numbers

Both build the equivalent layer (same sizes, options and dtype) and copy the
weights, mapped between the two layouts:

- Linear: torch stores weight (out, in) and computes x Wᵀ + b; ours is W (in, out),
  y = x W + b (row convention), so the weight is transposed.
- Embedding, LayerNorm: the same arrays.
- RNN, LSTM, GRU: gates stacked and transposed, LSTM gate order i, f, g, o against
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
    """The tinygrad_rnn layer equivalent to a torch.nn.Linear, Embedding, LayerNorm, RNN, LSTM or GRU."""
    kind = type(module).__name__
    build = _FROM.get(kind)
    if build is None:
        raise TypeError(f"from_torch: cannot convert a {kind}; supported: {sorted(_FROM)} "
                        "(convert each layer of a custom model, then assemble it)")
    ours = build(module)
    ours.train(module.training)
    return ours


def _linear_from(m):
    w = _numpy(m.weight)                                          # (out, in)
    ours = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=w.dtype)
    ours.weight.data = w.T.copy()                                 # (in, out)
    if m.bias is not None:
        ours.bias.data = _numpy(m.bias)
    return ours


def _embedding_from(m):
    _refuse(m, padding_idx=None, max_norm=None, scale_grad_by_freq=False, sparse=False)
    w = _numpy(m.weight)
    ours = nn.Embedding(m.num_embeddings, m.embedding_dim, dtype=w.dtype)
    ours.weight.data = w
    return ours


def _layernorm_from(m):
    if not m.elementwise_affine or m.bias is None:
        raise ValueError("from_torch: LayerNorm without elementwise_affine (or bias) is not "
                         "supported; tinygrad_rnn's LayerNorm always has weight and bias")
    w = _numpy(m.weight)
    ours = nn.LayerNorm(m.normalized_shape, eps=m.eps, dtype=w.dtype)
    ours.weight.data, ours.bias.data = w, _numpy(m.bias)
    return ours


_FROM = {"Linear": _linear_from, "Embedding": _embedding_from, "LayerNorm": _layernorm_from}


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
    dtype = getattr(torch, np.dtype(module.parameters()[0].dtype).name)
    theirs = build(torch, module, dtype)
    theirs.train(module.training)
    return theirs


def _linear_to(torch, m, dtype):
    theirs = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=dtype)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(m.weight.data.T.copy()))
        if m.bias is not None:
            theirs.bias.copy_(torch.from_numpy(m.bias.data))
    return theirs


def _embedding_to(torch, m, dtype):
    theirs = torch.nn.Embedding(m.num_embeddings, m.embedding_dim, dtype=dtype)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(m.weight.data))
    return theirs


def _layernorm_to(torch, m, dtype):
    theirs = torch.nn.LayerNorm(m.normalized_shape, eps=m.eps, dtype=dtype)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(m.weight.data))
        theirs.bias.copy_(torch.from_numpy(m.bias.data))
    return theirs


_TO = {"Linear": _linear_to, "Embedding": _embedding_to, "LayerNorm": _layernorm_to}
