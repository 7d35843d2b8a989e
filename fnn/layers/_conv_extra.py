"""More torch7 convolutions: SpatialConvolutionMM, SpatialDepthWiseConvolution,
SpatialConvolutionLocal, SpatialConvolutionMap and SpatialFullConvolutionMap (with the
connection-table helpers :data:`tables`), VolumetricFullConvolution,
VolumetricDilatedConvolution, TemporalRowConvolution, and the LeNet-style sub-sampling layers
TemporalSubSampling and SpatialSubSampling.

The layers that are a convolution of :mod:`fnn.layers._conv` with another weight layout reuse
its builders (:func:`conv_layer`, :func:`transposed_layer`); the others are one
``lax.conv_general_dilated`` (grouped, or on a dense weight scattered from a connection table),
one patch extraction and an einsum (locally connected), or a window sum (sub-sampling).
torch7 argument order throughout (**width before height**); connection tables are 0-based
(torch7's were 1-based).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from fnn.core import Initializer, Module, leaf, uniform
from fnn.core._args import ints
from fnn.errors import ConfigError
from fnn.layers import _windows as win
from fnn.layers._conv import conv_layer, transposed_layer
from fnn.layers._pool import sum_window

# --------------------------------------------------------------------------- helpers


def _params(shapes: dict[str, tuple[int, ...]], bound: float, inits: dict[str, Callable | None]) -> Callable:
    """``params(rng, shape, dtype)`` drawing each named array from its init (default ``U(±bound)``)."""

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        keys = jax.random.split(rng, len(shapes))
        return {k: (inits.get(k) or uniform(bound))(key, s, dtype) for (k, s), key in zip(shapes.items(), keys,
                                                                                           strict=True)}

    return params


def _bias_tail(bias: bool) -> str:
    return "" if bias else " without bias"


def _spatial_check(n_in: int, kernel: tuple[int, ...], stride: tuple[int, ...], pads: tuple[int, ...],
                   letters: tuple[str, ...] | None = None) -> Callable:
    """Layout check of a ``(n_in, H, W)`` / ``(B, n_in, H, W)`` input with a floor-rounded window."""
    n_sp = len(kernel)
    letters = letters or (str(n_in), "H", "W")
    return win.check_layout(letters, channel_axis=-n_sp - 1, channels=n_in, spatial_axes=tuple(range(-n_sp, 0)),
                            out_fn=lambda i, n: win.conv_out(n, kernel[i], stride[i], pads[i], pads[i]))


# --------------------------------------------------------------------------- convolutions


def SpatialConvolutionMM(
    n_in: int, n_out: int, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int | None = None,
    *, bias: bool = True, weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """SpatialConvolution with torch7's 2-D "MM" weight layout ``(n_out, n_in·kH·kW)``.

    Args:
      n_in, n_out, kW, kH, dW, dH, padW, padH, bias, weight_init, bias_init: as
        :func:`fnn.SpatialConvolution` (``padH`` defaults to ``padW``; init ``U(±1/√(n_in·kW·kH))``).

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)`` -> ``(..., n_out, H', W')``,
    ``H' = floor((H + 2·padH - kH) / dH) + 1``.
    Params: ``weight (n_out, n_in·kH·kW)`` (row-major ``[o, (i, kh, kw)]``), ``bias (n_out,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.SpatialConvolutionMM(2, 4, 3, 3, 1, 1, 1).init(jax.random.key(0), (-1, 2, 5, 5))
    >>> out_shape, params['weight'].shape
    ((-1, 4, 5, 5), (4, 18))
    """
    layer = "nn.SpatialConvolutionMM"
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH)
    ints(layer, 0, padW=padW, padH=padH)
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}, {dW},{dH}, {padW},{padH})" + _bias_tail(bias)
    cfg = {"n_in": n_in, "n_out": n_out, "kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH,
           "bias": bias}
    return conv_layer(name, "SpatialConvolutionMM", cfg, n_in=n_in, n_out=n_out, kernel=(kH, kW), stride=(dH, dW),
                      pads=((padH, padH), (padW, padW)), dilation=(1, 1), groups=1, bias=bias, w_init=weight_init,
                      b_init=bias_init, fan_in=n_in * kW * kH, lhs="NCHW", weight_shape=(n_out, n_in * kH * kW))


def SpatialDepthWiseConvolution(
    n_in: int, mult: int, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int | None = None,
    *, bias: bool = True, weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Depth-wise convolution: each input plane convolved with ``mult`` filters of its own.

    Args:
      n_in: input planes.
      mult: filters per input plane (torch7's ``nOutputPlane``); the output has ``n_in·mult`` planes.
      kW, kH, dW, dH, padW, padH: as :func:`fnn.SpatialConvolution` (``padH`` defaults to ``padW``).
      bias: add a bias (torch7's ``noBias()`` is ``bias=False``).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√(kW·kH·n_in))``
        (torch7's bound, although each filter sees one plane).

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)`` -> ``(..., n_in·mult, H', W')``; output plane
    ``i·mult + m`` is input plane ``i`` convolved with filter ``m`` (input-major, torch7's order).
    torch7's C code swapped the height and width of non-square inputs; fnn does not.
    Params: ``weight (mult, n_in·kH·kW)`` (torch7's layout: ``[m, (i, kh, kw)]``), ``bias (mult, n_in)``.
    PyTorch: ``Conv2d(n_in, n_in*mult, k, groups=n_in)`` with weight
    ``w.reshape(mult, n_in, kH, kW).transpose(1, 0, 2, 3).reshape(n_in*mult, 1, kH, kW)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.SpatialDepthWiseConvolution(3, 2, 3, 3).init(jax.random.key(0), (-1, 3, 6, 6))
    >>> out_shape, params['weight'].shape, params['bias'].shape
    ((-1, 6, 4, 4), (2, 27), (2, 3))
    """
    layer = "nn.SpatialDepthWiseConvolution"
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, mult=mult, kW=kW, kH=kH, dW=dW, dH=dH)
    ints(layer, 0, padW=padW, padH=padH)
    name = f"{layer}({n_in} -> {n_in * mult}, {kW}x{kH}, {dW},{dH}, {padW},{padH})" + _bias_tail(bias)
    cfg = {"n_in": n_in, "mult": mult, "kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH,
           "bias": bias}
    shapes = {"weight": (mult, n_in * kH * kW)} | ({"bias": (mult, n_in)} if bias else {})
    params = _params(shapes, 1.0 / math.sqrt(kW * kH * n_in), {"weight": weight_init, "bias": bias_init})

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        win.same_dtype(x, p["weight"])
        xb, single = win.batch_first(x, 3)
        w = jnp.reshape(jnp.swapaxes(jnp.reshape(p["weight"], (mult, n_in, kH, kW)), 0, 1), (n_in * mult, 1, kH, kW))
        y = lax.conv_general_dilated(xb, w, (dH, dW), ((padH, padH), (padW, padW)), feature_group_count=n_in,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        if bias:
            y = y + jnp.reshape(jnp.swapaxes(p["bias"], 0, 1), (1, n_in * mult, 1, 1))
        return y[0] if single else y

    return leaf(name, forward, kind="SpatialDepthWiseConvolution", params=params, config=cfg,
                check=_spatial_check(n_in, (kH, kW), (dH, dW), (padH, padW)))


def SpatialConvolutionLocal(
    n_in: int, n_out: int, iW: int, iH: int, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0,
    padH: int | None = None, *, weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Locally connected 2-D layer: a convolution whose filters differ at every output position.

    Args:
      n_in, n_out: input and output planes.
      iW, iH: the input width and height, fixed at construction (torch7).
      kW, kH, dW, dH: kernel and strides (width first; strides default 1).
      padW, padH: zero padding; ``padH`` defaults to ``padW``.
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√(kW·kH·n_in))``.

    Shape contract: ``(n_in, iH, iW)`` or ``(B, n_in, iH, iW)`` -> ``(..., n_out, oH, oW)`` with
    ``oH = floor((iH + 2·padH - kH) / dH) + 1``;
    ``y[o, h, w] = bias[o, h, w] + Σ_{i,kh,kw} weight[h, w, o, i, kh, kw] · x_pad[i, h·dH + kh, w·dW + kw]``.
    Params: ``weight (oH, oW, n_out, n_in, kH, kW)``, ``bias (n_out, oH, oW)`` (torch7's layouts).

    >>> import jax, fnn
    >>> out_shape, params = fnn.SpatialConvolutionLocal(1, 2, 4, 4, 3, 3).init(jax.random.key(0), (-1, 1, 4, 4))
    >>> out_shape, params['weight'].shape, params['bias'].shape
    ((-1, 2, 2, 2), (2, 2, 2, 1, 3, 3), (2, 2, 2))
    """
    layer = "nn.SpatialConvolutionLocal"
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, iW=iW, iH=iH, kW=kW, kH=kH, dW=dW, dH=dH)
    ints(layer, 0, padW=padW, padH=padH)
    oW, oH = win.conv_out(iW, kW, dW, padW, padW), win.conv_out(iH, kH, dH, padH, padH)
    if oW < 1 or oH < 1:
        raise ConfigError(f"{layer}: the output size {oW}x{oH} (width x height) is less than 1 for a {iW}x{iH} input")
    name = f"{layer}({n_in} -> {n_out}, {iW}x{iH}, {kW}x{kH}, {dW},{dH}, {padW},{padH})"
    cfg = {"n_in": n_in, "n_out": n_out, "iW": iW, "iH": iH, "kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW,
           "padH": padH}
    shapes = {"weight": (oH, oW, n_out, n_in, kH, kW), "bias": (n_out, oH, oW)}
    params = _params(shapes, 1.0 / math.sqrt(kW * kH * n_in), {"weight": weight_init, "bias": bias_init})

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        win.same_dtype(x, p["weight"])
        xb, single = win.batch_first(x, 3)
        # (B, n_in*kH*kW, oH, oW), features ordered (i, kh, kw) like the weight's last three dims
        patches = lax.conv_general_dilated_patches(xb, (kH, kW), (dH, dW), ((padH, padH), (padW, padW)),
                                                   dimension_numbers=("NCHW", "OIHW", "NCHW"))
        w = jnp.reshape(p["weight"], (oH, oW, n_out, n_in * kH * kW))
        y = jnp.einsum("bfhw,hwof->bohw", patches, w, precision=lax.Precision.HIGHEST) + p["bias"][None]
        return y[0] if single else y

    check = win.check_layout((str(n_in), str(iH), str(iW)), channel_axis=-3, channels=n_in, spatial_axes=())
    size_check = win.check_layout((str(n_in), str(iH), str(iW)), channel_axis=-2, channels=iH, spatial_axes=())
    width_check = win.check_layout((str(n_in), str(iH), str(iW)), channel_axis=-1, channels=iW, spatial_axes=())

    def check_all(shape: Any, dtype: Any) -> None:
        for c in (check, size_check, width_check):
            c(shape, dtype)

    return leaf(name, forward, kind="SpatialConvolutionLocal", params=params, config=cfg, check=check_all)


# --------------------------------------------------------------------------- connection tables


class tables:  # noqa: N801  (torch7's ``nn.tables``)
    """torch7's ``nn.tables``: connection tables for :func:`SpatialConvolutionMap`.

    A table is an int numpy array ``(n_connections, 2)`` of 0-based ``[input_plane, output_plane]``
    rows (torch7's were 1-based).

    >>> import fnn
    >>> fnn.tables.full(2, 2).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    >>> fnn.tables.oneToOne(2).tolist()
    [[0, 0], [1, 1]]
    >>> fnn.tables.random(4, 3, 2).shape
    (6, 2)
    """

    @staticmethod
    def full(n_in: int, n_out: int) -> np.ndarray:
        """Every input plane to every output plane (rows ordered by output, then input)."""
        ints("nn.tables.full", 1, n_in=n_in, n_out=n_out)
        return np.asarray([[i, j] for j in range(n_out) for i in range(n_in)], dtype=np.int64)

    @staticmethod
    def oneToOne(n_feat: int) -> np.ndarray:  # noqa: N802  (torch7's name)
        """Input plane ``i`` to output plane ``i``."""
        ints("nn.tables.oneToOne", 1, n_feat=n_feat)
        return np.asarray([[i, i] for i in range(n_feat)], dtype=np.int64)

    @staticmethod
    def random(n_in: int, n_out: int, n_to: int, rng: Any = None) -> np.ndarray:
        """Each output plane fed by ``n_to`` distinct input planes, drawn as torch7 does: consecutive
        chunks of a random permutation of the inputs, a new permutation once the chunks run out.

        Args:
          n_in, n_out: input and output planes.
          n_to: inputs per output plane (``<= n_in``).
          rng: a ``jax.random`` key (default ``jax.random.key(0)``: the table is deterministic).
        """
        ints("nn.tables.random", 1, n_in=n_in, n_out=n_out, n_to=n_to)
        if n_to > n_in:
            raise ConfigError(f"nn.tables.random: n_to must be <= n_in ({n_in}), got {n_to}")
        rng = jax.random.key(0) if rng is None else rng
        chunks = n_in // n_to
        rows, perm, used = [], None, chunks
        for j in range(n_out):
            if used == chunks:
                rng, sub = jax.random.split(rng)
                perm, used = np.asarray(jax.random.permutation(sub, n_in)), 0
            rows.extend([int(i), j] for i in perm[used * n_to:(used + 1) * n_to])
            used += 1
        return np.asarray(rows, dtype=np.int64)


def _conn_table(layer: str, conn: Any) -> tuple[np.ndarray, int, int]:
    t = np.asarray(conn)
    if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] == 0 or not np.all(np.equal(np.mod(t, 1), 0)) or t.min() < 0:
        raise ConfigError(f"{layer}: conn_table must be a non-empty (n, 2) table of 0-based [input, output] plane "
                          f"indices, got {t.tolist() if t.size < 20 else t.shape}")
    t = t.astype(np.int64)
    return t, int(t[:, 0].max()) + 1, int(t[:, 1].max()) + 1


def _map_params(conn: np.ndarray, n_out: int, kW: int, kH: int, w_init: Callable | None,
                b_init: Callable | None) -> Callable:
    """torch7's init: each connection and bias ``U(±1/√(kW·kH·fan_in of its output plane))``."""
    fan = np.bincount(conn[:, 1], minlength=n_out).astype(np.float64)
    fan[fan == 0] = np.inf  # an unconnected output plane: torch7 drew U(±inf); fnn gives it bound 0
    w_bound = 1.0 / np.sqrt(kW * kH * fan[conn[:, 1]])
    b_bound = 1.0 / np.sqrt(kW * kH * fan)

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        if w_init:
            w = w_init(kw, (len(conn), kH, kW), dtype)
        else:
            w = jax.random.uniform(kw, (len(conn), kH, kW), dtype, -1.0, 1.0) * jnp.asarray(w_bound, dtype)[:, None,
                                                                                                            None]
        b = b_init(kb, (n_out,), dtype) if b_init else (
            jax.random.uniform(kb, (n_out,), dtype, -1.0, 1.0) * jnp.asarray(b_bound, dtype))
        return {"weight": w, "bias": b}

    return params


def _dense(weight: Any, conn: np.ndarray, n_in: int, n_out: int, order: str) -> Any:
    """Scatters ``weight (n_conn, kH, kW)`` into a dense ``(n_out, n_in, ...)`` (``'oi'``) or ``(n_in, n_out, ...)``."""
    rows, cols = (conn[:, 1], conn[:, 0]) if order == "oi" else (conn[:, 0], conn[:, 1])
    shape = (n_out, n_in) if order == "oi" else (n_in, n_out)
    return jnp.zeros(shape + weight.shape[1:], weight.dtype).at[rows, cols].add(weight)


def SpatialConvolutionMap(conn_table: Any, kW: int, kH: int, dW: int = 1, dH: int = 1, *,
                          weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """2-D convolution with sparse plane connectivity given by a connection table.

    Args:
      conn_table: ``(n_conn, 2)`` rows of 0-based ``[input_plane, output_plane]`` (see :data:`fnn.tables`);
        the number of input/output planes is the largest index + 1.
      kW, kH, dW, dH: kernel and strides (width first; strides default 1). No padding (torch7).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default per output plane
        ``U(±1/√(kW·kH·fan_in))``, ``fan_in`` being its number of connections (torch7).

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)`` -> ``(..., n_out, H', W')``,
    ``H' = floor((H - kH) / dH) + 1``; output plane ``o`` is ``bias[o]`` plus the sum over the rows
    ``k = [i, o]`` of input plane ``i`` cross-correlated with ``weight[k]``.
    Params: ``weight (n_conn, kH, kW)``, ``bias (n_out,)``.

    >>> import jax, fnn
    >>> conv = fnn.SpatialConvolutionMap(fnn.tables.oneToOne(3), 3, 3)
    >>> out_shape, params = conv.init(jax.random.key(0), (-1, 3, 5, 5))
    >>> out_shape, params['weight'].shape
    ((-1, 3, 3, 3), (3, 3, 3))
    """
    layer = "nn.SpatialConvolutionMap"
    conn, n_in, n_out = _conn_table(layer, conn_table)
    ints(layer, 1, kW=kW, kH=kH, dW=dW, dH=dH)
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}, {dW},{dH})"
    cfg = {"conn_table": conn.tolist(), "kW": kW, "kH": kH, "dW": dW, "dH": dH}

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        win.same_dtype(x, p["weight"])
        xb, single = win.batch_first(x, 3)
        w = _dense(p["weight"], conn, n_in, n_out, "oi")
        y = lax.conv_general_dilated(xb, w, (dH, dW), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        y = y + p["bias"][None, :, None, None]
        return y[0] if single else y

    return leaf(name, forward, kind="SpatialConvolutionMap", config=cfg,
                params=_map_params(conn, n_out, kW, kH, weight_init, bias_init),
                check=_spatial_check(n_in, (kH, kW), (dH, dW), (0, 0)))


def SpatialFullConvolutionMap(conn_table: Any, kW: int, kH: int, dW: int = 1, dH: int = 1, *,
                              weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """The transposed ("full") counterpart of :func:`SpatialConvolutionMap`.

    Args:
      conn_table, kW, kH, dW, dH, weight_init, bias_init: as :func:`SpatialConvolutionMap`.

    Shape contract: ``(n_in, H, W)`` -> ``(n_out, (H-1)·dH + kH, (W-1)·dW + kW)``; output plane ``o``
    is ``bias[o]`` plus, for each row ``k = [i, o]``, ``out[h·dH + a, w·dW + b] += x[i, h, w]·weight[k, a, b]``
    (torch7's full convolution, no kernel flip). A batch ``(B, n_in, H, W)`` is accepted too (torch7
    took one example only).
    Params: ``weight (n_conn, kH, kW)``, ``bias (n_out,)``.

    >>> import jax, fnn
    >>> fnn.SpatialFullConvolutionMap(fnn.tables.full(2, 1), 3, 3, 2, 2).init(jax.random.key(0), (2, 4, 4))[0]
    (1, 9, 9)
    """
    layer = "nn.SpatialFullConvolutionMap"
    conn, n_in, n_out = _conn_table(layer, conn_table)
    ints(layer, 1, kW=kW, kH=kH, dW=dW, dH=dH)
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}, {dW},{dH})"
    cfg = {"conn_table": conn.tolist(), "kW": kW, "kH": kH, "dW": dW, "dH": dH}

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        win.same_dtype(x, p["weight"])
        xb, single = win.batch_first(x, 3)
        w = jnp.flip(_dense(p["weight"], conn, n_in, n_out, "io"), axis=(2, 3))
        y = lax.conv_general_dilated(xb, w, (1, 1), ((kH - 1, kH - 1), (kW - 1, kW - 1)), lhs_dilation=(dH, dW),
                                     dimension_numbers=("NCHW", "IOHW", "NCHW"))
        y = y + p["bias"][None, :, None, None]
        return y[0] if single else y

    check = win.check_layout((str(n_in), "H", "W"), channel_axis=-3, channels=n_in, spatial_axes=())
    return leaf(name, forward, kind="SpatialFullConvolutionMap", config=cfg, check=check,
                params=_map_params(conn, n_out, kW, kH, weight_init, bias_init))


def VolumetricFullConvolution(
    n_in: int, n_out: int, kT: int, kW: int, kH: int, dT: int = 1, dW: int = 1, dH: int = 1, padT: int = 0,
    padW: int = 0, padH: int = 0, adjT: int = 0, adjW: int = 0, adjH: int = 0, *, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Transposed 3-D convolution on ``(n_in, T, H, W)`` or ``(B, n_in, T, H, W)``.

    Args:
      n_in, n_out: input and output planes.
      kT, kW, kH, dT, dW, dH: kernel and strides (torch7 order: time, width, height; strides default 1).
      padT, padW, padH: the padding of the convolution this transposes (each defaults to 0).
      adjT, adjW, adjH: extra output slices at the high end; each must be < its stride.
      bias, weight_init, bias_init: as :func:`fnn.SpatialFullConvolution`; default init
        ``U(±1/√(n_in·kT·kW·kH))``.

    Shape contract: ``T' = (T-1)·dT - 2·padT + kT + adjT`` (H, W alike). As in torch7 the input may
    be the table ``(x, ref)``: the output then takes ``ref``'s size and ``ref`` gets a zero gradient.
    Params: ``weight (n_in, n_out, kT, kH, kW)`` (PyTorch ConvTranspose3d's layout), ``bias (n_out,)``.

    >>> import jax, fnn
    >>> fnn.VolumetricFullConvolution(2, 1, 2, 2, 2, 2, 2, 2).init(jax.random.key(0), (-1, 2, 2, 3, 3))[0]
    (-1, 1, 4, 6, 6)
    """
    layer = "nn.VolumetricFullConvolution"
    ints(layer, 1, n_in=n_in, n_out=n_out, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH)
    ints(layer, 0, padT=padT, padW=padW, padH=padH, adjT=adjT, adjW=adjW, adjH=adjH)
    if adjT >= dT or adjW >= dW or adjH >= dH:
        raise ConfigError(f"{layer}: adjT, adjW, adjH ({adjT}, {adjW}, {adjH}) must be smaller than dT, dW, dH "
                          f"({dT}, {dW}, {dH})")
    name = (f"{layer}({n_in} -> {n_out}, {kT}x{kW}x{kH}, {dT},{dW},{dH}, {padT},{padW},{padH}, "
            f"{adjT},{adjW},{adjH})" + _bias_tail(bias))
    cfg = {"n_in": n_in, "n_out": n_out, "kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH, "padT": padT,
           "padW": padW, "padH": padH, "adjT": adjT, "adjW": adjW, "adjH": adjH, "bias": bias}
    return transposed_layer(name, "VolumetricFullConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kT, kH, kW),
                            stride=(dT, dH, dW), padding=(padT, padH, padW), adj=(adjT, adjH, adjW),
                            dilation=(1, 1, 1), groups=1, bias=bias, w_init=weight_init, b_init=bias_init,
                            fan_in=n_in * kT * kW * kH, lhs="NCDHW", ref_table=True)


def VolumetricDilatedConvolution(
    n_in: int, n_out: int, kT: int, kW: int, kH: int, dT: int = 1, dW: int = 1, dH: int = 1, padT: int = 0,
    padW: int | None = None, padH: int | None = None, dilT: int = 1, dilW: int = 1, dilH: int = 1, *,
    bias: bool = True, weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Atrous 3-D convolution: :func:`fnn.VolumetricConvolution` with the kernel taps ``dil`` apart.

    Args:
      n_in, n_out, kT, kW, kH, dT, dW, dH, padT, padW, padH, bias, weight_init, bias_init: as
        :func:`fnn.VolumetricConvolution` (``padW`` defaults to ``padT``, ``padH`` to ``padW``).
      dilT, dilW, dilH: dilation (default 1).

    Shape contract: ``T' = floor((T + 2·padT - dilT·(kT-1) - 1) / dT) + 1`` (H, W alike).
    Params: ``weight (n_out, n_in, kT, kH, kW)``, ``bias (n_out,)``.

    >>> import jax, fnn
    >>> conv = fnn.VolumetricDilatedConvolution(1, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 2, 2, 2)
    >>> conv.init(jax.random.key(0), (1, 4, 5, 5))[0]
    (2, 2, 3, 3)
    """
    layer = "nn.VolumetricDilatedConvolution"
    padW = padT if padW is None else padW
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH, dilT=dilT, dilW=dilW, dilH=dilH)
    ints(layer, 0, padT=padT, padW=padW, padH=padH)
    name = (f"{layer}({n_in} -> {n_out}, {kT}x{kW}x{kH}, {dT},{dW},{dH}, {padT},{padW},{padH}, "
            f"{dilT},{dilW},{dilH})" + _bias_tail(bias))
    cfg = {"n_in": n_in, "n_out": n_out, "kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH, "padT": padT,
           "padW": padW, "padH": padH, "dilT": dilT, "dilW": dilW, "dilH": dilH, "bias": bias}
    return conv_layer(name, "VolumetricDilatedConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kT, kH, kW),
                      stride=(dT, dH, dW), pads=((padT, padT), (padH, padH), (padW, padW)),
                      dilation=(dilT, dilH, dilW), groups=1, bias=bias, w_init=weight_init, b_init=bias_init,
                      fan_in=n_in * kT * kW * kH, lhs="NCDHW", weight_shape=(n_out, n_in, kT, kH, kW))


def TemporalRowConvolution(
    in_frame: int, kW: int, dW: int = 1, feat_first: bool = False, *, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Depth-wise 1-D convolution over time: each feature row has its own kernel.

    Args:
      in_frame: features per time step.
      kW, dW: kernel width and stride (stride default 1); no padding.
      feat_first: the input is ``(F, T)`` / ``(B, F, T)`` (torch7's ``featFirst``) instead of the
        time-major ``(T, F)`` / ``(B, T, F)``; the output has the input's layout.
      bias: add a bias (torch7's ``noBias()`` is ``bias=False``).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√(kW·in_frame))``.

    Shape contract: ``T' = floor((T - kW) / dW) + 1``;
    ``y[t, f] = bias[f] + Σ_k weight[f, 0, k] · x[t·dW + k, f]``.
    Params: ``weight (in_frame, 1, kW)``, ``bias (in_frame,)`` (PyTorch ``Conv1d(F, F, kW, groups=F)``'s layout).

    >>> import jax, fnn
    >>> fnn.TemporalRowConvolution(3, 2).init(jax.random.key(0), (-1, 5, 3))[0]
    (-1, 4, 3)
    """
    layer = "nn.TemporalRowConvolution"
    ints(layer, 1, in_frame=in_frame, kW=kW, dW=dW)
    name = f"{layer}({in_frame}, {kW}, {dW}{', featFirst' if feat_first else ''})" + _bias_tail(bias)
    cfg = {"in_frame": in_frame, "kW": kW, "dW": dW, "feat_first": feat_first, "bias": bias}
    shapes = {"weight": (in_frame, 1, kW)} | ({"bias": (in_frame,)} if bias else {})
    params = _params(shapes, 1.0 / math.sqrt(kW * in_frame), {"weight": weight_init, "bias": bias_init})
    lhs = "NCW" if feat_first else "NWC"

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        win.same_dtype(x, p["weight"])
        xb, single = win.batch_first(x, 2)
        y = lax.conv_general_dilated(xb, p["weight"], (dW,), "VALID", feature_group_count=in_frame,
                                     dimension_numbers=(lhs, "OIW", lhs))
        if bias:
            y = y + (p["bias"][None, :, None] if feat_first else p["bias"][None, None])
        return y[0] if single else y

    letters = (str(in_frame), "T") if feat_first else ("T", str(in_frame))
    t_axis, f_axis = (-1, -2) if feat_first else (-2, -1)
    check = win.check_layout(letters, channel_axis=f_axis, channels=in_frame, spatial_axes=(t_axis,),
                             out_fn=lambda i, n: win.conv_out(n, kW, dW, 0, 0))
    return leaf(name, forward, kind="TemporalRowConvolution", params=params, config=cfg, check=check)


# --------------------------------------------------------------------------- sub-sampling


def _subsampling(layer: str, kind: str, name: str, cfg: dict, n: int, kernel: tuple[int, ...],
                 stride: tuple[int, ...], letters: tuple[str, ...], axes: tuple[int, ...], channel_axis: int,
                 w_init: Callable | None, b_init: Callable | None) -> Module:
    """``y = weight[c] · Σ_window x + bias[c]`` per channel ``c``."""
    params = _params({"weight": (n,), "bias": (n,)}, 1.0 / math.sqrt(math.prod(kernel)),
                     {"weight": w_init, "bias": b_init})
    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        win.same_dtype(x, p["weight"])
        shape_c = [1] * x.ndim
        shape_c[channel_axis] = n
        y, _ = sum_window(x, axes, kernel, stride, (0,) * len(kernel), ceil=False)
        return y * jnp.reshape(p["weight"], shape_c) + jnp.reshape(p["bias"], shape_c)

    check = win.check_layout(letters, channel_axis=channel_axis, channels=n, spatial_axes=axes,
                             out_fn=lambda i, m: win.conv_out(m, kernel[i], stride[i], 0, 0))
    return leaf(name, forward, kind=kind, params=params, config=cfg, check=check)


def TemporalSubSampling(in_frame: int, kW: int, dW: int = 1, *, weight_init: Initializer | None = None,
                        bias_init: Initializer | None = None) -> Module:
    """Per feature: the sum over a time window, times a learnt scalar, plus a learnt bias.

    Args:
      in_frame: features per time step.
      kW, dW: window length and stride (stride default 1).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√kW)``.

    Shape contract: ``(T, in_frame) -> (T', in_frame)``, ``T' = floor((T - kW) / dW) + 1``;
    ``y[t, f] = weight[f] · Σ_{k<kW} x[t·dW + k, f] + bias[f]``. A batch ``(B, T, in_frame)`` is
    accepted too (torch7 took 2-D input only).
    Params: ``weight (in_frame,)``, ``bias (in_frame,)``.

    >>> import jax, fnn
    >>> fnn.TemporalSubSampling(3, 2, 2).init(jax.random.key(0), (6, 3))[0]
    (3, 3)
    """
    layer = "nn.TemporalSubSampling"
    ints(layer, 1, in_frame=in_frame, kW=kW, dW=dW)
    return _subsampling(layer, "TemporalSubSampling", f"{layer}({in_frame}, {kW}, {dW})",
                        {"in_frame": in_frame, "kW": kW, "dW": dW}, in_frame, (kW,), (dW,), ("T", str(in_frame)),
                        (-2,), -1, weight_init, bias_init)


def SpatialSubSampling(n_in: int, kW: int, kH: int, dW: int = 1, dH: int = 1, *,
                       weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """LeNet-style sub-sampling: per plane, the window sum times a learnt scalar plus a learnt bias.

    Args:
      n_in: input planes.
      kW, kH, dW, dH: window and strides (width first; strides default 1).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√(kW·kH))``.

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)`` -> ``H' = floor((H - kH) / dH) + 1``;
    ``y[c, h, w] = weight[c] · Σ_window x[c] + bias[c]``.
    Params: ``weight (n_in,)``, ``bias (n_in,)``.

    >>> import jax, fnn
    >>> fnn.SpatialSubSampling(2, 2, 2, 2, 2).init(jax.random.key(0), (-1, 2, 6, 6))[0]
    (-1, 2, 3, 3)
    """
    layer = "nn.SpatialSubSampling"
    ints(layer, 1, n_in=n_in, kW=kW, kH=kH, dW=dW, dH=dH)
    return _subsampling(layer, "SpatialSubSampling", f"{layer}({n_in}, {kW}x{kH}, {dW},{dH})",
                        {"n_in": n_in, "kW": kW, "kH": kH, "dW": dW, "dH": dH}, n_in, (kH, kW), (dH, dW),
                        (str(n_in), "H", "W"), (-2, -1), -3, weight_init, bias_init)
