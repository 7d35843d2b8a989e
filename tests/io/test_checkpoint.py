"""Checkpoints: round trips, mismatch reports, partial loads, bad files, atomicity, resume."""

import dataclasses
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import fnn
from fnn.errors import CheckpointError
from fnn.io import Checkpoint, LoadReport, load, save

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root


# --------------------------------------------------------------------------- fixtures


def mlp_params():
    """Params shaped like Sequential(Linear(3, 4), ReLU(), Linear(4, 2)): a ReLU holds ()."""
    k = jax.random.split(jax.random.key(1), 4)
    return (
        {"weight": jax.random.normal(k[0], (4, 3), jnp.float32), "bias": jax.random.normal(k[1], (4,), jnp.float32)},
        (),
        {"weight": jax.random.normal(k[2], (2, 4), jnp.float32), "bias": jax.random.normal(k[3], (2,), jnp.float32)},
    )


def bn_state():
    """State shaped like Sequential(Linear, BatchNormalization(4), Linear)."""
    return ((), {"running_mean": jnp.arange(4.0, dtype=jnp.float32), "running_var": jnp.full(4, 2.0, jnp.float32)}, ())


def adam_state(params):
    """An optax adam state after one update (count = 1, non-zero moments)."""
    opt = optax.adam(1e-2)
    st = opt.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    with optax_promotion():
        _, st = opt.update(grads, st, params)
    return st


def optax_promotion():
    """optax's bias correction mixes int32 counts with floats: it needs standard promotion."""
    return jax.numpy_dtype_promotion("standard")


def assert_same_tree(a, b, types=True):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert not types or type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "model.safetensors")


# --------------------------------------------------------------------------- round trips


def test_round_trip_without_like_rebuilds_every_tree(path):
    params, state = mlp_params(), bn_state()
    opt_state = adam_state(params)
    save(path, params=params, state=state, opt_state=opt_state, step=12, meta={"epoch": 3, "lr": 0.01})
    ck = load(path)
    assert isinstance(ck, Checkpoint)
    assert (ck.step, ck.meta, ck.fnn_version) == (12, {"epoch": 3, "lr": 0.01}, fnn.__version__)
    assert_same_tree(ck.params, params)
    assert_same_tree(ck.state, state)
    assert_same_tree(ck.opt_state, opt_state)
    # optax's own NamedTuple classes come back (optax is imported here), so optax accepts the state.
    assert type(ck.opt_state[0]) is type(opt_state[0])
    assert int(ck.opt_state[0].count) == 1
    assert ck.params[1] == ()
    assert ck.report.ok and str(ck.report) == "all paths matched"


def test_round_trip_continues_optimisation_identically(path):
    params = mlp_params()
    opt = optax.adam(1e-2)
    opt_state = adam_state(params)
    save(path, params=params, opt_state=opt_state)
    ck = load(path)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    with optax_promotion():
        u1, s1 = opt.update(grads, opt_state, params)
        u2, s2 = opt.update(grads, ck.opt_state, ck.params)
    assert_same_tree(u1, u2)
    assert_same_tree(s1, s2)


def test_round_trip_with_like_uses_like_structure(path):
    params, state = mlp_params(), bn_state()
    opt_state = adam_state(params)
    save(path, params=params, state=state, opt_state=opt_state, step=5)
    like = {"params": params, "state": state, "opt_state": opt_state}
    ck = load(path, like=like)
    assert_same_tree(ck.params, params)
    assert_same_tree(ck.state, state)
    assert_same_tree(ck.opt_state, opt_state)
    # An abstract template (no memory) works too, and so does any object with the attributes.
    abstract = jax.eval_shape(lambda: like)
    assert_same_tree(load(path, like=abstract).opt_state, opt_state)
    assert_same_tree(load(path, like=ck).params, params)


