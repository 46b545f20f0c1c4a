import numpy as np

import tinygrad_rnn as tg


def omega(hs, grads, U):
    total = tg.Tensor(0.0)
    for k in range(len(hs) - 1):
        g = tg.Tensor(grads[k + 1])                           # ∂E/∂h_{k+1}, held constant
        h = hs[k + 1]
        back = (g * (1 - h * h)) @ U.T                        # (B, H): one step back
        ratio = (back * back).sum(axis=-1).sqrt() / np.linalg.norm(grads[k + 1], axis=-1)
        total = total + ((ratio - 1) ** 2).sum()
    return total
