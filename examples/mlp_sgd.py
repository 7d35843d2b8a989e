"""A one-hidden-layer MLP trained with getParameters-style flat vectors and plain SGD
(seed 000, section 4), then the same with ``update_parameters``.

The loss decreases every epoch (asserted). Run: ``python examples/mlp_sgd.py``.
"""

import jax
import jax.numpy as jnp

import fnn

jax.config.update("jax_enable_x64", True)
N, F, H = 5, 4, 3
X = jax.random.normal(jax.random.key(287), (N, F), jnp.float64)
y = jax.random.normal(jax.random.key(288), (N,), jnp.float64)

mlp = fnn.Sequential(fnn.Linear(F, H), fnn.Tanh(), fnn.Linear(H, 1))
mse = fnn.MSECriterion()  # sizeAverage: Σ(ŷ - y)² / n; only the element counts must match
_, params = mlp.init(jax.random.key(0), (-1, F), jnp.float64)

# getParameters: one flat vector of every weight, and the way back to the tree.
flat, unflatten = fnn.get_parameters(params)
eta = 0.01


def loss_of_flat(v):
    return mse(mlp.apply(unflatten(v), X), y)


losses = []
for epoch in range(5):
    loss, grad_flat = jax.value_and_grad(loss_of_flat)(flat)  # forward + backward
    flat = flat - eta * grad_flat  # params:add(-eta, gradParams)
    losses.append(float(loss))
    print(f"epoch {epoch + 1}, loss: {float(loss):.10f}")
assert all(b < a for a, b in zip(losses, losses[1:])), "loss must decrease every epoch"

# The same with update_parameters (torch7's mlp:updateParameters(eta)).
params = unflatten(fnn.get_parameters(mlp.init(jax.random.key(0), (-1, F), jnp.float64)[1])[0])
for epoch in range(5):
    preds = mlp.apply(params, X)
    loss = mse(preds, y)
    dloss_dpreds = mse.backward(preds, y)  # the criterion's gradInput
    _, grads = fnn.backward(mlp, params, X, dloss_dpreds)  # mlp:backward(X, dLdpreds)
    params = fnn.update_parameters(params, grads, eta)
    print(f"epoch {epoch + 1}, loss: {float(loss):.10f} (update_parameters)")
    assert abs(float(loss) - losses[epoch]) < 1e-12  # the two loops are the same algorithm
