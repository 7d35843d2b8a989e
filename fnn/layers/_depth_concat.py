"""DepthConcat: torch7's Inception-style Concat, whose children's outputs may differ in size.

Private to :mod:`fnn.layers`; built with the container machinery of ``_containers.py``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from fnn.core import Module, ShapeTree, apply_child, canonical_dim, format_shape, init_child, is_shape, shape_of
from fnn.core._args import int_arg
from fnn.errors import ShapeError
from fnn.layers._containers import _check_children, _container, _render_branches, _split


def _depth_shapes(where: str, shapes: list[ShapeTree], dim: int) -> tuple[int, ...]:
    """The output shape: the sum of the ``dim`` sizes, the largest size of every other dim."""
    if not shapes:
        raise ShapeError(f"{where} has no children")
    for s in shapes:
        if not is_shape(s):
            raise ShapeError(f"{where} needs every child to output one array, got {format_shape(s)}")
    if len({len(s) for s in shapes}) != 1:
        raise ShapeError(f"{where} cannot join outputs of different ranks: {format_shape(tuple(shapes))}")
    d = canonical_dim(dim, len(shapes[0]))
    out = []
    for k in range(len(shapes[0])):
        sizes = [s[k] for s in shapes]
        if k == d:
            out.append(-1 if -1 in sizes else sum(sizes))
        elif -1 in sizes and len(set(sizes)) > 1:
            raise ShapeError(f"{where} cannot centre outputs of unknown size in dim {k}: {format_shape(tuple(shapes))}")
        else:
            out.append(max(sizes))
    return tuple(out)


def _centre(y: Any, shape: tuple[int, ...], d: int) -> Any:
    """Zero-pads ``y`` to ``shape`` (except along ``d``), ``floor((max - size) / 2)`` before (torch7)."""
    pads = [(0, 0) if k == d else ((m - n) // 2, m - n - (m - n) // 2)
            for k, (n, m) in enumerate(zip(y.shape, shape, strict=True))]
    return jnp.pad(y, pads)


def DepthConcat(dim: int, *modules: Module) -> Module:
    """Feeds the same input to every child and concatenates their outputs along ``dim``; where the
    outputs differ in another dim, each is centred in zeros of the largest size (Inception).

    Args:
      dim: the output dimension to join along (0-based, absolute as in torch7's Concat; a negative
        ``dim`` counts from the end and keeps ``vmap`` over examples equal to the batched call).
      *modules: the children.

    Shape contract: every child outputs an array of the same rank; output size along ``dim`` is
    the sum, along any other dim the largest; child ``i`` is placed ``floor((max - size) / 2)`` from the
    start of each other dim (torch7's ``windowNarrow``).

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.DepthConcat(-3, fnn.Identity(), fnn.SpatialMaxPooling(2, 2, 1, 1))
    >>> _, params = model.init(jax.random.key(0), (1, 3, 3))
    >>> model.apply(params, jnp.arange(9.0).reshape(1, 3, 3))[1]
    Array([[4., 5., 0.],
           [7., 8., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    children = _check_children("DepthConcat", modules)
    int_arg("nn.DepthConcat", "dim", dim)
    where = "nn.DepthConcat"

    def init_fn(rng: Any, shape: Any, dtype: Any) -> tuple:
        outs = [init_child(m, i, c, _split(rng, i), shape, dtype) for i, c in enumerate(children)]
        out_shape = _depth_shapes(where, [o[0] for o in outs], dim)
        return out_shape, outs[0][1] if outs else None, tuple(o[2] for o in outs), tuple(o[3] for o in outs)

    def apply_fn(params: Any, state: Any, x: Any, *, rng: Any = None, train: bool = False) -> tuple:
        ys, new_state = [], []
        for i, c in enumerate(children):
            y, s = apply_child(m, i, c, params[i], state[i], x, rng, train)
            ys.append(y)
            new_state.append(s)
        out = _depth_shapes(where, [shape_of(y) for y in ys], dim)
        d = canonical_dim(dim, len(out))
        return jnp.concatenate([_centre(y, out, d) for y in ys], axis=d), tuple(new_state)

    m = _container("DepthConcat", children, init_fn, apply_fn, _render_branches, lambda cs: DepthConcat(dim, *cs),
                   config={"dim": dim})
    return m
