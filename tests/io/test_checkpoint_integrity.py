"""A checkpoint cannot be silently different from what was saved (issue 14, part 2).

The header (tree skeleton, records, step, meta) is covered by a SHA-256 digest; every record
is cross-checked against the stored array's dtype and shape; every read failure is a
CheckpointError; loading rebuilds only allow-listed classes, field by field, never running
their code; fnn writes the bytes itself through one documented temporary file; format 1
files still load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn.errors import CheckpointError
from fnn.io import _safetensors, load, save

DATA = os.path.join(os.path.dirname(__file__), "data")


def _trees():
    k = jax.random.split(jax.random.key(1), 4)
    params = ({"weight": jax.random.normal(k[0], (4, 3), jnp.float32), "bias": jax.random.normal(k[1], (4,))},
              (), {"weight": jax.random.normal(k[2], (2, 4), jnp.float32), "bias": jnp.arange(2.0)})
    opt_state = optax.adam(1e-3).init(params)
    extra = {"key": jax.random.key(7), "bf": jnp.arange(3, dtype=jnp.bfloat16), "n": 5, "flag": True}
    return params, opt_state, extra


def _save(path):
    params, opt_state, extra = _trees()
    save(path, params=params, opt_state=opt_state, step=42, meta={"epoch": 3, "note": "bias"}, extra=extra)
    with open(path, "rb") as f:
        return f.read()


def _same(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        assert np.asarray(x).dtype == np.asarray(y).dtype and np.shape(x) == np.shape(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _header_size(blob: bytes) -> int:
    return 8 + int.from_bytes(blob[:8], "little")


def _write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)


def _metadata(path):
    metadata, arrays = _safetensors.read(path)
    return dict(metadata), arrays


def _rewrite(path, edit, *, redigest):
    """Rewrites the fnn header text with ``edit``; ``redigest`` recomputes the digest (a crafted file)."""
    metadata, arrays = _metadata(path)
    metadata["fnn"] = edit(metadata["fnn"])
    if redigest:
        metadata["fnn_sha256"] = hashlib.sha256(metadata["fnn"].encode()).hexdigest()
    _safetensors.write(path, arrays, metadata)


# --------------------------------------------------------------------------- the header is protected


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ck") / "good.safetensors")
    blob = _save(path)
    return blob, load(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_flipped_header_bytes_load_bit_identical_or_raise_checkpoint_error(saved, tmp_path, data):
    blob, good = saved
    end = _header_size(blob)
    corrupt = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3), label="flips")):
        i = data.draw(st.integers(0, end - 1), label="byte")
        corrupt[i] ^= data.draw(st.integers(1, 255), label="xor")
    path = str(tmp_path / "flipped.safetensors")
    _write(path, bytes(corrupt))
    try:
        back = load(path)
    except CheckpointError:
        return
    assert (back.step, back.meta, back.fnn_version) == (good.step, good.meta, good.fnn_version)
    for name in ("params", "state", "opt_state", "extra"):
        _same(getattr(back, name), getattr(good, name))


@pytest.mark.parametrize("old, new", [('"bias"', '"cias"'), ('"step": 42', '"step": 43'),
                                      ('"note": "bias"', '"note": "cias"'), ('"t": "tuple"', '"t": "list"')])
def test_any_header_edit_without_the_digest_is_refused(tmp_path, old, new):
    path = str(tmp_path / "m.safetensors")
    _save(path)
    _rewrite(path, lambda t: t.replace(old, new, 1), redigest=False)
    with pytest.raises(CheckpointError, match="header digest does not match"):
        load(path)


def test_relabelled_stored_dtype_is_refused(tmp_path):
    """F32 -> I32 keeps the size and the bytes (so the array checksum): the record cross-check catches it."""
    path = str(tmp_path / "m.safetensors")
    blob = _save(path)
    end = _header_size(blob)
    head = blob[8:end].decode()
    entry = head.index('"params/[0]/weight":')
    at = head.index('"F32"', entry)
    _write(path, blob[:8] + (head[:at] + '"I32"' + head[at + 5:]).encode() + blob[end:])
    with pytest.raises(CheckpointError, match=r"params/\[0\]/weight: the stored array is int32\[4, 3\], its record "
                                              r"says float32\[4, 3\]"):
        load(path)


def test_crafted_record_shape_is_refused_even_with_a_recomputed_digest(tmp_path):
    path = str(tmp_path / "m.safetensors")
    _save(path)
    _rewrite(path, lambda t: t.replace('"shape": [4, 3]', '"shape": [3, 4]', 1), redigest=True)
    with pytest.raises(CheckpointError, match=r"bad record .*float32\[3, 4\], the stored array is float32\[4, 3\]"):
        load(path)


# --------------------------------------------------------------------------- every failure is a CheckpointError


def _deep(n):
    return "[" * n + "]" * n


@pytest.mark.parametrize("edit", [
    lambda t: _deep(100_000),
    lambda t: json.dumps({**json.loads(t), "meta": json.loads(_deep(50))}),
    lambda t: t.replace('{"t": "none"}', '{"t": "list", "items": [' * 3000 + "" + "]}" * 3000, 1),
    lambda t: json.dumps({**json.loads(t), "leaves": []}),
    lambda t: json.dumps({**json.loads(t), "step": "many"}),
    lambda t: json.dumps({**json.loads(t), "step": True}),
    lambda t: json.dumps({**json.loads(t), "meta": [1, 2]}),
    lambda t: json.dumps({**json.loads(t), "trees": {"params": 5}}),
    lambda t: t.replace('"kind": "jax"', '"kind": 7', 1),
    lambda t: t.replace('"t": "dict", "keys": [', '"t": "dict", "keys": [[], ', 1),
    lambda t: t.replace('"fields": ["count"', '"fields": [5', 1),
    lambda t: t.replace('"stored_shape": [4, 3]', '"stored_shape": "x"', 1),
    lambda t: t.replace('"impl": "', '"impl": "no-such-', 1),
    lambda t: t.replace('"shape": [4, 3]', '"shape": [-4, -3]', 1),
    lambda t: t.replace('"t": "leaf", "key": "params/[0]/bias"', '"t": "leaf", "key": 3', 1),
    lambda t: t.replace('"t": "leaf", "key": "params/[0]/bias"', '"t": "leaf"', 1),
], ids=["deep-json", "deep-meta", "deep-skeleton", "leaves-list", "step-str", "step-bool", "meta-list",
        "trees-incomplete", "kind-int", "key-list", "field-int", "stored-shape", "bad-impl", "negative-shape",
        "leaf-key-int", "leaf-no-key"])
def test_malformed_metadata_is_a_checkpoint_error(tmp_path, edit):
    """Crafted headers (digest recomputed) reach the parser: no raw KeyError/TypeError/RecursionError escapes."""
    path = str(tmp_path / "m.safetensors")
    _save(path)
    _rewrite(path, edit, redigest=True)
    with pytest.raises(CheckpointError):
        load(path)


def test_deeply_nested_safetensors_header_is_a_checkpoint_error(tmp_path):
    path = str(tmp_path / "m.safetensors")
    text = ('{"a": ' + _deep(200_000) + "}").encode()
    _write(path, len(text).to_bytes(8, "little") + text)
    with pytest.raises(CheckpointError):
        load(path)


def test_future_format_version_names_the_version(tmp_path):
    path = str(tmp_path / "m.safetensors")
    _save(path)
    _rewrite(path, lambda t: t.replace('"version": 2', '"version": 3'), redigest=True)
    with pytest.raises(CheckpointError, match="checkpoint format version 3; this fnn reads versions 1 to 2"):
        load(path)


def test_version_2_without_its_digest_and_unknown_metadata_are_refused(tmp_path):
    path = str(tmp_path / "m.safetensors")
    _save(path)
    metadata, arrays = _metadata(path)
    _safetensors.write(path, arrays, {k: v for k, v in metadata.items() if k != "fnn_sha256"})
    with pytest.raises(CheckpointError, match="without its header digest"):
        load(path)
    _safetensors.write(path, arrays, {**metadata, "fnn_sha257": metadata["fnn_sha256"]})
    with pytest.raises(CheckpointError, match="unknown metadata entries"):
        load(path)


# --------------------------------------------------------------------------- loading runs no code

POST_INIT_CALLS = []


@dataclasses.dataclass(frozen=True)
class Hook:
    """A registered dataclass whose ``__post_init__`` has a side effect."""

    value: jax.Array
    label: str = "x"

    def __post_init__(self):
        POST_INIT_CALLS.append(self.label)


jax.tree_util.register_dataclass(Hook, data_fields=["value"], meta_fields=["label"])


def test_loading_never_calls_a_class_named_by_the_file(tmp_path):
    path = str(tmp_path / "m.safetensors")
    save(path, params=(), extra=Hook(jnp.ones(2), label="from-file"))
    POST_INIT_CALLS.clear()
    ck = load(path)
    assert POST_INIT_CALLS == []  # not on the allow-list: a dict of its fields
    assert isinstance(ck.extra, dict) and ck.extra["label"] == "from-file"
    assert any("is not an fnn/optax state type" in n for n in ck.report.notes)
    # A file naming the training state with fields of its own choosing is refused, not called.
    _rewrite(path, lambda t: t.replace(f'"module": "{__name__}", "name": "Hook"',
                                       '"module": "fnn.train._state", "name": "TrainState"'), redigest=True)
    with pytest.raises(CheckpointError, match="TrainState has fields"):
        load(path)


def test_namedtuples_off_the_allow_list_come_back_plain(tmp_path):
    path = str(tmp_path / "m.safetensors")
    params, opt_state, _ = _trees()
    save(path, params=params, opt_state=opt_state)
    _rewrite(path, lambda t: t.replace('"module": "optax._src.transform", "name": "ScaleByAdamState"',
                                       '"module": "subprocess", "name": "CompletedProcess"'), redigest=True)
    ck = load(path)
    assert type(ck.opt_state[0]).__module__ != "subprocess" and ck.opt_state[0]._fields == ("count", "mu", "nu")
    assert type(load(path, like={"opt_state": opt_state}).opt_state[0]) is type(opt_state[0])


def test_train_state_and_optax_states_are_rebuilt_by_field(tmp_path):
    path = str(tmp_path / "run.safetensors")
    ts = fnn.TrainState.create(fnn.Linear(3, 1), optax.adam(1e-3), 0, (-1, 3))
    fnn.save_train_state(path, ts)
    back = fnn.load_train_state(path)
    assert type(back) is fnn.TrainState and type(back.opt_state[0]) is type(ts.opt_state[0])
    _same(back, ts)


# --------------------------------------------------------------------------- writing


def test_save_writes_the_bytes_itself_through_one_documented_temp_file(tmp_path, monkeypatch):
    import safetensors.numpy

    monkeypatch.setattr(safetensors.numpy, "save_file", lambda *a, **k: pytest.fail("safetensors' writer used"))
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append(sorted(os.listdir(tmp_path)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    path = str(tmp_path / "model.safetensors")
    _save(path)
    (names,) = seen
    assert len(names) == 1 and names[0].startswith(".model.safetensors.") and names[0].endswith(".tmp")
    assert os.listdir(tmp_path) == ["model.safetensors"]
    # the file is standard safetensors: the reference reader agrees
    from safetensors import safe_open

    with safe_open(path, framework="np") as f:
        np.testing.assert_array_equal(f.get_tensor("params/[2]/bias"), np.arange(2.0))


# --------------------------------------------------------------------------- format 1 and x64


def test_format_1_checkpoints_still_load():
    ck = load(os.path.join(DATA, "checkpoint_v1.safetensors"))
    assert (ck.step, ck.meta) == (3, {"epoch": 1, "note": "fnn 0.1 format v1"})
    assert ck.params[0]["weight"].shape == (2, 3) and ck.params[2]["bias"].dtype == jnp.float32
    assert type(ck.opt_state[0]).__name__ == "ScaleByAdamState" and ck.extra["n"] == 7
    assert ck.extra["bf"].dtype == jnp.bfloat16 and ck.extra["bf"].tolist() == [0, 1, 2, 3]
    ts = fnn.load_train_state(os.path.join(DATA, "train_state_v1.safetensors"))
    assert type(ts) is fnn.TrainState and int(ts.step) == 0


def test_load_train_state_like_eval_shape_with_x64_off(tmp_path):
    path = str(tmp_path / "run.safetensors")
    with jax.enable_x64(False):
        x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
        y = (x.sum(1) > 0).astype(np.int32)
        model = fnn.Sequential(fnn.Linear(3, 2), fnn.LogSoftMax())
        ts = fnn.fit(model, fnn.ClassNLLCriterion(), optax.sgd(0.1), (x, y), epochs=1, batch_size=4, rng=0,
                     progress=False)
        assert ts.history["loss"].dtype == np.float64  # the history is float64 on the host
        fnn.save_train_state(path, ts)
        back = fnn.load_train_state(path, like=jax.eval_shape(lambda: ts))
        np.testing.assert_allclose(np.asarray(back.history["loss"]), ts.history["loss"], rtol=1e-6)
        _same(back.params, ts.params)
