"""Optimizers: SGD (with momentum and weight decay), Adagrad, Adam, with PyTorch's update rules.

An optimizer holds parameter groups (PyTorch's `param_groups`: each a dict of
``params`` and its own hyperparameters) and, per parameter, a little state (a
momentum buffer, a sum of squared gradients). `step()` reads `p.grad` and writes
`p.data`; a parameter whose grad is None (not used this step) is skipped.

    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt = tg.optim.Adam([{"params": rnn.parameters()},                # the defaults
                         {"params": head.parameters(), "lr": 1e-2}],  # its own lr
                        lr=1e-3)
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

Every hyperparameter is checked the same way wherever it comes from: the
constructor, a group, ``opt.lr = 1e-4`` (sets every group, and takes effect),
``opt.param_groups[0]["lr"] = 1e-4`` and `load_state_dict`.

Writing `p.data -= ...` goes through the Tensor's data setter, which bumps its
version: a graph built before the step refuses to backward through the new values.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import ShapeError
from .nn.module import parameters_of, zero_grads
from .tensor import Tensor

_LR_HINT = "; lr is the step size in p <- p - lr·g: a small positive number, e.g. 0.1 for SGD, 1e-3 for Adam"


# ---- checking one hyperparameter: (value) -> the value to store, or raise ----
def _real(name: str, value) -> float:
    """A real number (Python, numpy scalar or 0-d array); bools and strings are refused."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return value


