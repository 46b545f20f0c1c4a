"""Tensor: a numpy array that remembers the op that made it, and backward().

Reading order: how a Tensor is made (`Tensor.__init__`, `apply`), the operators
and methods that call `apply` with a row of `ops.py`, and `backward()`, which
hands the recorded graph to `autograd.backward` (the walk, in autograd.py).
"""

from __future__ import annotations

import warnings
import weakref
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from . import autograd, ops
from .anomaly import check_finite
from .autograd import DROPPED, LAST_WRITE, TICK
from .context import _ANOMALY, _CAPTURE, _GRAD_ENABLED, _SCOPE, GRAD_OFF, WATCHED, get_default_dtype
from .dialect import accepts_dim, numpy_names
from .errors import (
    GraphError,
    ShapeError,
    ValuesFreedError,
    cannot_retain_grad,
    dtypes_do_not_fit,
    grad_dropped,
    inputs_do_not_fit,
    no_graph,
    non_leaf_requires_grad,
    nonscalar_root,
    seed_shape,
    values_freed,
    where,
)
from .memory import gc_paused, is_freed
from .torch_methods import Size, TorchMethods

# One clock (autograd.TICK) ticks at every event: a tensor being made, or its `.data` written.
# - Creation order is a topological order (an op's inputs exist before it), so
#   backward() visits nodes newest first and reaches each only after all its
#   consumers.
# - In-place detection (PyTorch's version counters): writing `t.data` stamps the
#   counter of t's memory with a fresh tick. A view (x[:, t], x.T, a reshape,
#   x.detach()) shares the counter of the tensor it views, as in PyTorch, so a write
#   through either is seen by both. If an input's stamp is newer than the op that
#   read it, that op's VJP would use the wrong values, so backward() refuses.
# - Every array handed in (Tensor(a), a numpy operand, `.data = a`, a layer's input)
#   is copied, whatever its dtype: no tensor aliases an array the caller still holds,
#   so nothing can change a graph's values behind the version counter's back.


