"""Specification of the shaping layers: View, Reshape, Transpose, Narrow, Select, Squeeze,
Unsqueeze and the PyTorch aliases Flatten, Unflatten (0-based, torch7 batch rules)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_simple import rand, torch_parity


def shape_after(module, shape):
    return module.apply((), jnp.zeros(shape)).shape


# --------------------------------------------------------------------------- View


def test_view_batch_rule():
    v = fnn.View(6)
    assert str(v) == "nn.View(6)"
    assert shape_after(v, (2, 3)) == (6,)
    assert shape_after(v, (4, 2, 3)) == (4, 6)  # the remainder is a batch
    assert shape_after(v, (1, 2, 3)) == (6,)  # torch7: a batch of 1 is lost without num_input_dims
    assert shape_after(fnn.View(6, num_input_dims=2), (1, 2, 3)) == (1, 6)
    assert shape_after(fnn.View(3, 2), (4, 6)) == (4, 3, 2)
    assert shape_after(fnn.View(-1), (4, 2, 3)) == (24,)  # -1 absorbs the remainder...
    assert shape_after(fnn.View(-1, num_input_dims=2), (4, 2, 3)) == (4, 6)  # ...unless the batch is known
    assert shape_after(fnn.View(2, -1), (2, 3)) == (2, 3)
    assert fnn.View(6).init(jax.random.key(0), (-1, 3, 2))[0] == (-1, 6)


def test_view_errors():
    with pytest.raises(ShapeError, match=r"nn.View\(4\) input view \(2x3\) and desired view \(4\) do not match"):
        fnn.View(4).apply((), jnp.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"nn.View\(7\) input view \(-1x3\) and desired view \(7\)"):
        fnn.View(7).init(jax.random.key(0), (-1, 3))
    with pytest.raises(ShapeError, match="num_input_dims"):
        fnn.View(4, num_input_dims=3).apply((), jnp.zeros((2, 2)))
    for bad in ((0,), (-1, -1), (2, -2), ("3",)):
        with pytest.raises(ConfigError):
            fnn.View(*bad)


@settings(max_examples=25, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=4), batch=st.integers(1, 3))
def test_view_is_numpy_reshape(dims, batch):
    """With num_input_dims, View equals numpy's reshape of every example, for any shape."""
    x = np.arange(batch * int(np.prod(dims)), dtype=np.float32).reshape((batch, *dims))
    flat = int(np.prod(dims))
    y = fnn.View(flat, num_input_dims=len(dims)).apply((), jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(y), x.reshape(batch, flat))
    y2 = fnn.View(*reversed(dims)).apply((), jnp.asarray(x[0]))
    np.testing.assert_array_equal(np.asarray(y2), x[0].reshape(tuple(reversed(dims))))


# --------------------------------------------------------------------------- Reshape


def test_reshape_batch_heuristic():
    r = fnn.Reshape(6)
    assert str(r) == "nn.Reshape(6)" and str(fnn.Reshape(2, 3)) == "nn.Reshape(2x3)"
    assert shape_after(r, (2, 3)) == (6,)  # same count, first dim != 1: one example
    assert shape_after(r, (1, 6)) == (1, 6)  # a leading 1 counts as a batch (torch7)
    assert shape_after(r, (4, 2, 3)) == (4, 6)
    assert shape_after(fnn.Reshape(6, batch_mode=False), (1, 6)) == (6,)
    assert shape_after(fnn.Reshape(3, batch_mode=True), (2, 3)) == (2, 3)
    assert fnn.Reshape(1, 28, 28).init(jax.random.key(0), (-1, 784))[0] == (-1, 1, 28, 28)
    with pytest.raises(ShapeError, match=r"nn.Reshape\(4\) cannot reshape \(2, 3\)"):
        r2 = fnn.Reshape(4)
        r2.apply((), jnp.zeros((2, 3)))
    with pytest.raises(ConfigError, match="positive ints"):
        fnn.Reshape(-1, 2)
    with pytest.raises(ConfigError):
        fnn.Reshape(2, batch_mode="yes")


