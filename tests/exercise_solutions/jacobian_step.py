import numpy as np


def jacobian(h_t, U):
    """∂h_t/∂h_{t-1} = diag(1 - h_t²) Uᵀ: row j scales column j of U by 1 - h_t[j]²."""
    return np.diag(1 - h_t ** 2) @ U.T
