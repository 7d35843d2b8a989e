"""The seed tutorials' own checks, reproduced exactly (000: CS287 nn intro; 001: Linear)."""

import jax
import jax.numpy as jnp
import numpy as np

import fnn


def test_sparse_and_dense_linear_prints_torch7s_tree_and_computes_wo_xo_plus_wd_xd_plus_b():
    D_o, D_d, D_h = 5, 3, 2
    lookup = fnn.LookupTable(D_o, D_h, dtype=jnp.float64)  # float64 table, as the float64 dense input
    model = fnn.Sequential(fnn.ParallelTable(lookup, fnn.Linear(D_d, D_h)), fnn.CAddTable())
    assert str(model) == (
        "nn.Sequential {\n"
        "  [input -> (1) -> (2) -> output]\n"
        "  (1): nn.ParallelTable {\n"
        "    input\n"
        "      |`-> (1): nn.LookupTable\n"
        "      |`-> (2): nn.Linear(3 -> 2)\n"
        "       ... -> output\n"
        "  }\n"
        "  (2): nn.CAddTable\n"
        "}"
    )
    _, params = model.init(jax.random.key(287), ((1,), (1, D_d)), (jnp.int32, jnp.float64))
    x_o, x_d = jnp.array([1]), jnp.array([[0.6086, 0.0635, -0.0813]])
    (lookup, linear), _ = params
    expected = lookup["weight"][1:2] + x_d @ linear["weight"].T + linear["bias"][None]
    np.testing.assert_allclose(model.apply(params, (x_o, x_d)), expected, rtol=1e-12)


def test_linear_3_4_forward_and_backward_with_grad_output_2s():
    """Seed 001: Y = W X + b; backward with gradOutput = 2s: gradBias = gradOutput,
    gradWeight rows = gradOutput_i · x, gradInput = gradOutputᵀ · W."""
    lin = fnn.Linear(3, 4)
    _, p = lin.init(jax.random.key(0), (3,), jnp.float64)
    x = jnp.array([0.6086, 0.0635, -0.0813])
    s = lin.apply(p, x)
    np.testing.assert_allclose(s, p["weight"] @ x + p["bias"], rtol=1e-12)
    grad_out = 2 * s
    grad_in, grads = fnn.backward(lin, p, x, grad_out)
    np.testing.assert_allclose(grads["bias"], grad_out, rtol=1e-12)
    for i in range(4):
        np.testing.assert_allclose(grads["weight"][i], grad_out[i] * x, rtol=1e-12)
    np.testing.assert_allclose(grad_in, grad_out @ p["weight"], rtol=1e-12)


def test_cmul_sum_backward_checks_of_the_cs287_intro():
    x = jnp.arange(1.0, 6.0)
    f, g = fnn.CMul(5), fnn.Sum(0)
    h = fnn.Sequential(f, g)
    _, params = h.init(jax.random.key(287), (5,), jnp.float64)
    grad_out = jnp.array([1.6834])
    grad_in, grads = fnn.backward(h, params, x, grad_out)
    w = params[0]["weight"]
    g_grad_in, _ = fnn.backward(g, (), w * x, grad_out)
    np.testing.assert_allclose(g_grad_in, jnp.full(5, 1.6834))  # gradOut broadcast
    assert float(jnp.max(jnp.abs(grad_in - g_grad_in * w))) < 1e-10  # f.gradInput = g.gradInput ⊙ f.weight
    np.testing.assert_allclose(grads[0]["weight"], 1.6834 * x, rtol=1e-12)  # gradWeight = gradOut · x
    assert h.apply(params, x).shape == (1,)  # torch7: Sum of a 1-D input is a 1-element tensor
