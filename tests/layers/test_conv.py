"""Convolutions: torch7 semantics (argument order, layouts, defaults), PyTorch parity of the
forward pass and of the input/weight/bias gradients, shape errors, and the LeNet-5 sanity check.

``torch_parity`` is shared with the other vision test files.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn import kernels
from fnn.errors import ConfigError, DTypeError, ShapeError


def torch_parity(torch, module, reference, x_np, *, to_torch=None, tol=1e-10):
    """Checks ``module`` against PyTorch in float64: the output, the input gradient and the
    gradient of every parameter, for a random output cotangent.

    Args:
      reference: a ``torch.nn.Module`` (called with fnn's params through
        ``torch.func.functional_call``) or a function ``(x, params) -> y``.
      to_torch: ``{name: fn}`` converting an fnn param to torch's layout (differentiably).

    Returns:
      The number of arrays compared.
    """
    init, apply = module
    _, params = init(jax.random.key(0), np.shape(x_np), jnp.float64)
    x = jnp.asarray(x_np)
    g = np.random.RandomState(7).standard_normal(jax.eval_shape(apply, params, x).shape)

    @jax.jit  # one compilation instead of one per eager op: keeps the suite fast
    def forward_and_vjp(p, x, g):
        y, vjp = jax.vjp(apply, p, x)
        return y, vjp(g)

    y, (gp, gx) = forward_and_vjp(params, x, jnp.asarray(g))
    xt = torch.tensor(x_np, requires_grad=True)
    pt = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in (params or {}).items()}
    conv = {k: (to_torch or {}).get(k, lambda t: t)(v) for k, v in pt.items()}
    if isinstance(reference, torch.nn.Module):
        yt = torch.func.functional_call(reference, conv, (xt,))
    else:
        yt = reference(xt, conv)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=tol, atol=tol, err_msg="forward")
    np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), rtol=tol, atol=tol, err_msg="input gradient")
    for k in pt:
        np.testing.assert_allclose(np.asarray(gp[k]), pt[k].grad.numpy(), rtol=tol, atol=tol, err_msg=f"d{k}")
    return 2 + len(pt)


def randn(*shape, seed=0):
    return np.random.RandomState(seed).standard_normal(shape)


def declared_shape(module, shape):
    """The output shape ``init`` declares, found by tracing only (nothing is compiled)."""
    box = {}

    def run(key):
        box["out"], params = module.init(key, shape)
        return params

    jax.eval_shape(run, jax.random.key(0))
    return box["out"]


# --------------------------------------------------------------------------- PyTorch parity

PARITY = [
    # (fnn module, torch module factory, input shape)
    ("torch7-defaults", lambda: fnn.SpatialConvolution(2, 3, 3, 3), lambda nn: nn.Conv2d(2, 3, 3), (2, 2, 6, 5)),
    ("width-first", lambda: fnn.SpatialConvolution(2, 3, 3, 2, 2, 1, 1, 0),
     lambda nn: nn.Conv2d(2, 3, (2, 3), (1, 2), (0, 1)), (2, 2, 7, 6)),
    ("padH-defaults-to-padW", lambda: fnn.SpatialConvolution(1, 2, 3, 3, 1, 1, 2),
     lambda nn: nn.Conv2d(1, 2, 3, padding=2), (2, 1, 4, 4)),
    ("dilation-groups", lambda: fnn.SpatialConvolution(4, 6, 3, 3, 2, 1, 1, 2, dilW=2, groups=2),
     lambda nn: nn.Conv2d(4, 6, 3, (1, 2), (2, 1), dilation=(1, 2), groups=2), (2, 4, 7, 8)),
    ("no-bias", lambda: fnn.SpatialConvolution(2, 2, 2, 2, bias=False), lambda nn: nn.Conv2d(2, 2, 2, bias=False),
     (1, 2, 4, 4)),
    ("dilated", lambda: fnn.SpatialDilatedConvolution(2, 2, 3, 2, 1, 2, 1, 0, 2, 1),
     lambda nn: nn.Conv2d(2, 2, (2, 3), (2, 1), (0, 1), dilation=(1, 2)), (2, 2, 7, 7)),
    ("full-adj", lambda: fnn.SpatialFullConvolution(2, 3, 3, 3, 2, 2, 1, 1, 1, 0),
     lambda nn: nn.ConvTranspose2d(2, 3, 3, 2, 1, (0, 1)), (2, 2, 4, 5)),
    ("full-rect", lambda: fnn.SpatialFullConvolution(2, 1, 2, 4, 1, 3, 0, 2, 0, 2),
     lambda nn: nn.ConvTranspose2d(2, 1, (4, 2), (3, 1), (2, 0), (2, 0)), (1, 2, 3, 3)),
    ("volumetric", lambda: fnn.VolumetricConvolution(2, 3, 2, 3, 1, 1, 2, 1, 1),
     lambda nn: nn.Conv3d(2, 3, (2, 1, 3), (1, 1, 2), 1), (2, 2, 4, 5, 6)),
    ("volumetric-pads", lambda: fnn.VolumetricConvolution(1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 1),
     lambda nn: nn.Conv3d(1, 2, 2, 1, (1, 1, 0)), (2, 1, 3, 4, 4)),
    ("Conv1d", lambda: fnn.Conv1d(2, 4, 3, 2, 1, 2, 2), lambda nn: nn.Conv1d(2, 4, 3, 2, 1, 2, 2), (2, 2, 9)),
    ("Conv1d-same-reflect", lambda: fnn.Conv1d(2, 3, 4, padding="same", dilation=2, padding_mode="reflect"),
     lambda nn: nn.Conv1d(2, 3, 4, padding="same", dilation=2, padding_mode="reflect"), (2, 2, 9)),
    ("Conv2d", lambda: fnn.Conv2d(3, 2, (2, 3), stride=(2, 1), padding=(1, 0)),
     lambda nn: nn.Conv2d(3, 2, (2, 3), stride=(2, 1), padding=(1, 0)), (2, 3, 5, 6)),
    ("Conv2d-valid-circular", lambda: fnn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
     lambda nn: nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"), (2, 2, 4, 5)),
    ("Conv2d-replicate-nobias", lambda: fnn.Conv2d(2, 2, 3, padding=(2, 1), padding_mode="replicate", bias=False),
     lambda nn: nn.Conv2d(2, 2, 3, padding=(2, 1), padding_mode="replicate", bias=False), (1, 2, 4, 5)),
    ("Conv3d", lambda: fnn.Conv3d(2, 2, (1, 2, 3), stride=2, groups=2),
     lambda nn: nn.Conv3d(2, 2, (1, 2, 3), stride=2, groups=2), (2, 2, 3, 5, 7)),
    ("ConvTranspose1d", lambda: fnn.ConvTranspose1d(2, 3, 3, 2, 1, 1), lambda nn: nn.ConvTranspose1d(2, 3, 3, 2, 1, 1),
     (2, 2, 5)),
    ("ConvTranspose2d-groups-dilation", lambda: fnn.ConvTranspose2d(4, 6, 3, 2, 2, 1, groups=2, dilation=2),
     lambda nn: nn.ConvTranspose2d(4, 6, 3, 2, 2, 1, groups=2, dilation=2), (2, 4, 4, 5)),
    ("ConvTranspose2d-big-pad", lambda: fnn.ConvTranspose2d(2, 2, 2, 3, 2),
     lambda nn: nn.ConvTranspose2d(2, 2, 2, 3, 2), (1, 2, 4, 4)),
    ("ConvTranspose3d", lambda: fnn.ConvTranspose3d(1, 2, 2, (1, 2, 2), bias=False),
     lambda nn: nn.ConvTranspose3d(1, 2, 2, (1, 2, 2), bias=False), (2, 1, 2, 3, 3)),
]


@pytest.mark.torch
@pytest.mark.parametrize("make,torch_make,shape", [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_parity_with_pytorch(torch, make, torch_make, shape):
    torch_parity(torch, make(), torch_make(torch.nn), randn(*shape))


@pytest.mark.torch
def test_temporal_convolution_matches_conv1d_on_transposed_layouts(torch):
    """torch7 TemporalConvolution: (B, T, in) channels-last, weight (out, kW*in) kernel-position major."""

    def to_conv1d(w):  # (out, kW*in) -> (out, in, kW)
        return w.reshape(4, 3, 2).permute(0, 2, 1)

    def reference(x, p):
        y = torch.nn.functional.conv1d(x.transpose(1, 2), p["weight"], p["bias"], stride=2)
        return y.transpose(1, 2)

    torch_parity(torch, fnn.TemporalConvolution(2, 4, 3, 2), reference, randn(2, 8, 2), to_torch={"weight": to_conv1d})


@pytest.mark.torch
def test_full_convolution_ref_table_takes_the_size_of_ref(torch):
    init, apply = fnn.SpatialFullConvolution(2, 1, 3, 3, 2, 2, 1, 1)
    x, ref = randn(1, 2, 4, 4), np.zeros((1, 1, 8, 8))
    _, params = init(jax.random.key(0), ((-1, 2, 4, 4), (-1, 1, 8, 8)), jnp.float64)
    y = apply(params, (jnp.asarray(x), jnp.asarray(ref)))
    tm = torch.nn.ConvTranspose2d(2, 1, 3, 2, 1)
    yt = torch.func.functional_call(tm, {k: torch.tensor(np.asarray(v)) for k, v in params.items()},
                                    (torch.tensor(x),), {"output_size": (8, 8)})
    assert y.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), atol=1e-12)
    grad_ref = jax.grad(lambda r: apply(params, (jnp.asarray(x), r)).sum())(jnp.asarray(ref))
    assert not np.any(np.asarray(grad_ref))


# --------------------------------------------------------------------------- hand-computed cases


def test_spatial_convolution_by_hand():
    init, apply = fnn.SpatialConvolution(1, 1, 2, 2)
    params = {"weight": jnp.array([[[[1.0, 2.0], [3.0, 4.0]]]]), "bias": jnp.array([0.5])}
    x = jnp.arange(9.0).reshape(1, 3, 3)  # one example (C, H, W)
    # out[0,0] = 0*1 + 1*2 + 3*3 + 4*4 + 0.5
    np.testing.assert_allclose(apply(params, x), [[[27.5, 37.5], [57.5, 67.5]]])


def test_temporal_convolution_weight_is_kernel_position_major():
    init, apply = fnn.TemporalConvolution(2, 1, 2)
    w = jnp.array([[1.0, 10.0, 100.0, 1000.0]])  # [k0:i0, k0:i1, k1:i0, k1:i1]
    x = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (T=3, in=2)
    y = apply({"weight": w, "bias": jnp.zeros(1)}, x)
    np.testing.assert_allclose(y, [[1 + 20 + 300 + 4000], [3 + 40 + 500 + 6000]])


def test_one_example_equals_the_batched_call():
    init, apply = fnn.SpatialConvolution(2, 3, 3, 3, 2, 2, 1)
    _, params = init(jax.random.key(0), (-1, 2, 6, 6), jnp.float64)
    xs = jnp.asarray(randn(3, 2, 6, 6))
    np.testing.assert_allclose(apply(params, xs[1]), apply(params, xs)[1], atol=1e-12)
    np.testing.assert_allclose(jax.vmap(apply, in_axes=(None, 0))(params, xs), apply(params, xs), atol=1e-12)


@pytest.mark.parametrize("make,in_shape,shapes,fan_in", [
    (lambda: fnn.SpatialConvolution(3, 4, 5, 2), (-1, 3, 7, 7), {"weight": (4, 3, 2, 5), "bias": (4,)}, 3 * 5 * 2),
    (lambda: fnn.SpatialFullConvolution(3, 4, 5, 2), (-1, 3, 7, 7), {"weight": (3, 4, 2, 5), "bias": (4,)}, 30),
    (lambda: fnn.TemporalConvolution(3, 4, 5), (-1, 5, 3), {"weight": (4, 15), "bias": (4,)}, 15),
    (lambda: fnn.VolumetricConvolution(3, 4, 2, 3, 1), (-1, 3, 5, 7, 7), {"weight": (4, 3, 2, 1, 3), "bias": (4,)}, 18),
    (lambda: fnn.Conv2d(4, 6, 3, groups=2), (-1, 4, 7, 7), {"weight": (6, 2, 3, 3), "bias": (6,)}, 18),
    (lambda: fnn.ConvTranspose2d(4, 6, 3, groups=2), (-1, 4, 7, 7), {"weight": (4, 3, 3, 3), "bias": (6,)}, 27),
])
def test_weight_layouts_and_default_init_bounds(make, in_shape, shapes, fan_in):
    """torch7 (and PyTorch) init: weight and bias U(±1/√fan_in); PyTorch's ConvTranspose
    counts out_channels/groups as the fan-in, torch7's SpatialFullConvolution n_in."""
    _, params = make().init(jax.random.key(0), in_shape)
    assert {k: v.shape for k, v in params.items()} == shapes
    bound = 1 / math.sqrt(fan_in)
    for v in params.values():
        assert float(jnp.max(jnp.abs(v))) <= bound
        assert float(jnp.max(jnp.abs(v))) > 0.5 * bound  # drawn from the whole range, not a tiny one


