"""Specification of LookupTable and its PyTorch alias Embedding: 0-based integer indices,
torch7's padding (no gradient, row not zeroed), max_norm as state, range checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import fnn
from fnn.errors import ConfigError, DTypeError, IndexRangeError, ShapeError, StatefulModelError

TABLE = jnp.arange(12.0, dtype=jnp.float64).reshape(4, 3)


def test_lookup_by_hand():
    lt = fnn.LookupTable(4, 3)
    assert str(lt) == "nn.LookupTable"  # torch7 prints no sizes for LookupTable
    params = {"weight": TABLE}
    np.testing.assert_allclose(lt.apply(params, jnp.array([2, 0, 2])), TABLE[jnp.array([2, 0, 2])])
    y = lt.apply(params, jnp.array([[3, 1], [0, 0]]))
    assert y.shape == (2, 2, 3)
    np.testing.assert_allclose(y[0, 0], [9.0, 10.0, 11.0])


def test_shapes_init_and_gradient():
    lt = fnn.LookupTable(1000, 8)
    out_shape, params = lt.init(jax.random.key(0), (-1, 5))  # int32 indices by default
    assert out_shape == (-1, 5, 8)
    w = params["weight"]
    assert w.shape == (1000, 8) and w.dtype == jnp.float32
    assert abs(float(w.mean())) < 0.05 and abs(float(w.std()) - 1.0) < 0.05  # N(0, 1), torch7
    idx = jnp.array([1, 3, 1])
    g_in, grads = fnn.backward(fnn.LookupTable(4, 3), {"weight": TABLE}, idx, jnp.ones((3, 3)))
    assert g_in.shape == (3,) and not g_in.any()  # gradInput: zeros shaped like the indices
    np.testing.assert_allclose(grads["weight"], [[0.0] * 3, [2.0] * 3, [0.0] * 3, [1.0] * 3])  # scatter-add


def test_indices_must_be_integers_of_rank_one_or_two():
    lt = fnn.LookupTable(4, 3)
    with pytest.raises(DTypeError, match=r"nn.LookupTable expects integer indices .* got float32"):
        lt.apply({"weight": TABLE}, jnp.array([0.0, 1.0], jnp.float32))
    with pytest.raises(DTypeError):
        lt.init(jax.random.key(0), (3,), jnp.float32)
    with pytest.raises(ShapeError, match="expects a 1-D or 2-D index input, got 3-D"):
        lt.apply({"weight": TABLE}, jnp.zeros((1, 1, 1), jnp.int32))
    for bad in (lambda: fnn.LookupTable(0, 3), lambda: fnn.LookupTable(4, 3, padding_value=4),
                lambda: fnn.LookupTable(4, 3, max_norm=0.0), lambda: fnn.LookupTable(4, 3, scale_grad_by_freq=1)):
        with pytest.raises(ConfigError):
            bad()


def test_out_of_range_indices():
    lt = fnn.LookupTable(4, 3)
    params = {"weight": TABLE}
    with pytest.raises(IndexRangeError, match=r"nn.LookupTable index out of range \[0, 4\): got 4"):
        lt.apply(params, jnp.array([0, 4]))
    with pytest.raises(IndexRangeError, match="got -1"):
        lt.apply(params, jnp.array([[-1, 0]]))
    # under jit the values are unknown while tracing: a bad index gives a NaN row (negatives too)
    y = jax.jit(lt.apply)(params, jnp.array([1, 4, -1]))
    np.testing.assert_allclose(y[0], TABLE[1])
    assert bool(jnp.all(jnp.isnan(y[1:])))


def test_checked_mode_with_checkify():
    init, apply = fnn.LookupTable(4, 3, checked=True)
    _, params = init(jax.random.key(0), (-1, 2))  # init works (abstract evaluation)
    checked_apply = checkify.checkify(jax.jit(apply))
    err, y = checked_apply(params, jnp.array([[0, 3]]))
    assert err.get() is None and y.shape == (1, 2, 3)
    err, _ = checked_apply(params, jnp.array([[0, 7], [9, 1]]))
    assert "nn.LookupTable: index out of range [0, 4): got 7" in err.get()
    with pytest.raises(checkify.JaxRuntimeError, match="got -2"):
        checked_apply(params, jnp.array([[-2, 0]]))[0].throw()


def test_padding_value_keeps_the_row_but_stops_its_gradient():
    lt = fnn.LookupTable(4, 3, padding_value=1)
    _, params = lt.init(jax.random.key(0), (3,))
    assert bool(jnp.all(params["weight"][1] != 0))  # not zeroed (torch7)
    idx = jnp.array([1, 2, 1])
    np.testing.assert_allclose(lt.apply({"weight": TABLE}, idx)[0], TABLE[1])  # forward returns it
    _, grads = fnn.backward(lt, {"weight": TABLE}, idx, jnp.ones((3, 3)))
    np.testing.assert_allclose(grads["weight"], [[0.0] * 3, [0.0] * 3, [1.0] * 3, [0.0] * 3])


def test_scale_grad_by_freq():
    lt = fnn.LookupTable(4, 3, scale_grad_by_freq=True)
    idx = jnp.array([[1, 1], [1, 2]])
    g = jnp.arange(12.0).reshape(2, 2, 3)
    y = lt.apply({"weight": TABLE}, idx)
    np.testing.assert_allclose(y, TABLE[idx])  # values unchanged
    _, grads = fnn.backward(lt, {"weight": TABLE}, idx, g)
    np.testing.assert_allclose(grads["weight"][1], (g[0, 0] + g[0, 1] + g[1, 0]) / 3)
    np.testing.assert_allclose(grads["weight"][2], g[1, 1])


def test_max_norm_is_state():
    lt = fnn.LookupTable(4, 3, max_norm=2.0)
    with pytest.raises(StatefulModelError, match="model.stateful"):
        lt.init(jax.random.key(0), (2,))
    init, apply = lt.stateful
    _, params, state = init(jax.random.key(0), (-1, 2))
    assert set(state) == {"delta"} and state["delta"].shape == (4, 3) and not state["delta"].any()
    params = {"weight": TABLE}
    y, state = apply(params, {"delta": jnp.zeros((4, 3))}, jnp.array([0, 2, 2]))
    norms = jnp.linalg.norm(TABLE, axis=1)  # √5 ≈ 2.24 and ≈ 12.2 for rows 0 and 2: both above 2
    table = fnn.lookup_weight(params, state)
    for r in (0, 2):  # referenced rows above max_norm: scaled by max_norm / (norm + 1e-7)
        np.testing.assert_allclose(table[r], TABLE[r] * 2.0 / (norms[r] + 1e-7), rtol=1e-12)
    np.testing.assert_allclose(table[1], TABLE[1])  # not referenced: untouched
    np.testing.assert_allclose(table[3], TABLE[3])
    np.testing.assert_allclose(y, table[jnp.array([0, 2, 2])], rtol=1e-12)  # forward returns the new rows
    np.testing.assert_allclose(params["weight"], TABLE)  # params are never mutated
    assert fnn.lookup_weight(params, ()) is TABLE


def test_max_norm_row_zero_by_hand():
    w = jnp.array([[3.0, 4.0], [0.3, 0.4]], jnp.float64)
    init, apply = fnn.LookupTable(2, 2, max_norm=1.0).stateful
    y, st = apply({"weight": w}, {"delta": jnp.zeros((2, 2))}, jnp.array([0, 1]))
    np.testing.assert_allclose(y, [[3 / (5 + 1e-7), 4 / (5 + 1e-7)], [0.3, 0.4]], rtol=1e-12)
    np.testing.assert_allclose(st["delta"][1], [0.0, 0.0])


def test_embedding_alias():
    emb = fnn.Embedding(5, 3, padding_idx=-1)
    assert "Embedding" in fnn.LAYER_NAMES  # aliases are constructors too: each has a conformance case
    _, params = emb.init(jax.random.key(0), (2, 2, 2))  # any index shape
    np.testing.assert_allclose(params["weight"][4], 0.0)  # padding row zeroed at init (PyTorch)
    assert emb.apply(params, jnp.zeros((2, 2, 2), jnp.int32)).shape == (2, 2, 2, 3)
    _, grads = fnn.backward(emb, params, jnp.array([4, 0]), jnp.ones((2, 3), jnp.float32))
    np.testing.assert_allclose(grads["weight"][4], 0.0)
    np.testing.assert_allclose(grads["weight"][0], 1.0)
    with pytest.raises(ConfigError):
        fnn.Embedding(5, 3, padding_idx=5)


# --------------------------------------------------------------------------- PyTorch parity


def _torch_embedding(torch, weight, **kw):
    emb = torch.nn.Embedding(weight.shape[0], weight.shape[1], **kw)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(np.asarray(weight)))
    return emb


@pytest.mark.torch
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True},
                                {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding_matches_pytorch(torch, kw):
    emb = fnn.Embedding(6, 4, **kw)
    _, params = emb.init(jax.random.key(1), (3, 5))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    temb = _torch_embedding(torch, params["weight"], **kw)
    np.testing.assert_allclose(temb.weight.detach().numpy(), params["weight"])
    idx = jnp.array([[0, 2, 2, 5, 1], [2, 0, 0, 3, 2], [4, 4, 4, 1, 2]])
    g = jax.random.normal(jax.random.key(2), (3, 5, 4), jnp.float64)
    y, vjp = jax.vjp(lambda p: emb.apply(p, idx), params)
    (grads,) = vjp(g)
    ty = temb(torch.tensor(np.asarray(idx)).long())
    ty.backward(torch.tensor(np.asarray(g)))
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["weight"], temb.weight.grad.numpy(), atol=1e-12)


@pytest.mark.torch
def test_lookup_table_padding_value_matches_pytorch_padding_idx_on_the_same_table(torch):
    """torch7's paddingValue = PyTorch's padding_idx without the zeroing at init."""
    lt = fnn.LookupTable(5, 2, padding_value=3)
    _, params = lt.init(jax.random.key(4), (2, 3), jnp.int32)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    temb = _torch_embedding(torch, params["weight"], padding_idx=3)  # the copied row 3 is not zero
    idx = jnp.array([[3, 1, 3], [0, 4, 3]])
    g = jax.random.normal(jax.random.key(5), (2, 3, 2), jnp.float64)
    y, vjp = jax.vjp(lambda p: lt.apply(p, idx), params)
    ty = temb(torch.tensor(np.asarray(idx)).long())
    ty.backward(torch.tensor(np.asarray(g)))
    assert bool(jnp.all(y[0, 0] != 0))
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(vjp(g)[0]["weight"], temb.weight.grad.numpy(), atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_over_two_sgd_steps_matches_pytorch(torch, norm_type):
    """LookupTable(max_norm) trained with plain SGD equals PyTorch's Embedding(max_norm) step for step."""
    init, apply = fnn.LookupTable(6, 3, max_norm=1.2, norm_type=norm_type).stateful
    _, params, state = init(jax.random.key(3), (-1, 4), jnp.int32)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    state = jax.tree.map(lambda a: a.astype(jnp.float64), state)
    temb = _torch_embedding(torch, params["weight"], max_norm=1.2, norm_type=norm_type)
    opt = torch.optim.SGD(temb.parameters(), lr=0.5)
    steps = [jnp.array([[0, 1, 1, 3], [3, 0, 5, 5]]), jnp.array([[2, 1, 4, 4], [0, 0, 2, 3]])]
    for k, idx in enumerate(steps):
        g = jax.random.normal(jax.random.key(10 + k), (2, 4, 3), jnp.float64)

        def loss(p, state=state, idx=idx, g=g):
            y, new_state = apply(p, state, idx)
            return jnp.sum(y * g), (y, new_state)

        (_, (y, state)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        params = fnn.update_parameters(params, grads, 0.5)
        opt.zero_grad()
        ty = temb(torch.tensor(np.asarray(idx)).long())
        (ty * torch.tensor(np.asarray(g))).sum().backward()
        opt.step()
        np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(fnn.lookup_weight(params, state), temb.weight.detach().numpy(), atol=1e-12)
    assert bool(jnp.any(state["delta"] != 0))  # the renormalisation did happen
