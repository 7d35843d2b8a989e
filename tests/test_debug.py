"""The non-finite locator: it names the first layer whose output or gradient goes NaN/inf."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.core import elementwise, leaf
from fnn.debug import NonFinite, check_finite, find_nonfinite, nonfinite_checks
from fnn.errors import NonFiniteError

KEY = jax.random.key(0)


def mse(y, t):
    return jnp.mean((y - t) ** 2)


def Sqrt():
    """A custom element-wise layer: finite at 0 forward, infinite slope backward."""
    return elementwise("nn.MySqrt", jnp.sqrt)


def ScaleBySqrt(n):
    """A custom leaf ``y = x * sqrt(w)``: with w = 0 its params gradient is infinite."""
    return leaf(f"nn.ScaleBySqrt({n})", lambda p, x, *, rng, train: x * jnp.sqrt(p["w"]), kind="ScaleBySqrt",
                params=lambda rng, shape, dtype: {"w": jnp.zeros((n,), dtype)})


def negative_linear(n_in, n_out):
    """A Linear whose output is negative for positive inputs."""
    return fnn.Linear(n_in, n_out, weight_init=lambda k, s, d: -jnp.ones(s, d),
                      bias_init=lambda k, s, d: jnp.zeros(s, d))


# --------------------------------------------------------------------------- forward


def test_log_of_negatives_is_named_by_path_and_layer():
    model = fnn.Sequential(negative_linear(3, 4), fnn.Tanh(), fnn.Log(), fnn.Linear(4, 2))
    _, params = model.init(KEY, (-1, 3), jnp.float64)
    x = jnp.ones((5, 3))
    found = find_nonfinite(model, params, x)
    assert found == NonFinite(path=(2,), layer="nn.Log", where="forward output", count=20, size=20,
                              kinds="nan 20", context="its input was finite")
    with pytest.raises(NonFiniteError) as e:
        check_finite(model, params, x)
    assert e.value.path == (2,) and e.value.finding == found
    assert str(e.value) == "at [2]: nn.Log produced a non-finite forward output: 20 of 20 values (nan 20); " \
                           "its input was finite"


def test_nested_path_and_infinities():
    # log(0) = -inf: the first non-finite output is at [1][1]; [2] (Linear) then also goes non-finite.
    model = fnn.Sequential(fnn.Linear(2, 3), fnn.Sequential(fnn.ReLU(), fnn.Log()), fnn.Linear(3, 1))
    _, params = model.init(KEY, (2,), jnp.float64)
    params = (jax.tree.map(jnp.zeros_like, params[0]),) + params[1:]
    found = find_nonfinite(model, params, jnp.ones(2))
    assert (found.path, found.layer, found.where, found.kinds) == ((1, 1), "nn.Log", "forward output", "-inf 3")


def test_non_finite_input_and_params():
    model = fnn.Sequential(fnn.Linear(2, 2), fnn.Tanh())
    _, params = model.init(KEY, (2,), jnp.float64)
    found = find_nonfinite(model, params, jnp.array([1.0, jnp.inf]))
    assert (found.path, found.layer, found.where, found.kinds) == ((), "input", "input", "+inf 1")
    assert str(found) == "input has a non-finite input: 1 of 2 values (+inf 1)"
    bad = ({"weight": params[0]["weight"].at[0, 0].set(jnp.nan), "bias": params[0]["bias"]}, ())
    found = find_nonfinite(model, bad, jnp.ones(2))
    assert (found.path, found.layer) == ((0,), "nn.Linear(2 -> 2)")
    assert found.context == "its input was finite and its params hold non-finite values"


def test_all_finite_returns_none():
    model = fnn.Sequential(fnn.Linear(3, 4), fnn.Tanh(), fnn.Linear(4, 2))
    _, params = model.init(KEY, (-1, 3), jnp.float64)
    x = jax.random.normal(KEY, (4, 3))
    assert find_nonfinite(model, params, x) is None
    assert find_nonfinite(model, params, x, target=jnp.zeros((4, 2)), criterion=mse) is None
    check_finite(model, params, x, target=jnp.zeros((4, 2)), criterion=mse)


# --------------------------------------------------------------------------- backward


def test_gradient_through_a_custom_elementwise_layer():
    """sqrt(0) = 0 forward, but its slope is infinite: [2] is the first layer with a bad gradient."""
    model = fnn.Sequential(fnn.Linear(3, 4), fnn.ReLU(), Sqrt(), fnn.Linear(4, 2))
    _, params = model.init(KEY, (-1, 3), jnp.float64)
    params = ({"weight": -jnp.ones((4, 3)), "bias": jnp.zeros(4)},) + params[1:]
    x, t = jnp.ones((2, 3)), jnp.ones((2, 2))
    assert find_nonfinite(model, params, x) is None  # the forward pass is finite
    found = find_nonfinite(model, params, x, target=t, criterion=mse)
    assert (found.path, found.layer, found.where) == ((2,), "nn.MySqrt", "gradient w.r.t. its input")
    assert found.context == "its incoming gradient was finite" and found.count == found.size == 8
    with pytest.raises(NonFiniteError, match=r"^at \[2\]: nn.MySqrt produced a non-finite gradient w.r.t. its input"):
        check_finite(model, params, x, target=t, criterion=mse)


def test_gradient_with_respect_to_params():
    model = fnn.Sequential(fnn.Linear(3, 2), ScaleBySqrt(2), fnn.Linear(2, 1))
    _, params = model.init(KEY, (3,), jnp.float64)
    found = find_nonfinite(model, params, jnp.ones(3), target=jnp.ones(1), criterion=mse)
    assert (found.path, found.layer, found.where) == ((1,), "nn.ScaleBySqrt(2)", "gradient w.r.t. its params")


def test_loss_and_loss_gradient():
    model = fnn.Sequential(fnn.Linear(2, 2))
    _, params = model.init(KEY, (2,), jnp.float64)
    x = jnp.ones(2)
    found = find_nonfinite(model, params, x, target=None, criterion=lambda y, t: jnp.sum(jnp.log(y - 100.0)))
    assert (found.path, found.layer, found.where) == ((), "criterion", "loss")
    # |y| via sqrt(y²) at y = 0: the loss is finite (0), its gradient is 0 * inf = nan
    zero = jax.tree.map(jnp.zeros_like, params)
    found = find_nonfinite(model, zero, x, criterion=lambda y, t: jnp.sum(jnp.sqrt(y * y)))
    assert (found.layer, found.where) == ("criterion", "gradient of the loss w.r.t. the model output")


def test_shared_module_is_checked_per_call():
    """MapTable calls one child per table entry; the bad call is named by its entry index."""
    model = fnn.Sequential(fnn.MapTable(Sqrt()), fnn.CAddTable() if hasattr(fnn, "CAddTable") else fnn.SelectTable(1))
    _, params = model.init(KEY, ((2,), (2,)), jnp.float64)
    found = find_nonfinite(model, params, (jnp.ones(2), jnp.zeros(2)), target=jnp.ones(2), criterion=mse)
    assert (found.path, found.layer, found.where) == ((0, 1), "nn.MySqrt", "gradient w.r.t. its input")


def test_probes_do_not_change_values():
    """find_nonfinite's wrapped model computes exactly what the model computes."""
    from fnn.debug import _PROBE, _Probe, _probed

    model = fnn.Sequential(fnn.Linear(3, 4), fnn.Tanh(), fnn.Concat(-1, fnn.Linear(4, 2), fnn.Identity()))
    _, params = model.init(KEY, (-1, 3), jnp.float64)
    x = jax.random.normal(KEY, (5, 3))
    probed = _probed(model)
    assert str(probed) == str(model)
    token = _PROBE.set(_Probe())
    try:
        y = probed.apply(params, x)
    finally:
        _PROBE.reset(token)
    np.testing.assert_array_equal(y, model.apply(params, x))
    np.testing.assert_array_equal(probed.apply(params, x), model.apply(params, x))  # no probe active