def test_custom_initialisers_are_used():
    m = fnn.SpatialConvolution(1, 2, 3, 3, weight_init=lambda k, s, d: jnp.ones(s, d),
                               bias_init=lambda k, s, d: jnp.full(s, 2.0, d))
    _, params = m.init(jax.random.key(0), (-1, 1, 5, 5))
    assert float(params["weight"].sum()) == 18 and params["bias"].tolist() == [2.0, 2.0]


def test_params_take_the_input_dtype():
    _, params = fnn.SpatialConvolution(1, 2, 3, 3).init(jax.random.key(0), (-1, 1, 5, 5), jnp.float64)
    assert params["weight"].dtype == jnp.float64


def test_forward_is_one_convolution_without_transposes():

    init, apply = fnn.SpatialConvolution(3, 8, 3, 3, 1, 1, 1)
    _, params = init(jax.random.key(0), (-1, 3, 8, 8))
    with kernels.implementation("xla"):  # XLA's own convolution (GPU/TPU, many channels)
        jaxpr = str(jax.make_jaxpr(apply)(params, jnp.ones((2, 3, 8, 8), jnp.float32)))
    assert jaxpr.count("conv_general_dilated") == 1
    assert "transpose" not in jaxpr


# --------------------------------------------------------------------------- printing and errors


