"""The feed-forward layers: Linear, Embedding, Dropout, LayerNorm.

Each is a few primitive ops. Row-vector convention, as in the course:
a batch of inputs is a stack of rows x (B, D), and a layer multiplies on the right.
"""

from __future__ import annotations

import math

import numpy as np

from ..context import _CAPTURE, current_scope, get_default_dtype
from ..errors import ShapeError, where
from ..memory import free_unread, pass_start
from ..rng import generator
from ..tensor import Tensor
from . import checks
from .module import Module, Parameter


class Linear(Module):
    """y = x W + b, with W (in, out) and b (out,): PyTorch's `nn.Linear`, rows on the left.

    PyTorch stores the transpose (out, in) and computes x Wᵀ + b; here the weight
    reads in the order the data flows, like W and U in h_t = tanh(x_t W + h_{t-1} U + b).
    Init as PyTorch: every entry ~ U(-1/√in, 1/√in), bias included.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        in_features = checks.size("Linear", "in_features", in_features)
        out_features = checks.size("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        dtype = np.dtype(dtype or get_default_dtype())
        bound = 1.0 / np.sqrt(in_features) if in_features else 0.0   # torch: bias 0 when in = 0
        rng = generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}): input of shape "
                             f"{x.shape} must end in {self.in_features} features"
                             f"{where(current_scope())}")
        if self.bias is None:
            return x @ self.weight                   # (..., out)
        nbytes = math.prod(x.shape[:-1]) * self.out_features * self.weight.dtype.itemsize
        since = pass_start(nbytes)                   # record_edge_grads(False): see memory.py
        out = x @ self.weight + self.bias
        # x W's values: no rule reads them (matmul's VJP reads its inputs, add's nothing), and only
        # `out` reaches the caller. Freed, a long unroll's readout (B=1, T=10,000, H=K=32, f64)
        # peaks at 3.59 KB a step instead of 3.84, measured.
        free_unread((out,), since)
        return out

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of `weight` (num, dim) is the vector of token i.

    ``emb(idx)`` is ``weight[idx]``, the getitem primitive, so the gradient is
    scattered back with np.add.at: a token seen twice gets both contributions.
    Equivalent to one_hot(idx) @ weight, without building the one-hot matrix.
    Init as PyTorch: N(0, 1).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=None):
        num_embeddings = checks.size("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = checks.size("Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(generator().standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, idx) -> Tensor:
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype} "
                            f"(shape {idx.shape}){where(current_scope())}; use .astype(np.int64)")
        bad = idx[(idx < 0) | (idx >= self.num_embeddings)]
        if bad.size:
            raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): indices "
                             f"{bad[:5].tolist()} are outside [0, {self.num_embeddings - 1}] "
                             f"(indices of shape {idx.shape}){where(current_scope())}; the table "
                             "needs a row per token: num_embeddings > the largest index")
        return self.weight[idx]                     # (*idx.shape, dim)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Inverted dropout: y = x · m / (1 - p), m_i ~ Bernoulli(1 - p), in training only.

    Dividing by 1 - p keeps E[y] = x, so eval() can be the identity.
    The mask comes from the library generator: `tg.manual_seed` reproduces it.
    """

    def __init__(self, p: float = 0.5):
        self.p = checks.probability("Dropout", "p", p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        return x * self.mask(x.shape, x.dtype)

    def mask(self, shape, dtype) -> np.ndarray:
        """What forward multiplies by: m / (1 - p), m_i ~ Bernoulli(1 - p) (0 where p = 1)."""
        if self.p == 1.0:
            return np.zeros(shape, dtype)
        keep = generator().random(shape) >= self.p
        return (keep / (1.0 - self.p)).astype(dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm(Module):
    """Normalise each row over its last dims, then scale and shift:

        μ = mean(x),  σ² = mean((x - μ)²),  y = (x - μ) / √(σ² + ε) · weight + bias

    Composed from primitives (mean, sub, mul, pow), so backward() needs no new rule.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, dtype=None):
        shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) \
            else tuple(normalized_shape)
        shape = tuple(checks.size("LayerNorm", "normalized_shape", n) for n in shape)
        eps = checks.number("LayerNorm", "eps", eps)
        self.normalized_shape, self.eps = shape, eps
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.ones(shape, dtype=dtype))
        self.bias = Parameter(np.zeros(shape, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if x.shape[x.ndim - n:] != self.normalized_shape or x.ndim < n:
            raise ShapeError(f"LayerNorm{self.normalized_shape}: input of shape {x.shape} must "
                             f"end in {self.normalized_shape}{where(current_scope())}")
        axes = tuple(range(x.ndim - n, x.ndim))
        mu = x.mean(axis=axes, keepdims=True)          # (..., 1)
        xc = x - mu                                    # (..., *shape)
        var = (xc * xc).mean(axis=axes, keepdims=True)  # (..., 1)
        return xc * (var + self.eps) ** -0.5 * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class BatchNorm1d(Module):
    """Normalise each feature over the batch (and length), then scale and shift, as PyTorch:

        training:  μ_B = mean over (N[, L]),  σ²_B = mean((x - μ_B)²)
                   y = (x - μ_B)/√(σ²_B + ε) · weight + bias
                   running_mean ← (1 - m) running_mean + m μ_B,
                   running_var  ← (1 - m) running_var  + m σ²_B · n/(n - 1)   (unbiased), m = momentum
        eval():    y = (x - running_mean)/√(running_var + ε) · weight + bias

    Input (N, C) or (N, C, L). Composed from primitives, so backward() needs no new rule;
    in training the gradient flows through μ_B and σ²_B too (every row depends on the
    whole batch). In an RNN the statistics would have to be kept per time step, and at
    sampling time the batch is one sequence: see docs/remedies.md (batch normalisation).
    The running statistics and num_batches_tracked (training batches seen) are buffers:
    numpy arrays in state_dict(), restored by load_state_dict(), never trained.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=None):
        self.num_features = checks.size("BatchNorm1d", "num_features", num_features)
        self.eps = checks.number("BatchNorm1d", "eps", eps)
        self.momentum = checks.probability("BatchNorm1d", "momentum", momentum)
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))   # (C,)
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))     # (C,)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))    # ()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ShapeError(f"BatchNorm1d({self.num_features}): input of shape {x.shape} must be "
                             f"(N, {self.num_features}) or (N, {self.num_features}, L)"
                             f"{where(current_scope())}")
        axes = (0,) if x.ndim == 2 else (0, 2)
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)          # broadcast over N (and L)
        if self.training:
            _not_under_compile(self)
            n = x.size // self.num_features
            if n < 2:
                raise ValueError(f"BatchNorm1d({self.num_features}): training needs more than one "
                                 f"value per feature to estimate a variance, got input {x.shape}; "
                                 "use eval() (running statistics) or LayerNorm for one sample")
            mu = x.mean(axis=axes, keepdims=True)                      # (1, C[, 1])
            xc = x - mu
            var = (xc * xc).mean(axis=axes, keepdims=True)             # (1, C[, 1]) biased
            m = self.momentum
            dt = self.running_mean.dtype
            self.running_mean = ((1 - m) * self.running_mean + m * mu.data.reshape(-1)).astype(dt)
            unbiased = var.data.reshape(-1) * n / (n - 1)
            self.running_var = ((1 - m) * self.running_var + m * unbiased).astype(dt)
            self.num_batches_tracked = self.num_batches_tracked + 1
            y = xc * (var + self.eps) ** -0.5
        else:
            mean = Tensor(self.running_mean.reshape(shape))
            inv_std = Tensor((self.running_var.reshape(shape) + self.eps) ** -0.5)
            y = (x - mean) * inv_std
        return y * self.weight.reshape(shape) + self.bias.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def _not_under_compile(bn: BatchNorm1d) -> None:
    """In training, BatchNorm1d updates its running statistics from each batch's values: numpy
    work a tg.compile replay does not repeat (they would stay those of the first batch)."""
    if _CAPTURE.get() is not None:
        from ..compile import CompileError  # here: compile.py imports the nn package
        raise CompileError(f"tg.compile: BatchNorm1d({bn.num_features}) in training mode updates its "
                           "running statistics inside the step, which a replay cannot repeat; run this "
                           "step eagerly, or call eval() to use (not update) them")
