"""tinygrad_rnn: a teaching autograd engine on numpy, where BPTT falls out of backward().

    import tinygrad_rnn as tg
    x = tg.Tensor(np.random.randn(4, 3), requires_grad=True)
    (x @ tg.Tensor(np.ones((3, 2)))).tanh().sum().backward()   # x.grad: (4, 3)
"""

from . import analysis, interop, memory, nn, optim, rng, viz
from .checkpoint import CheckpointError, load, save
from .compile import CompileError, compile
from .context import (
                      detect_anomaly,
                      enable_grad,
                      get_default_dtype,
                      is_grad_enabled,
                      no_grad,
                      record_edge_grads,
                      scope,
                      set_default_dtype,
)
from .errors import AnomalyError, GraphError, InplaceModificationError, ShapeError, ValuesFreedError
from .factories import (
                      arange,
                      float32,
                      float64,
                      full,
                      int64,
                      ones,
                      ones_like,
                      rand,
                      randint,
                      randn,
                      randn_like,
                      tensor,
                      zeros,
                      zeros_like,
)
from .gradcheck import GradcheckError, GradcheckUndecidable, gradcheck
from .monitor import (
    GradientExplosionError,
    GradientExplosionWarning,
    GradientMonitor,
    StateGradientMonitor,
    VanishingGradientWarning,
)
from .rng import manual_seed
from .tensor import Tensor, cat, stack

__version__ = "0.1.0"

__all__ = [
    "Tensor", "cat", "stack", "tensor", "zeros", "ones", "full", "arange", "randn", "rand", "randint",
    "zeros_like", "ones_like", "randn_like", "float32", "float64", "int64",
    "no_grad", "enable_grad", "is_grad_enabled", "scope",
    "detect_anomaly", "record_edge_grads", "set_default_dtype", "get_default_dtype",
    "gradcheck", "GradcheckError", "GradcheckUndecidable", "ShapeError", "GraphError",
    "InplaceModificationError", "AnomalyError", "ValuesFreedError", "manual_seed", "nn", "optim", "viz",
    "analysis", "interop", "memory",
    "save", "load", "CheckpointError", "compile", "CompileError",
    "GradientMonitor", "GradientExplosionError", "GradientExplosionWarning",
    "StateGradientMonitor", "VanishingGradientWarning",
]


def __getattr__(name):
    if name == "random":      # the module was renamed: a package module called random shadows the stdlib's
        import warnings
        warnings.warn("tinygrad_rnn.random is now tinygrad_rnn.rng (tg.manual_seed is unchanged)",
                      DeprecationWarning, stacklevel=2)
        return rng
    raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")
