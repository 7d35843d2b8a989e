"""Builds the tutorial notebooks from the cell sources in this file and executes them.

Each notebook is written below as one text: a line ``%% md`` starts a markdown cell, a line
``%% code`` a code cell. ``python notebooks/build.py`` rebuilds all four notebooks: it makes
the cells with nbformat, runs them top to bottom in a fresh ``python3`` kernel (nbclient, with
the notebooks folder as the working directory), scrubs machine paths from the outputs and
writes ``notebooks/NN_name.ipynb`` with the real outputs embedded.

    python notebooks/build.py                      # rebuild and execute all four
    python notebooks/build.py 03                  # just one (any unique prefix of its name)
    python notebooks/build.py --check              # committed cells == the sources here?

MNIST: notebook 03 reads ``$FNN_MNIST`` or ``../../shared/data/mnist.npz`` (relative to this
folder) and falls back to scikit-learn's bundled digits when neither exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KERNEL = "python3"
TIMEOUT = 900  # seconds for a whole notebook
FORBIDDEN = ("/work/", "/root/", "/home/", "/Users/", "site-packages")

NOTEBOOKS: dict[str, str] = {}

# ============================================================================ 01: nn intro

NOTEBOOKS["01_nn_intro.ipynb"] = r'''
%% md
# 1 · Modules and criteria: torch7's `nn`, re-told in fnn

This notebook follows the Harvard CS287 introduction to torch7's `nn` package section by section,
with every torch7 call translated to **fnn**: torch7's `nn` as pure functions on JAX.

**What does `nn` buy us?** We declare a network's architecture; its forward *and* backward passes
come for free, so we never hand-code a gradient. Networks are built from two kinds of objects:

* **Modules** (recursively) define a transformation from an input to an output: think of them as functions.
* **Criteria** compute a loss from an input (usually a module's output) and a target.

The one big difference: a torch7 module is a *stateful object* (it stores its weights, its last
`output`, its `gradInput` and accumulated `gradWeight`). An fnn module is a small frozen object that
unpacks into **two pure functions**:

```python
init, apply = module
out_shape, params = init(rng, input_shape)   # -1 marks an unknown batch size
y = apply(params, x)
```

Parameters live in a separate pytree (dicts with torch's names: `weight`, `bias`); outputs and gradients
are return values, never fields. Dimensions and class indices are **0-based** (torch7 was 1-based Lua).
%% code
import jax
import jax.numpy as jnp
import numpy as np

import fnn

jax.config.update("jax_enable_x64", True)  # the tutorial works in DoubleTensors
np.set_printoptions(precision=4, suppress=True)
key = jax.random.key(287)  # torch.manualSeed(287)
%% md
## 2. Modules

`fnn.CMul(size)` creates a module computing $f: \mathbb{R}^{size} \to \mathbb{R}^{size}$,
$f(\mathbf{x}) = \mathbf{x} \odot \mathbf{w}$, where $\odot$ is elementwise multiplication and $\mathbf{w}$
are the parameters, initialised to something reasonable (torch7's $U(\pm 1/\sqrt{size})$).

### 2a. The forward pass

torch7 initialises the weights inside the constructor; fnn does it in `init`, given a PRNG key, the input
shape and (here) the dtype. `apply(params, x)` is torch7's `f:forward(x)`.
%% code
x = jnp.arange(1.0, 6.0)  # torch.range(1, 5)

f = fnn.CMul(5)
init, apply = f  # a module is a pair of pure functions
out_shape, f_params = init(key, x.shape, jnp.float64)
print("f.weight =", f_params["weight"])
print("f(x)     =", apply(f_params, x))
%% md
torch7 modules also keep their last output in `f.output`. fnn keeps nothing: the output is the return
value, and calling `apply` twice with the same arguments gives the same answer.

Another module: `fnn.Sum(dim)` sums over one dimension. torch7's `nn.Sum(1)` is `fnn.Sum(0)`: dims are
0-based. As in torch7, summing a vector gives a 1-element tensor.
%% code
g = fnn.Sum(0)  # sum over dimension 0 (torch7: nn.Sum(1))
_, g_params = g.init(key, x.shape, jnp.float64)
print("g params:", g_params)  # a layer without parameters holds ()
print("g(x)    :", g.apply(g_params, x))
%% md
### 2b. Batching

Most modules accept a batch along the first dimension: a module that expects $x \in \mathbb{R}^{size}$
also takes $X \in \mathbb{R}^{N \times size}$ and applies itself to each row. Batch whenever you can: it is
much faster. In fnn the batched call always equals `jax.vmap` of the one-example call.
%% code
X = jnp.broadcast_to(x, (3, 5))  # x:view(1, 5):expand(3, 5), N = 3
print(f.apply(f_params, X))
assert jnp.allclose(f.apply(f_params, X), jax.vmap(lambda xi: f.apply(f_params, xi))(X))
%% md
### 2c. Container modules

Containers combine modules. `fnn.Sequential(f, g)` computes $g(f(\mathbf{x}))$. A container's params are
a tuple with one entry per child, in child order, so we can hand it `f`'s weights to make `h` share them,
as the tutorial's `h` contains the very same `f`.
%% code
h = fnn.Sequential(f, g)
_, fresh = h.init(key, x.shape, jnp.float64)
print("params structure:", jax.tree.map(jnp.shape, fresh))

h_params = (f_params, g_params)  # reuse f's weight
print("h(x) =", h.apply(h_params, x))  # sum_i x_i * w_i
assert jnp.allclose(h.apply(h_params, x), jnp.sum(x * f_params["weight"]))
%% md
`fnn.Concat(dim, ...)` applies each child to the same input and concatenates the outputs along `dim`
(torch7's `nn.Concat(1)` is `fnn.Concat(0)`).
%% code
cat = fnn.Concat(0, f, g)
print(cat.apply((f_params, g_params), x))
%% md
Printing a module shows torch7's format. torch7's `:add` mutated the container; fnn's `add` returns a new
one, so the tutorial's `nn.Sequential():add(f):add(g)` still reads the same.
%% code
print(h)
print(fnn.Sequential().add(f).add(g))
print(cat)
%% md
Children are reached by indexing (torch7's `h:get(1)` / `h.modules[1]` is `h[0]`), and their parameters
by indexing the params tuple the same way: `h_params[0]['weight']` is PyTorch's `state_dict` key
`"0.weight"`.
%% code
print(h[0], "| is f:", h[0] is f)
print("children:", h.children)
print("h_params[0]['weight'] =", h_params[0]["weight"])
%% md
### 2d. The backward pass

Suppose $h$ takes part in a loss $L$. For an input $\mathbf{x} \in \mathbb{R}^n$ let
$\mathbf{z} = h(\mathbf{x}) \in \mathbb{R}^m$. By the chain rule

$$\frac{\partial L}{\partial x_i} = \sum_j \frac{\partial L}{\partial z_j} \frac{\partial z_j}{\partial x_i},
\qquad\text{i.e.}\qquad
\frac{\partial L}{\partial \mathbf{x}} = \left(\frac{\partial L}{\partial \mathbf{z}}\right)^{\top}
\frac{\partial \mathbf{z}}{\partial \mathbf{x}},$$

where $\frac{\partial \mathbf{z}}{\partial \mathbf{x}} \in \mathbb{R}^{m \times n}$ is the Jacobian. The
`nn` names for these gradients:

* $\frac{\partial L}{\partial \mathbf{x}}$ is **gradInput**: the gradient of the loss w.r.t. a module's input;
* $\frac{\partial L}{\partial \mathbf{z}}$ is **gradOutput**: the gradient of the loss w.r.t. a module's output;
* $\frac{\partial L}{\partial \boldsymbol{\theta}}$ is **gradWeight** / **gradBias**: w.r.t. its parameters.

`fnn.backward(module, params, input, gradOutput)` is torch7's `module:backward(input, gradOutput)`. It
returns `(gradInput, gradParams)` (one `jax.vjp`). There is no stored forward pass to match and no
`gradWeight` buffer to zero first: nothing accumulates.
%% code
grad_out = jax.random.normal(jax.random.key(1), (1,), jnp.float64)  # a made-up dL/dz
h_grad_in, h_grads = fnn.backward(h, h_params, x, grad_out)
print("gradOut      =", grad_out)
print("h.gradInput  =", h_grad_in)
%% md
Let's check. $h$ is a composition, so it first gets the gradient of $g$ w.r.t. its input $f(\mathbf{x})$:
$\frac{\partial L}{\partial f(\mathbf{x})} = gradOut \cdot g'(f(\mathbf{x}))$. Since $g$ just sums,
$g'_i = 1$: **g.gradInput is gradOut broadcast** to the size of $\mathbf{x}$.
%% code
fx = f.apply(f_params, x)
g_grad_in, _ = fnn.backward(g, g_params, fx, grad_out)
print("g.gradInput =", g_grad_in)
assert jnp.allclose(g_grad_in, jnp.full(5, grad_out[0]))
%% md
Since $f(\mathbf{x})_i = w_i x_i$, $\frac{\partial f_i}{\partial x_i} = w_i$ and the Jacobian is
$\mathrm{diag}(\mathbf{w})$: **f.gradInput = g.gradInput ⊙ f.weight**. The parameters get
$\frac{\partial f_i}{\partial w_i} = x_i$: **f.gradWeight = g.gradInput ⊙ x**. Both are the tutorial's
asserts, and `h`'s own backward agrees with the two steps.
%% code
f_grad_in, f_grads = fnn.backward(f, f_params, x, g_grad_in)
assert float(jnp.max(jnp.abs(f_grad_in - g_grad_in * f_params["weight"]))) < 1e-10
assert float(jnp.max(jnp.abs(f_grads["weight"] - g_grad_in * x))) < 1e-10
assert jnp.allclose(h_grad_in, f_grad_in) and jnp.allclose(h_grads[0]["weight"], f_grads["weight"])
print("f.gradWeight =", f_grads["weight"])
print("grads of h   =", h_grads)
%% md
### 2e. Module internals

In torch7 `Module:forward(input)` calls `updateOutput(input)`, and `Module:backward(input, gradOutput,
scale)` calls two functions every layer had to write by hand:

```lua
function Module:backward(input, gradOutput, scale)
   scale = scale or 1
   self:updateGradInput(input, gradOutput)             -- sets self.gradInput
   self:accGradParameters(input, gradOutput, scale)   -- adds into self.gradWeight
   return self.gradInput
end

function CMul:updateOutput(input)
   self.output:resizeAs(input):copy(input):cmul(self.weight)
   return self.output
end
```

In fnn a layer is a pair of pure functions and you write **only the forward**. `jax.vjp` of the forward,
taken w.r.t. the input, is `updateGradInput`; taken w.r.t. the params, it is `accGradParameters` (without
the accumulation):
%% code
y, vjp = jax.vjp(lambda p, xx: f.apply(p, xx), f_params, x)
grad_params, grad_input = vjp(g_grad_in)  # accGradParameters, updateGradInput
assert jnp.allclose(grad_input, f_grad_in) and jnp.allclose(grad_params["weight"], f_grads["weight"])
print("updateGradInput   ->", grad_input)
print("accGradParameters ->", grad_params)
%% md
**Writing your own layer.** `fnn.leaf` turns a forward function into a module. You give it torch7's
printed name, the forward `forward(params, x, *, rng, train)`, a parameter initialiser
`params(rng, input_shape, dtype)` returning a dict, and an input check `check(shape, dtype)` that raises a
`ShapeError` (the layer's name is prefixed for you). The output shape is derived by abstract evaluation of
the forward (`jax.eval_shape`), so nobody writes shape rules. Here is CMul again, from scratch:
%% code
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
%% md
`fnn.testing.check_layer` is torch7's `nn.Jacobian` and more: declared output shape = real shape, `jit` =
eager, `vmap` = batched call, eval mode deterministic, and float64 finite-difference gradients w.r.t. the
input and the params. The shape check runs at `init`, before any data exists:
%% code
fnn.testing.check_layer(my, (3, 5))  # raises AssertionError on any failure
print("MyCMul passes every conformance check")

try:
    my.init(key, (-1, 4))
except fnn.ShapeError as e:
    print("ShapeError:", e)
%% md
### 2f. Some useful modules with parameters

`fnn.Linear(in, out)` computes $W\mathbf{x} + \mathbf{b}$ with `weight` $W \in \mathbb{R}^{out \times in}$
(torch's layout) and `bias` $\mathbf{b} \in \mathbb{R}^{out}$.
%% code
lin = fnn.Linear(5, 3)
_, lin_params = lin.init(key, (5,), jnp.float64)
print(lin)
print(lin.apply(lin_params, x))
assert jnp.allclose(lin.apply(lin_params, x), lin_params["weight"] @ x + lin_params["bias"])
%% md
`LookupTable`s map indices to rows of a weight matrix (they will be extremely important for NLP).
`fnn.LookupTable(5, 3)` maps the indices **0 to 4** to vectors in $\mathbb{R}^3$. The input is a tensor of
integer indices; a 2-D input is a batch (here 3 examples of 2 indices each).
%% code
LT = fnn.LookupTable(5, 3)
_, lt_params = LT.init(key, (-1,), jnp.int32)
print(LT)
print(lt_params["weight"])

idxs = jnp.array([0, 1, 4])  # torch7's {1, 2, 5}
print(LT.apply(lt_params, idxs))  # rows 0, 1 and 4

batch_idxs = jnp.array([[0, 2], [3, 4], [1, 2]])  # torch7's {{1, 3}, {4, 5}, {2, 3}}
print(LT.apply(lt_params, batch_idxs).shape)
print(LT.apply(lt_params, batch_idxs))
%% md
`fnn.Add(5)` computes $\mathbf{x} + \mathbf{b}$ with a learnable $\mathbf{b} \in \mathbb{R}^5$
(`fnn.Add(1, scalar=True)` adds one shared constant). There are many more, convolutions among them
(notebook 3).
%% code
add = fnn.Add(5)
_, add_params = add.init(key, (5,), jnp.float64)
print(add.apply(add_params, x))
assert jnp.allclose(add.apply(add_params, x), x + add_params["bias"])
%% md
### 2g. Some useful modules without parameters

Non-linearities ("transfer functions") are element-wise modules; `LogSoftMax` normalises over the last
dimension.
%% code
x = jax.random.normal(jax.random.key(2), (5,), jnp.float64)
for nonlin in (fnn.Sigmoid(), fnn.LogSoftMax(), fnn.Tanh(), fnn.ReLU()):
    print(f"{str(nonlin):14s}", nonlin.apply((), x))
%% md
Other mathematical operations. torch7's `nn.Max(1, 2)` maxes over dimension 1 of a 2-D input (its second
argument, `nInputDims`, says that one example is 2-D, so a 3-D input would be a batch); in fnn that is
`fnn.Max(0, n_input_dims=2)`. `nn.Mean(2, 2)` is `fnn.Mean(1, n_input_dims=2)`. `fnn.View(2, 3)` reshapes
(torch7's `nn.View`), also taking batches.
%% code
X = jax.random.normal(jax.random.key(3), (3, 2), jnp.float64)
print("X =\n", X)
print("Max over dim 0  :", fnn.Max(0, n_input_dims=2).apply((), X))
print("Mean over dim 1 :", fnn.Mean(1, n_input_dims=2).apply((), X))
print("Abs             :\n", fnn.Abs().apply((), X))
print("View(2, 3)      :\n", fnn.View(2, 3).apply((), X))
%% md
**Table layers.** Everything so far took one tensor. For several inputs (of different sizes or types) fnn,
like torch7, passes a *table*: a tuple of arrays. The motivating example is a Linear-like layer over sparse
*and* dense features,

$$\left[\mathbf{W}_o\ \mathbf{W}_d\right] \begin{bmatrix} \mathbf{x}_o \\ \mathbf{x}_d \end{bmatrix} + \mathbf{b}
= \mathbf{W}_o \mathbf{x}_o + \mathbf{W}_d \mathbf{x}_d + \mathbf{b},$$

with $\mathbf{x}_o$ one-hot. $\mathbf{W}_o \mathbf{x}_o$ is a lookup in a `LookupTable`, so a
`ParallelTable` (child $i$ gets table entry $i$) of a `LookupTable` and a `Linear` computes the two terms,
and `CAddTable` adds them. The table's shapes (and dtypes: indices are integers) are tuples, too. (A
`LookupTable` takes integer input, so its weights get the default float32; we keep the dense part in
float32 to match, since `CAddTable` refuses to mix precisions.)
%% code
D_o, D_d, D_h = 5, 3, 2  # width of W_o, width of W_d, height of both
x_o = jnp.array([1])  # index 1 (0-based): the one-hot [0 1 0 0 0]
x_d = jax.random.normal(jax.random.key(4), (1, D_d), jnp.float32)

par = fnn.ParallelTable(fnn.LookupTable(D_o, D_h), fnn.Linear(D_d, D_h))
_, par_params = par.init(key, ((1,), (1, D_d)), (jnp.int32, jnp.float32))
out = par.apply(par_params, (x_o, x_d))  # a table of 2 arrays: W_o x_o and W_d x_d + b
print([o.shape for o in out])
%% code
sp_and_dense_linear = fnn.Sequential(par, fnn.CAddTable())  # the tutorial's spAndDenseLinear
print(sp_and_dense_linear)
%% code
sd_params = (par_params, ())
y = sp_and_dense_linear.apply(sd_params, (x_o, x_d))
lookup_p, linear_p = sd_params[0]
print("W_o x_o + W_d x_d + b =", y)
assert jnp.allclose(y, lookup_p["weight"][x_o] + x_d @ linear_p["weight"].T + linear_p["bias"])
%% md
More table layers: `JoinTable(dim, n_input_dims)` concatenates a table of tensors along `dim` (torch7's
`nn.JoinTable(2, 2)` is `fnn.JoinTable(1, 2)`), and `NarrowTable(offset, length)` returns `length` entries
starting at `offset` (torch7's `nn.NarrowTable(1, 2)` is `fnn.NarrowTable(0, 2)`).
%% code
keys = jax.random.split(jax.random.key(5), 3)
t = (jax.random.normal(keys[0], (1, 3)), jax.random.normal(keys[1], (1, 3)), jax.random.normal(keys[2], (1, 2)))
print(fnn.JoinTable(1, 2).apply((), t))
print([a.shape for a in fnn.NarrowTable(0, 2).apply((), t)])
%% md
## 3. Criteria

A criterion is a loss function: `criterion(input, target) -> scalar` (torch7's `crit:forward(input,
target)`), and `criterion.backward(input, target)` is its gradient w.r.t. the input (`jax.grad`).
`MSECriterion` computes $\frac{1}{n}\sum_i (\hat y_i - y_i)^2$; torch7's `mse.sizeAverage = false` (drop
the $\frac1n$) is the constructor argument `size_average=False` (PyTorch's `reduction='sum'`).
%% code
mse = fnn.MSECriterion()  # mean squared error, often used for (scalar) regression
y = jax.random.normal(jax.random.key(6), (3,), jnp.float64)  # targets
yhat = jnp.zeros(3, jnp.float64)  # predictions
print("MSE              :", mse(yhat, y))

mse_sum = fnn.MSECriterion(size_average=False)  # torch7: mse.sizeAverage = false
print("without 1/n      :", mse_sum(yhat, y))

dl_dyhat = mse_sum.backward(yhat, y)  # the criterion's gradInput
print("dL/dyhat         :", dl_dyhat)
assert jnp.allclose(dl_dyhat, 2 * (yhat - y))
%% md
`ClassNLLCriterion` is the log loss for multi-class classification: it takes log-probabilities and the true
classes (0-based here: torch7's `{3, 1}` is `[2, 0]`). By default it divides by the number of examples,
which shows in the gradient.
%% code
nllcrit = fnn.ClassNLLCriterion()
Z = jax.random.normal(jax.random.key(7), (2, 3), jnp.float64)  # scores: 2 examples, 3 classes
Yhat = fnn.LogSoftMax().apply((), Z)  # log-probabilities
Y = jnp.array([2, 0])  # true classes
print(nllcrit(Yhat, Y))
print(nllcrit.backward(Yhat, Y))
%% md
## 4. Training

A 1-hidden-layer network on a regression task. torch7's `mlp:getParameters()` flattens every weight into one
vector; `fnn.get_parameters(params)` returns that vector **and the way back** (`unflatten`), so a flat
gradient is just `jax.grad` of a function of the flat vector. Plain SGD: $\theta \leftarrow \theta - \eta\,
\nabla_\theta L$.
%% code
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
%% md
If you only do (S)GD you can use `fnn.update_parameters(params, grads, eta)`, torch7's
`mlp:updateParameters(eta)`. Here is the torch7 loop step by step: forward, criterion forward, criterion
backward, module backward, update. It is the same algorithm, so the losses agree to the last digit.
%% code
params = params0
for epoch in range(5):
    preds = mlp.apply(params, X)  # mlp:forward(X)
    loss = mse(preds, y)  # mse:forward(preds, y)
    dl_dpreds = mse.backward(preds, y)  # mse:backward(preds, y)
    _, grads = fnn.backward(mlp, params, X, dl_dpreds)  # mlp:backward(X, dLdpreds)
    params = fnn.update_parameters(params, grads, eta)  # mlp:updateParameters(eta)
    print(f"epoch {epoch + 1}, loss: {float(loss):.10f}")
    assert abs(float(loss) - losses[epoch]) < 1e-12
%% md
## 5. Common bugs

The tutorial's checklist, and what fnn does about each item.

**"Gradient tensors are zeroed out before each epoch."** torch7's `backward` *adds* into `gradWeight`, so
forgetting `zeroGradParameters()` silently doubles gradients. fnn has no gradient buffers: `fnn.backward`
returns fresh gradients, so this bug cannot happen. Calling it twice gives the same answer:
%% code
_, grads_a = fnn.backward(mlp, params, X, dl_dpreds)
_, grads_b = fnn.backward(mlp, params, X, dl_dpreds)
assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b), strict=True))
print("two backward calls, identical gradients: nothing accumulates")
%% md
**"Batching happens only along the first dimension."** Shapes are checked when the model is initialised,
before any data exists, and again (for free, at trace time) on every call. The error names the layer, its
path in the model and the expected vs actual shape. Here the last layer was built for 4 inputs instead of
the 3 hidden units:
%% code
broken = fnn.Sequential(fnn.Linear(F, H), fnn.Tanh(), fnn.Linear(F, 1))
try:
    broken.init(jax.random.key(0), (-1, F))
except fnn.ShapeError as e:
    print(f"{type(e).__name__}: {e}")
%% md
And the batch laid out along the wrong dimension (features × examples instead of examples × features):
%% code
try:
    mlp.apply(params, X.T)
except fnn.ShapeError as e:
    print(f"{type(e).__name__}: {e}")
%% md
**"Check your gradients with finite differences."** With fnn you only write forward functions, so the
gradients are JAX's. If you do write a backward by hand (a `jax.custom_vjp`, as every torch7 layer had to),
`fnn.testing.check_gradients` compares it with central differences. This square forgot the factor 2:
%% code
@jax.custom_vjp
def square(x):
    return x**2


square.defvjp(lambda x: (x**2, x), lambda x, g: (x * g,))  # bug: d(x²)/dx is 2x, not x

BuggySquare = fnn.elementwise("nn.BuggySquare", square)
try:
    fnn.testing.check_gradients(BuggySquare, (), jnp.array([1.0, -2.0, 3.0]))
except AssertionError as e:
    print("AssertionError:", e)
%% md
## 6. Exercise: a multi-class hinge loss criterion

(torch7's `MultiMarginCriterion` is not quite the loss from class.) Recall

$$L_{hinge}(\hat{\mathbf{y}}, c) = \max\{0,\ 1 - (\hat y_c - \hat y_{c'})\},
\qquad c' = \operatorname{argmax}_{i \in \mathcal{C} \setminus \{c\}} \hat y_i .$$

**Solution.** In fnn a criterion is just a function of `(input, target)`; its gradient is `jax.grad`. Mask
the true class with $-\infty$ to find $c'$, and average over the batch:
%% code
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
%% md
Train a linear classifier with it on three Gaussian blobs:
%% code
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
'''

# ============================================================================ 02: Linear forward/backward

NOTEBOOKS["02_linear_forward_backward.ipynb"] = r'''
%% md
# 2 · Neural networks with fnn: the Linear module, forward and backward

A re-telling of "Neural Networks with torch7" in fnn. Most neural networks are directed acyclic graphs;
the simplest are *sequential feed-forward* networks (multilayer perceptrons and convolutional networks
belong here). fnn builds them, like torch7, with the container `fnn.Sequential`. We put one `Linear` module
in it, run it forward and backward, and check every number against its analytical expression.
%% code
import jax
import jax.numpy as jnp
import numpy as np

import fnn

jax.config.update("jax_enable_x64", True)  # torch7's DoubleTensors
np.set_printoptions(precision=4, suppress=True)
%% md
## The Sequential container and the Linear module

torch7 built containers by mutation (`model = nn.Sequential(); model:add(nn.Linear(3, 4))`). fnn modules are
immutable: list the children, or use `add`, which returns a new container.
%% code
model = fnn.Sequential().add(fnn.Linear(3, 4))
print(model)
%% md
`Linear(3, 4)` takes a vector of size 3 and maps it into a 4-dimensional space:

$$\mathbf{y} = W\mathbf{x} + \mathbf{b}, \qquad W \in \mathbb{R}^{4 \times 3},\ \mathbf{b} \in \mathbb{R}^4.$$

(The original tutorial writes $W^{\top}\mathbf{x}$ for a $3 \times 4$ matrix; torch stores `weight` as
`(out, in)` = $4 \times 3$, so it computes $W\mathbf{x}$.) The model's printout lists no weights because an
fnn module holds none: `init` creates them, for an input shape (`-1` = any batch size).
%% code
init, apply = model
out_shape, params = init(jax.random.key(0), (-1, 3), jnp.float64)
print("output shape:", out_shape)
print(jax.tree.map(jnp.shape, params))
print(fnn.summary(model, (-1, 3), jnp.float64))
%% md
## The forward pass

torch7's `model:forward(X)` is `apply(params, X)`.
%% code
X = jax.random.normal(jax.random.key(1), (3,), jnp.float64)
print("X =", X)
Y = apply(params, X)
print("Y =", Y)
%% md
Now replicate it by hand. torch7's `model:get(1).weight` is `params[0]['weight']`: the first child's entry
of the params tuple (0-based), a dict with torch's names.
%% code
W = params[0]["weight"]
b = params[0]["bias"]
print("W =\n", W)
print("b =", b)
print("W·X + b =", W @ X + b)
assert jnp.allclose(Y, W @ X + b)
%% md
torch7 modules also store their last output (`model:get(1).output`); fnn keeps nothing, the output is
the value `apply` returned.

## The backward pass

A backward pass gives the gradients of an error $E$ w.r.t. everything the module depends on:

* **gradBias** $= \frac{\partial E}{\partial \mathbf{b}}$,
* **gradWeight** $= \frac{\partial E}{\partial W}$,
* **gradInput** $= \frac{\partial E}{\partial \mathbf{x}}$,

given **gradOutput** $= \frac{\partial E}{\partial \mathbf{y}}$, the error arriving from the layers above.
(In the Python code they are spelled `grad_output`, `grad_input`, `grads[0]['weight']`, `grads[0]['bias']`.)

torch7 needed `model:zeroGradParameters()` first, because its gradient buffers *accumulate* (garbage or old
values would spoil the result). `fnn.backward(module, params, input, gradOutput)` returns fresh arrays,
`(gradInput, gradParams)`, so there is nothing to zero.

The tutorial's gradOutput is a vector of 2s (there is no module above the Linear, so it makes one up):
%% code
grad_output = jnp.full(4, 2.0)
grad_input, grads = fnn.backward(model, params, X, grad_output)  # model:backward(X, gradOutput)
print("gradInput  =", grad_input)
print("gradBias   =", grads[0]["bias"])
print("gradWeight =\n", grads[0]["weight"])
%% md
A gradOutput that comes from a real error: take $E = \lVert \mathbf{s} \rVert^2$ with $\mathbf{s} = W\mathbf{x} +
\mathbf{b}$ the output. Then

$$\text{gradOutput} = \frac{\partial E}{\partial \mathbf{s}} = 2\mathbf{s}.$$

We use this gradOutput from here on, and check that `fnn.backward` agrees with differentiating $E$ directly.
%% code
s = apply(params, X)
grad_output = 2 * s
grad_input, grads = fnn.backward(model, params, X, grad_output)
print("gradOutput = 2s =", grad_output)

E = lambda p, x: jnp.sum(apply(p, x) ** 2)
de_dparams, de_dx = jax.grad(E, argnums=(0, 1))(params, X)
assert jnp.allclose(grad_input, de_dx)
assert all(jnp.allclose(a, b) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(de_dparams), strict=True))
%% md
### gradBias

$$\frac{\partial E}{\partial b_i} = \frac{\partial E}{\partial y_i} \frac{\partial y_i}{\partial b_i}
= \frac{\partial E}{\partial y_i}, \qquad\text{since } \frac{\partial y_i}{\partial b_i} = 1:
\qquad \text{gradBias} = \text{gradOutput}.$$
%% code
print("gradBias   =", grads[0]["bias"])
print("gradOutput =", grad_output)
assert jnp.allclose(grads[0]["bias"], grad_output)
%% md
### gradWeight

$y_i = \sum_j W_{ij} x_j + b_i$, so $\frac{\partial E}{\partial W_{ij}} = \frac{\partial E}{\partial y_i}\, x_j$:
row $i$ is $\frac{\partial E}{\partial y_i}$ times the input. That is an outer product,

$$\frac{\partial E}{\partial W} = \text{gradOutput} \otimes \mathbf{x} =
\begin{bmatrix}
\frac{\partial E}{\partial y_1} x_1 & \frac{\partial E}{\partial y_1} x_2 & \frac{\partial E}{\partial y_1} x_3 \\
\vdots & \vdots & \vdots \\
\frac{\partial E}{\partial y_4} x_1 & \frac{\partial E}{\partial y_4} x_2 & \frac{\partial E}{\partial y_4} x_3
\end{bmatrix}.$$

(With the tutorial's gradOutput of all 2s every row was the same, $2\mathbf{x}$.)
%% code
print("first row, gradOutput[0] * X =", grad_output[0] * X)
print("gradWeight =\n", grads[0]["weight"])
print("gradOutput ⊗ X =\n", jnp.outer(grad_output, X))
assert jnp.allclose(grads[0]["weight"], jnp.outer(grad_output, X))
%% md
### gradInput

$\frac{\partial E}{\partial x_j} = \sum_i \frac{\partial E}{\partial y_i} W_{ij}$: the row vector
gradOutput times $W$, i.e.

$$\frac{\partial E}{\partial \mathbf{x}} = W^{\top}\,\text{gradOutput} =
\begin{bmatrix} \frac{\partial E}{\partial y_1} & \cdots & \frac{\partial E}{\partial y_4} \end{bmatrix}
\begin{bmatrix} w_{11} & w_{12} & w_{13} \\ \vdots & \vdots & \vdots \\ w_{41} & w_{42} & w_{43} \end{bmatrix}.$$
%% code
print("gradInput       =", grad_input)
print("Wᵀ · gradOutput =", W.T @ grad_output)
print("gradOutput · W  =", grad_output.reshape(1, 4) @ W)  # the tutorial's gradOutput:reshape(1,4)*W
assert jnp.allclose(grad_input, W.T @ grad_output)
%% md
## The same for a batch

Give the module a batch $X \in \mathbb{R}^{N \times 3}$ and it computes $Y = XW^{\top} + \mathbf{b}$ row by
row. The parameter gradients are then **summed over the batch** (as torch7's `accGradParameters`):
gradWeight $= \text{gradOutput}^{\top} X$, gradBias $= \sum_n \text{gradOutput}_n$, and gradInput
$= \text{gradOutput}\, W$.
%% code
Xb = jax.random.normal(jax.random.key(2), (5, 3), jnp.float64)
Sb = apply(params, Xb)
g_in, g = fnn.backward(model, params, Xb, 2 * Sb)
assert jnp.allclose(g[0]["weight"], (2 * Sb).T @ Xb)
assert jnp.allclose(g[0]["bias"], jnp.sum(2 * Sb, axis=0))
assert jnp.allclose(g_in, (2 * Sb) @ W)
print("batch of", Xb.shape[0], "examples: gradWeight =\n", g[0]["weight"])
'''

# ============================================================================ 03: LeNet on MNIST

NOTEBOOKS["03_lenet_mnist.ipynb"] = r'''
%% md
# 3 · Neural nets: define LeNet, compute a loss, backprop, update, train on MNIST

A re-telling of the PyTorch "Neural Networks" tutorial in fnn. The network classifies digit images
(LeCun's LeNet-5): it feeds the input through several layers, one after the other, and gives an output.

A **typical training procedure**:

1. define the network, which has some learnable parameters (weights);
2. iterate over a dataset of inputs;
3. process each input through the network;
4. compute the loss (how far the output is from being correct);
5. propagate gradients back into the network's parameters;
6. update the weights, typically with `weight = weight - learning_rate * gradient`.
%% code
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import fnn
import fnn.data
import fnn.train

np.set_printoptions(precision=4, suppress=True)
%% md
## Define the network

PyTorch writes a class with a `forward` method. In fnn the model *is* its architecture: a `Sequential`
of layers. We use torch7's names: `SpatialConvolution(nIn, nOut, kW, kH)` and `SpatialMaxPooling(kW, kH)`;
the PyTorch names `fnn.Conv2d(1, 6, 5)` and `fnn.MaxPool2d(2)` are aliases with PyTorch's argument
conventions (and PyTorch's printout), and build the same layers. `View(16 * 5 * 5, num_input_dims=3)` flattens each
example (`x.view(-1, num_flat_features(x))`; torch7's `nn.View(400):setNumInputDims(3)`: one example is 3-D,
so a batch of one stays a batch). The last layer has no activation.
%% code
net = fnn.Sequential(
    fnn.SpatialConvolution(1, 6, 5, 5),  # 1 input channel, 6 output channels, 5x5 kernel; Conv2d(1, 6, 5)
    fnn.ReLU(),
    fnn.SpatialMaxPooling(2, 2),  # max pooling over a 2x2 window; MaxPool2d(2)
    fnn.SpatialConvolution(6, 16, 5, 5),  # Conv2d(6, 16, 5)
    fnn.ReLU(),
    fnn.SpatialMaxPooling(2, 2),
    fnn.View(16 * 5 * 5, num_input_dims=3),  # flatten each example
    fnn.Linear(16 * 5 * 5, 120),  # an affine map y = Wx + b
    fnn.ReLU(),
    fnn.Linear(120, 84),
    fnn.ReLU(),
    fnn.Linear(84, 10),  # 10 classes: the digits
)
print(net)
%% md
`fnn.summary` shows every layer's input and output shape and its parameters, computed by abstract
evaluation (nothing is allocated). `-1` is the batch size, unknown until data arrives.
%% code
print(fnn.summary(net, (-1, 1, 32, 32)))
%% md
The learnable parameters come from `init`, as a pytree: a tuple with one entry per layer, each a dict with
torch's names and layouts. There are 10 arrays, and `params[0]['weight']` is conv1's weight, exactly
PyTorch's `state_dict()["0.weight"]`.
%% code
init, apply = net
out_shape, params = init(jax.random.key(0), (-1, 1, 32, 32))
print("number of arrays:", len(jax.tree.leaves(params)))
print("conv1 weight:", params[0]["weight"].shape)
for i, p in enumerate(params):
    for name, a in (p or {}).items():  # layers without parameters hold ()
        print(f"  {f'{i}.{name}':10s} {a.shape}")
print("total:", fnn.count_parameters(params), "parameters")
%% md
Process a random $32 \times 32$ input (a batch of one image, one channel):
%% code
input = jax.random.normal(jax.random.key(1), (1, 1, 32, 32))
out = apply(params, input)
print(out)
%% md
PyTorch now zeroes the gradient buffers and backprops random gradients with `out.backward(torch.randn(1,
10))`. fnn has no buffers to zero; `fnn.backward` returns the gradients w.r.t. the input and the params:
%% code
grad_input, grads = fnn.backward(net, params, input, jax.random.normal(jax.random.key(2), (1, 10)))
print("gradInput:", grad_input.shape, "| conv1 weight gradient:", grads[0]["weight"].shape)
%% md
**A note on batches.** PyTorch's `nn` only takes mini-batches (`Conv2d` wants `nSamples × nChannels × Height ×
Width`). fnn, like torch7, also takes one example: a `(1, 32, 32)` image gives a `(10,)` output, and
`jax.vmap` over examples equals the batched call.
%% code
print(apply(params, input[0]).shape)
assert jnp.allclose(apply(params, input[0]), out[0], atol=1e-5)
%% md
**Recap.** `jax.Array` is the multi-dimensional array; there is no `Variable`: `jax.grad` / `jax.vjp`
differentiate any function of arrays, and nothing records history on the arrays themselves. An fnn
`Module` describes the layers; the parameters are an ordinary pytree you can save, transform, shard or hand
to an optimizer.

## Loss function

A loss function takes the `(output, target)` pair and estimates how far the output is from the target.
`fnn.MSELoss` (PyTorch's name; torch7's `MSECriterion`) is the mean squared error. The target here is a dummy,
$1, 2, \ldots, 10$.
%% code
target = jnp.arange(1.0, 11.0).reshape(1, -1)  # a dummy target, shaped like the output
criterion = fnn.MSELoss()
output = apply(params, input)
loss = criterion(output, target)
print(loss)
%% md
The computation graph:

```
input -> conv2d -> relu -> maxpool2d -> conv2d -> relu -> maxpool2d
      -> view -> linear -> relu -> linear -> relu -> linear
      -> MSELoss
      -> loss
```

## Backprop

The loss is a function of the parameters; `jax.grad` gives its gradient, shaped like `params`. PyTorch needs
`net.zero_grad()` first or the gradients add up; in fnn there is nothing to clean. Look at conv1's bias
gradient:
%% code
def loss_fn(params, x, target):
    return criterion(apply(params, x), target)


grads = jax.grad(loss_fn)(params, input, target)
print("conv1.bias.grad after backward")
print(grads[0]["bias"])
%% md
## Update the weights

The simplest rule used in practice is stochastic gradient descent (SGD):
`weight = weight - learning_rate * gradient`. By hand, over the whole pytree (torch7's
`updateParameters`, `fnn.update_parameters`):
%% code
learning_rate = 0.01
new_params = jax.tree.map(lambda w, g: w - learning_rate * g, params, grads)
same = fnn.update_parameters(params, grads, learning_rate)
assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(same), strict=True))
print("loss before:", loss_fn(params, input, target), " after one SGD step:", loss_fn(new_params, input, target))
%% md
Other rules (Nesterov momentum, Adam, RMSProp, ...) come from **optax**, JAX's `torch.optim`. An optimizer
is also a pair of pure functions: `init(params) -> opt_state` and `update(grads, opt_state, params) ->
(updates, opt_state)`. One training step:
%% code
def make_step(optimizer):
    @jax.jit
    def step(params, opt_state, x, target):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, target)  # forward + backward
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss  # the update

    return step


optimizers = {
    "SGD": optax.sgd(0.01),
    "Nesterov": optax.sgd(0.01, momentum=0.9, nesterov=True),
    "Adam": optax.adam(1e-3),
    "RMSProp": optax.rmsprop(1e-3),
}
for name, optimizer in optimizers.items():
    step = make_step(optimizer)
    p, opt_state = params, optimizer.init(params)  # optimizer.zero_grad() has no counterpart
    for _ in range(5):
        p, opt_state, loss = step(p, opt_state, input, target)
    print(f"{name:9s} loss after 5 steps on the dummy target: {float(loss_fn(p, input, target)):.4f}")
%% md
## Training on MNIST

Now the real thing: classify handwritten digits. `fnn.data.load_mnist` reads MNIST from a local file
(nothing downloads; set `FNN_MNIST` or keep `mnist.npz` in `../../shared/data/`); `pad_to=32` pads the
$28 \times 28$ images to LeNet's $32 \times 32$, as LeCun did. When the file is absent the notebook falls back to
scikit-learn's bundled $8 \times 8$ digits, upsampled to $32 \times 32$ (`fnn.data.load_digits`).

To keep the notebook quick on a laptop CPU we train on a **10,000-image subset** of the 60,000 MNIST training
images (the first 10,000) for **2 epochs**, and test on the full 10,000-image test set.
%% code
mnist_path = os.environ.get("FNN_MNIST") or os.path.join("..", "..", "shared", "data", "mnist.npz")
if os.path.exists(mnist_path):
    train_full, test = fnn.data.load_mnist(mnist_path, pad_to=32)
    train, epochs = train_full[:10_000], 2
    print(f"MNIST: {len(train_full):,} training images, using the first {len(train):,}; {len(test):,} test images")
else:
    (train, test), epochs = fnn.data.load_digits(size=32), 15  # a smaller set: more epochs
    print(f"MNIST not found: scikit-learn's digits, {len(train):,} training and {len(test):,} test images")
print(train)
%% code
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, img, label in zip(axes, train.x[:8], train.y[:8], strict=True):
    ax.imshow(img[0], cmap="gray_r")
    ax.set_title(int(label))
    ax.axis("off")
plt.show()
%% md
For classification we end the network with `LogSoftMax` and use the negative log-likelihood
(`ClassNLLCriterion`, PyTorch's `NLLLoss`); together they are the cross-entropy. The loop is the six steps
from the top: `fnn.train.make_train_step` returns the jitted step (forward, loss, `jax.grad`, optax update)
and we iterate over shuffled mini-batches of 64, recording the loss of every step.
%% code
model = fnn.Sequential(*net.children, fnn.LogSoftMax())
nll = fnn.ClassNLLCriterion()
optimizer = optax.sgd(0.05, momentum=0.9)

_, params, state = model.stateful.init(jax.random.key(0), train.input_shape)
opt_state = optimizer.init(params)
step = fnn.train.make_train_step(model, nll, optimizer)

losses, test_accuracy = [], []
for epoch in range(epochs):
    batches = train.batches(64, rng=jax.random.fold_in(jax.random.key(1), epoch))
    for i, (x, y) in enumerate(batches):
        params, state, opt_state, loss = step(params, state, opt_state, x, y, jax.random.key(i))
        losses.append(loss)
    acc = fnn.train.evaluate(model, params, test)["accuracy"]  # eval mode, batches of 1000
    test_accuracy.append(acc)
    print(f"epoch {epoch + 1}: mean training loss {float(np.mean(losses[-(len(train) // 64):])):.4f}, "
          f"test accuracy {acc:.2%}")
%% code
losses = np.asarray(losses)
smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(losses, alpha=0.3, label="per step")
ax.plot(np.arange(19, len(losses)), smooth, label="moving average (20 steps)")
ax.set_xlabel("step (mini-batch of 64)")
ax.set_ylabel("NLL loss")
ax.set_title(f"LeNet, {len(train):,} training images; test accuracy {test_accuracy[-1]:.1%}")
ax.set_yscale("log")
ax.legend()
plt.show()
%% md
Some test images and the network's guesses:
%% code
pred = jnp.argmax(model.apply(params, test.x[:12]), axis=1)
fig, axes = plt.subplots(1, 12, figsize=(10, 1.3))
for ax, img, p, y in zip(axes, test.x[:12], pred, test.y[:12], strict=True):
    ax.imshow(img[0], cmap="gray_r")
    ax.set_title(f"{int(p)}", color="green" if p == y else "red")
    ax.axis("off")
plt.show()
%% md
The whole loop is also one call: `fnn.train.fit(model, criterion, optimizer, data, epochs=..., batch_size=...)`
keeps the data on the device, compiles once, and returns the parameters with a per-epoch history. It is the
subject of the next notebook.
'''

# ============================================================================ 04: logistic unit and SGD

NOTEBOOKS["04_logistic_unit_and_sgd.ipynb"] = r'''
%% md
# 4 · The logistic unit, back-propagation step by step, and training with SGD

A re-telling of "Practical 2.2 — an overview of torch's `nn` package" in fnn:

1. Jacobian notation;
2. a logistic unit (`Linear` + `Sigmoid`), forward step by step;
3. back-propagation step by step: `MSECriterion`, `updateGradInput`, `accGradParameters`;
4. the same with `Sequential`, a criterion, and `updateParameters`;
5. training: stochastic vs mini-batch gradient descent, torch7's `StochasticGradient`, and regression
   with a 3-layer network.
%% code
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import fnn
from fnn.train import StochasticGradient, fit

np.set_printoptions(precision=4, suppress=True)
%% md
## 1. Notation: the Jacobian

For $\mathbf{y} = f(\mathbf{x})$ with $\mathbf{x} \in \mathbb{R}^n$, $\mathbf{y} \in \mathbb{R}^m$, the Jacobian
collects every partial derivative (numerator layout: one row per output),

$$\frac{\partial \mathbf{y}}{\partial \mathbf{x}} =
\begin{bmatrix}
\frac{\partial y_1}{\partial x_1} & \cdots & \frac{\partial y_1}{\partial x_n} \\
\vdots & \ddots & \vdots \\
\frac{\partial y_m}{\partial x_1} & \cdots & \frac{\partial y_m}{\partial x_n}
\end{bmatrix} \in \mathbb{R}^{m \times n}.$$

For a scalar error $E$ the chain rule through $\mathbf{y}$ reads
$\frac{\partial E}{\partial \mathbf{x}} = \frac{\partial E}{\partial \mathbf{y}} \frac{\partial \mathbf{y}}{\partial
\mathbf{x}}$ (a row vector times the Jacobian): a **vector-Jacobian product**. That is all a module's backward
computes, and it never builds the Jacobian. `jax.jacobian` builds it anyway, so we can look: a `Linear`'s
Jacobian w.r.t. its input is its weight $W$, a `Sigmoid`'s is
$\mathrm{diag}(\sigma(\mathbf{x})(1 - \sigma(\mathbf{x})))$.
%% code
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
%% md
## 2. A logistic unit, forward step by step

A logistic unit is a linear map followed by the logistic sigmoid,
$\hat y = \sigma(\mathbf{w}^{\top}\mathbf{x} + b)$, $\sigma(z) = 1 / (1 + e^{-z})$. With two inputs:
`Linear(2, 1)` then `Sigmoid()`. The weight has torch's layout `(out, in)` = `(1, 2)`.
%% code
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
%% md
## 3. Back-propagation step by step

**The loss.** `MSECriterion` with `sizeAverage` (the default) is $E = \frac{1}{n}\sum_i (a_i - y_i)^2$; its
backward (torch7's `updateGradInput(input, target)`) is $\frac{\partial E}{\partial a} = \frac{2}{n}(a - y)$.
With `size_average=False` the $\frac1n$ goes.
%% code
mse = fnn.MSECriterion()
y = jnp.array([1.0])  # the target
E = mse(a, y)  # mse:forward(a, y)
de_da = mse.backward(a, y)  # mse:updateGradInput(a, y)
print("E =", E, " dE/da =", de_da)
assert jnp.allclose(de_da, 2 * (a - y) / a.size)
print("sizeAverage=false on 2 outputs:", fnn.MSECriterion(size_average=False)(jnp.array([0.5, 0.2]), jnp.zeros(2)))
%% md
**`updateGradInput(input, gradOutput)`** is the vector-Jacobian product w.r.t. the module's *input*, and
**`accGradParameters(input, gradOutput)`** the one w.r.t. its *parameters*. In JAX both are `jax.vjp`: of the
forward as a function of the input, or as a function of the params. Through the sigmoid,
$\frac{\partial E}{\partial z} = \frac{\partial E}{\partial a}\,\sigma(z)(1 - \sigma(z))$:
%% code
_, sig_vjp = jax.vjp(lambda z: sigmoid.apply((), z), z)
(de_dz,) = sig_vjp(de_da)  # sigmoid:updateGradInput(z, de_da)
print("dE/dz =", de_dz)
assert jnp.allclose(de_dz, de_da * a * (1 - a))
%% md
Through the linear layer: $\frac{\partial E}{\partial \mathbf{x}} = W^{\top}\delta$ (gradInput),
$\frac{\partial E}{\partial W} = \delta\,\mathbf{x}^{\top}$ (gradWeight) and $\frac{\partial E}{\partial b} =
\delta$ (gradBias), where $\delta = \frac{\partial E}{\partial z}$.
%% code
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
%% md
torch7's `accGradParameters` *added* into `gradWeight` (hence `zeroGradParameters()` before each step).
JAX returns fresh gradients: accumulating, if you want it, is an explicit `jax.tree.map(jnp.add, ...)`.

## 4. The same with `Sequential`

`Sequential` chains the two modules; `net[0]` is the linear layer (torch7's `net:get(1)`) and `params[0]` its
parameters. The whole backward is one call, and it agrees with the pieces above. `update_parameters(params,
grads, eta)` is torch7's `net:updateParameters(eta)`: $\theta \leftarrow \theta - \eta\,\nabla_\theta E$.
%% code
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
%% md
## 5. Training a network

A data set: two Gaussian clouds in the plane, labels 0 and 1, for the logistic unit to separate.
%% code
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
%% md
**Stochastic gradient descent (SGD)** updates after every single example,
$\theta \leftarrow \theta - \eta \nabla_\theta E(\mathbf{x}_i, y_i)$: many cheap, noisy steps per epoch.
**(Mini-)batch gradient descent** averages the gradient over $B$ examples (all $n$ for full-batch GD) and
updates once per batch: fewer, smoother steps. `fnn.train.fit` does both: `batch_size=1` is SGD.
After every epoch we record the loss on the whole data set, with the same start and learning rate for each.
%% code
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
%% md
Per epoch (left), SGD makes the most progress: 200 updates against 1. Per update (right), the averaged
gradients make better steps, and each batched step costs about as much as one per-example step on vector
hardware. Mini-batches are the usual compromise.

**torch7's `nn.StochasticGradient(net, criterion)`** is in `fnn.train`: per-example SGD with torch7's fields
(`learning_rate`, `learning_rate_decay`, `max_iteration`, `shuffle_indices`, `verbose`) and its printout.
`trainer.train(dataset)` takes a `Dataset` or an `(inputs, targets)` pair and returns the final training
state.
%% code
trainer = StochasticGradient(net, mse)
trainer.learning_rate = 0.1
trainer.max_iteration = 5
ts = trainer.train((X, Y), rng=jax.random.key(4), params=params0)
acc = float(jnp.mean((net.apply(ts.params, X) > 0.5) == (Y > 0.5)))
print(f"training accuracy of the logistic unit: {acc:.1%}")
%% md
## Regression with a 3-layer network

A network with two hidden layers of `Tanh` units fits a noisy 1-D function (after the practical's
*Machine learning with Torch* regression example): $y = \sin(3x) + 0.3x^2 + \varepsilon$. The loss is the
MSE; optimizer Adam, mini-batches of 32.
%% code
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
'''


# ============================================================================ the builder


def cells_of(text: str) -> list[nbformat.NotebookNode]:
    """The cells of one notebook source: ``%% md`` / ``%% code`` lines start cells."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            cells.append(new_markdown_cell(body) if kind == "md" else new_code_cell(body))

    for line in text.splitlines():
        if line.strip() in ("%% md", "%% code"):
            flush()
            kind, lines = line.strip()[3:], []
        else:
            lines.append(line)
    flush()
    return cells


