"""Every primitive's gradient against central finite differences, one line per case.

Each line reads `check_op(fn, *input shapes)`: inputs are float64, |x| in [0.2, 1]
(away from relu's kink), positive=True for log, pow bases and denominators.
A non-scalar output is checked through a random projection sum(R * fn(...)).
The second half draws random broadcastable shapes and axes with hypothesis.
"""

import numpy as np
import pytest
from helpers import check_op
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor

B, T, D, H = 2, 3, 4, 5


# ---- binary arithmetic ------------------------------------------------------
def test_add():
    check_op(lambda x, y: x + y, (3, 4), (3, 4))
    check_op(lambda x, y: x + y, (3, 1), (1, 4))
    check_op(lambda x, y: x + y, (2, 3), (3,))
    check_op(lambda x, y: x + y, (3,), (2, 3))
    check_op(lambda x, y: x + y, (B, T, D), (D,))
    check_op(lambda x, y: x + y, (B, H), (H,))
    check_op(lambda x, y: x + y, (), (2, 3))
    check_op(lambda x, y: x + y, (B, 1, D), (T, 1))
    check_op(lambda x: x + 2, (2, 3))
    check_op(lambda x: 2 + x, (2, 3))


def test_sub():
    check_op(lambda x, y: x - y, (3, 4), (3, 4))
    check_op(lambda x, y: x - y, (3, 1), (1, 4))
    check_op(lambda x, y: x - y, (2, 3), (3,))
    check_op(lambda x, y: x - y, (3,), (2, 3))
    check_op(lambda x, y: x - y, (B, T, D), (D,))
    check_op(lambda x, y: x - y, (B, H), (H,))
    check_op(lambda x, y: x - y, (2, 3), ())
    check_op(lambda x: x - 2, (2, 3))
    check_op(lambda x: 2 - x, (2, 3))


def test_mul():
    check_op(lambda x, y: x * y, (3, 4), (3, 4))
    check_op(lambda x, y: x * y, (3, 1), (1, 4))
    check_op(lambda x, y: x * y, (2, 3), (3,))
    check_op(lambda x, y: x * y, (3,), (2, 3))
    check_op(lambda x, y: x * y, (B, T, D), (D,))
    check_op(lambda x, y: x * y, (B, H), (H,))
    check_op(lambda x, y: x * y, (), (2, 3))
    check_op(lambda x: x * 2, (2, 3))
    check_op(lambda x: 2 * x, (2, 3))
    check_op(lambda x: x * x, (2, 3))


def test_div():
    check_op(lambda x, y: x / y, (3, 4), (3, 4), positive=True)
    check_op(lambda x, y: x / y, (3, 1), (1, 4), positive=True)
    check_op(lambda x, y: x / y, (2, 3), (3,), positive=True)
    check_op(lambda x, y: x / y, (3,), (2, 3), positive=True)
    check_op(lambda x, y: x / y, (B, T, D), (D,), positive=True)
    check_op(lambda x, y: x / y, (B, H), (H,), positive=True)
    check_op(lambda x, y: x / y, (2, 3), (), positive=True)
    check_op(lambda x: x / 2, (2, 3))
    check_op(lambda x: 2 / x, (2, 3))
    check_op(lambda x: x / x, (2, 3))


def test_pow():
    check_op(lambda x, y: x ** y, (3, 4), (3, 4), positive=True)
    check_op(lambda x, y: x ** y, (3, 1), (1, 4), positive=True)
    check_op(lambda x, y: x ** y, (2, 3), (3,), positive=True)
    check_op(lambda x, y: x ** y, (3,), (2, 3), positive=True)
    check_op(lambda x, y: x ** y, (B, H), (H,), positive=True)
    check_op(lambda x, y: x ** y, (B, T, D), (D,), positive=True)
    check_op(lambda x, y: x ** y, (), (2, 3), positive=True)
    check_op(lambda x: x ** 2, (2, 3))
    check_op(lambda x: x ** 3, (2, 3))
    check_op(lambda x: x ** -1, (2, 3))
    check_op(lambda x: x ** 0.5, (2, 3), positive=True)
    check_op(lambda x: 2 ** x, (2, 3))
    check_op(lambda x: 0.5 ** x, (2, 3))


