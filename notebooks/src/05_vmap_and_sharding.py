# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 5 · vmap and sharding: per-example gradients, ensembles, data-parallel training
#
# An fnn model is a pair of pure functions, `init` and `apply`, over a pytree of arrays. JAX's
# transformations therefore apply as they are:
#
# 1. **per-example gradients**: `vmap(grad(loss))` over the examples of a batch;
# 2. **ensembles**: `vmap` over init keys (`fnn.ensemble_init`), trained with one vmapped step;
# 3. **data parallelism**: `fnn.fit(..., mesh=mesh)` on JAX's SPMD engine, here on 8 CPU devices.
#
# JAX reads the number of CPU devices once, when it starts its backend: the flag must be set
# before the first computation (here, before `import jax`). On a machine with accelerators,
# leave it out and build the mesh over `jax.devices()`.

# %%
import os

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import fnn  # noqa: E402

np.set_printoptions(precision=4, suppress=True)
print(jax.device_count(), "devices:", jax.devices()[:2], "...")

# %% [markdown]
# A small problem: 3 classes in 2-D, 512 points (three Gaussian blobs), and a small MLP.

# %%
rng = np.random.default_rng(0)
centres = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
labels = rng.integers(0, 3, 512)
points = centres[labels] + rng.normal(size=(512, 2))
x, y = jnp.asarray(points, jnp.float32), jnp.asarray(labels, jnp.int32)

model = fnn.Sequential(fnn.Linear(2, 16), fnn.Tanh(), fnn.Linear(16, 3), fnn.LogSoftMax())
criterion = fnn.ClassNLLCriterion()
_, params = model.init(jax.random.key(0), (-1, 2))
print(model)

# %% [markdown]
# ## 1. Per-example gradients
#
# The model is batched, so one example is a batch of one (`x[None]`). `vmap` of `grad` over the
# examples gives one gradient per example, each shaped like the params with a leading batch axis.
# Their mean is the gradient of the batch's mean loss.

# %%
def example_loss(p, xi, yi):
    return criterion(model.apply(p, xi[None]), yi[None])


per_example = jax.jit(jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0)))(params, x[:64], y[:64])
batch_grad = jax.grad(lambda p: criterion(model.apply(p, x[:64]), y[:64]))(params)
print({k: v.shape for k, v in per_example[0].items()})
diff = max(float(jnp.max(jnp.abs(jnp.mean(a, 0) - b)))
           for a, b in zip(jax.tree.leaves(per_example), jax.tree.leaves(batch_grad), strict=True))
print(f"max |mean of per-example gradients - batch gradient| = {diff:.1e}")

# %% [markdown]
# What they are good for: the examples that pull hardest on the params (large gradient norm) are
# the badly classified ones; per-example norms are also what gradient clipping per example
# (differentially private SGD) needs.

# %%
norms = jnp.sqrt(sum(jnp.sum(a.reshape(a.shape[0], -1) ** 2, axis=1) for a in jax.tree.leaves(per_example)))
wrong = jnp.argmax(model.apply(params, x[:64]), axis=-1) != y[:64]
print(f"mean gradient norm: misclassified {float(norms[wrong].mean()):.3f}, "
      f"correct {float(norms[~wrong].mean()):.3f}")

# %% [markdown]
# ## 2. An ensemble trained with one vmapped step
#
# `fnn.ensemble_init(model, keys, input_shape)` is `vmap` of `model.init` over the keys: member `i`
# is exactly `model.init(keys[i], ...)`, every param gains a leading axis of size 5. The train step
# is written for one member; `vmap` runs it for all of them at once (one compiled program).

# %%
keys = jax.random.split(jax.random.key(1), 5)
_, members = fnn.ensemble_init(model, keys, (-1, 2))
same = all(bool(jnp.array_equal(a[3], b)) for a, b in
           zip(jax.tree.leaves(members), jax.tree.leaves(model.init(keys[3], (-1, 2))[1]), strict=True))
