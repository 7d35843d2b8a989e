"""PyTorch weight import/export: keys by structure, both directions, parity of eval outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import CheckpointError, ShapeError
from fnn.io import (
    ImportReport,
    load_torch_state_dict,
    read_safetensors,
    register_layout,
    save_torch_state_dict,
    to_torch_state_dict,
)

KEY = jax.random.key(0)


def fnn_mlp():
    return fnn.Sequential(fnn.Linear(4, 5), fnn.ReLU(), fnn.Linear(5, 3))


def torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def torch_sd(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def to_torch(torch, sd):
    return {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}


def run_torch(torch, module, x):
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(x))).numpy()


# --------------------------------------------------------------------------- keys


def test_keys_follow_structure_and_skip_nothing(torch):
    """torch numbers Sequential children by position, parameter-less ones too: the same as fnn's tuple."""
    nn = torch.nn
    t = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4)), nn.ReLU(), nn.Linear(4, 2))
    m = fnn.Sequential(fnn.Sequential(fnn.Linear(3, 4), fnn.Tanh(), fnn.Linear(4, 4)), fnn.ReLU(), fnn.Linear(4, 2))
    _, params = m.init(KEY, (-1, 3), jnp.float64)
    sd = to_torch_state_dict(params)
    assert list(sd) == ["0.0.bias", "0.0.weight", "0.2.bias", "0.2.weight", "2.bias", "2.weight"]
    assert set(sd) == set(t.state_dict())
    new, _, report = load_torch_state_dict(m, params, None, torch_sd(t))
    np.testing.assert_array_equal(new[0][2]["weight"], t[0][2].weight.detach().numpy())  # "0.2.weight"
    np.testing.assert_array_equal(new[2]["bias"], t[2].bias.detach().numpy())  # "2.bias"
    assert new[1] == () and sorted(report.loaded) == sorted(sd) and report.missing == report.unexpected == ()


# --------------------------------------------------------------------------- MLP parity


def test_mlp_torch_to_fnn(torch):
    t, m = torch_mlp(torch), fnn_mlp()
    _, params = m.init(KEY, (-1, 4), jnp.float64)
    params, state, report = load_torch_state_dict(m, params, None, t.state_dict())  # torch tensors directly
    assert state == () and len(report.loaded) == 4 and report.converted == ()
    x = np.random.default_rng(0).normal(size=(6, 4))
    np.testing.assert_allclose(m.apply(params, x), run_torch(torch, t, x), rtol=1e-12, atol=1e-12)


def test_mlp_fnn_to_torch(torch):
    t, m = torch_mlp(torch), fnn_mlp()
    _, params = m.init(jax.random.key(3), (-1, 4), jnp.float64)
    t.load_state_dict(to_torch(torch, to_torch_state_dict(params)), strict=True)
    x = np.random.default_rng(1).normal(size=(6, 4))
    np.testing.assert_allclose(run_torch(torch, t, x), m.apply(params, x), rtol=1e-12, atol=1e-12)


def test_mlp_through_safetensors_files_both_ways(torch, tmp_path):
    from safetensors.torch import load_file, save_file

    t, m = torch_mlp(torch), fnn_mlp()
    save_file(t.state_dict(), tmp_path / "torch.safetensors")
    _, params = m.init(jax.random.key(5), (-1, 4), jnp.float64)
    params, _, _ = load_torch_state_dict(m, params, None, tmp_path / "torch.safetensors")
    x = np.random.default_rng(2).normal(size=(3, 4))
    np.testing.assert_allclose(m.apply(params, x), run_torch(torch, t, x), rtol=1e-12, atol=1e-12)

    params = jax.tree.map(lambda p: p * 2.0, params)
    save_torch_state_dict(tmp_path / "fnn.safetensors", params)
    t2 = torch_mlp(torch)
    t2.load_state_dict(load_file(tmp_path / "fnn.safetensors"), strict=True)
    np.testing.assert_allclose(run_torch(torch, t2, x), m.apply(params, x), rtol=1e-12, atol=1e-12)


