import numpy as np


def clip(grads, threshold):
    total = np.sqrt(sum((g ** 2).sum() for g in grads))      # ‖g‖ over all parameters together
    if total <= threshold:
        return [g.copy() for g in grads]
    return [g * (threshold / total) for g in grads]