def test_numpy_array_on_the_left():
    check_op(lambda x: np.full((2, 3), 2.0) * x, (2, 3))
    check_op(lambda x: np.full((3,), 2.0) - x, (2, 3))
    check_op(lambda x: np.full((2, 3), 2.0) / x, (2, 3))
    check_op(lambda W: np.ones((2, 4)) @ W, (4, 3))
    check_op(lambda h: h @ np.ones((4, 3)), (2, 4))


def test_neg():
    check_op(lambda x: -x, (3, 4))
    check_op(lambda x: -x, ())
    check_op(lambda x, y: -(x * y), (3, 1), (4,))


# ---- matmul -------------------------------------------------------------------
def test_matmul_2d():
    check_op(lambda a, b: a @ b, (3, 4), (4, 5))
    check_op(lambda a, b: a @ b, (1, 4), (4, 1))
    check_op(lambda a, b: a @ b, (3, 3), (3, 3))


def test_matmul_with_vectors():
    check_op(lambda a, b: a @ b, (4,), (4,))
    check_op(lambda a, b: a @ b, (4,), (4, 5))
    check_op(lambda a, b: a @ b, (4,), (4, 4))
    check_op(lambda a, b: a @ b, (3, 4), (4,))
    check_op(lambda a, b: a @ b, (B, 3, 4), (4,))
    check_op(lambda a, b: a @ b, (4,), (B, 4, 5))


def test_matmul_batched():
    check_op(lambda a, b: a @ b, (B, T, D), (D, H))
    check_op(lambda a, b: a @ b, (2, B, 3, 4), (4, 5))               # G Vᵀ as one 2-D product
    check_op(lambda a, b: a @ b, (B, 3, 4), (B, 4, 5))
    check_op(lambda a, b: a @ b, (3, 4), (B, 4, 5))
    check_op(lambda a, b: a @ b, (1, 3, 4), (B, 4, 5))
    check_op(lambda a, b: a @ b, (B, 1, 3, 4), (T, 4, 2))


# ---- elementwise ----------------------------------------------------------------
def test_unary_elementwise():
    check_op(lambda x: x.exp(), (3, 4))
    check_op(lambda x: x.log(), (3, 4), positive=True)
    check_op(lambda x: x.tanh(), (3, 4))
    check_op(lambda x: x.sigmoid(), (3, 4))
    check_op(lambda x: x.relu(), (3, 4))
    check_op(lambda x: (x * 10).sigmoid(), (3, 4))
    check_op(lambda x: x.exp(), ())
    check_op(lambda x: x.abs(), (3, 4))
    check_op(lambda x: x.sqrt(), (3, 4), positive=True)
    check_op(lambda x: x.clamp(-0.5, 0.5), (3, 4))
    check_op(lambda x: x.clamp(min=0.3), (3, 4))
    check_op(lambda x: x.clip(max=0.0), (3, 4))


# ---- reductions -----------------------------------------------------------------
def test_sum():
    check_op(lambda x: x.sum(), (3, 4))
    check_op(lambda x: x.sum(axis=0), (3, 4))
    check_op(lambda x: x.sum(axis=1), (3, 4))
    check_op(lambda x: x.sum(axis=-1), (B, T, D))
    check_op(lambda x: x.sum(axis=(0, 2)), (B, T, D))
    check_op(lambda x: x.sum(axis=(-1, 0)), (B, T, D))
    check_op(lambda x: x.sum(axis=[0, 1]), (B, T, D))
    check_op(lambda x: x.sum(keepdims=True), (3, 4))
    check_op(lambda x: x.sum(axis=1, keepdims=True), (B, T, D))
    check_op(lambda x: x.sum(axis=(0, -1), keepdims=True), (B, T, D))
    check_op(lambda x: x.sum(dim=1, keepdim=True), (B, T, D))
    check_op(lambda x: x.sum(dim=(0, 2)), (B, T, D))


