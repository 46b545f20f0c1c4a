"""The generated replay writes some VJPs out instead of calling them (codegen._INLINE,
the matmul, stack and cat slices): each must be its ops.py row, to the last bit."""

import functools

import numpy as np
import pytest

from tinygrad_rnn import codegen, ops

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("op, i", sorted(codegen._INLINE, key=lambda k: (k[0].name, k[1])),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_an_inlined_vjp_is_its_row_bit_for_bit(op, i):
    xs = [RNG.standard_normal((3, 4)) for _ in range(2 if op.name in ("add", "sub", "mul") else 1)]
    y, g = op.forward(*xs), RNG.standard_normal((3, 4))
    names = {"g": g, "y": y, **{f"x{j}": x for j, x in enumerate(xs)}}
    expr = codegen._INLINE[op, i].format(**{k: k for k in names})
    np.testing.assert_array_equal(eval(expr, {}, names), op.vjp(i, g, y, xs, {}))   # noqa: S307


@pytest.mark.parametrize("a_shape", [(3, 4), (2, 3, 4)])
def test_the_written_out_matmul_vjp_is_the_rule(a_shape):
    a, b = RNG.standard_normal(a_shape), RNG.standard_normal((4, 5))
    y = a @ b
    g = RNG.standard_normal(y.shape)
    np.testing.assert_array_equal(g @ b.T, ops.matmul.vjp(0, g, y, [a, b], {}))


@pytest.mark.parametrize("op, axis", [(ops.stack, 1), (ops.stack, -1), (ops.stack, 0),
                                      (ops.cat, -1), (ops.cat, 0)], ids=str)
def test_the_written_out_stack_and_cat_slices_are_the_rule(op, axis):
    xs = [RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))]
    y = op.forward(*xs, axis=axis)
    g = RNG.standard_normal(y.shape)
    for i in range(3):
        where = codegen._slice_of(op, y.ndim, axis, i, xs)
        np.testing.assert_array_equal(eval(f"g[{where}]", {}, {"g": g}),   # noqa: S307
                                      op.vjp(i, g, y, xs, {"axis": axis}))


@pytest.mark.parametrize("index", [(slice(None), 3), (2,), (slice(1, 4), slice(None, None, 2)),
                                   (slice(None), slice(2, None), 0)], ids=str)
def test_a_written_out_index_reads_the_same_elements(index):
    x = RNG.standard_normal((5, 6, 7))
    np.testing.assert_array_equal(eval(f"x[{codegen._literal(index)}]", {}, {"x": x}), x[index])  # noqa: S307


def test_an_index_with_arrays_is_not_written_out():
    assert codegen._literal((slice(None), np.array([0, 2]))) is None
    assert codegen._literal(()) is None


@pytest.mark.parametrize("shape, axis", [((2, 3), 1), ((2, 3), 0), ((2, 3), -2), ((4,), 0), ((2, 3), 2)],
                         ids=str)
def test_a_stack_written_as_one_concatenate_is_the_row(shape, axis):
    xs = [RNG.standard_normal(shape) for _ in range(5)]
    y = ops.stack.forward(*xs, axis=axis)
    joined = codegen._stack_as_cat(ops.stack, functools.partial(ops.stack.forward, axis=axis), xs)
    if axis % (len(shape) + 1) == len(shape):
        assert joined is None                  # a new last axis: no axis to concatenate along
        return
    np.testing.assert_array_equal(np.concatenate(xs, axis=joined).reshape(y.shape), y)


def test_a_stack_of_different_shapes_is_not_written_as_a_concatenate():
    xs = [np.zeros((2, 3)), np.zeros((3, 2))]
    assert codegen._stack_as_cat(ops.stack, functools.partial(ops.stack.forward, axis=0), xs) is None


@pytest.mark.parametrize("op, i", sorted(codegen._INTO, key=lambda k: k[0].name),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_a_vjp_written_into_a_stack_is_its_row_bit_for_bit(op, i):
    x, g = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    y, buf = op.forward(x), np.zeros((5, 4))
    out = eval(codegen._INTO[op, i].format(g="g", y="y", out="buf[1:4]"),   # noqa: S307
               {"multiply": np.multiply, "subtract": np.subtract}, {"g": g, "y": y, "buf": buf})
    assert np.shares_memory(out, buf)
    np.testing.assert_array_equal(buf[1:4], op.vjp(i, g, y, [x], {}))
    np.testing.assert_array_equal(buf[[0, 4]], 0)


@pytest.mark.parametrize("op, params", [(ops.reshape, {"shape": (6, 2)}), (ops.reshape, {"shape": (-1,)}),
                                        (ops.sum, {"axis": None, "keepdims": False}),
                                        (ops.sum, {"axis": 1, "keepdims": True}),
                                        (ops.log_softmax, {"axis": -1})], ids=str)
def test_a_row_written_out_with_its_parameters_is_the_row_bit_for_bit(op, params):
    x = RNG.standard_normal((3, 4))
    y = op.forward(x, **params)
    names = {"x0": "x", "g": "g", "y": "y", **{k: repr(v) for k, v in params.items()}}
    scope = {"np": np, "broadcast_to": np.broadcast_to, "x": x, "y": y}
    if op in codegen._WRITTEN:
        np.testing.assert_array_equal(eval(codegen._WRITTEN[op].format(**names), scope), y)  # noqa: S307
    scope["g"] = RNG.standard_normal(np.shape(y))
    assert codegen._written(codegen._WRITTEN_VJP[op, 0], op, params)
    np.testing.assert_array_equal(eval(codegen._WRITTEN_VJP[op, 0].format(**names), scope),  # noqa: S307
                                  op.vjp(0, scope["g"], y, [x], params))


def test_a_sum_that_restores_an_axis_calls_its_rule():
    assert not codegen._written(codegen._WRITTEN_VJP[ops.sum, 0], ops.sum, {"axis": 0, "keepdims": False})
