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
# # 1 · Modules and criteria: torch7's `nn`, re-told in fnn
#
# This notebook follows the Harvard CS287 introduction to torch7's `nn` package section by section,
# with every torch7 call translated to **fnn**: torch7's `nn` as pure functions on JAX.
#
# **What does `nn` buy us?** We declare a network's architecture; its forward *and* backward passes
# come for free, so we never hand-code a gradient. Networks are built from two kinds of objects:
#
# * **Modules** (recursively) define a transformation from an input to an output: think of them as functions.
# * **Criteria** compute a loss from an input (usually a module's output) and a target.
#
# The one big difference: a torch7 module is a *stateful object* (it stores its weights, its last
# `output`, its `gradInput` and accumulated `gradWeight`). An fnn module is a small frozen object that
# unpacks into **two pure functions**:
#
# ```python
# init, apply = module
# out_shape, params = init(rng, input_shape)   # -1 marks an unknown batch size
# y = apply(params, x)
# ```
#
# Parameters live in a separate pytree (dicts with torch's names: `weight`, `bias`); outputs and gradients
# are return values, never fields. Dimensions and class indices are **0-based** (torch7 was 1-based Lua).

# %%
import jax
import jax.numpy as jnp
import numpy as np

import fnn

jax.config.update("jax_enable_x64", True)  # the tutorial works in DoubleTensors
np.set_printoptions(precision=4, suppress=True)
key = jax.random.key(287)  # torch.manualSeed(287)

# %% [markdown]
# ## 2. Modules
#
# `fnn.CMul(size)` creates a module computing $f: \mathbb{R}^{size} \to \mathbb{R}^{size}$,
# $f(\mathbf{x}) = \mathbf{x} \odot \mathbf{w}$, where $\odot$ is elementwise multiplication and $\mathbf{w}$
# are the parameters, initialised to something reasonable (torch7's $U(\pm 1/\sqrt{size})$).
#
# ### 2a. The forward pass
#
# torch7 initialises the weights inside the constructor; fnn does it in `init`, given a PRNG key, the input
# shape and (here) the dtype. `apply(params, x)` is torch7's `f:forward(x)`.

# %%
x = jnp.arange(1.0, 6.0)  # torch.range(1, 5)

f = fnn.CMul(5)
init, apply = f  # a module is a pair of pure functions
out_shape, f_params = init(key, x.shape, jnp.float64)
print("f.weight =", f_params["weight"])
print("f(x)     =", apply(f_params, x))

# %% [markdown]
# torch7 modules also keep their last output in `f.output`. fnn keeps nothing: the output is the return
# value, and calling `apply` twice with the same arguments gives the same answer.
#
# Another module: `fnn.Sum(dim)` sums over one dimension. torch7's `nn.Sum(1)` is `fnn.Sum(0)`: dims are
# 0-based. As in torch7, summing a vector gives a 1-element tensor.

# %%
g = fnn.Sum(0)  # sum over dimension 0 (torch7: nn.Sum(1))
_, g_params = g.init(key, x.shape, jnp.float64)
print("g params:", g_params)  # a layer without parameters holds ()
print("g(x)    :", g.apply(g_params, x))

# %% [markdown]
# ### 2b. Batching
#
# Most modules accept a batch along the first dimension: a module that expects $x \in \mathbb{R}^{size}$
# also takes $X \in \mathbb{R}^{N \times size}$ and applies itself to each row. Batch whenever you can: it is
# much faster. In fnn the batched call always equals `jax.vmap` of the one-example call.

# %%
X = jnp.broadcast_to(x, (3, 5))  # x:view(1, 5):expand(3, 5), N = 3
print(f.apply(f_params, X))
assert jnp.allclose(f.apply(f_params, X), jax.vmap(lambda xi: f.apply(f_params, xi))(X))

# %% [markdown]
# ### 2c. Container modules
#
# Containers combine modules. `fnn.Sequential(f, g)` computes $g(f(\mathbf{x}))$. A container's params are
# a tuple with one entry per child, in child order, so we can hand it `f`'s weights to make `h` share them,
# as the tutorial's `h` contains the very same `f`.

