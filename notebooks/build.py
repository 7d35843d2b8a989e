"""Builds each notebook ``NN_name.ipynb`` from its jupytext "percent" source ``src/NN_name.py``, executed.

``python notebooks/build.py [PREFIX ...]`` builds every notebook, or those whose names start with a PREFIX
(``03``): it runs the cells top to bottom in a fresh ``python3`` kernel (nbclient, in this folder), scrubs machine
paths from the outputs and writes the .ipynb; ``--check`` only compares the committed cells with the sources.
Notebook 03 reads ``$FNN_MNIST`` or ``../../shared/data/mnist.npz`` (from here), else scikit-learn's digits.
"""

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = [p.stem + ".ipynb" for p in sorted((HERE / "src").glob("*.py"))]
TIMEOUT = 900  # seconds for a whole notebook
FORBIDDEN = ("/work/", "/root/", "/home/", "/Users/", "site-packages")
_RELATIVE = {str(HERE.parent): ".", str(HERE): ".", sys.prefix: "<python>", sys.base_prefix: "<python>",
             os.path.expanduser("~"): "~"}  # what scrub makes of machine paths


def notebook(name: str) -> nbformat.NotebookNode:
    """The unexecuted notebook ``name`` (e.g. ``01_nn_intro.ipynb``), read from ``src/01_nn_intro.py``."""
    nb = jupytext.read(HERE / "src" / (Path(name).stem + ".py"), fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        cell.id, cell.metadata = f"{name[:2]}-{i:02d}", {}  # stable ids: a rebuild changes only what changed
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    return nb


def execute(nb: nbformat.NotebookNode, *, timeout: float = TIMEOUT, cwd: Path = HERE) -> nbformat.NotebookNode:
    """Runs ``nb`` in a fresh kernel of its kernelspec; raises on an error or when ``timeout`` (all cells) runs out."""
    deadline = time.monotonic() + timeout
    return NotebookClient(nb, timeout=int(timeout), startup_timeout=300, record_timing=False,
                          timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                          resources={"metadata": {"path": str(cwd)}}).execute()


def _texts(nb: nbformat.NotebookNode) -> list[tuple[dict | list, str | int]]:
    """Where the outputs hold text, as ``(container, key)``: streams, errors, tracebacks, text mime types."""
    outs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    return ([(out, key) for out in outs for key in ("text", "evalue") if key in out]
            + [(out.data, key) for out in outs for key in out.get("data", {}) if key.startswith("text/")]
            + [(out.traceback, i) for out in outs for i in range(len(out.get("traceback", [])))])


def scrub(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Replaces machine paths in every text output with relative ones (longest first)."""
    for where, key in _texts(nb):
        for old in sorted((p for p in _RELATIVE if len(p) > 1), key=len, reverse=True):
            where[key] = where[key].replace(old, _RELATIVE[old])
    return nb


def machine_paths(nb: nbformat.NotebookNode) -> list[str]:
    """The forbidden path fragments that occur in ``nb``'s text outputs."""
    text = "\n".join(where[key] for where, key in _texts(nb))
    return [f for f in FORBIDDEN if f in text]


def source_mismatches(name: str) -> list[int]:
    """Indices of the committed notebook's cells whose type or source differs from ``src/`` (or only one has)."""
    cells = [[(c.cell_type, c.source) for c in nb.cells] for nb in (nbformat.read(HERE / name, 4), notebook(name))]
    return [i for i, (committed, wanted) in enumerate(itertools.zip_longest(*cells)) if committed != wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="build only the notebooks whose names start so (default: all)")
    parser.add_argument("--check", action="store_true", help="only compare the committed cells with src/")
    args = parser.parse_args(argv)
    names = [n for n in NOTEBOOKS if n.startswith(tuple(args.prefixes or [""]))] or parser.error(
        f"no notebook starts with {' or '.join(args.prefixes)}; known: {', '.join(NOTEBOOKS)}")
    if args.check:
        stale = {n: source_mismatches(n) for n in names}
        print("\n".join(f"{n}: {f'cells {c} differ: rebuild it' if c else 'up to date'}" for n, c in stale.items()))
        return int(any(stale.values()))
    # The kernel inherits this environment: fnn importable without installing it, inline figures.
    os.environ.update(MPLBACKEND="module://matplotlib_inline.backend_inline",
                      PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
    for name in names:
        start, nb = time.monotonic(), scrub(execute(notebook(name)))
        if machine_paths(nb):
            raise RuntimeError(f"{name}: outputs contain machine paths {machine_paths(nb)}; print relative paths")
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"{name}: {time.monotonic() - start:.0f} s, {(HERE / name).stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
