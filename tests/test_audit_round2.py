"""A misuse audit: what a student coming from PyTorch does, and where the engine answered wrongly
without a word.

The rule: misuse either works as PyTorch 2.13 would or stops with a clear error naming the
op, the shapes and where in the graph. One test per finding, named for the behaviour; torch
(CPU, float64) is the oracle where it has the API. Tolerances are stated; floats are never
compared with ==.
"""

from __future__ import annotations

import numpy as np
import torch

from tinygrad_rnn import Tensor

TOL = dict(rtol=1e-12, atol=1e-12)



# ---- numpy functions on a Tensor ---------------------------------------------------------
def test_numpy_functions_on_a_tensor_see_its_numbers_not_an_object_array():
    """np.asarray(t), np.stack([t, t]), np.where(..., t, 0) made object arrays of 0-d Tensors
    (numpy iterated the tensor): np.asarray(torch_tensor) gives the numbers."""
    A = np.arange(6.0).reshape(2, 3)
    t, tt = Tensor(A.copy(), requires_grad=True), torch.tensor(A.copy())
    for ours, theirs in [(np.asarray(t), np.asarray(tt)),
                         (np.array(t, dtype=np.float32), A.astype(np.float32)),
                         (np.stack([t, t]), np.stack([tt, tt])),
                         (np.concatenate([t, t]), np.concatenate([tt, tt])),
                         (np.where(A > 2, t, 0.0), np.where(A > 2, tt, 0.0))]:
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, **TOL)
    assert np.allclose(t, A) and not np.allclose(t, A + 1)
    np.testing.assert_allclose(np.linalg.norm(t), np.linalg.norm(A), **TOL)


