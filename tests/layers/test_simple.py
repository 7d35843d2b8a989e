"""Specification of the simple layers: Bilinear, CMul, CAdd, Add, Mul, the constants,
Identity, Replicate and Padding (torch7 ``doc/simple.md``, 0-based)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, ShapeError


def _tree_np(t):
    return jax.tree.map(np.asarray, t)


def torch_parity(torch, module, params, x, torch_fn, *, atol=1e-10, seed=0):
    """Compares forward, input gradient and param gradients of ``module`` with ``torch_fn``.

    ``torch_fn(tparams, tx)`` computes the same function in torch; ``tparams`` is a dict of
    tensors (same names as ``params``), ``tx`` a tensor or a tuple of tensors. Returns the
    number of arrays compared.
    """
    x = jax.tree.map(jnp.asarray, x)
    floats = jax.tree.map(lambda a: jnp.issubdtype(a.dtype, jnp.floating), x)

    def f(p, xf):
        xx = jax.tree.map(lambda a, b, fl: a if fl else b, xf, x, floats)
        return module.apply(p, xx)

    y, vjp = jax.vjp(f, params, x)
    g = jax.random.normal(jax.random.key(seed), y.shape, y.dtype)
    gp, gx = vjp(g)

    tp = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in (params or {}).items()}
    leaves, treedef = jax.tree.flatten(x)
    tleaves = [torch.tensor(np.asarray(a), requires_grad=bool(jnp.issubdtype(a.dtype, jnp.floating)))
               for a in leaves]
    tx = jax.tree.unflatten(treedef, tleaves)
    ty = torch_fn(tp, tx)
    ty.backward(torch.tensor(np.asarray(g)))
    compared = 0
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), atol=atol, rtol=1e-9)
    compared += 1
    for a, t, gl in zip(leaves, tleaves, jax.tree.leaves(gx), strict=True):
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(gl), t.grad.numpy(), atol=atol, rtol=1e-9)
            compared += 1
    for k, t in tp.items():
        np.testing.assert_allclose(np.asarray(gp[k]), t.grad.numpy(), atol=atol, rtol=1e-9)
        compared += 1
    return compared


def init64(module, shape, dtype=jnp.float64):
    return module.init(jax.random.key(0), shape, dtype)


def rand(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape, jnp.float64)


# --------------------------------------------------------------------------- Bilinear


def test_bilinear_by_hand():
    mod = fnn.Bilinear(2, 3, 1)
    w = jnp.arange(6.0).reshape(1, 2, 3)
    params = {"weight": w, "bias": jnp.array([0.5])}
    x1, x2 = jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0, -1.0])
    # x1ᵀ A x2 = [1,2]·[[0,1,2],[3,4,5]]·[1,0,-1] = [1,2]·[-2,-2] = -6
    assert mod.apply(params, (x1, x2)).tolist() == [-5.5]
    assert str(mod) == "nn.Bilinear(2x3 -> 1)"
    assert str(fnn.Bilinear(2, 3, 1, bias=False)) == "nn.Bilinear(2x3 -> 1 without bias)"


def test_bilinear_init_is_torch7():
    out_shape, params = fnn.Bilinear(4, 9, 3).init(jax.random.key(0), ((-1, 4), (-1, 9)))
    assert out_shape == (-1, 3)
    assert params["weight"].shape == (3, 4, 9) and params["bias"].shape == (3,)
    assert float(jnp.max(jnp.abs(params["weight"]))) <= 0.5  # U(±1/√in1)
    assert float(jnp.max(jnp.abs(params["bias"]))) <= 0.5


def test_bilinear_errors():
    with pytest.raises(ShapeError, match=r"nn.Bilinear\(3x4 -> 2\) expects a table"):
        fnn.Bilinear(3, 4, 2).init(jax.random.key(0), (2, 3))
    with pytest.raises(ShapeError, match=r"expects x2 \(\.\.\., 4\)"):
        fnn.Bilinear(3, 4, 2).init(jax.random.key(0), ((2, 3), (2, 5)))
    with pytest.raises(ShapeError, match="same leading dims"):
        fnn.Bilinear(3, 4, 2).init(jax.random.key(0), ((2, 3), (4, 4)))
    with pytest.raises(ConfigError):
        fnn.Bilinear(0, 4, 2)


@pytest.mark.torch
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_pytorch(torch, bias):
    mod = fnn.Bilinear(3, 4, 2, bias=bias)
    _, params = init64(mod, ((-1, 3), (-1, 4)))
    x = (rand((5, 3)), rand((5, 4), 2))
    fn = lambda p, t: torch.nn.functional.bilinear(t[0], t[1], p["weight"], p.get("bias"))
    assert torch_parity(torch, mod, params, x, fn) == 3 + len(params)


# --------------------------------------------------------------------------- CMul (seed 000)


def test_cmul_seed000_forward_and_batch():
    x = jnp.arange(1.0, 6.0, dtype=jnp.float64)
    f = fnn.CMul(5)
    assert str(f) == "nn.CMul"
    _, params = init64(f, (5,))
    w = params["weight"]
    assert float(jnp.max(jnp.abs(w))) <= 1 / np.sqrt(5)  # torch7 init U(±1/√numel)
    np.testing.assert_allclose(f.apply(params, x), x * w)
    X = jnp.broadcast_to(x, (3, 5))
    np.testing.assert_allclose(f.apply(params, X), jnp.broadcast_to(x * w, (3, 5)))


def test_cmul_seed000_backward_identities():
    # h = Sequential(CMul(5), Sum(0)); torch7 seed: f.gradInput = g.gradInput ⊙ f.weight, gradWeight = gradOut·x
    x = jnp.arange(1.0, 6.0, dtype=jnp.float64)
    f, g = fnn.CMul(5), fnn.Sum(0)
    h = fnn.Sequential(f, g)
    _, hp = init64(h, (5,))
    w = hp[0]["weight"]
    out = h.apply(hp, x)
    assert out.shape == (1,)
    np.testing.assert_allclose(out, [jnp.sum(x * w)])
    grad_out = jnp.array([1.6834], jnp.float64)
    g_in, _ = fnn.backward(g, (), f.apply(hp[0], x), grad_out)
    np.testing.assert_allclose(g_in, jnp.full(5, 1.6834))
    f_in, grads = fnn.backward(h, hp, x, grad_out)
    assert float(jnp.max(jnp.abs(f_in - g_in * w))) < 1e-10
    np.testing.assert_allclose(grads[0]["weight"], 1.6834 * x)  # 1.6834, 3.3668, ... as in the seed
    assert grads[1] == ()


def test_cmul_broadcast_rules():
    f = fnn.CMul(3, 1)
    w = {"weight": jnp.array([[1.0], [2.0], [3.0]])}
    x = jnp.ones((3, 4))
    np.testing.assert_allclose(f.apply(w, x), jnp.array([[1.0] * 4, [2.0] * 4, [3.0] * 4]))  # same rank
    xb = jnp.ones((2, 3, 4))
    np.testing.assert_allclose(f.apply(w, xb), jnp.broadcast_to(f.apply(w, x), (2, 3, 4)))  # fnn: over a batch
    # same element count: element-wise in storage order, whatever the shapes (torch7)
    g = fnn.CMul(2, 3)
    wg = {"weight": jnp.arange(6.0).reshape(2, 3)}
    np.testing.assert_allclose(g.apply(wg, jnp.ones((3, 2))), jnp.arange(6.0).reshape(3, 2))
    # a batch of examples with the weight's element count
    np.testing.assert_allclose(g.apply(wg, jnp.ones((4, 3, 2)))[3], jnp.arange(6.0).reshape(3, 2))


def test_cmul_shape_errors():
    with pytest.raises(ShapeError, match=r"nn.CMul expects an input of 5 elements.*got \(-1, 4\)"):
        fnn.CMul(5).init(jax.random.key(0), (-1, 4))
    with pytest.raises(ConfigError):
        fnn.CMul(0)
    with pytest.raises(ConfigError):
        fnn.CMul()


@pytest.mark.torch
def test_cmul_and_cadd_match_pytorch(torch):
    x = rand((4, 3, 2))
    for mod, fn in (
        (fnn.CMul(3, 1), lambda p, t: t * p["weight"]),
        (fnn.CAdd(3, 2), lambda p, t: t + p["bias"]),
        (fnn.CAdd(1, 2), lambda p, t: t + p["bias"]),
    ):
        _, params = init64(mod, (-1, 3, 2))
        assert torch_parity(torch, mod, params, x, fn) == 3


def test_cadd_by_hand_and_init():
    f = fnn.CAdd(2, 2)
    _, p = init64(f, (2, 2))
    assert float(jnp.max(jnp.abs(p["bias"]))) <= 0.5  # U(±1/√4)
    b = {"bias": jnp.array([[1.0, 2.0], [3.0, 4.0]])}
    np.testing.assert_allclose(f.apply(b, jnp.zeros((5, 2, 2)))[4], b["bias"])
    _, grads = fnn.backward(f, b, jnp.zeros((5, 2, 2)), jnp.ones((5, 2, 2)))
    np.testing.assert_allclose(grads["bias"], jnp.full((2, 2), 5.0))  # summed over the batch


# --------------------------------------------------------------------------- Add, Mul, constants


def test_add_batch_rule_and_init():
    f = fnn.Add(3)
    _, p = init64(f, (3,))
    assert p["bias"].shape == (3,) and float(jnp.max(jnp.abs(p["bias"]))) <= 1 / np.sqrt(3)
    b = {"bias": jnp.array([1.0, 2.0, 3.0])}
    np.testing.assert_allclose(f.apply(b, jnp.zeros(3)), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(f.apply(b, jnp.zeros((2, 3))), [[1.0, 2.0, 3.0]] * 2)
    np.testing.assert_allclose(fnn.Add(6).apply({"bias": jnp.arange(6.0)}, jnp.zeros((2, 2, 3)))[1],
                               jnp.arange(6.0).reshape(2, 3))
    with pytest.raises(ShapeError, match=r"nn.Add expects input"):
        f.init(jax.random.key(0), (2, 4))


def test_add_scalar():
    f = fnn.Add(7, scalar=True)
    _, p = init64(f, (2, 4))
    assert p["bias"].shape == (1,) and float(jnp.abs(p["bias"][0])) <= 1.0  # U(±1)
    x = jnp.zeros((2, 4))
    np.testing.assert_allclose(f.apply({"bias": jnp.array([2.0])}, x), jnp.full((2, 4), 2.0))
    _, grads = fnn.backward(f, {"bias": jnp.array([2.0])}, x, jnp.ones((2, 4)))
    np.testing.assert_allclose(grads["bias"], [8.0])


def test_mul_and_constants():
    _, p = init64(fnn.Mul(), (3,))
    assert p["weight"].shape == (1,) and float(jnp.abs(p["weight"][0])) <= 1.0
    x = jnp.array([1.0, -2.0])
    np.testing.assert_allclose(fnn.Mul().apply({"weight": jnp.array([3.0])}, x), [3.0, -6.0])
    _, grads = fnn.backward(fnn.Mul(), {"weight": jnp.array([3.0])}, x, jnp.ones(2))
    np.testing.assert_allclose(grads["weight"], [-1.0])
    np.testing.assert_allclose(fnn.MulConstant(0.5).apply((), x), [0.5, -1.0])
    np.testing.assert_allclose(fnn.AddConstant(1).apply((), x), [2.0, -1.0])
    np.testing.assert_allclose(fnn.AddConstant([1.0, 2.0]).apply((), x), [2.0, 0.0])
    with pytest.raises(ShapeError, match=r"nn.AddConstant\(2\) expects input \(\.\.\., 2\)"):
        fnn.AddConstant([1.0, 2.0]).apply((), jnp.ones(3))
    for bad in (lambda: fnn.MulConstant("2"), lambda: fnn.AddConstant([[1.0]]), lambda: fnn.AddConstant(float("nan"))):
        with pytest.raises(ConfigError):
            bad()


@pytest.mark.torch
def test_add_mul_constants_match_pytorch(torch):
    x = rand((4, 3))
    cases = [
        (fnn.Add(3), lambda p, t: t + p["bias"]),
        (fnn.Add(3, scalar=True), lambda p, t: t + p["bias"]),
        (fnn.Mul(), lambda p, t: t * p["weight"]),
        (fnn.MulConstant(-1.5), lambda p, t: t * -1.5),
        (fnn.AddConstant([1.0, 2.0, 3.0]), lambda p, t: t + torch.tensor([1.0, 2.0, 3.0])),
        (fnn.AddConstant(-0.5), lambda p, t: t - 0.5),
        (fnn.Identity(), lambda p, t: torch.nn.Identity()(t)),
    ]
    for mod, fn in cases:
        _, params = init64(mod, (-1, 3))
        assert torch_parity(torch, mod, params, x, fn) >= 2


def test_identity_passes_tensors_and_tables():
    ident = fnn.Identity()
    x = jnp.arange(3)
    assert ident.apply((), x) is x
    table = (jnp.ones(2), (jnp.zeros(3), jnp.arange(2)))
    out_shape, _ = ident.init(jax.random.key(0), ((2,), ((3,), (2,))))
    assert out_shape == ((2,), ((3,), (2,)))
    out = ident.apply((), table)
    assert jax.tree.structure(out) == jax.tree.structure(table)
    g_in, _ = fnn.backward(ident, (), jnp.ones(2), jnp.array([3.0, 4.0]))
    np.testing.assert_allclose(g_in, [3.0, 4.0])


# --------------------------------------------------------------------------- Replicate


def test_replicate_batch_rule_and_gradient():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert fnn.Replicate(3).apply((), x).shape == (3, 2, 2)
    assert fnn.Replicate(3, 1).apply((), x).shape == (2, 3, 2)
    y = fnn.Replicate(3, 0, ndim=1).apply((), x)  # rank 2 > ndim 1: a batch, dim shifted
    assert y.shape == (2, 3, 2)
    np.testing.assert_allclose(y[1, 2], [3.0, 4.0])
    assert fnn.Replicate(3, 0, ndim=2).apply((), x).shape == (3, 2, 2)
    assert fnn.Replicate(4, -1).apply((), x).shape == (2, 2, 4)
    g_in, _ = fnn.backward(fnn.Replicate(3), (), x, jnp.ones((3, 2, 2)))
    np.testing.assert_allclose(g_in, jnp.full((2, 2), 3.0))  # summed over the copies
    with pytest.raises(ShapeError, match="nn.Replicate cannot insert a dim at position 3"):
        fnn.Replicate(2, 3).apply((), x)
    with pytest.raises(ConfigError):
        fnn.Replicate(0)


@pytest.mark.torch
def test_replicate_matches_pytorch(torch):
    x = rand((2, 3))
    fn = lambda p, t: t.unsqueeze(1).expand(2, 4, 3)
    assert torch_parity(torch, fnn.Replicate(4, 0, ndim=1), (), x, fn) == 2


# --------------------------------------------------------------------------- Padding


def test_padding_sides_and_index():
    x = jnp.array([1.0, 2.0, 3.0])
    pad = lambda *a, **k: fnn.Padding(*a, **k).apply((), x).tolist()
    assert pad(0, 2) == [1, 2, 3, 0, 0]  # pad > 0: right
    assert pad(0, -2) == [0, 0, 1, 2, 3]  # pad < 0: left
    assert pad(0, -1, value=9) == [9, 1, 2, 3]
    assert pad(0, -1, index=1) == [1, 0, 2, 3]  # index counted from the left
    assert pad(0, 1, index=1) == [1, 2, 0, 3]  # index counted from the right
    assert pad(0, 2, index=3) == [0, 0, 1, 2, 3]
    assert pad(0, -1, index=3) == [1, 2, 3, 0]
    with pytest.raises(ShapeError, match="nn.Padding index 4 is beyond dim 0 of size 3"):
        pad(0, 1, index=4)


def test_padding_batch_rule_any_mismatch():
    x = jnp.ones((2, 3))
    assert fnn.Padding(0, 2, n_input_dim=1).apply((), x).shape == (2, 5)  # rank 2 != 1: shifted
    assert fnn.Padding(0, 2, n_input_dim=2).apply((), x).shape == (4, 3)
    assert fnn.Padding(0, 2, n_input_dim=3).apply((), x).shape == (2, 5)  # any mismatch shifts (torch7)
    assert fnn.Padding(-1, 2, n_input_dim=1).apply((), x).shape == (2, 5)  # negative dims never shift
    g_in, _ = fnn.backward(fnn.Padding(1, -1, index=1), (), x, jnp.arange(8.0).reshape(2, 4))
    np.testing.assert_allclose(g_in, [[0.0, 2.0, 3.0], [4.0, 6.0, 7.0]])


@pytest.mark.torch
def test_padding_matches_pytorch(torch):
    x = rand((2, 3, 4))
    cases = [
        (fnn.Padding(0, -2, n_input_dim=2, value=0.5), lambda p, t: torch.nn.functional.pad(t, (0, 0, 2, 0),
                                                                                              value=0.5)),
        (fnn.Padding(-1, 3), lambda p, t: torch.nn.functional.pad(t, (0, 3))),
    ]
    for mod, fn in cases:
        assert torch_parity(torch, mod, (), x, fn) == 2
