"""Data: the IDX parser, MNIST from npz or IDX files, the bundled digits, the device-resident Dataset.

Every file here is built by hand in ``tmp_path`` (big-endian header bytes + data), so the
parser is checked against the format, not against itself.
"""

from __future__ import annotations

import gzip
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn.data import DataError, Dataset, load_digits, load_mnist, pad_images, read_idx, upsample
from fnn.errors import ConfigError, FnnError

# --------------------------------------------------------------------------- IDX files


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file by hand: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array).astype(big).tobytes()


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize(
    "code, dtype",
    [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_every_type_code_raw_and_gzipped(tmp_path, code, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) - (0 if dtype == np.uint8 else 7)).astype(dtype)
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(a, code), gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def test_read_idx_big_endian_by_hand(tmp_path):
    # Two int16 values 258 and -2, written out byte by byte: 0x0102 and 0xFFFE.
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(read_idx(write(tmp_path / "b", raw)), [258, -2])


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05\x06", r"promises \(3,\) of uint8 \(3 bytes\).*2 bytes of data \(trunc"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", r"1 bytes\) but the file holds 2 bytes of data \(trailing"),
        (b"\x00\x00", "not an IDX file"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path, raw, message):
    with pytest.raises(DataError, match=message) as info:
        read_idx(write(tmp_path / "bad", raw))
    assert isinstance(info.value, FnnError) and isinstance(info.value, OSError)
    assert str(tmp_path / "bad") in str(info.value)


def test_read_idx_missing_and_corrupt_gzip(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope")
    good = gzip.compress(idx_bytes(np.zeros((4,), np.uint8), 0x08))
    with pytest.raises(DataError, match="cannot read or decompress"):
        read_idx(write(tmp_path / "cut.gz", good[:-6]))


# --------------------------------------------------------------------------- MNIST


def tiny_mnist(n_train: int = 5, n_test: int = 3, size: int = 28):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def write_idx_dir(directory, arrays, *, gz: bool, sep: str = "-"):
    names = {"x_train": "train-images{}idx3-ubyte", "y_train": "train-labels{}idx1-ubyte",
             "x_test": "t10k-images{}idx3-ubyte", "y_test": "t10k-labels{}idx1-ubyte"}
    directory.mkdir(exist_ok=True)
    for key, name in names.items():
        write(directory / (name.format(sep) + (".gz" if gz else "")), idx_bytes(arrays[key], 0x08), gz)
    return directory


def check_mnist(train, test, arrays, size=28):
    assert (len(train), len(test)) == (len(arrays["y_train"]), len(arrays["y_test"]))
    assert train.x.shape[1:] == (1, size, size) and train.x.dtype == jnp.float32 and train.y.dtype == jnp.int32
    off = (size - 28) // 2
    np.testing.assert_allclose(train.x[:, 0, off : off + 28, off : off + 28], arrays["x_train"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(test.y, arrays["y_test"])


@pytest.mark.parametrize("gz, sep", [(False, "-"), (True, "-"), (True, ".")])
def test_load_mnist_from_a_directory_of_idx_files(tmp_path, gz, sep):
    arrays = tiny_mnist()
    train, test = load_mnist(write_idx_dir(tmp_path / "mnist", arrays, gz=gz, sep=sep))
    check_mnist(train, test, arrays)


def test_load_mnist_from_npz_and_from_the_environment(tmp_path, monkeypatch):
    arrays = tiny_mnist()
    np.savez(tmp_path / "m.npz", **arrays)
    check_mnist(*load_mnist(tmp_path / "m.npz"), arrays)
    monkeypatch.setenv("FNN_MNIST", str(tmp_path / "m.npz"))
    check_mnist(*load_mnist(), arrays)
    monkeypatch.delenv("FNN_MNIST")
    with pytest.raises(DataError, match="set FNN_MNIST"):
        load_mnist()


def test_load_mnist_pads_centred_and_standardizes(tmp_path):
    arrays = tiny_mnist()
    np.savez(tmp_path / "m.npz", **arrays)
    train, test = load_mnist(tmp_path / "m.npz", pad_to=32)
    check_mnist(train, test, arrays, size=32)
    assert float(jnp.abs(train.x[:, :, :2, :]).max()) == 0.0 and float(jnp.abs(train.x[:, :, :, 30:]).max()) == 0.0
    std, _ = load_mnist(tmp_path / "m.npz", pad_to=32, standardize=True)
    np.testing.assert_allclose(std.x, (train.x - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)


def test_load_mnist_errors(tmp_path):
    arrays = tiny_mnist()
    np.savez(tmp_path / "partial.npz", x_train=arrays["x_train"], y_train=arrays["y_train"])
    with pytest.raises(DataError, match=r"lacks \['x_test', 'y_test'\]"):
        load_mnist(tmp_path / "partial.npz")
    bad = dict(arrays, y_train=arrays["y_train"][:4])
    np.savez(tmp_path / "counts.npz", **bad)
    with pytest.raises(DataError, match=r"train images \(N, H, W\) and labels \(N,\), got \(5, 28, 28\) and \(4,\)"):
        load_mnist(tmp_path / "counts.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="not a readable npz"):
        load_mnist(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="no such file or directory"):
        load_mnist(tmp_path / "absent.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        load_mnist(tmp_path / "empty")


# --------------------------------------------------------------------------- digits


def test_load_digits_fixed_split_and_range():
    train, test = load_digits()
    assert (len(train), len(test)) == (1500, 297)
    assert train.x.shape == (1500, 1, 8, 8) and train.x.dtype == jnp.float32 and train.y.dtype == jnp.int32
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert sorted(np.unique(np.asarray(test.y)).tolist()) == list(range(10))
    from sklearn.datasets import load_digits as sk

    bunch = sk()
    order = np.random.default_rng(0).permutation(1797)  # the documented fixed split
    np.testing.assert_array_equal(test.y, bunch.target[order[1500:]])
    np.testing.assert_allclose(train.x[3, 0], bunch.images[order[3]] / 16.0)
    again, _ = load_digits()
    np.testing.assert_array_equal(again.x, train.x)
    tail_train, tail_test = load_digits(shuffle_seed=None, test_size=300)
    np.testing.assert_array_equal(tail_test.y, bunch.target[-300:])
    assert len(tail_train) == 1497


def test_load_digits_upsamples_by_nearest_neighbour():
    small, _ = load_digits(test_size=1000)
    big, _ = load_digits(size=32, test_size=1000)
    assert big.x.shape == (797, 1, 32, 32)
    np.testing.assert_array_equal(big.x[5, 0], np.kron(np.asarray(small.x[5, 0]), np.ones((4, 4), np.float32)))
    with pytest.raises(ConfigError, match="multiple of 8"):
        load_digits(size=30)
    with pytest.raises(ConfigError, match="test_size"):
        load_digits(test_size=0)


def test_upsample_and_pad_by_hand():
    a = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(upsample(a, 2), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_array_equal(pad_images(a, 5), [[0] * 5, [0, 1, 2, 0, 0], [0, 3, 4, 0, 0], [0] * 5, [0] * 5])
    with pytest.raises(ConfigError, match="smaller than the images"):
        pad_images(a, 1)


# --------------------------------------------------------------------------- Dataset


def test_dataset_lives_on_the_device_and_slices():
    ds = Dataset(np.arange(20.0).reshape(10, 2), np.arange(10))
    assert isinstance(ds.x, jax.Array) and isinstance(ds.y, jax.Array)
    assert len(ds) == 10 and ds.input_shape == (-1, 2)
    head, rest = ds.split(7)
    assert (len(head), len(rest)) == (7, 3)
    picked = ds[jnp.array([9, 0])]
    np.testing.assert_array_equal(picked.y, [9, 0])
    np.testing.assert_array_equal(picked.x, [[18.0, 19.0], [0.0, 1.0]])
    assert repr(ds) == f"Dataset(n=10, x=(10, 2) {ds.x.dtype}, y=(10,) {ds.y.dtype})"
    with pytest.raises(AttributeError):
        ds.x = None
    with pytest.raises(ConfigError, match="slice or a 1-D integer array"):
        ds[jnp.array([0.5])]


def test_dataset_checks_the_example_dimension():
    with pytest.raises(ConfigError, match="same leading"):
        Dataset(np.zeros((4, 2)), np.zeros(5))
    with pytest.raises(ConfigError, match="same leading"):
        Dataset(np.zeros(()), np.zeros(()))


def test_batches_shuffle_on_the_device_and_cover_every_example_once():
    ds = Dataset(np.arange(10.0)[:, None], np.arange(10))
    batches = list(ds.batches(4, rng=jax.random.key(0)))
    assert [b[0].shape for b in batches] == [(4, 1), (4, 1)]  # drop_last=True by default
    full = list(ds.batches(4, rng=jax.random.key(0), drop_last=False))
    assert [b[1].shape for b in full] == [(4,), (4,), (2,)]
    seen = np.concatenate([np.asarray(y) for _, y in full])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    np.testing.assert_array_equal(seen, np.asarray(jax.random.permutation(jax.random.key(0), 10)))
    assert [np.asarray(y).tolist() for _, y in ds.batches(5)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    with pytest.raises(ConfigError, match="positive int"):
        list(ds.batches(0))


def test_dataset_tables_and_jit():
    ds = Dataset((np.ones((3, 2)), np.zeros((3, 4))), np.arange(3))
    assert ds.input_shape == ((-1, 2), (-1, 4))
    total = jax.jit(lambda d: d.x[0].sum() + d.x[1].sum() + d.y.sum().astype(d.x[0].dtype))(ds)
    assert float(total) == 6.0 + 3.0
    (xa, xb), y = next(ds.batches(2))
    assert xa.shape == (2, 2) and xb.shape == (2, 4) and y.shape == (2,)
