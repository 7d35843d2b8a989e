"""Normalisation: torch7's batch-norm semantics (init, running statistics with the unbiased
variance, batch-of-one rule, unbatched evaluation), parity with PyTorch's BatchNorm1d/2d/3d
over three training steps and in evaluation, gradients, synchronised statistics with
``axis_name``, and PyTorch's LayerNorm, GroupNorm and InstanceNorm."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, FnnError, ShapeError, StatefulModelError
from tests.layers.test_conv import randn, torch_parity

TOL = 1e-10

BN_PAIRS = [
    # (id, fnn module, torch module, input shape)
    ("BatchNormalization", lambda: fnn.BatchNormalization(3), lambda nn: nn.BatchNorm1d(3), (5, 3)),
    ("BatchNormalization-momentum", lambda: fnn.BatchNormalization(3, 1e-3, 0.3),
     lambda nn: nn.BatchNorm1d(3, 1e-3, 0.3), (4, 3)),
    ("SpatialBatchNormalization", lambda: fnn.SpatialBatchNormalization(3), lambda nn: nn.BatchNorm2d(3),
     (4, 3, 5, 5)),
    ("SpatialBatchNormalization-no-affine", lambda: fnn.SpatialBatchNormalization(2, affine=False),
     lambda nn: nn.BatchNorm2d(2, affine=False), (3, 2, 4, 4)),
    ("VolumetricBatchNormalization", lambda: fnn.VolumetricBatchNormalization(2), lambda nn: nn.BatchNorm3d(2),
     (4, 2, 3, 4, 4)),
    ("BatchNorm1d-3d-input", lambda: fnn.BatchNorm1d(3), lambda nn: nn.BatchNorm1d(3), (4, 3, 6)),
    ("BatchNorm1d-cumulative", lambda: fnn.BatchNorm1d(3, momentum=None), lambda nn: nn.BatchNorm1d(3, momentum=None),
     (4, 3)),
    ("BatchNorm2d", lambda: fnn.BatchNorm2d(3), lambda nn: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    ("BatchNorm2d-untracked", lambda: fnn.BatchNorm2d(3, track_running_stats=False),
     lambda nn: nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 4, 4)),
    ("BatchNorm3d", lambda: fnn.BatchNorm3d(2), lambda nn: nn.BatchNorm3d(2), (3, 2, 2, 3, 3)),
]


@pytest.mark.torch
@pytest.mark.parametrize("make,torch_make,shape", [p[1:] for p in BN_PAIRS], ids=[p[0] for p in BN_PAIRS])
def test_batchnorm_parity_over_three_training_steps_then_evaluation(torch, make, torch_make, shape):
    """Outputs and input/weight/bias gradients of every training step, the running
    statistics after three steps, and the evaluation output all match PyTorch.
    torch's weight init (1) differs from torch7's (U(0,1)): fnn's is copied across."""
    init, apply = make().stateful
    _, params, state = init(jax.random.key(0), (-1,) + shape[1:], jnp.float64)
    tm = torch_make(torch.nn)
    pt = {k: torch.nn.Parameter(torch.tensor(np.asarray(v))) for k, v in (params or {}).items()}
    for k, v in pt.items():
        setattr(tm, k, v)
    tm.train()
    rng = np.random.RandomState(0)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        y, vjp, new_state = jax.vjp(lambda p, x, s=state: apply(p, s, x, train=True), params, jnp.asarray(x),
                                    has_aux=True)
        g = rng.standard_normal(shape)
        gp, gx = vjp(jnp.asarray(g))
        xt = torch.tensor(x, requires_grad=True)
        for v in pt.values():
            v.grad = None
        yt = tm(xt)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), atol=TOL)
        np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), atol=TOL)
        for k, v in pt.items():
            np.testing.assert_allclose(np.asarray(gp[k]), v.grad.numpy(), atol=TOL)
        state = new_state
    if state:
        np.testing.assert_allclose(np.asarray(state["running_mean"]), tm.running_mean.numpy(), atol=TOL)
        np.testing.assert_allclose(np.asarray(state["running_var"]), tm.running_var.numpy(), atol=TOL)
        if "num_batches_tracked" in state:
            assert int(state["num_batches_tracked"]) == int(tm.num_batches_tracked) == 3
    tm.eval()
    x = rng.standard_normal(shape)
    y, same = apply(params, state, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y), tm(torch.tensor(x)).detach().numpy(), atol=TOL)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), same, state))  # eval never updates


