"""The losses as modules, as PyTorch's `nn.CrossEntropyLoss`, `nn.NLLLoss`, `nn.MSELoss`.

Each keeps its options and calls the function in `functional`: ``loss_fn =
nn.CrossEntropyLoss(ignore_index=0); loss = loss_fn(logits, targets)``. They have
no parameters (a class weight is a constant, not trained).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module


def _constant(weight):
    return None if weight is None else np.array(weight.data if isinstance(weight, Tensor) else weight)


class CrossEntropyLoss(Module):
    """``F.cross_entropy(logits, targets, weight, ignore_index, reduction, label_smoothing)``."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        F._check_options("CrossEntropyLoss", reduction, label_smoothing)
        self.weight, self.ignore_index = _constant(weight), ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input, target) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, " \
               f"label_smoothing={self.label_smoothing}"


class NLLLoss(Module):
    """``F.nll_loss(log_probs, targets, weight, ignore_index, reduction)``."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        F._check_options("NLLLoss", reduction)
        self.weight, self.ignore_index, self.reduction = _constant(weight), ignore_index, reduction

    def forward(self, input, target) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MSELoss(Module):
    """``F.mse_loss(input, target, reduction)``."""

    def __init__(self, reduction: str = "mean"):
        F._check_options("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, input, target) -> Tensor:
        return F.mse_loss(input, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