# --------------------------------------------------------------------------- the eager switch


def test_nonfinite_checks_raise_in_eager_apply_only():
    model = fnn.Sequential(negative_linear(3, 4), fnn.Tanh(), fnn.Log(), fnn.Linear(4, 2))
    _, params = model.init(KEY, (-1, 3), jnp.float64)
    x = jnp.ones((2, 3))
    with nonfinite_checks(), pytest.raises(NonFiniteError) as e:
        model.apply(params, x)
    assert e.value.path == (2,) and str(e.value).startswith("at [2]: nn.Log produced a non-finite forward output")
    with nonfinite_checks():  # traced values are not checked
        y = jax.jit(model.apply)(params, x)
    assert bool(jnp.isnan(y).all())
    y = model.apply(params, x)  # outside the block nothing is checked
    assert bool(jnp.isnan(y).all())


# --------------------------------------------------------------------------- state, containers


def test_stateful_model_in_training_mode():
    """BatchNorm in training: a constant batch has zero variance; with eps=0 its output is 0/0."""
    model = fnn.Sequential(fnn.Linear(3, 4), fnn.BatchNormalization(4, eps=0.0), fnn.Tanh())
    _, params, state = model.stateful.init(KEY, (-1, 3), jnp.float64)
    x = jnp.ones((5, 3))
    assert find_nonfinite(model, params, x, state=state) is None  # eval mode uses the running statistics
    found = find_nonfinite(model, params, x, state=state, train=True)
    assert (found.path, found.where) == ((1,), "forward output") and found.layer.startswith("nn.BatchNormalization")
    with pytest.raises(fnn.FnnError, match="has state: pass state="):
        find_nonfinite(model, params, x)


def test_container_without_rebuild_is_probed_as_a_whole():
    import dataclasses

    inner = fnn.Sequential(fnn.Linear(3, 4), Sqrt())
    opaque = dataclasses.replace(inner, rebuild=None)  # a container fnn cannot rebuild with wrapped children
    model = fnn.Sequential(fnn.Tanh(), opaque, fnn.Linear(4, 1))
    _, params = model.init(KEY, (3,), jnp.float64)
    params = (params[0], ({"weight": jnp.zeros((4, 3)), "bias": jnp.zeros(4)}, ()), params[2])
    found = find_nonfinite(model, params, jnp.ones(3), target=jnp.ones(1), criterion=mse)
    assert (found.path, found.layer, found.where) == ((1,), "nn.Sequential", "gradient w.r.t. its params")