def notebook(name: str) -> nbformat.NotebookNode:
    """The unexecuted notebook ``name`` (e.g. ``01_nn_intro.ipynb``)."""
    nb = new_notebook(cells=cells_of(NOTEBOOKS[name]))
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name[:2]}-{i:02d}"  # stable ids: a rebuild changes only what changed
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, *, timeout: float = TIMEOUT, cwd: Path = HERE) -> nbformat.NotebookNode:
    """Runs ``nb`` top to bottom in a fresh ``python3`` kernel; raises on the first error or at the deadline.

    ``timeout`` bounds the whole notebook: each cell gets what is left of it.
    """
    from nbclient import NotebookClient

    deadline = time.monotonic() + timeout
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=int(timeout),
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=300,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    return client.execute()


def _replacements() -> list[tuple[str, str]]:
    pairs = [(str(ROOT), "."), (str(HERE), "."), (sys.prefix, "<python>"), (sys.base_prefix, "<python>"),
             (os.path.expanduser("~"), "~")]
    return sorted({(a, b) for a, b in pairs if len(a) > 1}, key=lambda p: -len(p[0]))


def _scrub_text(text: str) -> str:
    for old, new in _replacements():
        text = text.replace(old, new)
    return text


def scrub(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Replaces machine paths in every text output with relative ones."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = _scrub_text(out["text"])
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    out["data"][mime] = _scrub_text(value)
            if "traceback" in out:
                out["traceback"] = [_scrub_text(t) for t in out["traceback"]]
            if "evalue" in out:
                out["evalue"] = _scrub_text(out["evalue"])
    return nb


def text_outputs(nb: nbformat.NotebookNode) -> str:
    """Every text output of ``nb`` (streams, text mime types, errors), concatenated."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(v for k, v in out.get("data", {}).items() if k.startswith("text/") and isinstance(v, str))
            parts.extend(out.get("traceback", []))
    return "\n".join(parts)


def machine_paths(nb: nbformat.NotebookNode) -> list[str]:
    """The forbidden path fragments that occur in ``nb``'s text outputs."""
    text = text_outputs(nb)
    return [f for f in FORBIDDEN if f in text]


def build(name: str) -> Path:
    """Builds, executes, scrubs and writes one notebook; returns its path."""
    start = time.monotonic()
    nb = scrub(execute(notebook(name)))
    left = machine_paths(nb)
    if left:
        raise RuntimeError(f"{name}: outputs still contain machine paths {left}; print relative paths instead")
    path = HERE / name
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"{name}: {time.monotonic() - start:.0f} s, {path.stat().st_size / 1024:.0f} KiB")
    return path


def source_mismatches(name: str) -> list[int]:
    """Indices of the committed notebook's cells whose type or source differs from the sources here."""
    committed = nbformat.read(HERE / name, as_version=4)
    wanted = notebook(name)
    if len(committed.cells) != len(wanted.cells):
        return list(range(max(len(committed.cells), len(wanted.cells))))
    return [i for i, (a, b) in enumerate(zip(committed.cells, wanted.cells, strict=True))
            if a.cell_type != b.cell_type or a.source != b.source]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    parser.add_argument("--check", action="store_true", help="only compare the committed cells with these sources")
    args = parser.parse_args(argv)
    names = []
    for given in args.names or list(NOTEBOOKS):
        matches = [n for n in NOTEBOOKS if n.startswith(given)]
        if len(matches) != 1:
            parser.error(f"{given!r} names {len(matches)} notebooks; known: {list(NOTEBOOKS)}")
        names += matches
    if args.check:
        bad = {n: source_mismatches(n) for n in names}
        for n, cells in bad.items():
            print(f"{n}: {'up to date' if not cells else f'cells {cells} differ: rebuild it'}")
        return 1 if any(bad.values()) else 0
    # The kernel inherits this environment: fnn importable without installing it, inline figures.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    for name in names:
        build(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
