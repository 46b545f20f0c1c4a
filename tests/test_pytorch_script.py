"""docs/pytorch.md's PyTorch training script runs unchanged on tinygrad_rnn except for its
import line, and gives torch's losses: an nn.Module subclass, Embedding,
nn.LSTM(batch_first=True), Linear, Adam with two parameter groups, cross_entropy with
ignore_index, clip_grad_norm_, and a state_dict save/load of model and optimizer in the
middle of training. In float64 the two runs agree to 1e-9. The only help is the initial
weights (the init_weights line the test adds, tg.interop.copy_from_torch), since the two
libraries draw different random numbers.

The LSTM has bias=False: torch's LSTM keeps two bias vectors (bias_ih, bias_hh) that the
optimizer steps separately, ours one (their sum), so with biases the same hyperparameters
move the sum twice as fast under SGD, differently under Adam, and clip_grad_norm_ counts
torch's bias gradient twice. The first loss still agrees;
test_two_torch_biases_train_differently measures the divergence after it."""

import copy
from pathlib import Path

import numpy as np
import pytest
from test_docs import blocks

import tinygrad_rnn as tg

torch = pytest.importorskip("torch")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "pytorch.md"
TAIL = ("torch.set_default_dtype(np.float32)                    # (restore the default for the next blocks)\n"
        "print(len(losses), losses[-1] < losses[0])\n")


def scripts_of_the_page():
    """docs/pytorch.md's two scripts: torch's (a ```py block) and ours (the ```python block
    that imports tinygrad_rnn as torch), the latter without its two closing lines."""
    found = blocks(PAGE)
    theirs = next(code for info, _, code, _ in found if info == "py" and "import torch\n" in code)
    ours = next(code for info, _, code, _ in found if "import tinygrad_rnn as torch\n" in code)
    assert ours.endswith(TAIL)
    return theirs, ours.removesuffix(TAIL)


def with_init_hook(script):
    """The one line the test adds: the same initial weights in both runs."""
    assert script.count("model = Model()\n") == 1
    return script.replace("model = Model()\n", "model = Model()\ninit_weights(model)\n")


def run(script, init_weights):
    namespace = {"init_weights": init_weights}
    old = torch.get_default_dtype(), tg.get_default_dtype()
    try:
        exec(compile(script, "<pytorch script>", "exec"), namespace)
    finally:
        torch.set_default_dtype(old[0])
        tg.set_default_dtype(old[1])
    return namespace["losses"]


def test_the_pages_two_scripts_differ_only_in_the_import_line():
    theirs, ours = scripts_of_the_page()
    assert ours == theirs.replace("import torch\n", "import tinygrad_rnn as torch\n")
    assert ours.count("tinygrad_rnn") == 1 and "import torch\n" not in ours


def test_the_same_script_gives_torchs_losses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    theirs_script, ours_script = map(with_init_hook, scripts_of_the_page())
    initial = []
    theirs = run(theirs_script, lambda model: initial.append(copy.deepcopy(model)))
    ours = run(ours_script, lambda model: tg.interop.copy_from_torch(model, initial[0]))
    assert len(ours) == len(theirs) == 10
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert theirs[-1] < theirs[0] - 0.1                # it trained: the comparison means something


def test_two_torch_biases_train_differently(tmp_path, monkeypatch):
    """The one difference the script above steps around (see the module docstring)."""
    monkeypatch.chdir(tmp_path)
    theirs_script, ours_script = (with_init_hook(s).replace(", bias=False)", ")")
                                  for s in scripts_of_the_page())
    initial = []
    theirs = run(theirs_script, lambda model: initial.append(copy.deepcopy(model)))
    ours = run(ours_script, lambda model: tg.interop.copy_from_torch(model, initial[0]))
    assert ours[0] == pytest.approx(theirs[0], rel=1e-9)
    assert abs(ours[-1] - theirs[-1]) > 1e-3