def test_torch7_names():
    assert str(fnn.SpatialConvolution(1, 6, 5, 5)) == "nn.SpatialConvolution(1 -> 6, 5x5)"
    assert str(fnn.SpatialConvolution(3, 8, 3, 3, 1, 1, 1, 1)) == "nn.SpatialConvolution(3 -> 8, 3x3, 1,1, 1,1)"
    assert str(fnn.SpatialConvolution(3, 8, 3, 3, 2, 2, bias=False)) == \
        "nn.SpatialConvolution(3 -> 8, 3x3, 2,2) without bias"
    assert str(fnn.SpatialFullConvolution(3, 8, 4, 4, 2, 2, 1, 1, 1, 1)) == \
        "nn.SpatialFullConvolution(3 -> 8, 4x4, 2,2, 1,1, 1,1)"
    assert str(fnn.VolumetricConvolution(1, 2, 3, 3, 3)) == "nn.VolumetricConvolution(1 -> 2, 3x3x3)"
    assert str(fnn.Conv2d(1, 6, 5)) == "nn.Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))"


def test_channel_mismatch_is_a_shape_error_at_init():
    with pytest.raises(ShapeError) as e:
        fnn.SpatialConvolution(1, 6, 5, 5).init(jax.random.key(0), (-1, 3, 32, 32))
    assert str(e.value) == ("nn.SpatialConvolution(1 -> 6, 5x5) expects input (1, H, W) or (B, 1, H, W), "
                            "got (-1, 3, 32, 32)")
    with pytest.raises(ShapeError, match=r"expects input \(T, 3\) or \(B, T, 3\), got \(-1, 5, 4\)"):
        fnn.TemporalConvolution(3, 2, 2).init(jax.random.key(0), (-1, 5, 4))
    with pytest.raises(ShapeError, match=r"expects input \(2, L\) or \(B, 2, L\)"):
        fnn.Conv1d(2, 2, 2).init(jax.random.key(0), (-1, 2, 5, 5))


