"""A misuse audit: what a student coming from PyTorch does, and where the engine answered wrongly
without a word.

The rule: misuse either works as PyTorch 2.13 would or stops with a clear error naming the
op, the shapes and where in the graph. One test per finding, named for the behaviour; torch
(CPU, float64) is the oracle where it has the API. Tolerances are stated; floats are never
compared with ==.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.nn.functional import mse_loss

TOL = dict(rtol=1e-12, atol=1e-12)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((4, 3)), rng.standard_normal((4, 2))


# ---- numpy functions on a Tensor ---------------------------------------------------------
def test_numpy_functions_on_a_tensor_see_its_numbers_not_an_object_array():
    """np.asarray(t), np.stack([t, t]), np.where(..., t, 0) made object arrays of 0-d Tensors
    (numpy iterated the tensor): np.asarray(torch_tensor) gives the numbers."""
    A = np.arange(6.0).reshape(2, 3)
    t, tt = Tensor(A.copy(), requires_grad=True), torch.tensor(A.copy())
    for ours, theirs in [(np.asarray(t), np.asarray(tt)),
                         (np.array(t, dtype=np.float32), A.astype(np.float32)),
                         (np.stack([t, t]), np.stack([tt, tt])),
                         (np.concatenate([t, t]), np.concatenate([tt, tt])),
                         (np.where(A > 2, t, 0.0), np.where(A > 2, tt, 0.0))]:
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, **TOL)
    assert np.allclose(t, A) and not np.allclose(t, A + 1)
    np.testing.assert_allclose(np.linalg.norm(t), np.linalg.norm(A), **TOL)


# ---- tg.compile: what a replay must not freeze --------------------------------------------
def _mse_step(model):
    """One training step of `model` on (x, y) with the MSE loss, and its compiled twin."""
    def step(x, y):
        loss = mse_loss(model(Tensor(x)), Tensor(y))
        loss.backward()
        return loss
    return step, tg.compile(step)


def _compiled_linear(seed=0):
    tg.manual_seed(seed)
    lin = nn.Linear(3, 2, dtype=np.float64)
    return (lin, *_mse_step(lin))


def _eager_and_compiled(module, step, compiled, *args):
    """(loss, grads) of the compiled call, then of the eager step on the same state."""
    module.zero_grad()
    loss_c = compiled(*args).item()
    grads_c = [None if p.grad is None else np.array(p.grad) for p in module.parameters()]
    module.zero_grad()
    loss_e = step(*args).item()
    grads_e = [None if p.grad is None else np.array(p.grad) for p in module.parameters()]
    return (loss_c, grads_c), (loss_e, grads_e)


def _assert_same(ours, eager):
    np.testing.assert_allclose(ours[0], eager[0], **TOL)
    for a, b in zip(ours[1], eager[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_compiled_step_follows_a_parameter_frozen_or_unfrozen_between_calls(freeze):
    """requires_grad_(False) between calls (fine-tuning) still got a gradient from the replay,
    so the optimizer kept training the frozen weight; unfreezing it gave none."""
    lin, step, compiled = _compiled_linear()
    x, y = _batch()
    lin.weight.requires_grad_(not freeze)
    for _ in range(3):
        lin.zero_grad()
        compiled(x, y)
    lin.weight.requires_grad_(freeze)
    ours, eager = _eager_and_compiled(lin, step, compiled, x, y)
    _assert_same(ours, eager)
    assert (lin.weight.grad is None) == (not freeze)


def test_a_compiled_step_follows_a_parameter_replaced_between_calls():
    """`lin.weight = nn.Parameter(...)` between calls: the replay kept reading (and writing the
    gradient into) the old tensor; eager reads the new one."""
    lin, step, compiled = _compiled_linear()
    x, y = _batch()
    for _ in range(3):
        lin.zero_grad()
        compiled(x, y)
    old = lin.weight
    lin.weight = nn.Parameter(np.ones((3, 2)))
    old.grad = None
    ours, eager = _eager_and_compiled(lin, step, compiled, x, y)
    _assert_same(ours, eager)
    assert old.grad is None


def test_a_compiled_step_follows_train_and_eval_between_calls():
    """Captured in eval() (dropout off), then train(): the replay ran without dropout. Eager
    draws a mask, which a replay cannot repeat, so the call after train() is refused."""
    lin, _, _ = _compiled_linear()
    model = nn.Sequential(lin, nn.Dropout(0.5))

    step, compiled = _mse_step(model)
    x, y = _batch()
    model.eval()
    for _ in range(3):
        compiled(x, y)
    model.train()
    with pytest.raises(tg.CompileError, match="random"):
        compiled(x, y)


def test_a_compiled_step_refuses_a_list_argument_holding_the_batch():
    """step([x, y]) with the list refilled in place replayed the first batch for ever (the list
    was keyed by its id, its arrays frozen as constants)."""
    lin = nn.Linear(3, 2, dtype=np.float64)

    def step(batch):
        loss = mse_loss(lin(Tensor(batch[0])), Tensor(batch[1]))
        loss.backward()
        return loss
    compiled = tg.compile(step)
    with pytest.raises(tg.CompileError, match=r"argument 0 .*list.*separate arguments"):
        compiled(list(_batch()))


def test_a_compiled_step_refuses_batchnorm_running_statistics_it_cannot_update():
    """BatchNorm1d in training updates running_mean/var inside the step; the replay did not,
    so after 4 calls num_batches_tracked was 1 and the statistics were of the first batch."""
    bn, lin = nn.BatchNorm1d(3, dtype=np.float64), nn.Linear(3, 2, dtype=np.float64)
    step, compiled = _mse_step(nn.Sequential(bn, lin))
    with pytest.raises(tg.CompileError, match=r"BatchNorm1d\(3\).*running"):
        compiled(*_batch())
    bn.eval()                                   # running statistics only read: replayable
    compiled = tg.compile(step)
    x, y = _batch()
    for _ in range(4):                          # the first two calls capture
        bn.zero_grad()
        lin.zero_grad()
        compiled(x, y)
    assert compiled.replays == 2


# ---- analysis before backward() ----------------------------------------------------------
def test_state_gradient_norms_before_backward_are_refused_not_zeros():
    """Before backward() every ‖∂E/∂h_t‖ read 0, which is what a vanished gradient looks like,
    and StateGradientMonitor.check() warned of a vanishing gradient that was never computed."""
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    out, _ = rnn(Tensor(np.random.default_rng(0).standard_normal((2, 5, 3))))
    loss = (out[:, :3] ** 2).sum()             # h_4, h_5 after the last loss term: 0 is right there
    monitor = tg.StateGradientMonitor(rnn, on_vanish="ignore")
    for read in (lambda: tg.analysis.state_grad_norms(rnn), lambda: tg.analysis.state_grad_norms(loss),
                 monitor.check):
        with pytest.raises(tg.GraphError, match=r"none of the 5 states .*rnn/t=1.*backward\(\)"):
            read()
    loss.backward()
    norms = tg.analysis.state_grad_norms(rnn)
    assert np.all(norms[:3] > 0) and np.all(norms[3:] == 0.0)
    np.testing.assert_allclose(monitor.check().norms, norms, **TOL)


# ---- checkpoints -------------------------------------------------------------------------
def test_a_torch_state_dict_loaded_into_a_module_is_refused_not_transposed():
    """model.load_state_dict(torch_model.state_dict()): torch's Linear weight is (out, in), ours
    (in, out). A square one loaded silently transposed (x Wᵀ instead of x W); the refusal points
    to tg.interop.copy_from_torch, which maps every layout."""
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 3).double()
    ours = nn.Linear(3, 3, dtype=np.float64)
    before = ours.weight.data.copy()
    with pytest.raises(TypeError, match=r"'weight' is a torch\.Tensor.*copy_from_torch"):
        ours.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours.weight.data, before)
    tg.interop.copy_from_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), **TOL)


_P = 0                   # a module-level data pointer, as min-char-rnn's p


def test_a_compiled_step_follows_the_numbers_it_reads_from_globals_and_its_closure():
    """A replay runs no Python: a loss weight annealed in a closure variable (beta) and a global
    data pointer (Tensor(data[_P:_P + 4]), min-char-rnn's p) stayed at their captured values, so
    every later call trained on the first batch with the first weight, without a word."""
    global _P
    lin = nn.Linear(3, 2, dtype=np.float64)
    data, y = np.random.default_rng(1).standard_normal((12, 3)), _batch()[1]
    beta = 1.0

    def step():
        loss = mse_loss(lin(Tensor(data[_P:_P + 4])), Tensor(y)) * beta
        loss.backward()
        return loss
    compiled = tg.compile(step)
    plan = [(0, 1.0), (0, 1.0), (0, 1.0), (0, 1.0), (4, 1.0), (4, 0.5), (8, 0.5), (0, 1.0)]
    for _P, beta in plan:  # noqa: B007 (step reads beta from its closure)
        _assert_same(*_eager_and_compiled(lin, step, compiled))
    assert compiled.replays >= 3                  # (0, 1.0) was replayed, not captured each time


def test_a_compiled_step_follows_a_number_set_on_a_module_between_calls():
    """A user's layer reads `self.temperature` in forward; set between calls (a schedule), the
    replay kept the captured value. Any public attribute set on a module captures anew."""
    class Scaled(nn.Module):
        def __init__(self):
            self.lin, self.temperature = nn.Linear(3, 2, dtype=np.float64), 1.0

        def forward(self, x):
            return self.lin(x) * (1.0 / self.temperature)
    model = Scaled()
    x, y = _batch()

    step, compiled = _mse_step(model)
    for temperature in (1.0, 1.0, 1.0, 2.0, 2.0, 0.5):
        model.temperature = temperature
        _assert_same(*_eager_and_compiled(model, step, compiled, x, y))


def test_a_compiled_eval_step_follows_batchnorm_statistics_loaded_between_calls():
    """In eval() BatchNorm1d reads running_mean/var as constants of the step; load_state_dict
    replaced them between calls, and the replay kept normalising with the old ones."""
    bn, lin = nn.BatchNorm1d(3, dtype=np.float64), nn.Linear(3, 2, dtype=np.float64)
    model = nn.Sequential(bn, lin).eval()

    step, compiled = _mse_step(model)
    x, y = _batch()
    for _ in range(3):
        _assert_same(*_eager_and_compiled(model, step, compiled, x, y))
    state = model.state_dict()
    state["0.running_mean"], state["0.running_var"] = np.full(3, 2.0), np.full(3, 4.0)
    model.load_state_dict(state)
    _assert_same(*_eager_and_compiled(model, step, compiled, x, y))


# ---- dtypes ------------------------------------------------------------------------------
def test_a_numpy_integer_scalar_keeps_a_float32_tensor_float32_as_torch():
    """`loss / np.int64(n)` (n from numpy: mask.sum(), len of an array) made float64 where torch
    keeps float32: numpy integer scalars were lifted as 0-d int64 arrays, not as numbers."""
    t = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    tt = torch.ones(3)
    for ours, theirs in [(t / np.int64(4), tt / np.int64(4)), (np.int64(2) * t, np.int64(2) * tt),
                         (t - np.int32(1), tt - np.int32(1)), (t ** np.int64(2), tt ** np.int64(2))]:
        assert ours.dtype == np.float32 and theirs.dtype == torch.float32
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-7)
    (t / np.int64(4)).sum().backward()
    assert t.grad.dtype == np.float32


def test_mean_over_a_numpy_integer_axis_works_as_sum_does():
    """x.mean(dim=np.int64(1)) (an axis from numpy: np.argmax, np.arange) raised "'numpy.int64'
    object is not iterable"; x.sum over the same axis worked."""
    A = np.arange(6.0).reshape(2, 3)
    t, tt = Tensor(A.copy(), requires_grad=True), torch.tensor(A.copy(), requires_grad=True)
    ours, theirs = t.mean(dim=np.int64(1), keepdim=True), tt.mean(dim=1, keepdim=True)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), **TOL)


