def mean_settings(lr, threshold, B, T):
    n = B * T                        # cross_entropy's mean is over every one of the B·T rows
    return lr * n, threshold / n     # ∂J/∂θ = ∂E/∂θ / n: the step and the threshold scale with it
