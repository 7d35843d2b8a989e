"""Catalogue table layers (issue 15): MixtureTable, ZipTable, ZipTableOneToMany, CAddTensorTable,
Index, MaskedSelect, MM, MV. PyTorch parity (forward + gradients, float64 1e-10) where torch has
the op; numpy transcriptions of the Lua code otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from tests.layers._parity import TOL, assert_parity

R = np.random.default_rng(0)


def _x(*s):
    return R.standard_normal(s)


def _mixture_lua(g, experts, dim=None):
    """MixtureTable.lua: gater viewed with B at dim 1 (if batched) and n at `dim`, times experts, summed."""
    batched = g.ndim == 2
    if isinstance(experts, tuple):
        out = np.zeros_like(experts[0])
        for i, e in enumerate(experts):
            gate = g[:, i].reshape((-1,) + (1,) * (e.ndim - 1)) if batched else g[i]
            out = out + gate * e
        return out
    dim = (1 if batched else 0) if dim is None else dim
    size = [1] * experts.ndim
    size[dim] = g.shape[-1]
    if batched:
        size[0] = g.shape[0]
    return (g.reshape(size) * experts).sum(axis=dim)


@pytest.mark.parametrize("g, experts, dim", [
    (_x(3), (_x(2, 2), _x(2, 2), _x(2, 2)), None),
    (_x(2, 3), (_x(2, 4), _x(2, 4), _x(2, 4)), None),
    (_x(2, 3), _x(2, 3, 4), None),
    (_x(3), _x(3, 4), None),
    (_x(2, 3), _x(2, 4, 3), 2),
])
def test_mixture_table_matches_the_lua_code(g, experts, dim):
    x = (g, experts)
    y = fnn.MixtureTable(dim).apply((), jax.tree.map(jnp.asarray, x))
    np.testing.assert_allclose(y, _mixture_lua(g, experts, dim), rtol=TOL, atol=TOL)
    # the gater's gradient is <expert_i, gradOutput> (summed over the trailing dims)
    gout = _x(*np.shape(y))
    _, pull = jax.vjp(lambda v: fnn.MixtureTable(dim).apply((), v), jax.tree.map(jnp.asarray, x))
    dg = np.asarray(pull(jnp.asarray(gout))[0][0])
    eps = 1e-6
    for i in np.ndindex(g.shape):
        gp, gm = g.copy(), g.copy()
        gp[i] += eps
        gm[i] -= eps
        num = np.sum((_mixture_lua(gp, experts, dim) - _mixture_lua(gm, experts, dim)) * gout) / (2 * eps)
        assert dg[i] == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_mixture_table_errors_name_it():
    with pytest.raises(fnn.ShapeError, match="nn.MixtureTable expects one gater output per expert"):
        fnn.MixtureTable().apply((), (jnp.ones(3), (jnp.ones(2), jnp.ones(2))))
    with pytest.raises(fnn.ShapeError, match="nn.MixtureTable expects a table of 2 inputs"):
        fnn.MixtureTable().apply((), (jnp.ones(3),))
    with pytest.raises(fnn.ShapeError, match="nn.MixtureTable expects a 1-D or 2-D gater"):
        fnn.MixtureTable().apply((), (jnp.ones((1, 1, 3)), jnp.ones((1, 3))))


def test_zip_tables_and_cadd_tensor_table():
    a1, a2, b1, b2 = (jnp.asarray(_x(2)) for _ in range(4))
    out = fnn.ZipTable().apply((), ((a1, a2), (b1, b2)))
    assert out[0][0] is a1 and out[0][1] is b1 and out[1][0] is a2 and out[1][1] is b2
    e = jnp.asarray(_x(2))
    pairs = fnn.ZipTableOneToMany().apply((), (e, (a1, a2, b1)))
    assert len(pairs) == 3 and all(p[0] is e for p in pairs) and pairs[2][1] is b1
    # Lua: gradInput[1] = sum of the gradients of the copies of e
    ge = jax.grad(lambda v: sum(jnp.sum(p[0] * k) for k, p in
                                enumerate(fnn.ZipTableOneToMany().apply((), (v, (a1, a2, b1))), 1)))(e)
    np.testing.assert_allclose(ge, 6 * np.ones(2))
    out = fnn.CAddTensorTable().apply((), (e, (a1, a2)))
    np.testing.assert_allclose(out[1], np.asarray(a2) + np.asarray(e))
    with pytest.raises(fnn.ShapeError, match="nn.ZipTable expects tables of one length"):
        fnn.ZipTable().apply((), ((a1, a2), (b1,)))
    with pytest.raises(fnn.ShapeError, match="nn.ZipTableOneToMany expects a table of 2 inputs"):
        fnn.ZipTableOneToMany().apply((), (e, (a1,), (a2,)))
    with pytest.raises(fnn.ShapeError, match="nn.CAddTensorTable expects table entries shaped like"):
        fnn.CAddTensorTable().apply((), (e, (jnp.ones(3),)))


def test_index_matches_torch_index_select(torch):
    x, idx = _x(3, 4), np.array([3, 0, 3])
    assert_parity(torch, lambda v: fnn.Index(1).apply((), (v, jnp.asarray(idx))),
                  lambda v: torch.index_select(v, 1, torch.tensor(idx)), x)
    assert_parity(torch, lambda v: fnn.Index(-2).apply((), (v, jnp.asarray(idx[:2] % 3))),
                  lambda v: torch.index_select(v, 0, torch.tensor(idx[:2] % 3)), x)


def test_index_errors_name_it():
    x = jnp.ones((3, 4))
    with pytest.raises(fnn.IndexRangeError, match=r"nn.Index\(1\) index out of range \[0, 4\): got 4"):
        fnn.Index(1).apply((), (x, jnp.array([4])))
    with pytest.raises(fnn.IndexRangeError, match="got -1"):
        fnn.Index(0).apply((), (x, jnp.array([-1])))
    with pytest.raises(fnn.DTypeError, match=r"nn.Index\(0\) expects integer indices"):
        fnn.Index(0).apply((), (x, jnp.array([1.0])))
    with pytest.raises(fnn.ShapeError, match=r"nn.Index\(2\)"):
        fnn.Index(2).apply((), (x, jnp.array([1])))
    # under jit the value is unknown: the bad row is NaN, not a silent read
    y = jax.jit(lambda i: fnn.Index(0).apply((), (x, i)))(jnp.array([5]))
    assert np.isnan(np.asarray(y)).all()


def test_masked_select_matches_torch(torch):
    x = _x(3, 4)
    mask = R.random((3, 4)) > 0.5
    assert_parity(torch, lambda v: fnn.MaskedSelect().apply((), (v, jnp.asarray(mask))),
                  lambda v: torch.masked_select(v, torch.tensor(mask)), x)
    n = int(mask.sum())
    padded = jax.jit(lambda v: fnn.MaskedSelect(n + 2, -1.0).apply((), (v, jnp.asarray(mask))))(jnp.asarray(x))
    np.testing.assert_array_equal(padded, np.concatenate([x[mask], [-1.0, -1.0]]))
    with pytest.raises(fnn.ShapeError, match="nn.MaskedSelect has an output length that depends"):
        jax.jit(lambda v: fnn.MaskedSelect().apply((), (v, jnp.asarray(mask))))(jnp.asarray(x))
    with pytest.raises(fnn.ShapeError, match="nn.MaskedSelect expects x and mask of one shape"):
        fnn.MaskedSelect().apply((), (jnp.asarray(x), jnp.ones((2, 2), bool)))


@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_mm_matches_torch(torch, ta, tb):
    a2, b2 = _x(*((4, 3) if ta else (3, 4))), _x(*((2, 4) if tb else (4, 2)))
    tt = (lambda m: m.transpose(-1, -2))

    def ref(a, b):
        return torch.matmul(tt(a) if ta else a, tt(b) if tb else b)

    assert_parity(torch, lambda v: fnn.MM(ta, tb).apply((), v), ref, (a2, b2))
    a3, b3 = np.stack([a2, a2 + 1]), np.stack([b2, b2 - 1])
    assert_parity(torch, lambda v: fnn.MM(ta, tb).apply((), v), ref, (a3, b3))


@pytest.mark.parametrize("trans", [False, True])
def test_mv_matches_torch(torch, trans):
    m, v = _x(3, 4), _x(3 if trans else 4)
    assert_parity(torch, lambda x: fnn.MV(trans).apply((), x), lambda a, b: torch.mv(a.t() if trans else a, b),
                  (m, v))
    mb, vb = np.stack([m, -m]), np.stack([v, 2 * v])
    assert_parity(torch, lambda x: fnn.MV(trans).apply((), x),
                  lambda a, b: torch.bmm(a.transpose(1, 2) if trans else a, b[:, :, None])[:, :, 0], (mb, vb))


def test_mm_mv_errors_name_them():
    with pytest.raises(fnn.ShapeError, match="nn.MM matrix sizes do not match"):
        fnn.MM().apply((), (jnp.ones((2, 3)), jnp.ones((2, 3))))
    with pytest.raises(fnn.ShapeError, match="nn.MM expects two 2-D matrices or two 3-D batches"):
        fnn.MM().apply((), (jnp.ones((2, 3)), jnp.ones((1, 3, 2))))
    with pytest.raises(fnn.ShapeError, match="nn.MM expects a table of 2 inputs"):
        fnn.MM().apply((), (jnp.ones((2, 3)),))
    with pytest.raises(fnn.ShapeError, match="nn.MV matrix row count and vector length do not match"):
        fnn.MV().apply((), (jnp.ones((2, 3)), jnp.ones(2)))
    with pytest.raises(fnn.ShapeError, match="nn.MV expects batches of one size"):
        fnn.MV().apply((), (jnp.ones((2, 2, 3)), jnp.ones((3, 3))))


def test_cosine_similarity_matches_torch(torch):
    a, b = _x(3, 4), _x(3, 4)
    assert_parity(torch, lambda v: fnn.CosineSimilarity().apply((), v),
                  lambda x1, x2: torch.nn.CosineSimilarity()(x1, x2), (a, b))
    assert_parity(torch, lambda v: fnn.CosineSimilarity(0, 1e-6).apply((), v),
                  lambda x1, x2: torch.nn.CosineSimilarity(0, 1e-6)(x1, x2), (a, b))
    with pytest.raises(fnn.ShapeError, match=r"nn.CosineSimilarity\(dim=1\) expects x1 and x2 of one shape"):
        fnn.CosineSimilarity().apply((), (jnp.ones((2, 3)), jnp.ones((2, 2))))
