"""More misuse, by family: each case either works as PyTorch would or raises a clear error.

Regular families are tables of generated cases (every bad size for every layer,
every undecidable gradcheck, every context manager entered twice); the
hand-picked ones are rows of `CASES`, rendered into docs/errors.md ("More
mistakes") exactly as test_bad_inputs.py renders its table. Regenerate with

    TG_WRITE_ERRORS_TABLE=1 python -m pytest tests/test_bad_inputs_more.py
"""

from __future__ import annotations

import os
import random
import stat
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import Case, compare_with_docs, provoke, render

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.checkpoint import CheckpointError

F = nn.functional
BEGIN = ("<!-- BEGIN more-bad-inputs table: generated from tests/test_bad_inputs_more.py; "
         "do not edit by hand -->")
END = "<!-- END more-bad-inputs table -->"


# ---- gradcheck: a check that cannot decide says so -------------------------------------------
UNDECIDABLE = {                       # fn, input: a NaN or Inf in the analytic or numeric gradient
    "relu-kink-plus-log-of-negative": (lambda x: x[0].relu() + x[1].log(), [0.0, -1.0]),
    "log-of-negative": (lambda x: x.log().sum(), [-1.0, 2.0]),
    "log-at-zero": (lambda x: x.log().sum(), [0.0, 2.0]),
    "sqrt-at-zero": (lambda x: (x ** 0.5).sum(), [0.0, 1.0]),
    "reciprocal-at-zero": (lambda x: (1 / x).sum(), [0.0, 1.0]),
    "nan-in-the-input": (lambda x: (x * x).sum(), [np.nan, 1.0]),
    "inf-in-the-input": (lambda x: x.tanh().sum(), [np.inf, 1.0]),
    "exp-overflow": (lambda x: x.exp().sum(), [1000.0, 1.0]),
    "nan-only-in-backward": (lambda x: (x * 0.0) ** 0.5, [1.0, 2.0]),
}


@pytest.mark.parametrize("name", UNDECIDABLE)
def test_gradcheck_that_cannot_decide_says_so(name):
    fn, x = UNDECIDABLE[name]
    with np.errstate(all="ignore"), pytest.raises(tg.GradcheckUndecidable, match="cannot check input 0"):
        tg.gradcheck(fn, [np.array(x)])


def test_the_issue_reproduction_is_not_true():
    with np.errstate(all="ignore"), pytest.raises(tg.GradcheckError):   # never True
        tg.gradcheck(lambda x: x[0].relu() + x[1].log(), [np.array([0., -1.])])
    with pytest.raises(tg.GradcheckError, match="analytic 0.000000e\\+00 vs numeric 5.000000e-01"):
        tg.gradcheck(lambda x: x[0].relu(), [np.array([0., -1.])])          # the kink alone fails


@pytest.mark.parametrize("kwargs, error", [
    ({"eps": 0}, ValueError), ({"eps": -1e-6}, ValueError), ({"eps": float("nan")}, ValueError),
    ({"eps": "1e-6"}, TypeError), ({"atol": -1.0}, ValueError), ({"rtol": float("inf")}, ValueError),
    ({"atol": None}, TypeError), ({"eps": True}, TypeError)])
def test_gradcheck_settings_are_checked(kwargs, error):
    with pytest.raises(error, match="gradcheck: (eps|atol|rtol)"):
        tg.gradcheck(lambda x: x.sum(), [np.ones(2)], **kwargs)


def test_gradcheck_fn_must_return_a_float_tensor():
    with pytest.raises(TypeError, match="fn must return a float Tensor, got float64"):
        tg.gradcheck(lambda x: x.data.sum(), [np.ones(2)])


# ---- checkpoints: every failure of tg.load is a CheckpointError -------------------------------
def _saved(tmp_path) -> tuple[Path, dict]:
    state = {"W": np.random.default_rng(0).standard_normal((20, 20)), "steps": np.arange(5),
             "opt": {"lr": np.array(0.1)}}
    path = tmp_path / "ckpt.npz"
    tg.save(state, path)
    return path, state


def test_random_bit_flips_load_correctly_or_raise_checkpoint_error(tmp_path):
    """500 files with 1-4 flipped bits each: a CheckpointError, or the very values saved
    (a flip in a field nothing reads, such as a timestamp), never another exception."""
    path, state = _saved(tmp_path)
    raw, rng, outcomes = path.read_bytes(), random.Random(0), {"error": 0, "intact": 0}
    bad = tmp_path / "flipped.npz"
    for _ in range(500):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(b))
        try:
            back = tg.load(bad)
        except CheckpointError:
            outcomes["error"] += 1
            continue
        np.testing.assert_array_equal(back["W"], state["W"])
        np.testing.assert_array_equal(back["steps"], state["steps"])
        assert float(back["opt"]["lr"]) == 0.1
        outcomes["intact"] += 1
    assert outcomes["error"] > 400