def test_running_statistics_use_the_unbiased_variance_by_hand():
    init, apply = fnn.BatchNormalization(1, momentum=0.5).stateful
    _, params, state = init(jax.random.key(0), (-1, 1), jnp.float64)
    y, state = apply(params, state, jnp.array([[1.0], [3.0]]), train=True)
    # batch mean 2, biased var 1 (used to normalise), unbiased var 2 (used for running_var)
    np.testing.assert_allclose(state["running_mean"], [1.0])  # 0.5*0 + 0.5*2
    np.testing.assert_allclose(state["running_var"], [1.5])  # 0.5*1 + 0.5*2
    w = params["weight"][0]
    np.testing.assert_allclose(y[:, 0], [-w / np.sqrt(1 + 1e-5), w / np.sqrt(1 + 1e-5)], rtol=1e-6)


def test_torch7_init_is_uniform_weight_zero_bias_and_unit_variance():
    _, params, state = fnn.SpatialBatchNormalization(1000).stateful.init(jax.random.key(0), (-1, 1000, 2, 2))
    w = np.asarray(params["weight"])
    assert w.min() >= 0 and w.max() <= 1 and 0.4 < w.mean() < 0.6 and w.std() > 0.25  # U(0, 1), not 1
    assert not np.any(np.asarray(params["bias"]))
    assert not np.any(np.asarray(state["running_mean"])) and np.all(np.asarray(state["running_var"]) == 1)
    _, params, state = fnn.BatchNorm2d(3).stateful.init(jax.random.key(0), (-1, 3, 2, 2))
    assert params["weight"].tolist() == [1.0, 1.0, 1.0] and sorted(state) == [
        "num_batches_tracked", "running_mean", "running_var"]


def test_torch7_batch_of_one_uses_the_running_stats_and_keeps_them():
    init, apply = fnn.SpatialBatchNormalization(2).stateful
    _, params, state = init(jax.random.key(0), (-1, 2, 3, 3), jnp.float64)
    state = {"running_mean": jnp.array([1.0, -1.0]), "running_var": jnp.array([4.0, 0.25])}
    x = jnp.asarray(randn(1, 2, 3, 3))
    y_train, new_state = apply(params, state, x, train=True)
    y_eval, _ = apply(params, state, x)
    np.testing.assert_allclose(y_train, y_eval)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), new_state, state))


def test_pytorch_aliases_refuse_one_value_per_channel_in_training():
    init, apply = fnn.BatchNorm1d(3).stateful
    _, params, state = init(jax.random.key(0), (-1, 3), jnp.float64)
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        apply(params, state, jnp.ones((1, 3)), train=True)


def test_evaluation_accepts_one_example_and_vmap_matches_the_batch():
    init, apply = fnn.SpatialBatchNormalization(2).stateful
    _, params, state = init(jax.random.key(0), (-1, 2, 3, 3), jnp.float64)
    state = {"running_mean": jnp.array([0.5, -1.0]), "running_var": jnp.array([2.0, 0.5])}
    xs = jnp.asarray(randn(4, 2, 3, 3))
    ys, _ = apply(params, state, xs)
    np.testing.assert_allclose(apply(params, state, xs[2])[0], ys[2])
    np.testing.assert_allclose(jax.vmap(lambda x: apply(params, state, x)[0])(xs), ys)
    with pytest.raises(ShapeError, match=r"in training mode: batch statistics need a batch \(B, 2, H, W\)"):
        apply(params, state, xs[0], train=True)


@pytest.mark.parametrize("make", [fnn.BatchNorm2d, lambda n: fnn.GroupNorm(1, n), fnn.InstanceNorm2d])
def test_an_empty_batch_normalises_to_an_empty_batch(make):
    init, apply = make(2).stateful
    _, params, state = init(jax.random.key(0), (-1, 2, 3, 3))
    assert apply(params, state, jnp.ones((0, 2, 3, 3), jnp.float32))[0].shape == (0, 2, 3, 3)


