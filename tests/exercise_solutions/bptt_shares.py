import numpy as np


def dE_dW(x, targets, W, U, V):
    """S_k = x_kᵀ δ_k, δ_k = (∂E/∂h_k) ∘ (1 - h_k²), ∂E/∂h_k = (y_k - onehot_k) Vᵀ + δ_{k+1} Uᵀ."""
    T = len(x)
    hs = [np.zeros(U.shape[0])]
    for t in range(T):
        hs.append(np.tanh(x[t] @ W + hs[-1] @ U))
    shares, delta_next = [None] * T, np.zeros(U.shape[0])
    for t in reversed(range(T)):
        y = np.exp(hs[t + 1] @ V)
        y /= y.sum()
        y[targets[t]] -= 1                            # ∂E_t/∂(h_t V) = y_t - onehot(target_t)
        dh = y @ V.T + delta_next @ U.T               # ∂E/∂h_t: the readout and the future
        delta = dh * (1 - hs[t + 1] ** 2)             # δ_t = ∂E/∂a_t
        shares[t] = np.outer(x[t], delta)             # (D, H)
        delta_next = delta
    return shares
