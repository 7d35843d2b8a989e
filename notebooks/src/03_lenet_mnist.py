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
# # 3 · Neural nets: define LeNet, compute a loss, backprop, update, train on MNIST
#
# A re-telling of the PyTorch "Neural Networks" tutorial in fnn. The network classifies digit images
# (LeCun's LeNet-5): it feeds the input through several layers, one after the other, and gives an output.
#
# A **typical training procedure**:
#
# 1. define the network, which has some learnable parameters (weights);
# 2. iterate over a dataset of inputs;
# 3. process each input through the network;
# 4. compute the loss (how far the output is from being correct);
# 5. propagate gradients back into the network's parameters;
# 6. update the weights, typically with `weight = weight - learning_rate * gradient`.

# %%
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

# %% [markdown]
# ## Define the network
#
# PyTorch writes a class with a `forward` method. In fnn the model *is* its architecture: a `Sequential`
# of layers. We use torch7's names: `SpatialConvolution(nIn, nOut, kW, kH)` and `SpatialMaxPooling(kW, kH)`;
# the PyTorch names `fnn.Conv2d(1, 6, 5)` and `fnn.MaxPool2d(2)` are aliases with PyTorch's argument
# conventions (and PyTorch's printout), and build the same layers. `View(16 * 5 * 5, num_input_dims=3)` flattens each
# example (`x.view(-1, num_flat_features(x))`; torch7's `nn.View(400):setNumInputDims(3)`: one example is 3-D,
# so a batch of one stays a batch). The last layer has no activation.

# %%
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

# %% [markdown]
# `fnn.summary` shows every layer's input and output shape and its parameters, computed by abstract
# evaluation (nothing is allocated). `-1` is the batch size, unknown until data arrives.

# %%
print(fnn.summary(net, (-1, 1, 32, 32)))

# %% [markdown]
# The learnable parameters come from `init`, as a pytree: a tuple with one entry per layer, each a dict with
# torch's names and layouts. There are 10 arrays, and `params[0]['weight']` is conv1's weight, exactly
# PyTorch's `state_dict()["0.weight"]`.

# %%
init, apply = net
out_shape, params = init(jax.random.key(0), (-1, 1, 32, 32))
print("number of arrays:", len(jax.tree.leaves(params)))
print("conv1 weight:", params[0]["weight"].shape)
for i, p in enumerate(params):
    for name, a in (p or {}).items():  # layers without parameters hold ()
        print(f"  {f'{i}.{name}':10s} {a.shape}")
print("total:", fnn.count_parameters(params), "parameters")

# %% [markdown]
# Process a random $32 \times 32$ input (a batch of one image, one channel):

# %%
input = jax.random.normal(jax.random.key(1), (1, 1, 32, 32))
out = apply(params, input)
print(out)

# %% [markdown]
# PyTorch now zeroes the gradient buffers and backprops random gradients with `out.backward(torch.randn(1,
# 10))`. fnn has no buffers to zero; `fnn.backward` returns the gradients w.r.t. the input and the params:

# %%
grad_input, grads = fnn.backward(net, params, input, jax.random.normal(jax.random.key(2), (1, 10)))
print("gradInput:", grad_input.shape, "| conv1 weight gradient:", grads[0]["weight"].shape)

# %% [markdown]
# **A note on batches.** PyTorch's `nn` only takes mini-batches (`Conv2d` wants `nSamples × nChannels × Height ×
# Width`). fnn, like torch7, also takes one example: a `(1, 32, 32)` image gives a `(10,)` output, and
# `jax.vmap` over examples equals the batched call.

# %%
print(apply(params, input[0]).shape)
assert jnp.allclose(apply(params, input[0]), out[0], atol=1e-5)

# %% [markdown]
# **Recap.** `jax.Array` is the multi-dimensional array; there is no `Variable`: `jax.grad` / `jax.vjp`
# differentiate any function of arrays, and nothing records history on the arrays themselves. An fnn
# `Module` describes the layers; the parameters are an ordinary pytree you can save, transform, shard or hand
# to an optimizer.
#
# ## Loss function
#
# A loss function takes the `(output, target)` pair and estimates how far the output is from the target.
# `fnn.MSELoss` (PyTorch's name; torch7's `MSECriterion`) is the mean squared error. The target here is a dummy,
# $1, 2, \ldots, 10$.

# %%
target = jnp.arange(1.0, 11.0).reshape(1, -1)  # a dummy target, shaped like the output
criterion = fnn.MSELoss()
output = apply(params, input)
loss = criterion(output, target)
print(loss)


