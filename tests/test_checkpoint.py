"""Checkpoints: round trips keep dtypes and nesting, a crash mid-save leaves the previous
file intact, and every bad file (pickled objects, truncated, corrupt, foreign) is refused
with a clear CheckpointError; Module.load_state_dict lists every mismatch."""

import json
import os
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.checkpoint import META_KEY, CheckpointError


class TwoLayer(nn.Module):
    def __init__(self, dtype=np.float64):
        self.layers = [nn.Linear(3, 4, dtype=dtype), nn.Linear(4, 2, dtype=dtype)]

    def forward(self, x):
        return self.layers[1](self.layers[0](x).tanh())


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    state = {"w32": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
             "w64": np.random.default_rng(0).standard_normal((3, 2)),
             "step": np.array(5), "tensor": Tensor(np.ones(2, dtype=np.float32)),
             "cells.0.W": np.zeros((1, 1))}
    tg.save(state, tmp_path / "a.npz")
    back = tg.load(tmp_path / "a.npz")
    assert list(back) == list(state)
    for k, v in state.items():
        v = v.data if isinstance(v, Tensor) else v
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_nested_dicts_come_back_nested(tmp_path):
    model = TwoLayer()
    opt = tg.optim.Adam(model.parameters(), lr=0.1)
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3},
            str(tmp_path / "ckpt.npz"))
    back = tg.load(str(tmp_path / "ckpt.npz"))
    assert set(back) == {"model", "optim", "epoch"} and int(back["epoch"]) == 3
    assert set(back["model"]) == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}
    assert back["optim"]["param_groups"]["0"]["lr"] == 0.1


def test_module_save_and_load(tmp_path):
    tg.manual_seed(0)
    a = TwoLayer(dtype=np.float32)
    a.save(tmp_path / "m.npz")
    tg.manual_seed(1)
    b = TwoLayer(dtype=np.float32)
    assert b.load(tmp_path / "m.npz") is b
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert ka == kb and pb.dtype == np.float32
        np.testing.assert_array_equal(pa.data, pb.data)


