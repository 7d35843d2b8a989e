"""Graphs: construction errors, errors that name the node, torch-style calls, printing,
DOT, summaries, PyTorch state dicts, deep graphs."""

import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn

F64 = jnp.float64


def rand(*shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape))


def init(g, shape, dtype=F64):
    return g.init_fn(jax.random.key(0), fnn.core.normalize_shape(shape), dtype)


# --------------------------------------------------------------------------- construction (nngraph's tests)


def test_unused_input():
    x, h = fnn.Identity()(), fnn.Identity()()
    fnn.Identity()()
    with pytest.raises(fnn.ConfigError, match=r"inputs\[1\] .* is unused"):
        fnn.gModule([x, h], [x])


def test_unused_child_of_a_split():
    prev_state = fnn.Identity()()
    h, cell = prev_state.split(2)
    with pytest.raises(fnn.ConfigError, match=r"output \[1\] of the split\(2\) .* is unused"):
        fnn.gModule([prev_state], [h])


def test_nil_input():
    with pytest.raises(fnn.ConfigError, match="None"):
        fnn.Sigmoid()(None)
    with pytest.raises(fnn.ConfigError, match=r"inputs\[0\] is None"):
        fnn.gModule([None], [fnn.Input()])


def test_unused_node():
    in1, in2 = fnn.Identity()(), fnn.Identity()()
    fnn.Sigmoid()(in2)  # middleResult: built, never used
    out1 = fnn.Sigmoid()(in1)
    with pytest.raises(fnn.ConfigError, match="unused"):
        fnn.gModule([in1, in2], [out1])


def test_dangling_node():
    x = fnn.Input()
    h = fnn.Tanh()(x)
    dangling = fnn.Sigmoid()(h).annotate(name="forgotten")
    with pytest.raises(fnn.ConfigError, match=r'"forgotten" nn.Sigmoid created at .*test_graph_errors.py:\d+ reads'):
        fnn.gModule([x], [h])
    assert dangling.parents == (h,)


def test_a_node_not_reachable_from_the_inputs():
    x, stray = fnn.Input(), fnn.Input()
    out = fnn.CAddTable()(x, stray)
    with pytest.raises(fnn.ConfigError, match="not reachable from the inputs"):
        fnn.gModule([x], [out])


@pytest.mark.parametrize("args, match", [
    (("inputs", 3.0), "must be a list of graph nodes"),
    (("outputs", [fnn.Linear(2, 2)]), r"outputs\[0\] is a Module"),
    (("inputs", []), "no inputs"),
])
def test_non_node_arguments(args, match):
    what, value = args
    x = fnn.Input()
    kw = {"inputs": [x], "outputs": [x], what: value}
    with pytest.raises(fnn.ConfigError, match=match):
        fnn.gModule(**kw)


def test_inputs_must_be_distinct_input_nodes():
    x = fnn.Input()
    h = fnn.Tanh()(x)
    with pytest.raises(fnn.ConfigError, match="is not an input node"):
        fnn.gModule([h], [h])
    y = fnn.Input()
    with pytest.raises(fnn.ConfigError, match="given twice"):
        fnn.gModule([y, y], [y])


def test_a_cycle():
    x = fnn.Input()
    a = fnn.Tanh()(x)
    b = fnn.Sigmoid()(a)
    a.parents = (x, b)  # nodes are built parents first, so a cycle needs surgery
    with pytest.raises(fnn.ConfigError, match="cycle"):
        fnn.gModule([x], [b])


def test_a_module_called_on_an_array_points_to_apply():
    model = fnn.Sequential(fnn.Linear(3, 2))
    for bad in (jnp.ones((2, 3)), np.ones(3), 1.0):
        with pytest.raises(fnn.ConfigError, match=r"y = model.apply\(params, x\)") as info:
            model(bad)
        assert isinstance(info.value, fnn.UsageError) and isinstance(info.value, TypeError)
    with pytest.raises(fnn.ConfigError, match="called on a str"):
        model("x")


