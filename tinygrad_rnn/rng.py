"""One seedable random generator for every initialiser, dropout mask and example.

(Named rng.py, not random.py: a module called `random` would shadow the standard
library for any script run from inside the package folder.)

`tg.manual_seed(0)` makes a whole script reproducible, as `torch.manual_seed` does.
"""

from __future__ import annotations

import numpy as np

_GENERATOR = [np.random.default_rng(0)]


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the library's generator; returns it."""
    _GENERATOR[0] = np.random.default_rng(seed)
    return _GENERATOR[0]


def generator() -> np.random.Generator:
    """The generator initialisers and dropout draw from."""
    return _GENERATOR[0]
