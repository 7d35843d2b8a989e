"""Graphs (nngraph's gModule): the issue's example, nngraph's README examples and ports of
nngraph's test suite (test/test_nngraph.lua), in float64.

torch7's ``checkGradients(module, input)`` is :func:`fnn.testing.check_gradients` (inputs and
params against central differences; run where the graph's wiring shapes the gradient: forks,
nested tables, splits); ``module:backward`` is :func:`fnn.backward`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.testing import check_gradients

F64 = jnp.float64


def rand(*shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape))


def dense(p, x):
    return x @ p["weight"].T + jnp.reshape(p["bias"], (1,) * (x.ndim - 1) + (-1,))


def init(g, shape, dtype=F64, seed=0):
    """``(out_shape, params)`` from the stateful init run eagerly (compiling the jitted plain
    ``init`` costs more than these tiny graphs' tests; ``g.init`` itself is tested once)."""
    out_shape, _, params, _ = g.init_fn(jax.random.key(seed), fnn.core.normalize_shape(shape), dtype)
    return out_shape, params


# --------------------------------------------------------------------------- the issue's example


def test_the_issue_example():
    x1, x2 = fnn.Input(), fnn.Input()
    h1 = fnn.Linear(20, 10)(x1)
    h2 = fnn.Linear(10, 10)(x2)
    s = fnn.CAddTable()(h1, h2)
    r = fnn.Reshape(2, 5)(s)
    a, b = fnn.SplitTable(1)(r).split(2)
    g = fnn.gModule([x1, x2], [fnn.Tanh()(a), fnn.Sigmoid()(b)])
    init_fn, apply = g
    out_shape, params = init_fn(jax.random.key(0), ((-1, 20), (-1, 10)), F64)
    assert out_shape == ((-1, 5), (-1, 5))
    # One slot per distinct module, in node creation order: Identity, Identity, Linear, Linear, ...
    assert len(params) == 9 and params[0] == () and params[1] == ()
    assert params[2]["weight"].shape == (10, 20) and params[3]["weight"].shape == (10, 10)
    assert g.children[2] is h1.module and g[3] is h2.module
    u, v = rand(3, 20), rand(3, 10, seed=1)
    ya, yb = apply(params, (u, v))
    s_ref = dense(params[2], u) + dense(params[3], v)
    np.testing.assert_allclose(ya, jnp.tanh(s_ref[:, :5]), rtol=1e-12)
    np.testing.assert_allclose(yb, jax.nn.sigmoid(s_ref[:, 5:]), rtol=1e-12)
    assert g.stateful.init(jax.random.key(0), ((-1, 20), (-1, 10)))[2] == ((),) * 9
    assert fnn.Input().module.name == fnn.Identity().name and fnn.Input().parents == ()


def test_a_list_of_nodes_is_a_table_in_argument_order():
    x = fnn.Input()
    a, b = fnn.MulConstant(2.0)(x), fnn.MulConstant(3.0)(x)
    g1 = fnn.gModule([x], [fnn.CSubTable()([a, b])])  # nngraph's module({a, b}) form
    y = fnn.Input()
    g2 = fnn.gModule([y], [fnn.CSubTable()(fnn.MulConstant(3.0)(y), fnn.MulConstant(2.0)(y))])
    v = rand(4)
    np.testing.assert_allclose(g1.apply(init(g1, (4,))[1], v), -v)
    np.testing.assert_allclose(g2.apply(init(g2, (4,))[1], v), v)


# --------------------------------------------------------------------------- nngraph's README


def test_readme_two_hidden_layers_mlp():
    h1 = fnn.Linear(20, 10)()  # a module called with no node is a graph input
    h2 = fnn.Linear(10, 1)(fnn.Tanh()(fnn.Linear(10, 10)(fnn.Tanh()(h1))))
    mlp = fnn.gModule([h1], [h2])
    out_shape, params = init(mlp, (20,))
    assert out_shape == (1,)
    x, dx = rand(20), rand(1, seed=1)
    seq = fnn.Sequential(h1.module, fnn.Tanh(), fnn.Linear(10, 10), fnn.Tanh(), h2.module)
    np.testing.assert_allclose(mlp.apply(params, x), seq.apply(params, x), rtol=1e-12)
    grad_x, grad_p = fnn.backward(mlp, params, x, dx)
    assert grad_x.shape == (20,) and grad_p[0]["weight"].shape == (10, 20)


def test_readme_two_inputs_two_outputs():
    h1 = fnn.Linear(20, 20)()
    h2 = fnn.Linear(10, 10)()
    hh1 = fnn.Linear(20, 1)(fnn.Tanh()(h1))
    hh2 = fnn.Linear(10, 1)(fnn.Tanh()(h2))
    madd = fnn.CAddTable()(hh1, hh2)
    o_a, o_b = fnn.Sigmoid()(madd), fnn.Tanh()(madd)
    gmod = fnn.gModule([h1, h2], [o_a, o_b])
    out_shape, params = init(gmod, ((20,), (10,)))
    assert out_shape == ((1,), (1,))
    x = (rand(20), rand(10, seed=1))
    ya, yb = gmod.apply(params, x)
    np.testing.assert_allclose(jnp.arctanh(yb), jnp.log(ya / (1 - ya)), rtol=1e-10)  # the same madd
    grad_x, _ = fnn.backward(gmod, params, x, (rand(1, seed=2), rand(1, seed=3)))
    assert grad_x[0].shape == (20,) and grad_x[1].shape == (10,)
    check_gradients(gmod, params, x)


def test_readme_a_network_with_containers():
    m = fnn.Sequential(fnn.SplitTable(0), fnn.ParallelTable(fnn.Linear(10, 20), fnn.Linear(10, 30)))
    inp = fnn.Identity()()
    input1, input2 = m(inp).split(2)
    m3 = fnn.JoinTable(0)(input1, input2)
    g = fnn.gModule([inp], [m3])
    out_shape, params = init(g, (2, 10))
    assert out_shape == (50,)
    x = rand(2, 10)
    y1, y2 = m.apply(params[1], x)
    np.testing.assert_allclose(g.apply(params, x), jnp.concatenate([y1, y2]), rtol=1e-12)


def _more_fun(sizes=(10, 20, 30, 60, 80, 160)):
    a, b, c, d, e, f = sizes
    inp = fnn.Identity()()
    l1 = fnn.Tanh()(fnn.Linear(a, b)(inp))
    l2 = fnn.Tanh()(fnn.Linear(c, d)(fnn.JoinTable(0)(inp, l1)))
    l3 = fnn.Tanh()(fnn.Linear(e, f)(fnn.JoinTable(0)(l1, l2)))
    return inp, l1, l2, l3


def test_readme_more_fun_with_graphs():
    inp, l1, l2, l3 = _more_fun()
    g = fnn.gModule([inp], [l3])
    out_shape, params = init(g, (10,))
    assert out_shape == (160,)
    x = rand(10)
    w = [params[k] for k in (1, 4, 7)]  # the three Linears' slots
    h1 = jnp.tanh(w[0]["weight"] @ x + w[0]["bias"])
    h2 = jnp.tanh(w[1]["weight"] @ jnp.concatenate([x, h1]) + w[1]["bias"])
    h3 = jnp.tanh(w[2]["weight"] @ jnp.concatenate([h1, h2]) + w[2]["bias"])
    np.testing.assert_allclose(g.apply(params, x), h3, rtol=1e-12)
    inp, *_, l3 = _more_fun((1, 2, 3, 6, 8, 16))  # test_example4's sizes
    g = fnn.gModule([inp], [l3])
    check_gradients(g, init(g, (1,))[1], rand(1))


def test_readme_data_flow_spelling():
    # nngraph's "-" operators: -module is module(), node - module is module(node), {a, b} - module.
    h1 = -fnn.Linear(20, 20)
    h2 = -fnn.Linear(10, 10)
    hh1 = h1 - fnn.Tanh() - fnn.Linear(20, 1)
    hh2 = h2 - fnn.Tanh() - fnn.Linear(10, 1)
    madd = [hh1, hh2] - fnn.CAddTable()
    gmod = fnn.gModule([h1, h2], [madd - fnn.Sigmoid(), madd - fnn.Tanh()])
    assert [n.module.name for n in gmod.graph.nodes] == [
        "nn.Linear(20 -> 20)", "nn.Linear(10 -> 10)", "nn.Tanh", "nn.Linear(20 -> 1)", "nn.Tanh",
        "nn.Linear(10 -> 1)", "nn.CAddTable", "nn.Sigmoid", "nn.Tanh"]
    assert madd.parents == (hh1, hh2) and h1.parents == ()
    inp = -fnn.Identity()
    l1 = inp - fnn.Linear(10, 20) - fnn.Tanh()
    l2 = [inp, l1] - fnn.JoinTable(0) - fnn.Linear(30, 60) - fnn.Tanh()
    l3 = [l1, l2] - fnn.JoinTable(0) - fnn.Linear(80, 160) - fnn.Tanh()
    g = fnn.gModule([inp], [l3])
    ref_inp, *_, ref_l3 = _more_fun()
    ref = fnn.gModule([ref_inp], [ref_l3])
    params = init(g, (10,))[1]
    x = rand(10)
    np.testing.assert_allclose(g.apply(params, x), ref.apply(params, x), rtol=1e-12)


def test_readme_annotations_reach_the_dot_text():
    # test_annotateGraph
    inp = fnn.Identity()().annotate(name="Input", description="DescA", graphAttributes={"color": "red"})
    hidden_a = fnn.Linear(10, 10)(inp).annotate(
        name="Hidden A", description="DescB",
        graph_attributes={"color": "blue", "fontcolor": "green", "tooltip": "I am green"})
    hidden_b = fnn.Sigmoid()(hidden_a)
    net = fnn.gModule([inp], [fnn.Linear(10, 10)(hidden_b)])
    dot = net.to_dot()
    assert dot.startswith('digraph "nn.gModule" {') and dot.rstrip().endswith("}")
    lines = dot.splitlines()
    line_a = next(s for s in lines if "DescA" in s)
    assert 'color="red"' in line_a and 'label="Input (1)' in line_a
    line_b = next(s for s in lines if "DescB" in s)
    assert 'fontcolor="green"' in line_b and 'color="blue"' in line_b and 'tooltip="I am green"' in line_b
    assert 'label="Hidden A (2)\\nnn.Linear(10 -> 10)\\nparams[1]\\nDescB"' in line_b
    assert "n1 -> n2;" in lines[-7:] or "  n1 -> n2;" in lines
    # Unannotated nodes carry file:line as their tooltip (nngraph's debug label).
    line_c = next(s for s in lines if s.lstrip().startswith("n3 "))
    assert "test_graph.py:" in line_c


def test_readme_debugging_names_the_bad_node_and_highlights_it():
    input_x = fnn.Identity()()
    linear = fnn.Linear(10, 10)(input_x).annotate(name="linear_module")
    net = fnn.gModule([input_x], [linear])
    with pytest.raises(fnn.ShapeError) as info:
        net.init(jax.random.key(0), (11,))
    text = str(info.value)
    assert '"linear_module"' in text and "nn.Linear(10 -> 10)" in text and "params[1]" in text
    assert "test_graph.py:" in text and text.startswith("at [1]:")
    dot = net.to_dot(highlight=linear, title="my_bad_linear_net")
    assert dot.startswith('digraph "my_bad_linear_net"')
    bad = next(s for s in dot.splitlines() if "linear_module" in s)
    assert 'fillcolor="red"' in bad and 'style="filled"' in bad
    assert 'fillcolor' not in next(s for s in dot.splitlines() if s.lstrip().startswith("n1 "))


# --------------------------------------------------------------------------- test_nngraph.lua


def test_one_output():
    in1 = fnn.Identity()()
    module = fnn.gModule([in1], [fnn.Identity()(in1)])
    params = init(module, (1,))[1]
    for v, gv in ((1.0, -123.0), (2.0, -2.0)):
        assert module.apply(params, jnp.array([v])) == v
        grad_x, _ = fnn.backward(module, params, jnp.array([v]), jnp.array([gv]))
        assert grad_x == gv


def test_two_outputs_a_fork_sums_its_gradients():
    in1 = fnn.Identity()()
    module = fnn.gModule([in1], [fnn.Identity()(in1), fnn.Identity()(in1)])
    params = init(module, (1,))[1]
    grad_x, _ = fnn.backward(module, params, jnp.array([1.0]), (jnp.array([-2.0]), jnp.array([-3.0])))
    assert grad_x == -5.0
    check_gradients(module, params, jnp.array([1.0]))


def test_two_grad_outputs():
    in1 = fnn.Sigmoid()()
    out1, out2 = fnn.SplitTable(0)([in1]).split(2)  # a one-node list is that node
    module = fnn.gModule([in1], [out1, out2])
    params = init(module, (2, 3))[1]
    x = rand(2, 3)
    y = module.apply(params, x)
    assert len(y) == 2 and y[0].shape == (3,)
    np.testing.assert_allclose(y[1], jax.nn.sigmoid(x[1]))


def test_two_inputs_with_a_nested_table_split():
    in1, in2 = fnn.Identity()(), fnn.Identity()()
    prev_h, prev_cell = in2.split(2)
    module = fnn.gModule([in1, in2], [fnn.CMulTable()(in1, prev_h, prev_cell)])
    params = init(module, ((3,), ((3,), (3,))))[1]
    x = (rand(3), (rand(3, seed=1), rand(3, seed=2)))
    np.testing.assert_allclose(module.apply(params, x), x[0] * x[1][0] * x[1][1], rtol=1e-12)
    grad_x, _ = fnn.backward(module, params, x, rand(3, seed=3))
    assert len(grad_x) == 2 and isinstance(grad_x[1], tuple) and grad_x[1][0].shape == (3,)
    check_gradients(module, params, x)


@pytest.mark.parametrize("make", [fnn.Sigmoid, fnn.Identity], ids=["twoInputs2", "identity"])
def test_inputs_are_outputs_too(make):
    in1, in2 = make()(), make()()
    module = fnn.gModule([in1, in2], [in1, in2, make()(in1)])
    params = init(module, ((3,), (3,)))[1]
    x = (rand(3), rand(3, seed=1))
    y = module.apply(params, x)
    assert len(y) == 3
    f = jax.nn.sigmoid if make is fnn.Sigmoid else (lambda v: v)
    np.testing.assert_allclose(y[2], f(f(x[0])), rtol=1e-12)


def test_grad_input_type():
    x = fnn.Identity()()
    prev_rnn_state = fnn.Identity()()
    prev_h, prev_cell = prev_rnn_state.split(2)
    cell_out = fnn.CAddTable()(fnn.CMulTable()(x, prev_h), fnn.CMulTable()(prev_h, prev_cell))
    module = fnn.gModule([x, prev_rnn_state], [cell_out])
    inp = (rand(3), (rand(3, seed=1), rand(3, seed=2)))
    params = init(module, ((3,), ((3,), (3,))))[1]
    (grad_x, (grad_h, grad_c)), _ = fnn.backward(module, params, inp, rand(3, seed=3))
    assert grad_h.shape == (3,) and grad_h.dtype == F64
    check_gradients(module, params, inp)


def test_tabular_input():
    in1 = fnn.SplitTable(0)()
    module = fnn.gModule([in1], [fnn.CAddTable()(in1)])
    x = rand(2, 3)
    params = init(module, (2, 3))[1]
    np.testing.assert_allclose(module.apply(params, x), x[0] + x[1])


def test_extra_table():
    in1 = fnn.Identity()()
    module = fnn.gModule([in1], [fnn.Identity()(in1)])
    x = jnp.array([123.0])
    with pytest.raises(fnn.ShapeError, match="params"):
        module.apply((), x)
    np.testing.assert_array_equal(module.apply(((), ()), x), x)
    (y,) = module.apply(((), ()), (x,))  # one input: a table goes through as a table
    np.testing.assert_array_equal(y, x)


def test_acc_grad_parameters():
    x = rand(10)
    in1 = fnn.CMul(10)()
    module = fnn.gModule([in1], [fnn.Identity()(in1), fnn.Identity()(in1)])
    params = init(module, (10,))[1]
    _, grad_p = fnn.backward(module, params, x, (jnp.ones(10), 2 * jnp.ones(10)))
    np.testing.assert_allclose(grad_p[0]["weight"], 3 * x)
    check_gradients(module, params, x)


def test_nested_grad_input():
    x = fnn.Identity()()
    h1 = fnn.Sequential(fnn.JoinTable(1), fnn.Tanh())
    h2 = fnn.Sequential(fnn.JoinTable(1), fnn.Identity())
    model = fnn.gModule([x], [fnn.CAddTable()(h1(x), h2(x))])
    for n in (3, 2):
        inp = tuple(rand(n, 3, seed=s) for s in range(3))
        params = init(model, ((n, 3),) * 3)[1]
        joined = jnp.concatenate(inp, axis=1)
        np.testing.assert_allclose(model.apply(params, inp), jnp.tanh(joined) + joined, rtol=1e-12)
        if n == 3:
            check_gradients(model, params, inp)


def test_usage_after_split():
    prev_state = fnn.Identity()()
    h, cell = prev_state.split(2)
    next_state = fnn.Identity()(prev_state)
    transformed = fnn.Sigmoid()(cell)
    model = fnn.gModule([prev_state], [h, next_state, transformed])
    inp = (rand(10), rand(10, seed=1))
    params = init(model, ((10,), (10,)))[1]
    y_h, y_next, y_t = model.apply(params, inp)
    np.testing.assert_array_equal(y_h, inp[0])
    assert isinstance(y_next, tuple) and len(y_next) == 2
    check_gradients(model, params, inp)


def test_resize_nested_as():
    in1 = fnn.Identity()()
    net = fnn.gModule([in1], [fnn.Identity()(in1), fnn.Identity()(in1)])
    for sizes in ((3, 4), (3, 4, 5), (3, 4)):
        inp = (rand(10), tuple(rand(n) for n in sizes))
        params = init(net, jax.tree.map(jnp.shape, inp, is_leaf=lambda v: hasattr(v, "shape")))[1]
        out = net.apply(params, inp)
        grad_x, _ = fnn.backward(net, params, inp, out)
        assert len(grad_x[1]) == len(sizes)
        np.testing.assert_allclose(grad_x[1][0], 2 * inp[1][0])


@pytest.mark.parametrize("n_splits, width", [(2, 3), (3, 2)], ids=["splitMore", "splitLess"])
def test_split_more_or_less_than_the_table(n_splits, width):
    in1 = fnn.Identity()()
    outs = fnn.SplitTable(1)(in1).split(n_splits)
    model = fnn.gModule([in1], list(outs))
    with pytest.raises(fnn.ShapeError, match=rf"split\({n_splits}\) .* table of {width} entries"):
        model.init(jax.random.key(0), (10, width))
    good = init(model, (10, n_splits))[1]
    with pytest.raises(fnn.ShapeError, match=rf"split\({n_splits}\)"):
        model.apply(good, rand(10, width))


def test_node_index_selects_one_entry():
    x = fnn.Input()
    t = fnn.SplitTable(0)(x)
    g = fnn.gModule([x], [t[-1], fnn.Tanh()(t[0])])
    v = rand(3, 2)
    last, first = g.apply(init(g, (3, 2))[1], v)
    np.testing.assert_array_equal(last, v[2])
    np.testing.assert_allclose(first, jnp.tanh(v[0]))
    y = fnn.Input()
    g = fnn.gModule([y], [fnn.SplitTable(0)(y)[5]])
    with pytest.raises(fnn.ShapeError, match="entry 5 is out of range for a table of 3"):
        g.init(jax.random.key(0), (3, 2))