def test_clip_grad_norm_returns_a_number_with_item_as_torchs_tensor_has():
    """`clip_grad_norm_(...).item()`, the torch habit for logging the norm, raised AttributeError
    ('float' has no item); an np.float64 is a float and has .item()."""
    W = Tensor(np.full((2, 2), 3.0), requires_grad=True)
    Wt = torch.full((2, 2), 3.0, dtype=torch.float64, requires_grad=True)
    (W * W).sum().backward()
    (Wt * Wt).sum().backward()
    ours, theirs = nn.clip_grad_norm_([W], 1.0), torch.nn.utils.clip_grad_norm_([Wt], 1.0)
    assert isinstance(ours, float) and isinstance(ours.item(), float)
    np.testing.assert_allclose(ours.item(), theirs.item(), **TOL)
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), **TOL)
    assert nn.clip_grad_norm_([Tensor(np.ones(2), requires_grad=True)], 1.0).item() == 0.0


def test_module_zero_grad_takes_set_to_none_as_torch():
    """model.zero_grad(set_to_none=False) raised TypeError (unexpected keyword); torch zeroes
    the gradients in place of forgetting them, as the optimizers' zero_grad here already did."""
    lin, tl = nn.Linear(3, 2, dtype=np.float64), torch.nn.Linear(3, 2).double()
    x = np.ones((1, 3))
    lin(Tensor(x)).sum().backward()
    tl(torch.tensor(x)).sum().backward()
    lin.zero_grad(set_to_none=False)
    tl.zero_grad(set_to_none=False)
    for p, q in zip(lin.parameters(), (tl.weight, tl.bias)):
        assert p.grad is not None and q.grad is not None
        np.testing.assert_array_equal(p.grad, 0.0)
    lin.zero_grad()
    assert all(p.grad is None for p in lin.parameters())


