"""fnn.read_t7: the genuine Lua torch7 files, the test writer, and bad files (always a T7Error with an offset)."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn.io import T7List, T7Object, T7Table, read_t7
from fnn.io._t7_read import read_t7_bytes
from tests.conftest import T7_PATH
from tests.io.t7_writer import dumps, module, write_t7

FIXTURES = ["custom_class.t7", "doubletensor.t7", "floattensor.t7", "gmodule_with_linear_identity.t7", "hello=123.t7",
            "list_table.t7", "map_table1.t7", "nngraph_node.t7", "recursive_class.t7", "recursive_kv_table.t7"]


def fixture_path(name: str) -> str:
    """The genuine file ``name``; skips when the data is absent, except in CI where it must be there."""
    path = os.path.join(T7_PATH, name)
    if not os.path.exists(path):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the torch7 files at {T7_PATH} (set FNN_T7)")
        pytest.skip(f"no torch7 files at {T7_PATH} (set FNN_T7)")
    return path


def raw(name: str) -> bytes:
    with open(fixture_path(name), "rb") as f:
        return f.read()


# --------------------------------------------------------------------------- genuine files


@pytest.mark.parametrize("name", FIXTURES)
def test_every_genuine_file_reads_and_writes_back_byte_for_byte(name):
    obj = read_t7(fixture_path(name))
    assert dumps(obj) == raw(name)


def test_the_genuine_values():
    assert read_t7(fixture_path("hello=123.t7")) == {"hello": 123}
    assert read_t7(fixture_path("hello=123.t7"))[b"hello"] == 123  # bytes keys work too
    assert read_t7(fixture_path("list_table.t7")) == ["hello", "world", "third item", 123]
    assert isinstance(read_t7(fixture_path("list_table.t7")), T7List)
    assert read_t7(fixture_path("map_table1.t7")) == {0: "zero", 1: "hello", 2: "world", 3: "third item", 4: 123}
    d = read_t7(fixture_path("doubletensor.t7"))
    assert d.dtype == np.float64 and np.array_equal(d, [[1, 2, 3], [4, 5, 6.9]])
    f = read_t7(fixture_path("floattensor.t7"))
    assert f.dtype == np.float32 and f.ndim == 3 and f.flags.writeable
    blah = read_t7(fixture_path("custom_class.t7"))
    assert isinstance(blah, T7Object) and blah.typename == "Blah" and blah.torch_typename() == "Blah"
    node = read_t7(fixture_path("nngraph_node.t7"))
    assert node.typename == "nngraph.Node" and {"children", "data", "id"} <= set(node.keys())


def test_self_referencing_objects_come_back_shared():
    obj = read_t7(fixture_path("recursive_class.t7"))
    assert obj.a is obj and obj["a"] is obj
    table = read_t7(fixture_path("recursive_kv_table.t7"))
    (key,) = table.keys()
    assert key is table and table[key] is table


def test_the_gmodule_file_holds_its_graph_and_weights():
    g = read_t7(fixture_path("gmodule_with_linear_identity.t7"))
    assert g.typename == "nn.gModule" and g.nInputs == 2
    kinds = [m.typename for m in g.modules]
    assert kinds == ["nn.Identity", "nn.Identity", "nn.Linear", "nn.CAddTable"]
    lin = g.modules[2]
    assert lin.weight.shape == (2, 1) and lin.bias.shape == (2,) and lin.weight.dtype == np.float64
    # The Linear node's data is shared between the forward nodes and the module list.
    node = next(n for n in g.forwardnodes if n.data.get("module") is lin)
    assert node.data.module is lin


def _normalise(x, seen=None):
    """torchfile's and fnn's trees in one comparable form (bytes -> str, numbers -> float)."""
    seen = set() if seen is None else seen
    if id(x) in seen:
        return "<cycle>"
    if isinstance(x, np.ndarray):
        return ("array", str(x.dtype), x.shape, x.tolist())
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        return float(x)
    seen = seen | {id(x)}
    if isinstance(x, list):
        return [_normalise(v, seen) for v in x]
    if isinstance(x, dict):
        return sorted(((repr(_normalise(k, seen)), _normalise(v, seen)) for k, v in x.items()), key=lambda kv: kv[0])
    name = getattr(x, "typename", None) or getattr(x, "_typename", None)
    fields = x.fields if isinstance(x, T7Object) else getattr(x, "_obj", None)
    return ("object", _normalise(name, seen), _normalise(fields, seen))


@pytest.mark.parametrize("name", [n for n in FIXTURES if not n.startswith(("recursive", "gmodule"))])
def test_same_tree_as_torchfile(name):
    """Optional: compared with torchfile (PyPI 0.1.0) where it is installed; fnn never needs it."""
    torchfile = pytest.importorskip("torchfile")
    theirs = torchfile.load(fixture_path(name))
    assert _normalise(read_t7(fixture_path(name))) == _normalise(theirs)


def test_same_gmodule_weights_as_torchfile():
    """The gModule's node graph is a DAG too wide to compare whole; its modules and weights suffice."""
    torchfile = pytest.importorskip("torchfile")
    theirs = torchfile.load(fixture_path("gmodule_with_linear_identity.t7"))
    ours = read_t7(fixture_path("gmodule_with_linear_identity.t7"))
    assert [m._typename.decode() for m in theirs[b"modules"]] == [m.typename for m in ours.modules]
    for name in ("weight", "bias"):
        assert np.array_equal(theirs[b"modules"][2][name.encode()], ours.modules[2][name])


