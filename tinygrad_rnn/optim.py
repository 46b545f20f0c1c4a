"""Optimizers: SGD (with momentum and weight decay), Adagrad, Adam, with PyTorch's update rules.

An optimizer holds the parameters and, per parameter, a little state (a momentum
buffer, a sum of squared gradients). `step()` reads `p.grad` and writes `p.data`;
a parameter whose grad is None (not used this step) is skipped.

    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

Writing `p.data -= ...` goes through the Tensor's data setter, which bumps its
version: a graph built before the step refuses to backward through the new values.
"""

from __future__ import annotations

import math

import numpy as np

from .tensor import Tensor


class Optimizer:
    """Base class: the parameter list, per-parameter state, zero_grad() and state_dict()."""

    def __init__(self, params, hyper: dict):
        if hasattr(params, "parameters"):              # a Module
            params = params.parameters()
        self.params = [params] if isinstance(params, Tensor) else list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, "
                                "not a Tensor; pass model.parameters()")
        self.hyper = dict(hyper)
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]

    def __getattr__(self, name):      # opt.lr, opt.momentum, ... read the hyperparameters
        hyper = self.__dict__.get("hyper", {})
        if name in hyper:
            return hyper[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def zero_grad(self) -> None:
        """Forget the gradients (set them to None, as PyTorch does by default)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self._update(p, np.asarray(p.grad, dtype=p.dtype), state, **self.hyper)

    def _update(self, p: Tensor, g: np.ndarray, state: dict, **hyper) -> None:
        raise NotImplementedError

    # ---- resuming training ----------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A flat dict of numpy arrays (what `tg.save` writes): ``hyper.lr``, ``state.0.step``, ..."""
        out = {f"hyper.{k}": np.asarray(v) for k, v in self.hyper.items()}
        for i, state in enumerate(self.state):
            out.update({f"state.{i}.{k}": np.array(v) for k, v in state.items()})
        return out

    def load_state_dict(self, sd: dict) -> None:
        """Restore hyperparameters and state; every problem is listed in one error."""
        name, problems, states = type(self).__name__, [], [{} for _ in self.params]
        problems += [f"missing key 'hyper.{k}'" for k in self.hyper if f"hyper.{k}" not in sd]
        for key, value in sd.items():
            parts = key.split(".")
            if parts[0] == "hyper" and len(parts) == 2 and parts[1] in self.hyper:
                continue
            if parts[0] != "state" or len(parts) != 3 or not parts[1].isdigit():
                problems.append(f"unexpected key '{key}'")
            elif int(parts[1]) >= len(self.params):
                problems.append(f"'{key}': parameter {parts[1]} does not exist "
                                f"(this optimizer has {len(self.params)})")
            else:
                p, v = self.params[int(parts[1])], np.asarray(value)
                if v.ndim and v.shape != p.shape:
                    problems.append(f"'{key}': shape {v.shape} != parameter shape {p.shape}")
                states[int(parts[1])][parts[2]] = v.astype(p.dtype) if v.ndim else v.copy()
        if problems:
            raise RuntimeError(f"{name}.load_state_dict: " + "; ".join(problems))
        for k in self.hyper:
            v = np.asarray(sd[f"hyper.{k}"])
            self.hyper[k] = v.item() if v.ndim == 0 else tuple(v.tolist())
        self.state = states


_LR_HINT = "; lr is the step size in p <- p - lr·g: a small positive number, e.g. 0.1 for SGD, 1e-3 for Adam"


def _check(cond: bool, name: str, what: str, value, hint: str = "") -> None:
    if not cond:
        raise ValueError(f"{name}: {what}, got {value!r}{hint}")


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:

        g <- g + λ p                                   (weight decay: the L2 "penalty")
        b <- μ b + (1 - dampening) g   (b = g at the first step)
        g <- g + μ b if nesterov else b                (momentum)
        p <- p - lr g
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False):
        _check(lr > 0, "SGD", "lr must be > 0", lr, _LR_HINT)
        _check(momentum >= 0, "SGD", "momentum must be >= 0", momentum)
        _check(weight_decay >= 0, "SGD", "weight_decay must be >= 0", weight_decay)
        _check(not nesterov or (momentum > 0 and dampening == 0), "SGD",
               "nesterov needs momentum > 0 and dampening = 0", (momentum, dampening))
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      dampening=dampening, nesterov=nesterov))

    def _update(self, p, g, state, lr, momentum, weight_decay, dampening, nesterov):
        if weight_decay:
            g = g + weight_decay * p.data
        if momentum:
            b = state.get("momentum_buffer")
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            state["momentum_buffer"] = b
            g = g + momentum * b if nesterov else b
        p.data -= lr * g


