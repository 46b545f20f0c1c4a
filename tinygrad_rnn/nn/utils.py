"""Where PyTorch users look for gradient clipping: ``from tinygrad_rnn.nn.utils import
clip_grad_norm_`` (as ``torch.nn.utils.clip_grad_norm_``). The code is in `clip.py`."""

from .clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
