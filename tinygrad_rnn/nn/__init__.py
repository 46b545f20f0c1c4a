"""Layers built from primitive ops: a recurrent layer is its cell called T times."""

from . import functional, init, torch_layout, utils
from .cells import GRUCell, LSTMCell, RNNCell
from .clip import clip_grad_norm_, clip_grad_value_
from .containers import LogSoftmax, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .layers import BatchNorm1d, Dropout, Embedding, LayerNorm, Linear
from .losses import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .sequence import GRU, LSTM, RNN

__all__ = ["Module", "Parameter", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
           "Linear", "Embedding", "Dropout", "LayerNorm", "BatchNorm1d", "init", "functional", "torch_layout",
           "utils", "clip_grad_norm_", "clip_grad_value_", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "Sequential", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"]
