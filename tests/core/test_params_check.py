"""Params and state are checked at apply (issue 14, part 1): fnn/core/_params_check.py.

Every wrong params tree (another model's, a missing or extra entry, a wrong shape or dtype
kind) raises a ParamsError (a ShapeError) naming the layer path and expected vs actual, at
trace time, eagerly and under jit; mixed precision stays accepted; the check is cached.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn.core import _params_check
from tests.conformance.cases import all_cases

KEY = jax.random.key(0)


def mlp():
    return fnn.Sequential(fnn.Linear(5, 3), fnn.ReLU(), fnn.Linear(3, 2))


def test_linear_given_another_linears_params_names_the_layer_and_the_shapes():
    _, p10 = fnn.Linear(784, 10).init(KEY, (-1, 784))
    with pytest.raises(fnn.ParamsError, match=r"nn.Linear\(784 -> 20\): .*params\['weight'\] should be "
                                               r"float32\[20, 784\], got float32\[10, 784\]"):
        fnn.Linear(784, 20).apply(p10, jnp.ones((2, 784), jnp.float32))
    assert issubclass(fnn.ParamsError, fnn.ShapeError)


def test_missing_key_is_a_params_error_not_a_key_error():
    m = mlp()
    _, p = m.init(KEY, (-1, 5))
    bad = (p[0], p[1], {"weight": p[2]["weight"]})
    with pytest.raises(fnn.ParamsError, match=r"^at \[2\]: nn.Linear\(3 -> 2\): params\['bias'\] is missing") as e:
        m.apply(bad, jnp.ones((4, 5), jnp.float32))
    assert e.value.path == (2,)


def test_extra_trailing_params_are_not_ignored():
    m = mlp()
    _, p = m.init(KEY, (-1, 5))
    with pytest.raises(fnn.ParamsError, match=r"nn.Sequential: params\[3\]\['weight'\] is unexpected"):
        m.apply(p + ({"weight": jnp.ones(3)},), jnp.ones((4, 5), jnp.float32))
    with pytest.raises(fnn.ParamsError, match=r"^at \[0\]: nn.Linear\(5 -> 3\): params\['extra'\] is unexpected"):
        m.apply(({**p[0], "extra": jnp.ones(1)},) + p[1:], jnp.ones((4, 5), jnp.float32))


def test_another_models_params_name_the_first_layer_that_differs():
    m = mlp()
    _, other = fnn.Sequential(fnn.Linear(5, 4), fnn.ReLU(), fnn.Linear(4, 2)).init(KEY, (-1, 5))
    with pytest.raises(fnn.ParamsError, match=r"^at \[0\]: nn.Linear\(5 -> 3\): params\['bias'\] should be "
                                               r"float32\[3\], got float32\[4\].*more mismatches elsewhere"):
        m.apply(other, jnp.ones((4, 5), jnp.float32))


def test_checked_under_jit_at_trace_time_and_free_afterwards():
    m = mlp()
    _, p = m.init(KEY, (-1, 5))
    f = jax.jit(m.apply)
    np.testing.assert_array_equal(f(p, jnp.ones((4, 5), jnp.float32)), m.apply(p, jnp.ones((4, 5), jnp.float32)))
    with pytest.raises(fnn.ParamsError, match=r"at \[2\]"):
        f((p[0], p[1], {"weight": p[2]["weight"].T, "bias": p[2]["bias"]}), jnp.ones((4, 5), jnp.float32))
    # the compiled program is the model's alone: no trace of the check in the HLO
    hlo = jax.jit(m.apply).lower(p, jnp.ones((4, 5), jnp.float32)).as_text()
    assert hlo.count("dot_general") == 2 and "custom_call" not in hlo


def test_expected_tree_is_computed_once_per_model_and_input(monkeypatch):
    calls = []
    real = _params_check._expected
    monkeypatch.setattr(_params_check, "_expected", lambda *a: calls.append(1) or real(*a))
    m = mlp()
    _, p = m.init(KEY, (-1, 5))
    for _ in range(3):
        m.apply(p, jnp.ones((4, 5), jnp.float32))
    m.apply(p, jnp.ones((7, 5), jnp.float32))
    assert len(calls) == 2  # (4, 5) once, (7, 5) once


def test_an_init_for_any_batch_answers_the_check_without_a_new_trace():
    m = mlp()
    assert _params_check._from_init(m, (4, 5), jnp.dtype(jnp.float32)) is None  # no init yet
    _, p = m.init(KEY, (-1, 5))
    params, state = _params_check._from_init(m, (4, 5), jnp.dtype(jnp.float32))
    assert jax.tree.map(lambda a: a.shape, params) == jax.tree.map(jnp.shape, tuple(p)) and state == ((), (), ())
    assert _params_check._from_init(m, (4, 6), jnp.dtype(jnp.float32)) is None  # another feature size
    assert _params_check._from_init(m, (2, 4, 5), jnp.dtype(jnp.float32)) is None  # another rank
    lin = fnn.Linear(5, 3)
    lin.init(KEY, (-1, 5), jnp.float16)  # an init for another input dtype answers for that dtype only
    assert _params_check._from_init(lin, (4, 5), jnp.dtype(jnp.float32)) is None
    assert _params_check._from_init(lin, (4, 5), jnp.dtype(jnp.float16)) is not None
    with pytest.raises(fnn.ParamsError, match=r"at \[2\]: nn.Linear\(3 -> 2\): params\['bias'\] should be"):
        m.apply((p[0], p[1], {"weight": p[2]["weight"], "bias": jnp.ones(3)}), jnp.ones((4, 5), jnp.float32))


def test_dtype_kind_matters_precision_does_not():
    _, p = fnn.Linear(3, 2).init(KEY, (-1, 3), jnp.float32)
    x = jnp.ones((2, 3), jnp.float32)
    with pytest.raises(fnn.ParamsError, match=r"should be float32\[2, 3\], got int32\[2, 3\]"):
        fnn.Linear(3, 2).apply({"weight": p["weight"].astype(jnp.int32), "bias": p["bias"]}, x)
    # bfloat16 params with float32 input: accepted by the check as before (mixed precision)
    half = jax.tree.map(lambda a: a.astype(jnp.bfloat16), p)
    with jax.numpy_dtype_promotion("standard"):
        y = fnn.Linear(3, 2).apply(half, x)
    assert y.shape == (2, 2)
    # float32 params, float64 input: still the layer's own DTypeError naming the cast
    with pytest.raises(fnn.DTypeError, match="cast one to the other"):
        fnn.Linear(3, 2).apply(p, x.astype(jnp.float64))


def test_lists_for_tuples_and_unbatched_inputs_are_accepted():
    m = mlp()
    _, p = m.init(KEY, (-1, 5))
    np.testing.assert_array_equal(m.apply(list(p), jnp.ones(5, jnp.float32)), m.apply(p, jnp.ones(5, jnp.float32)))


def test_state_is_checked_and_named():
    m = fnn.Sequential(fnn.Linear(4, 3), fnn.BatchNormalization(3))
    init, apply = m.stateful
    _, p, s = init(KEY, (-1, 4))
    bad = (s[0], {"running_mean": s[1]["running_mean"], "running_var": jnp.ones(4)})
    with pytest.raises(fnn.ParamsError, match=r"at \[1\]: nn.BatchNormalization.*state\['running_var'\] should be"):
        apply(p, bad, jnp.ones((2, 4), jnp.float32))


def test_vmap_over_an_ensemble_of_params():
    m = mlp()
    ps = jax.vmap(lambda k: m.init(k, (-1, 5))[1])(jax.random.split(KEY, 3))
    assert jax.vmap(m.apply, in_axes=(0, None))(ps, jnp.ones((4, 5), jnp.float32)).shape == (3, 4, 2)


# --------------------------------------------------------------------------- adversarial: registry models


@functools.cache
def _cases():
    """Registry cases with one concrete array input (initialised lazily: only the drawn ones)."""
    return tuple(c for c in all_cases()
                 if c.x is None and isinstance(c.shape, tuple) and all(isinstance(d, int) for d in c.shape))


@functools.cache
def _model(i):
    """(case, module, input, params, state) of case ``i``, or None if it has no params."""
    case = _cases()[i]
    m = case.make()
    try:
        _, p, s = m.stateful.init(KEY, case.shape, case.dtype)
    except fnn.FnnError:
        return None
    return (case, m, jnp.zeros(case.shape, case.dtype), p, s) if jax.tree.leaves(p) else None


def _draw_model(data, label):
    i = data.draw(st.integers(0, len(_cases()) - 1), label=label)
    return _model(i)


def _signature(tree):
    return sorted((jax.tree_util.keystr(k), np.shape(v), jnp.result_type(v).kind)
                  for k, v in jax.tree_util.tree_flatten_with_path(tree)[0])


def _drop_or_add(p, data, add):
    flat, treedef = jax.tree_util.tree_flatten_with_path(p)
    i = data.draw(st.integers(0, len(flat) - 1))
    path, _ = flat[i]

    def edit(node, keys):
        if not keys:
            return node
        k = keys[0]
        if isinstance(k, jax.tree_util.DictKey):
            node = dict(node)
            if len(keys) == 1:
                if add:
                    node[str(k.key) + "_extra"] = jnp.ones(2)
                else:
                    del node[k.key]
            else:
                node[k.key] = edit(node[k.key], keys[1:])
            return node
        if isinstance(k, jax.tree_util.SequenceKey):
            items = list(node)
            items[k.idx] = edit(items[k.idx], keys[1:]) if len(keys) > 1 else ({} if not add else (items[k.idx], 1.0))
            return tuple(items)
        return node

    return edit(p, path)


def _transposed(p, data):
    flat, treedef = jax.tree.flatten(p)
    two = [i for i, a in enumerate(flat) if np.ndim(a) >= 2 and np.shape(a)[0] != np.shape(a)[-1]]
    if not two:
        return None
    i = data.draw(st.sampled_from(two))
    flat = list(flat)
    flat[i] = jnp.swapaxes(flat[i], 0, -1)
    return jax.tree.unflatten(treedef, flat)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_wrong_but_plausible_params_raise_an_fnn_error_naming_a_layer(data):
    target = _draw_model(data, "model")
    if target is None:
        return  # a layer without params: nothing to get wrong
    case, m, x, p, s = target
    how = data.draw(st.sampled_from(["other", "drop", "add", "transpose"]), label="mutation")
    if how == "other":
        source = _draw_model(data, "params of")
        bad = None if source is None else source[3]
    elif how == "transpose":
        bad = _transposed(p, data)
    else:
        bad = _drop_or_add(p, data, add=how == "add")
    if bad is None or _signature(bad) == _signature(p):
        return  # not wrong after all (the same layout)
    with pytest.raises(fnn.FnnError) as e:
        m.stateful.apply(bad, s, x)
    assert "nn." in str(e.value), (case.test_id, how, str(e.value))
