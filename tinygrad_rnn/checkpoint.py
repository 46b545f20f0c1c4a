"""Checkpoints: `tg.save(state_dict, path)` and `tg.load(path) -> dict`, over .npz.

Two promises:

* Safe to load: arrays only, read with ``np.load(allow_pickle=False)``. A file
  holding pickled Python objects is refused, never executed.
* Safe to write: the file is written to a temporary file in the same directory
  and renamed over `path` (`os.replace` is atomic), so a crash mid-save leaves
  the previous checkpoint intact.

Values are numpy arrays (Tensors and numbers are converted). Nested dicts are
stored under dotted keys and come back nested (an int key comes back as its string,
a list of dicts as a dict keyed "0", "1", ...: an optimizer's state_dict):
``tg.save({"model": model.state_dict(), "optim": opt.state_dict()}, path)``.
A metadata entry records the format version and every key's path, dtype and shape
(as JSON bytes in a uint8 array: still no pickle).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import zipfile

import numpy as np

from .tensor import Tensor

FORMAT = "tinygrad_rnn.checkpoint"
VERSION = 1
META_KEY = "__tinygrad_rnn_meta__"


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read; the message says which file and why."""


class CheckpointWriteError(OSError, CheckpointError):
    """The operating system refused a save (permissions, a full disk): also an OSError."""


def _flatten(d: dict, path: tuple = ()):
    for key, value in d.items():
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key >= 0:
            key = str(key)              # an optimizer's state is keyed by parameter number
        if not isinstance(key, str):
            raise CheckpointError(f"tg.save: keys must be strings, got {key!r} at {list(path)}")
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
            value = {str(i): v for i, v in enumerate(value)}   # param_groups: comes back keyed "0", "1"
        if isinstance(value, dict):
            yield from _flatten(value, path + (key,))
        else:
            yield path + (key,), value


def _array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value.data if isinstance(value, Tensor) else value)
    except (ValueError, TypeError) as e:     # a ragged list: [[1, 2], [3]]
        raise CheckpointError(f"tg.save: '{name}' is not an array ({type(value).__name__}: {e}); "
                              "every row of a nested list must have the same length") from None
    if arr.dtype.kind not in "biufc":
        raise CheckpointError(f"tg.save: '{name}' has dtype {arr.dtype} ({type(value).__name__}); "
                              "a checkpoint holds numeric arrays only (no pickled objects)")
    return arr


def save(state_dict: dict, path) -> None:
    """Write `state_dict` (name -> array, dicts nested) to `path` as .npz, atomically.

    A save never changes what `path` is or who may read it: replacing a file keeps
    its permission bits, a symbolic link stays a link (its target is replaced), and
    anything but a regular file (a directory, a device, a FIFO) is refused.
    """
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"tg.save: expected a dict of arrays, got {type(state_dict).__name__}")
    target = _target(path)
    arrays, entries = {}, {}
    for keys, value in _flatten(state_dict):
        name = ".".join(keys)
        if name in arrays or name == META_KEY:
            raise CheckpointError(f"tg.save: key '{name}' appears twice (or is reserved) "
                                  "once nested dicts are flattened to dotted keys")
        arrays[name] = _array(value, name)
        entries[name] = {"path": list(keys), "dtype": arrays[name].dtype.str,
                         "shape": list(arrays[name].shape)}
    meta = {"format": FORMAT, "version": VERSION, "entries": entries,
            "empty_dicts": [list(keys) for keys in _empty_dicts(state_dict)]}
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    try:
        _write_atomically(target, arrays)
    except OSError as e:
        raise CheckpointWriteError(f"tg.save: cannot write '{os.fspath(path)}' ({type(e).__name__}: "
                              f"{e.strerror or e}); check that its folder exists and is writable") from None


def _fspath(path, fname: str) -> str:
    try:
        path = os.fspath(path)
    except TypeError:
        raise CheckpointError(f"{fname}: the path must be a str or os.PathLike, got "
                              f"{type(path).__name__}") from None
    return os.fsdecode(path) if isinstance(path, bytes) else path


def _target(path) -> str:
    """The regular file a save will replace (a symlink's target), after refusing bad paths."""
    path = _fspath(path, "tg.save")
    if not path:
        raise CheckpointError("tg.save: the path is empty; give a file path like model.npz")
    if path.endswith((os.sep, "/")) or os.path.isdir(path):
        raise CheckpointError(f"tg.save: '{path}' names a directory; give a file path like model.npz")
    real = os.path.realpath(path)          # a link stays a link: write where it points
    if os.path.islink(real):
        raise CheckpointError(f"tg.save: '{path}' is a loop of symbolic links; refused, since "
                              "replacing it would change what the path is")
    if os.path.exists(real) and not os.path.isfile(real):
        raise CheckpointError(f"tg.save: '{path}' is not a regular file (a device, FIFO or socket); "
                              "refused, since replacing it would change what the path is")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise CheckpointError(f"tg.save: folder '{os.path.dirname(os.path.abspath(path))}' does not "
                              "exist; create it first")
    return real


