import numpy as np

import tinygrad_rnn as tg


def loss(inputs, targets, p):
    h = tg.Tensor(np.zeros((1, p["U"].shape[0])))
    E = 0
    for t in range(len(inputs)):
        h = (p["W"][np.array([inputs[t]])] + h @ p["U"] + p["b"]).tanh()     # (1, H)
        E = E - (h @ p["V"] + p["c"]).log_softmax(axis=-1)[0, int(targets[t])]
    return E
