"""Tests on 8 fake CPU devices, in their own process: ``tests/train/test_mesh.py`` runs them.

XLA reads ``--xla_force_host_platform_device_count`` once, when the first backend starts, so
these tests cannot share the main test process (one device there). They are collected only
when ``FNN_MESH_TESTS=1`` is set (the runner sets it, and the flag, before jax starts).
Run them by hand with::

    FNN_MESH_TESTS=1 XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m pytest -n 0 tests/mesh
"""

import os

import pytest

FLAG = "--xla_force_host_platform_device_count=8"

if os.environ.get("FNN_MESH_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]
elif FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip()


@pytest.fixture(scope="session")
def meshes():
    """``{"auto": mesh, "explicit": mesh}``: 8 devices on one axis ``"data"``."""
    import jax
    from jax.sharding import AxisType

    if jax.device_count() < 8:
        pytest.fail(f"the mesh tests need 8 devices, got {jax.device_count()}: XLA_FLAGS was set too late")
    return {t.name.lower(): jax.make_mesh((8,), ("data",), axis_types=(t,)) for t in (AxisType.Auto, AxisType.Explicit)}


@pytest.fixture(params=["auto", "explicit"])
def mesh(request, meshes):
    return meshes[request.param]