def test_float32_model_takes_float64_weights_with_a_note(torch):
    t, m = torch_mlp(torch), fnn_mlp()
    _, params = m.init(KEY, (-1, 4))  # float32
    params, _, report = load_torch_state_dict(m, params, None, t.state_dict())
    assert params[0]["weight"].dtype == jnp.float32
    assert "0.weight: cast float64 -> float32" in report.converted
    x = np.random.default_rng(0).normal(size=(2, 4))
    np.testing.assert_allclose(m.apply(params, x.astype(np.float32)), run_torch(torch, t, x), rtol=1e-5, atol=1e-6)


def test_bfloat16_tensors_import(torch, tmp_path):
    from safetensors.torch import save_file

    t = torch.nn.Linear(4, 5).to(torch.bfloat16)
    save_file(t.state_dict(), tmp_path / "bf16.safetensors")
    m = fnn.Linear(4, 5)
    _, params = m.init(KEY, (-1, 4))
    for source in (t.state_dict(), tmp_path / "bf16.safetensors"):
        new, _, report = load_torch_state_dict(m, params, None, source)
        np.testing.assert_array_equal(new["weight"], t.weight.detach().float().numpy())
        assert "weight: cast bfloat16 -> float32" in report.converted
    assert read_safetensors(tmp_path / "bf16.safetensors")["weight"].dtype == jnp.bfloat16


# --------------------------------------------------------------------------- mismatches


def test_shape_mismatches_are_all_listed(torch):
    nn = torch.nn
    t = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    m = fnn_mlp()
    _, params = m.init(KEY, (-1, 4), jnp.float64)
    with pytest.raises(ShapeError) as e:
        load_torch_state_dict(m, params, None, t.state_dict())
    msg = str(e.value)
    assert "3 shape/dtype mismatches" in msg and "missing" not in msg
    assert "0.weight (nn.Linear(4 -> 5)): torch shape (6, 4), fnn expects (5, 4)" in msg
    assert "0.bias (nn.Linear(4 -> 5)): torch shape (6,), fnn expects (5,)" in msg
    assert "2.weight (nn.Linear(5 -> 3)): torch shape (3, 6), fnn expects (3, 5)" in msg
    # shape mismatches raise even when strict=False, as in PyTorch
    with pytest.raises(ShapeError):
        load_torch_state_dict(m, params, None, t.state_dict(), strict=False)


def test_missing_and_unexpected_keys(torch):
    nn = torch.nn
    # torch has no ReLU here, so its second Linear is "1.*": fnn's [1] is a ReLU.
    t = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3))
    m = fnn_mlp()
    _, params = m.init(KEY, (-1, 4), jnp.float64)
    with pytest.raises(CheckpointError) as e:
        load_torch_state_dict(m, params, None, t.state_dict())
    msg = str(e.value)
    assert "missing from the state_dict (2):\n  2.bias (nn.Linear(5 -> 3))\n  2.weight (nn.Linear(5 -> 3))" in msg
    assert "1.weight (fnn's [1] is nn.ReLU, which has no such entry)" in msg
    assert "strict=False" in msg

    new, _, report = load_torch_state_dict(m, params, None, t.state_dict(), strict=False)
    np.testing.assert_array_equal(new[0]["weight"], t[0].weight.detach().numpy())  # matched: loaded
    np.testing.assert_array_equal(new[2]["weight"], params[2]["weight"])  # missing: kept
    assert set(report.loaded) == {"0.weight", "0.bias"}
    assert len(report.unexpected) == 2 and "missing from the state_dict (2)" in str(report)