# ---- factories ---------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(2, (5,)), (10, (4,)), (3, (2, 2)), (1, 4, (3,)), (5, ())])
def test_randint_takes_torchs_high_size_form(args):
    """tg.randint(2, (5,)), torch's randint(high, size) for random targets, read (5,) as `high`:
    a 0-d tensor from [2, 5) without a word, or numpy's "low >= high"."""
    ours, theirs = tg.randint(*args), torch.randint(*args)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int64
    low, high = (0, args[0]) if len(args) == 2 else args[:2]
    assert np.all((low <= ours.data) & (ours.data < high))


# ---- in-place writes ---------------------------------------------------------------------
@pytest.mark.parametrize("method", ["copy_", "add_", "sub_", "mul_", "div_", "fill_"])
def test_an_in_place_write_of_a_tensor_that_requires_grad_is_refused_not_cut_from_the_graph(method):
    """out[:, t].copy_(h_t) into an output buffer (torch records it: the gradient reaches h_t)
    wrote the values and dropped the graph: h.grad stayed None while a readout behind the
    buffer still trained. add_/sub_/mul_/div_/fill_ with such an operand likewise."""
    h = Tensor(np.ones((2, 3)), requires_grad=True)
    out = tg.zeros(2, 4, 3, dtype=np.float64)
    operand = h.sum() if method == "fill_" else h * 2.0
    with tg.scope("rnn/t=2"), pytest.raises(RuntimeError, match=rf"{method}: .*requires grad.*rnn/t=2"):
        getattr(out[:, 1], method)(operand)
    with tg.no_grad():                          # a deliberate write of the values: allowed
        getattr(out[:, 1], method)(operand)
    getattr(out[:, 2], method)(operand.detach())
    assert h.grad is None


