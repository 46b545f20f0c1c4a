"""Argument checks shared by the layers and initialisers, with PyTorch's rules.

A size is a Python or numpy integer (never a bool, a float or a string); a layer's
feature sizes must be >= 0 (``nn.Linear(0, 3)`` is a valid layer that outputs its
bias, as in PyTorch), a recurrent layer's sizes > 0 (PyTorch refuses
``nn.RNN(3, 0)`` too). A probability is a real number in [0, 1].
"""

from __future__ import annotations

import numbers


def size(owner: str, name: str, value, minimum: int = 0) -> int:
    """`value` as an int, or a TypeError/ValueError naming the layer and the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be {'>= 0' if minimum == 0 else f'>= {minimum}'}, "
                         f"got {value}")
    return int(value)


def number(owner: str, name: str, value) -> float:
    """`value` as a float: a real number, not a string, a bool or an array."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def probability(owner: str, name: str, value) -> float:
    p = number(owner, name, value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner}: {name} must be a probability in [0, 1], got {value}")
    return p
