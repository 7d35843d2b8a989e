"""Data: a device-resident :class:`Dataset`, the bundled digits and MNIST from a local path.

Nothing here downloads. :func:`load_digits` reads scikit-learn's bundled 8×8 digits (1,797
images); :func:`load_mnist` reads MNIST from a path you give: the ``mnist.npz`` of
``numpy.savez`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``) or a directory holding
the four original IDX files, gzipped or not (parsed here with numpy, :func:`read_idx`).

Images come as float32 ``(N, 1, H, W)`` (NCHW, one channel) in ``[0, 1]``; labels as int32
class indices (0-based).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.errors import ConfigError, DataError

# --------------------------------------------------------------------------- Dataset


def _as_tree(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return tuple(_as_tree(e) for e in x)
    return jnp.asarray(x)


@jax.tree_util.register_pytree_node_class
class Dataset:
    """Inputs ``x`` and targets ``y`` on the device, the examples along the leading dimension.

    ``x`` may be a table (a tuple of arrays) for multi-input models. Arrays are moved to the
    default device once, here; :meth:`batches` and :func:`fnn.fit` gather batches with a
    permutation that lives on the device, so no batch crosses the host. A Dataset is a pytree
    (it can be passed through ``jax.jit``).

    >>> import jax, jax.numpy as jnp, fnn
    >>> ds = fnn.Dataset(jnp.zeros((10, 3)), jnp.arange(10))
    >>> len(ds), ds.input_shape, len(ds[:4])
    (10, (-1, 3), 4)
    >>> [x.shape for x, y in ds.batches(4, rng=jax.random.key(0))]
    [(4, 3), (4, 3)]
    """

    __slots__ = ("x", "y")

    def __init__(self, x: Any, y: Any):
        x, y = _as_tree(x), _as_tree(y)
        sizes = {int(a.shape[0]) if a.ndim else -1 for a in jax.tree.leaves((x, y))}
        if len(sizes) != 1 or -1 in sizes:
            shapes = [tuple(a.shape) for a in jax.tree.leaves((x, y))]
            raise ConfigError(f"Dataset: inputs and targets need the same leading (example) dimension, got {shapes}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Dataset is immutable")

    def tree_flatten(self) -> tuple[tuple[Any, Any], None]:
        return (self.x, self.y), None

    @classmethod
    def tree_unflatten(cls, aux: None, children: tuple[Any, Any]) -> Dataset:
        ds = object.__new__(cls)
        object.__setattr__(ds, "x", children[0])
        object.__setattr__(ds, "y", children[1])
        return ds

    def __len__(self) -> int:
        return int(jax.tree.leaves(self.y)[0].shape[0])

    @property
    def input_shape(self) -> Any:
        """The shape of the inputs with ``-1`` for the batch (a tuple of shapes for a table)."""
        return jax.tree.map(lambda a: (-1,) + tuple(a.shape[1:]), self.x)

    @property
    def input_dtype(self) -> Any:
        """The dtype of the inputs (a tuple of dtypes for a table)."""
        return jax.tree.map(lambda a: a.dtype, self.x)

    def __getitem__(self, index: Any) -> Dataset:
        """The examples at ``index``: a slice, or an array of example indices."""
        if isinstance(index, slice):
            return Dataset(jax.tree.map(lambda a: a[index], self.x), jax.tree.map(lambda a: a[index], self.y))
        idx = jnp.asarray(index)
        if idx.ndim != 1 or not jnp.issubdtype(idx.dtype, jnp.integer):
            raise ConfigError(f"Dataset: index with a slice or a 1-D integer array, got {index!r}")
        return Dataset(jax.tree.map(lambda a: jnp.take(a, idx, axis=0), self.x),
                       jax.tree.map(lambda a: jnp.take(a, idx, axis=0), self.y))

    def split(self, n: int) -> tuple[Dataset, Dataset]:
        """The first ``n`` examples and the rest."""
        return self[:n], self[n:]

    def batches(
        self, batch_size: int, *, rng: jax.Array | None = None, drop_last: bool = True
    ) -> Iterator[tuple[Any, Any]]:
        """Yields ``(x, y)`` batches, shuffled on the device when ``rng`` is given.

        Args:
          batch_size: examples per batch.
          rng: a PRNG key for the permutation; None keeps the order.
          drop_last: drop the last partial batch (default, as :func:`fnn.fit`: every batch then
            has one shape and a jitted step compiles once); False yields it, smaller.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ConfigError(f"Dataset.batches: batch_size must be a positive int, got {batch_size!r}")
        n = len(self)
        order = jax.random.permutation(rng, n) if rng is not None else jnp.arange(n)
        stop = n // batch_size if drop_last else math.ceil(n / batch_size)
        for i in range(stop):
            idx = order[i * batch_size : (i + 1) * batch_size]
            yield (jax.tree.map(lambda a: jnp.take(a, idx, axis=0), self.x),
                   jax.tree.map(lambda a: jnp.take(a, idx, axis=0), self.y))

    def __repr__(self) -> str:
        def desc(t):
            return jax.tree.map(lambda a: f"{tuple(a.shape)} {a.dtype}", t)

        return f"Dataset(n={len(self)}, x={desc(self.x)}, y={desc(self.y)})"


