"""The fnn error classes (one module, flax ``errors.py`` style).

Every error fnn raises on purpose derives from :class:`FnnError`. Errors raised
inside a container carry the path of the child that raised them: containers
call :meth:`FnnError.at` on the way out, so the message names the layer by its
params path (``[2][0]`` is ``params[2][0]``) and keeps the exception type.
"""

from __future__ import annotations


class FnnError(Exception):
    """Base class of every error fnn raises on purpose.

    Attributes:
      message: the message without the path.
      path: indices from the outermost container down to the layer that raised.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.path: tuple[int | str, ...] = ()

    def at(self, index: int | str, container: str) -> FnnError:
        """Prefixes ``index`` to the path and notes the container (PEP 678)."""
        self.path = (index,) + self.path
        self.add_note(f"  inside child [{index}] of {container}")
        return self

    def __str__(self) -> str:
        if not self.path:
            return self.message
        where = "".join(f"[{i}]" for i in self.path)
        return f"at {where}: {self.message}"


class ShapeError(FnnError, ValueError):
    """An input, a target or a table has the wrong shape, rank or arity."""


class ParamsError(ShapeError):
    """The params or state given to apply do not fit the model (another model's, a missing or extra
    entry, a wrong shape or dtype kind); the message names the layer and expected vs actual."""


class DTypeError(FnnError, TypeError):
    """An input has the wrong dtype (float indices, integer data where floats are needed)."""


class MissingRNGError(FnnError, ValueError):
    """A layer needs a PRNG key (``rng=``) in training mode and none was given."""


class StatefulModelError(FnnError, TypeError):
    """The plain ``(init, apply)`` pair was used on a model that has state."""


class ConfigError(FnnError, ValueError):
    """A constructor got an invalid hyper-parameter (a negative size, p outside [0, 1), ...)."""


class UsageError(ConfigError, TypeError, AttributeError):
    """A torch7-style call on an fnn Module: ``model(x)``, ``model.forward(x)``, ``model:backward``.

    fnn layers are ``(init, apply)`` pairs, so the message shows the fnn call. It is a
    :class:`ConfigError`, and also a ``TypeError`` (a wrong call) and an ``AttributeError``
    (so ``hasattr(model, "forward")`` stays False).
    """


class IndexRangeError(FnnError, IndexError):
    """A class index or lookup index is outside its valid range."""


class CheckpointError(FnnError, OSError):
    """A checkpoint is missing, truncated, corrupt, foreign or does not match the model."""


class DataError(FnnError, OSError):
    """A data file is missing, truncated, corrupt or has an unexpected layout."""


class NonFiniteError(FnnError, FloatingPointError):
    """A loss, an output or a gradient became NaN or infinite."""


class T7Error(FnnError, ValueError):
    """A Lua torch7 ``.t7`` file is corrupt, truncated or not t7, or holds a model fnn cannot build."""


__all__ = [
    "FnnError",
    "ShapeError",
    "DTypeError",
    "MissingRNGError",
    "StatefulModelError",
    "ConfigError",
    "UsageError",
    "IndexRangeError",
    "CheckpointError",
    "DataError",
    "NonFiniteError",
    "ParamsError",
    "T7Error",
]
