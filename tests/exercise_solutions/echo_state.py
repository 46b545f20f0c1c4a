import numpy as np


def fit_readout(x, y, W, U, washout, ridge):
    h, rows = np.zeros(U.shape[0]), []
    for x_t in x:                                    # the reservoir, forward only
        h = np.tanh(x_t @ W + h @ U)
        rows.append(h)
    S, Y = np.array(rows)[washout:], y[washout:]     # (T - washout, H), (T - washout, O)
    return np.linalg.solve(S.T @ S + ridge * np.eye(S.shape[1]), S.T @ Y)   # (H, O)