# %% [markdown]
# The computation graph:
#
# ```
# input -> conv2d -> relu -> maxpool2d -> conv2d -> relu -> maxpool2d
#       -> view -> linear -> relu -> linear -> relu -> linear
#       -> MSELoss
#       -> loss
# ```
#
# ## Backprop
#
# The loss is a function of the parameters; `jax.grad` gives its gradient, shaped like `params`. PyTorch needs
# `net.zero_grad()` first or the gradients add up; in fnn there is nothing to clean. Look at conv1's bias
# gradient:

# %%
def loss_fn(params, x, target):
    return criterion(apply(params, x), target)


grads = jax.grad(loss_fn)(params, input, target)
print("conv1.bias.grad after backward")
print(grads[0]["bias"])

# %% [markdown]
# ## Update the weights
#
# The simplest rule used in practice is stochastic gradient descent (SGD):
# `weight = weight - learning_rate * gradient`. By hand, over the whole pytree (torch7's
# `updateParameters`, `fnn.update_parameters`):

# %%
learning_rate = 0.01
new_params = jax.tree.map(lambda w, g: w - learning_rate * g, params, grads)
same = fnn.update_parameters(params, grads, learning_rate)
assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(same), strict=True))
print("loss before:", loss_fn(params, input, target), " after one SGD step:", loss_fn(new_params, input, target))


# %% [markdown]
# Other rules (Nesterov momentum, Adam, RMSProp, ...) come from **optax**, JAX's `torch.optim`. An optimizer
# is also a pair of pure functions: `init(params) -> opt_state` and `update(grads, opt_state, params) ->
# (updates, opt_state)`. One training step:

# %%
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

# %% [markdown]
# ## Training on MNIST
#
# Now the real thing: classify handwritten digits. `fnn.data.load_mnist` reads MNIST from a local file
# (nothing downloads; set `FNN_MNIST` or keep `mnist.npz` in `../../shared/data/`); `pad_to=32` pads the
# $28 \times 28$ images to LeNet's $32 \times 32$, as LeCun did. When the file is absent the notebook falls back to
# scikit-learn's bundled $8 \times 8$ digits, upsampled to $32 \times 32$ (`fnn.data.load_digits`).
#
# To keep the notebook quick on a laptop CPU we train on a **10,000-image subset** of the 60,000 MNIST training
# images (the first 10,000) for **2 epochs**, and test on the full 10,000-image test set.

# %%
mnist_path = os.environ.get("FNN_MNIST") or os.path.join("..", "..", "shared", "data", "mnist.npz")
if os.path.exists(mnist_path):
    train_full, test = fnn.data.load_mnist(mnist_path, pad_to=32)
    train, epochs = train_full[:10_000], 2
    print(f"MNIST: {len(train_full):,} training images, using the first {len(train):,}; {len(test):,} test images")
else:
    (train, test), epochs = fnn.data.load_digits(size=32), 15  # a smaller set: more epochs
    print(f"MNIST not found: scikit-learn's digits, {len(train):,} training and {len(test):,} test images")
print(train)

# %%
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, img, label in zip(axes, train.x[:8], train.y[:8], strict=True):
    ax.imshow(img[0], cmap="gray_r")
    ax.set_title(int(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# For classification we end the network with `LogSoftMax` and use the negative log-likelihood
# (`ClassNLLCriterion`, PyTorch's `NLLLoss`); together they are the cross-entropy. The loop is the six steps
# from the top: `fnn.train.make_train_step` returns the jitted step (forward, loss, `jax.grad`, optax update)
# and we iterate over shuffled mini-batches of 64, recording the loss of every step.

# %%
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

# %%
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

# %% [markdown]
# Some test images and the network's guesses:

# %%
pred = jnp.argmax(model.apply(params, test.x[:12]), axis=1)
fig, axes = plt.subplots(1, 12, figsize=(10, 1.3))
for ax, img, p, y in zip(axes, test.x[:12], pred, test.y[:12], strict=True):
    ax.imshow(img[0], cmap="gray_r")
    ax.set_title(f"{int(p)}", color="green" if p == y else "red")
    ax.axis("off")
plt.show()

# %% [markdown]
# The whole loop is also one call: `fnn.train.fit(model, criterion, optimizer, data, epochs=..., batch_size=...)`
# keeps the data on the device, compiles once, and returns the parameters with a per-epoch history. It is the
# subject of the next notebook.
