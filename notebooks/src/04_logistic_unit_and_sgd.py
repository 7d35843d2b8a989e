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
# # 4 · The logistic unit, back-propagation step by step, and training with SGD
#
# A re-telling of "Practical 2.2 — an overview of torch's `nn` package" in fnn:
#
# 1. Jacobian notation;
# 2. a logistic unit (`Linear` + `Sigmoid`), forward step by step;
# 3. back-propagation step by step: `MSECriterion`, `updateGradInput`, `accGradParameters`;
# 4. the same with `Sequential`, a criterion, and `updateParameters`;
# 5. training: stochastic vs mini-batch gradient descent, torch7's `StochasticGradient`, and regression
#    with a 3-layer network.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import fnn
from fnn.train import StochasticGradient, fit

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Notation: the Jacobian
#
# For $\mathbf{y} = f(\mathbf{x})$ with $\mathbf{x} \in \mathbb{R}^n$, $\mathbf{y} \in \mathbb{R}^m$, the Jacobian
# collects every partial derivative (numerator layout: one row per output),
#
# $$\frac{\partial \mathbf{y}}{\partial \mathbf{x}} =
# \begin{bmatrix}
# \frac{\partial y_1}{\partial x_1} & \cdots & \frac{\partial y_1}{\partial x_n} \\
# \vdots & \ddots & \vdots \\
# \frac{\partial y_m}{\partial x_1} & \cdots & \frac{\partial y_m}{\partial x_n}
# \end{bmatrix} \in \mathbb{R}^{m \times n}.$$
#
# For a scalar error $E$ the chain rule through $\mathbf{y}$ reads
# $\frac{\partial E}{\partial \mathbf{x}} = \frac{\partial E}{\partial \mathbf{y}} \frac{\partial \mathbf{y}}{\partial
# \mathbf{x}}$ (a row vector times the Jacobian): a **vector-Jacobian product**. That is all a module's backward
# computes, and it never builds the Jacobian. `jax.jacobian` builds it anyway, so we can look: a `Linear`'s
# Jacobian w.r.t. its input is its weight $W$, a `Sigmoid`'s is
# $\mathrm{diag}(\sigma(\mathbf{x})(1 - \sigma(\mathbf{x})))$.

# %%
lin = fnn.Linear(3, 2)
_, lp = lin.init(jax.random.key(0), (3,))
x3 = jnp.array([0.5, -1.0, 2.0])
J = jax.jacobian(lambda x: lin.apply(lp, x))(x3)
print("J (2x3) =\n", J)
assert jnp.allclose(J, lp["weight"])

sig = fnn.Sigmoid()
Js = jax.jacobian(lambda x: sig.apply((), x))(x3)
s3 = jax.nn.sigmoid(x3)
assert jnp.allclose(Js, jnp.diag(s3 * (1 - s3)))
print("Sigmoid Jacobian =\n", Js)

# %% [markdown]
# ## 2. A logistic unit, forward step by step
#
# A logistic unit is a linear map followed by the logistic sigmoid,
# $\hat y = \sigma(\mathbf{w}^{\top}\mathbf{x} + b)$, $\sigma(z) = 1 / (1 + e^{-z})$. With two inputs:
# `Linear(2, 1)` then `Sigmoid()`. The weight has torch's layout `(out, in)` = `(1, 2)`.

# %%
linear = fnn.Linear(2, 1)
sigmoid = fnn.Sigmoid()
_, p = linear.init(jax.random.key(1), (2,))
print("weight =", p["weight"], " bias =", p["bias"])

x = jnp.array([0.8, -0.3])
z = linear.apply(p, x)  # linear:forward(x)
a = sigmoid.apply((), z)  # sigmoid:forward(z)
print("z = w·x + b =", z, " a = σ(z) =", a)
assert jnp.allclose(z, p["weight"] @ x + p["bias"])
assert jnp.allclose(a, 1 / (1 + jnp.exp(-z)))

# %% [markdown]
# ## 3. Back-propagation step by step
#
# **The loss.** `MSECriterion` with `sizeAverage` (the default) is $E = \frac{1}{n}\sum_i (a_i - y_i)^2$; its
# backward (torch7's `updateGradInput(input, target)`) is $\frac{\partial E}{\partial a} = \frac{2}{n}(a - y)$.
# With `size_average=False` the $\frac1n$ goes.

# %%
mse = fnn.MSECriterion()
y = jnp.array([1.0])  # the target
E = mse(a, y)  # mse:forward(a, y)
de_da = mse.backward(a, y)  # mse:updateGradInput(a, y)
print("E =", E, " dE/da =", de_da)
assert jnp.allclose(de_da, 2 * (a - y) / a.size)
print("sizeAverage=false on 2 outputs:", fnn.MSECriterion(size_average=False)(jnp.array([0.5, 0.2]), jnp.zeros(2)))