def test_a_one_element_tensor_formats_as_its_number_as_in_torch():
    """print(f"loss {loss:.4f}"), the training-loop habit, raised "unsupported format string
    passed to Tensor.__format__"; torch formats a one-element tensor as its number."""
    loss, tloss = Tensor(np.array(1.23456)), torch.tensor(1.23456, dtype=torch.float64)
    for spec in (".3f", "8.2e", ">10.1f"):
        assert format(loss, spec) == format(tloss, spec)
    assert f"{Tensor(np.array([2.5])):.1f}" == "2.5"
    assert f"{loss}" == str(loss)
    with pytest.raises(TypeError):              # as torch: several numbers have no one format
        f"{Tensor(np.ones(2)):.2f}"


_X = _Y = None           # module-level batch arrays, rebound by the loop below


def test_a_compiled_step_follows_arrays_and_tensors_rebound_in_its_globals_and_closure():
    """`X, Y = next_batch()` at module level, `Tensor(X)` inside fn: the replay kept the first
    batch (copied into the program as a constant); a closure's Tensor rebound likewise. Each
    new array or Tensor object now captures anew (up to 8 programs, then eager), so the values
    are eager's; the same object again replays."""
    global _X, _Y
    lin = nn.Linear(3, 2, dtype=np.float64)
    w = Tensor(np.ones(2))

    def step():
        loss = mse_loss(lin(Tensor(_X)) * w, Tensor(_Y))
        loss.backward()
        return loss
    compiled = tg.compile(step)
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 3)), rng.standard_normal((4, 2))) for _ in range(3)]
    weights = [Tensor(np.full(2, 1.0 + i)) for i in range(3)]
    for i in (0, 0, 0, 0, 1, 2, 1, 1):
        (_X, _Y), w = batches[i], weights[i]  # noqa: F841 (step reads w from its closure)
        _assert_same(*_eager_and_compiled(lin, step, compiled))
    assert compiled.replays >= 2
    _X, _Y = batches[1]
    with pytest.warns(UserWarning, match="8 different"):
        for i in range(9):
            w = Tensor(np.full(2, 10.0 + i))  # noqa: F841
            _assert_same(*_eager_and_compiled(lin, step, compiled))