def as_dataset(data: Any, what: str = "data") -> Dataset:
    """A :class:`Dataset` from a Dataset or an ``(inputs, targets)`` pair."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return Dataset(*data)
    raise ConfigError(f"{what} must be a fnn.Dataset or an (inputs, targets) pair, got {type(data).__name__}")


# --------------------------------------------------------------------------- images


def upsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling of ``(..., H, W)`` images by an integer ``factor``."""
    return np.repeat(np.repeat(images, factor, axis=-2), factor, axis=-1)


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pads ``(..., H, W)`` images to ``size × size``, centred (the extra pixel, if any, goes last)."""
    h, w = images.shape[-2:]
    if size < h or size < w:
        raise ConfigError(f"pad_to={size} is smaller than the images ({h}×{w})")
    top, left = (size - h) // 2, (size - w) // 2
    pad = [(0, 0)] * (images.ndim - 2) + [(top, size - h - top), (left, size - w - left)]
    return np.pad(images, pad)


def load_digits(*, size: int = 8, test_size: int = 297, shuffle_seed: int | None = 0) -> tuple[Dataset, Dataset]:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images), split into train and test.

    The split is fixed: the images are put in the order of
    ``numpy.random.default_rng(shuffle_seed).permutation(1797)``, then the last ``test_size``
    (default 297, leaving 1,500 to train) are the test set. ``shuffle_seed=None`` keeps the
    file's order instead; its last images come from other writers than most of the rest, which
    makes a markedly harder test set.

    Args:
      size: the image size, a multiple of 8. 32 upsamples each pixel to a 4×4 block (nearest
        neighbour), the input size of LeNet-5.
      test_size: how many images form the test set.
      shuffle_seed: the seed of the fixed permutation, or None for the file's order.

    Returns:
      ``(train, test)``: x float32 ``(N, 1, size, size)`` in ``[0, 1]`` (pixel / 16), y int32 (0-9).

    >>> import fnn
    >>> train, test = fnn.load_digits(size=32)
    >>> len(train), len(test), train.x.shape[1:], train.x.dtype, train.y.dtype
    (1500, 297, (1, 32, 32), dtype('float32'), dtype('int32'))
    """
    if not isinstance(size, int) or size <= 0 or size % 8:
        raise ConfigError(f"load_digits: size must be a positive multiple of 8, got {size!r}")
    try:
        from sklearn.datasets import load_digits as _sklearn_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is in the [train] extra
        raise DataError("load_digits needs scikit-learn: pip install 'fnn[train]' (or scikit-learn)") from e
    bunch = _sklearn_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    y = bunch.target.astype(np.int32)
    if not isinstance(test_size, int) or not 0 < test_size < len(y):
        raise ConfigError(f"load_digits: test_size must be between 1 and {len(y) - 1}, got {test_size!r}")
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(y))
        x, y = x[order], y[order]
    x = upsample(x, size // 8)
    n = len(y) - test_size
    return Dataset(x[:n], y[:n]), Dataset(x[n:], y[n:])


# --------------------------------------------------------------------------- IDX and MNIST

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads one IDX file (the format of the original MNIST files), gzipped or not.

    The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a
    big-endian uint32, then the data, big-endian, row-major.

    Raises:
      DataError: the file is missing, not IDX, or holds fewer or more bytes than its header says.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read or decompress it: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (the magic number must start with two zero bytes, got {raw[:4]!r})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X} (known: 08, 09, 0B, 0C, 0D, 0E)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions need {header} bytes, the file has "
                        f"{len(raw)})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: the header promises {dims} of {dtype.name} ({expected} bytes) but the file holds "
            f"{len(raw) - header} bytes of data ({'truncated' if len(raw) - header < expected else 'trailing bytes'})"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


