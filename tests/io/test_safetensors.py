"""The one safetensors reader and the one atomic writer under checkpoints, PyTorch interop and plots."""

import contextlib
import json
import os
import random
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import fnn
from fnn.errors import CheckpointError
from fnn.io import _safetensors
from fnn.io._safetensors import DTYPES, atomic_write, read, write

NUMPY_NATIVE = ["F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "C64"]


def sample(dtype_name: str, shape: tuple) -> np.ndarray:
    values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 3
    return np.asarray(values.astype(jnp.dtype(DTYPES[dtype_name])))


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "a.safetensors")


def test_reads_what_safetensors_writes_with_metadata_in_file_order(path):
    arrays = {f"{name.lower()}.{i}": sample(name, shape)
              for i, shape in enumerate([(2, 3), (), (0, 4)]) for name in NUMPY_NATIVE}
    save_file(arrays, path, metadata={"k": "v"})
    metadata, got = read(path)
    assert metadata == {"k": "v"} and set(got) == set(arrays)
    expected = load_file(path)
    for key, a in got.items():
        assert a.dtype == expected[key].dtype and a.shape == expected[key].shape and a.flags.writeable
        np.testing.assert_array_equal(a, expected[key])
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    offsets = sorted((info["data_offsets"], key) for key, info in header.items() if key != "__metadata__")
    assert list(got) == [key for _, key in offsets]  # file order, deterministic


def test_reads_bfloat16_and_float8(torch, path):
    from safetensors.torch import save_file as torch_save_file

    sd = {"bf16": torch.arange(6.0).reshape(2, 3).to(torch.bfloat16),
          "f8": torch.tensor([0.5, 1.0, -2.0]).to(torch.float8_e4m3fn)}
    torch_save_file(sd, path)
    _, got = read(path)
    assert got["bf16"].dtype == jnp.bfloat16 and got["f8"].dtype == jnp.float8_e4m3fn
    np.testing.assert_array_equal(got["bf16"].astype(np.float32), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(got["f8"].astype(np.float32), [0.5, 1.0, -2.0])


def test_any_damage_is_a_checkpoint_error(path):
    write(path, {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.arange(3)}, {"m": "x"})
    with open(path, "rb") as f:
        good = f.read()
    rnd = random.Random(0)
    for _ in range(300):
        data = bytearray(good)
        kind = rnd.choice(["flip", "cut", "grow"])
        if kind == "flip":
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        elif kind == "cut":
            data = data[: rnd.randrange(len(data))]
        else:
            data += bytes(rnd.randint(1, 9))
        with open(path, "wb") as f:
            f.write(data)
        with contextlib.suppress(CheckpointError):  # anything else (a JSON, Unicode or numpy error) fails
            read(path)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "fewer than the 8-byte header size"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}", "not a readable safetensors file"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "not a JSON object"),
        (b"\x40\x00\x00\x00\x00\x00\x00\x00" + b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}   ',
         "the arrays end at byte 80 but the file has 72"),
        (b"\x40\x00\x00\x00\x00\x00\x00\x00" + b'{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}   ',
         "do not hold a F32 array of shape"),
        (b"\x40\x00\x00\x00\x00\x00\x00\x00" + b'{"w": {"dtype": "Q32", "shape": [2], "data_offsets": [0, 8]}}   ',
         "w has dtype Q32, which fnn cannot read"),
        (b"\x80\x02\x8a\x0a", "is a torch.save .pickle. file"),
    ],
)
def test_bad_files_say_what_is_wrong(path, data, match):
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(CheckpointError, match=match):
        read(path)


def test_a_zip_is_refused_as_pickle_only_when_torch_wrote_it(tmp_path, torch):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "model.pt")
    np.savez(tmp_path / "arrays.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match="is a torch.save .pickle. file"):
        fnn.load(tmp_path / "model.pt")  # checkpoints refuse pickles too
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        fnn.load_torch_state_dict(None, {}, None, tmp_path / "arrays.npz")


def test_cannot_read_names_what(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("denied")

    monkeypatch.setattr(_safetensors, "open", refuse, raising=False)
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*denied"):
        read(tmp_path / "x", what="checkpoint")


def test_atomic_write_keeps_the_old_file_and_its_mode_when_writing_fails(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"one"))  # parent created
    assert target.read_bytes() == b"one" and target.stat().st_mode & 0o777 == 0o644
    os.chmod(target, 0o600)

    def fail(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["out.bin"]
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"two"))
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(CheckpointError, match="it is a directory"):
        atomic_write(tmp_path, lambda tmp: None)


def test_plot_history_writes_through_the_atomic_writer(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from fnn.train import _plot

    calls = []
    monkeypatch.setattr(_plot, "atomic_write", lambda path, fn: (calls.append(path), atomic_write(path, fn)))
    out = fnn.train.plot_history({"loss": [1.0, 0.5]}, tmp_path / "h.png")
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert calls == [out] and os.listdir(tmp_path) == ["h.png"]
