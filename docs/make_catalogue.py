"""Generates ``docs/catalogue.md``: every torch7 ``nn`` class and what fnn has for it.

Run from the repository root after adding a layer or criterion (or a test of one)::

    python docs/make_catalogue.py

The table is computed, not written by hand: the torch7 class names come from
``docs/torch7_names.txt``; what fnn has comes from the code (``fnn.LAYER_NAMES``,
``fnn.CRITERION_NAMES`` and the other public names of ``fnn``); the tests that cover a name
are found in ``tests/`` (its conformance case, and the test files that call ``fnn.<Name>``).
The only hand-written data here are the two small tables below: the torch7 classes that
fnn provides under another name, and those that cannot be pure layers, each with the fnn
way to get the same thing. ``tests/test_catalogue.py`` fails when ``docs/catalogue.md``
differs from what this script writes.
"""

from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES_FILE = ROOT / "docs" / "torch7_names.txt"
OUTPUT = ROOT / "docs" / "catalogue.md"

# torch7 classes that fnn provides under another name: torch7 name -> (fnn name, why).
ALIASES: dict[str, tuple[str, str]] = {
    "Contiguous": ("Identity", "JAX arrays have no strides, so making one contiguous is the identity"),
}

# torch7 classes that cannot be pure layers: torch7 name -> (why, the fnn way, name whose tests cover it).
NOT_PURE: dict[str, tuple[str, str, str]] = {
    "Module": ("abstract base class", "`fnn.Module` (an `(init, apply)` pair); write leaves with `fnn.leaf`",
               "leaf"),
    "Criterion": ("abstract base class", "`fnn.Criterion`, a pure `criterion(input, target)`", "Criterion"),
    "Container": ("abstract base class", "containers are Modules with children (`fnn.Sequential`, ...)",
                  "Sequential"),
    "Decorator": ("abstract base class that forwards every call", "call the wrapped Module itself", ""),
    "DontCast": ("type plumbing: keeps a module's tensor type under `:type()`",
                 "dtypes follow the params and input; cast with `x.astype(...)` / `jax.tree.map`", ""),
    "Copy": ("type plumbing: copies between tensor types",
             "`x.astype(dtype)` (arrays are immutable, so no copy is needed)", ""),
    "Convert": ("type and layout plumbing between layout strings such as 'bchw' -> 'bf'",
                "`fnn.Transpose` / `fnn.View` / `fnn.Collapse` for the layout, `x.astype` for the type",
                "Transpose"),
    "GPU": ("device placement", "`jax.device_put` / `jax.sharding` on params and inputs (jit follows the data)", ""),
    "Profile": ("times forward and backward by side effect",
                "`jax.profiler` traces, or time a jitted `apply` with `block_until_ready()`", ""),
    "PrintSize": ("prints sizes by side effect", "`jax.debug.print` in a layer, or `fnn.summary(model, shape)`",
                  "summary"),
    "NaN": ("raises on NaN by side effect", "`fnn.debug.find_nonfinite` / `fnn.check_finite`, or "
            "`jax.config.update('jax_debug_nans', True)`", "find_nonfinite"),
    "ZeroGrad": ("an identity whose only effect is on the backward pass (a zero gradInput)",
                 "`jax.lax.stop_gradient(x)` where the gradient must stop (in a layer or in the loss)", ""),
    "Jacobian": ("a testing helper, not a layer", "`fnn.testing.check_gradients` / `fnn.testing.jacobian_error`",
                 "check_gradients"),
    "SparseJacobian": ("a testing helper for sparse inputs, not a layer", "`fnn.testing.check_gradients`",
                       "check_gradients"),
}


def torch7_names() -> list[tuple[str, str]]:
    """``(name, family)`` for every torch7 class, in the catalogue's order."""
    rows = []
    for line in NAMES_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, family = line.split()
            rows.append((name, family.replace("_", " ")))
    return rows


