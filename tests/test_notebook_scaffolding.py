"""Scaffolding is one click away, not in the reader's path.

The chapters check every claim (``assert``) and hand every number in the
prose over with ``glue``. Readers of the site should see the teaching code
and its output; the checks sit in their own cells whose input is hidden
behind a "show code" toggle (the ``hide-input`` tag), so that anyone can open
them. A teaching cell therefore holds no top-level ``assert`` or ``glue``
statement, and a cell that does is tagged ``hide-input``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
HIDING_TAGS = {"hide-input", "remove-input", "hide-cell", "remove-cell"}


def is_scaffolding(stmt: ast.stmt) -> bool:
    """An assert, a glue(...) call, or a loop made only of those."""
    if isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        return isinstance(func, ast.Name) and func.id == "glue"
    if isinstance(stmt, ast.For) and not stmt.orelse:
        return all(is_scaffolding(s) for s in stmt.body)
    return False


def scaffolding_lines(source: str) -> list[int]:
    if source.lstrip().startswith("%"):
        return []
    return [s.lineno for s in ast.parse(source).body if is_scaffolding(s)]


def test_the_rule_tells_scaffolding_from_teaching_code():
    src = ("h, cache = rnn_forward(x, h0, **params)\n"
           "assert h.shape == (2, 3, 4)\n"
           "glue('err', err, display=False)\n"
           "for k, v in values.items():\n    glue(k, v, display=False)\n"
           "for t in range(3):\n    print(t)\n")
    assert scaffolding_lines(src) == [2, 3, 4]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_checks_and_glue_are_behind_a_toggle(path):
    nb = nbformat.read(path, as_version=4)
    exposed = []
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or HIDING_TAGS & set(cell.metadata.get("tags", [])):
            continue
        lines = scaffolding_lines(cell.source)
        if lines:
            exposed.append(f"cell {k} line {lines[0]}: {cell.source.splitlines()[lines[0] - 1]}")
    assert not exposed, (
        f"{path.name}: asserts or glue calls in cells readers see; move them to a cell "
        "tagged hide-input:\n" + "\n".join(exposed))