# %% [markdown]
# **`updateGradInput(input, gradOutput)`** is the vector-Jacobian product w.r.t. the module's *input*, and
# **`accGradParameters(input, gradOutput)`** the one w.r.t. its *parameters*. In JAX both are `jax.vjp`: of the
# forward as a function of the input, or as a function of the params. Through the sigmoid,
# $\frac{\partial E}{\partial z} = \frac{\partial E}{\partial a}\,\sigma(z)(1 - \sigma(z))$:

# %%
_, sig_vjp = jax.vjp(lambda z: sigmoid.apply((), z), z)
(de_dz,) = sig_vjp(de_da)  # sigmoid:updateGradInput(z, de_da)
print("dE/dz =", de_dz)
assert jnp.allclose(de_dz, de_da * a * (1 - a))

# %% [markdown]
# Through the linear layer: $\frac{\partial E}{\partial \mathbf{x}} = W^{\top}\delta$ (gradInput),
# $\frac{\partial E}{\partial W} = \delta\,\mathbf{x}^{\top}$ (gradWeight) and $\frac{\partial E}{\partial b} =
# \delta$ (gradBias), where $\delta = \frac{\partial E}{\partial z}$.

# %%
_, vjp_input = jax.vjp(lambda x: linear.apply(p, x), x)
(de_dx,) = vjp_input(de_dz)  # linear:updateGradInput(x, de_dz)
_, vjp_params = jax.vjp(lambda p: linear.apply(p, x), p)
(de_dp,) = vjp_params(de_dz)  # linear:accGradParameters(x, de_dz)
print("gradInput  =", de_dx)
print("gradWeight =", de_dp["weight"], " gradBias =", de_dp["bias"])
assert jnp.allclose(de_dx, p["weight"].T @ de_dz)
assert jnp.allclose(de_dp["weight"], jnp.outer(de_dz, x)) and jnp.allclose(de_dp["bias"], de_dz)

# fnn.backward does both at once (torch7's backward = updateGradInput + accGradParameters)
gi, gp = fnn.backward(linear, p, x, de_dz)
assert jnp.allclose(gi, de_dx) and jnp.allclose(gp["weight"], de_dp["weight"])

# %% [markdown]
# torch7's `accGradParameters` *added* into `gradWeight` (hence `zeroGradParameters()` before each step).
# JAX returns fresh gradients: accumulating, if you want it, is an explicit `jax.tree.map(jnp.add, ...)`.
#
# ## 4. The same with `Sequential`
#
# `Sequential` chains the two modules; `net[0]` is the linear layer (torch7's `net:get(1)`) and `params[0]` its
# parameters. The whole backward is one call, and it agrees with the pieces above. `update_parameters(params,
# grads, eta)` is torch7's `net:updateParameters(eta)`: $\theta \leftarrow \theta - \eta\,\nabla_\theta E$.

# %%
net = fnn.Sequential(fnn.Linear(2, 1), fnn.Sigmoid())
print(net)
params = (p, ())  # reuse the weights from above: (linear's dict, sigmoid's nothing)
print(net[0], "->", params[0])

out = net.apply(params, x)  # net:forward(x)
E = mse(out, y)  # mse:forward(out, y)
grad_criterion = mse.backward(out, y)  # mse:backward(out, y)
grad_in, grads = fnn.backward(net, params, x, grad_criterion)  # net:backward(x, gradCriterion)
assert jnp.allclose(grad_in, de_dx) and jnp.allclose(grads[0]["weight"], de_dp["weight"])

eta = 0.5
params = fnn.update_parameters(params, grads, eta)  # net:updateParameters(eta)
print(f"E before: {float(E):.5f}, after one update: {float(mse(net.apply(params, x), y)):.5f}")

# %% [markdown]
# ## 5. Training a network
#
# A data set: two Gaussian clouds in the plane, labels 0 and 1, for the logistic unit to separate.

# %%
n = 200
k1, k2 = jax.random.split(jax.random.key(2))
labels = jax.random.bernoulli(k1, 0.5, (n,)).astype(jnp.float32)
centres = jnp.where(labels[:, None] > 0, jnp.array([1.0, 1.0]), jnp.array([-1.0, -1.0]))
X = centres + 0.8 * jax.random.normal(k2, (n, 2))
Y = labels[:, None]  # (n, 1), like the unit's output

fig, ax = plt.subplots(figsize=(4, 4))
ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="coolwarm", s=12)
ax.set_title("two classes")
plt.show()


