"""Layers built from primitive ops: a recurrent layer is its cell called T times."""

from .module import Module, Parameter

__all__ = ["Module", "Parameter"]