# %%
h = fnn.Sequential(f, g)
_, fresh = h.init(key, x.shape, jnp.float64)
print("params structure:", jax.tree.map(jnp.shape, fresh))

h_params = (f_params, g_params)  # reuse f's weight
print("h(x) =", h.apply(h_params, x))  # sum_i x_i * w_i
assert jnp.allclose(h.apply(h_params, x), jnp.sum(x * f_params["weight"]))

# %% [markdown]
# `fnn.Concat(dim, ...)` applies each child to the same input and concatenates the outputs along `dim`
# (torch7's `nn.Concat(1)` is `fnn.Concat(0)`).

# %%
cat = fnn.Concat(0, f, g)
print(cat.apply((f_params, g_params), x))

# %% [markdown]
# Printing a module shows torch7's format. torch7's `:add` mutated the container; fnn's `add` returns a new
# one, so the tutorial's `nn.Sequential():add(f):add(g)` still reads the same.

# %%
print(h)
print(fnn.Sequential().add(f).add(g))
print(cat)

# %% [markdown]
# Children are reached by indexing (torch7's `h:get(1)` / `h.modules[1]` is `h[0]`), and their parameters
# by indexing the params tuple the same way: `h_params[0]['weight']` is PyTorch's `state_dict` key
# `"0.weight"`.

# %%
print(h[0], "| is f:", h[0] is f)
print("children:", h.children)
print("h_params[0]['weight'] =", h_params[0]["weight"])

# %% [markdown]
# ### 2d. The backward pass
#
# Suppose $h$ takes part in a loss $L$. For an input $\mathbf{x} \in \mathbb{R}^n$ let
# $\mathbf{z} = h(\mathbf{x}) \in \mathbb{R}^m$. By the chain rule
#
# $$\frac{\partial L}{\partial x_i} = \sum_j \frac{\partial L}{\partial z_j} \frac{\partial z_j}{\partial x_i},
# \qquad\text{i.e.}\qquad
# \frac{\partial L}{\partial \mathbf{x}} = \left(\frac{\partial L}{\partial \mathbf{z}}\right)^{\top}
# \frac{\partial \mathbf{z}}{\partial \mathbf{x}},$$
#
# where $\frac{\partial \mathbf{z}}{\partial \mathbf{x}} \in \mathbb{R}^{m \times n}$ is the Jacobian. The
# `nn` names for these gradients:
#
# * $\frac{\partial L}{\partial \mathbf{x}}$ is **gradInput**: the gradient of the loss w.r.t. a module's input;
# * $\frac{\partial L}{\partial \mathbf{z}}$ is **gradOutput**: the gradient of the loss w.r.t. a module's output;
# * $\frac{\partial L}{\partial \boldsymbol{\theta}}$ is **gradWeight** / **gradBias**: w.r.t. its parameters.
#
# `fnn.backward(module, params, input, gradOutput)` is torch7's `module:backward(input, gradOutput)`. It
# returns `(gradInput, gradParams)` (one `jax.vjp`). There is no stored forward pass to match and no
# `gradWeight` buffer to zero first: nothing accumulates.

# %%
grad_out = jax.random.normal(jax.random.key(1), (1,), jnp.float64)  # a made-up dL/dz
h_grad_in, h_grads = fnn.backward(h, h_params, x, grad_out)
print("gradOut      =", grad_out)
print("h.gradInput  =", h_grad_in)

# %% [markdown]
# Let's check. $h$ is a composition, so it first gets the gradient of $g$ w.r.t. its input $f(\mathbf{x})$:
# $\frac{\partial L}{\partial f(\mathbf{x})} = gradOut \cdot g'(f(\mathbf{x}))$. Since $g$ just sums,
# $g'_i = 1$: **g.gradInput is gradOut broadcast** to the size of $\mathbf{x}$.

# %%
fx = f.apply(f_params, x)
g_grad_in, _ = fnn.backward(g, g_params, fx, grad_out)
print("g.gradInput =", g_grad_in)
assert jnp.allclose(g_grad_in, jnp.full(5, grad_out[0]))

