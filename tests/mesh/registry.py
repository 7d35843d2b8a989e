"""Every conformance case on an 8-device mesh: a batch-sharded input gives the unsharded result.

Forward only (eval and train mode), float32, batch 8 (one example per device). To keep it
cheap, cases run in chunks: one jitted function computes a whole chunk's outputs (one compile
per chunk and mesh, one for the unsharded reference, one for the chunk's params); a chunk
that fails to compile on a mesh is rerun case by case to name the culprit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tests.conformance.cases import Case

BATCH = 8


def _is_shape(s) -> bool:
    return isinstance(s, tuple) and all(isinstance(d, int) for d in s)


def _rebatch(shape):
    return (BATCH,) + tuple(shape[1:]) if _is_shape(shape) else tuple(_rebatch(s) for s in shape)


def _tile(x):
    return jax.tree.map(lambda a: jnp.concatenate([a] * -(-BATCH // a.shape[0]))[:BATCH], x)


def _f32(dtype):
    if isinstance(dtype, tuple):
        return tuple(_f32(d) for d in dtype)
    return jnp.float32 if jnp.issubdtype(dtype, jnp.floating) else dtype


def case_input(case: Case):
    """The case's input with a batch of 8 (when ``batched``), floats in float32."""
    if case.x is not None:
        x = _tile(case.x()) if case.batched else case.x()
        return jax.tree.map(lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a, x)
    return _numpy_input(_rebatch(case.shape) if case.batched else case.shape, _f32(case.dtype))


def _numpy_input(shape, dtype, seed: int = 0):
    """``fnn.testing.random_input``'s ranges (U(-2, 2) floats, integers in [0, 3)), drawn by numpy: no compile."""
    if not _is_shape(shape):
        dts = dtype if isinstance(dtype, tuple) else (dtype,) * len(shape)
        return tuple(_numpy_input(s, d, seed + i) for i, (s, d) in enumerate(zip(shape, dts, strict=True)))
    rng = np.random.default_rng(seed)
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.asarray(rng.integers(0, 3, shape), dtype)
    return jnp.asarray(rng.uniform(-2, 2, shape), dtype)


def _shape_of(x, batched: bool):
    if isinstance(x, tuple):
        return tuple(_shape_of(e, batched) for e in x)
    return ((-1,) + tuple(x.shape[1:])) if batched else tuple(x.shape)


@dataclasses.dataclass
class Prepared:
    case: Case
    model: Any
    x: Any
    shape: Any
    dtype: Any
    seed: int  # the train-mode key is fold_in(key, seed), whichever subset of cases runs


def prepare(case: Case, seed: int = 0) -> Prepared:
    x = case_input(case)
    floating = any(jnp.issubdtype(a.dtype, jnp.floating) for a in jax.tree.leaves(x))
    if isinstance(x, tuple) and floating:  # a table of mixed dtypes (values and indices): each entry's own
        dtype = tuple(_f32(jnp.dtype(a.dtype)) for a in x) if all(hasattr(a, "dtype") for a in x) else jnp.float32
    else:
        dtype = jnp.float32 if floating else None
    return Prepared(case, case.make(), x, _shape_of(x, case.batched), dtype, seed)


def init_all(items: list[Prepared]) -> list[tuple[Any, Any]]:
    """Every item's ``(params, state)``: ``init``'s structure (traced, not compiled) filled by numpy,
    params from U(-0.5, 0.5), float state from U(0.5, 1.5) (a valid running variance), integers 0."""
    rng = np.random.default_rng(0)

    def fill(leaf, low):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            return jnp.asarray(rng.uniform(low, low + 1.0, leaf.shape), leaf.dtype)
        return jnp.zeros(leaf.shape, leaf.dtype)

    out = []
    for p in items:
        _, params, state = jax.eval_shape(lambda k, p=p: p.model.stateful.init(k, p.shape, p.dtype), jax.random.key(0))
        out.append((jax.tree.map(lambda a: fill(a, -0.5), params), jax.tree.map(lambda a: fill(a, 0.5), state)))
    return out


def _train_too(p: Prepared, variables) -> bool:
    """Whether train mode can differ from eval mode: a key (dropout) or state (batch statistics)."""
    return p.case.train_rng or bool(jax.tree.leaves(variables[1]))


def forward_all(items: list[Prepared], variables):
    """``f(variables, xs, rng) -> [eval output (and train output and state, where they can differ) per item]``."""
    train = [_train_too(p, v) for p, v in zip(items, variables, strict=True)]

    def f(variables, xs, rng):
        outs = []
        for i, (p, (params, state), x) in enumerate(zip(items, variables, xs, strict=True)):
            out, _ = p.model.stateful.apply(params, state, x, train=False)
            key = jax.random.fold_in(rng, p.seed)
            outs.append((out, p.model.stateful.apply(params, state, x, rng=key, train=True)) if train[i] else out)
        return outs
    return jax.jit(f)


def _place(items, variables, mesh):
    rep = NamedSharding(mesh, P())
    xs = [jax.device_put(p.x, NamedSharding(mesh, P("data")) if p.case.batched else rep) for p in items]
    return jax.device_put(variables, rep), xs, jax.device_put(jax.random.key(1), rep)


def _compare(items, ref, got, where) -> list[str]:
    problems = []
    for p, a, b in zip(items, ref, got, strict=True):
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            u, v = np.asarray(u), np.asarray(v)
            if not np.allclose(u, v, rtol=1e-5, atol=1e-5, equal_nan=True):
                diff = np.nanmax(np.abs(u.astype(float) - v.astype(float)))
                problems.append(f"{p.case.test_id} on {where}: differs by {diff}")
                break
    return problems


def run_chunk(items: list[Prepared], plans) -> list[str]:
    """Problems found: one line per case and mesh whose sharded result differs from the unsharded one.

    ``plans``: ``[(mesh, indices)]``, the chunk's items (by index) to run on each mesh; the
    unsharded reference is computed once for all of them.
    """
    variables = init_all(items)
    ref = forward_all(items, variables)(variables, [p.x for p in items], jax.random.key(1))
    problems = []
    for mesh, indices in plans:
        sub, sub_vars, sub_ref = [items[i] for i in indices], [variables[i] for i in indices], [ref[i] for i in indices]
        if not sub:
            continue
        where = f"an {mesh.axis_types[0].name} mesh"
        try:
            got = forward_all(sub, sub_vars)(*_place(sub, sub_vars, mesh))
        except Exception:  # noqa: BLE001 - rerun one by one to name the case
            for p, v, r in zip(sub, sub_vars, sub_ref, strict=True):
                problems += run_one_on(p, v, r, mesh, where)
            continue
        problems += _compare(sub, sub_ref, got, where)
    return problems


def run_one_on(p: Prepared, variables, ref, mesh, where) -> list[str]:
    try:
        got = forward_all([p], [variables])(*_place([p], [variables], mesh))
    except Exception as e:  # noqa: BLE001
        return [f"{p.case.test_id} on {where}: {type(e).__name__}: {str(e)[:300]}"]
    return _compare([p], [ref], got, where)
