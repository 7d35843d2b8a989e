"""A model summary table, computed with ``jax.eval_shape`` (allocates nothing)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from fnn.core import Module, ShapeTree, format_shape, normalize_shape, recording


def _leaf_text(tree: Any) -> str:
    """``weight: f32[4,3], bias: f32[4]`` for a leaf's params dict."""
    if not isinstance(tree, dict):
        return ""
    parts = []
    for k, v in tree.items():
        dt = np.dtype(v.dtype)
        short = {"f": "f", "i": "i", "u": "u", "b": "bool"}.get(dt.kind, dt.kind) + (
            str(dt.itemsize * 8) if dt.kind != "b" else ""
        )
        parts.append(f"{k}: {short}[{','.join(str(d) for d in v.shape)}]")
    return ", ".join(parts)


def _count(tree: Any) -> tuple[int, int]:
    leaves = jax.tree.leaves(tree)
    count = sum(np.prod(v.shape) for v in leaves)
    return int(count), int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in leaves))


def summary_rows(model: Module, input_shape: ShapeTree, dtype: Any = None) -> list[dict[str, Any]]:
    """One dict per leaf layer: path, layer, input/output shape, params, counts and bytes.

    Runs the model's init under ``jax.eval_shape``: no parameter is allocated.
    """
    shape = normalize_shape(input_shape)
    with recording() as rows:
        jax.eval_shape(lambda k: model.stateful.init(k, shape, dtype)[1:], jax.random.key(0))
    out = []
    for path, module, in_shape, out_shape, params, state in rows:
        n, nbytes = _count(params)
        ns, sbytes = _count(state)
        out.append(
            {
                "path": "".join(f"[{i}]" for i in path) or "-",
                "layer": module.name,
                "input": format_shape(in_shape),
                "output": format_shape(out_shape),
                "params": _leaf_text(params),
                "state": _leaf_text(state),
                "count": n,
                "bytes": nbytes,
                "state_count": ns,
                "state_bytes": sbytes,
            }
        )
    return out


def summary(model: Module, input_shape: ShapeTree, dtype: Any = None) -> str:
    """A table of every layer: path, layer, in/out shape, param shapes, counts, bytes.

    Args:
      model: any fnn Module.
      input_shape: as for ``init`` (``-1`` for an unknown batch size).
      dtype: the input dtype, as for ``init``.

    >>> import fnn
    >>> print(fnn.summary(fnn.Sequential(fnn.Linear(4, 3), fnn.ReLU()), (-1, 4)))  # doctest: +NORMALIZE_WHITESPACE
    path  layer            input    output   params                       count  bytes
    [0]   nn.Linear(4 -> 3)  (-1, 4)  (-1, 3)  weight: f32[3,4], bias: f32[3]  15     60
    [1]   nn.ReLU            (-1, 3)  (-1, 3)                                0      0
    total: 15 params (60 bytes), 0 state values (0 bytes)
    """
    rows = summary_rows(model, input_shape, dtype)
    cols = ["path", "layer", "input", "output", "params", "count", "bytes"]
    has_state = any(r["state"] for r in rows)
    if has_state:
        cols.insert(5, "state")
    table = [cols] + [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    n = sum(r["count"] for r in rows)
    b = sum(r["bytes"] for r in rows)
    ns = sum(r["state_count"] for r in rows)
    sb = sum(r["state_bytes"] for r in rows)
    lines.append(f"total: {n:,} params ({b:,} bytes), {ns:,} state values ({sb:,} bytes)")
    return "\n".join(lines)
