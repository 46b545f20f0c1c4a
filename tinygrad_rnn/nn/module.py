"""Module: a container that finds its parameters by looking at its attributes.

A parameter is a `Parameter` (a Tensor that requires grad) stored as an
attribute; parameters and sub-modules may sit in attributes, lists, tuples or
dicts. `named_parameters()` walks them in attribute order and names them with
dots, as PyTorch does: ``cells.0.W``, ``readout.weight``. Registration is by
type, as in PyTorch and minitorch: an intermediate result that requires grad
stored on a module is not a parameter.

A buffer is state that is not trained: an array registered by name with
`register_buffer` (BatchNorm1d's running statistics). It is in `state_dict()`
after the parameters and is restored by `load_state_dict()`, but it is not in
`parameters()`, so no optimizer touches it, as in PyTorch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from ..tensor import Tensor

# Ticks when a public attribute of any module is set to a new value: a parameter or sub-module
# replaced, a number forward reads (`model.temperature = 2.0`), a buffer loaded, train()/eval().
# tg.compile replays a captured step only while it has not ticked: a replay runs no Python, so
# it would keep reading the old tensors and numbers. (`_private` attributes, such as the states
# a sequence layer keeps of its last pass, do not tick.) CHANGES[1] names the last attribute
# set again after the module's __init__: tg.compile refuses a step that does that (a forward
# keeping `self.calls += 1`), since a replay would not do it.
CHANGES = [0, None]
_UNSET = object()


class Parameter(Tensor):
    """A Tensor that requires grad and is registered by the Module holding it."""

    __slots__ = ()

    def __init__(self, data, name: str | None = None, dtype=None):
        super().__init__(data, requires_grad=True, name=name, dtype=dtype)


class Module:
    """Base class: subclasses set parameters and sub-modules in __init__, define forward()."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __setattr__(self, key, value):
        # Label a parameter with its attribute name ("W", "U"), so graphs and
        # error messages speak the course's notation.
        if isinstance(value, Tensor) and value.requires_grad and not value._named:
            value.name = key
        if key[0] != "_" and (old := vars(self).get(key, _UNSET)) is not value \
                and (key != "training" or value != self.training):
            CHANGES[0] += 1     # a parameter or layer replaced, a number reset, train()/eval()
            if old is not _UNSET and key != "training":
                CHANGES[1] = f"{type(self).__name__}.{key}"     # set again (not by __init__)
        object.__setattr__(self, key, value)

    # ---- discovery -------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, object]]:
        return iter(self._children())

    def _children(self) -> list[tuple[str, object]]:
        # A list, not nested generators, and the sizes, names and flags skipped by one
        # type test: zero_grad() walks the model every training step.
        out = []
        for key, value in vars(self).items():
            if type(value) in _SCALARS:
                continue
            if isinstance(value, (Module, Tensor)):     # W, a sub-layer: no _walk call (zero_grad: 0.2%)
                out.append((key, value))
            else:
                _walk(key, value, out)
        return out

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        return iter(self._named_parameters(prefix, set(), []))

    def _named_parameters(self, prefix: str, seen: set, out: list) -> list:
        for key, value in self._children():
            name = f"{prefix}{key}"
            if isinstance(value, Module):
                value._named_parameters(f"{name}.", seen, out)
            elif (type(value) is Parameter or _is_parameter(name, value)) and value not in seen:
                seen.add(value)
                out.append((name, value))
        return out

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self._named_parameters("", set(), [])]

    # ---- buffers: state that is saved but not trained --------------------
    def register_buffer(self, name: str, value) -> None:
        """Keep `value` (an array) as the attribute `name` and in state_dict() under that name;
        the module may replace the attribute with a new array (it is looked up by name)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(f"{type(self).__name__}.register_buffer: the name must be an identifier, "
                           f"got {name!r}")
        if isinstance(getattr(self, name, None), (Tensor, Module)):
            raise KeyError(f"{type(self).__name__}.register_buffer: '{name}' is already a parameter "
                           "or a sub-module")
        names = vars(self).setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        object.__setattr__(self, name, np.asarray(value))

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for dotted, module, name in self._buffer_slots(prefix):
            yield dotted, getattr(module, name)

    def _buffer_slots(self, prefix: str = "") -> Iterator[tuple[str, Module, str]]:
        """(dotted name, owning module, attribute name) of every buffer, this module's first."""
        for sub_prefix, module in self._named_modules(prefix):
            for name in vars(module).get("_buffer_names", ()):
                yield f"{sub_prefix}{name}", module, name

    def buffers(self) -> list[np.ndarray]:
        return [b for _, b in self.named_buffers()]

    def modules(self) -> Iterator[Module]:
        yield from (m for _, m in self._named_modules())

    def _named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted prefix of its names, module) for this module and every sub-module."""
        yield prefix, self
        for key, value in self.named_children():
            if isinstance(value, Module):
                yield from value._named_modules(f"{prefix}{key}.")

    # ---- training state --------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ---- state -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy of each parameter's array, then of each buffer's (what `tg.save` writes)."""
        return {**{name: p.data.copy() for name, p in self.named_parameters()},
                **{name: np.array(b, copy=True) for name, b in self.named_buffers()}}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays into the parameters; a missing/unexpected key, a shape mismatch
        or a value that is not real numbers raises one error listing every problem,
        and nothing is changed (every value is converted before the first is copied)."""
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict into {type(self).__name__}: expected a dict of "
                            f"name -> array, got {type(state).__name__}")
        params = {**dict(self.named_parameters()), **dict(self.named_buffers())}
        for k, v in state.items():
            if type(v).__module__.partition(".")[0] == "torch":   # torch's layout is not ours
                raise TypeError(f"load_state_dict into {type(self).__name__}: '{k}' is a torch.Tensor: "
                                "a torch state dict is in torch's layout (Linear's weight is (out, in) "
                                "there, (in, out) here; recurrent weights are stacked per gate), which a "
                                "square weight would load transposed without a word. Use "
                                "tg.interop.copy_from_torch(model, torch_module), which maps each layer")
        state = {k: v.data if isinstance(v, Tensor) else v for k, v in state.items()}
        problems, values = [], {}
        if strict:
            problems += [f"missing key '{k}'" for k in params if k not in state]
            problems += [f"unexpected key '{k}'" for k in state if k not in params]
        for k, p in params.items():
            if k not in state:
                continue
            try:
                value = np.asarray(state[k])
            except (ValueError, TypeError) as e:       # a ragged list
                problems.append(f"'{k}': not an array ({e})")
                continue
            if value.shape != p.shape:
                problems.append(f"'{k}': checkpoint shape {value.shape} != model shape {p.shape}")
            elif value.dtype.kind not in "biuf":     # complex would lose its imaginary part
                problems.append(f"'{k}': dtype {value.dtype} is not real numbers")
            else:
                values[k] = value.astype(p.dtype)    # a new array: the model never aliases the dict
        if problems:
            # RuntimeError as PyTorch (a KeyError would print its message in quotes).
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems)
                               + ". The checkpoint comes from another model: build this one with the "
                               "layers and sizes it was saved with (strict=False skips missing and "
                               "unexpected keys)")
        owners = {dotted: (module, name) for dotted, module, name in self._buffer_slots()}
        for k, value in values.items():
            if k in owners:                          # a buffer: replace the module's array
                setattr(*owners[k], value)          # (through Module.__setattr__: CHANGES)
            else:
                params[k].data = value

    def save(self, path) -> None:
        """Write the state dict to `path` (.npz, atomically); see `tg.save`."""
        from ..checkpoint import save
        save(self.state_dict(), path)

    def load(self, path) -> Module:
        """Load parameters saved with `save` into this module (never unpickles)."""
        from ..checkpoint import load
        self.load_state_dict(load(path))
        return self

    def __repr__(self):
        lines = [f"  ({k}): {v!r}".replace("\n", "\n  ")
                 for k, v in self.named_children() if isinstance(v, Module)]
        body = "\n" + "\n".join(lines) + "\n" if lines else ""
        return f"{type(self).__name__}({self.extra_repr()}{body})"

    def extra_repr(self) -> str:
        return ""


def zero_grads(params, set_to_none: bool = True) -> None:
    """Forget each gradient (None, PyTorch's default), or with set_to_none=False make it zeros."""
    for p in params:
        p.grad = None if set_to_none or p.grad is None else np.zeros_like(p.grad)


def parameters_of(parameters) -> list:
    """What "a Module or some parameters" means wherever one is accepted (optimizers,
    clipping, the gradient monitor): a Module's `parameters()`, one Tensor as
    ``[it]``, anything else (a list, a generator) as a list."""
    if hasattr(parameters, "parameters"):               # a Module (or anything shaped like one)
        return parameters.parameters()
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _is_parameter(name: str, value) -> bool:
    if isinstance(value, Parameter):
        return True
    if isinstance(value, Tensor) and value.requires_grad and value.op is None:
        warnings.warn(f"Module: '{name}' is a plain Tensor with requires_grad=True; it is still "
                      "registered as a parameter, but wrap it in nn.Parameter(...): plain tensors "
                      "will stop being registered", DeprecationWarning, stacklevel=4)
        return True
    return False


_SCALARS = {int, float, str, bool, type(None)}      # attributes that hold no parameter


def _walk(key: str, value, out: list) -> None:
    """Append (dotted name, module or tensor) found in an attribute, list or dict to `out`."""
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(f"{key}.{i}", v, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(f"{key}.{k}", v, out)
    elif isinstance(value, (Module, Tensor)):
        out.append((key, value))
