"""Dropout layers: torch7's Dropout, SpatialDropout and VolumetricDropout, PyTorch's
AlphaDropout, and the PyTorch aliases Dropout2d and Dropout3d.

``p`` is always the probability of **dropping** a unit, in [0, 1). A layer draws its mask
from the ``rng`` key given to ``apply`` in training mode (``train=True``) and raises
:class:`~fnn.errors.MissingRNGError` without one; evaluation is deterministic and needs no
key. Inside a container every child gets its own key (``fold_in``).

Two scaling conventions:

* **inverted** (torch7 Dropout's default, every PyTorch dropout): kept units are scaled
  by ``1/(1-p)`` in training, evaluation is the identity;
* **not inverted** (torch7 ``Dropout(v1=True)``, **SpatialDropout and VolumetricDropout**):
  no scaling in training, the output is multiplied by ``1-p`` in evaluation.

So ``SpatialDropout(p)`` and ``Dropout2d(p)`` drop the same channels but differ by that
factor: a model ported from torch7 keeps torch7's numbers with the torch7 names.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Module, leaf
from fnn.core._args import probability
from fnn.errors import MissingRNGError
from fnn.layers import _windows as win

_ALPHA = 1.7580993408473766  # -SELU.alpha * SELU.scale, PyTorch's alpha_dropout constant


def _key(rng: Any, train: bool) -> Any:
    if rng is None:
        call = "apply(params, x, rng=jax.random.key(0), train=True)" if train else (
            "apply(params, x, rng=jax.random.key(0))")
        mode = "training mode" if train else "evaluation with stochastic_inference=True"
        raise MissingRNGError(f"needs a PRNG key in {mode} to draw its dropout mask; call {call}")
    return rng


def _channel_mask_shape(x: Any, n_sp: int) -> tuple[int, ...]:
    """One draw per (sample, channel): ``(B, C, 1, ...)`` or ``(C, 1, ...)``."""
    return x.shape[: x.ndim - n_sp] + (1,) * n_sp


def _dropout(name: str, kind: str, p: float, *, inverted: bool, stochastic_inference: bool, n_sp: int | None,
             letters: tuple[str, ...] | None, config: dict) -> Module:
    keep = 1.0 - p
    check = None if letters is None else win.check_layout(letters, channel_axis=None, channels=None, spatial_axes=())

    def forward(params: Any, x: Any, *, rng: Any, train: bool) -> Any:
        if p == 0:
            return x
        if train or stochastic_inference:
            shape = x.shape if n_sp is None else _channel_mask_shape(x, n_sp)
            mask = jax.random.bernoulli(_key(rng, train), keep, shape)
            return jnp.where(mask, x / keep if inverted else x, jnp.zeros((), x.dtype))
        return x if inverted else x * keep

    return leaf(name, forward, kind=kind, check=check, config=config)


def Dropout(p: float = 0.5, v1: bool = False, stochastic_inference: bool = False) -> Module:
    """Zeroes each element with probability ``p`` in training.

    Args:
      p: the drop probability, in [0, 1).
      v1: torch7's old scheme: no scaling in training, ``×(1-p)`` in evaluation. The default
        (``v1=False``, torch7's "v2" and PyTorch's) scales kept units by ``1/(1-p)`` in training
        and is the identity in evaluation.
      stochastic_inference: keep dropping in evaluation too (needs a key then).

    Shape contract: any shape; the mask has the input's shape.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Dropout(0.5)
    >>> print(fnn.Dropout(0.5))
    nn.Dropout(0.500000)
    >>> y = apply((), jnp.ones(6), rng=jax.random.key(0), train=True)
    >>> bool(jnp.all((y == 0) | (y == 2)))
    True
    >>> apply((), jnp.ones(3))
    Array([1., 1., 1.], dtype=float32)
    """
    p = probability("nn.Dropout", p)
    cfg = {"p": p, "v1": v1, "stochastic_inference": stochastic_inference}
    return _dropout(f"nn.Dropout({p:f})", "Dropout", p, inverted=not v1, stochastic_inference=stochastic_inference,
                    n_sp=None, letters=None, config=cfg)


def SpatialDropout(p: float = 0.5, stochastic_inference: bool = False) -> Module:
    """Drops whole feature maps: one Bernoulli draw per (sample, channel), torch7 semantics.

    **Not inverted** (torch7): no scaling in training, the output is multiplied by ``1-p``
    in evaluation. PyTorch's :func:`Dropout2d` drops the same way but is inverted.

    Args:
      p: the drop probability of a channel, in [0, 1).
      stochastic_inference: keep dropping in evaluation too (needs a key then).

    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.SpatialDropout(0.5)
    >>> y = apply((), jnp.ones((4, 2, 2)), rng=jax.random.key(1), train=True)
    >>> [float(y[c].min()) == float(y[c].max()) for c in range(4)]   # whole channels kept or dropped
    [True, True, True, True]
    >>> apply((), jnp.ones((1, 1, 1)))
    Array([[[0.5]]], dtype=float32)
    """
    p = probability("nn.SpatialDropout", p)
    cfg = {"p": p, "stochastic_inference": stochastic_inference}
    return _dropout(f"nn.SpatialDropout({p:f})", "SpatialDropout", p, inverted=False,
                    stochastic_inference=stochastic_inference, n_sp=2, letters=("C", "H", "W"), config=cfg)


def VolumetricDropout(p: float = 0.5, stochastic_inference: bool = False) -> Module:
    """Drops whole 3-D feature maps: one draw per (sample, channel), torch7 semantics.

    **Not inverted** (torch7): no scaling in training, ``×(1-p)`` in evaluation.

    Args:
      p: the drop probability of a channel, in [0, 1).
      stochastic_inference: keep dropping in evaluation too (needs a key then).

    Shape contract: ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    >>> import jax, fnn
    >>> fnn.VolumetricDropout(0.2).init(jax.random.key(0), (-1, 3, 2, 4, 4))[0]
    (-1, 3, 2, 4, 4)
    """
    p = probability("nn.VolumetricDropout", p)
    cfg = {"p": p, "stochastic_inference": stochastic_inference}
    return _dropout(f"nn.VolumetricDropout({p:f})", "VolumetricDropout", p, inverted=False,
                    stochastic_inference=stochastic_inference, n_sp=3, letters=("C", "T", "H", "W"), config=cfg)


def Dropout2d(p: float = 0.5) -> Module:
    """PyTorch ``nn.Dropout2d``: drops whole channels and **scales** the kept ones by
    ``1/(1-p)`` in training (inverted); the identity in evaluation.

    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)``. A 3-D input is one example here;
    PyTorch 2.x still treats a 3-D input as ``(N, C, L)`` with a deprecation warning.

    Args:
      p: the drop probability of a channel, in [0, 1).

    >>> import jax, jax.numpy as jnp, fnn
    >>> y = fnn.Dropout2d(0.5).apply((), jnp.ones((1, 8, 1, 1)), rng=jax.random.key(0), train=True)
    >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    p = probability("nn.Dropout2d", p)
    return _dropout(f"nn.Dropout2d(p={p})", "Dropout2d", p, inverted=True, stochastic_inference=False, n_sp=2,
                    letters=("C", "H", "W"), config={"p": p})


