"""Metrics and evaluation: accuracy, per-example means, the jitted evaluation step.

A metric has a criterion's signature, ``fn(output, target) -> scalar`` (a mean over the
batch). Where a batch is padded (the last evaluation batch, or training with
``drop_last=False``), fnn applies it to one example at a time (a batch of one, under
``vmap``) and averages over the real examples, so every batch has one shape and compiles once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Module, jit_step
from fnn.core._args import ints
from fnn.data import Dataset, as_dataset
from fnn.errors import ConfigError
from fnn.train._labels import check_labels
from fnn.train._sharding import axis_devices, check_mesh, constrain, replicate, step_shardings

Metrics = tuple[tuple[str, Callable[..., Any]], ...]
PyTree = Any
Criterion = Callable[[Any, Any], jax.Array]
_RESERVED = ("loss", "count", "bad_step", "bad_loss", "bad_grad_norm")


def float_dtype() -> Any:
    """float64 when ``jax_enable_x64`` is on, else float32: the dtype of running sums."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def take(tree: Any, idx: jax.Array) -> Any:
    """Rows ``idx`` (along the leading dim) of every array in ``tree``; the callers' ``idx`` are
    always in range, so the gather carries no bounds handling (no clamp, no NaN fill)."""
    return jax.tree.map(lambda a: a.at[idx].get(mode="promise_in_bounds"), tree)


def accuracy(output: jax.Array, target: jax.Array) -> jax.Array:
    """The fraction of examples whose arg-max class (last axis) equals the target.

    Args:
      output: scores, log-probabilities or probabilities, ``(..., C)``.
      target: class indices ``(...)`` (0-based), or one-hot/probabilities ``(..., C)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.accuracy(jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), jnp.array([1, 1, 1]))
    Array(0.6666667, dtype=float32)
    """
    pred = jnp.argmax(output, axis=-1)
    if jnp.ndim(target) == jnp.ndim(output):
        target = jnp.argmax(target, axis=-1)
    correct = jnp.equal(pred, jnp.asarray(target).astype(pred.dtype))
    return jnp.mean(correct.astype(float_dtype()))


def per_example(fn: Callable[[Any, Any], jax.Array]) -> Callable[[Any, Any], jax.Array]:
    """``fn`` applied to each example as a batch of one: ``(B, ...) -> (B,)``."""

    def one(o, t):
        return fn(jax.tree.map(lambda a: a[None], o), jax.tree.map(lambda a: a[None], t))

    return jax.vmap(one)


def masked_mean(fn: Callable, output: Any, target: Any, mask: jax.Array) -> jax.Array:
    """The mean of the per-example ``fn`` over the examples where ``mask`` is True."""
    values = per_example(fn)(output, target)
    total = jnp.sum(jnp.where(mask, values, jnp.zeros((), values.dtype)))
    return total / jnp.maximum(jnp.sum(mask), 1).astype(values.dtype)


def resolve_metrics(metrics: Mapping[str, Callable[..., Any]] | Metrics | None, targets: Any) -> Metrics:
    """The metrics as a tuple of ``(name, fn)``; None means accuracy for integer targets."""
    if metrics is None:
        leaves = jax.tree.leaves(targets)
        integer = len(leaves) == 1 and jnp.issubdtype(leaves[0].dtype, jnp.integer)
        return (("accuracy", accuracy),) if integer else ()
    items = tuple(metrics.items()) if isinstance(metrics, Mapping) else tuple(metrics)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and callable(item[1])):
            raise ConfigError(f"metrics must map names to functions fn(output, target) -> scalar, got {item!r}")
        if item[0] in _RESERVED or item[0].startswith("eval_"):
            raise ConfigError(f"metric name {item[0]!r} is reserved; choose another")
    return items


def _zero_sums(criterion: Callable | None, metrics: Metrics) -> dict[str, jax.Array]:
    f = float_dtype()
    names = (["loss"] if criterion is not None else []) + [name for name, _ in metrics] + ["count"]
    return {name: jnp.zeros((), f) for name in names}


@functools.lru_cache(maxsize=32)
def _eval_kernel(model: Module, criterion: Callable | None, metrics: Metrics, batch_size: int, n: int,
                 mesh: jax.sharding.Mesh | None = None, axis: str = "data"):
    """``(jitted(params, state, x_all, y_all, i, sums) -> sums, traces)`` for batch ``i`` of ``n`` examples
    (with a ``mesh``: the batch sharded over ``axis``, the sums replicated)."""
    traces = [0]
    rep, bsh = step_shardings(mesh, axis)

    def kernel(params, state, x_all, y_all, i, sums):
        traces[0] += 1
        pos = i * batch_size + jnp.arange(batch_size)
        mask = constrain(pos < n, bsh)
        idx = jnp.minimum(pos, n - 1)
        x, y = constrain((take(x_all, idx), take(y_all, idx)), bsh)
        out, _ = model.stateful.apply(params, state, x, rng=None, train=False)
        f = sums["count"].dtype
        new = dict(sums)
        new["count"] = sums["count"] + jnp.sum(mask).astype(f)
        fns = ((("loss", criterion),) if criterion is not None else ()) + metrics
        for name, fn in fns:
            values = per_example(fn)(out, y).astype(f)
            new[name] = sums[name] + jnp.sum(jnp.where(mask, values, jnp.zeros((), f)))
        return new

    return jit_step(kernel, donate_argnums=(5,), **({} if mesh is None else {"out_shardings": rep})), traces