def test_crash_mid_save_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tg.save({"w": np.ones(3), "b": np.zeros(2)}, path)
    real_write, calls = np.lib.format.write_array, []

    def write_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:                      # the first array is already in the temp file
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
    with pytest.raises(OSError, match="disk full"):
        tg.save({"w": np.full(3, 7.0), "b": np.full(2, 7.0)}, path)
    monkeypatch.undo()
    assert len(calls) == 2
    back = tg.load(path)
    np.testing.assert_array_equal(back["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.npz"]        # no temp file left behind


def test_crash_on_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("rename failed")))
    with pytest.raises(OSError, match="rename failed"):
        tg.save({"w": np.ones(3)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError) as e:
        tg.load(path)
    assert "pickled Python objects" in str(e.value) and "evil.npz" in str(e.value)
    # even next to valid metadata
    good = tmp_path / "good.npz"
    tg.save({"w": np.ones(2)}, good)
    with np.load(good) as f:
        meta = f[META_KEY]
    np.savez(path, **{META_KEY: meta, "w": np.array([object()], dtype=object)}, allow_pickle=True)
    with pytest.raises(CheckpointError, match="refused"):
        tg.load(path)


def test_saving_objects_is_refused_too(tmp_path):
    with pytest.raises(CheckpointError) as e:
        tg.save({"w": np.array(["a", None], dtype=object)}, tmp_path / "x.npz")
    assert "'w' has dtype object" in str(e.value) and "numeric arrays only" in str(e.value)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("keep", [0, 3, 100, -30])
def test_truncated_files(tmp_path, keep):
    path = tmp_path / "ckpt.npz"
    tg.save({"w": np.random.default_rng(0).standard_normal((20, 20))}, path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError) as e:
        tg.load(path)
    msg = str(e.value)
    assert "ckpt.npz" in msg
    assert ("truncated or corrupt" in msg) if keep >= 4 or keep < 0 else ("not an .npz file" in msg)


def test_corrupted_bytes_fail_the_crc(tmp_path):
    path = tmp_path / "ckpt.npz"
    tg.save({"w": np.zeros((50, 50))}, path)
    data = bytearray(path.read_bytes())
    data[2000:2008] = b"garbage!"                 # inside w's data
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        tg.load(path)


def test_paths_that_are_not_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file"):
        tg.load(tmp_path)
    with pytest.raises(CheckpointError, match="names a directory; give a file path"):
        tg.save({"w": np.ones(1)}, tmp_path)
    with pytest.raises(CheckpointError, match="no such file '.*missing.npz'"):
        tg.load(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="folder '.*nowhere' does not exist"):
        tg.save({"w": np.ones(1)}, tmp_path / "nowhere" / "x.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(CheckpointError, match="not an .npz file"):
        tg.load(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="not an .npz file"):
        tg.load(tmp_path / "text.npz")


def test_format_version_is_required(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(2))
    with pytest.raises(CheckpointError, match="has no format version: it was not written by tg.save"):
        tg.load(path)
    meta = {"format": "tinygrad_rnn.checkpoint", "version": 99, "entries": {}}
    np.savez(path, **{META_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    with pytest.raises(CheckpointError) as e:
        tg.load(path)
    assert "version 99" in str(e.value) and "reads 'tinygrad_rnn.checkpoint' version 1" in str(e.value)
    np.savez(path, **{META_KEY: np.frombuffer(b"{not json", np.uint8)})
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        tg.load(path)


def test_metadata_must_match_the_arrays(tmp_path):
    path = tmp_path / "ckpt.npz"
    tg.save({"w": np.ones((2, 3))}, path)
    with np.load(path) as f:
        meta = f[META_KEY]
    np.savez(path, **{META_KEY: meta, "w": np.ones((3, 2))})
    with pytest.raises(CheckpointError, match=r"'w' is float64 \(3, 2\), but was saved as <f8 \(2, 3\)"):
        tg.load(path)
    np.savez(path, **{META_KEY: meta, "w": np.ones((2, 3)), "x": np.ones(1)})
    with pytest.raises(CheckpointError, match=r"arrays \['x'\] have no metadata"):
        tg.load(path)


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(CheckpointError, match="expected a dict of arrays, got list"):
        tg.save([np.ones(1)], tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="key 'a.b' appears twice"):
        tg.save({"a.b": np.ones(1), "a": {"b": np.ones(1)}}, tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="keys must be strings"):
        tg.save({(1, 2): np.ones(1)}, tmp_path / "x.npz")


def test_any_key_name_works(tmp_path):
    # np.savez(file, **kw) breaks on keys named "file" or "allow_pickle"; our writer does not.
    state = {"file": np.ones(1), "allow_pickle": np.zeros(1)}
    tg.save(state, tmp_path / "x.npz")
    assert set(tg.load(tmp_path / "x.npz")) == set(state)
    with zipfile.ZipFile(tmp_path / "x.npz") as z:
        assert sorted(z.namelist()) == sorted([META_KEY + ".npy", "file.npy", "allow_pickle.npy"])


def test_module_load_state_dict_lists_every_problem():
    model = TwoLayer()
    state = model.state_dict()
    before = model.layers[0].weight.data.copy()
    del state["layers.1.bias"]
    state["layers.0.weight"] = np.zeros((4, 3))
    state["layers.0.bias"] = Tensor(np.zeros(4))          # Tensors are accepted
    state["head.weight"] = np.zeros(2)
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(state)
    msg = str(e.value)
    assert msg.startswith("load_state_dict into TwoLayer: ")
    assert "missing key 'layers.1.bias'" in msg and "unexpected key 'head.weight'" in msg
    assert "'layers.0.weight': checkpoint shape (4, 3) != model shape (3, 4)" in msg
    assert "layers.0.bias" not in msg
    np.testing.assert_array_equal(model.layers[0].weight.data, before)   # nothing changed