def test_too_small_input_is_a_shape_error_not_an_xla_error():
    with pytest.raises(ShapeError, match=r"output size <= 0"):
        fnn.SpatialConvolution(1, 6, 5, 5).init(jax.random.key(0), (-1, 1, 4, 32))
    with pytest.raises(ShapeError, match=r"output size <= 0"):
        fnn.SpatialConvolution(1, 6, 5, 5).apply({"weight": jnp.ones((6, 1, 5, 5)), "bias": jnp.zeros(6)},
                                                 jnp.ones((1, 3, 3)))
    with pytest.raises(ShapeError, match=r"output size <= 0"):
        fnn.ConvTranspose2d(1, 1, 2, padding=3).init(jax.random.key(0), (-1, 1, 2, 2))


def test_dtype_mismatch_is_a_dtype_error():
    _, params = fnn.SpatialConvolution(1, 1, 2, 2).init(jax.random.key(0), (-1, 1, 3, 3))
    with pytest.raises(DTypeError, match="float64 input but float32 params"):
        fnn.SpatialConvolution(1, 1, 2, 2).apply(params, jnp.ones((1, 3, 3), jnp.float64))


@pytest.mark.parametrize("make", [
    lambda: fnn.SpatialConvolution(0, 1, 3, 3),
    lambda: fnn.SpatialConvolution(1, 1, 3, 3, padW=-1),
    lambda: fnn.SpatialConvolution(3, 2, 3, 3, groups=2),
    lambda: fnn.SpatialFullConvolution(1, 1, 3, 3, 2, 2, 0, 0, 2, 0),
    lambda: fnn.TemporalConvolution(1, 1, 0),
    lambda: fnn.Conv2d(1, 1, 3, stride=2, padding="same"),
    lambda: fnn.Conv2d(1, 1, (3, 3, 3)),
    lambda: fnn.Conv2d(1, 1, 3, padding_mode="mirror"),
    lambda: fnn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2),
    lambda: fnn.ConvTranspose2d(1, 1, 3, padding_mode="reflect"),
])
def test_invalid_constructor_arguments(make):
    with pytest.raises(ConfigError):
        make()