def test_keys_are_tree_paths(path):
    params, state = mlp_params(), bn_state()
    save(path, params=params, state=state, opt_state=adam_state(params))
    with safe_open(path, framework="np") as f:
        keys = set(f.keys())
        header = json.loads(f.metadata()["fnn"])
    assert {"params/[0]/weight", "params/[2]/bias", "state/[1]/running_mean", "opt_state/[0]/count",
            "opt_state/[0]/mu/[0]/weight", "opt_state/[0]/nu/[2]/bias"} <= keys
    assert header["format"] == "fnn.checkpoint" and header["version"] == 2
    assert header["leaves"]["params/[0]/weight"]["shape"] == [4, 3]


def test_every_leaf_kind_round_trips(path):
    tree = {
        "f64": np.arange(3.0),
        "i8": jnp.array([-1, 2], dtype=jnp.int8),
        "bf16": jnp.array([1.5, -2.0], dtype=jnp.bfloat16),
        "bool": jnp.array([True, False]),
        "empty": jnp.zeros((0, 3), jnp.float32),
        "scalar": jnp.float32(2.5),
        "py": [1, 2.5, True],
        "key": jax.random.key(42),
        "ints": {3: (None, {"nested": jnp.ones((2, 1), jnp.float16)}), 1: jnp.zeros(1, jnp.int32)},
        "a/b": jnp.ones(1, jnp.float32),
    }
    save(path, params=tree)
    back = load(path).params
    assert isinstance(back["f64"], np.ndarray) and back["f64"].dtype == np.float64
    assert back["bf16"].dtype == jnp.bfloat16 and back["bf16"].tolist() == [1.5, -2.0]
    assert back["py"] == [1, 2.5, True] and [type(v) for v in back["py"]] == [int, float, bool]
    assert back["empty"].shape == (0, 3)
    assert back["ints"][3][0] is None and list(back["ints"]) == [3, 1]  # int keys, insertion order
    np.testing.assert_array_equal(jax.random.key_data(back["key"]), jax.random.key_data(tree["key"]))
    np.testing.assert_array_equal(jax.random.uniform(back["key"], (3,)), jax.random.uniform(tree["key"], (3,)))
    assert_same_tree({k: v for k, v in back.items() if k != "key"}, {k: v for k, v in tree.items() if k != "key"})


def test_none_and_empty_trees(path):
    save(path, params=(), state=None, opt_state=None)
    ck = load(path)
    assert (ck.params, ck.state, ck.opt_state, ck.step, ck.meta) == ((), None, None, 0, {})


# --------------------------------------------------------------------------- mismatches


def test_strict_load_reports_every_mismatch_at_once(path):
    params = mlp_params()
    save(path, params=params)
    like = (
        {"weight": jnp.zeros((4, 5), jnp.float32), "bias": jnp.zeros(4, jnp.float32)},  # shape differs
        {"gamma": jnp.zeros(4, jnp.float32)},  # missing from the file
        {"weight": jnp.zeros((2, 4), jnp.float64)},  # dtype differs; file's bias is unexpected
    )
    with pytest.raises(CheckpointError) as e:
        load(path, like={"params": like})
    msg = str(e.value)
    assert "params/[0]/weight: file has float32[4, 3], expected float32[4, 5]" in msg
    assert "params/[2]/weight: file has float32[2, 4], expected float64[2, 4]" in msg
    assert "missing from the file (1):\n  params/[1]/gamma" in msg
    assert "unexpected in the file (1):\n  params/[2]/bias" in msg


def test_non_strict_load_loads_what_matches(path):
    params = mlp_params()
    save(path, params=params, step=3)
    like = (
        {"weight": jnp.zeros((4, 5), jnp.float32), "bias": jnp.zeros(4, jnp.float32)},
        {"gamma": jnp.ones(4, jnp.float32)},
        {"weight": jnp.zeros((2, 4), jnp.float32)},
    )
    ck = load(path, like={"params": like}, strict=False)
    assert ck.step == 3
    np.testing.assert_array_equal(ck.params[0]["bias"], params[0]["bias"])  # matched: loaded
    np.testing.assert_array_equal(ck.params[2]["weight"], params[2]["weight"])
    np.testing.assert_array_equal(ck.params[0]["weight"], jnp.zeros((4, 5)))  # mismatched: kept
    np.testing.assert_array_equal(ck.params[1]["gamma"], jnp.ones(4))  # missing: kept
    assert ck.report == LoadReport(
        missing=("params/[1]/gamma",),
        unexpected=("params/[2]/bias",),
        mismatched=("params/[0]/weight: file has float32[4, 3], expected float32[4, 5]",),
    )
    assert not ck.report.ok