_MNIST_FILES = {
    "x_train": "train-images{sep}idx3-ubyte",
    "y_train": "train-labels{sep}idx1-ubyte",
    "x_test": "t10k-images{sep}idx3-ubyte",
    "y_test": "t10k-labels{sep}idx1-ubyte",
}


def _find_idx(directory: str, key: str) -> str:
    names = [_MNIST_FILES[key].format(sep=sep) + gz for sep in ("-", ".") for gz in ("", ".gz")]
    for name in names:
        if os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise DataError(f"{directory}: no {names[0]} (or {names[1]}, or with '.' for the '-') in this directory")


def _read_mnist_arrays(path: str) -> dict[str, np.ndarray]:
    if os.path.isdir(path):
        return {key: read_idx(_find_idx(path, key)) for key in _MNIST_FILES}
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory (give the mnist.npz file or a directory of IDX files)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _MNIST_FILES if k not in npz.files]
            if missing:
                raise DataError(f"{path}: the npz lacks {missing}; it has {sorted(npz.files)}")
            return {k: npz[k] for k in _MNIST_FILES}
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None


def load_mnist(
    path: str | os.PathLike[str] | None = None, *, pad_to: int | None = None, standardize: bool = False
) -> tuple[Dataset, Dataset]:
    """MNIST from a local file or directory (nothing downloads).

    Args:
      path: ``mnist.npz`` (``numpy.savez`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``)
        or a directory with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``).
        Default: the ``FNN_MNIST`` environment variable.
      pad_to: zero-pad the 28×28 images to this size, centred (32 for LeNet-5, as LeCun did).
      standardize: subtract the training-set mean (0.1307) and divide by its std (0.3081)
        after scaling to ``[0, 1]`` (and padding: the border becomes the background value).

    Returns:
      ``(train, test)`` with 60,000 and 10,000 examples for the full set: x float32
      ``(N, 1, S, S)`` in ``[0, 1]`` (pixel / 255), y int32.

    Raises:
      DataError: no path, a missing or corrupt file, or arrays of unexpected shapes.
    """
    if path is None:
        path = os.environ.get("FNN_MNIST")
        if not path:
            raise DataError("load_mnist: give the path of mnist.npz or of a directory of IDX files (or set FNN_MNIST)")
    path = os.fspath(path)
    arrays = _read_mnist_arrays(path)
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{path}: expected {split} images (N, H, W) and labels (N,), got {x.shape} and {y.shape}"
            )
        x = x.astype(np.float32) / np.float32(255.0)
        if pad_to is not None:
            x = pad_images(x, pad_to)
        if standardize:
            x = (x - np.float32(0.1307)) / np.float32(0.3081)
        out.append(Dataset(x[:, None, :, :], y.astype(np.int32)))
    return out[0], out[1]


__all__ = ["Dataset", "DataError", "load_digits", "load_mnist", "read_idx"]
