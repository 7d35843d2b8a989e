"""Graphs compute what the containers compute: numerical equality with the same params,
shared weights, state, keys and dtypes, and zero overhead in the compiled program."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
from tests.test_zero_overhead import entry_kinds, op_counts

F64 = jnp.float64


def rand(*shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape))


def init(g, shape, dtype=F64, seed=0):
    """The stateful init, run eagerly: ``(out_shape, out_dtype, params, state)``."""
    return g.init_fn(jax.random.key(seed), fnn.core.normalize_shape(shape), dtype)


def assert_trees_close(a, b, rtol=1e-12):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-14)


# --------------------------------------------------------------------------- graphs = containers


def test_a_chain_is_a_sequential():
    mods = [fnn.Linear(4, 5), fnn.Tanh(), fnn.Linear(5, 3), fnn.LogSoftMax()]
    x = fnn.Input()
    h = x
    for m in mods:
        h = m(h)
    g = fnn.gModule([x], [h])
    seq = fnn.Sequential(*mods)
    params = init(g, (-1, 4))[2]
    assert params[0] == ()  # fnn.Input()'s Identity, then the chain's modules
    v = rand(6, 4)
    np.testing.assert_allclose(g.apply(params, v), seq.apply(params[1:], v), rtol=1e-12)
    grad_g = jax.grad(lambda p: jnp.sum(g.apply(p, v) ** 2))(params)
    grad_s = jax.grad(lambda p: jnp.sum(seq.apply(p, v) ** 2))(params[1:])
    assert_trees_close(grad_g[1:], grad_s)


def test_a_fan_out_is_a_concat_table():
    branches = [fnn.Linear(3, 2), fnn.Tanh(), fnn.Sequential(fnn.Linear(3, 3), fnn.Sigmoid())]
    x = fnn.Input()
    g = fnn.gModule([x], [b(x) for b in branches])
    ct = fnn.ConcatTable(*branches)
    out_shape, _, params, _ = init(g, (-1, 3))
    assert out_shape == ((-1, 2), (-1, 3), (-1, 3))
    v = rand(5, 3)
    assert_trees_close(g.apply(params, v), ct.apply(params[1:], v))


def test_a_residual_block_is_sequential_concat_table_cadd_table():
    block = fnn.Sequential(fnn.Linear(4, 4), fnn.Tanh(), fnn.Linear(4, 4))
    x = fnn.Input()
    g = fnn.gModule([x], [fnn.CAddTable()(block(x), x)])
    ref = fnn.Sequential(fnn.ConcatTable(block, fnn.Identity()), fnn.CAddTable())
    params = init(g, (-1, 4))[2]
    ref_params = ((params[1], ()), ())
    v = rand(3, 4)
    np.testing.assert_allclose(g.apply(params, v), ref.apply(ref_params, v), rtol=1e-12)
    gv = jax.grad(lambda u: jnp.sum(jnp.sin(g.apply(params, u))))(v)
    rv = jax.grad(lambda u: jnp.sum(jnp.sin(ref.apply(ref_params, u))))(v)
    np.testing.assert_allclose(gv, rv, rtol=1e-12)


def lstm_graph(n_in, n_hidden):
    """The classic nngraph LSTM cell (char-rnn's), batch-first."""
    x, prev_c, prev_h = fnn.Input(), fnn.Input(), fnn.Input()
    i2h = fnn.Linear(n_in, 4 * n_hidden)(x).annotate(name="i2h")
    h2h = fnn.Linear(n_hidden, 4 * n_hidden)(prev_h).annotate(name="h2h")
    gates = fnn.Reshape(4, n_hidden)(fnn.CAddTable()(i2h, h2h))
    n1, n2, n3, n4 = fnn.SplitTable(-2)(gates).split(4)
    in_gate, forget_gate, out_gate = fnn.Sigmoid()(n1), fnn.Sigmoid()(n2), fnn.Sigmoid()(n3)
    in_transform = fnn.Tanh()(n4)
    next_c = fnn.CAddTable()(fnn.CMulTable()(forget_gate, prev_c), fnn.CMulTable()(in_gate, in_transform))
    next_h = fnn.CMulTable()(out_gate, fnn.Tanh()(next_c))
    return fnn.gModule([x, prev_c, prev_h], [next_c, next_h])


def lstm_reference(wi, bi, wh, bh, x, c, h):
    """A hand-written LSTM cell in jax.numpy, gates in (input, forget, output, cell) order."""
    z = x @ wi.T + bi[None] + h @ wh.T + bh[None]
    i, f, o, g = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return c, jax.nn.sigmoid(o) * jnp.tanh(c)


def test_an_lstm_cell_written_as_a_graph_is_the_lstm_cell():
    g = lstm_graph(3, 5)
    out_shape, _, params, _ = init(g, ((-1, 3), (-1, 5), (-1, 5)))
    assert out_shape == ((-1, 5), (-1, 5))
    i2h, h2h = params[3], params[4]  # three inputs, then i2h and h2h in creation order
    assert i2h["weight"].shape == (20, 3) and h2h["weight"].shape == (20, 5)
    x, c, h = rand(2, 3), rand(2, 5, seed=1), rand(2, 5, seed=2)

    def ours(params, x, c, h):
        return g.apply(params, (x, c, h))

    def ref(params, x, c, h):
        return lstm_reference(params[3]["weight"], params[3]["bias"], params[4]["weight"], params[4]["bias"], x, c, h)

    assert_trees_close(ours(params, x, c, h), ref(params, x, c, h))
    loss = [lambda *a, f=f: jnp.sum(jnp.stack(f(*a)) ** 2) for f in (ours, ref)]
    assert_trees_close(jax.grad(loss[0], argnums=(0, 1, 2, 3))(params, x, c, h),
                       jax.grad(loss[1], argnums=(0, 1, 2, 3))(params, x, c, h), rtol=1e-10)


# --------------------------------------------------------------------------- shared modules


def test_a_shared_module_is_one_slot_and_its_gradient_sums_over_its_uses():
    lin = fnn.Linear(3, 3)
    x = fnn.Input()
    shared = fnn.gModule([x], [lin(fnn.Tanh()(lin(x)))])
    a, b = fnn.Linear(3, 3), fnn.Linear(3, 3)  # equal-looking modules: two slots
    y = fnn.Input()
    split = fnn.gModule([y], [b(fnn.Tanh()(a(y)))])
    p_shared = init(shared, (-1, 3))[2]
    assert len(p_shared) == 3 and len(init(split, (-1, 3))[2]) == 4
    p_split = ((), p_shared[1], (), p_shared[1])
    v = rand(4, 3)
    np.testing.assert_allclose(shared.apply(p_shared, v), split.apply(p_split, v), rtol=1e-12)
    gs = jax.grad(lambda p: jnp.sum(shared.apply(p, v) ** 3))(p_shared)
    gp = jax.grad(lambda p: jnp.sum(split.apply(p, v) ** 3))(p_split)
    assert_trees_close(gs[1], jax.tree.map(jnp.add, gp[1], gp[3]))
    assert shared.children == (x.module, lin, shared.children[2])


def test_a_shared_module_must_fit_every_use():
    lin = fnn.Linear(3, 3)
    x, y = fnn.Input(), fnn.Input()
    g = fnn.gModule([x, y], [lin(x), lin(fnn.Linear(2, 4)(y))])
    with pytest.raises(fnn.ShapeError, match=r"at \[2\]: .* node \(5\)") as info:
        init(g, ((-1, 3), (-1, 2)))
    assert "nn.Linear(3 -> 3)" in str(info.value)


# --------------------------------------------------------------------------- state, keys, train


def test_stateful_children_thread_their_state_and_the_plain_pair_refuses():
    bn = fnn.BatchNormalization(3)
    x = fnn.Input()
    g = fnn.gModule([x], [bn(fnn.Linear(4, 3)(x)), bn(fnn.Linear(4, 3)(x))])
    with pytest.raises(fnn.StatefulModelError, match="model.stateful"):
        g.init(jax.random.key(0), (-1, 4))
    _, _, params, state = init(g, (-1, 4))
    assert state[2]["running_mean"].shape == (3,) and len(state) == 4
    init_s, apply_s = g.stateful
    v = rand(8, 4)
    (y1, y2), new_state = apply_s(params, state, v, train=True)
    # The shared BatchNorm's statistics were updated twice, in node order: as two applications in a row.
    h1, h2 = (fnn.Linear(4, 3).apply(params[k], v) for k in (1, 3))
    _, s1 = bn.stateful.apply(params[2], state[2], h1, train=True)
    _, s2 = bn.stateful.apply(params[2], s1, h2, train=True)
    assert_trees_close(new_state[2], s2)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    y_eval, same = apply_s(params, state, v)
    assert_trees_close(same, state)


def test_train_and_keys_reach_every_node():
    x = fnn.Input()
    d1, d2 = fnn.Dropout(0.5)(x), fnn.Dropout(0.5)(x)
    g = fnn.gModule([x], [d1, d2])
    params = init(g, (-1, 50))[2]
    v = jnp.ones((2, 50))
    with pytest.raises(fnn.MissingRNGError, match=r"at \[1\]"):
        g.apply(params, v, train=True)
    a, b = g.apply(params, v, rng=jax.random.key(3), train=True)
    assert not jnp.array_equal(a, b)  # one key per node
    assert_trees_close(g.apply(params, v), (v, v))
    a2, _ = jax.jit(g.apply, static_argnames="train")(params, v, rng=jax.random.key(3), train=True)
    np.testing.assert_array_equal(a, a2)


# --------------------------------------------------------------------------- dtypes


def test_a_none_dtype_is_resolved_before_a_table_is_packed():
    x1, x2 = fnn.Input(), fnn.Input()
    g = fnn.gModule([x1, x2], [fnn.JoinTable(-1)(x1, x2)])
    out_shape, out_dtype, _, _ = init(g, ((-1, 3), (-1, 2)), None)
    assert out_shape == (-1, 5) and out_dtype == jnp.float32  # not float64 (jnp.dtype(None))
    assert init(g, ((-1, 3), (-1, 2)), F64)[1] == F64
    assert init(g, ((-1, 3), (-1, 2)), (jnp.int32, jnp.int32))[1] == jnp.int32
    with jax.enable_x64(False):
        out_shape, out_dtype, params, _ = init(g, ((-1, 3), (-1, 2)), None)
        assert out_dtype == jnp.float32
        y = g.apply(params, (jnp.ones((2, 3), jnp.float32), jnp.ones((2, 2), jnp.float32)))
        assert y.dtype == jnp.float32 and y.shape == (2, 5)


def test_an_input_leaves_the_default_dtype_to_the_layer_it_feeds():
    x = fnn.Input()
    g = fnn.gModule([x], [fnn.LookupTable(10, 3)(x)])
    out_shape, params = g.init(jax.random.key(0), (-1, 4))  # int32 indices by default, as without a graph
    assert out_shape == (-1, 4, 3)
    assert g.apply(params, jnp.array([[1, 2, 3, 4]], jnp.int32)).shape == (1, 4, 3)


# --------------------------------------------------------------------------- zero overhead


def _mlp_pair():
    mods = [fnn.Linear(32, 16), fnn.ReLU(), fnn.Linear(16, 16), fnn.ReLU(), fnn.Linear(16, 4)]
    x = fnn.Input()
    h = x
    for m in mods:
        h = m(h)
    return fnn.gModule([x], [h]), fnn.Sequential(*mods)


def _compiled_step(model):
    _, params, state = model.stateful.init(jax.random.key(0), (-1, 32), jnp.float32)
    opt = optax.sgd(0.01)
    step = fnn.make_train_step(model, fnn.CrossEntropyCriterion(), opt)
    x, y = jnp.zeros((8, 32), jnp.float32), jnp.zeros((8,), jnp.int32)
    return step.lower(params, state, opt.init(params), x, y, jax.random.key(1)).compile().as_text()


def test_a_graph_mlp_compiles_to_the_sequential_program():
    g, seq = _mlp_pair()
    ours, theirs = _compiled_step(g), _compiled_step(seq)
    assert op_counts(ours) == op_counts(theirs)
    assert entry_kinds(ours) == entry_kinds(theirs)
    assert "rng-bit-generator" not in ours and "threefry" not in ours.lower()
