"""numpy's and PyTorch's argument names, translated in one place.

Every function that takes numpy's ``axis`` / ``keepdims`` also takes PyTorch's
``dim`` / ``keepdim``: ``x.sum(dim=1, keepdim=True)`` is ``x.sum(axis=1, keepdims=True)``,
``tg.cat(xs, dim=0)``, ``x.softmax(dim=-1)``. The decorator below renames the
torch spelling before the function runs, so each function is written once, in
numpy's names. Giving both spellings of one argument is an error.
"""

from __future__ import annotations

import functools

_TORCH_TO_NUMPY = {"dim": "axis", "keepdim": "keepdims"}


def numpy_names(kwargs: dict, fname: str) -> dict:
    """kwargs with dim -> axis and keepdim -> keepdims (refusing both spellings at once)."""
    for torch_name, numpy_name in _TORCH_TO_NUMPY.items():
        if torch_name in kwargs:
            if numpy_name in kwargs:
                raise TypeError(f"{fname}: got both {numpy_name}= and {torch_name}= (the same "
                                f"argument in numpy's and PyTorch's spelling); pass one")
            kwargs[numpy_name] = kwargs.pop(torch_name)
    return kwargs


def accepts_dim(fn):
    """Let `fn` (written with axis/keepdims) be called with dim/keepdim too."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "dim" in kwargs or "keepdim" in kwargs:
            kwargs = numpy_names(kwargs, fn.__name__)
        return fn(*args, **kwargs)
    return wrapper
