"""The CS287 torch7 ``nn`` walk-through (seed 000), in fnn.

Modules, batching, containers, printing, and the backward pass, with the tutorial's own
checks asserted. Run: ``python examples/nn_intro.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np

import fnn

jax.config.update("jax_enable_x64", True)  # the tutorial works in DoubleTensors
key = jax.random.key(287)

# 2a. The forward pass: f(x) = x ⊙ w.
x = jnp.arange(1.0, 6.0)
f = fnn.CMul(5)
_, f_params = f.init(key, (5,), jnp.float64)
print("f.weight =", f_params["weight"])
print("f(x)     =", f.apply(f_params, x))

g = fnn.Sum(0)  # torch7's Sum(1): dims are 0-based in fnn
_, g_params = g.init(key, (5,), jnp.float64)
print("g(x)     =", g.apply(g_params, x))  # a 1-element tensor, as in torch7

# 2b. Batching along the first dimension.
X = jnp.broadcast_to(x, (3, 5))
print("f(X)     =\n", f.apply(f_params, X))

# 2c. Containers: h = g ∘ f, and cat = [f(x); g(x)].
h = fnn.Sequential(f, g)
_, h_params = h.init(key, (5,), jnp.float64)
h_params = (f_params, g_params)  # reuse f's weight, as the tutorial's h shares f
print("h(x)     =", h.apply(h_params, x))
cat = fnn.Concat(0, f, g)
print("cat(x)   =", cat.apply((f_params, g_params), x))
print(h)
print("h[0] is f:", h[0] is f)

# 2d. The backward pass: gradInput, gradOutput and the parameter gradients.
grad_out = jax.random.normal(jax.random.key(1), (1,), jnp.float64)
h_grad_in, h_grads = fnn.backward(h, h_params, x, grad_out)
g_grad_in, _ = fnn.backward(g, g_params, f.apply(f_params, x), grad_out)
f_grad_in, f_grads = fnn.backward(f, f_params, x, g_grad_in)

# The tutorial's checks: g.gradInput is gradOut broadcast; f.gradInput = g.gradInput ⊙ f.weight;
# f.gradWeight = g.gradInput ⊙ x.
np.testing.assert_allclose(g_grad_in, jnp.full(5, grad_out[0]))
assert float(jnp.max(jnp.abs(f_grad_in - g_grad_in * f_params["weight"]))) < 1e-10
assert float(jnp.max(jnp.abs(f_grads["weight"] - g_grad_in * x))) < 1e-10
np.testing.assert_allclose(h_grad_in, f_grad_in)
np.testing.assert_allclose(h_grads[0]["weight"], f_grads["weight"])
print("gradInput of h =", h_grad_in)
print("gradWeight of f =", f_grads["weight"])
print("all tutorial checks passed")