def test_a_compiled_step_reads_a_global_batch_buffer_refilled_in_place():
    """`X[:] = next_batch` into a module-level buffer, `Tensor(X)` inside fn: the replay had
    copied X into the program as a constant and trained on the first batch for ever. An array
    fn reads from its globals or closure is now read at each replay, as an argument is."""
    global _X, _Y
    lin = nn.Linear(3, 2, dtype=np.float64)
    _X, _Y = np.zeros((4, 3)), np.zeros((4, 2))

    def step():
        loss = mse_loss(lin(Tensor(_X)), Tensor(_Y))
        loss.backward()
        return loss
    compiled = tg.compile(step)
    rng = np.random.default_rng(3)
    for _ in range(5):
        _X[:], _Y[:] = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
        _assert_same(*_eager_and_compiled(lin, step, compiled))
    assert compiled.captures == 2 and compiled.replays == 3      # the first two calls capture


def test_a_tensor_made_from_a_list_of_tensors_that_require_grad_is_refused():
    """Tensor([h_1, h_2]) copies the values (torch warns for one-element tensors, refuses
    others), so the stack is cut from the graph; with Tensor.__array__ it would do so without
    a word. Refused, pointing to tg.stack; tensors that need no grad still give their values."""
    h = Tensor(np.array(1.0), requires_grad=True)
    with pytest.raises(TypeError, match=r"require grad.*tg\.stack"):
        Tensor([h, h * 2])
    with pytest.raises(TypeError, match=r"require grad.*tg\.stack"):
        tg.tensor((h,))
    np.testing.assert_array_equal(Tensor([h.detach(), Tensor(np.array(2.0))]).data, [1.0, 2.0])
    np.testing.assert_allclose(tg.stack([h, h * 2]).data, [1.0, 2.0], **TOL)


