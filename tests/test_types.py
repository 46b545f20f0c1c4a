"""Kinds of tensor are told apart by flags and types, never by their names."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn


def test_a_name_that_looks_like_a_tag_is_just_a_name():
    named_tensor = Tensor(np.ones(2), name="tensor")          # the old default, given on purpose
    const = Tensor(np.ones(2), name="const")
    assert named_tensor._named and const._named and not const._constant
    assert not Tensor(np.ones(2))._named                      # no name given: unnamed


def test_a_lifted_number_is_a_constant_and_an_op_result_is_unnamed_until_named():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x * 0.5
    assert y.parents[1]._constant and not x._constant
    assert not y._named and y.name == "mul"
    y.name = "h_t"
    assert y._named and y.name == "h_t"


def test_detach_remembers_its_source_without_keeping_it_alive():
    x = Tensor(np.ones(3), requires_grad=True)
    h = (x * 2.0).tanh()
    d = h.detach()
    assert d._detached_from() is h
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None and d._detached_from() is None       # the cut holds no strong reference


class _Plain(nn.Module):
    def __init__(self):
        self.W = Tensor(np.ones((2, 2)), requires_grad=True)   # not wrapped in nn.Parameter
        self.b = nn.Parameter(np.zeros(2))


def test_parameters_are_registered_by_type_and_a_plain_tensor_is_deprecated():
    m = _Plain()
    with pytest.warns(DeprecationWarning, match="nn.Parameter"):
        names = [n for n, _ in m.named_parameters()]
    assert names == ["W", "b"]                               # still registered, with a warning
    assert m.W.name == "W" and m.b.name == "b"


def test_an_intermediate_result_stored_on_a_module_is_not_a_parameter():
    m = nn.Linear(2, 3)
    m.last = m(Tensor(np.ones((1, 2))))                      # requires grad, made by an op
    assert m.last.requires_grad
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert tg.nn.Parameter(np.ones(1)).requires_grad
