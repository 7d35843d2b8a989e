"""Reading Lua torch7 ``.t7`` files (``torch.save`` in its default binary mode) into Python objects.

The format (torch7's ``File.lua`` and ``generic/Tensor.c`` / ``generic/Storage.c``): every value
starts with a 4-byte type tag, little-endian::

    0 nil       nothing follows
    1 number    a float64
    2 string    int32 length, then the bytes
    3 table     int32 reference index; if new: int32 pair count, then key, value, key, value ...
    4 torch     int32 reference index; if new: "V <version>" and the class name (each an int32
                length and bytes; files older than versioning have the class name only), then
                the object: a Tensor is int32 ndim, int64 sizes[ndim], int64 strides[ndim],
                int64 storage offset (1-based), then its Storage as an object; a Storage is
                int64 element count, then the raw elements; any other class is a table of fields
    5 boolean   int32, 1 for true
    6 function  int32 length, bytecode, upvalues (an object); 7 and 8 (recursive functions)
                carry a reference index first

Longs are 8 bytes (files written on Linux/macOS x86_64). A reference index seen before means
"the same object again": sharing and cycles (a table holding itself) are legal and rebuilt as
shared Python objects.

Why a reader of our own rather than ``torchfile`` (PyPI 0.1.0, 2017, unmaintained): it fails
with numpy 2 on real model files (its list-table conversion compares elements with ``==``, which
numpy 2 refuses for arrays); it raises raw ``struct``/``IndexError`` errors on corrupt files
where fnn promises a :class:`~fnn.errors.T7Error` naming the byte offset; it does not check that
a tensor fits in its storage; and the format is small (the table above). The reader was
compared with ``torchfile`` on the genuine files it ships (see the tests).

Nothing in a file is executed: Lua functions come back as :class:`T7Function` holding their
bytecode, never run. Python values: nil -> None, numbers -> float, booleans -> bool, strings
-> str (bytes when not UTF-8), tables -> :class:`T7Table` (a dict; integral number keys become
ints) or :class:`T7List` when the keys are exactly 1..n, tensors and storages -> numpy arrays
(``torch.CudaTensor`` -> float32, the data having been copied to the host on saving), other
torch classes (``nn.Linear``, ...) -> :class:`T7Object`.

>>> import os, tempfile, fnn
>>> path = os.path.join(tempfile.mkdtemp(), "hello.t7")
>>> with open(path, "wb") as f:  # torch.save(path, {hello=123})
...     _ = f.write(bytes.fromhex("030000000100000001000000020000000500000068656c6c6f010000000000000000c05e40"))
>>> fnn.read_t7(path)
{'hello': 123.0}
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from fnn.errors import T7Error

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN, FUNCTION, LEGACY_RECUR_FUNCTION, RECUR_FUNCTION = range(9)

_ELEMENTS = {
    "Double": np.float64, "Float": np.float32, "Half": np.float16, "Long": np.int64, "Int": np.int32,
    "Short": np.int16, "Char": np.int8, "Byte": np.uint8,
}
_MAX_NDIM = 64
_INT32, _INT64 = struct.Struct("<i"), struct.Struct("<q")
_MAX_DEPTH = 20000


def element_dtype(typename: str) -> tuple[str, np.dtype] | None:
    """``("Tensor" | "Storage", dtype)`` for a torch7 tensor or storage class name, else None.

    >>> element_dtype("torch.CudaTensor")
    ('Tensor', dtype('float32'))
    """
    for kind in ("Tensor", "Storage"):
        if typename.startswith("torch.") and typename.endswith(kind):
            elem = typename[len("torch."):-len(kind)]
            if elem.startswith("Cuda"):
                elem = elem[len("Cuda"):] or "Float"
            if elem in _ELEMENTS:
                return kind, np.dtype(_ELEMENTS[elem])
    return None


class T7Table(dict[Any, Any]):
    """A Lua table that is not a plain list: a dict, hashable by identity (a table may be its own key).

    String keys are ``str``; looking one up with ``bytes`` also works (``t[b"weight"]``), and
    so does attribute access where no dict method has the name (``t.weight``).
    """

    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("__") and name in self:
            return self[name]
        raise AttributeError(f"the table has no key {name!r}")

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, bytes):
            with contextlib.suppress(UnicodeDecodeError):
                alt = key.decode("utf-8")
                if dict.__contains__(self, alt):
                    return dict.__getitem__(self, alt)
        elif isinstance(key, str) and dict.__contains__(self, key.encode("utf-8")):
            return dict.__getitem__(self, key.encode("utf-8"))
        raise KeyError(key)


class T7List(list[Any]):
    """A Lua table whose keys are exactly ``1..n``, as a 0-based list; hashable by identity."""

    __hash__ = object.__hash__


class T7Object:
    """An instance of a torch class (``nn.Linear``, a ``torch.class`` of the user, ...).

    Attributes:
      typename: the class name, e.g. ``"nn.Linear"``.
      version: the class's serialisation version (0 for files older than versioning).
      fields: what the file stored for it, normally a :class:`T7Table` of its fields; fields
        are also reachable as attributes and items (``obj.weight``, ``obj["weight"]``).
    """

    def __hash__(self) -> int:
        return id(self)

    def __init__(self, typename: str, version: int = 1, fields: Any = None):
        self.typename: str = typename
        self.version: int = version
        self.fields: Any = T7Table() if fields is None else fields

    def torch_typename(self) -> str:
        """The class name (``torchfile``'s spelling of :attr:`typename`)."""
        return self.typename

    @property
    def _typename(self) -> str:  # torchfile's attribute name, for code written against it
        return self.typename

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("typename", "version", "fields", "_typename"):
            raise AttributeError(name)
        fields = self.__dict__.get("fields")
        if isinstance(fields, dict) and name in fields:
            return fields[name]
        raise AttributeError(f"{self.__dict__.get('typename', 'T7Object')} has no field {name!r}")

    def __getitem__(self, key: Any) -> Any:
        return self.fields[key]

    def __contains__(self, key: Any) -> bool:
        return isinstance(self.fields, dict) and key in self.fields

    def get(self, key: Any, default: Any = None) -> Any:
        """The field ``key``, or ``default`` when the object has none."""
        return self.fields.get(key, default) if isinstance(self.fields, dict) else default

    def keys(self) -> Any:
        """The names of the stored fields."""
        return self.fields.keys() if isinstance(self.fields, dict) else ()

    def __repr__(self) -> str:
        names = ", ".join(sorted(str(k) for k in self.keys()))
        return f"T7Object({self.typename!r}, fields: {names})"


class T7Function:
    """A serialised Lua function: its bytecode and upvalues, kept as data and never run."""

    def __hash__(self) -> int:
        return id(self)

    def __init__(self, bytecode: bytes, upvalues: Any = None):
        self.bytecode: bytes = bytecode
        self.upvalues: Any = upvalues

    def __repr__(self) -> str:
        return f"T7Function({len(self.bytecode)} bytes of Lua bytecode, not executed)"


def _decode(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _key(k: Any) -> Any:
    if isinstance(k, float) and k.is_integer():
        return int(k)
    return k


@contextlib.contextmanager
def _deep_recursion() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 4 * _MAX_DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


class _Reader:
    """One pass over the bytes of a file; ``where`` names the file in errors."""

    def __init__(self, data: bytes, where: str):
        self.data = memoryview(data)
        self.size = len(data)
        self.where = where
        self.pos = 0
        self.memo: dict[int, Any] = {}
        self.open: dict[int, bool] = {}  # tables being read -> referenced from inside themselves
        self.depth = 0

    # -- primitives ---------------------------------------------------------------
    def fail(self, message: str, offset: int | None = None) -> T7Error:
        at = self.pos if offset is None else offset
        return T7Error(f"{self.where}: {message} at byte {at}")

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated file: {what} needs {n} bytes but the file ends at byte {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int32(self, what: str) -> int:
        pos = self.pos
        if pos + 4 > self.size:
            raise self.fail(f"truncated file: {what} needs 4 bytes but the file ends at byte {self.size}")
        self.pos = pos + 4
        return _INT32.unpack_from(self.data, pos)[0]

    def int64(self, what: str) -> int:
        pos = self.pos
        if pos + 8 > self.size:
            raise self.fail(f"truncated file: {what} needs 8 bytes but the file ends at byte {self.size}")
        self.pos = pos + 8
        return _INT64.unpack_from(self.data, pos)[0]

    def string(self, what: str) -> bytes:
        start = self.pos
        n = self.int32(f"the length of {what}")
        if n < 0:
            raise self.fail(f"negative length {n} of {what}", start)
        return bytes(self.take(n, what))

    # -- objects ------------------------------------------------------------------
    def read(self) -> Any:
        start = self.pos
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(f"objects nested more than {_MAX_DEPTH} deep", start)
        try:
            return self._read(start)
        finally:
            self.depth -= 1

    def _read(self, start: int) -> Any:
        tag = self.int32("a type tag")
        if tag == NIL:
            return None
        if tag == NUMBER:
            return struct.unpack("<d", self.take(8, "a number"))[0]
        if tag == BOOLEAN:
            return self.int32("a boolean") == 1
        if tag == STRING:
            return _decode(self.string("a string"))
        if tag == FUNCTION:
            code = self.string("function bytecode")
            return T7Function(code, self.read())
        if tag in (TABLE, TORCH, RECUR_FUNCTION, LEGACY_RECUR_FUNCTION):
            index = self.int32("a reference index")
            if index in self.memo:
                if index in self.open:
                    self.open[index] = True
                return self.memo[index]
            if tag == TABLE:
                return self.table(index)
            if tag == TORCH:
                return self.torch(index, start)
            fn = T7Function(self.string("function bytecode"))
            self.memo[index] = fn
            fn.upvalues = self.read()
            return fn
        hint = " (not a torch7 file?)" if start == 0 else ""
        raise self.fail(f"unknown type tag {tag}{hint}", start)

    def table(self, index: int, as_list: bool = True) -> T7Table | T7List:
        start = self.pos
        n = self.int32("a table size")
        if n < 0:
            raise self.fail(f"negative table size {n}", start)
        out = T7Table()
        self.memo[index] = out
        self.open[index] = False
        for _ in range(n):
            at = self.pos
            k = _key(self.read())
            v = self.read()
            try:
                out[k] = v
            except TypeError:
                raise self.fail(f"a table key of type {type(k).__name__} that Python cannot hash", at) from None
        self_referenced = self.open.pop(index)
        if as_list and not self_referenced and n and set(out) == set(range(1, n + 1)) and not any(
            isinstance(k, bool) for k in out
        ):
            listed = T7List(out[i] for i in range(1, n + 1))
            self.memo[index] = listed
            return listed
        return out

    def torch(self, index: int, start: int) -> Any:
        head = _decode(self.string("a class version"))
        version = 0
        if isinstance(head, str) and head.startswith("V "):
            try:
                version = int(float(head[2:]))
            except ValueError:
                raise self.fail(f"bad class version {head!r}", start) from None
            name = _decode(self.string("a class name"))
        else:
            name = head
        if not isinstance(name, str) or not name:
            raise self.fail(f"bad class name {name!r}", start)
        kind = element_dtype(name)
        if kind is not None and kind[0] == "Storage":
            arr = self.storage(name, kind[1])
            self.memo[index] = arr
            return arr
        if kind is not None:
            return self.tensor(index, name, kind[1], start)
        if name.startswith("tds."):
            raise self.fail(f"class {name} has its own serialisation, which fnn does not read", start)
        obj = T7Object(name, version)
        self.memo[index] = obj
        at = self.pos
        if self.data[at:at + 4].tobytes() == struct.pack("<i", TABLE):
            self.pos += 4
            sub = self.int32("a reference index")
            obj.fields = self.memo[sub] if sub in self.memo else self.table(sub, as_list=False)
        else:
            obj.fields = self.read()
        return obj

    def storage(self, name: str, dtype: np.dtype) -> np.ndarray:
        start = self.pos
        n = self.int64(f"the size of a {name}")
        if n < 0:
            raise self.fail(f"negative size {n} of a {name}", start)
        if n * dtype.itemsize > len(self.data) - self.pos:
            raise self.fail(f"storage too short: a {name} of {n} elements needs {n * dtype.itemsize} bytes but the "
                            f"file ends at byte {len(self.data)}", start)
        raw = self.take(n * dtype.itemsize, f"a {name}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=n).astype(dtype)

    def tensor(self, index: int, name: str, dtype: np.dtype, start: int) -> np.ndarray:
        ndim = self.int32(f"the rank of a {name}")
        if not 0 <= ndim <= _MAX_NDIM:
            raise self.fail(f"bad rank {ndim} of a {name}", start)
        sizes = [self.int64("a tensor size") for _ in range(ndim)]
        strides = [self.int64("a tensor stride") for _ in range(ndim)]
        offset = self.int64("a tensor offset") - 1
        storage = self.read()
        if ndim == 0 or 0 in sizes:
            if any(s < 0 for s in sizes):
                raise self.fail(f"negative size in {sizes} of a {name}", start)
            out = np.zeros(sizes if ndim else (0,), dtype)
            self.memo[index] = out
            return out
        if storage is None or not isinstance(storage, np.ndarray) or storage.ndim != 1:
            raise self.fail(f"a {name} of size {sizes} without a storage", start)
        if storage.dtype != dtype:
            raise self.fail(f"a {name} on a storage of {storage.dtype} elements", start)
        if any(s < 0 for s in sizes) or any(s < 0 for s in strides) or offset < 0:
            raise self.fail(f"a {name} with negative size, stride or offset ({sizes}, {strides}, {offset + 1})", start)
        needed = offset + 1 + sum((n - 1) * s for n, s in zip(sizes, strides))
        if needed > storage.size:
            raise self.fail(f"storage too short: a {name} of size {sizes}, stride {strides}, offset {offset + 1} "
                            f"needs {needed} elements, its storage has {storage.size}", start)
        view = np.lib.stride_tricks.as_strided(
            storage[offset:], shape=sizes, strides=[s * dtype.itemsize for s in strides], writeable=False
        )
        out = np.array(view)
        self.memo[index] = out
        return out


def read_t7_bytes(data: bytes, where: str = "<bytes>") -> Any:
    """Parses the bytes of a ``.t7`` file; see :func:`read_t7`.

    >>> read_t7_bytes(bytes.fromhex("010000000000000000c05e40"))
    123.0
    """
    reader = _Reader(data, where)
    if data[:1].isdigit() and b"\n" in data[:16]:
        raise reader.fail("this looks like a torch7 file saved in 'ascii' mode; fnn reads binary .t7 files "
                          "(save with torch.save(path, obj) or torch.save(path, obj, 'binary'))", 0)
    with _deep_recursion():
        try:
            obj = reader.read()
        except RecursionError:
            raise reader.fail("objects nested too deeply") from None
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} bytes of trailing data after the object")
    return obj


def read_t7(path: str | os.PathLike[str]) -> Any:
    """Reads a Lua torch7 ``.t7`` file (``torch.save``, binary mode) as a tree of Python objects.

    Use it for anything that is not a model (tensors, tables, dataset files); for a saved
    ``nn`` model use :func:`fnn.load_t7`, which builds an fnn Module from this tree.

    Args:
      path: the file.

    Returns:
      The saved object: ``None``, ``float``, ``bool``, ``str``, numpy arrays (tensors and
      storages, in their own dtype), :class:`T7List`, :class:`T7Table`, :class:`T7Object`
      (a torch class with its fields) or :class:`T7Function` (bytecode, never run). Shared
      and self-referencing objects come back shared.

    Raises:
      T7Error: the file is missing, truncated, corrupt or not a binary torch7 file; the
        message names the byte offset.

    >>> import os, tempfile, fnn
    >>> path = os.path.join(tempfile.mkdtemp(), "x.t7")
    >>> with open(path, "wb") as f:  # torch.save(path, 123)
    ...     _ = f.write(bytes.fromhex("010000000000000000c05e40"))
    >>> fnn.read_t7(path)
    123.0
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise T7Error(f"cannot read the torch7 file {path}: {e.strerror or e}") from e
    return read_t7_bytes(data, path)
