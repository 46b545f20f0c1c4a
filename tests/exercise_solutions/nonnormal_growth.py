import numpy as np


def make_U():
    """Eigenvalues 0.9 and 0.9 (triangular), but the off-diagonal 5 feeds unit 1 into unit 2."""
    return np.array([[0.9, 5.0], [0.0, 0.9]])
