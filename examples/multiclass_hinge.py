"""Exercise of the CS287 tutorial (seed 000, section 6): a multi-class hinge loss,
written as a user-defined criterion — a plain function; its gradient is ``jax.grad``.

L(ŷ, c) = max(0, 1 - (ŷ_c - ŷ_c')), with c' = argmax_{i ≠ c} ŷ_i, averaged over the batch.
torch7's MultiMarginCriterion differs: it sums the hinge over *every* wrong class and
divides by the number of classes. Run: ``python examples/multiclass_hinge.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np

import fnn

jax.config.update("jax_enable_x64", True)


def multiclass_hinge(scores: jax.Array, target: jax.Array) -> jax.Array:
    """Scores (B, C) or (C,), 0-based int targets (B,) or (); the mean hinge on the best wrong class."""
    scores, target = jnp.atleast_2d(scores), jnp.atleast_1d(target)
    correct = jnp.take_along_axis(scores, target[:, None], axis=1)[:, 0]
    wrong = jnp.where(jax.nn.one_hot(target, scores.shape[1], dtype=bool), -jnp.inf, scores)
    return jnp.mean(jnp.maximum(0.0, 1.0 - (correct - jnp.max(wrong, axis=1))))


scores = jnp.array([[2.0, 1.5, -1.0], [0.1, 0.2, 3.0]])
target = jnp.array([0, 1])
# Example 1: 1 - (2.0 - 1.5) = 0.5; example 2: 1 - (0.2 - 3.0) = 3.8; mean 2.15.
loss = multiclass_hinge(scores, target)
np.testing.assert_allclose(loss, 2.15)
grad = jax.grad(multiclass_hinge)(scores, target)
np.testing.assert_allclose(grad, [[-0.5, 0.5, 0.0], [0.0, -0.5, 0.5]])
print("hinge loss:", float(loss))
print("gradient:\n", grad)

# Compare with torch7's MultiMarginCriterion on the same scores.
mm = fnn.MultiMarginCriterion()
print("MultiMarginCriterion:", float(mm(scores, target)))  # ((0.5 + 0) / 3 + (3.8 + 0.9) / 3) / 2

# Use it to train a linear classifier on three Gaussian blobs.
key = jax.random.key(0)
centers = jnp.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
labels = jnp.repeat(jnp.arange(3), 50)
xs = centers[labels] + 0.7 * jax.random.normal(key, (150, 2), jnp.float64)
model = fnn.Linear(2, 3)
_, params = model.init(jax.random.key(1), (-1, 2), jnp.float64)
step = jax.jit(jax.value_and_grad(lambda p: multiclass_hinge(model.apply(p, xs), labels)))
for _ in range(50):
    loss, grads = step(params)
    params = fnn.update_parameters(params, grads, 0.1)
acc = float(jnp.mean(jnp.argmax(model.apply(params, xs), axis=1) == labels))
print(f"after 50 epochs: loss {float(loss):.4f}, training accuracy {acc:.2%}")
assert acc > 0.9