def test_a_python_int_beyond_int64_is_refused_not_wrapped():
    """tg.tensor([2**63]) went through numpy's uint64 and wrapped to -2**63 without a word
    (2**64 - 1 became -1); torch refuses it ("Overflow when unpacking long long")."""
    for big in (2**63, 2**64 - 1):
        with pytest.raises(OverflowError, match=r"int64"):
            tg.tensor([big])
        with pytest.raises(ValueError):
            torch.tensor([big])
    assert tg.tensor([2**63 - 1]).data[0] == 2**63 - 1


def test_a_compiled_step_that_sets_a_module_attribute_is_refused():
    """A forward that keeps a count (`self.calls += 1`) or a value on the module: a replay runs
    no Python, so after it the attribute kept the captured step's value without a word."""
    class Counting(nn.Module):
        def __init__(self):
            self.lin, self.calls = nn.Linear(3, 2, dtype=np.float64), 0

        def forward(self, x):
            self.calls += 1
            return self.lin(x)
    model = Counting()
    _, compiled = _mse_step(model)
    with pytest.raises(tg.CompileError, match=r"Counting\.calls"):
        compiled(*_batch())
    _, compiled = _mse_step(nn.Sequential(nn.Linear(3, 2, dtype=np.float64)))
    for _ in range(4):                          # library layers set no public attribute
        compiled(*_batch())
    assert compiled.replays >= 1


@pytest.mark.parametrize("call", [lambda x: x.max(1), lambda x: x.max(dim=1),
                                  lambda x: x.max(1, True), lambda x: x.min(dim=0, keepdim=True)])
def test_max_and_min_in_torchs_spelling_give_torchs_values_and_indices(call):
    """`_, pred = logits.max(1)` with a batch of two unpacked the two rows' maxima as the indices."""
    data = np.random.default_rng(0).normal(size=(2, 5))
    x, xt = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (values, indices), (tv, ti) = call(x), call(xt)
    np.testing.assert_array_equal(indices.data, ti.numpy())
    np.testing.assert_allclose(values.data, tv.detach().numpy(), rtol=0, atol=0)
    (values * values).sum().backward()
    (tv * tv).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-15, atol=0)   # no ties: one index each
    _, pred = call(x)
    assert pred.dtype == np.int64 and pred.shape == ti.shape


def test_max_in_numpys_spelling_stays_values_only_and_several_dims_need_amax():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert isinstance(x.max(axis=1), tg.Tensor) and x.max(axis=1).shape == (2, 4)
    assert isinstance(x.max(), tg.Tensor)
    np.testing.assert_array_equal(x.amax(dim=(0, 2)).data, np.arange(24.0).reshape(2, 3, 4).max(axis=(0, 2)))
    with pytest.raises(TypeError, match=r"max\(dim=\(0, 2\)\) on \(2, 3, 4\).*amax"):
        x.max(dim=(0, 2))


@pytest.mark.parametrize("make", [lambda ps: tg.optim.Adam(ps, lr=0.1),
                                  lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: tg.optim.Adagrad(ps, lr=0.1)])
def test_an_optimizer_refuses_state_of_another_shape_after_p_data_is_replaced(make):
    """Adam's moments of a (1, 3) weight broadcast without a word into its new (4, 3) values."""
    w = tg.tensor(np.ones((1, 3)), requires_grad=True)
    opt = make([w])
    (w * w).sum().backward()
    opt.step()
    w.data = np.ones((4, 3))
    w.grad = np.ones((4, 3))
    with pytest.raises(tg.ShapeError, match=r"parameter 0 .*\(4, 3\).*state '\w+' has shape \(1, 3\)"):
        opt.step()


# ---- tg.compile: what fn reads that a replay cannot see -------------------------------------
_BATCHES = None


def _next_batch():
    """A helper fn calls: the global it reads is not in fn's own code."""
    return next(_BATCHES)