def test_mean():
    check_op(lambda x: x.mean(), (3, 4))
    check_op(lambda x: x.mean(axis=0), (3, 4))
    check_op(lambda x: x.mean(axis=-1), (B, T, D))
    check_op(lambda x: x.mean(axis=(0, 2)), (B, T, D))
    check_op(lambda x: x.mean(axis=1, keepdims=True), (B, T, D))
    check_op(lambda x: x.mean(keepdims=True), (B, T, D))
    check_op(lambda x: x.mean(dim=-1, keepdim=True), (B, T, D))


def test_max():
    check_op(lambda x: x.max(), (3, 4))
    check_op(lambda x: x.max(axis=0), (3, 4))
    check_op(lambda x: x.max(axis=1), (3, 4))
    check_op(lambda x: x.max(axis=-1), (B, T, D))
    check_op(lambda x: x.max(axis=(0, 2)), (B, T, D))
    check_op(lambda x: x.max(axis=(-1, 0)), (B, T, D))
    check_op(lambda x: x.max(keepdims=True), (3, 4))
    check_op(lambda x: x.max(axis=1, keepdims=True), (B, T, D))
    check_op(lambda x: x.max(axis=(0, -1), keepdims=True), (B, T, D))
    check_op(lambda x: x.max(dim=1, keepdim=True).values, (B, T, D))


def test_min():
    check_op(lambda x: x.min(), (3, 4))
    check_op(lambda x: x.min(axis=0), (3, 4))
    check_op(lambda x: x.min(axis=(0, 2)), (B, T, D))
    check_op(lambda x: x.min(dim=-1, keepdim=True).values, (B, T, D))


def test_softmax_and_log_softmax():
    check_op(lambda x: x.softmax(), (3, 4))
    check_op(lambda x: x.softmax(axis=0), (3, 4))
    check_op(lambda x: x.softmax(axis=1), (B, T, D))
    check_op(lambda x: x.softmax(axis=-1), (B, T, D))
    check_op(lambda x: x.log_softmax(), (3, 4))
    check_op(lambda x: x.log_softmax(axis=0), (3, 4))
    check_op(lambda x: x.log_softmax(axis=1), (B, T, D))
    check_op(lambda x: x.log_softmax(axis=-1), (B, T, D))
    check_op(lambda x: (x * 30).log_softmax(), (3, 4))
    check_op(lambda x: x.softmax(dim=1), (B, T, D))
    check_op(lambda x: x.log_softmax(dim=0), (B, T, D))


# ---- shape ------------------------------------------------------------------------
def test_reshape():
    check_op(lambda x: x.reshape(4, 3), (3, 4))
    check_op(lambda x: x.reshape((2, 6)), (3, 4))
    check_op(lambda x: x.reshape([12]), (3, 4))
    check_op(lambda x: x.reshape(-1, 2), (3, 4))
    check_op(lambda x: x.reshape(B * T, D), (B, T, D))
    check_op(lambda x: x.reshape(()), (1, 1))


def test_transpose():
    check_op(lambda x: x.transpose(), (3, 4))
    check_op(lambda x: x.T, (3, 4))
    check_op(lambda x: x.T, (B, T, D))
    check_op(lambda x: x.transpose(1, 0), (3, 4))
    check_op(lambda x: x.transpose(0, 2, 1), (B, T, D))
    check_op(lambda x: x.transpose(1, 2, 0), (B, T, D))
    check_op(lambda x: x.transpose(2, 0, 1), (B, T, D))
    check_op(lambda x: x.transpose((1, 0, 2)), (B, T, D))
    check_op(lambda x: x.transpose(-1, 0, -2), (B, T, D))
    check_op(lambda x: x.transpose(), (4,))
    check_op(lambda x: x.transpose(0, 1), (B, T, D))      # two ints: torch's swap
    check_op(lambda x: x.transpose(-1, 0), (B, T, D))
    check_op(lambda x: x.transpose(0, 1), (3, 4))
    check_op(lambda x: x.permute(2, 0, 1), (B, T, D))


