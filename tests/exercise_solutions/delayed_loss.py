from tinygrad_rnn.nn import functional as F


def delayed_loss(logits, targets, delay):
    B, T, K = logits.shape
    scored = logits[:, delay:]                                   # (B, T - d, K): steps d+1..T
    return F.cross_entropy(scored.reshape(B * (T - delay), K), targets.reshape(-1))