# %% [markdown]
# Since $f(\mathbf{x})_i = w_i x_i$, $\frac{\partial f_i}{\partial x_i} = w_i$ and the Jacobian is
# $\mathrm{diag}(\mathbf{w})$: **f.gradInput = g.gradInput ⊙ f.weight**. The parameters get
# $\frac{\partial f_i}{\partial w_i} = x_i$: **f.gradWeight = g.gradInput ⊙ x**. Both are the tutorial's
# asserts, and `h`'s own backward agrees with the two steps.

# %%
f_grad_in, f_grads = fnn.backward(f, f_params, x, g_grad_in)
assert float(jnp.max(jnp.abs(f_grad_in - g_grad_in * f_params["weight"]))) < 1e-10
assert float(jnp.max(jnp.abs(f_grads["weight"] - g_grad_in * x))) < 1e-10
assert jnp.allclose(h_grad_in, f_grad_in) and jnp.allclose(h_grads[0]["weight"], f_grads["weight"])
print("f.gradWeight =", f_grads["weight"])
print("grads of h   =", h_grads)

# %% [markdown]
# ### 2e. Module internals
#
# In torch7 `Module:forward(input)` calls `updateOutput(input)`, and `Module:backward(input, gradOutput,
# scale)` calls two functions every layer had to write by hand:
#
# ```lua
# function Module:backward(input, gradOutput, scale)
#    scale = scale or 1
#    self:updateGradInput(input, gradOutput)             -- sets self.gradInput
#    self:accGradParameters(input, gradOutput, scale)   -- adds into self.gradWeight
#    return self.gradInput
# end
#
# function CMul:updateOutput(input)
#    self.output:resizeAs(input):copy(input):cmul(self.weight)
#    return self.output
# end
# ```
#
# In fnn a layer is a pair of pure functions and you write **only the forward**. `jax.vjp` of the forward,
# taken w.r.t. the input, is `updateGradInput`; taken w.r.t. the params, it is `accGradParameters` (without
# the accumulation):

# %%
y, vjp = jax.vjp(lambda p, xx: f.apply(p, xx), f_params, x)
grad_params, grad_input = vjp(g_grad_in)  # accGradParameters, updateGradInput
assert jnp.allclose(grad_input, f_grad_in) and jnp.allclose(grad_params["weight"], f_grads["weight"])
print("updateGradInput   ->", grad_input)
print("accGradParameters ->", grad_params)

# %% [markdown]
# **Writing your own layer.** `fnn.leaf` turns a forward function into a module. You give it torch7's
# printed name, the forward `forward(params, x, *, rng, train)`, a parameter initialiser
# `params(rng, input_shape, dtype)` returning a dict, and an input check `check(shape, dtype)` that raises a
# `ShapeError` (the layer's name is prefixed for you). The output shape is derived by abstract evaluation of
# the forward (`jax.eval_shape`), so nobody writes shape rules. Here is CMul again, from scratch:

# %%
import math

from fnn.core import expect_array, lift, same_size, uniform


def MyCMul(size: int) -> fnn.Module:
    """y = x ⊙ w for inputs (..., size); params {'weight': (size,)}."""

    def params(rng, input_shape, dtype):
        return {"weight": uniform(1 / math.sqrt(size))(rng, (size,), dtype)}

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1 or not same_size(size, shape[-1]):
            raise fnn.ShapeError(f"expects input (..., {size}), got {fnn.format_shape(shape)}")

    def forward(p, x, *, rng, train):  # updateOutput; JAX derives the backward
        return x * lift(p["weight"], x.ndim)  # lift: explicit broadcasting over the batch dims

    return fnn.leaf(f"nn.MyCMul({size})", forward, kind="MyCMul", params=params, check=check)


my = MyCMul(5)
out_shape, my_params = my.init(key, (-1, 5), jnp.float64)
print(my, "| output shape:", out_shape, "| params:", jax.tree.map(jnp.shape, my_params))
# the same weight gives the same numbers as the library's CMul, forward and backward
assert jnp.allclose(my.apply(f_params, X), f.apply(f_params, X))
assert jnp.allclose(fnn.backward(my, f_params, x, g_grad_in)[1]["weight"], f_grads["weight"])