class EvalStep:
    """The evaluation step of a model, criterion and metrics (see :func:`make_eval_step`).

    Calling it on one batch returns ``{name: mean over the batch}`` in eval mode;
    :func:`evaluate` runs it over a whole dataset in padded batches of one shape.
    """

    def __init__(self, model: Module, criterion: Callable[[Any, Any], Any] | None, metrics: Metrics,
                 mesh: jax.sharding.Mesh | None = None, axis: str = "data"):
        self.model: Module = model
        self.criterion: Callable[[Any, Any], Any] | None = criterion
        self.metrics: Metrics = metrics
        self.mesh, self.axis = mesh, axis  # data parallelism: batches sharded over mesh axis ``axis``
        self._traces: dict[tuple[int, int], list[int]] = {}

    def kernel(self, batch_size: int, n: int) -> Callable:
        """The jitted ``(params, state, x_all, y_all, i, sums) -> sums`` for batch ``i`` of ``n`` examples."""
        kernel, traces = _eval_kernel(self.model, self.criterion, self.metrics, batch_size, n, self.mesh, self.axis)
        self._traces[(batch_size, n)] = traces
        return kernel

    def zeros(self) -> dict[str, jax.Array]:
        """Empty running sums."""
        return _zero_sums(self.criterion, self.metrics)

    def __call__(self, params: Any, state: Any, x: Any, y: Any) -> dict[str, jax.Array]:
        ds = Dataset(x, y)
        if self.mesh is not None:
            check_mesh("EvalStep", self.mesh, self.axis, batch_size=len(ds))
            params, state, ds = replicate((params, state, ds), self.mesh)
        sums = self.kernel(len(ds), len(ds))(params, state, ds.x, ds.y, 0, self.zeros())
        count = sums.pop("count")
        return {k: v / count for k, v in sums.items()}

    @property
    def traces(self) -> int:
        """How many times this step's kernels were traced (compiled) so far."""
        return sum(t[0] for t in self._traces.values())


def make_eval_step(
    model: Module, criterion: Callable | None = None,
    metrics: Mapping[str, Callable[..., Any]] | Metrics | None = (), *,
    mesh: jax.sharding.Mesh | None = None, data_axis: str = "data",
) -> EvalStep:
    """The evaluation step: ``step(params, state, x, y) -> {name: mean}`` in eval mode.

    Args:
      model: the model (``state`` is its state, ``()`` leaves when it has none).
      criterion: reported as ``loss`` (the mean of the per-example criterion); None for no loss.
      metrics: ``{name: fn(output, target) -> scalar}``.
      mesh, data_axis: shard each batch over this mesh axis (params and state replicated).

    The step compiles once per batch shape (:func:`evaluate` pads the last batch to keep one).

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Linear(2, 2)
    >>> _, params, state = model.stateful.init(jax.random.key(0), (-1, 2))
    >>> step = fnn.make_eval_step(model, metrics={'accuracy': fnn.accuracy})
    >>> sorted(step(params, state, jnp.ones((3, 2)), jnp.zeros(3, jnp.int32)))
    ['accuracy']
    """
    items = resolve_metrics(metrics, None) if metrics is not None else ()
    if mesh is not None:
        check_mesh("make_eval_step", mesh, data_axis)
    return EvalStep(model, criterion, items, mesh, data_axis)


def run_evaluation(step: EvalStep, params: Any, state: Any, data: Dataset, batch_size: int) -> dict[str, float]:
    """Runs ``step`` over ``data`` in padded batches; returns ``{name: mean over examples}``."""
    n = len(data)
    bs = min(batch_size, n)
    if step.mesh is not None:  # a multiple of the devices (batch_size is one), padded and masked
        k = axis_devices(step.mesh, step.axis)
        bs = min(batch_size, -(-n // k) * k)
    kernel = step.kernel(bs, n)
    sums = step.zeros() if step.mesh is None else replicate(step.zeros(), step.mesh)
    for i in range(math.ceil(n / bs)):
        sums = kernel(params, state, data.x, data.y, i, sums)
    sums = jax.device_get(sums)
    count = float(sums.pop("count"))
    return {k: float(v) / count for k, v in sums.items()}


def evaluate(
    model: Module,
    params: PyTree,
    data: Dataset | tuple[Any, Any],
    *,
    state: PyTree = None,
    criterion: Criterion | None = None,
    metrics: Mapping[str, Callable[..., Any]] | None = None,
    batch_size: int = 1000,
    mesh: jax.sharding.Mesh | None = None,
    data_axis: str = "data",
) -> dict[str, float]:
    """Evaluates ``model`` in eval mode over all of ``data``; returns ``{name: mean over examples}``.

    ``loss`` (when a criterion is given) is the mean of the per-example criterion; metrics
    default to accuracy for integer targets. The evaluation step compiles once per model,
    criterion and metrics (the last batch is padded and masked). With a ``mesh``, each batch is
    sharded over ``data_axis`` (``batch_size`` must divide by its devices) and params, state and
    data are replicated.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Linear(2, 3)
    >>> _, params = model.init(jax.random.key(0), (-1, 2))
    >>> x, y = jnp.ones((5, 2)), jnp.zeros(5, jnp.int32)
    >>> sorted(fnn.evaluate(model, params, (x, y)))
    ['accuracy']
    """
    data = as_dataset(data, "data")
    check_labels(model, criterion, "evaluate", data=data)  # once, before the first batch
    ints("evaluate", 1, batch_size=batch_size)
    if state is None:
        state = model._empty_state()
    if mesh is not None:
        check_mesh("evaluate", mesh, data_axis, batch_size=batch_size)
        params, state, data = replicate((params, state, data), mesh)
    step = make_eval_step(model, criterion, resolve_metrics(metrics, data.y), mesh=mesh, data_axis=data_axis)
    return run_evaluation(step, params, state, data, batch_size)


__all__ = ["accuracy", "make_eval_step", "evaluate"]
