def batch_norm(x, weight, bias, running_mean, running_var, momentum, eps):
    N = x.shape[0]
    mu = x.mean(axis=0, keepdims=True)                       # (1, C): μ_B, through Tensor ops
    xc = x - mu                                              # (N, C)
    var = (xc * xc).mean(axis=0, keepdims=True)              # (1, C): biased σ²_B
    y = xc * (var + eps) ** -0.5 * weight + bias             # (N, C)
    new_mean = (1 - momentum) * running_mean + momentum * mu.data[0]
    new_var = (1 - momentum) * running_var + momentum * var.data[0] * N / (N - 1)   # unbiased
    return y, new_mean, new_var