def test_axis_name_gives_the_statistics_of_the_whole_batch():
    """Synchronised batch norm: four "devices" (a vmapped axis) with two examples each
    compute exactly what one device computes on all eight."""
    init, apply = fnn.SpatialBatchNormalization(3, axis_name="devices").stateful
    _, params, state = init(jax.random.key(0), (-1, 3, 4, 4), jnp.float64)
    x = jnp.asarray(randn(8, 3, 4, 4))
    y_ref, s_ref = fnn.SpatialBatchNormalization(3).stateful.apply(params, state, x, train=True)
    shards = x.reshape(4, 2, 3, 4, 4)
    ys, ss = jax.vmap(lambda xs: apply(params, state, xs, train=True), axis_name="devices")(shards)
    np.testing.assert_allclose(ys.reshape(8, 3, 4, 4), y_ref, atol=1e-12)
    for k in s_ref:
        np.testing.assert_allclose(ss[k], jnp.broadcast_to(s_ref[k], ss[k].shape), atol=1e-12)
    # one example per device (an unbatched input) works too
    ys, _ = jax.vmap(lambda xi: apply(params, state, xi, train=True), axis_name="devices")(x)
    np.testing.assert_allclose(ys, y_ref, atol=1e-12)


def _textbook_norm(x, axes, weight=None, bias=None, eps=1e-5):
    """Normalisation over ``axes`` as written in the papers (weight and bias broadcast), differentiated by JAX."""
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / jnp.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _textbook_bn(x, weight, bias):
    """Training-mode batch norm over (B, C, H, W): the textbook formula over the batch and both spatial dims."""
    cv = lambda v: None if v is None else v[None, :, None, None]
    return _textbook_norm(x, (0, 2, 3), cv(weight), cv(bias))