def test_non_strict_load_cannot_fill_abstract_leaves(path):
    save(path, params={"w": jnp.ones(2, jnp.float32)})
    like = {"params": {"w": jax.ShapeDtypeStruct((3,), jnp.float32)}}
    with pytest.raises(CheckpointError, match=r"could not be filled: \['params/w'\]"):
        load(path, like=like, strict=False)


def test_like_may_name_only_some_trees(path):
    params, state = mlp_params(), bn_state()
    save(path, params=params, state=state)
    ck = load(path, like={"state": state})
    assert_same_tree(ck.params, params)
    with pytest.raises(CheckpointError, match="unknown entries"):
        load(path, like={"parms": params})
    with pytest.raises(CheckpointError, match="like= must be a dict"):
        load(path, like=[params])


# --------------------------------------------------------------------------- bad files


def _good_file(path):
    save(path, params=mlp_params(), step=1)
    with open(path, "rb") as f:
        return f.read()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a directory"):
        load(tmp_path)


@pytest.mark.parametrize("keep", [0, 4, 8, 40, -1, -100])
def test_truncated_file(path, keep):
    data = _good_file(path)
    with open(path, "wb") as f:
        f.write(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load(path)


def test_corrupted_array_bytes_name_the_array(path):
    data = bytearray(_good_file(path))
    data[-2] ^= 0x10  # inside the last stored array
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(CheckpointError, match=r"is corrupt:\n  params/.*: checksum mismatch"):
        load(path)


def test_corrupted_header_bytes(path):
    data = bytearray(_good_file(path))
    data[12] = 0xFF  # invalid UTF-8 in the safetensors header
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load(path)


def test_foreign_files(path, tmp_path):
    with open(path, "w") as f:
        f.write("hello, I am a text file\n" * 20)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load(path)
    npz = str(tmp_path / "arrays.npz")
    np.savez(npz, w=np.ones(3))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load(npz)
    plain = str(tmp_path / "plain.safetensors")
    save_file({"0.weight": np.ones((2, 2), np.float32)}, plain)
    with pytest.raises(CheckpointError, match="not an fnn checkpoint .*load_torch_state_dict"):
        load(plain)


def _rewrite_header(path, edit):
    """Rewrites an fnn checkpoint with its JSON header text changed by ``edit`` and its header digest
    recomputed (a deliberately crafted file: the checks behind the digest must still catch it; an
    edit that keeps the old digest is refused by tests/io/test_checkpoint_integrity.py)."""
    with safe_open(path, framework="np") as f:
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
        meta = dict(f.metadata())
    meta["fnn"] = edit(meta["fnn"])
    meta["fnn_sha256"] = hashlib.sha256(meta["fnn"].encode()).hexdigest()
    save_file(arrays, path, metadata=meta)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t[:-5], "corrupt fnn metadata"),
        (lambda t: t.replace('"fnn.checkpoint"', '"something.else"'), "corrupt fnn metadata"),
        (lambda t: t.replace('"version": 2', '"version": 99'), "format version 99; this fnn reads versions 1 to 2"),
        (lambda t: t.replace('"t": "tuple"', '"t": "weird"', 1), "unknown node type 'weird'"),
        (lambda t: t.replace('"sha256": "', '"sha256": "0', 1), "checksum mismatch"),
        (lambda t: t.replace('"params/[0]/bias": {', '"params/[0]/bias_": {', 1), "arrays listed but absent"),
    ],
)
def test_corrupt_metadata(path, edit, match):
    _good_file(path)
    _rewrite_header(path, edit)
    with pytest.raises(CheckpointError, match=match):
        load(path)


