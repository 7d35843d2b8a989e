"""Graphs, as nngraph wrote them: a residual network and a two-input two-output model.

Calling a Module on graph nodes makes a node; ``fnn.gModule(inputs, outputs)`` makes the
graph one Module, an ``(init, apply)`` pair like any other layer. This script builds both
models, prints them (torch7's node list), draws them (Graphviz DOT text, rendered to SVG
when the ``dot`` program is installed) and trains the residual network on scikit-learn's
digits for a few epochs. Run: ``python examples/graphs.py``.
"""

import shutil
import subprocess

import jax
import jax.numpy as jnp
import optax

import fnn


def residual_block(x: fnn.Node, width: int, name: str) -> fnn.Node:
    """``x + Linear(ReLU(Linear(x)))``: the block's two Linears, then the skip connection."""
    h = fnn.Linear(width, width)(fnn.ReLU()(fnn.Linear(width, width)(x)))
    return fnn.ReLU()(fnn.CAddTable()(h, x)).annotate(name=name, graph_attributes={"color": "blue"})


def residual_network() -> fnn.Module:
    image = fnn.Input().annotate(name="image")
    h = fnn.ReLU()(fnn.Linear(64, 32)(fnn.View(64)(image)))
    h = residual_block(h, 32, "block 1")
    h = residual_block(h, 32, "block 2")
    return fnn.gModule([image], [fnn.LogSoftMax()(fnn.Linear(32, 10)(h))])


def two_inputs_two_outputs() -> fnn.Module:
    """nngraph's README network: two inputs, a shared sum, a sigmoid and a tanh output."""
    h1, h2 = fnn.Linear(20, 20)(), fnn.Linear(10, 10)()  # modules called with no node are inputs
    hh1 = fnn.Linear(20, 1)(fnn.Tanh()(h1))
    hh2 = fnn.Linear(10, 1)(fnn.Tanh()(h2))
    madd = fnn.CAddTable()(hh1, hh2).annotate(name="madd", description="the shared sum")
    return fnn.gModule([h1, h2], [fnn.Sigmoid()(madd), fnn.Tanh()(madd)])


def draw(model: fnn.Module, stem: str) -> None:
    """Writes ``stem.dot``; renders ``stem.svg`` when Graphviz is installed, else prints the DOT text."""
    dot = model.to_dot(title=stem)
    with open(f"{stem}.dot", "w") as f:
        f.write(dot)
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg", f"{stem}.dot", "-o", f"{stem}.svg"], check=True)
        print(f"drew {stem}.svg")
    else:
        print(f"(Graphviz is not installed: the DOT text of {stem}, also in {stem}.dot)\n{dot}")


def main() -> None:
    # The two-input two-output model: a table in, a table out.
    gmod = two_inputs_two_outputs()
    print(gmod)
    out_shape, params = gmod.init(jax.random.key(0), ((-1, 20), (-1, 10)))
    o_a, o_b = gmod.apply(params, (jnp.ones((4, 20)), jnp.ones((4, 10))))
    print("output shapes:", out_shape, "->", o_a.shape, o_b.shape)
    assert out_shape == ((-1, 1), (-1, 1)) and o_a.shape == o_b.shape == (4, 1)
    draw(gmod, "two_inputs_two_outputs")

    # The residual network: printed, summarised, drawn, trained.
    net = residual_network()
    print(net)
    print(fnn.summary(net, (-1, 1, 8, 8)))
    draw(net, "residual_network")
    train, test = fnn.load_digits()
    state = fnn.fit(net, fnn.ClassNLLCriterion(), optax.adam(1e-2), train, epochs=3, batch_size=50, rng=0,
                    eval_data=test, progress=False)
    accuracy = state.history["eval_accuracy"][-1]
    print(f"residual network, test accuracy after 3 epochs: {accuracy:.3f}")
    assert accuracy > 0.8, accuracy


if __name__ == "__main__":
    main()
