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
# # 2 · Neural networks with fnn: the Linear module, forward and backward
#
# A re-telling of "Neural Networks with torch7" in fnn. Most neural networks are directed acyclic graphs;
# the simplest are *sequential feed-forward* networks (multilayer perceptrons and convolutional networks
# belong here). fnn builds them, like torch7, with the container `fnn.Sequential`. We put one `Linear` module
# in it, run it forward and backward, and check every number against its analytical expression.

# %%
import jax
import jax.numpy as jnp
import numpy as np

import fnn

jax.config.update("jax_enable_x64", True)  # torch7's DoubleTensors
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## The Sequential container and the Linear module
#
# torch7 built containers by mutation (`model = nn.Sequential(); model:add(nn.Linear(3, 4))`). fnn modules are
# immutable: list the children, or use `add`, which returns a new container.

# %%
model = fnn.Sequential().add(fnn.Linear(3, 4))
print(model)

# %% [markdown]
# `Linear(3, 4)` takes a vector of size 3 and maps it into a 4-dimensional space:
#
# $$\mathbf{y} = W\mathbf{x} + \mathbf{b}, \qquad W \in \mathbb{R}^{4 \times 3},\ \mathbf{b} \in \mathbb{R}^4.$$
#
# (The original tutorial writes $W^{\top}\mathbf{x}$ for a $3 \times 4$ matrix; torch stores `weight` as
# `(out, in)` = $4 \times 3$, so it computes $W\mathbf{x}$.) The model's printout lists no weights because an
# fnn module holds none: `init` creates them, for an input shape (`-1` = any batch size).

# %%
init, apply = model
out_shape, params = init(jax.random.key(0), (-1, 3), jnp.float64)
print("output shape:", out_shape)
print(jax.tree.map(jnp.shape, params))
print(fnn.summary(model, (-1, 3), jnp.float64))

# %% [markdown]
# ## The forward pass
#
# torch7's `model:forward(X)` is `apply(params, X)`.

# %%
X = jax.random.normal(jax.random.key(1), (3,), jnp.float64)
print("X =", X)
Y = apply(params, X)
print("Y =", Y)

# %% [markdown]
# Now replicate it by hand. torch7's `model:get(1).weight` is `params[0]['weight']`: the first child's entry
# of the params tuple (0-based), a dict with torch's names.

# %%
W = params[0]["weight"]
b = params[0]["bias"]
print("W =\n", W)
print("b =", b)
print("W·X + b =", W @ X + b)
assert jnp.allclose(Y, W @ X + b)

# %% [markdown]
# torch7 modules also store their last output (`model:get(1).output`); fnn keeps nothing, the output is
# the value `apply` returned.
#
# ## The backward pass
#
# A backward pass gives the gradients of an error $E$ w.r.t. everything the module depends on:
#
# * **gradBias** $= \frac{\partial E}{\partial \mathbf{b}}$,
# * **gradWeight** $= \frac{\partial E}{\partial W}$,
# * **gradInput** $= \frac{\partial E}{\partial \mathbf{x}}$,
#
# given **gradOutput** $= \frac{\partial E}{\partial \mathbf{y}}$, the error arriving from the layers above.
# (In the Python code they are spelled `grad_output`, `grad_input`, `grads[0]['weight']`, `grads[0]['bias']`.)
#
# torch7 needed `model:zeroGradParameters()` first, because its gradient buffers *accumulate* (garbage or old
# values would spoil the result). `fnn.backward(module, params, input, gradOutput)` returns fresh arrays,
# `(gradInput, gradParams)`, so there is nothing to zero.
#
# The tutorial's gradOutput is a vector of 2s (there is no module above the Linear, so it makes one up):

# %%
grad_output = jnp.full(4, 2.0)
grad_input, grads = fnn.backward(model, params, X, grad_output)  # model:backward(X, gradOutput)
print("gradInput  =", grad_input)
print("gradBias   =", grads[0]["bias"])
print("gradWeight =\n", grads[0]["weight"])

# %% [markdown]
# A gradOutput that comes from a real error: take $E = \lVert \mathbf{s} \rVert^2$ with $\mathbf{s} = W\mathbf{x} +
# \mathbf{b}$ the output. Then
#
# $$\text{gradOutput} = \frac{\partial E}{\partial \mathbf{s}} = 2\mathbf{s}.$$
#
# We use this gradOutput from here on, and check that `fnn.backward` agrees with differentiating $E$ directly.

