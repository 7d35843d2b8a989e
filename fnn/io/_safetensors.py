"""The one safetensors reader and the one atomic file writer of fnn.

A `safetensors <https://github.com/huggingface/safetensors>`_ file is an 8-byte little-endian
header size ``N``, ``N`` bytes of JSON (``{"name": {"dtype", "shape", "data_offsets"}, ...,
"__metadata__": {str: str}}``) and the arrays' bytes, which the offsets tile exactly.

* :func:`read` parses and checks that layout itself, so it reads every dtype in :data:`DTYPES`
  (bfloat16 and float8 included, which ``safetensors.numpy`` lacks), reads each array straight
  into its own buffer (no second copy of the file in memory) and runs no code: a ``torch.save``
  (pickle) file is recognised and refused before anything else. Every failure is a
  :class:`~fnn.errors.CheckpointError`.
* :func:`atomic_write` writes any file through a temporary file in the target's directory,
  fsync, ``os.replace`` and a directory fsync: a process killed mid-write leaves the previous
  file intact. Checkpoints, PyTorch exports and :func:`fnn.train.plot_history` write through it.
* :func:`write` is the two together for safetensors: ``safetensors.numpy.save_file``, atomically.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "a.safetensors")
>>> write(path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"note": "hi"})
>>> metadata, arrays = read(path)
>>> metadata, arrays["w"].shape, float(arrays["w"].sum())
({'note': 'hi'}, (2, 3), 15.0)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import IO, Any

import jax.numpy as jnp
import numpy as np

from fnn.errors import CheckpointError

# safetensors dtype names -> numpy/ml_dtypes dtype names.
DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "C64": "complex64",
}
# torch.save writes a zip archive holding a data.pkl (new format) or a raw pickle (protocol 2+ starts 0x80).
_ZIP_MAGIC, _PICKLE_MAGIC = b"PK\x03\x04", b"\x80"
_UNREADABLE = "is not a readable safetensors file (truncated, corrupt or another format)"


# --------------------------------------------------------------------------- reading


def _is_pickle(start: bytes, f: IO[bytes]) -> bool:
    """Whether a file that begins with ``start`` is a ``torch.save`` file (read without unpickling)."""
    if start[8:9] == b"{":  # a safetensors header size whose first byte happens to be 0x80 or 'P'
        return False
    if start.startswith(_PICKLE_MAGIC):
        return True
    if start.startswith(_ZIP_MAGIC):
        with contextlib.suppress(zipfile.BadZipFile, OSError, ValueError):
            f.seek(0)
            with zipfile.ZipFile(f) as z:  # lists the members only; nothing is extracted
                return any(name.rsplit("/", 1)[-1] == "data.pkl" for name in z.namelist())
    return False


def _naturals(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)


def _entry(path: str, key: str, info: Any) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """The dtype, shape and byte range of one header entry, checked."""
    if not isinstance(info, dict):
        raise ValueError(f"the header entry {key!r} is not an object")
    name, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(name, str):
        raise ValueError(f"{key!r} has no dtype")
    if name not in DTYPES:
        raise CheckpointError(f"{path}: {key} has dtype {name}, which fnn cannot read")
    if not _naturals(shape) or not _naturals(offsets) or len(offsets) != 2 or offsets[0] > offsets[1]:
        raise ValueError(f"{key!r} has a bad shape {shape!r} or data_offsets {offsets!r}")
    dtype = jnp.dtype(DTYPES[name])
    if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"{key!r}: data_offsets {offsets} do not hold a {name} array of shape {shape}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _header(path: str, f: IO[bytes], size: int) -> tuple[dict[str, str], list, int]:
    """The metadata, the checked entries ``(key, dtype, shape, begin, end)`` in file order, and where data starts."""
    n = int.from_bytes(f.read(8), "little")
    if n > size - 8:
        raise ValueError(f"the header claims {n} bytes but the file has {size}")
    header = json.loads(f.read(n))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("__metadata__ is not a mapping of strings to strings")
    entries = sorted(((key, *_entry(path, key, info)) for key, info in header.items()), key=lambda e: e[3:5])
    end = 0
    for key, _, _, begin, stop in entries:  # the arrays tile the data: no gap, no overlap
        if begin != end:
            raise ValueError(f"{key!r} starts at data byte {begin}, expected {end}")
        end = stop
    if 8 + n + end != size:
        raise ValueError(f"the arrays end at byte {8 + n + end} but the file has {size}")
    return metadata, entries, 8 + n


def _parse(path: str, f: IO[bytes]) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    size = os.fstat(f.fileno()).st_size
    start = f.read(9)
    if _is_pickle(start, f):
        raise CheckpointError(
            f"{path} is a torch.save (pickle) file; fnn never unpickles (it can run code). In PyTorch run "
            "safetensors.torch.save_file(model.state_dict(), 'model.safetensors') and load that"
        )
    if size < 8:
        raise ValueError(f"the file has {size} bytes, fewer than the 8-byte header size")
    f.seek(0)
    metadata, entries, base = _header(path, f, size)
    arrays = {}
    for key, dtype, shape, begin, stop in entries:
        a = np.empty(shape, dtype)
        f.seek(base + begin)
        if f.readinto(a.reshape(-1).view(np.uint8)) != stop - begin:
            raise ValueError(f"{key!r} is cut short")
        arrays[key] = a
    return metadata, arrays


def read(path: str | os.PathLike[str], *, what: str = "") -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Reads the metadata and every array of a safetensors file, checking its whole layout.

    Args:
      path: the file (the caller checks that it exists, with its own message).
      what: a word for messages, e.g. ``"checkpoint"``: "cannot read checkpoint <path>".

    Returns:
      ``(metadata, arrays)``: the ``__metadata__`` strings and ``{name: array}`` in file order,
      every array a fresh writable numpy array of the stored dtype and shape.

    Raises:
      CheckpointError: the file cannot be opened, is a ``torch.save`` pickle, is truncated,
        corrupt or not safetensors, or holds a dtype not in :data:`DTYPES`.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return _parse(path, f)
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"cannot read {what + ' ' if what else ''}{path}: {e}") from None
    except (ValueError, TypeError, RecursionError) as e:  # JSON, UTF-8 and layout errors
        raise CheckpointError(f"{path} {_UNREADABLE}: {e}") from None


# --------------------------------------------------------------------------- writing


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Writes a file atomically: ``write(tmp)`` then fsync, ``os.replace`` and a directory fsync.

    The temporary file ``.<name>.<random>.tmp`` lives in the target's directory (so the rename
    never crosses file systems) and is removed if ``write`` fails. A process killed before the
    rename leaves the old file untouched; at worst a stale ``.<name>.*.tmp`` remains. The new
    file keeps an existing file's permissions (``0o644`` otherwise). Parent directories are created.

    Args:
      path: the file to write.
      write: writes the whole content to the file name it is given.

    Raises:
      CheckpointError: ``path`` is a directory.
      OSError: the file cannot be written (whatever ``write`` raises propagates too).
    """
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    if os.path.isdir(path):
        raise CheckpointError(f"cannot write {path}: it is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def write(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    """Writes ``arrays`` and ``metadata`` as a safetensors file, atomically (:func:`atomic_write`).

    Raises:
      CheckpointError: ``path`` is a directory.
      OSError: the file cannot be written.
      Exception: ``safetensors`` refuses an array (a dtype it cannot store, such as complex128).
    """
    from safetensors.numpy import save_file

    atomic_write(path, lambda tmp: save_file(dict(arrays), tmp, metadata=dict(metadata)))


__all__ = ["DTYPES", "atomic_write", "read", "write"]
