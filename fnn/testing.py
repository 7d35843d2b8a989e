"""A layer test kit: finite-difference gradients and the conformance checks.

torch7 shipped ``nn.Jacobian``; this is its functional counterpart. Use it on your
own layers::

    import jax
    jax.config.update("jax_enable_x64", True)
    fnn.testing.check_layer(MyLayer(), (2, 3))          # every shared check
    fnn.testing.check_gradients(MyLayer(), params, x)   # finite differences only
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, is_shape, normalize_shape, shape_of
from fnn.errors import FnnError

PyTree = Any


def _float_leaves(tree: PyTree) -> tuple[list, Callable[[list], PyTree]]:
    leaves, treedef = jax.tree.flatten(tree)
    mask = [jnp.issubdtype(jnp.result_type(v), jnp.floating) for v in leaves]

    def rebuild(floats: list) -> PyTree:
        it = iter(floats)
        return jax.tree.unflatten(treedef, [next(it) if m else v for v, m in zip(leaves, mask)])

    return [v for v, m in zip(leaves, mask) if m], rebuild


def jacobian_error(
    fn: Callable[[list], Any], args: list, *, eps: float = 1e-6
) -> float:
    """Max |J_autodiff - J_central_differences| of ``fn`` over the float arrays ``args``.

    ``fn`` takes the list ``args`` and returns an array or a pytree of arrays.
    Everything must be float64 (``jax.config.update("jax_enable_x64", True)``).
    """
    for a in args:
        if jnp.result_type(a) != jnp.float64:
            raise FnnError(
                "jacobian_error needs float64 inputs: enable jax_enable_x64 and cast with .astype(jnp.float64)"
            )
    flat_args = [jnp.ravel(a) for a in args]
    sizes = [a.size for a in flat_args]
    x0 = jnp.concatenate(flat_args) if flat_args else jnp.zeros((0,), jnp.float64)

    def unflat(v):
        out, k = [], 0
        for a, n in zip(args, sizes):
            out.append(v[k : k + n].reshape(jnp.shape(a)))
            k += n
        return out

    def g(v):
        leaves = jax.tree.leaves(fn(unflat(v)))
        return jnp.concatenate([jnp.ravel(leaf).astype(jnp.float64) for leaf in leaves])

    if x0.size == 0:
        return 0.0
    # Compiled, not op by op: eager dispatch would compile every small op separately.
    analytic = jax.jit(jax.jacrev(g))(x0)
    basis = jnp.eye(x0.size, dtype=jnp.float64) * eps
    numeric = jax.jit(jax.vmap(lambda d: (g(x0 + d) - g(x0 - d)) / (2 * eps), out_axes=1))(basis)
    return float(jnp.max(jnp.abs(analytic - numeric))) if analytic.size else 0.0


def check_gradients(
    module: Module,
    params: PyTree,
    x: Any,
    *,
    state: PyTree = None,
    train: bool = False,
    rng: jax.Array | None = None,
    eps: float = 1e-6,
    tol: float = 1e-6,
) -> float:
    """Checks autodiff gradients of ``module`` w.r.t. its float inputs and params
    against central finite differences (torch7's ``nn.Jacobian.testJacobian`` and
    ``testJacobianParameters`` in one call). Needs float64 params and inputs.

    Returns:
      The max absolute difference; raises ``AssertionError`` when it exceeds ``tol``.
    """
    if state is None:
        state = module._empty_state()
    p_leaves, p_rebuild = _float_leaves(params)
    x_leaves, x_rebuild = _float_leaves(x)
    n_p = len(p_leaves)

    def fn(args):
        y, _ = module.stateful.apply(p_rebuild(args[:n_p]), state, x_rebuild(args[n_p:]), rng=rng, train=train)
        return y

    err = jacobian_error(fn, p_leaves + x_leaves, eps=eps)
    if not err <= tol:
        raise AssertionError(f"{module.name}: autodiff and finite differences differ by {err:.3g} (> {tol:.3g})")
    return err


def random_input(
    shape: Any, dtype: Any = jnp.float64, *, key: jax.Array | None = None, low: float = -2, high: float = 2,
    index_range: int = 3,
) -> Any:
    """A random input for ``shape`` (a table gives a tuple): ``U(low, high)`` floats,
    or integers in ``[0, index_range)`` for integer dtypes."""
    key = jax.random.key(1) if key is None else key
    if not is_shape(shape):
        dts = dtype if isinstance(dtype, tuple) else (dtype,) * len(shape)
        return tuple(random_input(s, d, key=jax.random.fold_in(key, i), low=low, high=high,
                                  index_range=index_range) for i, (s, d) in enumerate(zip(shape, dts)))
    if jnp.issubdtype(dtype, jnp.integer):
        return jax.random.randint(key, shape, 0, index_range, dtype)
    return jax.random.uniform(key, shape, dtype, low, high)


def _unbatched(shape: Any) -> Any:
    return shape[1:] if is_shape(shape) else tuple(_unbatched(s) for s in shape)


def _allclose(a: PyTree, b: PyTree, rtol: float, atol: float) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.shape(x) == np.shape(y) and np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, equal_nan=True)
        for x, y in zip(la, lb)
    )


def check_layer(
    module: Module,
    input_shape: Any,
    *,
    dtype: Any = jnp.float64,
    x: Any = None,
    batched: bool = True,
    grads: bool = True,
    train_rng: bool = False,
    tol: float = 1e-6,
) -> None:
    """Runs every shared conformance check on ``module`` for a concrete ``input_shape``.

    Checks: the declared output shape (with ``-1`` for the batch) equals the real one;
    ``jit`` equals eager; ``vmap`` over the leading dim equals the batched call (when
    ``batched``); float64 finite-difference gradients (when ``grads``); eval mode is
    deterministic and needs no key; the returned state has the input state's structure;
    train mode runs (with a key when ``train_rng``).

    Args:
      module: the layer or model under test.
      input_shape: a concrete input shape (or table of shapes), leading dim = batch.
      dtype: the input dtype (float64 by default; needs ``jax_enable_x64``).
      x: the input to use (default: :func:`random_input`).
      batched: whether the leading dim is a batch dim that ``vmap`` can take away.
      grads: whether to run the finite-difference check.
      train_rng: pass a key in training mode.
      tol: the finite-difference tolerance.
    """
    shape = normalize_shape(input_shape)
    x = random_input(shape, dtype) if x is None else x
    dtype = jax.tree.map(lambda a: jnp.result_type(a), x)
    init, apply = module.stateful
    declared_batched = _with_unknown_batch(shape) if batched else shape
    out_shape, params, state = init(jax.random.key(0), declared_batched, dtype)
    y, new_state = apply(params, state, x)
    # 1. declared shape = actual shape
    _assert_shape(module, out_shape, shape_of(y), batched)
    # 2. state structure unchanged
    assert jax.tree.structure(new_state) == jax.tree.structure(state), f"{module.name}: state structure changed"
    for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(state)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype), f"{module.name}: state leaf changed shape or dtype"
    # 3. jit = eager (the only eager call: everything below is compiled, which is much faster)
    run = jax.jit(lambda p, s, x: apply(p, s, x))
    y_jit, _ = run(params, state, x)
    assert _allclose(y, y_jit, 1e-6, 1e-6), f"{module.name}: jit differs from eager"
    # 4. eval deterministic, no key needed
    y2, _ = run(params, state, x)
    assert _allclose(y_jit, y2, 0, 0), f"{module.name}: eval mode is not deterministic"
    # 5. vmap = batched
    if batched:
        y_vmap = jax.jit(jax.vmap(lambda xi: apply(params, state, xi)[0]))(x)
        assert _allclose(y, y_vmap, 1e-6, 1e-6), f"{module.name}: vmap over examples differs from the batched call"
    # 6. train mode runs and keeps the state structure
    key = jax.random.key(3) if train_rng else None
    yt, st = jax.jit(lambda p, s, x, k: apply(p, s, x, rng=k, train=True))(params, state, x, key)
    assert jax.tree.structure(st) == jax.tree.structure(state), f"{module.name}: train-mode state structure changed"
    # 7. finite differences, in float64 (index-input layers init float32 params)
    if grads:
        params = jax.tree.map(lambda p: p.astype(jnp.float64) if jnp.issubdtype(p.dtype, jnp.floating) else p, params)
        state = jax.tree.map(lambda p: p.astype(jnp.float64) if jnp.issubdtype(p.dtype, jnp.floating) else p, state)
        check_gradients(module, params, x, state=state, tol=tol)


def _with_unknown_batch(shape: Any) -> Any:
    if is_shape(shape):
        return (-1,) + shape[1:] if shape else shape
    return tuple(_with_unknown_batch(s) for s in shape)


def _assert_shape(module: Module, declared: Any, actual: Any, batched: bool) -> None:
    if is_shape(declared) != is_shape(actual):
        raise AssertionError(f"{module.name}: declared output {declared} but got {actual}")
    if is_shape(declared):
        ok = len(declared) == len(actual) and all(d == -1 or d == a for d, a in zip(declared, actual))
        if not ok:
            raise AssertionError(f"{module.name}: declared output shape {declared} but apply gave {actual}")
        return
    if len(declared) != len(actual):
        raise AssertionError(f"{module.name}: declared a table of {len(declared)} outputs, got {len(actual)}")
    for d, a in zip(declared, actual):
        _assert_shape(module, d, a, batched)


# --------------------------------------------------------------------------- registries by reflection


def _constructors(namespace: Any, returns: str) -> tuple[str, ...]:
    """Public functions of ``namespace`` annotated to return ``returns`` (by name: the
    annotations are strings under ``from __future__ import annotations``)."""
    names = []
    for name, obj in sorted(vars(namespace).items()):
        if name.startswith("_") or isinstance(obj, type) or not callable(obj):
            continue
        ret = getattr(obj, "__annotations__", {}).get("return")
        if ret == returns or getattr(ret, "__name__", None) == returns:
            names.append(name)
    return tuple(names)


def layer_constructors() -> tuple[str, ...]:
    """Every layer and container constructor in :mod:`fnn.layers`, torch7 and PyTorch names.

    Found by reflection (public functions that return a :class:`~fnn.Module`), so a new layer
    is listed, and must have a conformance case, as soon as it is exported.

    >>> "Linear" in layer_constructors() and "Conv2d" in layer_constructors()
    True
    """
    from fnn import layers

    return _constructors(layers, "Module")


def criterion_constructors() -> tuple[str, ...]:
    """Every criterion constructor in :mod:`fnn.criteria` (torch7 and PyTorch names), by reflection.

    >>> "MSECriterion" in criterion_constructors() and "MSELoss" in criterion_constructors()
    True
    """
    from fnn import criteria

    return _constructors(criteria, "Criterion")