def positive(value, name):
    v = _real(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def nonnegative(value, name):
    v = _real(name, value)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def number(value, name):
    return _real(name, value)


def flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def betas_pair(value, name):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be two numbers (β1, β2), got {value!r} ({type(value).__name__})")
    b = tuple(_real(name, v) for v in value)
    if not all(0 <= v < 1 for v in b):
        raise ValueError(f"{name} must be two numbers in [0, 1), got {tuple(value)!r}")
    return b


class ParamGroup(dict):
    """One entry of `param_groups`: writing a hyperparameter checks it, as the constructor does."""

    def __init__(self, optimizer: Optimizer, group: dict):
        super().__init__(group)
        self._optimizer = optimizer

    def __setitem__(self, key, value):
        if key == "params":
            raise TypeError(f"{type(self._optimizer).__name__}: a group's params cannot be replaced; "
                            "build a new optimizer or use add_param_group()")
        new = dict(self, **{key: value})
        i = next((i for i, g in enumerate(self._optimizer.param_groups) if g is self), "...")
        super().__setitem__(key, self._optimizer._checked(new, f".param_groups[{i}]")[key])


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad(), step(), state_dict().

    A subclass gives ``HYPER`` (name -> checker), ``STATE`` (the names of its
    per-parameter state) and ``_update(p, g, state, **hyper)``, the rule for one
    parameter.
    """

    HYPER: dict = {}
    STATE: tuple = ()

    def __init__(self, params, defaults: dict):
        name = type(self).__name__
        object.__setattr__(self, "defaults", self._checked(defaults, "", hint=_LR_HINT))
        self.param_groups: list[ParamGroup] = []
        self.state: dict[Tensor, dict] = {}
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params is a set, whose order changes between runs; "
                            "pass a list (model.parameters())")
        groups = parameters_of(params)                 # a Module, a Tensor, or a list (of groups)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---- groups and their checks ----------------------------------------
    def _checked(self, hyper: dict, where: str, hint: str = "") -> dict:
        """Every hyperparameter of `hyper` through its checker; unknown names refused."""
        name, out = type(self).__name__, {}
        prefix = f"{name}{where}: " if where else f"{name}: "
        for key, value in hyper.items():
            if key == "params":
                continue
            if key not in self.HYPER:
                raise ValueError(f"{prefix}unknown hyperparameter {key!r}; {name} takes "
                                 f"{sorted(self.HYPER)}")
            try:
                out[key] = self.HYPER[key](value, key)
            except (TypeError, ValueError) as e:
                raise type(e)(prefix + str(e) + (hint if key == "lr" else "")) from None
        self._check_group(out, prefix)
        return out

    def _check_group(self, hyper: dict, prefix: str) -> None:
        """Constraints between hyperparameters of one group (SGD's nesterov)."""

    def add_param_group(self, group: dict) -> None:
        """Add a dict ``{"params": [...], "lr": ..., ...}``; missing hyperparameters take the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group is a dict with a 'params' key, got "
                            f"{type(group).__name__}")
        params = group["params"]
        params = parameters_of(params)
        i0 = len(self.params)
        seen = {p: i for i, p in enumerate(self.params)}
        for i, p in enumerate(params, start=i0):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor; "
                                "pass model.parameters()")
            if p.op is not None:
                raise ValueError(f"{name}: parameter {i} ('{p.name}', shape {p.shape}) is not a leaf "
                                 f"(it was made by {p.op}); an optimizer updates leaves "
                                 "(parameters), not results computed from them")
            if p in seen:
                raise ValueError(f"{name}: parameter {i} ('{p.name}', shape {p.shape}) is the same "
                                 f"tensor as parameter {seen[p]}; pass each parameter once "
                                 "(it would be stepped twice)")
            seen[p] = i
        hyper = self._checked({**self.defaults, **group}, f".param_groups[{len(self.param_groups)}]",
                              hint=_LR_HINT)
        self.param_groups.append(ParamGroup(self, {"params": params, **hyper}))
        self.state.update({p: {} for p in params})

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group (the numbering of state_dict)."""
        return [p for g in self.param_groups for p in g["params"]]

    def __getattr__(self, key):      # opt.lr, opt.momentum, ... read the hyperparameters
        if key in type(self).HYPER and "param_groups" in self.__dict__:
            values = [g[key] for g in self.param_groups]
            if any(v != values[0] for v in values):
                raise AttributeError(f"{type(self).__name__}.{key}: the parameter groups have "
                                     f"different values {values}; read opt.param_groups[i][{key!r}]")
            return values[0]
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __setattr__(self, key, value):
        """``opt.lr = 1e-4`` sets lr in every group (checked), so step() uses it."""
        if key in type(self).HYPER:
            for g in self.param_groups:
                g[key] = value
            self.defaults[key] = self.param_groups[0][key]
        else:
            object.__setattr__(self, key, value)

    # ---- the step ---------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (set them to None, as PyTorch does by default)."""
        zero_grads(self.params, set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a grad. A grad must have its
        parameter's shape: it is never broadcast into the update."""
        loss = closure() if closure is not None else None
        for i, p in enumerate(self.params):
            if p.grad is not None and np.shape(p.grad) != p.shape:
                raise ShapeError(f"{type(self).__name__}.step: parameter {i} ('{p.name}') has shape "
                                 f"{p.shape} but its grad has shape {np.shape(p.grad)}; a gradient "
                                 "must have its parameter's shape (set by backward(), or by hand)")
            for k, v in self.state.get(p, {}).items():     # p.data replaced by another shape
                if k != "step" and np.shape(v) != p.shape:
                    raise ShapeError(f"{type(self).__name__}.step: parameter {i} ('{p.name}') has "
                                     f"shape {p.shape} but its state '{k}' has shape {np.shape(v)}; "
                                     "the state would broadcast into the update (torch refuses it)")
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, np.asarray(p.grad, dtype=p.dtype), self.state[p], **hyper)
        return loss

    def _update(self, p: Tensor, g: np.ndarray, state: dict, **hyper) -> None:
        raise NotImplementedError

    # ---- resuming training ----------------------------------------------
    def state_dict(self) -> dict:
        """PyTorch's layout: ``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}``.

        Parameters are numbered 0, 1, ... group after group. `tg.save` writes it.
        """
        index = {p: i for i, p in enumerate(self.params)}
        state = {index[p]: {k: np.array(v) for k, v in s.items()}
                 for p, s in self.state.items() if s}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[p] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        """Restore hyperparameters and state, checked as the constructor checks them.

        All or nothing: every problem is listed in one RuntimeError and nothing
        changes. Takes `state_dict()`'s output, the same after `tg.save`/`tg.load`
        (keys "0", "1", ...), or a torch.optim state dict of the same optimizer.
        """
        name, problems = type(self).__name__, []
        if not isinstance(sd, dict) or "param_groups" not in sd or set(sd) - {"state", "param_groups"}:
            keys = sorted(sd) if isinstance(sd, dict) else type(sd).__name__
            raise RuntimeError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                               f"'param_groups' (from state_dict()), got {keys}")
        groups = _as_list(sd["param_groups"])
        if len(groups) != len(self.param_groups):
            problems.append(f"{len(groups)} parameter groups, this optimizer has "
                            f"{len(self.param_groups)}")
        hypers = []
        for j, (saved, mine) in enumerate(zip(groups, self.param_groups)):
            n_saved, n_mine = len(np.atleast_1d(saved.get("params", []))), len(mine["params"])
            if n_saved != n_mine:
                problems.append(f"group {j} has {n_saved} parameters, this optimizer's {n_mine}")
            hyper = {k: _value(v) for k, v in saved.items() if k != "params"
                     and not (k in _TORCH_ONLY and _value(v) == _TORCH_ONLY[k])}
            missing = sorted(set(self.HYPER) - set(hyper))
            if missing:
                problems.append(f"group {j} misses {missing}")
            try:
                hypers.append(self._checked(hyper, f" group {j}"))
            except (TypeError, ValueError) as e:
                problems.append(str(e).removeprefix(f"{name} "))
        params, states = self.params, {p: {} for p in self.params}
        for key, saved in dict(sd.get("state", {})).items():   # tg.save drops an empty dict
            i = int(key) if str(key).isdigit() else -1
            if not 0 <= i < len(params):
                problems.append(f"state {key!r}: no such parameter (this optimizer has {len(params)})")
                continue
            for k, v in dict(saved).items():
                p, v = params[i], None if v is None else np.asarray(v)
                if k not in self.STATE:
                    problems.append(f"state {i}: unexpected entry {k!r} ({name} keeps {list(self.STATE)})")
                elif v is None:
                    continue
                elif v.dtype.kind not in "iuf":
                    problems.append(f"state {i}.{k}: dtype {v.dtype} is not a number")
                elif k == "step":
                    if v.ndim or not v >= 0 or v != int(v):
                        problems.append(f"state {i}.step must be a whole number >= 0, got {v!r}")
                    states[p][k] = np.array(int(v))
                elif v.shape != p.shape:
                    problems.append(f"state {i}.{k}: shape {v.shape} != parameter shape {p.shape}")
                else:
                    states[p][k] = v.astype(p.dtype)
        if problems:
            raise RuntimeError(f"{name}.load_state_dict: " + "; ".join(problems)
                               + "; nothing was changed")
        for group, hyper in zip(self.param_groups, hypers):
            dict.update(group, hyper)
        self.state = states


# torch.optim's group keys that we do not have, with the value that means "off".
_TORCH_ONLY = {"maximize": False, "foreach": None, "differentiable": False, "fused": None,
               "capturable": False, "amsgrad": False, "decoupled_weight_decay": False}


def _as_list(groups) -> list:
    """param_groups as a list: tg.load gives back a list of dicts as a dict keyed "0", "1", ..."""
    if isinstance(groups, dict):
        return [groups[k] for k in sorted(groups, key=int)]
    return list(groups)


def _value(v):
    """A saved hyperparameter back to a Python value (0-d array -> number, array -> tuple)."""
    if isinstance(v, (np.ndarray, np.generic)):
        return v.item() if v.ndim == 0 else tuple(v.tolist())
    return tuple(v) if isinstance(v, list) else v


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:

        g <- g + λ p                                   (weight decay: the L2 "penalty")
        b <- μ b + (1 - dampening) g   (b = g at the first step)
        g <- g + μ b if nesterov else b                (momentum)
        p <- p - lr g
    """

    HYPER = dict(lr=positive, momentum=nonnegative, weight_decay=nonnegative,
                 dampening=number, nesterov=flag)
    STATE = ("momentum_buffer",)

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      dampening=dampening, nesterov=nesterov))

    def _check_group(self, h, prefix):
        if h.get("nesterov") and not (h.get("momentum", 0) > 0 and h.get("dampening", 0) == 0):
            raise ValueError(f"{prefix}nesterov needs momentum > 0 and dampening = 0, got "
                             f"{(h.get('momentum', 0), h.get('dampening', 0))!r}")

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

    HYPER = dict(lr=positive, eps=nonnegative, lr_decay=nonnegative, weight_decay=nonnegative,
                 initial_accumulator_value=nonnegative)
    STATE = ("step", "sum")

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0):
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

    m and v are stored as PyTorch names them: ``exp_avg`` and ``exp_avg_sq``.
    """

    HYPER = dict(lr=positive, betas=betas_pair, eps=nonnegative, weight_decay=nonnegative)
    STATE = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, lr, betas, eps, weight_decay):
        (b1, b2) = betas
        if "exp_avg" not in state:
            state.update(step=np.array(0), exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
        t = int(state["step"]) + 1
        state["step"] = np.array(t)
        if weight_decay:
            g = g + weight_decay * p.data
        m = state["exp_avg"] = b1 * state["exp_avg"] + (1 - b1) * g
        v = state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
        p.data -= (lr / (1 - b1 ** t)) * m / denom