def Dropout3d(p: float = 0.5) -> Module:
    """PyTorch ``nn.Dropout3d``: drops whole 3-D channels, inverted (``×1/(1-p)`` in training).

    Shape contract: ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      p: the drop probability of a channel, in [0, 1).

    >>> import jax, fnn
    >>> fnn.Dropout3d(0.5).init(jax.random.key(0), (2, 3, 4, 4))[0]
    (2, 3, 4, 4)
    """
    p = probability("nn.Dropout3d", p)
    return _dropout(f"nn.Dropout3d(p={p})", "Dropout3d", p, inverted=True, stochastic_inference=False, n_sp=3,
                    letters=("C", "T", "H", "W"), config={"p": p})


def AlphaDropout(p: float = 0.5) -> Module:
    """PyTorch ``nn.AlphaDropout`` for self-normalising (SELU) networks.

    In training each element is kept with probability ``1-p``; with
    ``a = 1/√((α²p + 1)(1-p))`` and ``α = 1.7580993…``, a kept element becomes
    ``a·x + α·a·p`` and a dropped one ``α·a·(p-1)``, which keeps zero mean and unit variance.
    Evaluation is the identity.

    Args:
      p: the drop probability, in [0, 1).

    Shape contract: any shape.

    >>> import jax, jax.numpy as jnp, fnn
    >>> x = jax.random.normal(jax.random.key(1), (100000,))
    >>> y = fnn.AlphaDropout(0.2).apply((), x, rng=jax.random.key(0), train=True)
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)   # still zero mean, unit variance
    (0.0, 1.0)
    """
    p = probability("nn.AlphaDropout", p)
    a = 1.0 / ((_ALPHA * _ALPHA * p + 1) * (1 - p)) ** 0.5

    def forward(params: Any, x: Any, *, rng: Any, train: bool) -> Any:
        if not train or p == 0:
            return x
        mask = jax.random.bernoulli(_key(rng, train), 1.0 - p, x.shape)
        return jnp.where(mask, a * x + _ALPHA * a * p, jnp.full((), _ALPHA * a * (p - 1), x.dtype))

    return leaf(f"nn.AlphaDropout(p={p})", forward, kind="AlphaDropout", config={"p": p})


__all__ = ["Dropout", "SpatialDropout", "VolumetricDropout", "AlphaDropout", "Dropout2d", "Dropout3d"]
