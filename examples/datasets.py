"""Generated data sets for the examples: nothing is downloaded, everything comes from a seed.

- `adding_problem`: the long-memory benchmark of Hochreiter & Schmidhuber (1997), as
  used by Le et al. (2015) for the IRNN;
- `mackey_glass` and `sum_of_sines`: time series for one-step-ahead prediction;
- `captions`: synthetic "image feature" vectors and the sentences that describe them;
- `sum_sign` and `delayed_copy`: a many-to-one and a many-to-many toy task.

Every generator takes a `numpy.random.Generator`, so a script seeded once is
reproducible end to end.
"""

from __future__ import annotations

import numpy as np

# ---- the adding problem -----------------------------------------------------

ADDING_BASELINE = 1.0 / 6.0
"""MSE of always predicting 1.0: the target is a sum of two U(0, 1) draws, whose
mean is 1 and whose variance is 2 · 1/12 = 1/6 ≈ 0.167. A model that does not
find the two marked numbers cannot do better than this."""


def adding_problem(rng: np.random.Generator, batch: int, T: int, dtype=np.float32):
    """x (B, T, 2), y (B, 1): add the two numbers whose marker is 1.

    Channel 0 holds T numbers drawn from U(0, 1); channel 1 is 0 except at two
    positions, one in the first half and one in the second half of the sequence.
    The target is the sum of the two marked numbers. The first mark can be up to
    T - 1 steps before the end, where the prediction is read: a long memory test.
    """
    values = rng.random((batch, T))                          # (B, T)
    marks = np.zeros((batch, T))                             # (B, T)
    half = T // 2
    first = rng.integers(0, half, size=batch)                # (B,)  in the first half
    second = rng.integers(half, T, size=batch)               # (B,)  in the second half
    rows = np.arange(batch)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([values, marks], axis=-1)                   # (B, T, 2)
    y = (values[rows, first] + values[rows, second])[:, None]  # (B, 1)
    return x.astype(dtype), y.astype(dtype)


# ---- time series ------------------------------------------------------------

def mackey_glass(n: int, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1,
                 power: float = 10.0, dt: float = 0.1, sample_every: int = 10,
                 rng: np.random.Generator | None = None, discard: int = 300) -> np.ndarray:
    """n samples of the Mackey-Glass delay equation (chaotic for tau = 17):

        dx/dt = beta · x(t - tau) / (1 + x(t - tau)^power) - gamma · x(t)

    Euler steps of size dt, one sample kept every `sample_every` steps (one time
    unit by default). The first `discard` samples (the transient from the constant
    history) are dropped. `rng` jitters the initial history, so seeds differ.
    """
    lag = int(round(tau / dt))
    steps = (n + discard) * sample_every
    x = np.empty(steps + lag)
    x[:lag + 1] = 1.2 + (0.0 if rng is None else 0.1 * rng.random())   # constant history
    for k in range(lag, steps + lag - 1):
        delayed = x[k - lag]
        x[k + 1] = x[k] + dt * (beta * delayed / (1.0 + delayed ** power) - gamma * x[k])
    return x[lag::sample_every][discard:discard + n]


def sum_of_sines(n: int, rng: np.random.Generator, periods=(7.0, 13.0, 29.0)) -> np.ndarray:
    """A quasi-periodic series: a sum of sines with random phases and amplitudes."""
    t = np.arange(n)
    amps = rng.uniform(0.5, 1.0, len(periods))
    phases = rng.uniform(0, 2 * np.pi, len(periods))
    return sum(a * np.sin(2 * np.pi * t / p + ph) for a, p, ph in zip(amps, periods, phases))


# ---- synthetic captions (one-to-many) ---------------------------------------

COUNTS = ("one", "two", "three")
COLOURS = ("red", "green", "blue")
SHAPES = ("circle", "square", "star")
PLURALS = ("circles", "squares", "stars")
VOCAB = ("<start>", "<end>") + COUNTS + COLOURS + SHAPES + PLURALS
"""Token 0 starts every caption (the decoder's first input), token 1 ends it."""
START, END = 0, 1


def caption_features(rng: np.random.Generator, dim: int = 16) -> np.ndarray:
    """A fixed random "appearance" vector per concept: 3 counts, 3 colours, 3 shapes (9, dim).

    An image is the sum of the vectors of what it shows plus noise, the way a
    convolutional encoder's feature vector mixes what it has recognised.
    """
    return rng.normal(0.0, 1.0, (len(COUNTS) + len(COLOURS) + len(SHAPES), dim)) / np.sqrt(3)


def captions(rng: np.random.Generator, n: int, features: np.ndarray, noise: float = 0.3,
             dtype=np.float32):
    """n images (n, dim) and their captions (n, 5): <start> count colour shape(s) <end>.

    The image vector is features[count] + features[colour] + features[shape] +
    N(0, noise²): the caption is a function of the image, read off by the decoder.
    "one red star" but "two red stars": the third word depends on the first, so the
    decoder has to remember what it said.
    """
    count, colour, shape = (rng.integers(0, len(g), n) for g in (COUNTS, COLOURS, SHAPES))
    concepts = np.stack([count, len(COUNTS) + colour, len(COUNTS) + len(COLOURS) + shape], 1)
    images = features[concepts].sum(axis=1)                           # (n, dim)
    images = images + noise * rng.normal(size=images.shape)
    first = VOCAB.index(COUNTS[0])
    shape_word = np.where(count == 0, VOCAB.index(SHAPES[0]), VOCAB.index(PLURALS[0])) + shape
    caps = np.stack([np.full(n, START), first + count, first + len(COUNTS) + colour,
                     shape_word, np.full(n, END)], axis=1)
    return images.astype(dtype), caps.astype(np.int64)                # (n, dim), (n, 5)


def decode(tokens) -> str:
    """Token ids to words, stopping at <end>."""
    words = []
    for tok in tokens:
        if tok == END:
            break
        if tok != START:
            words.append(VOCAB[tok])
    return " ".join(words)


# ---- many-to-one and many-to-many toys --------------------------------------

def sum_sign(rng: np.random.Generator, n: int, T: int, dtype=np.float32):
    """x (n, T, 1) of N(0, 1) numbers, label 1 if their sum is positive, else 0."""
    x = rng.normal(size=(n, T, 1))
    return x.astype(dtype), (x.sum(axis=(1, 2)) > 0).astype(np.int64)


def delayed_copy(rng: np.random.Generator, n: int, T: int, delay: int, K: int):
    """Tokens (n, T) in [0, K) and targets (n, T): target_t = token_{t - delay}.

    The first `delay` targets have nothing to copy yet; they are K (a "blank"
    class), so every step still has a label.
    """
    tokens = rng.integers(0, K, (n, T))
    targets = np.full((n, T), K)
    targets[:, delay:] = tokens[:, :T - delay]
    return tokens.astype(np.int64), targets.astype(np.int64)