@pytest.mark.parametrize("affine", [True, False])
def test_training_derivatives_in_every_mode_match_the_textbook_formula(affine):
    """Batch norm's training rule (a custom JVP): reverse mode (input, weight and bias), forward mode,
    the Hessian, and the gradient of synchronised statistics under ``vmap`` with ``axis_name`` all
    equal JAX's derivatives of the textbook formula, in float64, on inputs far from zero mean."""
    init, apply = fnn.SpatialBatchNormalization(3, affine=affine).stateful
    _, params, state = init(jax.random.key(0), (-1, 3, 4, 4), jnp.float64)
    if affine:
        params = {"weight": jnp.array([1.5, -0.5, 2.0]), "bias": jnp.array([0.1, 0.2, -0.3])}
    wb = (params["weight"], params["bias"]) if affine else (None, None)
    x, r = jnp.asarray(randn(4, 3, 4, 4)) * 3 + 7, jnp.asarray(randn(4, 3, 4, 4))
    loss = lambda x, p: jnp.sum(jnp.tanh(apply(p, state, x, train=True)[0]) * r)
    ref = lambda x, p: jnp.sum(jnp.tanh(_textbook_bn(x, *((p["weight"], p["bias"]) if affine else wb))) * r)
    small, r_small = x[:2, :, :2, :2], r[:2, :, :2, :2]

    @functools.partial(jax.jit, static_argnums=(0, 1))  # one compiled program per form, not one per op
    def derivatives(f, norm):
        hessian = jax.hessian(lambda x: jnp.sum(jnp.tanh(norm(x)) * r_small))(small)
        return jax.grad(f, (0, 1))(x, params), jax.jvp(lambda x: f(x, params), (x,), (r,))[1], hessian

    (grad, tangent, hessian), (grad_ref, tangent_ref, hessian_ref) = (
        derivatives(loss, lambda x: apply(params, state, x, train=True)[0]),
        derivatives(ref, lambda x: _textbook_bn(x, *wb)))
    for got, want in zip(jax.tree.leaves(grad), jax.tree.leaves(grad_ref), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(tangent, tangent_ref, atol=1e-11)
    np.testing.assert_allclose(hessian, hessian_ref, atol=1e-11)
    _, synced = fnn.SpatialBatchNormalization(3, affine=affine, axis_name="devices").stateful
    shards = lambda v: v.reshape(2, 2, 3, 4, 4)
    per_device = lambda xs: jax.vmap(lambda xi: synced(params, state, xi, train=True)[0], axis_name="devices")(xs)
    grad_synced = jax.jit(jax.grad(lambda xs: jnp.sum(jnp.tanh(per_device(xs)) * shards(r))))(shards(x))
    np.testing.assert_allclose(grad_synced.reshape(x.shape), grad_ref[0], atol=1e-12)

def test_unbound_axis_name_is_a_clear_error():
    init, apply = fnn.BatchNormalization(2, axis_name="batch").stateful
    _, params, state = init(jax.random.key(0), (-1, 2), jnp.float64)
    with pytest.raises(FnnError, match=r"axis_name='batch' is not bound: run the training step under jax.vmap"):
        apply(params, state, jnp.ones((4, 2)), train=True)


def test_gradients_do_not_flow_into_the_running_statistics():
    init, apply = fnn.BatchNormalization(2).stateful
    _, params, state = init(jax.random.key(0), (-1, 2), jnp.float64)
    x = jnp.asarray(randn(4, 2))
    g = jax.grad(lambda x: jnp.sum(apply(params, state, x, train=True)[1]["running_mean"]))(x)
    assert not np.any(np.asarray(g))


def test_plain_pair_refuses_state_and_names_the_stateful_call():
    with pytest.raises(StatefulModelError, match="model.stateful"):
        fnn.Sequential(fnn.Linear(3, 4), fnn.BatchNormalization(4)).init(jax.random.key(0), (-1, 3))


def test_names_and_errors():
    assert str(fnn.BatchNormalization(10)) == "nn.BatchNormalization (2D) (10)"
    assert str(fnn.SpatialBatchNormalization(16)) == "nn.SpatialBatchNormalization (4D) (16)"
    with pytest.raises(ShapeError, match=r"nn.SpatialBatchNormalization \(4D\) \(3\) expects input \(B, 3, H, W\) "
                                         r"or, in evaluation, \(3, H, W\), got \(-1, 4, 4, 4\)"):
        fnn.SpatialBatchNormalization(3).stateful.init(jax.random.key(0), (-1, 4, 4, 4))
    with pytest.raises(ShapeError, match=r"expects input \(B, 3\)"):
        fnn.BatchNormalization(3).stateful.init(jax.random.key(0), (-1, 3, 5))
    for make in (lambda: fnn.BatchNormalization(0), lambda: fnn.BatchNormalization(3, eps=-1),
                 lambda: fnn.BatchNormalization(3, momentum=1.5), lambda: fnn.BatchNormalization(3, momentum=None),
                 lambda: fnn.GroupNorm(3, 4), lambda: fnn.LayerNorm(())):
        with pytest.raises(ConfigError):
            make()


# --------------------------------------------------------------------------- per-sample norms

PER_SAMPLE = [
    ("LayerNorm", lambda: fnn.LayerNorm(4), lambda nn: nn.LayerNorm(4), (2, 3, 4)),
    ("LayerNorm-2d-eps", lambda: fnn.LayerNorm((3, 4), eps=1e-3), lambda nn: nn.LayerNorm((3, 4), eps=1e-3),
     (2, 3, 4)),
    ("LayerNorm-no-bias", lambda: fnn.LayerNorm(4, bias=False), lambda nn: nn.LayerNorm(4, bias=False), (3, 4)),
    ("LayerNorm-no-affine", lambda: fnn.LayerNorm(4, elementwise_affine=False),
     lambda nn: nn.LayerNorm(4, elementwise_affine=False), (3, 4)),
    ("GroupNorm", lambda: fnn.GroupNorm(2, 4), lambda nn: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    ("GroupNorm-2d", lambda: fnn.GroupNorm(3, 6, affine=False), lambda nn: nn.GroupNorm(3, 6, affine=False), (2, 6)),
    ("InstanceNorm1d", lambda: fnn.InstanceNorm1d(3), lambda nn: nn.InstanceNorm1d(3), (2, 3, 5)),
    ("InstanceNorm2d-affine", lambda: fnn.InstanceNorm2d(2, affine=True), lambda nn: nn.InstanceNorm2d(2, affine=True),
     (2, 2, 3, 4)),
    ("InstanceNorm3d", lambda: fnn.InstanceNorm3d(2), lambda nn: nn.InstanceNorm3d(2), (2, 2, 2, 3, 3)),
]


def _randomised(module, shape):
    """The params of ``module`` moved off their init (so weight/bias gradients are tested)."""
    _, params = module.init(jax.random.key(0), shape, jnp.float64)
    return jax.tree.map(lambda p: p + jax.random.uniform(jax.random.key(5), p.shape, p.dtype), params)


@pytest.mark.torch
@pytest.mark.parametrize("make,torch_make,shape", [p[1:] for p in PER_SAMPLE], ids=[p[0] for p in PER_SAMPLE])
def test_per_sample_norm_parity(torch, make, torch_make, shape):
    module = make()
    params = _randomised(module, shape)

    def init(rng, shape, dtype=None):  # hands the randomised params to torch_parity
        return (), params

    torch_parity(torch, (init, module.apply), torch_make(torch.nn), randn(*shape))



PER_SAMPLE_TEXTBOOK = [
    # (id, fnn module, input shape, the textbook form of the layer: (x, params) -> y)
    ("GroupNorm", lambda: fnn.GroupNorm(2, 4), (3, 4, 2, 2),
     lambda x, p: _textbook_norm(x.reshape(3, 2, 2, 4), (2, 3), p["weight"].reshape(1, 2, 2, 1),
                                 p["bias"].reshape(1, 2, 2, 1)).reshape(x.shape)),
    ("InstanceNorm2d-affine", lambda: fnn.InstanceNorm2d(3, affine=True), (2, 3, 2, 3),
     lambda x, p: _textbook_norm(x, (2, 3), p["weight"][None, :, None, None], p["bias"][None, :, None, None])),
    ("LayerNorm-no-bias", lambda: fnn.LayerNorm((2, 3), bias=False), (3, 2, 3),
     lambda x, p: _textbook_norm(x, (1, 2), p["weight"][None])),
    ("LayerNorm-no-affine", lambda: fnn.LayerNorm(4, elementwise_affine=False), (3, 4),
     lambda x, p: _textbook_norm(x, (1,))),
]


@pytest.mark.parametrize("make,shape,textbook", [c[1:] for c in PER_SAMPLE_TEXTBOOK],
                         ids=[c[0] for c in PER_SAMPLE_TEXTBOOK])
def test_per_sample_derivatives_in_every_mode_match_the_textbook_formula(make, shape, textbook):
    """The per-sample norms share batch norm's derivative rule: reverse mode (input and params),
    forward mode and the Hessian equal JAX's derivatives of the textbook formula, in float64."""
    module = make()
    params = _randomised(module, shape)
    x, r = jnp.asarray(randn(*shape)) * 3 + 7, jnp.asarray(randn(*shape))
    loss = lambda f: (lambda x, p: jnp.sum(jnp.tanh(f(x, p)) * r))

    @functools.partial(jax.jit, static_argnums=0)  # one compiled program per form, not one per op
    def derivatives(f):
        return jax.grad(f, (0, 1))(x, params), jax.jvp(lambda x: f(x, params), (x,), (r,))[1], jax.hessian(f)(x, params)

    (grad, tangent, hessian), (grad_ref, tangent_ref, hessian_ref) = (
        derivatives(loss(lambda x, p: module.apply(p, x))), derivatives(loss(textbook)))
    for g, w in zip(jax.tree.leaves(grad), jax.tree.leaves(grad_ref), strict=True):
        np.testing.assert_allclose(g, w, atol=1e-12)
    np.testing.assert_allclose(tangent, tangent_ref, atol=1e-11)
    for g, w in zip(jax.tree.leaves(hessian), jax.tree.leaves(hessian_ref), strict=True):
        np.testing.assert_allclose(g, w, atol=1e-10)

@pytest.mark.torch
def test_instance_norm_running_statistics_match_pytorch(torch):
    init, apply = fnn.InstanceNorm2d(2, track_running_stats=True).stateful
    _, params, state = init(jax.random.key(0), (-1, 2, 3, 4), jnp.float64)
    tm = torch.nn.InstanceNorm2d(2, track_running_stats=True)
    rng = np.random.RandomState(1)
    for _ in range(3):
        x = rng.standard_normal((3, 2, 3, 4)) + 2
        y, state = apply(params, state, jnp.asarray(x), train=True)
        np.testing.assert_allclose(np.asarray(y), tm(torch.tensor(x)).detach().numpy(), atol=TOL)
    np.testing.assert_allclose(np.asarray(state["running_mean"]), tm.running_mean.numpy(), atol=TOL)
    np.testing.assert_allclose(np.asarray(state["running_var"]), tm.running_var.numpy(), atol=TOL)
    tm.eval()
    x = rng.standard_normal((2, 3, 4))  # one example
    np.testing.assert_allclose(np.asarray(apply(params, state, jnp.asarray(x))[0]),
                               tm(torch.tensor(x)).detach().numpy(), atol=TOL)


def test_layer_norm_by_hand():
    init, apply = fnn.LayerNorm(2, eps=0.0)
    _, params = init(jax.random.key(0), (-1, 2), jnp.float64)
    np.testing.assert_allclose(apply(params, jnp.array([[1.0, 3.0], [5.0, 5.5]])), [[-1, 1], [-1, 1]], rtol=1e-6)
