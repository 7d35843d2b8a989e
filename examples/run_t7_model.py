"""Run an old Lua torch7 model (a ``.t7`` file from ``torch.save``) on JAX with fnn.

Run::

    python examples/run_t7_model.py model.t7 1,3,32,32    # a model and one input shape
    python examples/run_t7_model.py                          # the genuine nngraph file in ../shared/data/t7
                                                             # (or $FNN_T7)

The script loads the file (nothing in it is executed), prints the model as torch7 printed it
and a summary of its layers, runs it on a random input of the given shape (a comma-separated
shape; a table input is several shapes separated by ``;``), jit-compiled, and checks that the
jitted output equals the eager one. Float32 unless ``--float64``.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

import fnn

HERE = os.path.dirname(os.path.abspath(__file__))
T7_DIR = os.environ.get("FNN_T7", os.path.join(HERE, "..", "..", "shared", "data", "t7"))
GENUINE = os.path.join(T7_DIR, "gmodule_with_linear_identity.t7")


def parse_shapes(text: str) -> tuple:
    """``"1,3,32,32"`` -> ``(1, 3, 32, 32)``; ``"1,1;1,2"`` -> a table of two shapes."""
    shapes = tuple(tuple(int(d) for d in part.split(",")) for part in text.split(";"))
    return shapes[0] if len(shapes) == 1 else shapes


def random_input(shape: tuple, dtype) -> object:
    if shape and isinstance(shape[0], tuple):
        return tuple(random_input(s, dtype) for s in shape)
    return jax.random.normal(jax.random.key(0), shape, dtype)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=GENUINE, help="a .t7 file written by torch.save")
    parser.add_argument("shape", nargs="?", default="1,1;1,2", help="input shape(s), e.g. 1,3,32,32")
    parser.add_argument("--float64", action="store_true", help="load and run in float64")
    args = parser.parse_args(argv)
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if args.float64 else jnp.float32

    model, params, state = fnn.load_t7(args.path, dtype=dtype)
    print(model)
    shape = parse_shapes(args.shape)
    print(fnn.summary(model, shape, dtype))

    x = random_input(shape, dtype)
    apply = jax.jit(model.stateful.apply, static_argnames="train")
    y, _ = apply(params, state, x)
    y_eager, _ = model.stateful.apply(params, state, x)
    for a, b in zip(jax.tree.leaves(y), jax.tree.leaves(y_eager)):
        assert jnp.allclose(a, b, rtol=1e-5, atol=1e-6), "jit and eager disagree"
    print("output:", jax.tree.map(lambda a: a.shape, y))
    print(y)


if __name__ == "__main__":
    main(sys.argv[1:])