def test_torch_shape_methods():
    check_op(lambda x: x.view(D, B * T), (B, T, D))
    check_op(lambda x: x.view(-1), (B, T, D))
    check_op(lambda x: x.flatten(), (B, T, D))
    check_op(lambda x: x.flatten(1), (B, T, D))
    check_op(lambda x: x.flatten(0, 1), (B, T, D))
    check_op(lambda x: x.unsqueeze(1), (3, 4))
    check_op(lambda x: x.unsqueeze(dim=-1), (3, 4))
    check_op(lambda x: x.squeeze(), (3, 1, 4, 1))
    check_op(lambda x: x.squeeze(1), (3, 1, 4, 1))
    check_op(lambda x: x.squeeze(dim=(1, 3)), (3, 1, 4, 1))


def test_getitem_ints_slices_negative():
    check_op(lambda x: x[1], (3, 4))
    check_op(lambda x: x[-1], (3, 4))
    check_op(lambda x: x[1, 2], (3, 4))
    check_op(lambda x: x[-1, -2], (3, 4))
    check_op(lambda x: x[2], (4,))
    check_op(lambda x: x[1:], (3, 4))
    check_op(lambda x: x[:, ::2], (3, 4))
    check_op(lambda x: x[::-1, 1:-1], (3, 4))
    check_op(lambda x: x[:, -1], (B, T, D))
    check_op(lambda x: x[:, 1, :], (B, T, D))
    check_op(lambda x: x[..., 0], (B, T, D))
    check_op(lambda x: x[None, 1], (3, 4))


def test_getitem_integer_arrays():
    check_op(lambda x: x[[0, 2]], (3, 4))
    check_op(lambda x: x[np.array([2, 0, 1])], (3, 4))
    check_op(lambda x: x[:, np.array([3, -1, 0])], (3, 4))
    check_op(lambda x: x[np.array([[0, 1], [2, 0]])], (3, 4))
    check_op(lambda x: x[Tensor(np.array([1, 2]))], (3, 4))


def test_getitem_repeated_indices_accumulate():
    check_op(lambda x: x[[0, 0, 2]], (3, 4))
    check_op(lambda x: x[[0, 0, 0, 0]], (3,))
    check_op(lambda x: x[[0, 0, 2], [1, 1, 3]], (3, 4))
    check_op(lambda x: x[np.arange(4), np.array([1, 0, 1, 2])], (4, 3))  # cross-entropy's pick
    check_op(lambda x: x[np.arange(4), np.array([2, 2, 2, 2])], (4, 3))
    check_op(lambda x: x[np.array([1, 1]), :, np.array([0, 0])], (B, T, D))
    check_op(lambda x: x.log_softmax()[np.arange(4), np.array([1, 0, 1, 1])].mean(), (4, 3))


def test_getitem_boolean_masks():
    check_op(lambda x: x[np.array([True, False, True])], (3, 4))
    check_op(lambda x: x[np.array([[True, False, False, True]] * 3)], (3, 4))
    check_op(lambda x: x[:, np.array([False, True, True, False])], (3, 4))
    check_op(lambda x: x[[True, True, False]], (3, 4))


def test_cat():
    check_op(lambda a, b: tg.cat([a, b]), (2, 3), (4, 3))
    check_op(lambda a, b: tg.cat([a, b], axis=1), (2, 3), (2, 5))
    check_op(lambda a, b: tg.cat([a, b], axis=-1), (B, H), (B, D))  # z_t = [h_{t-1}, x_t]
    check_op(lambda a, b, c: tg.cat([a, b, c]), (1, 3), (2, 3), (3, 3))
    check_op(lambda a, b, c: tg.cat([a, b, c], axis=1), (B, 1, D), (B, 2, D), (B, 3, D))
    check_op(lambda a, b, c: tg.cat([a, b, c], axis=-1), (B, T, 1), (B, T, 2), (B, T, 3))
    check_op(lambda a: tg.cat([a, a * 2, a], axis=0), (2, 3))