def _as_array(data, dtype=None) -> np.ndarray:
    """Dtypes as PyTorch infers them: Python floats (and lists with a float) take the
    default float dtype, Python ints become int64, bools bool; numpy arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data._data
    arr = _convert(data, dtype)
    tape = _CAPTURE.get()
    if tape is not None:                 # tg.compile: which arrays came from fn's arguments
        tape.array(data, arr)
    return arr


def _convert(data, dtype) -> np.ndarray:
    if isinstance(data, (np.ndarray, np.generic)):   # cast numbers only: never complex or str to float
        arr = np.array(data, dtype=dtype if data.dtype.kind in "biuf" else None)   # a copy: see above
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) and v._requires_grad for v in data):
            raise TypeError("Tensor([...]): the list holds Tensors that require grad; Tensor() copies "
                            "their values and cuts them from the graph. Use tg.stack(list) or tg.cat "
                            "to keep the gradient, or .detach() them to copy the values only")
        try:
            arr = np.asarray(data)
        except ValueError as e:                        # a ragged list: [[1, 2], [3]]
            raise ShapeError(f"Tensor: cannot make an array from this {type(data).__name__} ({e}); "
                             "every row of a nested list must have the same length") from None
        if dtype is not None and arr.dtype.kind in "biuf":
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(get_default_dtype())
        elif arr.dtype.kind in "iu":
            if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
                raise OverflowError(f"Tensor: {int(arr.max())} does not fit in int64, the dtype of "
                                    "Python ints (numpy would wrap it to a negative number)")
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (from {type(data).__name__}); "
                        "use a float array for values, an integer array for indices or targets")
    return arr


_new_object = object.__new__    # a Tensor without __init__ (Tensor._init); named once: the
                                # `cls.__new__` lookup was 0.1 µs of every op
_VISITS = weakref.WeakKeyDictionary()   # root -> its last recorded backward's visit order (Tensor._visits)


def _operator(op: ops.Op, reflected: bool = False):
    """Tensor's `a + b` (and, `reflected`, `2 + b`: the Tensor on the right) as one row of ops.py.
    A Tensor operand is passed as it is; only a number or an array is lifted (`_lift`): the
    call saved is ~380 instructions of a ~13,000-instruction `a + b`."""
    if reflected:
        def operator(self, other):
            return apply(op, other if isinstance(other, Tensor) else _lift(other, self), self)
    else:
        def operator(self, other):
            return apply(op, self, other if isinstance(other, Tensor) else _lift(other, self))
    return operator


class Tensor(TorchMethods):
    """An n-d array plus the op and inputs that made it (None and () for a leaf).

    PyTorch's spellings of shapes, casts and comparisons come from TorchMethods
    (torch_methods.py); every method taking numpy's axis/keepdims also takes
    torch's dim/keepdim (dialect.py).
    """

    # One slot per field every tensor sets (a long unroll keeps T steps of tensors: each slot
    # is 8 bytes of every one). Two kinds of tensor are subclasses that say what they are:
    # a lifted constant (`Constant`) and a detached tensor (`Detached`, which alone has the
    # slot `_detached_from`); the rest of Tensor reads their class-level defaults below.
    __slots__ = ("_data", "_grad", "_shared", "_requires_grad", "_name", "_named", "scope", "edge_grads",
                 "_op", "_parents", "_params", "_tick", "_version", "_graph_used",
                 "_pending", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # `ndarray * Tensor` must call Tensor.__rmul__, not numpy
    _constant = False       # a number or array an operator lifted (`x * 0.5`): see Constant
    _detached_from = None   # detach(): a weak reference to the tensor it was cut from (Detached)

    def __init__(self, data, requires_grad: bool = False, name: str | None = None, dtype=None):
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Tensor: requires_grad must be True or False, got "
                            f"{type(requires_grad).__name__} {requires_grad!r}")
        data = _as_array(data, dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"Tensor: only float tensors can require grad, got dtype "
                            f"{data.dtype}; convert with .astype(np.float64) first")
        self._init(data, bool(requires_grad), name or "tensor")
        self._named = name is not None

    @staticmethod
    def _from_array(array: np.ndarray, requires_grad: bool, name: str,
                    op=None, parents=(), params=None) -> Tensor:
        """A tensor around an array that needs none of __init__'s checks (a cast's result, a
        replay's outputs in compile.py). apply, detach and _lift write its two lines out."""
        out = _new_object(Tensor)
        out._init(array, requires_grad, name, op, parents, params)
        return out

    def _init(self, data: np.ndarray, requires_grad: bool, name: str, op=None, parents=(), params=None):
        """Every field of a tensor, set once. __init__ calls it after its checks; where the
        engine makes a tensor (apply, detach, _lift, astype) the array needs none of them, so
        it calls `_new_object(Tensor)` (`object.__new__`: no __init__) and then this."""
        self._data = data
        self._grad = None                 # ∂E/∂self after backward(), same shape (see `grad`)
        self._shared = False              # _grad may be another tensor's array too (see `grad`)
        self._retains_grad = False        # retain_grad(): keep .grad with edges unrecorded too
        self._requires_grad = requires_grad
        self._name = name                 # label: "W", "h_t", or the op that made it
        self._named = False               # given by a user or a layer, not the op's (or "tensor")
        self.scope = _SCOPE.get()         # where it was made: "rnn/t=3"
        self.edge_grads = None            # after backward(): grad sent to each parent
        self._op, self._parents, self._params = op, parents, params
        self._tick = next(TICK)           # creation time: orders backward()
        self._version = None              # [tick of the last write to this memory], shared by views
        self._graph_used = False          # a backward() without retain_graph went through it
        self._pending = None              # gradients arriving during backward()

    @property
    def _visits(self) -> list[int] | None:
        """The creation ticks the last recorded backward() from this root visited, in order
        (autograd.visit_order; viz.to_html replays them). Only a root has them, so they live
        in a side table, not in a slot every tensor would carry."""
        return _VISITS.get(self)

    @_visits.setter
    def _visits(self, ticks: list[int] | None):
        if ticks is None:
            _VISITS.pop(self, None)
        else:
            _VISITS[self] = ticks

    # ---- the array -------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        if is_freed(self):                        # memory.free_unread let them go: say so, never guess
            raise ValuesFreedError(values_freed(self.name, self.scope, self.shape, self.dtype))
        return self._data

    @data.setter
    def data(self, value):
        tick = LAST_WRITE[0] = next(TICK)
        if value is self._data:         # `p.data -= lr * p.grad`: written in place (Python
            self._shared_version()[0] = tick     # re-assigns after -=), so every view is too
            return
        self._data = self._assigned(value)
        self._version = [tick]          # new memory: views of the old array keep their counter

    def _assigned(self, value) -> np.ndarray:
        """`.data = value` keeps a float tensor float: a float array brings its dtype (as
        torch's `.data =`: the way to change a model's precision), anything else (ints,
        bools, Python lists) is cast to the tensor's dtype; an integer or bool tensor
        refuses values it cannot hold. Always a copy: the tensor never aliases `value`."""
        arr = _as_array(value._data if isinstance(value, Tensor) else value)   # checked, copied
        if arr.dtype == self.dtype or (arr.dtype.kind == "f" and self.dtype.kind == "f"
                                       and isinstance(value, (np.ndarray, np.generic, Tensor))):
            return arr
        if isinstance(value, (list, tuple, int, float)) and self.dtype.kind == "f":
            return np.array(value, dtype=self.dtype)          # straight to the dtype: no float32 detour
        if self.dtype.kind != "f" and not np.can_cast(arr.dtype, self.dtype, "same_kind"):
            raise TypeError(f".data: cannot assign {arr.dtype} values to '{self.name}' of dtype "
                            f"{self.dtype} (shape {self.shape}) without losing them; convert "
                            "them first (np.rint(v).astype(...)) or make a new tensor")
        return arr.astype(self.dtype)

    def _shared_version(self) -> list:
        """The version counter of this tensor's memory (made on first use; views share it)."""
        if self._version is None:
            self._version = [0]
        return self._version

    @property
    def _written_at(self) -> int:
        """Tick of the last write to this tensor's memory, through it or any view of it."""
        return 0 if self._version is None else self._version[0]

    @property
    def grad(self):
        """∂E/∂self after backward() (None before), an array this tensor owns.

        Why the property? add passes g on unchanged and x.T, x[:, t] or a stack pass on
        views of it, so backward() lets such neighbours share one array instead of
        copying it for each (one copy per tensor doubled a step's memory, measured).
        The first read of a shared gradient makes it this tensor's own copy, so
        writing into it (``h.grad *= 2``) never changes another tensor's gradient.

        Under ``record_edge_grads(False)`` backward() keeps the gradients of leaves and of
        tensors marked with `retain_grad()` only (see autograd.keeps_grad); reading one it
        dropped gives None and a warning, as in PyTorch.
        """
        if self._grad is DROPPED:
            warnings.warn(grad_dropped(self.name, self.scope, self.shape), UserWarning, stacklevel=2)
            return None
        if self._shared:
            self._grad, self._shared = np.array(self._grad), False
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad, self._shared = value, False

    def retain_grad(self) -> None:
        """Keep this tensor's `.grad` after backward() under ``record_edge_grads(False)`` too
        (with edges recorded every tensor keeps it anyway). As PyTorch's: a no-op on a
        leaf, which keeps its gradient always; refused on a tensor that needs no gradient."""
        if not self._requires_grad:
            raise RuntimeError(cannot_retain_grad(self.name, self.shape, self.scope))
        if self._op is not None:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        """True once retain_grad() was called on this non-leaf tensor (False for a leaf, as PyTorch)."""
        return self._retains_grad

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: Size(self._data.shape),
                    doc="numpy's element count; called, torch's x.size() / x.size(dim).")
    op = property(lambda self: self._op.name if self._op else None,
                  doc="Name of the primitive that made this tensor (None for a leaf).")
    parents = property(lambda self: self._parents, doc="The op's inputs, in argument order.")

    @property
    def name(self) -> str:
        """The label graphs and errors show: "W", "h_t", else the op's name ("tensor" for a leaf)."""
        return self._name

    @name.setter
    def name(self, value: str):
        self._name, self._named = value, True

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype=None, copy=None):
        """The values, for numpy functions (np.asarray(t), np.stack([t, t]), np.allclose), as
        .numpy() gives them. Without it numpy iterated the tensor and made an object array of
        0-d Tensors, without a word. (Ufuncs on a Tensor stay refused: __array_ufunc__.)"""
        data = self.data
        out = data if dtype is None else data.astype(dtype, copy=False)
        return out.copy() if copy and out is data else out

    def item(self) -> float:
        if self._data.size != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self._data.size} elements, "
                             "not 1; index it or reduce it first")
        return self.data.item()

    def detach(self) -> Tensor:
        """The same values, cut from the graph: gradient stops here (truncated BPTT).
        The same memory too, so the same version counter: a write through the detached
        tensor is a write to this one, and backward() refuses a graph that needed it."""
        out = _new_object(Detached)
        out._init(self._data, False, self._name)
        out._version = self._shared_version()
        out._named = self._named
        out._detached_from = weakref.ref(self)     # weak: the cut must not keep the old graph alive
        tape = _CAPTURE.get()
        if tape is not None:             # tg.compile: detach is an identity op to the tape
            tape.op(out, None, (self,), {})
        return out

    def named(self, name: str) -> Tensor:
        """Set the label and return self, so an equation line names its result:
        ``f_t = (z_t @ W_f + b_f).sigmoid().named("f_t")``. (The slots directly, not the
        `name` setter: a cell names every result of every step.)"""
        self._name, self._named = name, True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Switch gradient tracking on or off, for a leaf only (as PyTorch): switching it off
        on an op's result would silently cut the graph behind it. Use .detach() there."""
        requires_grad = bool(requires_grad)
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: dtype {self.dtype} cannot require grad")
        if self._op is not None and requires_grad != self._requires_grad:
            raise RuntimeError(non_leaf_requires_grad(self.name, self._op.name, self.shape, self.scope))
        self._requires_grad = requires_grad
        return self

    def astype(self, dtype) -> Tensor:
        """A cast, as an op: float to float keeps the graph (the gradient is cast back to
        this tensor's dtype); to an integer or bool dtype the result is a constant, as
        torch's `.long()` (a step function has no useful gradient)."""
        dtype = np.dtype(dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"astype: unsupported dtype {dtype}; the engine holds real numbers only")
        if dtype.kind != "f":
            return Tensor._from_array(self._data.astype(dtype), False, "astype")
        return apply(ops.astype, self, dtype=dtype)

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        if is_freed(self):                      # repr never raises: it says what is gone (memory.py)
            body = f"<values freed: backward() does not read them>, shape={self.shape}, scope={self.scope!r}"
        else:
            body = np.array2string(self._data, precision=4, separator=", ", threshold=20)
        extra = f", op={self.op}" if self._op else ""
        extra += ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.dtype}, name={self.name!r}{extra})"

    # ---- operators: each is one row of ops.py ----------------------------
    __add__, __radd__ = _operator(ops.add), _operator(ops.add, reflected=True)
    __sub__, __rsub__ = _operator(ops.sub), _operator(ops.sub, reflected=True)
    __mul__, __rmul__ = _operator(ops.mul), _operator(ops.mul, reflected=True)
    __truediv__, __rtruediv__ = _operator(ops.div), _operator(ops.div, reflected=True)
    __pow__, __rpow__ = _operator(ops.pow), _operator(ops.pow, reflected=True)
    __matmul__, __rmatmul__ = _operator(ops.matmul), _operator(ops.matmul, reflected=True)

    def __neg__(self):
        return apply(ops.neg, self)

    def __getitem__(self, index):
        return apply(ops.getitem, self, index=_index(index))

    def _apply(self, op, *others, **params):
        """apply(op, self, *others lifted to tensors): what TorchMethods call."""
        return apply(op, self, *(_lift(o, self) for o in others), **params)

    # ---- elementwise and reductions --------------------------------------
    def exp(self):
        return apply(ops.exp, self)

    def log(self):
        return apply(ops.log, self)

    def tanh(self):
        return apply(ops.tanh, self)

    def sigmoid(self):
        return apply(ops.sigmoid, self)

    def relu(self):
        return apply(ops.relu, self)

    def abs(self):
        return apply(ops.abs, self)

    def sqrt(self):
        return apply(ops.sqrt, self)

    def clamp(self, min=None, max=None):
        """Clip into [min, max] (either may be None); the gradient passes where min <= x <= max."""
        if min is None and max is None:
            raise ValueError(f"clamp: give min, max or both{where(_SCOPE.get())}")
        return apply(ops.clamp, self, lo=min, hi=max)

    clip = clamp

    @accepts_dim
    def sum(self, axis=None, keepdims=False):
        return apply(ops.sum, self, axis=_axis(axis), keepdims=keepdims)

    def max(self, *args, **kwargs):
        """The largest entry (over `axis`); ties share the gradient.

        numpy's spelling, ``x.max()`` or ``x.max(axis=1)``, gives the values. torch's,
        ``x.max(1)`` or ``x.max(dim=1)``, gives torch's pair ``(values, indices)``: the
        habit ``_, pred = logits.max(1)`` must not unpack a batch of two maxima."""
        return _extreme(self, ops.max, "argmax", args, kwargs)

    def min(self, *args, **kwargs):
        """The smallest entry; the same two spellings as max."""
        return _extreme(self, ops.min, "argmin", args, kwargs)

    @accepts_dim
    def amax(self, axis=None, keepdims=False):
        """Values only, over one axis or several (torch's amax)."""
        return apply(ops.max, self, axis=_axis(axis), keepdims=keepdims)

    @accepts_dim
    def amin(self, axis=None, keepdims=False):
        return apply(ops.min, self, axis=_axis(axis), keepdims=keepdims)

    @accepts_dim
    def mean(self, axis=None, keepdims=False):
        """Composed, not primitive: mean = sum / n. The mean of nothing (n = 0) is NaN,
        as in numpy and torch: an empty batch must not report a loss of 0."""
        s = self.sum(axis, keepdims)
        axes = range(self.ndim) if axis is None or self.ndim == 0 else \
            (axis,) if isinstance(axis, (int, np.integer)) else _axis(axis)
        n = 1
        for a in axes:
            n *= self.shape[a]
        return s * (1.0 / n if n else np.nan)

    @accepts_dim
    def softmax(self, axis=-1):
        return apply(ops.softmax, self, axis=axis)

    @accepts_dim
    def log_softmax(self, axis=-1):
        return apply(ops.log_softmax, self, axis=axis)

    # ---- shape -----------------------------------------------------------
    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return apply(ops.reshape, self, shape=shape)

    def transpose(self, *axes):
        """Both dialects, told apart by how the axes are given:

        * ``transpose()``: reverse all axes (numpy; ``.T``);
        * ``transpose(a, b)``, two ints: swap axes a and b (PyTorch's transpose(dim0, dim1),
          on any number of dims; on 2-D, ``transpose(1, 0)`` means the same in numpy);
        * ``transpose((1, 0, 2))`` (one tuple) or three or more ints: a full permutation
          (numpy's transpose(axes); also `permute`).

        The one clash: on 2-D, numpy reads ``transpose(0, 1)`` as the identity; here it swaps.
        """
        if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            order = list(range(self.ndim))
            try:
                i, j = (range(self.ndim)[a] for a in axes)
            except IndexError:
                raise ShapeError(f"transpose: dims {axes} are out of range for the {self.ndim} "
                                 f"axes of shape {self.shape}{where(_SCOPE.get())}") from None
            order[i], order[j] = j, i
            return self._permute(tuple(order))
        axes = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int) else axes
        return self._permute(axes or tuple(reversed(range(self.ndim))))

    def _permute(self, axes: tuple):
        if sorted(a + self.ndim if a < 0 else a for a in axes) != list(range(self.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of the "
                             f"{self.ndim} axes of shape {self.shape}{where(_SCOPE.get())}")
        return apply(ops.transpose, self, axes=tuple(a % self.ndim for a in axes))

    T = property(lambda self: self.transpose())

    # ---- backward --------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor: every tensor on a path to it gets `.grad`.

        The walk is in autograd.py; here only the seed ∂E/∂self is made: ones for
        a scalar, else `grad`, which must have this tensor's shape.
        """
        with gc_paused():                 # an acyclic graph: see memory.py
            autograd.backward(self, self._seed(grad), retain_graph)

    def _seed(self, grad) -> np.ndarray:
        if not self.requires_grad:
            raise GraphError(no_graph(self.name, self.shape))
        if grad is None:
            if self._data.size != 1:
                raise GraphError(nonscalar_root(self.name, self.scope, self.shape))
            return np.ones_like(self._data)
        grad = _as_array(grad)          # real numbers only (a copy): strings, objects refused
        grad = grad.astype(self.dtype, copy=False)
        if grad.shape != self.shape:
            raise GraphError(seed_shape(grad.shape, self.shape))
        return grad


def apply(op: ops.Op, *inputs: Tensor, **params) -> Tensor:
    """Run `op` forward on the inputs' arrays and record it in the graph."""
    try:
        if len(inputs) == 2 and not params:     # x @ W, a + b: most ops
            y = op.forward(inputs[0]._data, inputs[1]._data)    # no list: 1,700 instructions of ~15,000
        elif len(inputs) == 1:                  # tanh, x[:, t] (`**{}` costs 570 instructions a call)
            y = op.forward(inputs[0]._data, **params) if params else op.forward(inputs[0]._data)
        else:
            y = op.forward(*[t._data for t in inputs], **params)
    except (ValueError, IndexError, TypeError, ValuesFreedError) as e:
        raise _forward_error(op, inputs, params, e) from None
    y = y if type(y) is np.ndarray else np.asarray(y)   # a numpy scalar (x.sum()): a 0-d array
    out = _new_object(Tensor)           # without __init__'s checks: see Tensor._init
    for t in inputs:                    # requires grad iff an input does (inline: a call costs 380)
        if t._requires_grad and op.vjps and (not GRAD_OFF[0] or _GRAD_ENABLED.get()):  # no_grad(): see _Watch
            out._init(y, True, op.name, op, inputs, params or NO_PARAMS)
            break
    else:
        out._init(y, False, op.name)    # a constant: its history is not needed
    if y.base is not None:              # a view (reshape, transpose, x[:, t]): share the counter
        _share_version(out, inputs)
    if WATCHED[0]:                      # detect_anomaly() or tg.compile's capture is on somewhere
        _hooks(out, op, inputs, params)
    return out


def _hooks(out: Tensor, op: ops.Op, inputs, params) -> None:
    if _ANOMALY.get():
        check_finite(out._data, op.name, out, *inputs)
    tape = _CAPTURE.get()
    if tape is not None:                 # tg.compile is recording the step
        tape.op(out, op, inputs, params)


NO_PARAMS = MappingProxyType({})    # one read-only {} for every op without params (x @ W, tanh):
                                    # `**params` makes a new dict per call, 64 bytes a node kept


def _share_version(out: Tensor, inputs) -> None:
    """`out` views an input's memory: one version counter for both, as PyTorch's views."""
    base = out._data.base               # numpy points a view at the array owning the memory
    for t in inputs:
        d = t._data
        if base is d or (d.base is not None and base is d.base) or np.may_share_memory(out._data, d):
            out._version = t._shared_version()
            return


def _forward_error(op: ops.Op, inputs, params, e: Exception) -> Exception:
    """A ShapeError when shapes do not fit; a TypeError/ValueError naming the dtypes when
    they are the problem (bool - bool, -bool, int ** negative int: numpy's refusals); for an input
    whose values were freed (memory.py), a ValuesFreedError naming it."""
    for t in inputs:
        if is_freed(t):
            return ValuesFreedError(values_freed(t.name, t.scope, t.shape, t.dtype, f" (read by {op.name})"))
    shapes = [t.shape for t in inputs]
    if not params and op.name != "matmul":  # elementwise: if the shapes broadcast, it is the dtypes
        try:
            np.broadcast_shapes(*shapes)
            return type(e)(dtypes_do_not_fit(op.name, shapes, [t.dtype for t in inputs], e, _SCOPE.get()))
        except ValueError:
            pass
    return ShapeError(inputs_do_not_fit(op.name, shapes, params, e, _SCOPE.get()))


def _lift(x, like: Tensor) -> Tensor:
    """Wrap a constant operand. A Python number or a numpy integer scalar takes the tensor's
    float dtype (as in PyTorch: `x * 2` and `x / np.int64(n)` keep float32), a Python int
    meeting an integer tensor keeps its integer dtype (`i ** -1` is then refused, as numpy
    and torch do), and a numpy array keeps its own dtype."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float, np.integer)) and like._data.dtype.kind == "f":
        x = np.array(x, dtype=like._data.dtype)      # a new array of a number: nothing for _as_array
    elif type(x) is int and like._data.dtype.kind in "iu":   # int tensor * 2 stays an int, as torch
        x = np.array(x, dtype=like._data.dtype if np.can_cast(np.min_scalar_type(x), like._data.dtype)
                     else np.int64)
    else:                                            # an array: copied, and shown to tg.compile's capture
        x = _as_array(x)                             # (a number needs neither: half of `x * 0.5`'s 34 k)
    out = _new_object(Constant)
    out._init(x, False, "const")
    return out


class Constant(Tensor):
    """A number or array an operator lifted into the graph (`x * 0.5`, `1 - z_t`): a Tensor
    whose class says so (the pictures write a scalar one into its op's label). No field of
    its own, so the flag costs the other tensors nothing."""

    __slots__ = ()
    _constant = True


class Detached(Tensor):
    """What `detach()` returns: the same values, cut from the graph, and a weak reference
    to the tensor it was cut from (the pictures draw the cut). The one kind of tensor with
    that field, so only it has the slot."""

    __slots__ = ("_detached_from",)


class ValuesIndices(NamedTuple):
    """What torch's x.max(dim) / x.min(dim) return (torch.return_types.max)."""
    values: Tensor
    indices: Tensor


def _extreme(x: Tensor, op, arg: str, args: tuple, kwargs: dict):
    """x.max / x.min: the values in numpy's spelling, (values, indices) in torch's."""
    pair = bool(args) or "dim" in kwargs                     # x.max(1), x.max(dim=1)
    kwargs = numpy_names(dict(kwargs), op.name)
    names = ("axis", "keepdims")
    if len(args) > len(names) or any(n in kwargs for n in names[:len(args)]) or \
            set(kwargs) - set(names):
        raise TypeError(f"{op.name} on {x.shape}: takes (axis=None, keepdims=False) or torch's "
                        f"(dim, keepdim), got args {args} and keywords {sorted(kwargs)}"
                        f"{where(_SCOPE.get())}")
    kwargs.update(zip(names, args))
    axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
    values = apply(op, x, axis=_axis(axis), keepdims=keepdims)
    if not pair or axis is None:
        return values
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op.name}(dim={axis}) on {x.shape}: torch's spelling takes one dim and "
                        f"returns (values, indices); for several use a{op.name}(dim=...) or axis="
                        f"{where(_SCOPE.get())}")
    return ValuesIndices(values, getattr(x, arg)(axis=int(axis), keepdims=keepdims))


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


