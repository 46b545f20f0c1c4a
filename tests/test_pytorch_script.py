"""A PyTorch training script runs unchanged on tinygrad_rnn except for its import line, and
gives torch's losses: nn.Module subclass, Embedding, nn.LSTM(batch_first=True), Linear, Adam
with two parameter groups, cross_entropy with ignore_index, clip_grad_norm_, and a
state_dict save/load of model and optimizer in the middle of training. float64, so the two
runs agree to 1e-9; the only shared help is the initial weights (the test's init_weights hook,
tg.interop.copy_from_torch), since the two libraries draw different random numbers.

The LSTM has bias=False: torch's LSTM keeps two bias vectors (bias_ih, bias_hh) that
the optimizer steps separately, ours one (their sum), so with biases the same
hyperparameters move the sum twice as fast under SGD, differently under Adam, and
clip_grad_norm_ counts torch's bias gradient twice. The first loss still agrees;
test_two_torch_biases_train_differently measures the divergence after it."""

import copy

import numpy as np
import pytest

import tinygrad_rnn as tg

torch = pytest.importorskip("torch")

SCRIPT = """
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
V, E, H, PAD = 11, 8, 16, 0


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, batch_first=True, bias=False)
        self.head = torch.nn.Linear(H, V)

    def forward(self, x):
        out, _ = self.lstm(self.emb(x))
        return self.head(out)


model = Model()
init_weights(model)
opt = torch.optim.Adam([{"params": [*model.emb.parameters(), *model.lstm.parameters()]},
                        {"params": model.head.parameters(), "lr": 3e-3}], lr=1e-2)
data = np.random.default_rng(0).integers(1, V, (4, 10))
data[:2, 7:] = PAD                                     # two padded sequences
x, y = torch.tensor(data[:, :-1]), torch.tensor(data[:, 1:])
losses = []
for step in range(10):
    if step == 5:                                      # checkpoint and resume
        torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, "ckpt.pt")
        ckpt = torch.load("ckpt.pt")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
    opt.zero_grad()
    logits = model(x)                                  # (B, T, V)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=PAD)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
    opt.step()
    losses.append(loss.item())
"""


def run(script, init_weights):
    namespace = {"init_weights": init_weights}
    old = torch.get_default_dtype(), tg.get_default_dtype()
    try:
        exec(compile(script, "<pytorch script>", "exec"), namespace)
    finally:
        torch.set_default_dtype(old[0])
        tg.set_default_dtype(old[1])
    return namespace["losses"]


def test_the_same_script_gives_torchs_losses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    initial = []
    theirs = run(SCRIPT, lambda model: initial.append(copy.deepcopy(model)))
    ours_script = SCRIPT.replace("import torch\n", "import tinygrad_rnn as torch\n")
    assert ours_script.count("tinygrad_rnn") == 1 and "import torch\n" not in ours_script
    ours = run(ours_script, lambda model: tg.interop.copy_from_torch(model, initial[0]))
    assert len(ours) == len(theirs) == 10
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert theirs[-1] < theirs[0] - 0.1                # it trained: the comparison means something


def test_two_torch_biases_train_differently(tmp_path, monkeypatch):
    """The one difference the script above steps around (see the module docstring)."""
    monkeypatch.chdir(tmp_path)
    script = SCRIPT.replace(", bias=False)", ")")
    initial = []
    theirs = run(script, lambda model: initial.append(copy.deepcopy(model)))
    ours = run(script.replace("import torch\n", "import tinygrad_rnn as torch\n"),
               lambda model: tg.interop.copy_from_torch(model, initial[0]))
    assert ours[0] == pytest.approx(theirs[0], rel=1e-9)
    assert abs(ours[-1] - theirs[-1]) > 1e-3