def test_loading_imports_nothing(path):
    """A NamedTuple class from a module that is not imported is never imported (no code runs)."""
    save(path, params=adam_state(mlp_params()))
    _rewrite_header(path, lambda t: t.replace('"optax._src.transform"', '"not_imported_evil_module"'))
    ck = load(path)
    assert "not_imported_evil_module" not in sys.modules
    assert ck.params[0]._fields == ("count", "mu", "nu") and int(ck.params[0].count) == 1
    assert any("not_imported_evil_module.ScaleByAdamState is not imported" in n for n in ck.report.notes)


@dataclasses.dataclass(frozen=True)
class Carry:
    """A registered dataclass with a static (JSON) field, as a training state is."""

    key: jax.Array
    position: jax.Array
    name: str = "carry"


jax.tree_util.register_dataclass(Carry, data_fields=["key", "position"], meta_fields=["name"])


def test_extra_tree_keeps_registered_dataclasses(path):
    carry = Carry(jax.random.key(3), jnp.array(17, jnp.int32), name="loader")
    save(path, params=(), extra=carry)
    back = load(path, like={"extra": carry}).extra  # like= gives the exact type
    assert type(back) is Carry and back.name == "loader" and int(back.position) == 17
    np.testing.assert_array_equal(jax.random.key_data(back.key), jax.random.key_data(carry.key))
    # without like=, a class off the allow-list (fnn/optax state types) comes back as a dict of its fields
    ck = load(path)
    assert isinstance(ck.extra, dict) and ck.extra["name"] == "loader" and int(ck.extra["position"]) == 17
    assert any("is not an fnn/optax state type" in n for n in ck.report.notes)
    # a class whose module is not imported is not imported: its fields come back as a dict
    _rewrite_header(path, lambda t: t.replace(f'"{Carry.__module__}"', '"not_imported_module"'))
    ck = load(path)
    assert isinstance(ck.extra, dict) and ck.extra["name"] == "loader" and int(ck.extra["position"]) == 17
    assert any("rebuilt as a dict" in n for n in ck.report.notes)


def test_bad_save_arguments(path):
    with pytest.raises(CheckpointError, match="is a str"):
        save(path, params={"w": "text"})
    with pytest.raises(CheckpointError, match="JSON-serialisable"):
        save(path, params=(), meta={"f": object()})
    with pytest.raises(CheckpointError, match="step must be >= 0"):
        save(path, params=(), step=-1)
    assert os.listdir(os.path.dirname(path)) == []  # nothing written, no temporary file left


def test_failed_save_keeps_the_previous_file(path):
    save(path, params={"w": jnp.ones(2, jnp.float32)}, step=1)
    os.chmod(path, 0o600)
    with pytest.raises(CheckpointError):
        save(path, params={"w": jnp.zeros(2, jnp.float32), "bad": object()}, step=2)
    assert load(path).step == 1
    save(path, params={"w": jnp.zeros(2, jnp.float32)}, step=2)
    assert load(path).step == 2 and os.stat(path).st_mode & 0o777 == 0o600  # mode kept on overwrite
    assert os.listdir(os.path.dirname(path)) == ["model.safetensors"]


# --------------------------------------------------------------------------- kill during save