@pytest.mark.parametrize("keep", [4, 10, 30, 100, 500, -200, -30, -1])
def test_truncated_anywhere_is_a_checkpoint_error(tmp_path, keep):
    path, _ = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(CheckpointError):
        tg.load(path)


def _rewrite_member_header(path: Path, offset: int, value: bytes) -> None:
    """Patch the first member's local header (and the central directory's copy)."""
    b = bytearray(path.read_bytes())
    b[offset:offset + len(value)] = value
    cd = b.find(b"PK\x01\x02")
    b[cd + offset + 2:cd + offset + 2 + len(value)] = value      # central header fields sit 2 bytes later
    path.write_bytes(bytes(b))


def test_unknown_compression_method_is_a_checkpoint_error(tmp_path):
    path, _ = _saved(tmp_path)
    _rewrite_member_header(path, 8, (99).to_bytes(2, "little"))   # zipfile: NotImplementedError
    with pytest.raises(CheckpointError, match="NotImplementedError|corrupt"):
        tg.load(path)


def test_encrypted_flag_is_a_checkpoint_error(tmp_path):
    path, _ = _saved(tmp_path)
    _rewrite_member_header(path, 6, (1).to_bytes(2, "little"))    # zipfile: RuntimeError, password required
    with pytest.raises(CheckpointError):
        tg.load(path)


def test_unreadable_file_is_a_checkpoint_error(tmp_path, monkeypatch):
    path, _ = _saved(tmp_path)
    real_open = open

    def refuse(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(CheckpointError, match="no permission to read"):
        tg.load(path)


@pytest.mark.parametrize("path", [None, 3, ["a.npz"]])
def test_load_of_a_non_path_is_a_checkpoint_error(path):
    with pytest.raises(CheckpointError, match="must be a str or os.PathLike"):
        tg.load(path)


def test_load_of_an_empty_path_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="empty"):
        tg.load("")


# ---- checkpoints: tg.save's errors, and a save never changes what the path is -----------------
def test_save_permission_error_names_the_path_not_the_temp_file(tmp_path, monkeypatch):
    real = os.open

    def refuse(path, *args, **kwargs):
        if ".tmp" in os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(CheckpointError) as info:
        tg.save({"w": np.ones(2)}, tmp_path / "model.npz")
    message = str(info.value)
    assert "model.npz" in message and ".tmp" not in message and "Permission denied" in message
    assert isinstance(info.value, OSError)                        # also an OSError, as before


@pytest.mark.parametrize("path, fragment", [("", "empty"), ("dir/", "names a directory"),
                                            (None, "str or os.PathLike"), (3.5, "str or os.PathLike")])