def test_named_children_need_rename(torch):
    from collections import OrderedDict

    nn = torch.nn
    t = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 5), act=nn.ReLU(), fc2=nn.Linear(5, 3)))
    m = fnn_mlp()
    _, params = m.init(KEY, (-1, 4), jnp.float64)
    with pytest.raises(CheckpointError, match="fc1 is a name; use rename="):
        load_torch_state_dict(m, params, None, t.state_dict())
    index = {"fc1": "0", "fc2": "2"}
    new, _, _ = load_torch_state_dict(
        m, params, None, t.state_dict(), rename=lambda k: index[k.split(".")[0]] + "." + k.split(".")[1]
    )
    x = np.random.default_rng(0).normal(size=(2, 4))
    np.testing.assert_allclose(m.apply(new, x), run_torch(torch, t, x), rtol=1e-12)
    # a dict renames too, and None skips a key
    renames = {"fc1.weight": "0.weight", "fc1.bias": "0.bias", "fc2.weight": None, "fc2.bias": None}
    _, _, report = load_torch_state_dict(m, params, None, t.state_dict(), rename=renames, strict=False)
    assert report.ignored == ("fc2.weight (renamed to None)", "fc2.bias (renamed to None)")


def test_bad_sources(tmp_path, torch):
    m = fnn.Linear(2, 2)
    _, params = m.init(KEY, (2,))
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "model.pt")
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("model.pt", "legacy.pt"):
        with pytest.raises(CheckpointError, match="is a torch.save .pickle. file; fnn never unpickles"):
            load_torch_state_dict(m, params, None, tmp_path / name)
    with pytest.raises(CheckpointError, match="no state_dict file"):
        load_torch_state_dict(m, params, None, tmp_path / "absent.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_torch_state_dict(m, params, None, tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="not an array or tensor"):
        load_torch_state_dict(m, params, None, {"weight": "text"})
    with pytest.raises(CheckpointError, match="must be a mapping"):
        load_torch_state_dict(m, params, None, [np.ones(2)])
    with pytest.raises(ShapeError, match="torch dtype int64, fnn expects float32"):
        load_torch_state_dict(m, params, None, {"weight": np.ones((2, 2), np.int64), "bias": np.ones(2)})


def test_report_prints_every_section():
    r = ImportReport(loaded=("a",), missing=("b",), unexpected=("c",), ignored=("d",), converted=("e",))
    assert str(r) == ("loaded 1 arrays\nmissing from the state_dict (1):\n  b\nunexpected (1):\n  c\n"
                      "ignored (1):\n  d\nconverted (1):\n  e")


# --------------------------------------------------------------------------- layouts


def test_temporal_convolution_converts_conv1d_layout(torch):
    """torch7's TemporalConvolution stores (out, kW*in), kernel-major; Conv1d stores (out, in, kW)."""
    t = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 2))
    m = fnn.Sequential(fnn.TemporalConvolution(3, 4, 2))
    _, params = m.init(KEY, (-1, 7, 3), jnp.float64)
    params, _, report = load_torch_state_dict(m, params, None, t.state_dict())
    assert report.converted == ("0.weight: layout (4, 3, 2) -> (4, 6) (TemporalConvolution)",)
    x = np.random.default_rng(0).normal(size=(2, 7, 3))  # (B, T, F), channels last
    expected = run_torch(torch, t, x.transpose(0, 2, 1)).transpose(0, 2, 1)  # torch is (B, C, L)
    np.testing.assert_allclose(m.apply(params, x), expected, rtol=1e-12, atol=1e-12)

    sd = to_torch_state_dict(params, model=m)
    assert sd["0.weight"].shape == (4, 3, 2)
    t2 = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 2))
    t2.load_state_dict(to_torch(torch, sd))
    out = run_torch(torch, t2, x.transpose(0, 2, 1)).transpose(0, 2, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_register_layout_for_a_custom_kind():
    """A user layer stored transposed relative to torch converts through a registered layout."""
    from fnn.core import leaf

    def layer():
        return leaf("MyDense", lambda p, x, *, rng, train: x @ p["weight"], kind="MyDense",
                    params=lambda r, s, d: {"weight": jnp.zeros((3, 2), d)})

    register_layout("MyDense", lambda mod, n, a, shape: a.T if a.T.shape == shape else None,
                    lambda mod, n, a: a.T)
    m = fnn.Sequential(layer())
    _, params = m.init(KEY, (-1, 3))
    w = np.arange(6, dtype=np.float32).reshape(2, 3)  # torch (out, in)
    new, _, _ = load_torch_state_dict(m, params, None, {"0.weight": w})
    np.testing.assert_array_equal(new[0]["weight"], w.T)
    np.testing.assert_array_equal(to_torch_state_dict(new, model=m)["0.weight"], w)


# --------------------------------------------------------------------------- LeNet with BatchNorm


def fnn_lenet():
    return fnn.Sequential(
        fnn.SpatialConvolution(1, 6, 5, 5), fnn.SpatialBatchNormalization(6), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.SpatialConvolution(6, 16, 5, 5), fnn.SpatialBatchNormalization(16), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.View(16 * 4 * 4), fnn.Linear(256, 120), fnn.ReLU(), fnn.Linear(120, 84), fnn.ReLU(), fnn.Linear(84, 10),
    )


def torch_lenet(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def trained_torch_lenet(torch):
    """A torch LeNet whose BatchNorm statistics and affine params are not at their initial values."""
    t = torch_lenet(torch)
    t.train()
    with torch.no_grad():
        for i in range(3):
            t(torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(i)) * 2 + 1)
        for bn in (t[1], t[5]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return t


@pytest.fixture(scope="module")
def lenet():
    """The fnn LeNet, its abstract float64 params and state (nothing allocated or compiled) and a jitted apply."""
    m = fnn_lenet()
    params, state = jax.eval_shape(lambda k: m.stateful.init(k, (-1, 1, 28, 28), jnp.float64)[1:], KEY)
    return m, params, state, jax.jit(m.stateful.apply)


def test_lenet_torch_to_fnn(torch, lenet):
    m, params, state, apply = lenet
    t = trained_torch_lenet(torch)
    params, state, report = load_torch_state_dict(m, params, state, t.state_dict())
    assert len(report.loaded) == 18 and report.missing == report.unexpected == ()
    assert report.ignored == ("1.num_batches_tracked (PyTorch's BatchNorm batch counter; fnn keeps none)",
                              "5.num_batches_tracked (PyTorch's BatchNorm batch counter; fnn keeps none)")
    np.testing.assert_array_equal(state[1]["running_mean"], t[1].running_mean.numpy())
    np.testing.assert_array_equal(state[5]["running_var"], t[5].running_var.numpy())
    x = np.random.default_rng(0).normal(size=(4, 1, 28, 28))
    y, _ = apply(params, state, x)
    np.testing.assert_allclose(y, run_torch(torch, t, x), rtol=1e-10, atol=1e-12)


def test_lenet_fnn_to_torch(torch, tmp_path, lenet):
    from safetensors.torch import load_file

    m, params, state, apply = lenet
    params, state, _ = load_torch_state_dict(m, params, state, torch_lenet(torch).state_dict())
    params = jax.tree.map(lambda p: np.asarray(p) * 1.5, params)  # fnn's own values, unknown to any torch model
    state = jax.tree.map(lambda s: np.asarray(s) + 0.25, state)
    sd = to_torch_state_dict(params, state)
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].shape == ()
    x = np.random.default_rng(1).normal(size=(3, 1, 28, 28))
    expected, _ = apply(params, state, x)
    t = torch_lenet(torch)
    t.load_state_dict(to_torch(torch, sd), strict=True)
    np.testing.assert_allclose(run_torch(torch, t, x), expected, rtol=1e-10, atol=1e-12)
    save_torch_state_dict(tmp_path / "lenet.safetensors", params, state)
    t2 = torch_lenet(torch)
    t2.load_state_dict(load_file(tmp_path / "lenet.safetensors"), strict=True)
    np.testing.assert_allclose(run_torch(torch, t2, x), expected, rtol=1e-10, atol=1e-12)


def test_abstract_params_must_be_filled(torch, lenet):
    m, params, state, _ = lenet
    sd = torch_lenet(torch).state_dict()
    del sd["0.weight"]
    with pytest.raises(CheckpointError, match=r"lacks 1 entries of the abstract params/state.*\['0.weight'\]"):
        load_torch_state_dict(m, params, state, sd, strict=False)