def _test_files() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted((ROOT / "tests").rglob("*.py"))}


def covering_tests(name: str, files: dict[str, str]) -> list[str]:
    """The conformance file with a case for ``name``, then up to two test files that call it."""
    if not name:
        return []
    case = re.compile(rf"\b(?:Criterion)?Case\(\s*\"{re.escape(name)}\"")
    use = re.compile(rf"\bfnn\.(?:testing\.|debug\.)?{re.escape(name)}\b")
    conformance = [f for f, text in files.items() if "/conformance/" in f and case.search(text)]
    others = [f for f, text in files.items() if "/conformance/" not in f and use.search(text)]
    return conformance[:1] + others[:2]


def _fmt_tests(tests: list[str]) -> str:
    return "<br>".join(f"`{t}`" for t in tests) or "—"


def _family_file(obj: object) -> str:
    mod = getattr(obj, "__module__", "") or ""
    return mod.replace(".", "/") + ".py" if mod.startswith("fnn.") else ""


def render() -> str:
    """The text of ``docs/catalogue.md``."""
    sys.path.insert(0, str(ROOT))
    import fnn

    layers, criteria = set(fnn.LAYER_NAMES), set(fnn.CRITERION_NAMES)
    files = _test_files()
    rows, counts = [], {"implemented": 0, "alias": 0, "not a pure layer": 0, "missing": 0}
    torch7 = torch7_names()
    for name, family in torch7:
        if name in NOT_PURE:
            status, fnn_name, tests = "not a pure layer", "—", covering_tests(NOT_PURE[name][2], files)
        elif name in ALIASES:
            status, fnn_name = "alias", f"`fnn.{ALIASES[name][0]}`"
            tests = covering_tests(ALIASES[name][0], files)
        elif name in layers or name in criteria or hasattr(fnn, name):
            status, fnn_name, tests = "implemented", f"`fnn.{name}`", covering_tests(name, files)
        else:
            status, fnn_name, tests = "missing", "—", []
        counts[status] += 1
        rows.append(f"| `{name}` | {family} | {fnn_name} | {status} | {_fmt_tests(tests)} |")
    lines = [
        "# torch7 `nn` catalogue: what fnn has for every class",
        "",
        "Generated by `python docs/make_catalogue.py` from the code and `docs/torch7_names.txt`; do not edit",
        "by hand (`tests/test_catalogue.py` fails when this file is stale: run the command again).",
        "",
        f"{len(torch7)} torch7 classes: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".",
        "Status: *implemented* — `fnn.<Name>` exists with torch7's semantics (dims and indices 0-based);",
        "*alias* — provided under another fnn name; *not a pure layer* — see the second table;",
        "*missing* — not in fnn yet. Tests: the conformance case (shape, jit, vmap, float64 gradients),",
        "then the test files that call it (PyTorch parity or a numpy transcription of torch7).",
        "",
        "| torch7 | family | fnn | status | tests |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## torch7 classes that cannot be pure layers",
        "",
        "| torch7 | why not a pure layer | the fnn way |",
        "|---|---|---|",
        *(f"| `{n}` | {why} | {way} |" for n, (why, way, _) in NOT_PURE.items()),
        "",
        "## Provided under another name",
        "",
        "| torch7 | fnn | why |",
        "|---|---|---|",
        *(f"| `{n}` | `fnn.{f}` | {why} |" for n, (f, why) in ALIASES.items()),
        "",
        "## fnn names that are not torch7 class names",
        "",
        "PyTorch aliases (PyTorch's names and argument conventions) and layers torch7 did not have.",
        "",
        "| fnn | kind | defined in |",
        "|---|---|---|",
    ]
    names = {n for n, _ in torch7}
    for n in sorted((layers | criteria) - names):
        kind = "layer" if n in layers else "criterion"
        lines.append(f"| `fnn.{n}` | {kind} | `{_family_file(getattr(fnn, n))}` |")
    return "\n".join(lines) + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