def test_reflect_padding_larger_than_the_input_is_a_shape_error():
    with pytest.raises(ShapeError, match="reflect padding 3 must be smaller than the input size 3"):
        fnn.Conv2d(1, 1, 1, padding=3, padding_mode="reflect").init(jax.random.key(0), (-1, 1, 3, 3))


# --------------------------------------------------------------------------- shapes, property-based

conv_args = st.tuples(
    st.integers(1, 4), st.integers(1, 4),  # kH, kW
    st.integers(1, 3), st.integers(1, 3),  # dH, dW
    st.integers(0, 2), st.integers(0, 2),  # padH, padW
    st.integers(1, 2), st.integers(1, 2),  # dilH, dilW
    st.integers(1, 9), st.integers(1, 9),  # H, W
)


@pytest.mark.torch
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=conv_args)
def test_conv_output_shapes_match_pytorch(torch, args):
    kH, kW, dH, dW, pH, pW, lH, lW, H, W = args
    m = fnn.SpatialConvolution(1, 2, kW, kH, dW, dH, pW, pH, dilW=lW, dilH=lH)
    x = torch.zeros(1, 1, H, W)
    try:
        want = tuple(torch.nn.functional.conv2d(x, torch.zeros(2, 1, kH, kW), None, (dH, dW), (pH, pW),
                                                (lH, lW)).shape)
    except RuntimeError:
        with pytest.raises(ShapeError):
            declared_shape(m, (-1, 1, H, W))
        return
    assert declared_shape(m, (-1, 1, H, W)) == (-1,) + want[1:]
    assert declared_shape(m, (1, H, W)) == want[1:]


@pytest.mark.torch
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 3), op=st.integers(0, 2), d=st.integers(1, 2),
       n=st.integers(1, 6))
def test_transposed_conv_output_shapes_match_pytorch(torch, k, s, p, op, d, n):
    try:
        m = fnn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d)
    except ConfigError:
        assert op >= s and op >= d
        return
    try:
        want = tuple(torch.nn.functional.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), None, s,
                                                          p, op, 1, d).shape)
    except RuntimeError:
        with pytest.raises(ShapeError):
            declared_shape(m, (-1, 1, n, n))
        return
    assert declared_shape(m, (-1, 1, n, n)) == (-1,) + want[1:]


# --------------------------------------------------------------------------- LeNet-5


def test_lenet5_sanity():
    model = fnn.Sequential(
        fnn.SpatialConvolution(1, 6, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.SpatialConvolution(6, 16, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.View(16 * 5 * 5), fnn.Linear(400, 120), fnn.ReLU(), fnn.Linear(120, 84), fnn.ReLU(), fnn.Linear(84, 10),
    )
    init, apply = model
    out_shape, params = init(jax.random.key(0), (-1, 1, 32, 32))
    assert out_shape == (-1, 10)
    assert params[0]["weight"].shape == (6, 1, 5, 5) and params[3]["weight"].shape == (16, 6, 5, 5)
    assert fnn.count_parameters(params) == 61706  # the classic LeNet-5 count
    x = jax.random.normal(jax.random.key(1), (4, 1, 32, 32), jnp.float32)
    y = jax.jit(apply)(params, x)
    assert y.shape == (4, 10) and bool(jnp.all(jnp.isfinite(y)))
    np.testing.assert_allclose(jax.jit(apply)(params, x[0]), y[0], rtol=1e-5, atol=1e-5)  # one example works too
    grads = jax.jit(jax.grad(lambda p: jnp.sum(apply(p, x) ** 2)))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