# %% [markdown]
# `fnn.testing.check_layer` is torch7's `nn.Jacobian` and more: declared output shape = real shape, `jit` =
# eager, `vmap` = batched call, eval mode deterministic, and float64 finite-difference gradients w.r.t. the
# input and the params. The shape check runs at `init`, before any data exists:

# %%
fnn.testing.check_layer(my, (3, 5))  # raises AssertionError on any failure
print("MyCMul passes every conformance check")

try:
    my.init(key, (-1, 4))
except fnn.ShapeError as e:
    print("ShapeError:", e)

# %% [markdown]
# ### 2f. Some useful modules with parameters
#
# `fnn.Linear(in, out)` computes $W\mathbf{x} + \mathbf{b}$ with `weight` $W \in \mathbb{R}^{out \times in}$
# (torch's layout) and `bias` $\mathbf{b} \in \mathbb{R}^{out}$.

# %%
lin = fnn.Linear(5, 3)
_, lin_params = lin.init(key, (5,), jnp.float64)
print(lin)
print(lin.apply(lin_params, x))
assert jnp.allclose(lin.apply(lin_params, x), lin_params["weight"] @ x + lin_params["bias"])

# %% [markdown]
# `LookupTable`s map indices to rows of a weight matrix (they will be extremely important for NLP).
# `fnn.LookupTable(5, 3)` maps the indices **0 to 4** to vectors in $\mathbb{R}^3$. The input is a tensor of
# integer indices; a 2-D input is a batch (here 3 examples of 2 indices each).

# %%
LT = fnn.LookupTable(5, 3)
_, lt_params = LT.init(key, (-1,), jnp.int32)
print(LT)
print(lt_params["weight"])

idxs = jnp.array([0, 1, 4])  # torch7's {1, 2, 5}
print(LT.apply(lt_params, idxs))  # rows 0, 1 and 4

batch_idxs = jnp.array([[0, 2], [3, 4], [1, 2]])  # torch7's {{1, 3}, {4, 5}, {2, 3}}
print(LT.apply(lt_params, batch_idxs).shape)
print(LT.apply(lt_params, batch_idxs))

# %% [markdown]
# `fnn.Add(5)` computes $\mathbf{x} + \mathbf{b}$ with a learnable $\mathbf{b} \in \mathbb{R}^5$
# (`fnn.Add(1, scalar=True)` adds one shared constant). There are many more, convolutions among them
# (notebook 3).

# %%
add = fnn.Add(5)
_, add_params = add.init(key, (5,), jnp.float64)
print(add.apply(add_params, x))
assert jnp.allclose(add.apply(add_params, x), x + add_params["bias"])

# %% [markdown]
# ### 2g. Some useful modules without parameters
#
# Non-linearities ("transfer functions") are element-wise modules; `LogSoftMax` normalises over the last
# dimension.

# %%
x = jax.random.normal(jax.random.key(2), (5,), jnp.float64)
for nonlin in (fnn.Sigmoid(), fnn.LogSoftMax(), fnn.Tanh(), fnn.ReLU()):
    print(f"{str(nonlin):14s}", nonlin.apply((), x))

# %% [markdown]
# Other mathematical operations. torch7's `nn.Max(1, 2)` maxes over dimension 1 of a 2-D input (its second
# argument, `nInputDims`, says that one example is 2-D, so a 3-D input would be a batch); in fnn that is
# `fnn.Max(0, n_input_dims=2)`. `nn.Mean(2, 2)` is `fnn.Mean(1, n_input_dims=2)`. `fnn.View(2, 3)` reshapes
# (torch7's `nn.View`), also taking batches.

# %%
X = jax.random.normal(jax.random.key(3), (3, 2), jnp.float64)
print("X =\n", X)
print("Max over dim 0  :", fnn.Max(0, n_input_dims=2).apply((), X))
print("Mean over dim 1 :", fnn.Mean(1, n_input_dims=2).apply((), X))
print("Abs             :\n", fnn.Abs().apply((), X))
print("View(2, 3)      :\n", fnn.View(2, 3).apply((), X))

