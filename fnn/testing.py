"""A layer and criterion test kit: finite-difference gradients and the conformance checks.

torch7 shipped ``nn.Jacobian``; this is its functional counterpart. Use it on your
own layers and criteria::

    import jax
    jax.config.update("jax_enable_x64", True)
    fnn.testing.check_layer(MyLayer(), (2, 3))          # every shared check
    fnn.testing.check_gradients(MyLayer(), params, x)   # finite differences only
    fnn.testing.check_criterion(MyLoss(), x, target)    # every shared check of a criterion
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn import criteria, layers
from fnn.core import Module, is_shape, jit_once, normalize_shape, shape_of
from fnn.criteria import Criterion
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
    fn: Callable[[list[Any]], Any], args: list[Any], *, eps: float = 1e-6
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

    # One compiled function, not op by op (eager dispatch compiles every small op separately)
    # and not two (each compilation costs more than the run), compiled for one run (jit_once).
    @jit_once
    def error(x0):
        analytic = jax.jacrev(g)(x0)
        basis = jnp.eye(x0.size, dtype=jnp.float64) * eps
        numeric = jax.vmap(lambda d: (g(x0 + d) - g(x0 - d)) / (2 * eps), out_axes=1)(basis)
        return jnp.max(jnp.abs(analytic - numeric)) if analytic.size else jnp.zeros((), jnp.float64)

    return float(error(x0))


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
    # 3-6 compile as one function, for two runs (jit_once): eval, vmap over examples, train.
    key = jax.random.key(3) if train_rng else None
    per_example = jax.vmap(lambda xi: apply(params, state, xi)[0])

    @jit_once
    def every_mode(p, s, x, k):
        return apply(p, s, x), per_example(x) if batched else None, apply(p, s, x, rng=k, train=True)

    (y_jit, _), y_vmap, (_, st) = every_mode(params, state, x, key)
    # 3. jit = eager (the only eager call: everything else is compiled, which is much faster)
    assert _allclose(y, y_jit, 1e-6, 1e-6), f"{module.name}: jit differs from eager"
    # 4. eval deterministic, no key needed
    (y2, _), _, _ = every_mode(params, state, x, key)
    assert _allclose(y_jit, y2, 0, 0), f"{module.name}: eval mode is not deterministic"
    # 5. vmap = batched
    if batched:
        assert _allclose(y, y_vmap, 1e-6, 1e-6), f"{module.name}: vmap over examples differs from the batched call"
    # 6. train mode runs and keeps the state structure
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


# --------------------------------------------------------------------------- criteria


def _sum_form(criterion: Criterion) -> Criterion | None:
    """The criterion with ``reduction='sum'``; a combinator's is the combinator of its terms' sum forms
    (both add over the examples). None for a hand-built criterion with no way to change its reduction."""
    if criterion.remake is not None:
        return criterion.with_reduction("sum")
    if not criterion.children or criterion.rebuild is None:
        return None
    terms = [_sum_form(c) for c, _ in criterion.children]
    if any(t is None for t in terms):
        return None
    return criterion.rebuild(tuple((t, w) for t, (_, w) in zip(terms, criterion.children)))


def _reduction_forms(criterion: Criterion) -> dict[str, Criterion]:
    """``{'given': criterion}`` plus its ``'mean'``, ``'sum'`` and ``'none'`` forms where it has them."""
    forms = {"given": criterion}
    if criterion.remake is not None:
        for r in ("mean", "sum", "none"):
            forms[r] = criterion if criterion.reduction == r else criterion.with_reduction(r)
    elif (total := _sum_form(criterion)) is not None:
        forms["sum"] = total
    return forms


def _reduces(criterion: Criterion) -> bool:
    """Whether the loss must be 0-d: a reduced leaf, or a combinator of such."""
    if criterion.children:
        return all(_reduces(c) for c, _ in criterion.children)
    return criterion.reduction != "none"


def _example_axes(target: Any) -> Any:
    """vmap's ``in_axes`` for a target: arrays are split along dim 0; numbers and 0-d arrays (one
    label for every example) are shared."""
    return jax.tree.map(lambda a: 0 if np.ndim(a) else None, target)


def _compiled(forms: dict[str, Criterion], input: Any, target: Any, batched: bool) -> tuple[dict, dict | None]:
    """Every form of the criterion under ``jit``, and (when ``batched``) under ``jit`` of ``vmap`` over the
    examples, in one compiled function (compiling costs more than running)."""

    def every_form(x, t):
        return {k: c(x, t) for k, c in forms.items()}

    if not batched:
        return jit_once(every_form)(input, target), None
    per_example = jax.vmap(every_form, in_axes=(0, _example_axes(target)))
    return jit_once(lambda x, t: (every_form(x, t), per_example(x, t)))(input, target)


def _check_vmap(forms: dict[str, Criterion], per: dict[str, Any], eager: dict[str, Any], n: int) -> None:
    """vmap over ``n`` examples: ``'none'`` equals the batched ``'none'``, ``'sum'`` adds up to the batched
    ``'sum'``, and the criterion itself gives one loss per example."""
    name = forms["given"].name
    if "none" in forms and not _allclose(per["none"], eager["none"], 1e-6, 1e-6):
        raise AssertionError(f"{name}: vmap over examples of reduction='none' gives {_describe(per['none'])}, the "
                             f"batched call {_describe(eager['none'])}")
    if not _allclose(jnp.sum(per["sum"]), eager["sum"], 1e-6, 1e-6):
        raise AssertionError(f"{name}: the per-example losses of reduction='sum' under vmap add up to "
                             f"{float(jnp.sum(per['sum'])):.6g}, the batched call gives {float(eager['sum']):.6g}")
    if _reduces(forms["given"]) and jnp.shape(per["given"]) != (n,):
        raise AssertionError(f"{name}: vmap over {n} examples gave losses of shape {jnp.shape(per['given'])}, "
                             f"expected ({n},)")


def _describe(a: Any) -> str:
    return f"shape {tuple(np.shape(a))} {np.array2string(np.asarray(a), precision=6, threshold=8)}"


def check_criterion(
    criterion: Criterion,
    input: Any,
    target: Any,
    *,
    batched: bool = True,
    grads: bool = True,
    tol: float = 1e-6,
) -> None:
    """Runs the shared conformance checks on a criterion for one concrete ``(input, target)``.

    Checks:
      1. ``reduction='mean'`` and ``'sum'`` (and the criterion's own reduction unless it is
         ``'none'``) give a 0-d loss.
      2. ``jit`` equals eager, for every reduction.
      3. ``reduction='none'`` summed equals ``reduction='sum'``.
      4. When ``batched``: ``vmap`` over the leading dim of the input and target (one example
         at a time) gives the batched ``'none'`` losses, per-example ``'sum'`` losses that add
         up to the batched ``'sum'``, and one loss per example for the criterion itself.
      5. When ``grads``: autodiff gradients of the loss w.r.t. the float input arrays equal
         central finite differences (float64 only).

    The other reductions come from :meth:`~fnn.Criterion.with_reduction`. A
    :func:`~fnn.MultiCriterion` or :func:`~fnn.ParallelCriterion` has no reduction of its own:
    its ``'sum'`` form is the combinator of its terms' ``'sum'`` forms, it has no ``'none'``
    form (no check 3), and its loss must be 0-d when every term reduces. A hand-built
    :class:`~fnn.Criterion` that cannot change its reduction gets checks 1 (its own loss), 2 and 5.

    Args:
      criterion: the criterion under test.
      input: its input: an array, or a tuple of arrays for table criteria. With ``batched``
        the leading dim of every array is the batch.
      target: its target. With ``batched`` every array of 1 or more dims is split along its
        leading dim; numbers and 0-d arrays are shared by the examples.
      batched: whether the criterion also takes one example (the input without its leading
        dim), so that ``vmap`` over examples must agree with the batched call. False for
        layouts whose example cannot stand alone (e.g. ``NLLLoss`` on ``(B, C, d1)``).
      grads: whether to run the finite-difference check (needs float64 inputs, i.e.
        ``jax_enable_x64``).
      tol: the finite-difference tolerance.

    Raises:
      AssertionError: naming the criterion and the check that failed.

    >>> import jax, jax.numpy as jnp, fnn
    >>> with jax.enable_x64(True):
    ...     logits = jnp.array([[0.1, -0.4, 0.3], [0.6, 0.2, -0.5]], jnp.float64)
    ...     fnn.testing.check_criterion(fnn.CrossEntropyCriterion(), logits, jnp.array([2, 0]))
    """
    name = criterion.name
    forms = _reduction_forms(criterion)
    eager = {k: c(input, target) for k, c in forms.items()}
    for k, c in forms.items():
        if _reduces(c) and jnp.shape(eager[k]) != ():
            raise AssertionError(f"{name}: reduction={c.reduction!r} gave a loss of shape {jnp.shape(eager[k])}, "
                                 "expected a 0-d array")
    batched = batched and "sum" in forms
    compiled, per_example = _compiled(forms, input, target, batched)
    for k, c in forms.items():
        if not _allclose(compiled[k], eager[k], 1e-6, 1e-6):
            raise AssertionError(f"{name}: jit differs from eager for reduction={c.reduction!r}: "
                                 f"{_describe(compiled[k])} vs {_describe(eager[k])}")
    if "none" in forms and not _allclose(jnp.sum(eager["none"]), eager["sum"], 1e-6, 1e-6):
        raise AssertionError(f"{name}: reduction='none' sums to {float(jnp.sum(eager['none'])):.6g}, but "
                             f"reduction='sum' gives {float(eager['sum']):.6g}")
    if batched:
        _check_vmap(forms, per_example, eager, jax.tree.leaves(input)[0].shape[0])
    if grads:
        _check_criterion_gradients(criterion, input, target, tol)


def _check_criterion_gradients(criterion: Criterion, input: Any, target: Any, tol: float) -> None:
    leaves, rebuild = _float_leaves(input)
    err = jacobian_error(lambda args: criterion(rebuild(args), target), leaves)
    if not err <= tol:
        raise AssertionError(f"{criterion.name}: autodiff and finite differences of the loss w.r.t. the input "
                             f"differ by {err:.3g} (> {tol:.3g})")


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
    return _constructors(layers, "Module")


def criterion_constructors() -> tuple[str, ...]:
    """Every criterion constructor in :mod:`fnn.criteria` (torch7 and PyTorch names), by reflection.

    >>> "MSECriterion" in criterion_constructors() and "MSELoss" in criterion_constructors()
    True
    """
    return _constructors(criteria, "Criterion")