class Adagrad(Optimizer):
    """Adagrad, PyTorch's rule: a per-entry step size that shrinks with the gradients seen.

        clr = lr / (1 + (step - 1) · lr_decay)
        G  <- G + g²
        p  <- p - clr · g / (√G + eps)

    min-char-rnn writes ``mem += g**2; p -= lr * g / np.sqrt(mem + 1e-8)``: the same
    rule with eps *inside* the square root (1e-8 there is 1e-4 outside). The two
    differ only while G is tiny, i.e. in the first steps of an entry that rarely
    gets a gradient. min-char-rnn's rule exactly:
    ``Adagrad(params, lr, eps=0.0, initial_accumulator_value=1e-8)`` (G starts at 1e-8).
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0):
        _check(lr > 0, "Adagrad", "lr must be > 0", lr, _LR_HINT)
        _check(eps >= 0, "Adagrad", "eps must be >= 0", eps)
        _check(lr_decay >= 0, "Adagrad", "lr_decay must be >= 0", lr_decay)
        _check(weight_decay >= 0, "Adagrad", "weight_decay must be >= 0", weight_decay)
        _check(initial_accumulator_value >= 0, "Adagrad", "initial_accumulator_value must be >= 0",
               initial_accumulator_value)
        super().__init__(params, dict(lr=lr, eps=eps, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def _update(self, p, g, state, lr, eps, lr_decay, weight_decay, initial_accumulator_value):
        if "sum" not in state:
            state["step"] = np.array(0)
            state["sum"] = np.full(p.shape, initial_accumulator_value, dtype=p.dtype)
        state["step"] = np.array(int(state["step"]) + 1)
        if weight_decay:
            g = g + weight_decay * p.data
        clr = lr / (1 + (int(state["step"]) - 1) * lr_decay)
        state["sum"] = state["sum"] + g * g
        p.data -= clr * g / (np.sqrt(state["sum"]) + eps)


class Adam(Optimizer):
    """Adam, PyTorch's rule (momentum plus an Adagrad-like scale, both bias-corrected):

        m <- β1 m + (1 - β1) g                v <- β2 v + (1 - β2) g²
        p <- p - lr / (1 - β1^t) · m / (√v / √(1 - β2^t) + eps)
    """

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        _check(lr > 0, "Adam", "lr must be > 0", lr, _LR_HINT)
        _check(eps >= 0, "Adam", "eps must be >= 0", eps)
        _check(len(betas) == 2 and all(0 <= b < 1 for b in betas), "Adam",
               "betas must be two numbers in [0, 1)", betas)
        _check(weight_decay >= 0, "Adam", "weight_decay must be >= 0", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, lr, betas, eps, weight_decay):
        (b1, b2) = betas
        if "m" not in state:
            state.update(step=np.array(0), m=np.zeros_like(p.data), v=np.zeros_like(p.data))
        t = int(state["step"]) + 1
        state["step"] = np.array(t)
        if weight_decay:
            g = g + weight_decay * p.data
        state["m"] = b1 * state["m"] + (1 - b1) * g
        state["v"] = b2 * state["v"] + (1 - b2) * g * g
        denom = np.sqrt(state["v"]) / math.sqrt(1 - b2 ** t) + eps
        p.data -= (lr / (1 - b1 ** t)) * state["m"] / denom