def _hidden_reads():
    """Four steps that read the batch or a weight from state a replay cannot see."""
    lin = nn.Linear(3, 2, dtype=np.float64)
    data = [_batch(seed) for seed in range(6)]
    it = iter(data)

    class Config:
        beta = 1.0
    cfg, layers, other = Config(), [lin], nn.Linear(3, 2, dtype=np.float64)

    def from_iterator():
        x, y = next(it)
        loss = mse_loss(lin(Tensor(x)), Tensor(y))
        loss.backward()
        return loss

    def from_helper():
        x, y = _next_batch()
        loss = mse_loss(lin(Tensor(x)), Tensor(y))
        loss.backward()
        return loss

    def from_config(x, y):
        loss = mse_loss(lin(Tensor(x)), Tensor(y)) * cfg.beta
        loss.backward()
        return loss

    def from_list(x, y):
        loss = mse_loss(layers[0](Tensor(x)), Tensor(y))
        loss.backward()
        return loss

    def change_config():
        cfg.beta = 0.5

    def change_list():                          # a module made before the first call
        layers[0] = other
    return data, [(from_iterator, None, "held other values"),
                       (from_helper, None, "held other values"),
                       (from_config, change_config, "held other values"),
                       (from_list, change_list, "held other values")]


@pytest.mark.parametrize("case", range(4), ids=["next(iterator)", "helper's global", "cfg.beta",
                                                "module in a list"])
def test_a_compiled_step_refuses_state_it_cannot_see_that_changed_between_the_first_two_calls(case):
    """Each of these replayed the first call's batch or weight for ever, without a word: the
    second call is captured again, and a tape that differs from the first is refused."""
    global _BATCHES
    data, cases = _hidden_reads()
    _BATCHES = iter(data)
    fn, change, message = cases[case]
    compiled = tg.compile(fn)
    args = _batch(9) if change else ()
    compiled(*args)
    if change:
        change()
    with pytest.raises(tg.CompileError, match=message + ".*pass it to the step as an argument"):
        compiled(*args)


def test_constants_made_alike_inside_fn_still_replay():
    """A zero state or a mask made inside fn is the same at every call: the step replays."""
    lin = nn.Linear(3, 2, dtype=np.float64)

    def step(x, y):
        mask = Tensor(np.array([1.0, 0.0]))
        loss = mse_loss(lin(Tensor(x)) * mask + tg.zeros(4, 2, dtype=np.float64), Tensor(y))
        loss.backward()
        return loss
    compiled = tg.compile(step)
    for seed in range(4):
        _assert_same(*_eager_and_compiled(lin, step, compiled, *_batch(seed)))
    assert (compiled.captures, compiled.replays) == (2, 2)


def test_a_compiled_step_refuses_a_graph_or_op_parameters_that_changed_between_the_first_two_calls():
    """A branch or an index on hidden state: the tape's ops, or an op's parameters, differ."""
    lin = nn.Linear(3, 2, dtype=np.float64)

    class Config:
        deep, column = False, 0
    cfg = Config()

    def branching(x, y):
        out = lin(Tensor(x))
        loss = mse_loss(out.tanh() if cfg.deep else out, Tensor(y))
        loss.backward()
        return loss

    def indexing(x, y):
        loss = mse_loss(lin(Tensor(x))[:, cfg.column], Tensor(y)[:, 0])
        loss.backward()
        return loss
    cases = ((branching, "deep", "another graph"), (indexing, "column", "other parameters"))
    for fn, change, message in cases:
        compiled = tg.compile(fn)
        lin.zero_grad()
        compiled(*_batch())
        setattr(cfg, change, 1)
        lin.zero_grad()
        with pytest.raises(tg.CompileError, match=message + ".*pass it to the step as an argument"):
            compiled(*_batch())


@pytest.mark.parametrize("call", [lambda x: x.max(1, axis=0), lambda x: x.min(1, False, 2),
                                  lambda x: x.max(dims=1)])
def test_max_and_min_refuse_arguments_they_do_not_take(call):
    x = tg.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"(max|min) on \(2, 3\): takes \(axis=None, keepdims=False\)"):
        call(x)