# %% [markdown]
# **Stochastic gradient descent (SGD)** updates after every single example,
# $\theta \leftarrow \theta - \eta \nabla_\theta E(\mathbf{x}_i, y_i)$: many cheap, noisy steps per epoch.
# **(Mini-)batch gradient descent** averages the gradient over $B$ examples (all $n$ for full-batch GD) and
# updates once per batch: fewer, smoother steps. `fnn.train.fit` does both: `batch_size=1` is SGD.
# After every epoch we record the loss on the whole data set, with the same start and learning rate for each.

# %%
def full_loss(params):
    return float(mse(net.apply(params, X), Y))


_, params0 = net.init(jax.random.key(3), (-1, 2))
curves = {}
for name, batch_size in (("SGD (batch 1)", 1), ("mini-batch (batch 20)", 20), ("full batch (200)", n)):
    curve = [full_loss(params0)]
    fit(net, mse, optax.sgd(0.1), (X, Y), epochs=30, batch_size=batch_size, rng=jax.random.key(4),
        params=params0, metrics={}, progress=False,
        on_epoch=lambda ts, logs, curve=curve: curve.append(full_loss(ts.params)))
    curves[name] = curve
    print(f"{name:22s} {n // batch_size:4d} updates per epoch, final loss {curve[-1]:.4f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for (name, curve), batch_size in zip(curves.items(), (1, 20, n), strict=True):
    ax1.plot(curve, label=name)
    updates = np.arange(1, len(curve)) * (n // batch_size)
    ax2.plot(updates, curve[1:], label=name)
ax1.set_xlabel("epoch")
ax1.set_ylabel("MSE on the whole data set")
ax1.set_yscale("log")
ax1.legend()
ax2.set_xlabel("parameter updates")
ax2.set_xscale("log")
fig.tight_layout()
plt.show()

# %% [markdown]
# Per epoch (left), SGD makes the most progress: 200 updates against 1. Per update (right), the averaged
# gradients make better steps, and each batched step costs about as much as one per-example step on vector
# hardware. Mini-batches are the usual compromise.
#
# **torch7's `nn.StochasticGradient(net, criterion)`** is in `fnn.train`: per-example SGD with torch7's fields
# (`learning_rate`, `learning_rate_decay`, `max_iteration`, `shuffle_indices`, `verbose`) and its printout.
# `trainer.train(dataset)` takes a `Dataset` or an `(inputs, targets)` pair and returns the final training
# state.

# %%
trainer = StochasticGradient(net, mse)
trainer.learning_rate = 0.1
trainer.max_iteration = 5
ts = trainer.train((X, Y), rng=jax.random.key(4), params=params0)
acc = float(jnp.mean((net.apply(ts.params, X) > 0.5) == (Y > 0.5)))
print(f"training accuracy of the logistic unit: {acc:.1%}")

# %% [markdown]
# ## Regression with a 3-layer network
#
# A network with two hidden layers of `Tanh` units fits a noisy 1-D function (after the practical's
# *Machine learning with Torch* regression example): $y = \sin(3x) + 0.3x^2 + \varepsilon$. The loss is the
# MSE; optimizer Adam, mini-batches of 32.

# %%
kx, ke = jax.random.split(jax.random.key(5))
xr = jnp.sort(jax.random.uniform(kx, (256, 1), minval=-2.0, maxval=2.0), axis=0)
yr = jnp.sin(3 * xr) + 0.3 * xr**2 + 0.1 * jax.random.normal(ke, xr.shape)

mlp = fnn.Sequential(fnn.Linear(1, 32), fnn.Tanh(), fnn.Linear(32, 32), fnn.Tanh(), fnn.Linear(32, 1))
print(mlp)
ts = fit(mlp, fnn.MSECriterion(), optax.adam(0.01), (xr, yr), epochs=200, batch_size=32,
         rng=jax.random.key(6), metrics={}, progress=False)
print(f"training MSE after {int(ts.epoch)} epochs ({int(ts.step)} steps): {ts.history['loss'][-1]:.4f}")

grid = jnp.linspace(-2, 2, 200)[:, None]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.scatter(xr[:, 0], yr[:, 0], s=6, alpha=0.5, label="data")
ax1.plot(grid[:, 0], mlp.apply(ts.params, grid)[:, 0], "r", label="network")
ax1.plot(grid[:, 0], jnp.sin(3 * grid[:, 0]) + 0.3 * grid[:, 0] ** 2, "k--", lw=1, label="true function")
ax1.legend()
ax2.plot(ts.history["loss"])
ax2.set_xlabel("epoch")
ax2.set_ylabel("training MSE")
ax2.set_yscale("log")
fig.tight_layout()
plt.show()