def test_save_bad_paths(tmp_path, monkeypatch, path, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=fragment):
        tg.save({"w": np.ones(2)}, path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", [[[1, 2], [3]], [np.ones(2), np.ones(3)]])
def test_save_ragged_values(tmp_path, value):
    with pytest.raises(CheckpointError, match="'w' is not an array"):
        tg.save({"w": value}, tmp_path / "m.npz")


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o444, 0o755])
def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path, mode):
    path = tmp_path / "m.npz"
    tg.save({"w": np.ones(2)}, path)
    os.chmod(path, mode)
    tg.save({"w": np.zeros(2)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    np.testing.assert_array_equal(tg.load(path)["w"], np.zeros(2))


def test_save_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "real.npz"
    tg.save({"w": np.ones(2)}, real)
    os.chmod(real, 0o600)
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    tg.save({"w": np.full(2, 3.0)}, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(tg.load(real)["w"], np.full(2, 3.0))
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600


def test_save_through_a_dangling_symlink_creates_the_target(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "new.npz")
    tg.save({"w": np.ones(2)}, link)
    assert link.is_symlink() and (tmp_path / "new.npz").is_file()


def test_save_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        tg.save({"w": np.ones(2)}, fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(CheckpointError, match="not a regular file"):
        tg.save({"w": np.ones(2)}, "/dev/null")
    link = tmp_path / "to_dir"
    link.symlink_to(tmp_path)
    with pytest.raises(CheckpointError, match="directory"):
        tg.save({"w": np.ones(2)}, link)


def test_save_refuses_a_symlink_loop(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(CheckpointError, match="loop of symbolic links"):
        tg.save({"w": np.ones(2)}, a)
    assert a.is_symlink() and b.is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_load_refuses_what_is_not_a_regular_file_without_blocking(tmp_path, kind):
    path = tmp_path / "pipe"
    if kind == "fifo":
        os.mkfifo(path)                  # open() would wait for a writer forever
    else:
        path = Path("/dev/zero")         # read() would never end
    with pytest.raises(CheckpointError, match="not a regular file"):
        tg.load(path)


def test_empty_dicts_come_back(tmp_path):
    state = {"model": {"w": np.ones(2)}, "optim": {}, "extra": {"nested": {}}}
    tg.save(state, tmp_path / "m.npz")
    back = tg.load(tmp_path / "m.npz")
    assert back["optim"] == {} and back["extra"] == {"nested": {}}
    np.testing.assert_array_equal(back["model"]["w"], np.ones(2))


# ---- Module.load_state_dict: all or nothing ----------------------------------------------------
@pytest.mark.parametrize("bad", [np.array(["a", "b", "c"]), np.ones(3) + 1j, [[1, 2], [3]], None, "abc"])
def test_load_state_dict_changes_nothing_when_one_value_is_bad(bad):
    tg.manual_seed(0)
    layer = nn.Linear(2, 3, dtype=np.float64)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    state = {"weight": np.zeros((2, 3)), "bias": bad}           # weight comes first and is fine
    with pytest.raises(RuntimeError, match="load_state_dict into Linear: 'bias'"):
        layer.load_state_dict(state)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_needs_a_dict():
    with pytest.raises(TypeError, match="expected a dict of name -> array, got list"):
        nn.Linear(2, 3).load_state_dict([np.ones((2, 3))])


def test_load_state_dict_copies():
    layer = nn.Linear(2, 3, dtype=np.float64)
    w = np.zeros((2, 3))
    layer.load_state_dict({"weight": w, "bias": np.zeros(3)})
    w += 1                                                        # the model does not alias the dict
    np.testing.assert_array_equal(layer.weight.data, np.zeros((2, 3)))


# ---- every context manager is reusable ---------------------------------------------------------
MANAGERS = {
    "scope": (lambda: tg.scope("a"), lambda: tg.context.current_scope(), "", "a"),
    "no_grad": (tg.no_grad, tg.is_grad_enabled, True, False),
    "detect_anomaly": (tg.detect_anomaly, tg.context.is_anomaly_enabled, False, True),
    "record_edge_grads(False)": (lambda: tg.record_edge_grads(False),
                                 lambda: tg.context._RECORD_EDGES.get(), True, False),
    "enable_grad-inside-no_grad": (tg.enable_grad, tg.is_grad_enabled, True, True),
    "detect_anomaly(False)": (lambda: tg.detect_anomaly(False), tg.context.is_anomaly_enabled,
                              False, False),
}


@pytest.mark.parametrize("name", MANAGERS)
def test_a_context_manager_object_can_be_entered_again(name):
    make, read, outside, inside = MANAGERS[name]
    cm = make()
    for _ in range(3):
        with cm:
            assert read() == inside
        assert read() == outside


@pytest.mark.parametrize("name", MANAGERS)
def test_a_context_manager_object_can_nest_in_itself(name):
    make, read, outside, inside = MANAGERS[name]
    cm = make()
    with cm:
        with cm:
            pass
        assert read() == inside                 # the inner exit restored the outer entry
    assert read() == outside


@pytest.mark.parametrize("name", MANAGERS)
def test_a_context_manager_object_is_reusable_after_an_error(name):
    make, read, outside, inside = MANAGERS[name]
    cm = make()
    with pytest.raises(KeyError):
        with cm:
            raise KeyError("inside")
    assert read() == outside
    with cm:
        assert read() == inside
    assert read() == outside


@pytest.mark.parametrize("make, read, inside", [(tg.no_grad, tg.is_grad_enabled, False),
                                                (tg.detect_anomaly, tg.context.is_anomaly_enabled, True)])
def test_a_switch_works_as_a_decorator_as_torch_no_grad(make, read, inside):
    @make()
    def f(x):
        """doc"""
        return read(), x

    assert f(3) == (inside, 3) and f(4) == (inside, 4) and read() != inside and f.__doc__ == "doc"


@pytest.mark.parametrize("name", MANAGERS)
def test_an_exit_without_an_entry_is_a_clear_error(name):
    cm = MANAGERS[name][0]()
    with pytest.raises(RuntimeError, match="exited without a matching entry"):
        cm.__exit__(None, None, None)


def test_a_scope_object_nested_in_itself_names_both_levels():
    s = tg.scope("a")
    with s, s:
        assert tg.context.current_scope() == "a/a"
        x = Tensor(1.0) * 2
    assert x.scope == "a/a" and tg.context.current_scope() == ""


def test_one_scope_object_shared_by_threads():
    s, seen, errors = tg.scope("step"), [], []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            with tg.scope(f"thread{k}"):
                barrier.wait()
                for _ in range(200):
                    with s:
                        seen.append((k, tg.context.current_scope()))
                assert tg.context.current_scope() == f"thread{k}"
        except Exception as e:   # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(scope == f"thread{k}/step" for k, scope in seen) and len(seen) == 800


# ---- degenerate sizes --------------------------------------------------------------------------
LAYERS = {   # name -> (constructor of (size_a, size_b), argument names, minimum size)
    "Linear": (nn.Linear, ("in_features", "out_features"), 0),
    "Embedding": (nn.Embedding, ("num_embeddings", "embedding_dim"), 0),
    "RNN": (nn.RNN, ("input_size", "hidden_size"), 1),
    "LSTM": (nn.LSTM, ("input_size", "hidden_size"), 1),
    "GRU": (nn.GRU, ("input_size", "hidden_size"), 1),
    "RNNCell": (nn.RNNCell, ("input_size", "hidden_size"), 1),
    "LSTMCell": (nn.LSTMCell, ("input_size", "hidden_size"), 1),
    "GRUCell": (nn.GRUCell, ("input_size", "hidden_size"), 1),
}
BAD_SIZES = [(-1, ValueError), (2.5, TypeError), ("3", TypeError), (True, TypeError),
             (None, TypeError), (np.float64(3), TypeError)]
SIZE_CASES = [(layer, arg, value, error) for layer in LAYERS for arg in (0, 1)
              for value, error in BAD_SIZES + ([(0, ValueError)] if LAYERS[layer][2] else [])]


@pytest.mark.parametrize("layer, arg, value, error", SIZE_CASES,
                         ids=[f"{la}-{LAYERS[la][1][a]}={v!r}" for la, a, v, _ in SIZE_CASES])
def test_bad_sizes_are_refused_naming_the_layer_and_argument(layer, arg, value, error):
    make, names, _ = LAYERS[layer]
    sizes = [3, 4]
    sizes[arg] = value
    with pytest.raises(error, match=f"{layer}: {names[arg]} must be"):
        make(*sizes)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), 3])
def test_numpy_integer_sizes_are_sizes(value):
    assert nn.RNN(value, value).hidden_size == 3 and type(nn.Linear(value, 2).in_features) is int


def test_linear_with_no_inputs_outputs_its_zero_bias_as_torch():
    layer = nn.Linear(0, 3, dtype=np.float64)
    y = layer(Tensor(np.zeros((2, 0)), requires_grad=True))
    np.testing.assert_array_equal(y.data, np.zeros((2, 3)))        # torch: bias bound 0 when fan_in = 0
    y.sum().backward()
    assert layer.weight.grad.shape == (0, 3) and layer.bias.grad.shape == (3,)


def test_linear_with_no_outputs():
    y = nn.Linear(3, 0, dtype=np.float64)(np.ones((2, 3)))
    assert y.shape == (2, 0)


INITS = {"orthogonal_": nn.init.orthogonal_, "xavier_uniform_": nn.init.xavier_uniform_,
         "xavier_normal_": nn.init.xavier_normal_, "eye_": nn.init.eye_, "uniform_": nn.init.uniform_,
         "normal_": nn.init.normal_, "zeros_": nn.init.zeros_, "ones_": nn.init.ones_}


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
@pytest.mark.parametrize("name", INITS)
def test_initialising_an_empty_tensor_is_a_no_op(name, shape):
    t = Tensor(np.zeros(shape))
    assert INITS[name](t) is t and t.shape == shape


def test_spectral_radius_of_the_empty_matrix_is_a_no_op():
    U = Tensor(np.zeros((0, 0)))
    assert nn.init.spectral_radius_(U, 0.9) is U


@pytest.mark.parametrize("call, error, fragment", [
    (lambda t: nn.init.uniform_(t, 1.0, 0.0), ValueError, "a <= b"),
    (lambda t: nn.init.normal_(t, 0.0, -1.0), ValueError, "std must be >= 0"),
    (lambda t: nn.init.orthogonal_(t, gain="1"), TypeError, "gain must be a real number"),
    (lambda t: nn.init.constant_(t, "x"), TypeError, "value must be a real number"),
    (lambda t: nn.init.uniform_(t, "0", 1), TypeError, "a must be a real number"),
    (lambda t: nn.init.spectral_radius_(t, float("inf")), ValueError, "rho must be finite"),
    (lambda t: nn.init.spectral_radius_(t, "0.9"), TypeError, "rho must be a real number"),
    (lambda t: nn.init.xavier_normal_(t, gain=None), TypeError, "gain must be a real number"),
])
def test_init_arguments_are_checked(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call(Tensor(np.ones((3, 3))))


@pytest.mark.parametrize("name", ["uniform_", "normal_", "orthogonal_", "xavier_uniform_", "xavier_normal_"])
def test_random_init_of_an_integer_tensor_is_refused(name):
    with pytest.raises(TypeError, match=f"init.{name}: needs a float tensor, got dtype int64"):
        INITS[name](Tensor(np.zeros((3, 3), dtype=np.int64)))


def test_constant_that_an_integer_tensor_cannot_hold_is_refused():
    t = Tensor(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="cannot hold these values exactly"):
        nn.init.constant_(t, 0.5)
    np.testing.assert_array_equal(nn.init.constant_(t, 2).data, [2, 2, 2])


@pytest.mark.parametrize("reduce", ["sum", "max", "mean"])
@pytest.mark.parametrize("axis", [0, -1])
def test_reducing_a_0d_tensor_along_axis_0_works_as_torch(reduce, axis):
    x = Tensor(np.array(2.0), requires_grad=True)
    y = getattr(x, reduce)(axis=axis)
    assert y.shape == () and float(y.data) == 2.0
    y.backward()
    assert x.grad.shape == () and float(x.grad) == 1.0


@pytest.mark.parametrize("p, error", [("0.5", TypeError), (None, TypeError), ([0.5], TypeError),
                                      (True, TypeError), (float("nan"), ValueError), (-0.1, ValueError),
                                      (1.5, ValueError)])
def test_dropout_probability_is_checked(p, error):
    with pytest.raises(error, match="Dropout: p must be"):
        nn.Dropout(p)


def test_dropout_takes_numpy_floats():
    assert nn.Dropout(np.float32(0.25)).p == 0.25


# ---- dtype problems are dtype errors, not shape errors -----------------------------------------
BOOL = np.array([True, False])
DTYPE_CASES = {
    "bool-minus-bool": (lambda: Tensor(BOOL) - Tensor(BOOL), TypeError, "sub", "bool and bool"),
    "negate-bool": (lambda: -Tensor(BOOL), TypeError, "neg", "bool"),
    "bool-minus-bool-array": (lambda: Tensor(BOOL) - BOOL, TypeError, "sub", "bool and bool"),
    "int-to-negative-int-power": (lambda: Tensor(np.array([2, 3])) ** Tensor(np.array([-1, 2])),
                                  ValueError, "pow", "int64 and int64"),
    "int-scalar-to-negative-int": (lambda: Tensor(np.array([2, 3])) ** -1, ValueError, "pow", "int64"),
    "bool-rsub": (lambda: BOOL - Tensor(BOOL), TypeError, "sub", "bool and bool"),
}


@pytest.mark.parametrize("name", DTYPE_CASES)
def test_dtype_problems_name_the_op_and_dtypes(name):
    run, error, op, dtypes = DTYPE_CASES[name]
    with pytest.raises(error) as info:
        run()
    message = str(info.value)
    assert type(info.value) is error and not isinstance(info.value, tg.ShapeError)
    assert message.startswith(f"{op}: not defined for dtypes") and dtypes in message
    assert "broadcast" not in message


def test_a_shape_problem_with_bools_is_still_a_shape_error():
    with pytest.raises(tg.ShapeError, match="broadcast"):
        Tensor(np.ones(2, bool)) - Tensor(np.ones(3, bool))


# ---- the mean of nothing is NaN, as numpy and torch ------------------------------------------------
EMPTY_MEANS = [((0,), None, False), ((0, 3), None, False), ((0, 3), 0, False), ((0, 3), 1, False),
               ((3, 0), 1, False), ((3, 0), 0, False), ((0, 3), 0, True), ((2, 0, 3), (0, 1), False),
               ((2, 0, 3), -1, True)]


@pytest.mark.parametrize("shape, axis, keepdims", EMPTY_MEANS)
def test_mean_of_empty_is_nan_as_numpy(shape, axis, keepdims):
    x = np.zeros(shape)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # numpy warns "Mean of empty slice"
        expected = np.mean(x, axis=axis, keepdims=keepdims)
    t = Tensor(x, requires_grad=True)
    with np.errstate(all="ignore"):
        m = t.mean(axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(m.data, expected)
    if m.size:
        m.sum().backward()
        assert t.grad.shape == shape


def test_empty_batch_losses_are_nan_as_torch():
    with np.errstate(all="ignore"):
        ce = F.cross_entropy(Tensor(np.zeros((0, 5)), requires_grad=True), np.zeros(0, np.int64))
        mse = F.mse_loss(Tensor(np.zeros(0), requires_grad=True), np.zeros(0))
    assert np.isnan(ce.item()) and np.isnan(mse.item())
    assert F.cross_entropy(np.zeros((0, 5)), np.zeros(0, np.int64), reduction="sum").item() == 0.0


def test_rnn_on_an_empty_batch_reports_nan_as_torch():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    outputs, h = rnn(np.zeros((0, 5, 3)))
    assert outputs.shape == (0, 5, 4) and h.shape == (0, 4)
    with np.errstate(all="ignore"):
        loss = outputs.mean()
        loss.backward()
    assert np.isnan(loss.item())                               # not a silent 0.0
    np.testing.assert_array_equal(rnn.cells[0].U.grad, 0.0)     # torch: nothing to learn from


def test_mean_still_averages():
    x = np.arange(24.0).reshape(2, 3, 4)
    for axis in (None, 0, 1, -1, (0, 2)):
        np.testing.assert_allclose(Tensor(x).mean(axis=axis).data, x.mean(axis=axis), rtol=1e-12)


# ---- gradients by convention: torch's values at kinks, ties and 0**b -----------------------------
torch = pytest.importorskip("torch")


def _ours_and_torch(fn_ours, fn_torch, *xs):
    ours = [Tensor(np.array(x, dtype=np.float64), requires_grad=True) for x in xs]
    fn_ours(*ours).backward()
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    fn_torch(*theirs).backward()
    return [o.grad for o in ours], [t.grad.numpy() for t in theirs]


CONVENTIONS = {
    "relu-at-0": (lambda x: x.relu().sum(), lambda x: x.relu().sum(), [[0.0, 1.0, -1.0]]),
    "max-all-ties": (lambda x: x.max(), lambda x: x.max(), [[1.0, 3.0, 3.0]]),
    "max-axis-ties-as-amax": (lambda x: x.max(axis=1).sum(), lambda x: x.amax(dim=1).sum(),
                              [[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]]),
    "0**b": (lambda a, b: (a ** b).sum(), lambda a, b: (a ** b).sum(),
             [[0.0, 0.0, 0.0, 2.0], [0.0, 1.0, 2.0, 0.5]]),
    "0**negative-b": (lambda a, b: (a ** b).sum(), lambda a, b: (a ** b).sum(), [[0.0], [-1.0]]),
    "const-0-base": (lambda b: (Tensor(np.zeros(3)) ** b).sum(),
                     lambda b: (torch.zeros(3, dtype=torch.float64) ** b).sum(), [[0.0, 1.0, 2.0]]),
    "0**0.5": (lambda a: (a ** 0.5).sum(), lambda a: (a ** 0.5).sum(), [[0.0, 4.0]]),
    "abs-at-0": (lambda x: x.abs().sum(), lambda x: x.abs().sum(), [[0.0, -2.0, 3.0]]),
    "abs-composed-at-0": (lambda x: (x.relu() + (-x).relu()).sum(), lambda x: x.abs().sum(),
                          [[0.0, -2.0, 3.0]]),
    "sqrt-at-0": (lambda x: x.sqrt().sum(), lambda x: x.sqrt().sum(), [[0.0, 4.0]]),
    "clamp-at-the-bounds": (lambda x: x.clamp(0.0, 1.0).sum(), lambda x: x.clamp(0.0, 1.0).sum(),
                            [[0.0, 1.0, 0.5, -1.0, 2.0]]),
    "min-all-ties": (lambda x: x.min(), lambda x: x.min(), [[1.0, 1.0, 3.0]]),
    "min-axis-ties-as-amin": (lambda x: x.min(axis=1).sum(), lambda x: x.amin(dim=1).sum(),
                              [[[1.0, 1.0, 3.0]]]),
}


@pytest.mark.parametrize("name", CONVENTIONS)
def test_gradient_conventions_match_torch(name):
    ours, theirs, xs = CONVENTIONS[name]
    with np.errstate(all="ignore"):
        got, expected = _ours_and_torch(ours, theirs, *xs)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_max_along_an_axis_shares_ties_where_torch_max_dim_picks_one():
    """Documented difference: torch.max(dim) sends the whole gradient to one index;
    we share it equally among ties, as torch.amax does (a subgradient either way)."""
    x = Tensor(np.array([[1.0, 3.0, 3.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5]])


# ---- the table in docs/errors.md -----------------------------------------------------------------
SIZES, CKPT, DTYPES, CHECKS, GRAPH = ("Degenerate sizes and hyperparameters", "Checkpoints", "Dtypes",
                                      "gradcheck", "Views, .data and the graph")


def _write_through_view():
    c = Tensor(np.ones((2, 2)))
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    y = (c.T @ w).sum()
    c.data -= 1
    y.backward()


def _write_through_detach():
    x = Tensor(np.array([0.5, 1.5, 2.5]), requires_grad=True)
    h = x.tanh()
    y = (h * 1).sum()
    h.detach().data += 1
    y.backward()


def _rnn_input_normalised_in_place():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    x = Tensor(np.random.default_rng(0).normal(size=(2, 6, 3)), name="x")
    outputs, _ = rnn(x)
    loss = (outputs ** 2).mean()
    x.data -= x.data.mean()
    loss.backward()


def _read_a_freed_value():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 128, dtype=np.float64)                # outputs of 192 KiB: a pass big enough to free
    with tg.record_edge_grads(False):                     # memory.py: values backward never reads go
        outputs, _ = rnn(np.ones((32, 6, 3)))             # (the outputs keep the graph alive)
    return outputs, rnn.states[2].parents[0].data         # a_3 = x_3 W + h_2 U + b, under the tanh


def _int_tensor_fraction():
    t = Tensor(np.array([1, 2, 3]))
    t.data = np.array([0.5, 1.5, 2.5])
CASES = [
    Case("view-write", GRAPH, "`y = (c.T @ w).sum(); c.data -= 1; y.backward()`", _write_through_view,
         tg.InplaceModificationError, ("matmul", "'transpose'", "(2, 2)", "view"),
         "Write after backward(), or run the forward pass again"),
    Case("detach-write", GRAPH, "`h.detach().data += 1` between the forward pass and backward()",
         _write_through_detach, tg.InplaceModificationError, ("mul", "'tanh'", "(3,)", "detach"),
         "`h.detach()` shares h's memory: copy it (`h.detach().data.copy()`) to change values"),
    Case("rnn-input-in-place", GRAPH, "normalising an RNN's input in place (`x.data -= mean`) "
         "after the forward pass", _rnn_input_normalised_in_place, tg.InplaceModificationError,
         ("rnn/t=6", "'x_t'", "(2, 3)"), "Normalise before the forward pass"),
    Case("requires-grad-result", GRAPH, "`h.requires_grad_(False)` on h = x.tanh()",
         lambda: (Tensor(np.ones(3), requires_grad=True).tanh()).requires_grad_(False), RuntimeError,
         ("tanh", "not a leaf", "(3,)", "detach"), "Use `h.detach()`"),
    Case("data-fraction-into-int", GRAPH, "`t.data = np.array([0.5, 1.5, 2.5])` on an int64 tensor",
         _int_tensor_fraction, TypeError, ("float64", "int64", "(3,)"),
         "Round explicitly, or make a float tensor"),
    Case("astype-complex", GRAPH, "`x.astype(np.complex128)`",
         lambda: Tensor(np.ones(2)).astype(np.complex128), TypeError, ("astype", "complex128"),
         "The engine holds real numbers only"),
    Case("freed-values", GRAPH, "`rnn.states[2].parents[0].data` (a_3, under the tanh) after a forward "
         "pass under `record_edge_grads(False)`", _read_a_freed_value, tg.ValuesFreedError,
         ("'add'", "rnn/t=3", "(32, 128)", "record_edge_grads(True)"),
         "Record edges for that forward pass, or compute the value from h_2, x_3 and the weights"),
    Case("rnn-hidden-0", SIZES, "`nn.RNN(3, 0)`", lambda: nn.RNN(3, 0), ValueError,
         ("RNN", "hidden_size", ">= 1", "0"), "A recurrent layer needs at least one unit (as PyTorch)"),
    Case("linear-float", SIZES, "`nn.Linear(2.5, 3)`", lambda: nn.Linear(2.5, 3), TypeError,
         ("Linear", "in_features", "integer", "2.5"), "Sizes are integers"),
    Case("linear-negative", SIZES, "`nn.Linear(-1, 3)`", lambda: nn.Linear(-1, 3), ValueError,
         ("Linear", "in_features", ">= 0"),
         "Sizes are >= 0 (`nn.Linear(0, 3)` is valid and outputs its bias)"),
    Case("dropout-string", SIZES, "`nn.Dropout(\"0.5\")`", lambda: nn.Dropout("0.5"), TypeError,
         ("Dropout", "p", "real number", "'0.5'"), "Pass a number: `nn.Dropout(0.5)`"),
    Case("uniform-range", SIZES, "`nn.init.uniform_(t, 1, 0)`",
         lambda: nn.init.uniform_(Tensor(np.ones(3)), 1, 0), ValueError, ("uniform_", "a <= b"),
         "Give the range low first"),
    Case("init-int", SIZES, "`nn.init.normal_` of an int64 tensor",
         lambda: nn.init.normal_(Tensor(np.zeros(3, np.int64))), TypeError,
         ("normal_", "float tensor", "int64"), "Initialise float tensors"),
    Case("bool-sub", DTYPES, "`m - m` with m a bool tensor",
         lambda: Tensor(BOOL) - Tensor(BOOL), TypeError, ("sub", "bool and bool", "(2,)"),
         "Use `m ^ m` on the numpy arrays, or convert to float first"),
    Case("bool-neg", DTYPES, "`-m` with m a bool tensor", lambda: -Tensor(BOOL), TypeError,
         ("neg", "bool"), "Invert a mask with `~m.data`, or use `1 - m` on a float mask"),
    Case("int-negative-power", DTYPES, "`Tensor(np.array([2])) ** -1`",
         lambda: Tensor(np.array([2])) ** -1, ValueError, ("pow", "int64", "negative integer powers"),
         "Use a float base: `.astype(np.float64)`"),
    Case("gradcheck-nan", CHECKS,
         "`gradcheck(lambda x: x[0].relu() + x[1].log(), [np.array([0., -1.])])`",
         lambda: tg.gradcheck(lambda x: x[0].relu() + x[1].log(), [np.array([0., -1.])]),
         tg.GradcheckUndecidable, ("cannot check", "NaN/Inf", "(2,)"),
         "Check inside the function's domain (log of positive values, no kink at the point)"),
    Case("gradcheck-eps", CHECKS, "`gradcheck(fn, inputs, eps=0)`",
         lambda: tg.gradcheck(lambda x: x.sum(), [np.ones(2)], eps=0), ValueError, ("eps", "> 0"),
         "A small positive step, e.g. 1e-6"),
    Case("save-empty-path", CKPT, "`tg.save(state, \"\")`", lambda: tg.save({"w": np.ones(2)}, ""),
         CheckpointError, ("tg.save", "empty"), "Name the file"),
    Case("save-dir-slash", CKPT, "`tg.save(state, \"runs/\")`", lambda: tg.save({"w": np.ones(2)}, "runs/"),
         CheckpointError, ("'runs/'", "directory"), "Name a file inside the folder"),
    Case("save-ragged", CKPT, "`tg.save({\"w\": [[1, 2], [3]]}, path)`",
         lambda: tg.save({"w": [[1, 2], [3]]}, "m.npz"), CheckpointError, ("'w'", "not an array"),
         "Save rectangular arrays"),
    Case("save-fifo", CKPT, "`tg.save(state, \"/dev/null\")`",
         lambda: tg.save({"w": np.ones(2)}, "/dev/null"),
         CheckpointError, ("/dev/null", "not a regular file"), "Save to a regular file"),
    Case("load-none", CKPT, "`tg.load(None)`", lambda: tg.load(None), CheckpointError,
         ("tg.load", "NoneType"), "Pass a path"),
    Case("state-dict-complex", CKPT, "`layer.load_state_dict` with one complex value",
         lambda: nn.Linear(2, 3).load_state_dict({"weight": np.zeros((2, 3)), "bias": np.ones(3) + 1j}),
         RuntimeError, ("Linear", "'bias'", "complex128"), "Real values only; nothing was changed"),
    Case("state-dict-list", CKPT, "`layer.load_state_dict([...])`",
         lambda: nn.Linear(2, 3).load_state_dict([np.zeros((2, 3))]), TypeError,
         ("Linear", "got list"), "Pass the dict `state_dict()` made"),
]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_case_gets_its_error(case, in_tmp):
    error = provoke(case)
    assert type(error) is case.error, f"{case.id}: expected {case.error.__name__}, got {error!r}"
    for fragment in case.names:
        assert fragment in str(error), f"{case.id}: {fragment!r} not in: {error}"


def test_the_docs_table_is_these_cases(in_tmp):
    compare_with_docs(render(CASES, BEGIN, END, prefix="M"), BEGIN, END, "tests/test_bad_inputs_more.py")


def test_zip_members_are_what_save_wrote(tmp_path):
    path, _ = _saved(tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(["W.npy", "steps.npy", "opt.lr.npy",
                                                "__tinygrad_rnn_meta__.npy"])