_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from fnn.io import save

    path = sys.argv[1]
    base = np.arange(1 << 21, dtype=np.float32)  # 8 MiB per checkpoint
    i = 0
    while True:
        print("begin", i, flush=True)
        save(path, params={"w": base + np.float32(i), "i": np.int64(i)}, step=i, meta={"i": i})
        print("end", i, flush=True)
        i += 1
    """
)


def test_kill_during_save_leaves_a_complete_checkpoint(tmp_path):
    """SIGKILL a process that keeps overwriting one checkpoint; the file always holds a whole version.

    Leftover ``.model.safetensors.*.tmp`` files are allowed (documented): load never reads them.
    """
    rnd = random.Random(0)
    base = np.arange(1 << 21, dtype=np.float32)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
    killed_mid_save = 0
    for trial in range(5):
        d = tmp_path / f"trial{trial}"
        d.mkdir()
        path = str(d / "model.safetensors")
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, path], stdout=subprocess.PIPE, text=True, env=env)
        lines = []
        try:
            while "end 1" not in lines:
                line = proc.stdout.readline()
                assert line, f"writer exited early: {proc.wait()}"
                lines.append(line.strip())
            # a random moment within the next few saves
            target = rnd.randint(2, 6)
            while f"begin {target}" not in lines:
                lines.append(proc.stdout.readline().strip())
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
            lines += proc.stdout.read().split("\n")
            proc.stdout.close()
        begun = [int(s.split()[1]) for s in lines if s.startswith("begin")]
        ended = [int(s.split()[1]) for s in lines if s.startswith("end")]
        killed_mid_save += begun[-1] != ended[-1]
        ck = load(path)
        assert ck.step in (ended[-1], begun[-1]), (ck.step, begun[-1], ended[-1])
        assert ck.meta == {"i": ck.step} and int(ck.params["i"]) == ck.step
        np.testing.assert_array_equal(ck.params["w"], base + np.float32(ck.step))
        for name in os.listdir(d):
            assert name == "model.safetensors" or (name.startswith(".model.safetensors.") and name.endswith(".tmp"))
    assert killed_mid_save >= 1  # the kills did land inside save()


# --------------------------------------------------------------------------- resume


MODEL = fnn.Sequential(fnn.Linear(3, 4), fnn.Tanh(), fnn.Linear(4, 2))


def _train(params, opt_state, opt, batches):
    def loss(p, x, y):
        return jnp.mean((MODEL.apply(p, x) - y) ** 2)

    @jax.jit
    def step(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    with optax_promotion():
        for x, y in batches:
            params, opt_state = step(params, opt_state, x, y)
    return params, opt_state


def test_resume_is_bit_identical(path):
    """N steps, save, load, M more steps == N + M steps straight (hand-written optax loop)."""
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32))
               for _ in range(7)]
    opt = optax.adam(1e-2)
    p0 = mlp_params()
    straight, s_straight = _train(p0, opt.init(p0), opt, batches)

    p, s = _train(p0, opt.init(p0), opt, batches[:4])
    save(path, params=p, opt_state=s, step=4)
    ck = load(path)
    resumed, s_resumed = _train(ck.params, ck.opt_state, opt, batches[ck.step:])
    assert_same_tree(resumed, straight)
    assert_same_tree(s_resumed, s_straight)


def test_resume_with_fit_is_bit_identical(path):
    """fnn.fit: N epochs (or a mid-epoch stop), save, load, continue == the straight run, bit for bit."""
    from fnn.train import TrainState, fit, load_train_state, save_train_state

    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(48, 1))
    model = fnn.Sequential(fnn.Linear(3, 8), fnn.Tanh(), fnn.Linear(8, 1))
    opt = optax.adam(1e-2)

    def run(**kw):
        return fit(model, lambda out, t: jnp.mean((out - t) ** 2), opt, (x, y), batch_size=16, progress=False, **kw)

    straight = run(epochs=4, rng=0)
    for stop in ({"epochs": 2}, {"epochs": 4, "max_steps": 5}):  # at an epoch boundary, and mid-epoch
        first = run(rng=0, **stop)
        save_train_state(path, first, meta={"note": "resume test"})
        assert load(path).step == int(first.step)
        ts = load_train_state(path)
        assert isinstance(ts, TrainState) and ts.rng_impl == first.rng_impl
        assert_same_tree(ts, first)
        resumed = run(epochs=4, resume=ts)
        assert_same_tree(resumed, straight)
    # with a template of the same run (history length included): every path, shape and dtype is checked
    template = jax.eval_shape(lambda: first)
    assert_same_tree(load_train_state(path, like=template), first, types=False)  # abstract leaves load as jax arrays
    with pytest.raises(CheckpointError, match="holds no training state"):
        save(path, params=straight.params)
        load_train_state(path)