# --------------------------------------------------------------------------- Transpose, Narrow, Select


def test_transpose():
    x = jnp.zeros((2, 3, 4))
    assert shape_after(fnn.Transpose((0, 1)), (2, 3, 4)) == (3, 2, 4)
    assert shape_after(fnn.Transpose((0, 1), (1, 2)), (2, 3, 4)) == (3, 4, 2)  # in order
    assert shape_after(fnn.Transpose((0, 1), num_input_dims=2), (2, 3, 4)) == (2, 4, 3)  # batch offset
    assert shape_after(fnn.Transpose((0, -1)), (2, 3, 4)) == (4, 3, 2)
    assert fnn.Transpose((0, 1), num_input_dims=2).apply((), x).shape == (2, 4, 3)
    with pytest.raises(ShapeError, match="nn.Transpose dim 3 is out of range for a 3-D input"):
        fnn.Transpose((0, 3)).apply((), x)
    with pytest.raises(ConfigError):
        fnn.Transpose((0, 1, 2))


def test_narrow_negative_length():
    x = jnp.arange(6.0)
    nar = lambda *a: fnn.Narrow(*a).apply((), x).tolist()
    assert nar(0, 2) == [2.0]  # length defaults to 1
    assert nar(0, 1, 3) == [1.0, 2.0, 3.0]
    assert nar(0, 1, -1) == [1.0, 2.0, 3.0, 4.0, 5.0]  # -1: to the end
    assert nar(0, 1, -2) == [1.0, 2.0, 3.0, 4.0]  # -2: all but the last
    assert nar(0, 0, -6) == [0.0]
    assert nar(-1, -2, 2) == [4.0, 5.0]  # negative dim and offset count from the end
    m = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(fnn.Narrow(1, 1, 2).apply((), m), m[:, 1:3])
    g_in, _ = fnn.backward(fnn.Narrow(0, 1, 2), (), x, jnp.array([7.0, 8.0]))
    np.testing.assert_allclose(g_in, [0.0, 7.0, 8.0, 0.0, 0.0, 0.0])  # scattered into zeros
    with pytest.raises(ShapeError, match="nn.Narrow cannot narrow dim 0 of size 6 at offset 1 with length -7"):
        nar(0, 1, -7)
    with pytest.raises(ShapeError):
        nar(0, 5, 2)
    with pytest.raises(ConfigError):
        fnn.Narrow(0, 0, 0)


def test_select():
    m = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(fnn.Select(0, 1).apply((), m), m[1])
    np.testing.assert_allclose(fnn.Select(1, -1).apply((), m), m[:, 3])
    np.testing.assert_allclose(fnn.Select(-1, 0).apply((), m), m[:, 0])
    g_in, _ = fnn.backward(fnn.Select(1, 2), (), m, jnp.ones(3))
    assert float(g_in.sum()) == 3.0 and float(g_in[:, 2].sum()) == 3.0
    with pytest.raises(ShapeError, match=r"nn.Select\(1, 4\) index 4 is out of range for dim 1 of size 4"):
        fnn.Select(1, 4).apply((), m)


# --------------------------------------------------------------------------- Squeeze, Unsqueeze


def test_squeeze():
    assert shape_after(fnn.Squeeze(), (1, 3, 1, 2)) == (3, 2)
    assert shape_after(fnn.Squeeze(2), (1, 3, 1, 2)) == (1, 3, 2)
    assert shape_after(fnn.Squeeze(1), (1, 3, 1, 2)) == (1, 3, 1, 2)  # not size 1: no-op
    assert shape_after(fnn.Squeeze(num_input_dims=3), (1, 3, 1, 2)) == (1, 3, 2)  # batch of 1 protected
    assert shape_after(fnn.Squeeze(num_input_dims=4), (1, 3, 1, 2)) == (3, 2)  # not a batch
    assert shape_after(fnn.Squeeze(1, num_input_dims=3), (5, 3, 1, 2)) == (5, 3, 2)  # dim shifted
    assert shape_after(fnn.Squeeze(-2), (5, 3, 1, 2)) == (5, 3, 2)
    with pytest.raises(ShapeError, match="nn.Squeeze dim 4 is out of range"):
        fnn.Squeeze(4).apply((), jnp.zeros((1, 2)))