# --------------------------------------------------------------------------- the writer and sharing


def test_writer_round_trips_shared_objects_cycles_and_dtypes(tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    lin = module("nn.Linear", weight=w, bias=np.zeros(2, np.float32))
    loop = T7Table(name="loop")
    loop["self"] = loop
    tree = T7Table(a=lin, b=lin, loop=loop, flags=[True, False, None], ints=np.arange(4, dtype=np.int64),
                   bytes_=np.array([0, 255], np.uint8), half=np.ones(2, np.float16), empty=np.zeros(0, np.float32))
    path = tmp_path / "tree.t7"
    write_t7(path, tree)
    back = read_t7(path)
    assert back["a"] is back["b"] and np.array_equal(back["a"].weight, w)
    assert back["loop"]["self"] is back["loop"]
    assert back["flags"] == [True, False]  # a nil entry is not stored (Lua tables hold no nil)
    assert back["ints"].dtype == np.int64 and back["bytes_"].dtype == np.uint8 and back["half"].dtype == np.float16
    assert back["empty"].shape == (0,)


def _int(v):
    return struct.pack("<i", v)


def _long(*vs):
    return struct.pack(f"<{len(vs)}q", *vs)


def _string(s: bytes):
    return _int(len(s)) + s


def _tensor(index, sizes, strides, offset, storage: bytes):
    head = _int(4) + _int(index) + _string(b"V 1") + _string(b"torch.FloatTensor")
    return head + _int(len(sizes)) + _long(*sizes) + _long(*strides) + _long(offset) + storage


def _storage(index, values):
    data = np.asarray(values, np.float32).tobytes()
    return _int(4) + _int(index) + _string(b"V 1") + _string(b"torch.FloatStorage") + _long(len(values)) + data


def test_strided_views_of_one_shared_storage():
    values = np.arange(10, dtype=np.float32)
    # {a = storage[1..4] as 2x2, b = every other element from offset 2, transposed c}
    body = (_int(3) + _int(1) + _int(3)
            + _int(2) + _string(b"a") + _tensor(2, [2, 2], [2, 1], 1, _storage(3, values))
            + _int(2) + _string(b"b") + _tensor(4, [4], [2], 2, _int(4) + _int(3))
            + _int(2) + _string(b"c") + _tensor(5, [2, 2], [1, 2], 1, _int(4) + _int(3)))
    out = read_t7_bytes(body)
    assert np.array_equal(out["a"], [[0, 1], [2, 3]])
    assert np.array_equal(out["b"], [1, 3, 5, 7])
    assert np.array_equal(out["c"], [[0, 2], [1, 3]])


def test_functions_are_kept_as_bytecode_never_run():
    code = b"\x1bLuaQ-not-really-bytecode"
    fn = read_t7_bytes(_int(6) + _string(code) + _int(3) + _int(1) + _int(0))
    assert isinstance(fn, fnn.io.T7Function) and fn.bytecode == code and fn.upvalues == {}


def test_old_files_without_class_versions():
    body = _int(4) + _int(1) + _string(b"nn.Identity") + _int(3) + _int(2) + _int(0)
    obj = read_t7_bytes(body)
    assert obj.typename == "nn.Identity" and obj.version == 0


# --------------------------------------------------------------------------- bad files


def _expect_t7_error(data: bytes, match: str = "byte"):
    with pytest.raises(fnn.T7Error, match=match):
        read_t7_bytes(data)


@pytest.mark.parametrize("name", ["list_table.t7", "floattensor.t7", "recursive_class.t7", "nngraph_node.t7"])
def test_truncated_at_every_offset(name):
    data = raw(name)
    for n in range(len(data)):
        with pytest.raises(fnn.T7Error, match=r"at byte \d+"):
            read_t7_bytes(data[:n])


def test_wrong_magic_names_byte_zero(tmp_path):
    for junk in (b"PK\x03\x04" + bytes(30), b"\x89PNG\r\n\x1a\n" + bytes(8), b"\x80\x02}q\x00."):
        _expect_t7_error(junk, r"unknown type tag .* at byte 0")
    path = tmp_path / "model.t7"
    path.write_bytes(b"4\n1\n3\nV 1\n")
    with pytest.raises(fnn.T7Error, match="ascii"):
        read_t7(path)
    with pytest.raises(fnn.T7Error, match="cannot read"):
        read_t7(tmp_path / "missing.t7")
    assert issubclass(fnn.T7Error, fnn.FnnError)


def test_unknown_tag_in_the_middle():
    data = bytearray(raw("list_table.t7"))
    data[12:16] = _int(42)  # the first key's tag
    _expect_t7_error(bytes(data), "unknown type tag 42 at byte 12")


def test_tensor_whose_storage_is_too_short():
    _expect_t7_error(_tensor(1, [3, 4], [4, 1], 1, _storage(2, np.zeros(11))), "storage too short.* at byte 0")
    _expect_t7_error(_tensor(1, [2], [1], 10, _storage(2, np.zeros(4))), "storage too short")
    # a storage whose declared size runs past the end of the file
    data = _storage(1, np.zeros(3))
    at = len(data) - 3 * 4 - 8  # the element count, just before the elements
    _expect_t7_error(data[:at] + _long(10 ** 6) + data[at + 8:], "storage too short")


def test_corrupt_fields():
    _expect_t7_error(_int(2) + _int(-5), "negative length")
    _expect_t7_error(_int(3) + _int(1) + _int(-1), "negative table size")
    _expect_t7_error(_tensor(1, [2], [-1], 1, _storage(2, np.zeros(4))), "negative")
    _expect_t7_error(_int(4) + _int(1) + _string(b"V 1") + _string(b"torch.FloatTensor") + _int(99), "bad rank")
    _expect_t7_error(_tensor(1, [2], [1], 1, _int(0)), "without a storage")
    _expect_t7_error(_int(1) + bytes(8) + b"xx", "trailing")
    _expect_t7_error(_int(4) + _int(1) + _string(b"V x") + _string(b"A"), "bad class version")
    # a table used as its own key is fine; a tensor as a key cannot be hashed in Python
    _expect_t7_error(_int(3) + _int(1) + _int(1) + _tensor(2, [1], [1], 1, _storage(3, [0])) + _int(0), "hash")


def test_deep_nesting_is_an_error_not_a_crash():
    # {[1] = {[1] = {... 30000 tables deep ...}}}
    deep = b"".join(_int(3) + _int(i + 1) + _int(1) + _int(1) + struct.pack("<d", 1) for i in range(30000)) + _int(0)
    _expect_t7_error(deep, "nested")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_corruption_gives_t7error_or_a_value(data):
    base = bytearray(_FUZZ_BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    try:
        read_t7_bytes(bytes(base))
    except fnn.T7Error as e:
        assert "at byte" in str(e)


_FUZZ_BASE = dumps(T7Table(m=module("nn.Linear", weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32)),
                           xs=[1.0, "two", True]))