def test_stack():
    check_op(lambda a, b: tg.stack([a, b]), (2, 3), (2, 3))
    check_op(lambda a, b: tg.stack([a, b], axis=1), (2, 3), (2, 3))
    check_op(lambda a, b, c: tg.stack([a, b, c]), (B, H), (B, H), (B, H))
    check_op(lambda a, b, c: tg.stack([a, b, c], axis=1), (B, H), (B, H), (B, H))  # (B, T, H)
    check_op(lambda a, b, c: tg.stack([a, b, c], axis=-1), (B, H), (B, H), (B, H))
    check_op(lambda a, b, c: tg.stack([a, b, c], axis=2), (B, T, D), (B, T, D), (B, T, D))
    check_op(lambda a: tg.stack([a, a.tanh(), a], axis=0), (2, 3))


def test_composed_rnn_step():
    check_op(lambda x, h, W, U, b: (x @ W + h @ U + b).tanh(), (B, D), (B, H), (D, H), (H, H), (H,))


# ---- dtypes -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_scalars_keep_the_tensor_dtype(dtype):
    x = Tensor(np.ones((2, 3), dtype=dtype), requires_grad=True)
    for y in (x * 2, 2 * x, x + 1.5, 1.5 + x, x - 2, 2 - x, x / 2, 2 / x, x ** 2, 2 ** x, -x):
        assert y.dtype == dtype
    (x * 2).sum().backward()
    assert x.grad.dtype == dtype


def test_numpy_float_arrays_keep_their_dtype():
    assert Tensor(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.ones(3, dtype=np.float64)).dtype == np.float64
    assert Tensor(np.float64(1.0)).dtype == np.float64
    assert Tensor(np.arange(3)).dtype == np.arange(3).dtype
    # numpy promotion decides the result; the float32 input still gets a float32 gradient
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x * np.full(3, 2.0)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2, 2, 2])


def test_python_lists_and_numbers_take_torchs_dtypes():
    assert tg.get_default_dtype() == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([1, 2.5]).dtype == np.float32          # one float makes the list float
    assert Tensor([1, 2]).dtype == np.int64              # ints are int64, as torch.tensor([1, 2])
    assert Tensor(3).dtype == np.int64 and Tensor([True]).dtype == np.bool_
    assert Tensor(3.0).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_set_default_dtype_switches_and_restores():
    old = tg.get_default_dtype()
    try:
        tg.set_default_dtype(np.float64)
        assert tg.get_default_dtype() == np.float64
        assert Tensor([1.0, 2.0]).dtype == np.float64
        assert Tensor(2.0).dtype == np.float64
        assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32  # arrays keep theirs
        with pytest.raises(TypeError):
            tg.set_default_dtype(np.int64)
    finally:
        tg.set_default_dtype(old)
    assert Tensor([1.0]).dtype == old


def test_grad_is_an_array_of_the_input_shape_even_for_0d():
    x = Tensor(np.float64(3.0), requires_grad=True)
    (x * x).backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == ()
    assert x.grad == 6.0


# ---- hypothesis: random broadcastable shapes and random axes -------------------------
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "pow": lambda x, y: x ** y,
}


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_random_shapes(name, shapes, seed):
    check_op(BINARY[name], *shapes.input_shapes, positive=name in ("div", "pow"), seed=seed)


@st.composite
def shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    n = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-n, n - 1),
        st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True).map(tuple)))
    return shape, axis


@settings(max_examples=25, deadline=None)
@given(reduction=st.sampled_from(["sum", "mean", "max"]), shape_axis=shape_and_axis(),
       keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reductions_random_shapes_and_axes(reduction, shape_axis, keepdims, seed):
    shape, axis = shape_axis
    fn = lambda x: getattr(x, reduction)(axis=axis, keepdims=keepdims)
    out = fn(Tensor(np.ones(shape)))
    assert out.shape == getattr(np.ones(shape), reduction)(axis=axis, keepdims=keepdims).shape
    check_op(fn, shape, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), data=st.data())
def test_transpose_random_permutations(shape, data):
    axes = data.draw(st.permutations(range(len(shape))))
    check_op(lambda x: x.transpose(*axes), shape)