# %%
s = apply(params, X)
grad_output = 2 * s
grad_input, grads = fnn.backward(model, params, X, grad_output)
print("gradOutput = 2s =", grad_output)

E = lambda p, x: jnp.sum(apply(p, x) ** 2)
de_dparams, de_dx = jax.grad(E, argnums=(0, 1))(params, X)
assert jnp.allclose(grad_input, de_dx)
assert all(jnp.allclose(a, b) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(de_dparams), strict=True))

# %% [markdown]
# ### gradBias
#
# $$\frac{\partial E}{\partial b_i} = \frac{\partial E}{\partial y_i} \frac{\partial y_i}{\partial b_i}
# = \frac{\partial E}{\partial y_i}, \qquad\text{since } \frac{\partial y_i}{\partial b_i} = 1:
# \qquad \text{gradBias} = \text{gradOutput}.$$

# %%
print("gradBias   =", grads[0]["bias"])
print("gradOutput =", grad_output)
assert jnp.allclose(grads[0]["bias"], grad_output)

# %% [markdown]
# ### gradWeight
#
# $y_i = \sum_j W_{ij} x_j + b_i$, so $\frac{\partial E}{\partial W_{ij}} = \frac{\partial E}{\partial y_i}\, x_j$:
# row $i$ is $\frac{\partial E}{\partial y_i}$ times the input. That is an outer product,
#
# $$\frac{\partial E}{\partial W} = \text{gradOutput} \otimes \mathbf{x} =
# \begin{bmatrix}
# \frac{\partial E}{\partial y_1} x_1 & \frac{\partial E}{\partial y_1} x_2 & \frac{\partial E}{\partial y_1} x_3 \\
# \vdots & \vdots & \vdots \\
# \frac{\partial E}{\partial y_4} x_1 & \frac{\partial E}{\partial y_4} x_2 & \frac{\partial E}{\partial y_4} x_3
# \end{bmatrix}.$$
#
# (With the tutorial's gradOutput of all 2s every row was the same, $2\mathbf{x}$.)

# %%
print("first row, gradOutput[0] * X =", grad_output[0] * X)
print("gradWeight =\n", grads[0]["weight"])
print("gradOutput ⊗ X =\n", jnp.outer(grad_output, X))
assert jnp.allclose(grads[0]["weight"], jnp.outer(grad_output, X))

# %% [markdown]
# ### gradInput
#
# $\frac{\partial E}{\partial x_j} = \sum_i \frac{\partial E}{\partial y_i} W_{ij}$: the row vector
# gradOutput times $W$, i.e.
#
# $$\frac{\partial E}{\partial \mathbf{x}} = W^{\top}\,\text{gradOutput} =
# \begin{bmatrix} \frac{\partial E}{\partial y_1} & \cdots & \frac{\partial E}{\partial y_4} \end{bmatrix}
# \begin{bmatrix} w_{11} & w_{12} & w_{13} \\ \vdots & \vdots & \vdots \\ w_{41} & w_{42} & w_{43} \end{bmatrix}.$$

# %%
print("gradInput       =", grad_input)
print("Wᵀ · gradOutput =", W.T @ grad_output)
print("gradOutput · W  =", grad_output.reshape(1, 4) @ W)  # the tutorial's gradOutput:reshape(1,4)*W
assert jnp.allclose(grad_input, W.T @ grad_output)

# %% [markdown]
# ## The same for a batch
#
# Give the module a batch $X \in \mathbb{R}^{N \times 3}$ and it computes $Y = XW^{\top} + \mathbf{b}$ row by
# row. The parameter gradients are then **summed over the batch** (as torch7's `accGradParameters`):
# gradWeight $= \text{gradOutput}^{\top} X$, gradBias $= \sum_n \text{gradOutput}_n$, and gradInput
# $= \text{gradOutput}\, W$.

# %%
Xb = jax.random.normal(jax.random.key(2), (5, 3), jnp.float64)
Sb = apply(params, Xb)
g_in, g = fnn.backward(model, params, Xb, 2 * Sb)
assert jnp.allclose(g[0]["weight"], (2 * Sb).T @ Xb)
assert jnp.allclose(g[0]["bias"], jnp.sum(2 * Sb, axis=0))
assert jnp.allclose(g_in, (2 * Sb) @ W)
print("batch of", Xb.shape[0], "examples: gradWeight =\n", g[0]["weight"])