def test_unsqueeze():
    assert str(fnn.Unsqueeze(1)) == "nn.Unsqueeze(dim 1)"
    assert shape_after(fnn.Unsqueeze(0), (2, 3)) == (1, 2, 3)
    assert shape_after(fnn.Unsqueeze(2), (2, 3)) == (2, 3, 1)
    assert shape_after(fnn.Unsqueeze(0, num_input_dims=1), (2, 3)) == (2, 1, 3)  # offset rank - n
    assert shape_after(fnn.Unsqueeze(1, num_input_dims=1), (2, 3)) == (2, 3, 1)
    assert shape_after(fnn.Unsqueeze(-1), (2, 3)) == (2, 3, 1)
    with pytest.raises(ShapeError, match="nn.Unsqueeze\\(dim 3\\) cannot insert a dim at position 3"):
        fnn.Unsqueeze(3).apply((), jnp.zeros((2, 3)))
    with pytest.raises(ShapeError, match="num_input_dims"):
        fnn.Unsqueeze(0, num_input_dims=3).apply((), jnp.zeros((2, 3)))


# --------------------------------------------------------------------------- Flatten, Unflatten


def test_flatten_is_pytorch_flatten():
    assert shape_after(fnn.Flatten(), (2, 3, 4)) == (2, 12)
    assert shape_after(fnn.Flatten(0), (2, 3, 4)) == (24,)
    assert shape_after(fnn.Flatten(0, 1), (2, 3, 4)) == (6, 4)
    assert fnn.Flatten().init(jax.random.key(0), (-1, 1, 28, 28))[0] == (-1, 784)
    with pytest.raises(ShapeError, match="nn.Flatten start_dim 1 is out of range for a 1-D input"):
        fnn.Flatten().apply((), jnp.zeros(3))
    assert "Flatten" in fnn.LAYER_NAMES  # aliases are constructors too: each has a conformance case


# --------------------------------------------------------------------------- PyTorch parity


@pytest.mark.torch
def test_shaping_layers_match_pytorch(torch):
    x = rand((2, 3, 4))
    cases = [
        (fnn.View(12, num_input_dims=2), lambda t: t.view(2, 12)),
        (fnn.View(4, 3), lambda t: t.view(2, 4, 3)),
        (fnn.Reshape(4, 3), lambda t: t.reshape(2, 4, 3)),
        (fnn.Transpose((0, 2), (0, 1)), lambda t: t.transpose(0, 2).transpose(0, 1)),
        (fnn.Narrow(2, 1, -2), lambda t: t.narrow(2, 1, 2)),
        (fnn.Select(1, -1), lambda t: t.select(1, -1)),
        (fnn.Unsqueeze(1, num_input_dims=2), lambda t: t.unsqueeze(2)),
        (fnn.Flatten(), lambda t: torch.nn.Flatten()(t)),
        (fnn.Flatten(0, 1), lambda t: torch.flatten(t, 0, 1)),
        (fnn.Unflatten(-1, (2, 2)), lambda t: torch.nn.Unflatten(-1, (2, 2))(t)),
    ]
    compared = sum(torch_parity(torch, mod, (), x, lambda p, t, fn=fn: fn(t)) for mod, fn in cases)
    y = rand((2, 1, 3))
    compared += torch_parity(torch, fnn.Squeeze(), (), y, lambda p, t: t.squeeze())
    assert compared == 2 * 11
