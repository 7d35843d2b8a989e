"""An XLA FFI handler written in Python: the call frame read through ``ctypes``, errors reported to XLA.

XLA calls a custom-call target with one ``XLA_FFI_CallFrame*`` (``xla/ffi/api/c_api.h``, whose
structs grow only at their ends, so reading their first fields stays valid). :func:`register`
wraps a Python function ``fn(key, inputs, outputs)`` -- ``key`` the call's ``"key"`` string
attribute, ``inputs`` and ``outputs`` the buffers' addresses -- in a C function pointer and
registers it as a CPU target: no compiled code, and no per-process state in the compiled program
(the key names the work), so a program from the persistent compilation cache still runs.
:func:`cpu_lowering` builds a primitive's CPU lowering on such a target, with the fallback to XLA's
own ops that ``jax.export`` needs.

The handler runs on an XLA thread and takes the GIL for its Python part (microseconds); the
work it calls should release the GIL (``ctypes.CDLL`` functions do). An exception becomes an
XLA error with its message, raised by JAX when the result is read.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
from collections.abc import Callable, Sequence
from ctypes import POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint32, c_void_p
from typing import Any

import jax
import jaxlib


class _ExtensionBase(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("type", c_int), ("next", c_void_p)]


class _ApiVersion(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("major", c_int), ("minor", c_int)]


class _Metadata(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("api_version", _ApiVersion), ("traits", c_uint32)]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("base", _ExtensionBase), ("metadata", POINTER(_Metadata))]


class _ErrorCreateArgs(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("message", c_char_p), ("errc", c_int)]


_ErrorCreate = ctypes.CFUNCTYPE(c_void_p, POINTER(_ErrorCreateArgs))


class _Api(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("api_version", _ApiVersion),
                ("internal_api", c_void_p), ("error_create", _ErrorCreate)]  # fmt: skip


class _List(ctypes.Structure):  # XLA_FFI_Args and XLA_FFI_Rets
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("size", c_int64),
                ("types", POINTER(c_int)), ("items", POINTER(c_void_p))]  # fmt: skip


class _Attrs(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("size", c_int64),
                ("types", POINTER(c_int)), ("names", POINTER(c_void_p)), ("items", POINTER(c_void_p))]  # fmt: skip


class _CallFrame(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("api", POINTER(_Api)),
                ("ctx", c_void_p), ("stage", c_int), ("args", _List), ("rets", _List), ("attrs", _Attrs)]  # fmt: skip


class _Buffer(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("extension_start", c_void_p), ("dtype", c_int), ("data", c_void_p)]


class _ByteSpan(ctypes.Structure):
    _fields_ = [("ptr", c_void_p), ("len", c_size_t)]


_METADATA_EXTENSION = 1  # XLA_FFI_Extension_Metadata
_STRING_ATTR = 4  # XLA_FFI_AttrType_STRING
_INTERNAL = 13  # XLA_FFI_Error_Code_INTERNAL
_Handler = ctypes.CFUNCTYPE(c_void_p, c_void_p)
_KEEP: list = []  # the C function pointers must outlive every program that calls them


@functools.cache
def _api_version() -> tuple[int, int]:
    """The FFI version of the installed jaxlib, from the C header it ships (jaxlib 0.8: 0.1, 0.10: 0.3).

    XLA asks a handler for its version when it is registered, and refuses one it does not support;
    the handler speaks whatever the installed XLA does, since the fields it reads are in every version.
    """
    header = os.path.join(os.path.dirname(jaxlib.__file__), "include", "xla", "ffi", "api", "c_api.h")
    try:
        with open(header) as f:
            text = f.read()
    except OSError:
        return 0, 1  # the first version, which every XLA with typed FFI supports
    major, minor = (re.search(rf"#define XLA_FFI_API_{part} (\d+)", text) for part in ("MAJOR", "MINOR"))
    return (int(major.group(1)), int(minor.group(1))) if major and minor else (0, 1)


def _error(frame: _CallFrame, message: str) -> int | None:
    args = _ErrorCreateArgs(ctypes.sizeof(_ErrorCreateArgs), None, message.encode(), _INTERNAL)
    return frame.api.contents.error_create(ctypes.byref(args))


def _key(frame: _CallFrame) -> bytes:
    attrs = frame.attrs
    if attrs.size != 1 or attrs.types[0] != _STRING_ATTR:
        raise ValueError("expected one string attribute, 'key'")
    span = _ByteSpan.from_address(attrs.items[0])
    return ctypes.string_at(span.ptr, span.len)


def _addresses(items: _List) -> list[int]:
    return [_Buffer.from_address(items.items[i]).data for i in range(items.size)]


def register(name: str, fn: Callable[[bytes, Sequence[int], Sequence[int]], None]) -> None:
    """Registers ``fn(key, input_addresses, output_addresses)`` as the XLA:CPU FFI target ``name``.

    Call it with ``jax.ffi.ffi_call(name, ...)(*arrays, key=<str>)`` (or lower with
    ``jax.ffi.ffi_lowering(name)``): the key must say everything the call needs, it is the only
    attribute passed.
    """

    def handler(address: int) -> int | None:
        frame = _CallFrame.from_address(address)
        if frame.extension_start:  # XLA asks which FFI version the handler speaks: its own
            extension = _ExtensionBase.from_address(frame.extension_start)
            if extension.type == _METADATA_EXTENSION:
                metadata = _MetadataExtension.from_address(frame.extension_start).metadata.contents
                metadata.api_version = _ApiVersion(ctypes.sizeof(_ApiVersion), None, *_api_version())
                metadata.traits = 0
                return None
        try:
            fn(_key(frame), _addresses(frame.args), _addresses(frame.rets))
        except Exception as e:  # noqa: BLE001 - every failure goes back to XLA as an error
            return _error(frame, f"{name}: {type(e).__name__}: {e}")
        return None

    pointer = _Handler(handler)
    _KEEP.append(pointer)
    capsule_new = ctypes.pythonapi.PyCapsule_New
    capsule_new.restype, capsule_new.argtypes = ctypes.py_object, (c_void_p, c_char_p, c_void_p)
    capsule = capsule_new(ctypes.cast(pointer, c_void_p).value, b"xla._CUSTOM_CALL_TARGET", None)
    jax.ffi.register_ffi_target(name, capsule, platform="cpu")


@functools.cache
def _register_once(name: str, fn: Callable[[bytes, Sequence[int], Sequence[int]], None]) -> None:
    register(name, fn)  # a target registers once per process, however many primitives lower to it


def cpu_lowering(name: str, fn: Callable[[bytes, Sequence[int], Sequence[int]], None], reference: Callable,
                 layouts: Callable[..., tuple[list, list]], key: Callable[..., str]) -> Callable:
    """A primitive's CPU lowering rule ``rule(ctx, *args, **params)``: an FFI call of the target ``name``.

    The target (``fn``, see :func:`register`) is registered on the first lowering to it.
    ``layouts(ctx, **params)`` gives the operands' and results' XLA layouts, and
    ``key(ctx, **params)`` gives the call's key. A program lowered for ``jax.export`` gets
    ``reference(ctx, *args, **params)`` instead, the lowering with XLA's own ops, because a
    serialized program must not need a target that only this process registered.
    """

    def rule(ctx: Any, *args: Any, **params: Any) -> Any:
        if ctx.module_context.lowering_parameters.for_export:
            return reference(ctx, *args, **params)
        _register_once(name, fn)
        operand_layouts, result_layouts = layouts(ctx, **params)
        lowering = jax.ffi.ffi_lowering(name, operand_layouts=operand_layouts, result_layouts=result_layouts)
        return lowering(ctx, *args, key=key(ctx, **params))

    return rule