@pytest.mark.parametrize("name, call", [
    ("forward", "model.apply(params, x)"), ("updateOutput", "model.apply(params, x)"),
    ("backward", "fnn.backward(model, params, x, grad_output)"), ("getParameters", "fnn.get_parameters(params)"),
])
def test_torch_methods_show_the_fnn_call(name, call):
    model = fnn.Linear(3, 2)
    with pytest.raises(fnn.UsageError) as info:
        getattr(model, name)(jnp.ones(3))
    assert call in str(info.value) and "init, apply = model" in str(info.value)
    assert isinstance(info.value, AttributeError) and isinstance(info.value, fnn.ConfigError)
    assert not hasattr(model, name)  # hasattr stays False: an AttributeError
    with pytest.raises(AttributeError, match="no attribute 'nonsense'") as plain:
        model.nonsense  # noqa: B018
    assert not isinstance(plain.value, fnn.FnnError)


def test_nodes_are_not_iterable_and_splits_need_a_count():
    x = fnn.Input()
    with pytest.raises(fnn.ConfigError, match=r"node.split\(n\)"):
        a, b = x
    with pytest.raises(fnn.ConfigError, match="n must be >= 1"):
        x.split(0)
    with pytest.raises(fnn.ConfigError, match="must be an int"):
        x["a"]
    with pytest.raises(fnn.ConfigError, match="name must be a str"):
        x.annotate(name=3)


# --------------------------------------------------------------------------- errors name the node


def test_init_and_apply_errors_name_the_node():
    x = fnn.Input()
    h = fnn.Linear(4, 3)(x).annotate(name="hidden")
    g = fnn.gModule([x], [fnn.Tanh()(h)])
    line = h.where
    with pytest.raises(fnn.ShapeError) as info:
        g.init(jax.random.key(0), (-1, 5))
    e = info.value
    assert e.path == (1,)
    text = str(e)
    for part in ("node (2)", "params[1]", '"hidden"', "nn.Linear(4 -> 3)", line, "expects input (..., 4)"):
        assert part in text, part
    assert line.startswith("tests") and "test_graph_errors.py:" in line
    params = init(g, (-1, 4))[2]
    with pytest.raises(fnn.ShapeError, match=r'at \[1\]: nn.gModule node \(2\) \[params\[1\], "hidden"'):
        g.apply(params, jnp.ones((2, 5)))


def test_errors_in_a_nested_graph_carry_both_paths():
    x = fnn.Input()
    inner = fnn.gModule([x], [fnn.Linear(4, 3)(x)])
    y = fnn.Input()
    outer = fnn.gModule([y], [inner(fnn.Tanh()(y))])
    with pytest.raises(fnn.ShapeError) as info:
        outer.init(jax.random.key(0), (-1, 5))
    assert info.value.path == (2, 1)
    assert str(info.value).count("nn.gModule node") == 2


def test_table_arity_errors():
    x1, x2 = fnn.Input(), fnn.Input()
    g = fnn.gModule([x1, x2], [fnn.CAddTable()(x1, x2)])
    with pytest.raises(fnn.ShapeError, match="has 2 inputs and expects a table of 2"):
        init(g, (-1, 3))
    with pytest.raises(fnn.ShapeError, match="has 2 inputs"):
        g.apply(((), (), ()), (jnp.ones(3),) * 3)
    with pytest.raises(fnn.ShapeError, match="one array"):
        fnn.gModule([y := fnn.Input()], [y[0]]).init(jax.random.key(0), (3,))


# --------------------------------------------------------------------------- printing, DOT, summary


def issue_graph():
    x1, x2 = fnn.Input(), fnn.Input()
    h1 = fnn.Linear(20, 10)(x1).annotate(name="h1")
    h2 = fnn.Linear(10, 10)(x2)
    r = fnn.Reshape(2, 5)(fnn.CAddTable()(h1, h2))
    a, b = fnn.SplitTable(1)(r).split(2)
    return fnn.gModule([x1, x2], [fnn.Tanh()(a), fnn.Sigmoid()(b)])


