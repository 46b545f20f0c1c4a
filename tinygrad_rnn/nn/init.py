"""Initialisers, named as PyTorch's `torch.nn.init`: each fills a Tensor in place and returns it.

The choice of U matters for a recurrent net: ∂h_t/∂h_k = Π_{k<i<=t} diag(f'(a_i)) Uᵀ
has norm at most (γ ‖U‖₂)^(t-k) (γ = max f'), and for a linear RNN it ends up growing or
shrinking like ρ(U)^(t-k), ρ the spectral radius; the two agree when U is normal
(e.g. orthogonal or symmetric). Hence `eye_` (IRNN: U = I with ReLU, ρ = ‖U‖₂ = 1),
`orthogonal_` (every singular value 1) and `spectral_radius_` (choose ρ yourself; on an
orthogonal U it sets ‖U‖₂ too).

Every draw comes from the library generator, so `tg.manual_seed(0)` reproduces it.
Shapes follow the row convention: a weight is (fan_in, fan_out).

Rules, as PyTorch: an empty tensor (a size-0 axis) is left as it is (there is
nothing to fill: no fan, no QR); a random draw needs a float tensor (drawing into
an integer tensor would truncate every value to 0); a value an integer tensor
cannot hold exactly is refused rather than truncated.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import analysis
from ..rng import generator
from ..tensor import Tensor
from .checks import number


def _fill(t: Tensor, values, fname: str) -> Tensor:
    _tensor(t, fname)
    values = np.asarray(values)
    cast = values.astype(t.dtype)
    if t.dtype.kind != "f" and not np.array_equal(cast, values):
        raise ValueError(f"init.{fname}: the {t.dtype} tensor {t.shape} cannot hold these values "
                         "exactly (they would be truncated); fill a float tensor")
    t.data = cast.reshape(t.shape)
    return t


def _tensor(t, fname: str, random: bool = False) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"init.{fname}: expected a Tensor, got {type(t).__name__}")
    if random and t.dtype.kind != "f":
        raise TypeError(f"init.{fname}: needs a float tensor, got dtype {t.dtype} (shape {t.shape}); "
                        "random values drawn into an integer tensor would be truncated")


def _matrix(t: Tensor, fname: str) -> None:
    if not isinstance(t, Tensor) or t.ndim != 2:
        shape = getattr(t, "shape", type(t).__name__)
        raise ValueError(f"init.{fname}: needs a 2-D Tensor (a matrix), got {shape}")


def zeros_(t: Tensor) -> Tensor:
    return _fill(t, np.zeros(t.shape), "zeros_")


def ones_(t: Tensor) -> Tensor:
    return _fill(t, np.ones(t.shape), "ones_")


def constant_(t: Tensor, value: float) -> Tensor:
    return _fill(t, np.full(t.shape, number("init.constant_", "value", value)), "constant_")


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Every entry ~ U(a, b), a <= b."""
    _tensor(t, "uniform_", random=True)
    a, b = number("init.uniform_", "a", a), number("init.uniform_", "b", b)
    if not a <= b:
        raise ValueError(f"init.uniform_: needs a <= b (the range [a, b)), got a={a}, b={b}")
    return _fill(t, generator().uniform(a, b, t.shape), "uniform_")


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Every entry ~ N(mean, std²), std >= 0."""
    _tensor(t, "normal_", random=True)
    mean, std = number("init.normal_", "mean", mean), number("init.normal_", "std", std)
    if not std >= 0:
        raise ValueError(f"init.normal_: std must be >= 0, got {std}")
    return _fill(t, generator().normal(mean, std, t.shape), "normal_")


def eye_(t: Tensor) -> Tensor:
    """The identity (IRNN, Le et al. 2015): with U = I and ReLU, h_t = h_{t-1} + x_t W + b
    at init, so nothing vanishes or explodes through time."""
    _matrix(t, "eye_")
    return _fill(t, np.eye(*t.shape), "eye_")


def orthogonal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix, as torch: QR of a Gaussian, signs fixed so Q is uniform.

    Qᵀ Q = I: U preserves norms, so ‖h U‖ = ‖h‖ and ρ(U) = 1.
    """
    if not isinstance(t, Tensor) or t.ndim < 2:
        raise ValueError(f"init.orthogonal_: needs a Tensor with at least 2 dims, "
                         f"got {getattr(t, 'shape', type(t).__name__)}")
    _tensor(t, "orthogonal_", random=True)
    gain = number("init.orthogonal_", "gain", gain)
    if t.size == 0:
        return t                                # nothing to fill (torch: a no-op)
    rows, cols = t.shape[0], t.size // t.shape[0]
    a = generator().standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)                      # a = Q R
    q = q * np.sign(np.diag(r))                 # make diag(R) > 0: Q is then unique
    if rows < cols:
        q = q.T
    return _fill(t, gain * q, "orthogonal_")


