"""Table layers: torch7 semantics, hand-computed cases, PyTorch parity, round trips."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn
from fnn.layers._table import batch_dim


def run(module, x):
    return module.apply((), x)


def grads(module, x, weights=None):
    """The input gradient of ``sum(weights * y)`` (all ones by default), a table like ``x``."""

    def loss(x):
        y = jax.tree.leaves(module.apply((), x))
        w = weights if weights is not None else [1.0] * len(y)
        return sum(jnp.sum(wi * yi) for wi, yi in zip(w, y, strict=True))

    return jax.grad(loss)(x)


def arr(*v):
    return jnp.array(v, dtype=jnp.float64)


def rand(*shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-2, 2, shape))


# --------------------------------------------------------------------------- JoinTable / SplitTable


def test_join_table_tutorial_example():
    # torch7: nn.JoinTable(2, 2):forward({1x3, 1x3, 1x2}) is 1x8.
    t = (rand(1, 3, seed=1), rand(1, 3, seed=2), rand(1, 2, seed=3))
    y = run(fnn.JoinTable(1, 2), t)
    assert y.shape == (1, 8)
    np.testing.assert_array_equal(y, jnp.concatenate(t, axis=1))


def test_n_input_dims_shifts_only_at_rank_n_plus_1():
    assert batch_dim(0, 2, 1) == 1  # rank == n + 1: shifted
    assert batch_dim(0, 1, 1) == 0  # rank == n: as given
    assert batch_dim(0, 3, 1) == 0  # rank == n + 2: NOT shifted (torch7 checks equality)
    assert batch_dim(-1, 2, 1) == 1  # negative dims are never shifted
    assert batch_dim(-2, 3, 2) == 1
    assert batch_dim(1, 3, None) == 1
    a, b = arr(1.0, 2.0), arr(3.0)
    np.testing.assert_array_equal(run(fnn.JoinTable(0, 1), (a, b)), [1, 2, 3])
    y = run(fnn.JoinTable(0, 1), (jnp.ones((2, 2)), jnp.zeros((2, 1))))
    assert y.shape == (2, 3)
    y = run(fnn.JoinTable(0, 1), (jnp.ones((2, 2, 2)), jnp.zeros((1, 2, 2))))
    assert y.shape == (3, 2, 2)
    y = run(fnn.JoinTable(-1, 1), (jnp.ones((2, 2)), jnp.zeros((2, 1))))
    assert y.shape == (2, 3)


def test_join_table_gradient_splits_back():
    x = (rand(2, 2), rand(2, 3, seed=1))
    w = [jnp.arange(10.0, dtype=jnp.float64).reshape(2, 5)]
    ga, gb = grads(fnn.JoinTable(-1), x, w)
    np.testing.assert_array_equal(ga, [[0, 1], [5, 6]])
    np.testing.assert_array_equal(gb, [[2, 3, 4], [7, 8, 9]])


def test_join_table_declared_shapes_and_errors():
    out, params = fnn.JoinTable(0, 1).init(jax.random.key(0), ((-1, 3), (-1, 2)))
    assert out == (-1, 5) and params == ()
    out, _ = fnn.JoinTable(0).init(jax.random.key(0), ((-1, 3), (4, 3)))
    assert out == (-1, 3)
    with pytest.raises(fnn.ShapeError, match=r"^nn.JoinTable\(1\) joins along dim 1; the other dims must match"):
        fnn.JoinTable(1).init(jax.random.key(0), ((2, 3), (1, 3)))
    with pytest.raises(fnn.ShapeError, match="expects arrays of one rank"):
        run(fnn.JoinTable(0), (jnp.ones(2), jnp.ones((1, 2))))
    with pytest.raises(fnn.ShapeError, match="expects a table"):
        run(fnn.JoinTable(0), jnp.ones(2))
    with pytest.raises(fnn.ShapeError, match="empty table"):
        run(fnn.JoinTable(0), ())
    with pytest.raises(fnn.ShapeError, match="out of range"):
        run(fnn.JoinTable(2), (jnp.ones(2), jnp.ones(2)))
    # Mixed dtypes are promoted as torch.cat does (issue 14: no longer refused).
    assert run(fnn.JoinTable(0), (jnp.ones(2, jnp.float32), jnp.ones(2, jnp.float64))).dtype == jnp.float64
    # Any dtype may be joined (index tables, for instance).
    assert run(fnn.JoinTable(0), (jnp.arange(2), jnp.arange(3))).tolist() == [0, 1, 0, 1, 2]


def test_split_table_slices_along_the_dim():
    x = jnp.arange(6.0, dtype=jnp.float64).reshape(2, 3)
    ys = run(fnn.SplitTable(0), x)
    assert len(ys) == 2
    np.testing.assert_array_equal(ys[1], [3, 4, 5])
    ys = run(fnn.SplitTable(0, 1), x)  # rank 2 == 1 + 1: a batch of vectors, split dim 1
    assert len(ys) == 3
    np.testing.assert_array_equal(ys[2], [2, 5])
    ys = run(fnn.SplitTable(-1, 1), x)
    assert len(ys) == 3
    ys = run(fnn.SplitTable(0, 1), arr(7.0, 8.0))  # one example: dim 0
    assert [float(y) for y in ys] == [7.0, 8.0]


def test_split_table_declared_shapes_and_errors():
    out, _ = fnn.SplitTable(0, 1).init(jax.random.key(0), (-1, 3))
    assert out == ((-1,), (-1,), (-1,))
    with pytest.raises(fnn.ShapeError, match=r"^nn.SplitTable\(0\) splits dim 0 .*unknown in \(-1, 3\)"):
        fnn.SplitTable(0).init(jax.random.key(0), (-1, 3))
    with pytest.raises(fnn.ShapeError, match="size 0"):
        run(fnn.SplitTable(1), jnp.ones((2, 0)))
    with pytest.raises(fnn.ShapeError, match="expects one array"):
        run(fnn.SplitTable(0), (jnp.ones(2),))
    with pytest.raises(fnn.ConfigError):
        fnn.SplitTable(0, 0)
    with pytest.raises(fnn.ConfigError):
        fnn.JoinTable(1.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.data())
def test_split_then_join_round_trips(shape, data):
    rank = len(shape)
    dim = data.draw(st.integers(-rank, rank - 1), label="dim")
    x = jnp.asarray(np.random.default_rng(rank).normal(size=shape))
    pieces = run(fnn.SplitTable(dim), x)
    d = dim % rank
    assert len(pieces) == shape[d]
    # Each piece has the dim removed; re-insert it and join: the original comes back.
    np.testing.assert_array_equal(run(fnn.JoinTable(d), tuple(jnp.expand_dims(p, d) for p in pieces)), x)
    # Join of a split along a batch-aware dim, with a batch in front, also round trips.
    xb = jnp.stack([x, -x])
    joined = run(fnn.JoinTable(d, rank), tuple(jnp.expand_dims(p, d + 1) for p in run(fnn.SplitTable(d, rank), xb)))
    np.testing.assert_array_equal(joined, xb)
    # The gradient of SplitTable is the join of the output gradients.
    g = grads(fnn.SplitTable(dim), x, [float(i + 1) for i in range(shape[d])])
    expected = jnp.broadcast_to(jnp.arange(1.0, shape[d] + 1).reshape((-1,) + (1,) * (rank - d - 1)), x.shape)
    np.testing.assert_array_equal(g, expected)


# --------------------------------------------------------------------------- NarrowTable / SelectTable / FlattenTable


def test_narrow_table_tutorial_example_and_zero_gradients():
    t = (rand(1, 3, seed=1), rand(1, 3, seed=2), rand(1, 2, seed=3))
    y = run(fnn.NarrowTable(0, 2), t)  # torch7's NarrowTable(1, 2)
    assert len(y) == 2
    np.testing.assert_array_equal(y[0], t[0])
    np.testing.assert_array_equal(y[1], t[1])
    g = grads(fnn.NarrowTable(1, 2), t)
    np.testing.assert_array_equal(g[0], jnp.zeros((1, 3)))
    np.testing.assert_array_equal(g[1], jnp.ones((1, 3)))
    np.testing.assert_array_equal(g[2], jnp.ones((1, 2)))
    assert len(run(fnn.NarrowTable(2), t)) == 1  # always a table
    np.testing.assert_array_equal(run(fnn.NarrowTable(-2, 2), t)[0], t[1])


def test_narrow_table_errors():
    t = (jnp.ones(2), jnp.ones(2))
    with pytest.raises(fnn.ShapeError, match=r"^nn.NarrowTable\(1, 2\) takes entries 1..2 .* has 2"):
        run(fnn.NarrowTable(1, 2), t)
    with pytest.raises(fnn.ShapeError, match="expects a table"):
        run(fnn.NarrowTable(0), jnp.ones(2))
    with pytest.raises(fnn.ConfigError):
        fnn.NarrowTable(0, 0)


def test_select_table_negative_nested_and_zero_gradients():
    t = (arr(1.0, 2.0), (arr(3.0), (arr(4.0, 5.0),)), arr(6.0))
    np.testing.assert_array_equal(run(fnn.SelectTable(0), t), [1, 2])
    np.testing.assert_array_equal(run(fnn.SelectTable(-1), t), [6])
    inner = run(fnn.SelectTable(1), t)
    assert isinstance(inner, tuple) and len(inner) == 2
    g = grads(fnn.SelectTable(1), t)
    np.testing.assert_array_equal(g[0], [0, 0])
    np.testing.assert_array_equal(g[1][0], [1])
    np.testing.assert_array_equal(g[1][1][0], [1, 1])
    np.testing.assert_array_equal(g[2], [0])
    g = grads(fnn.SelectTable(-3), t)
    np.testing.assert_array_equal(g[1][1][0], [0, 0])  # nested unselected entries: zeros, recursively
    out, _ = fnn.SelectTable(1).init(jax.random.key(0), ((-1, 2), ((-1, 1), (-1, 3))))
    assert out == ((-1, 1), (-1, 3))
    with pytest.raises(fnn.ShapeError, match=r"^nn.SelectTable\(3\) selects entry 3, but the input table has 3"):
        run(fnn.SelectTable(3), t)
    with pytest.raises(fnn.ShapeError, match="has 3"):
        run(fnn.SelectTable(-4), t)
    # Integer entries pass through (a table of data and indices).
    assert run(fnn.SelectTable(1), (jnp.ones(2), jnp.arange(3))).dtype == jnp.arange(3).dtype


def test_flatten_table_is_depth_first():
    a, b, c, d = arr(1.0), arr(2.0, 3.0), arr(4.0), arr(5.0)
    y = run(fnn.FlattenTable(), (a, (b, (c,)), d))
    assert [v.tolist() for v in y] == [[1], [2, 3], [4], [5]]
    assert len(run(fnn.FlattenTable(), a)) == 1
    g = grads(fnn.FlattenTable(), (a, (b, (c,)), d), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(g[1][1][0], [3])
    out, _ = fnn.FlattenTable().init(jax.random.key(0), ((-1, 2), ((-1, 1),)))
    assert out == ((-1, 2), (-1, 1))
    with pytest.raises(fnn.ShapeError, match="at least one array"):
        run(fnn.FlattenTable(), ())


# --------------------------------------------------------------------------- CMath tables


def test_cmath_tables_by_hand():
    x = (arr(1.0, 2.0), arr(3.0, -4.0), arr(0.5, 2.0))
    np.testing.assert_array_equal(run(fnn.CAddTable(), x), [4.5, 0])
    np.testing.assert_array_equal(run(fnn.CMulTable(), x), [1.5, -16])
    np.testing.assert_array_equal(run(fnn.CSubTable(), x[:2]), [-2, 6])
    np.testing.assert_array_equal(run(fnn.CDivTable(), x[:2]), [1 / 3, -0.5])
    np.testing.assert_array_equal(run(fnn.CAddTable(), x[:1]), [1, 2])
    g = grads(fnn.CMulTable(), x)
    np.testing.assert_array_equal(g[0], [1.5, -8])
    g = grads(fnn.CDivTable(), x[:2])
    np.testing.assert_allclose(g[1], [-1 / 9, -2 / 16])
    g = grads(fnn.CSubTable(), x[:2])
    np.testing.assert_array_equal(g[1], [-1, -1])


def test_cmax_and_cmin_send_the_gradient_to_the_first_winner():
    x = (arr(1.0, 2.0, 3.0), arr(1.0, 5.0, 3.0), arr(0.0, 5.0, 3.0))
    np.testing.assert_array_equal(run(fnn.CMaxTable(), x), [1, 5, 3])
    g = grads(fnn.CMaxTable(), x)
    np.testing.assert_array_equal(g[0], [1, 0, 1])
    np.testing.assert_array_equal(g[1], [0, 1, 0])
    np.testing.assert_array_equal(g[2], [0, 0, 0])
    x = (arr(1.0, 2.0), arr(1.0, 0.0), arr(-1.0, 0.0))
    np.testing.assert_array_equal(run(fnn.CMinTable(), x), [-1, 0])
    g = grads(fnn.CMinTable(), x)
    np.testing.assert_array_equal(g[0], [0, 0])
    np.testing.assert_array_equal(g[1], [0, 1])
    np.testing.assert_array_equal(g[2], [1, 0])


def test_table_arity_and_shape_errors():
    two = (jnp.ones(2), jnp.ones(2))
    with pytest.raises(fnn.ShapeError, match=r"^nn.CSubTable expects a table of 2 inputs, got 3"):
        run(fnn.CSubTable(), two + (jnp.ones(2),))
    with pytest.raises(fnn.ShapeError, match="expects a table of 2 inputs, got 1"):
        fnn.CDivTable().init(jax.random.key(0), ((2,),))
    with pytest.raises(fnn.ShapeError, match=r"^nn.CAddTable expects a non-empty table"):
        run(fnn.CAddTable(), ())
    with pytest.raises(fnn.ShapeError, match=r"^nn.CMulTable expects a table \(tuple\) of inputs, got one array"):
        run(fnn.CMulTable(), jnp.ones((2, 2)))
    with pytest.raises(fnn.ShapeError, match=r"one shape, got \{\(-1, 3\), \(-1, 4\)\}"):
        fnn.CAddTable().init(jax.random.key(0), ((-1, 3), (-1, 4)))
    with pytest.raises(fnn.ShapeError, match="one shape"):
        run(fnn.CMaxTable(), (jnp.ones(2), jnp.ones((1, 2))))
    with pytest.raises(fnn.ShapeError, match="entry 1 is a table"):
        run(fnn.CAddTable(), (jnp.ones(2), (jnp.ones(2),)))
    with pytest.raises(fnn.DTypeError, match="expects floating-point input"):
        run(fnn.CAddTable(), (jnp.ones(2, jnp.int32), jnp.ones(2, jnp.int32)))
    # float32 + float64 follows JAX/PyTorch promotion (issue 14: no longer refused).
    assert run(fnn.CAddTable(), (jnp.ones(2, jnp.float32), jnp.ones(2, jnp.float64))).dtype == jnp.float64
    out, _ = fnn.CAddTable().init(jax.random.key(0), ((-1, 3), (-1, 3)))
    assert out == (-1, 3)


# --------------------------------------------------------------------------- pair layers


def test_pair_layers_by_hand():
    x, y = arr(0.0, 0.0), arr(3.0, -4.0)
    assert float(run(fnn.PairwiseDistance(), (x, y))) == 5.0
    assert float(run(fnn.PairwiseDistance(1), (x, y))) == 7.0
    assert float(run(fnn.PairwiseDistance(math.inf), (x, y))) == 4.0
    np.testing.assert_allclose(run(fnn.PairwiseDistance(3), (x, y)), (27 + 64) ** (1 / 3))
    assert run(fnn.PairwiseDistance(), (x, y)).shape == ()  # one pair: a scalar (torch7: a 1-element array)
    assert run(fnn.PairwiseDistance(), (jnp.ones((4, 2)), jnp.ones((4, 2)))).shape == (4,)
    assert float(run(fnn.DotProduct(), (arr(1.0, 2.0), y))) == -5.0
    np.testing.assert_allclose(run(fnn.CosineDistance(), (arr(1.0, 0.0), arr(1.0, 1.0))), math.sqrt(0.5))
    np.testing.assert_allclose(run(fnn.CosineDistance(), (arr(2.0, 0.0), arr(-3.0, 0.0))), -1.0)
    # torch7's epsilon keeps a zero vector finite.
    assert float(run(fnn.CosineDistance(), (arr(0.0, 0.0), y))) == 0.0


def test_pairwise_distance_gradient_at_zero_distance_is_zero():
    for p in (1, 2, 3):
        g = grads(fnn.PairwiseDistance(p), (arr(1.0, 2.0), arr(1.0, 2.0)))
        np.testing.assert_array_equal(g[0], [0, 0])
    g = grads(fnn.PairwiseDistance(), (arr(0.0, 0.0), arr(3.0, 4.0)))
    np.testing.assert_allclose(g[0], [-0.6, -0.8])


def test_pair_layer_errors():
    with pytest.raises(fnn.ShapeError, match=r"^nn.DotProduct expects a table of 2 inputs"):
        run(fnn.DotProduct(), (jnp.ones(2),))
    with pytest.raises(fnn.ShapeError, match="one shape"):
        run(fnn.PairwiseDistance(), (jnp.ones(2), jnp.ones(3)))
    with pytest.raises(fnn.ShapeError, match="expects vectors"):
        run(fnn.CosineDistance(), (jnp.ones(()), jnp.ones(())))
    for bad in (0, -1, "2", True):
        with pytest.raises(fnn.ConfigError):
            fnn.PairwiseDistance(bad)


# --------------------------------------------------------------------------- in models


def test_printed_names():
    assert str(fnn.CAddTable()) == "nn.CAddTable"
    assert str(fnn.SelectTable(-1)) == "nn.SelectTable(-1)"
    assert str(fnn.JoinTable(1, 2)) == "nn.JoinTable(1, 2)"
    assert str(fnn.SplitTable(0)) == "nn.SplitTable(0)"
    assert str(fnn.NarrowTable(0, 2)) == "nn.NarrowTable(0, 2)"


def test_concat_table_then_cadd_table_adds_branches():
    model = fnn.Sequential(fnn.ConcatTable(fnn.Linear(3, 3), fnn.Tanh()), fnn.CAddTable())
    out, params = model.init(jax.random.key(0), (-1, 3), jnp.float64)
    assert out == (-1, 3)
    x = rand(4, 3)
    lin = params[0][0]
    np.testing.assert_allclose(jax.jit(model.apply)(params, x), x @ lin["weight"].T + lin["bias"][None] + jnp.tanh(x))


def test_split_map_join_pipeline_under_jit_and_vmap():
    model = fnn.Sequential(fnn.SplitTable(0, 2), fnn.MapTable(fnn.Linear(2, 3)), fnn.JoinTable(0, 1))
    out, params = model.init(jax.random.key(0), (-1, 4, 2), jnp.float64)
    assert out == (-1, 12)
    x = rand(5, 4, 2)
    y = jax.jit(model.apply)(params, x)
    np.testing.assert_allclose(jax.vmap(lambda e: model.apply(params, e))(x), y)
    w = params[1][0]["weight"]
    np.testing.assert_allclose(y[:, 3:6], x[:, 1] @ w.T + params[1][0]["bias"][None])


@pytest.mark.skipif(not hasattr(fnn, "LookupTable"), reason="fnn.LookupTable is not written yet")
def test_tutorial_sparse_and_dense_linear():
    # CS287 tutorial: W_o x_o + W_d x_d + b with a LookupTable for the one-hot part.
    model = fnn.Sequential(fnn.ParallelTable(fnn.LookupTable(5, 2), fnn.Linear(3, 2)), fnn.CAddTable())
    out, params = model.init(jax.random.key(0), ((1,), (1, 3)), (jnp.int32, jnp.float32))
    assert out == (1, 2)
    x_o, x_d = jnp.array([1], jnp.int32), jnp.ones((1, 3), jnp.float32)
    y = model.apply(params, (x_o, x_d))
    lt, lin = params[0]
    np.testing.assert_allclose(y, lt["weight"][1][None] + x_d @ lin["weight"].T + lin["bias"][None], rtol=1e-6)


# --------------------------------------------------------------------------- PyTorch parity (float64)

def _t_reduce(op):
    def f(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = op(out, x)
        return out

    return f


# name, fnn module, torch function of the entries, entry shapes, input maker (or None).
PARITY = [
    ("JoinTable-last", lambda: fnn.JoinTable(-1), lambda t, *x: t.cat(x, -1), [(2, 3), (2, 2)]),
    ("JoinTable-n-input-dims", lambda: fnn.JoinTable(0, 1), lambda t, *x: t.cat(x, 1), [(2, 3), (2, 1), (2, 2)]),
    ("JoinTable-dim0", lambda: fnn.JoinTable(0), lambda t, *x: t.cat(x, 0), [(2, 3), (1, 3)]),
    ("SplitTable", lambda: fnn.SplitTable(1), lambda t, x: t.unbind(x, 1), [(2, 3, 2)]),
    ("SplitTable-n-input-dims", lambda: fnn.SplitTable(0, 1), lambda t, x: t.unbind(x, 1), [(2, 3)]),
    ("CAddTable", fnn.CAddTable, lambda t, *x: _t_reduce(t.add)(*x), [(2, 3)] * 3),
    ("CSubTable", fnn.CSubTable, lambda t, a, b: t.sub(a, b), [(2, 3)] * 2),
    ("CMulTable", fnn.CMulTable, lambda t, *x: _t_reduce(t.mul)(*x), [(2, 3)] * 3),
    ("CDivTable", fnn.CDivTable, lambda t, a, b: t.div(a, b), [(2, 3)] * 2),
    ("CMaxTable", fnn.CMaxTable, lambda t, *x: _t_reduce(t.maximum)(*x), [(2, 3)] * 3),
    ("CMinTable", fnn.CMinTable, lambda t, *x: _t_reduce(t.minimum)(*x), [(2, 3)] * 3),
    ("PairwiseDistance", fnn.PairwiseDistance,
     lambda t, a, b: t.nn.functional.pairwise_distance(a, b, eps=0.0), [(4, 3)] * 2),
    ("PairwiseDistance-p1", lambda: fnn.PairwiseDistance(1),
     lambda t, a, b: t.nn.functional.pairwise_distance(a, b, p=1.0, eps=0.0), [(4, 3)] * 2),
    ("PairwiseDistance-p3-1d", lambda: fnn.PairwiseDistance(3),
     lambda t, a, b: t.nn.functional.pairwise_distance(a, b, p=3.0, eps=0.0), [(5,)] * 2),
    ("PairwiseDistance-inf", lambda: fnn.PairwiseDistance(math.inf),
     lambda t, a, b: t.nn.functional.pairwise_distance(a, b, p=math.inf, eps=0.0), [(4, 3)] * 2),
    ("DotProduct", fnn.DotProduct, lambda t, a, b: (a * b).sum(-1), [(4, 3)] * 2),
    ("CosineDistance", fnn.CosineDistance,
     lambda t, a, b: t.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-30), [(4, 3)] * 2),
    ("CosineDistance-1d", fnn.CosineDistance,
     lambda t, a, b: t.nn.functional.cosine_similarity(a, b, dim=0, eps=1e-30), [(5,)] * 2),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,make,torch_fn,shapes", PARITY, ids=[p[0] for p in PARITY])
def test_pytorch_parity(torch, name, make, torch_fn, shapes):
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-2, 2, s) for s in shapes]
    if name == "CDivTable":
        xs[1] = np.sign(xs[1]) * (np.abs(xs[1]) + 0.5)
    module = make()
    entries = tuple(jnp.asarray(x) for x in xs)
    inputs = entries if len(shapes) > 1 or not name.startswith("SplitTable") else entries[0]
    y, vjp = jax.vjp(lambda x: module.apply((), x), inputs)
    gs = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape)), y)
    (gx,) = vjp(gs)
    xts = [torch.tensor(x, requires_grad=True) for x in xs]
    yt = torch_fn(torch, *xts)
    yts = list(yt) if isinstance(yt, tuple) else [yt]
    torch.autograd.backward(yts, [torch.tensor(np.asarray(g)) for g in jax.tree.leaves(gs)])
    for a, b in zip(jax.tree.leaves(y), yts, strict=True):
        np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(jax.tree.leaves(gx), xts, strict=True):
        np.testing.assert_allclose(np.asarray(a), b.grad.numpy(), rtol=1e-12, atol=1e-12)
