"""Errors name the layer, and no mistake is diagnosed as something else (issue 14, part 3).

Concat's out-of-range dim names the container; a constructor given to Sequential is named with
the call to write; ParallelTable takes exactly one input per child; table layers promote
float32 + float64 as JAX and PyTorch do; symbolic sizes (jax.export) pass every shape check.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

import fnn

KEY = jax.random.key(0)


def test_concat_dim_out_of_range_names_the_container():
    model = fnn.Sequential(fnn.Linear(5, 3), fnn.Concat(3, fnn.Identity(), fnn.Identity()))
    with pytest.raises(fnn.ShapeError, match=r"^at \[1\]: nn.Concat: dim 3 is out of range for its children's "
                                              r"2-D outputs") as e:
        model.init(KEY, (-1, 5))
    assert e.value.path == (1,)


def test_sequential_given_a_constructor_names_it_and_suggests_the_call():
    with pytest.raises(fnn.ConfigError, match=r"child 1 is fnn.ReLU, the layer constructor, not a layer; "
                                               r"call it: fnn.ReLU\(\)"):
        fnn.Sequential(fnn.Linear(5, 3), fnn.ReLU, fnn.Linear(3, 2))
    with pytest.raises(fnn.ConfigError, match=r"child 0 is fnn.Linear, .*call it: fnn.Linear\(\.\.\.\)"):
        fnn.Sequential(fnn.Linear)
    with pytest.raises(fnn.ConfigError, match=r"child 0 is the function .*relu, not an fnn Module"):
        fnn.Concat(0, jax.nn.relu)
    with pytest.raises(fnn.ConfigError, match="child 0 is a int, not an fnn Module"):
        fnn.ConcatTable(3)


def test_parallel_table_needs_one_input_per_child():
    model = fnn.ParallelTable(fnn.MulConstant(2.0), fnn.MulConstant(3.0))
    x = jnp.ones(2, jnp.float32)
    with pytest.raises(fnn.ShapeError, match=r"nn.ParallelTable expects a table of 2 inputs, got 3"):
        model.apply((), (x, x, x))
    with pytest.raises(fnn.ShapeError, match=r"expects a table of 2 inputs, got 3"):
        model.init(KEY, ((2,), (2,), (2,)))
    with pytest.raises(fnn.ShapeError, match=r"expects a table of 2 inputs, got 1"):
        model.apply((), (x,))
    assert "Deviation from torch7" in fnn.ParallelTable.__doc__


@pytest.mark.parametrize("layer, n", [
    (fnn.CAddTable, 3), (fnn.CMulTable, 2), (fnn.CSubTable, 2), (fnn.CDivTable, 2), (fnn.CMaxTable, 2),
    (fnn.CMinTable, 2), (fnn.DotProduct, 2), (fnn.PairwiseDistance, 2), (fnn.CosineDistance, 2),
    (lambda: fnn.JoinTable(1), 2),
])
def test_table_layers_promote_float32_and_float64_as_jax_and_pytorch_do(layer, n):
    rng = np.random.default_rng(0)
    xs = [rng.uniform(1, 2, (3, 4)) for _ in range(n)]
    mixed = tuple(jnp.asarray(a, jnp.float32 if i == 0 else jnp.float64) for i, a in enumerate(xs))
    promoted = tuple(e.astype(jnp.float64) for e in mixed)  # what JAX's standard promotion gives
    y = layer().apply((), mixed)
    assert y.dtype == jnp.float64
    np.testing.assert_array_equal(y, layer().apply((), promoted))
    # gradients flow back in each entry's own dtype
    g = jax.grad(lambda t: jnp.sum(layer().apply((), t)))(mixed)
    assert [a.dtype for a in g] == [a.dtype for a in mixed]


def test_table_promotion_matches_pytorch():
    torch = pytest.importorskip("torch")
    a, b = np.float32([1.5, 2.25]), np.float64([0.1, 0.2])
    want = torch.add(torch.from_numpy(a), torch.from_numpy(b))
    got = fnn.CAddTable().apply((), (jnp.asarray(a), jnp.asarray(b)))
    assert str(want.dtype) == "torch.float64" and got.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


# --------------------------------------------------------------------------- jax.export with a symbolic batch


def lenet() -> fnn.Module:
    """A small LeNet: convolution, pooling, View and Linear (the shape checks a real one runs)."""
    return fnn.Sequential(
        fnn.SpatialConvolution(1, 2, 3, 3), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2, 2, 2),
        fnn.View(18), fnn.Linear(18, 3), fnn.LogSoftMax(),
    )  # fmt: skip


@pytest.mark.parametrize("make, shape", [
    (lambda: fnn.Linear(784, 10), (784,)),
    (lenet, (1, 8, 8)),
    (lambda: fnn.Sequential(fnn.Linear(4, 3), fnn.BatchNormalization(3), fnn.Tanh()), (4,)),
    (lambda: fnn.Sequential(fnn.TemporalConvolution(3, 4, 2), fnn.Max(1)), (6, 3)),
    (lambda: fnn.Sequential(fnn.ConcatTable(fnn.Linear(4, 2), fnn.Linear(4, 2)), fnn.CAddTable()), (4,)),
], ids=["Linear", "LeNet", "BatchNorm", "TemporalConv", "table"])
def test_export_with_a_symbolic_batch_size(make, shape):
    model = make()
    init, apply = model.stateful
    _, params, state = init(KEY, (-1,) + shape, jnp.float32)
    (b,) = export.symbolic_shape("b")
    spec = jax.ShapeDtypeStruct((b,) + shape, jnp.float32)
    exported = export.export(jax.jit(lambda p, s, x: apply(p, s, x)[0]))(params, state, spec)
    assert "b" in str(exported.out_avals[0].shape[0])
    x = jax.random.normal(KEY, (3,) + shape, jnp.float32)
    np.testing.assert_allclose(exported.call(params, state, x), apply(params, state, x)[0], rtol=1e-6, atol=1e-6)


def test_symbolic_sizes_are_formatted_and_still_checked():
    (b,) = export.symbolic_shape("b")
    assert fnn.core.is_shape((b, 3)) and fnn.core.shape_of(jax.ShapeDtypeStruct((b, 3), jnp.float32)) == (-1, 3)
    model = fnn.Linear(784, 10)
    _, params = model.init(KEY, (-1, 784))
    with pytest.raises(fnn.ShapeError, match=r"nn.Linear\(784 -> 10\)"):
        export.export(jax.jit(model.apply))(params, jax.ShapeDtypeStruct((b, 785), jnp.float32))
