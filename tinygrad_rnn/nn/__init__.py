"""Layers built from primitive ops: a recurrent layer is its cell called T times."""

from .cells import GRUCell, LSTMCell, RNNCell
from .module import Module, Parameter
from .sequence import GRU, LSTM, RNN

__all__ = ["Module", "Parameter", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]