# %% [markdown]
# **Table layers.** Everything so far took one tensor. For several inputs (of different sizes or types) fnn,
# like torch7, passes a *table*: a tuple of arrays. The motivating example is a Linear-like layer over sparse
# *and* dense features,
#
# $$\left[\mathbf{W}_o\ \mathbf{W}_d\right] \begin{bmatrix} \mathbf{x}_o \\ \mathbf{x}_d \end{bmatrix} + \mathbf{b}
# = \mathbf{W}_o \mathbf{x}_o + \mathbf{W}_d \mathbf{x}_d + \mathbf{b},$$
#
# with $\mathbf{x}_o$ one-hot. $\mathbf{W}_o \mathbf{x}_o$ is a lookup in a `LookupTable`, so a
# `ParallelTable` (child $i$ gets table entry $i$) of a `LookupTable` and a `Linear` computes the two terms,
# and `CAddTable` adds them. The table's shapes (and dtypes: indices are integers) are tuples, too. (A
# `LookupTable` takes integer input, so its weights get the default float32; we keep the dense part in
# float32 to match, since `CAddTable` refuses to mix precisions.)

# %%
D_o, D_d, D_h = 5, 3, 2  # width of W_o, width of W_d, height of both
x_o = jnp.array([1])  # index 1 (0-based): the one-hot [0 1 0 0 0]
x_d = jax.random.normal(jax.random.key(4), (1, D_d), jnp.float32)

par = fnn.ParallelTable(fnn.LookupTable(D_o, D_h), fnn.Linear(D_d, D_h))
_, par_params = par.init(key, ((1,), (1, D_d)), (jnp.int32, jnp.float32))
out = par.apply(par_params, (x_o, x_d))  # a table of 2 arrays: W_o x_o and W_d x_d + b
print([o.shape for o in out])

# %%
sp_and_dense_linear = fnn.Sequential(par, fnn.CAddTable())  # the tutorial's spAndDenseLinear
print(sp_and_dense_linear)

# %%
sd_params = (par_params, ())
y = sp_and_dense_linear.apply(sd_params, (x_o, x_d))
lookup_p, linear_p = sd_params[0]
print("W_o x_o + W_d x_d + b =", y)
assert jnp.allclose(y, lookup_p["weight"][x_o] + x_d @ linear_p["weight"].T + linear_p["bias"])

# %% [markdown]
# More table layers: `JoinTable(dim, n_input_dims)` concatenates a table of tensors along `dim` (torch7's
# `nn.JoinTable(2, 2)` is `fnn.JoinTable(1, 2)`), and `NarrowTable(offset, length)` returns `length` entries
# starting at `offset` (torch7's `nn.NarrowTable(1, 2)` is `fnn.NarrowTable(0, 2)`).

# %%
keys = jax.random.split(jax.random.key(5), 3)
t = (jax.random.normal(keys[0], (1, 3)), jax.random.normal(keys[1], (1, 3)), jax.random.normal(keys[2], (1, 2)))
print(fnn.JoinTable(1, 2).apply((), t))
print([a.shape for a in fnn.NarrowTable(0, 2).apply((), t)])

# %% [markdown]
# ## 3. Criteria
#
# A criterion is a loss function: `criterion(input, target) -> scalar` (torch7's `crit:forward(input,
# target)`), and `criterion.backward(input, target)` is its gradient w.r.t. the input (`jax.grad`).
# `MSECriterion` computes $\frac{1}{n}\sum_i (\hat y_i - y_i)^2$; torch7's `mse.sizeAverage = false` (drop
# the $\frac1n$) is the constructor argument `size_average=False` (PyTorch's `reduction='sum'`).

# %%
mse = fnn.MSECriterion()  # mean squared error, often used for (scalar) regression
y = jax.random.normal(jax.random.key(6), (3,), jnp.float64)  # targets
yhat = jnp.zeros(3, jnp.float64)  # predictions
print("MSE              :", mse(yhat, y))

mse_sum = fnn.MSECriterion(size_average=False)  # torch7: mse.sizeAverage = false
print("without 1/n      :", mse_sum(yhat, y))

dl_dyhat = mse_sum.backward(yhat, y)  # the criterion's gradInput
print("dL/dyhat         :", dl_dyhat)
assert jnp.allclose(dl_dyhat, 2 * (yhat - y))