def _fans(t: Tensor, fname: str) -> tuple[int, int]:
    if not isinstance(t, Tensor) or t.ndim < 2:
        raise ValueError(f"init.{fname}: fan in and fan out need a Tensor with at least 2 dims, "
                         f"got {getattr(t, 'shape', type(t).__name__)}")
    _tensor(t, fname, random=True)
    receptive = int(np.prod(t.shape[2:]))
    return t.shape[0] * receptive, t.shape[1] * receptive


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot: U(-a, a) with a = gain · √(6 / (fan_in + fan_out)), so Var = gain² · 2 / (fan_in + fan_out)."""
    fan_in, fan_out = _fans(t, "xavier_uniform_")
    gain = number("init.xavier_uniform_", "gain", gain)
    if t.size == 0:
        return t
    a = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return _fill(t, generator().uniform(-a, a, t.shape), "xavier_uniform_")


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot: N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t, "xavier_normal_")
    gain = number("init.xavier_normal_", "gain", gain)
    if t.size == 0:
        return t
    std = gain * np.sqrt(2.0 / (fan_in + fan_out))
    return _fill(t, generator().normal(0.0, std, t.shape), "xavier_normal_")


def spectral_radius(U) -> float:
    """Deprecated: the measurement lives in `tg.analysis.spectral_radius`."""
    warnings.warn("nn.init.spectral_radius moved to tg.analysis.spectral_radius", DeprecationWarning,
                  stacklevel=2)
    return analysis.spectral_radius(U)


def spectral_radius_(U: Tensor, rho: float) -> Tensor:
    """Scale U in place so that ρ(U) = rho: U <- U · rho / ρ(U).

    Eigenvalues scale with the matrix (λ(cU) = c λ(U)), so one rescaling is exact.
    ρ < 1 makes a linear RNN's ‖Π ∂h_i/∂h_{i-1}‖ shrink *eventually*; it guarantees
    vanishing at every distance only when U is normal (then ‖U‖₂ = ρ): U = [[0.9, 5],
    [0, 0.9]] has ρ = 0.9 and ‖U¹⁰‖₂ = 19.4. Scale an orthogonal U to control both.
    """
    if not isinstance(U, Tensor):
        raise TypeError(f"init.spectral_radius_: expected a Tensor, got {type(U).__name__}")
    value = number("init.spectral_radius_", "rho", rho)
    if not value >= 0:
        raise ValueError(f"init.spectral_radius_: rho must be >= 0, got {rho}")
    if value == np.inf:
        raise ValueError(f"init.spectral_radius_: rho must be finite, got {rho}")
    rho = value
    _tensor(U, "spectral_radius_", random=True)
    if U.size == 0 and U.ndim == 2 and U.shape[0] == U.shape[1]:
        return U                                # the 0 x 0 matrix: nothing to scale
    current = analysis.spectral_radius(U)
    if current == 0.0:
        raise ValueError(f"init.spectral_radius_: U {U.shape} has spectral radius 0 (a zero or "
                         "nilpotent matrix), so no scaling can reach rho; initialise it first "
                         "(e.g. normal_ or orthogonal_)")
    return _fill(U, U.data.astype(np.float64) * (rho / current), "spectral_radius_")
