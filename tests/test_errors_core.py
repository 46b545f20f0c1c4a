"""Every error the core engine raises, provoked on purpose, and what its message says.

A message deep in an unrolled graph must name the op, the shapes involved and
the scope (the time step), so each check below looks for all three.
"""

import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor

STEP = "rnn/t=3"


def raises_in_step(error, fn, *fragments):
    """Run fn inside scope rnn/t=3; the error's message must contain every fragment."""
    with pytest.raises(error) as info, tg.scope(STEP):
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in message: {message}"
    return message


def ones(*shape, grad=True):
    return Tensor(np.ones(shape), requires_grad=grad)


# ---- shapes that do not fit -----------------------------------------------------------
def test_add_shape_mismatch():
    raises_in_step(tg.ShapeError, lambda: ones(2, 3) + ones(4), "add", "(2, 3)", "(4,)", STEP)


def test_matmul_shape_mismatch():
    msg = raises_in_step(tg.ShapeError, lambda: ones(2, 3) @ ones(4, 5), "matmul", "(2, 3)", "(4, 5)", STEP)
    assert isinstance(tg.ShapeError(msg), ValueError)          # catchable as a ValueError


def test_cat_and_stack_shape_mismatch():
    raises_in_step(tg.ShapeError, lambda: tg.cat([ones(3, 4), ones(2, 5)]), "cat", "(3, 4)", "(2, 5)",
                   "axis=0", STEP)
    raises_in_step(tg.ShapeError, lambda: tg.stack([ones(3, 4), ones(3, 5)], axis=1), "stack", "(3, 4)",
                   "(3, 5)", "axis=1", STEP)


def test_cat_and_stack_of_an_empty_list():
    raises_in_step(tg.ShapeError, lambda: tg.cat([]), "cat", "empty", STEP)
    raises_in_step(tg.ShapeError, lambda: tg.stack([]), "stack", "empty", STEP)


def test_reshape_and_reduction_axes_that_do_not_fit():
    raises_in_step(tg.ShapeError, lambda: ones(3, 4).reshape(5, 2), "reshape", "(3, 4)", "(5, 2)", STEP)
    raises_in_step(tg.ShapeError, lambda: ones(3, 4).sum(axis=2), "sum", "(3, 4)", "axis=2", STEP)
    raises_in_step(tg.ShapeError, lambda: ones(3, 4).softmax(axis=2), "softmax", "(3, 4)", STEP)


@pytest.mark.parametrize("axes", [(0, 1, 1), (0, 2), (1, 2), (0, -3), (0, 1, 2), (0,)])
def test_bad_transpose_axes(axes):
    raises_in_step(tg.ShapeError, lambda: ones(3, 4).transpose(*axes), "transpose", str(axes), "(3, 4)", STEP)


# ---- indexing -----------------------------------------------------------------------------
def test_out_of_range_index():
    raises_in_step(tg.ShapeError, lambda: ones(3, 4)[5], "getitem", "(3, 4)", "out of bounds", STEP)
    raises_in_step(tg.ShapeError, lambda: ones(3, 4)[:, [0, 9]], "getitem", "(3, 4)", STEP)
    raises_in_step(tg.ShapeError, lambda: ones(3, 4)[-4], "getitem", "(3, 4)", STEP)


def test_non_integer_index_arrays():
    raises_in_step(TypeError, lambda: ones(3, 4)[np.array([0.0, 1.0])], "getitem", "float64", STEP)
    raises_in_step(TypeError, lambda: ones(3, 4)[Tensor([0.0, 1.0])], "getitem", "float32", STEP)


# ---- backward() misuse ----------------------------------------------------------------------
def test_backward_on_a_non_scalar_without_grad():
    raises_in_step(tg.GraphError, lambda: (ones(3, 4) * 2).backward(), "(3, 4)", "scalar", "grad=")


def test_backward_with_a_grad_of_the_wrong_shape():
    raises_in_step(tg.GraphError, lambda: (ones(3, 4) * 2).backward(np.ones((4, 3))), "(4, 3)", "(3, 4)")
    raises_in_step(tg.GraphError, lambda: (ones(3, 4) * 2).sum().backward(Tensor(np.ones(3))), "(3,)", "()")


def test_backward_from_a_tensor_without_a_graph():
    raises_in_step(tg.GraphError, lambda: ones(3, grad=False).sum().backward(), "does not require grad")

    def under_no_grad():
        x = ones(3)
        with tg.no_grad():
            y = (x * 2).sum()
        y.backward()
    raises_in_step(tg.GraphError, under_no_grad, "no_grad")


def test_second_backward_names_the_op_and_the_scope():
    x = ones(3)
    with tg.scope(STEP):
        loss = (x * x).sum()
    loss.backward()
    with pytest.raises(tg.GraphError) as info:
        loss.backward()
    assert "sum" in str(info.value) and STEP in str(info.value) and "retain_graph=True" in str(info.value)


def test_inplace_error_names_the_op_the_input_its_shape_and_the_scope():
    W = Tensor(np.ones((3, 2)), requires_grad=True, name="W")
    with tg.scope(STEP):
        y = ones(4, 3) @ W
    loss = y.sum()
    W.data = W.data * 2
    with pytest.raises(tg.InplaceModificationError) as info:
        loss.backward()
    for fragment in ("matmul", "'W'", "(3, 2)", STEP):
        assert fragment in str(info.value)


def test_anomaly_error_names_the_op_the_scope_and_the_input_shapes():
    x = Tensor(np.array([1.0, -1.0]), name="x")
    with np.errstate(invalid="ignore"), tg.detect_anomaly():
        msg = raises_in_step(tg.AnomalyError, lambda: x.log(), "log", STEP, "'x' (2,)", "NaN")
    assert re.search(r"\[-1, 1\]", msg)                       # the input's range


# ---- data the engine refuses ------------------------------------------------------------------
def test_integer_data_cannot_require_grad():
    with pytest.raises(TypeError, match="int64"):
        Tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        Tensor(np.array([1, 2])).requires_grad_()
    assert Tensor(np.array([1, 2])).dtype == np.int64          # fine as indices or targets


@pytest.mark.parametrize("data", [1j, np.array([1 + 2j]), np.array([object()]), "abc", np.array(["a", "b"]),
                                  [1, "a"]], ids=["complex", "complex array", "object", "str", "str array",
                                                  "mixed list"])
def test_unsupported_dtypes(data):
    with pytest.raises(TypeError, match="unsupported dtype"):
        Tensor(data)


def test_bool_data_without_grad_is_allowed():
    mask = Tensor(np.array([True, False]))
    assert mask.dtype == np.bool_ and not mask.requires_grad
    with pytest.raises(TypeError, match="bool"):
        Tensor(np.array([True, False]), requires_grad=True)


def test_item_on_a_non_scalar():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        ones(3, 4).item()
    assert ones(1, 1).item() == 1.0