# %% [markdown]
# `ClassNLLCriterion` is the log loss for multi-class classification: it takes log-probabilities and the true
# classes (0-based here: torch7's `{3, 1}` is `[2, 0]`). By default it divides by the number of examples,
# which shows in the gradient.

# %%
nllcrit = fnn.ClassNLLCriterion()
Z = jax.random.normal(jax.random.key(7), (2, 3), jnp.float64)  # scores: 2 examples, 3 classes
Yhat = fnn.LogSoftMax().apply((), Z)  # log-probabilities
Y = jnp.array([2, 0])  # true classes
print(nllcrit(Yhat, Y))
print(nllcrit.backward(Yhat, Y))

# %% [markdown]
# ## 4. Training
#
# A 1-hidden-layer network on a regression task. torch7's `mlp:getParameters()` flattens every weight into one
# vector; `fnn.get_parameters(params)` returns that vector **and the way back** (`unflatten`), so a flat
# gradient is just `jax.grad` of a function of the flat vector. Plain SGD: $\theta \leftarrow \theta - \eta\,
# \nabla_\theta L$.

# %%
N, F, H = 5, 4, 3  # examples, features, hidden units
X = jax.random.normal(jax.random.key(287), (N, F), jnp.float64)
y = jax.random.normal(jax.random.key(288), (N,), jnp.float64)

mlp = fnn.Sequential(fnn.Linear(F, H), fnn.Tanh(), fnn.Linear(H, 1))
mse = fnn.MSECriterion()  # preds (N, 1) and targets (N,): only the element counts must match
_, params0 = mlp.init(jax.random.key(0), (-1, F), jnp.float64)
print(mlp)

flat, unflatten = fnn.get_parameters(params0)  # params, gradParams = mlp:getParameters()
print("number of parameters:", flat.size)
eta = 0.01


def loss_of_flat(v):
    return mse(mlp.apply(unflatten(v), X), y)


losses = []
for epoch in range(5):
    loss, grad_flat = jax.value_and_grad(loss_of_flat)(flat)  # forward + backward
    flat = flat - eta * grad_flat  # params:add(-eta, gradParams)
    losses.append(float(loss))
    print(f"epoch {epoch + 1}, loss: {float(loss):.10f}")

# %% [markdown]
# If you only do (S)GD you can use `fnn.update_parameters(params, grads, eta)`, torch7's
# `mlp:updateParameters(eta)`. Here is the torch7 loop step by step: forward, criterion forward, criterion
# backward, module backward, update. It is the same algorithm, so the losses agree to the last digit.

# %%
params = params0
for epoch in range(5):
    preds = mlp.apply(params, X)  # mlp:forward(X)
    loss = mse(preds, y)  # mse:forward(preds, y)
    dl_dpreds = mse.backward(preds, y)  # mse:backward(preds, y)
    _, grads = fnn.backward(mlp, params, X, dl_dpreds)  # mlp:backward(X, dLdpreds)
    params = fnn.update_parameters(params, grads, eta)  # mlp:updateParameters(eta)
    print(f"epoch {epoch + 1}, loss: {float(loss):.10f}")
    assert abs(float(loss) - losses[epoch]) < 1e-12

# %% [markdown]
# ## 5. Common bugs
#
# The tutorial's checklist, and what fnn does about each item.
#
# **"Gradient tensors are zeroed out before each epoch."** torch7's `backward` *adds* into `gradWeight`, so
# forgetting `zeroGradParameters()` silently doubles gradients. fnn has no gradient buffers: `fnn.backward`
# returns fresh gradients, so this bug cannot happen. Calling it twice gives the same answer:

# %%
_, grads_a = fnn.backward(mlp, params, X, dl_dpreds)
_, grads_b = fnn.backward(mlp, params, X, dl_dpreds)
assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b), strict=True))
print("two backward calls, identical gradients: nothing accumulates")

# %% [markdown]
# **"Batching happens only along the first dimension."** Shapes are checked when the model is initialised,
# before any data exists, and again (for free, at trace time) on every call. The error names the layer, its
# path in the model and the expected vs actual shape. Here the last layer was built for 4 inputs instead of
# the 3 hidden units:

# %%
broken = fnn.Sequential(fnn.Linear(F, H), fnn.Tanh(), fnn.Linear(F, 1))
try:
    broken.init(jax.random.key(0), (-1, F))
except fnn.ShapeError as e:
    print(f"{type(e).__name__}: {e}")

# %% [markdown]
# And the batch laid out along the wrong dimension (features × examples instead of examples × features):

# %%
try:
    mlp.apply(params, X.T)
except fnn.ShapeError as e:
    print(f"{type(e).__name__}: {e}")


# %% [markdown]
# **"Check your gradients with finite differences."** With fnn you only write forward functions, so the
# gradients are JAX's. If you do write a backward by hand (a `jax.custom_vjp`, as every torch7 layer had to),
# `fnn.testing.check_gradients` compares it with central differences. This square forgot the factor 2:

# %%
@jax.custom_vjp
def square(x):
    return x**2


square.defvjp(lambda x: (x**2, x), lambda x, g: (x * g,))  # bug: d(x²)/dx is 2x, not x

BuggySquare = fnn.elementwise("nn.BuggySquare", square)
try:
    fnn.testing.check_gradients(BuggySquare, (), jnp.array([1.0, -2.0, 3.0]))
except AssertionError as e:
    print("AssertionError:", e)


# %% [markdown]
# ## 6. Exercise: a multi-class hinge loss criterion
#
# (torch7's `MultiMarginCriterion` is not quite the loss from class.) Recall
#
# $$L_{hinge}(\hat{\mathbf{y}}, c) = \max\{0,\ 1 - (\hat y_c - \hat y_{c'})\},
# \qquad c' = \operatorname{argmax}_{i \in \mathcal{C} \setminus \{c\}} \hat y_i .$$
#
# **Solution.** In fnn a criterion is just a function of `(input, target)`; its gradient is `jax.grad`. Mask
# the true class with $-\infty$ to find $c'$, and average over the batch:

# %%
def multiclass_hinge(scores, target):
    """Scores (B, C) or (C,), 0-based int targets (B,) or (); the mean hinge on the best wrong class."""
    scores, target = jnp.atleast_2d(scores), jnp.atleast_1d(target)
    correct = jnp.take_along_axis(scores, target[:, None], axis=1)[:, 0]
    wrong = jnp.where(jax.nn.one_hot(target, scores.shape[1], dtype=bool), -jnp.inf, scores)
    return jnp.mean(jnp.maximum(0.0, 1.0 - (correct - jnp.max(wrong, axis=1))))


scores = jnp.array([[2.0, 1.5, -1.0], [0.1, 0.2, 3.0]])
target = jnp.array([0, 1])
loss = multiclass_hinge(scores, target)  # (1 - (2.0 - 1.5) + 1 - (0.2 - 3.0)) / 2 = (0.5 + 3.8) / 2
grad = jax.grad(multiclass_hinge)(scores, target)
print("hinge loss:", loss)
print("gradient:\n", grad)
assert jnp.allclose(loss, 2.15) and jnp.allclose(grad, jnp.array([[-0.5, 0.5, 0.0], [0.0, -0.5, 0.5]]))

# torch7's MultiMarginCriterion sums the hinge over *every* wrong class and divides by the number of classes
print("MultiMarginCriterion:", fnn.MultiMarginCriterion()(scores, target))

# %% [markdown]
# Train a linear classifier with it on three Gaussian blobs:

# %%
centers = jnp.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
labels = jnp.repeat(jnp.arange(3), 50)
xs = centers[labels] + 0.7 * jax.random.normal(jax.random.key(0), (150, 2), jnp.float64)

clf = fnn.Linear(2, 3)
_, clf_params = clf.init(jax.random.key(1), (-1, 2), jnp.float64)
step = jax.jit(jax.value_and_grad(lambda p: multiclass_hinge(clf.apply(p, xs), labels)))
for _ in range(50):
    loss, grads = step(clf_params)
    clf_params = fnn.update_parameters(clf_params, grads, 0.1)
acc = float(jnp.mean(jnp.argmax(clf.apply(clf_params, xs), axis=1) == labels))
print(f"after 50 epochs: loss {float(loss):.4f}, training accuracy {acc:.2%}")
assert acc > 0.9