def test_printing_lists_the_nodes_in_torch7_style():
    assert str(issue_graph()) == "\n".join([
        "nn.gModule {",
        "  (1): nn.Identity <- input[0]  params[0]",
        "  (2): nn.Identity <- input[1]  params[1]",
        '  (3): nn.Linear(20 -> 10) <- (1)  params[2]  "h1"',
        "  (4): nn.Linear(10 -> 10) <- (2)  params[3]",
        "  (5): nn.CAddTable <- {(3), (4)}  params[4]",
        "  (6): nn.Reshape(2x5) <- (5)  params[5]",
        "  (7): nn.SplitTable(1) <- (6)  params[6]",
        "  (8): (7)[0] of split(2)",
        "  (9): (7)[1] of split(2)",
        "  (10): nn.Tanh <- (8)  params[7]",
        "  (11): nn.Sigmoid <- (9)  params[8]",
        "  output <- {(10), (11)}",
        "}",
    ])


def test_a_graph_prints_inside_a_container():
    x = fnn.Input()
    g = fnn.gModule([x], [fnn.Sequential(fnn.Linear(2, 2), fnn.Tanh())(x)])
    text = str(fnn.Sequential(g, fnn.Sigmoid()))
    assert "(1): nn.gModule {" in text and "nn.Sequential {" in text.split("(1): nn.gModule {")[1]


def test_dot_text():
    g = issue_graph()
    dot = g.to_dot()
    lines = dot.splitlines()
    assert lines[0] == 'digraph "nn.gModule" {' and lines[-1] == "}"
    assert sum(bool(re.match(r"\s+n\d+ \[label=", s)) for s in lines) == 11
    for edge in ('input -> n1 [label="0"];', 'input -> n2 [label="1"];', 'n3 -> n5 [label="0"];',
                 'n4 -> n5 [label="1"];', "n7 -> n8;", 'n10 -> output [label="0"];', 'n11 -> output [label="1"];'):
        assert "  " + edge in lines, edge
    assert 'label="h1 (3)\\nnn.Linear(20 -> 10)\\nparams[2]"' in dot
    with pytest.raises(fnn.ConfigError, match="highlight must be a node of this graph"):
        g.to_dot(highlight=fnn.Input())


def test_summary_lists_each_slot_once():
    lin = fnn.Linear(3, 3)
    x = fnn.Input()
    g = fnn.gModule([x], [lin(fnn.Tanh()(lin(x)))])
    text = fnn.summary(g, (-1, 3))
    assert "[1]   nn.Linear(3 -> 3)" in text and text.count("nn.Linear") == 1
    assert "total: 12 params" in text


# --------------------------------------------------------------------------- PyTorch state dicts


def test_torch_state_dict_keys_are_slot_dot_name():
    g = issue_graph()
    params = init(g, ((-1, 20), (-1, 10)))[2]
    sd = fnn.to_torch_state_dict(params, model=g)
    assert sorted(sd) == ["2.bias", "2.weight", "3.bias", "3.weight"]
    zeros = jax.tree.map(jnp.zeros_like, params)
    loaded = fnn.load_torch_state_dict(g, zeros, None, sd)
    np.testing.assert_array_equal(loaded.params[2]["weight"], params[2]["weight"])


def test_a_pytorch_sequential_loads_into_the_same_graph(torch):
    # torch.nn.Sequential(Identity, Linear, ReLU, Linear) numbers its children like the graph's slots.
    tm = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    x = fnn.Input()
    g = fnn.gModule([x], [fnn.Linear(3, 2)(fnn.ReLU()(fnn.Linear(4, 3)(x)))])
    params = init(g, (-1, 4))[2]
    loaded = fnn.load_torch_state_dict(g, params, None, tm.state_dict())
    v = np.random.default_rng(0).standard_normal((5, 4))
    ours = g.apply(loaded.params, jnp.asarray(v))
    np.testing.assert_allclose(ours, tm(torch.from_numpy(v)).detach().numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- deep graphs


def test_deep_graphs_do_not_recurse():
    x = fnn.Input()
    h = x
    for _ in range(5000):
        h = fnn.Identity()(h)
    g = fnn.gModule([x], [h])
    assert sys.getrecursionlimit() < 5000
    assert str(g).count("\n") == 5003 and g.to_dot().count("->") == 5002
    assert len(g.children) == 5001
    y = fnn.Input()
    h = y
    for _ in range(1500):
        h = fnn.Identity()(h)
    g = fnn.gModule([y], [h])
    out_shape, params = g.init(jax.random.key(0), (2,), F64)
    assert out_shape == (2,)
    np.testing.assert_array_equal(g.apply(params, jnp.ones(2)), jnp.ones(2))