print("member 3 == init(keys[3]):", same, "| weight of layer 1:", members[0]["weight"].shape)

optimizer = optax.adam(0.05)


def member_step(p, opt_state, xb, yb):
    loss, g = jax.value_and_grad(lambda q: criterion(model.apply(q, xb), yb))(p)
    updates, opt_state = optimizer.update(g, opt_state, p)
    return optax.apply_updates(p, updates), opt_state, loss


ensemble_step = jax.jit(jax.vmap(member_step, in_axes=(0, 0, None, None)))  # every member sees the batch
opt_state = jax.vmap(optimizer.init)(members)
for i in range(60):
    idx = jax.random.permutation(jax.random.fold_in(jax.random.key(2), i), 512)[:64]
    members, opt_state, losses = ensemble_step(members, opt_state, x[idx], y[idx])
print("last loss of each member:", np.asarray(losses))

# %% [markdown]
# The ensemble's prediction averages the members' probabilities (`vmap` of `apply` over the
# params, the input shared).

# %%
log_probs = jax.vmap(model.apply, in_axes=(0, None))(members, x)  # (5, 512, 3)
member_acc = jnp.mean(jnp.argmax(log_probs, -1) == y, axis=1)
ensemble_acc = jnp.mean(jnp.argmax(jnp.mean(jnp.exp(log_probs), 0), -1) == y)
print("member accuracies:", np.asarray(member_acc), f"| ensemble: {float(ensemble_acc):.4f}")

# %% [markdown]
# ## 3. Data-parallel `fit` on 8 devices
#
# A `jax.sharding.Mesh` names the devices; `fit(..., mesh=mesh, data_axis="data")` replicates
# params, state and optimizer state on every device, splits each batch of 64 into 8 shards of
# 8 examples, and lets XLA partition the one compiled step: each device runs forward and
# backward on its shard and one all-reduce sums the gradients. The numbers are those of
# `fit` on one device (up to the order of float sums). `jax.make_mesh` makes Explicit axes by
# default (the layout is part of each array's type); Auto axes work the same.

# %%
mesh = jax.make_mesh((8,), ("data",))
print(mesh)
kwargs = dict(epochs=3, batch_size=64, rng=jax.random.key(3), progress=False)
one = fnn.fit(model, criterion, optax.sgd(0.1), (x, y), **kwargs)
eight = fnn.fit(model, criterion, optax.sgd(0.1), (x, y), mesh=mesh, data_axis="data", **kwargs)
diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
           zip(jax.tree.leaves(one.params), jax.tree.leaves(eight.params), strict=True))
print("loss per epoch, 1 device: ", one.history["loss"])
print("loss per epoch, 8 devices:", eight.history["loss"])
print(f"max |params difference| = {diff:.1e}; params live on {eight.params[0]['weight'].sharding}")

# %% [markdown]
# The pieces `fit` uses are public: `fnn.replicate(tree, mesh)` and `fnn.shard_batch(tree, mesh,
# axis)` place pytrees, and `fnn.make_train_step(..., mesh=mesh)` is the jitted step for a loop
# of your own. A batch sharded over the axis shows its layout in its type:

# %%
xb, yb = fnn.shard_batch((x[:64], y[:64]), mesh, "data")
print(jax.typeof(xb), xb.sharding.spec)
step = fnn.make_train_step(model, criterion, optax.sgd(0.1), mesh=mesh, donate=False)
_, params, state = model.stateful.init(jax.random.key(0), (-1, 2))  # state: () leaves, this model has none
p, s = fnn.replicate((params, state), mesh)
new_params, _, _, loss = step(p, s, optax.sgd(0.1).init(p), xb, yb, jax.random.key(4))
print(f"one step on 8 devices: loss {float(loss):.4f}")

# %% [markdown]
# With BatchNorm, `fit(mesh=)` computes the statistics over the whole global batch with no
# change to the model (jit partitions the one program). Only under `shard_map`, where each
# device runs the program on its shard, does the layer need `axis_name` (see the README,
# "More than one device").