_BASIC_INDEX = (int, slice)


def _index(index) -> tuple:
    """Normalise an index to a tuple numpy and np.add.at both accept."""
    index = index if isinstance(index, tuple) else (index,)
    if all(type(i) in _BASIC_INDEX for i in index):
        return index                        # x[:, t]: ints and slices need no conversion (the common case)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            i = i._data
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and i.dtype.kind == "b":
            out.extend(np.nonzero(i))       # a mask is its nonzero positions
            continue
        if isinstance(i, np.ndarray) and i.dtype.kind not in "iu":
            raise TypeError(f"getitem: index arrays must be integer or bool, got {i.dtype}"
                            f"{where(_SCOPE.get())}; convert them with .astype(np.int64)")
        out.append(i)
    return tuple(out)


@accepts_dim
def cat(tensors, axis: int = 0) -> Tensor:
    """Concatenate along an existing axis: cat([h, x], axis=-1) is the LSTM's z_t = [h_{t-1}, x_t]."""
    like = _first_tensor(tensors, "cat")
    return apply(ops.cat, *[t if isinstance(t, Tensor) else _lift(t, like) for t in tensors], axis=axis)


@accepts_dim
def stack(tensors, axis: int = 0) -> Tensor:
    """Stack along a new axis: stack([h_1, ..., h_T], axis=1) -> (B, T, H)."""
    like = _first_tensor(tensors, "stack")
    return apply(ops.stack, *[t if isinstance(t, Tensor) else _lift(t, like) for t in tensors], axis=axis)


def _first_tensor(tensors, op):
    if len(tensors) == 0:
        raise ShapeError(f"{op}: needs at least one tensor, got an empty list{where(_SCOPE.get())}")
    for t in tensors:
        if isinstance(t, Tensor):
            return t
    return Tensor(tensors[0])           # made only when no input is a Tensor (it copies the array)
