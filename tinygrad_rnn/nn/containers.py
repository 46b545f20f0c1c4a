"""Sequential and the activations as modules, as PyTorch's `nn.Sequential`, `nn.ReLU`, ...

``nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))`` calls its layers in
order. Its children are attributes named "0", "1", ..., so parameters are named
``0.weight``, ``2.bias`` exactly as in torch, and a state dict moves between them.
The activations are the Tensor methods of the same name.
"""

from __future__ import annotations

from ..dialect import accepts_dim
from .module import Module


class Sequential(Module):
    """y = layer_n(... layer_1(x)): the layers in the order given."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def _layers(self) -> list[Module]:
        return [v for v in vars(self).values() if isinstance(v, Module)]

    def __len__(self):
        return len(self._layers())

    def __getitem__(self, i: int) -> Module:
        return self._layers()[i]

    def __iter__(self):
        return iter(self._layers())

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Softmax(Module):
    @accepts_dim
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        return x.softmax(axis=self.axis)


class LogSoftmax(Softmax):
    """log softmax along `axis` (a primitive: stable for large logits)."""

    def forward(self, x):
        return x.log_softmax(axis=self.axis)
