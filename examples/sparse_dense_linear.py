"""The sparse + dense linear model of the CS287 tutorial (seed 000, section 2g).

``W_o x_o + W_d x_d + b``: a LookupTable for the one-hot (sparse) part and a Linear for the
dense part, side by side in a ParallelTable, summed by CAddTable.
Run: ``python examples/sparse_dense_linear.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnn

D_o, D_d, D_h = 5, 3, 2
spAndDenseLinear = fnn.Sequential(  # noqa: N816 (the tutorial's name)
    fnn.ParallelTable(fnn.LookupTable(D_o, D_h), fnn.Linear(D_d, D_h)),
    fnn.CAddTable(),
)
print(spAndDenseLinear)

init, apply = spAndDenseLinear
_, params = init(jax.random.key(287), ((1,), (1, D_d)), (jnp.int32, jnp.float32))
x_o = jnp.array([1])  # index 1 (0-based) = one-hot [0 1 0 0 0]
x_d = jax.random.normal(jax.random.key(1), (1, D_d))
y = apply(params, (x_o, x_d))
lookup, linear = params[0]
expected = lookup["weight"][1] + x_d @ linear["weight"].T + linear["bias"]
np.testing.assert_allclose(y, expected, rtol=1e-6)
print("W_o x_o + W_d x_d + b =", y)

# Fit it to a random linear target over a batch of (index, dense) pairs.
n = 64
idx = jax.random.randint(jax.random.key(2), (n, 1), 0, D_o)
dense = jax.random.normal(jax.random.key(3), (n, 1, D_d))
target = jax.random.normal(jax.random.key(4), (n, 1, D_h))
mse = fnn.MSECriterion()
opt = optax.sgd(0.1)
opt_state = opt.init(params)


@jax.jit
def step(params, opt_state):
    def loss_fn(p):
        pred = jax.vmap(lambda i, d: apply(p, (i, d)))(idx, dense)
        return mse(pred, target)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss


for epoch in range(5):
    params, opt_state, loss = step(params, opt_state)
    print(f"epoch {epoch + 1}, loss: {float(loss):.4f}")