def _write_atomically(path: str, arrays: dict) -> None:
    # A hidden temp file next to `path` (same filesystem, so the rename is atomic);
    # a new file gets mode 0o666 minus the umask, like any new file (mkstemp would
    # make it 0o600); a replaced file keeps its own mode.
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)          # atomic: readers see the old file or the new one
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _empty_dicts(d: dict, path: tuple = ()):
    """Paths of the empty dicts inside `d`: they hold no array, but they are part of the state."""
    for key, value in d.items():
        if isinstance(value, dict):
            if not value:
                yield path + (key,)
            yield from _empty_dicts(value, path + (key,))


def _write_npz(f, arrays: dict) -> None:
    """What np.savez does, with allow_pickle=False (and any key name allowed)."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def load(path) -> dict:
    """Read a checkpoint written by `save`; every failure is a CheckpointError saying why."""
    path = _fspath(path, "tg.load")
    try:
        return _load(path)
    except CheckpointError:
        raise
    except Exception as e:                 # noqa: BLE001 -- zipfile and numpy raise many types
        raise CheckpointError(f"tg.load: '{path}' is unreadable or corrupt ({type(e).__name__}: "
                              f"{e}); restore it from a backup or save it again") from None


def _load(path: str) -> dict:
    if not path:
        raise CheckpointError("tg.load: the path is empty")
    if os.path.isdir(path):
        raise CheckpointError(f"tg.load: '{path}' is a directory, not a checkpoint file")
    if not os.path.exists(path):
        raise CheckpointError(f"tg.load: no such file '{path}'")
    if not os.path.isfile(path):          # a FIFO would block open() forever, a device never end
        raise CheckpointError(f"tg.load: '{path}' is not a regular file (a FIFO, device or socket)")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except PermissionError:
        raise CheckpointError(f"tg.load: no permission to read '{path}'") from None
    if magic != b"PK\x03\x04":             # every .npz is a zip file
        raise CheckpointError(f"tg.load: '{path}' is not an .npz file (no zip header; "
                              f"{'empty' if not magic else 'first bytes ' + repr(magic)}): "
                              "not a checkpoint written by tg.save, or truncated to nothing")
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise CheckpointError(f"tg.load: '{path}' holds pickled Python objects (object arrays); "
                                  "refused, since unpickling can run arbitrary code. Save plain "
                                  "numeric arrays with tg.save") from None
        raise CheckpointError(f"tg.load: '{path}' is not a readable .npz checkpoint ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise CheckpointError(f"tg.load: '{path}' is truncated or corrupt ({type(e).__name__}: "
                              f"{e}); restore it from a backup or save it again") from None
    meta = _meta(raw.pop(META_KEY, None), path)
    entries = meta["entries"]
    if set(entries) != set(raw):
        raise CheckpointError(f"tg.load: '{path}' is inconsistent: arrays {sorted(set(raw) - set(entries))} "
                              f"have no metadata, metadata {sorted(set(entries) - set(raw))} no array")
    out: dict = {}
    for keys in meta.get("empty_dicts", []):
        _node(out, keys, path)
    for name, info in entries.items():
        arr = raw[name]
        if arr.dtype.str != info["dtype"] or list(arr.shape) != info["shape"]:
            raise CheckpointError(f"tg.load: '{path}': '{name}' is {arr.dtype} {arr.shape}, but was "
                                  f"saved as {info['dtype']} {tuple(info['shape'])}: the file is corrupt")
        _node(out, info["path"][:-1], path)[info["path"][-1]] = arr
    return out


def _node(out: dict, keys, path) -> dict:
    """The nested dict at `keys` inside `out`, made on the way."""
    for key in keys:
        out = out.setdefault(key, {})
        if not isinstance(out, dict):
            raise CheckpointError(f"tg.load: '{path}' has malformed metadata: {list(keys)} is both "
                                  "an array and a dict")
    return out


def _meta(arr, path) -> dict:
    if arr is None:
        raise CheckpointError(f"tg.load: '{path}' has no format version: it was not written by "
                              "tg.save (a plain np.savez file?). Load it with np.load instead")
    try:
        meta = json.loads(arr.tobytes().decode())
        fmt, version = meta.get("format"), meta.get("version")
    except (ValueError, AttributeError) as e:
        raise CheckpointError(f"tg.load: '{path}' has unreadable metadata ({e})") from None
    if fmt != FORMAT or version != VERSION:
        raise CheckpointError(f"tg.load: '{path}' is format {fmt!r} version {version!r}; this "
                              f"tinygrad_rnn reads {FORMAT!r} version {VERSION}")
    entries = meta.get("entries")
    if not isinstance(entries, dict) or not all(
            isinstance(e, dict) and {"path", "dtype", "shape"} <= set(e) for e in entries.values()):
        raise CheckpointError(f"tg.load: '{path}' has malformed metadata entries")
    return meta
