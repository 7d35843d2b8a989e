"""The package's anatomy, checked: imports run one way, files and functions stay readable.

ARCHITECTURE.md draws the layers; these tests keep the drawing true:

    errors <- core <- {layers, criteria, io} <- train <- the facade (fnn/__init__.py)

The top-level tools (data, debug, protocol, summary, testing) sit beside train: they may
import core, layers, criteria and io, and nothing below them imports them. ``kernels``
imports nothing from fnn (layers call it). ``io`` may import ``layers`` (loading a torch7 model
builds it with the layer constructors); ``layers`` never imports ``io``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import fnn

PACKAGE = pathlib.Path(fnn.__file__).parent
FILES = sorted(PACKAGE.rglob("*.py"))

# What each part of the package may import from fnn (besides itself).
RANK = {
    "errors": 0, "_version": 0, "kernels": 0,
    "core": 1,
    "layers": 2, "criteria": 2, "io": 2,
    "data": 3, "debug": 3, "protocol": 3, "summary": 3, "testing": 3,
    "train": 4,
    "__init__": 5,
}
ALLOWED_SAME_RANK = {("layers", "kernels"), ("core", "errors"), ("io", "layers")}  # io builds torch7 models


def _part(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _fnn_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Top-level parts of fnn imported by a module: ``from fnn.core import x`` -> ``core``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mod = node.module.split(".")
            if mod[0] == "fnn":
                found += [(node.lineno, mod[1])] if len(mod) > 1 else [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                mod = alias.name.split(".")
                if mod[0] == "fnn":  # a bare `import fnn` imports the facade
                    found.append((node.lineno, mod[1] if len(mod) > 1 else "__init__"))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path):
    part = _part(path)
    bad = []
    for line, target in _fnn_imports(ast.parse(path.read_text())):
        if target not in RANK:
            bad.append(f"line {line}: imports fnn.{target}, which is not a part of the package")
        elif target == part:
            continue
        elif RANK[target] >= RANK[part] and (part, target) not in ALLOWED_SAME_RANK:
            bad.append(f"line {line}: {part} imports {target}")
    assert not bad, f"{path.relative_to(PACKAGE)} imports against the layering: {bad}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "kernels").glob("*.py")), ids=lambda p: p.name)
def test_kernels_import_nothing_from_fnn(path):
    assert not _fnn_imports(ast.parse(path.read_text()))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_stay_readable(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 600, f"{path.name} has {len(text.splitlines())} lines (at most 600)"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100
    ]
    assert not long, f"{path.name}: functions over 100 lines: {long}"
    assert "import *" not in text


def test_the_top_level_stays_small():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, f"fnn/ holds {len(top)} .py files (at most 12): {top}"


def test_the_facade_re_exports_explicitly():
    """Every public name of fnn comes from an explicit ``from fnn.x import Name as Name`` line."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fnn"):
            for alias in node.names:
                assert alias.name != "*"


@pytest.mark.parametrize("namespace", ["core", "layers", "criteria", "io", "train", "errors", "data", "kernels",
                                       "testing"])
def test_sub_namespaces_are_public_and_documented(namespace):
    module = getattr(fnn, namespace)
    assert module.__doc__ and len(module.__doc__.strip()) > 40


def test_facade_names_are_the_sub_namespaces_objects():
    assert fnn.Linear is fnn.layers.Linear
    assert fnn.MSECriterion is fnn.criteria.MSECriterion
    assert fnn.fit is fnn.train.fit and fnn.save is fnn.io.save
    assert fnn.ShapeError is fnn.errors.ShapeError and fnn.DataError is fnn.errors.DataError
    assert fnn.Module is fnn.core.Module


def test_moved_modules_still_answer_with_a_warning():
    with pytest.warns(DeprecationWarning, match="fnn.conv_kernels moved to fnn.kernels"):
        assert fnn.conv_kernels is fnn.kernels
    with pytest.raises(AttributeError):
        fnn.no_such_thing  # noqa: B018


def test_one_of_each_shared_helper():
    """One sentinel tuple, one Initializer type, one set of argument checks, one atomic writer."""
    def defined(name: str) -> list[str]:
        return [str(p.relative_to(PACKAGE)) for p in FILES
                for node in ast.parse(p.read_text()).body
                if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets))
                or (isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name)]

    assert defined("SENTINELS") == ["core/_shapes.py"] and defined("_SENTINELS") == []
    assert defined("Initializer") == ["core/_init.py"]
    assert defined("atomic_write") == ["io/_safetensors.py"]
    for gone in ("dims_text", "is_floating", "positive", "_positive", "_number"):
        assert defined(gone) == [], f"{gone} is defined again: {defined(gone)}"


def test_ruff_is_clean():
    """The whole repository is ruff-clean (ruff is in the test extra; CI runs this)."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    root = PACKAGE.parent
    result = subprocess.run([ruff, "check", "--no-cache", "fnn", "tests", "examples", "bench", "notebooks"],
                            cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
