"""Every committed notebook is valid, stored without outputs, and well formed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for folder in ("book", "exercises", "solutions") for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_valid_and_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs; store notebooks stripped"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_starts_with_rnnbook_import_and_seeded_rng(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    first = code[0]
    assert "rnnbook" in first, f"{path.name}: the first code cell must import from rnnbook"
    assert "default_rng(" in first, f"{path.name}: the first code cell must seed numpy's default_rng"
    assert "sys.path" not in "".join(code), f"{path.name} must not touch sys.path"
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernelspec should be python3, got {kernel!r}"
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("# ")]
    assert len(headings) == 1, f"{path.name}: needs exactly one '# ' title, found {len(headings)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_every_named_figure_has_a_caption_and_alt_text(path):
    # MyST-NB reads both from the cell's mystnb metadata; alt text put anywhere
    # else is silently ignored and the image reaches the site without it.
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        mystnb = cell.metadata.get("mystnb", {})
        if "figure" not in mystnb:
            assert "image" not in cell.metadata, f"{path.name} cell {i}: image outside mystnb"
            continue
        figure = mystnb["figure"]
        assert figure.get("name", "").startswith("fig-"), f"{path.name} cell {i}: figure name"
        assert len(figure.get("caption", "")) > 40, f"{path.name} cell {i}: caption too short"
        alt = mystnb.get("image", {}).get("alt", "")
        assert len(alt) > 40, f"{path.name} cell {i}: figure without alt text"



# The site shows 88 characters of code without scrolling sideways; a longer
# line either scrolls or wraps in the middle of an expression.
MAX_CODE_LINE = 88


def long_code_lines(nb, name: str) -> list[str]:
    """Every code line of the notebook longer than MAX_CODE_LINE, as a message."""
    return [
        f"{name} cell {i} line {j + 1} ({len(line)} characters): {line.strip()[:60]}"
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for j, line in enumerate(cell.source.splitlines()) if len(line) > MAX_CODE_LINE
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_code_lines_fit_the_column(path):
    nb = nbformat.read(path, as_version=4)
    found = long_code_lines(nb, str(path.relative_to(ROOT)))
    assert not found, f"code lines longer than {MAX_CODE_LINE} characters:\n" + "\n".join(found)


def test_long_code_line_check_can_fail():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("m" * 200),
                nbformat.v4.new_code_cell("x = 1\n" + "y = " + "1 + " * 20 + "1"),
                nbformat.v4.new_code_cell("z = " + "2 * " * 21 + "2")]
    assert long_code_lines(nb, "nb") == [
        "nb cell 2 line 1 (89 characters): z = " + "2 * " * 14]
    assert long_code_lines(nb, "nb") != [] and "cell 1" not in long_code_lines(nb, "nb")[0]


# A numbered display: `$$ ... $$ (label)` or a {math} directive with :label:.
_EQ_LABEL = re.compile(r"^\$\$[ \t]*\((?P<a>[\w-]+)\)[ \t]*$|^:label:[ \t]*(?P<b>[\w-]+)", re.M)
_EQ_REF = re.compile(r"\{eq\}`(?:[^`<]*<)?([\w-]+)>?`")


def equation_labels(nb) -> list[str]:
    """The labels of the numbered display equations in the notebook's prose."""
    return [m["a"] or m["b"] for c in nb.cells if c.cell_type == "markdown"
            for m in _EQ_LABEL.finditer(c.source)]


def equation_refs(nb) -> set[str]:
    return {m for c in nb.cells if c.cell_type == "markdown" for m in _EQ_REF.findall(c.source)}


def test_key_equations_are_numbered_and_referenced():
    # Chapter 1 numbers the RNN update; from chapter 2 on, every chapter
    # numbers its defining equations and its prose refers to them by number.
    seen: dict[str, str] = {}
    refs: set[str] = set()
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        labels = equation_labels(nb)
        for label in labels:
            assert label not in seen, f"equation label {label!r} in {path.name} and {seen[label]}"
            seen[label] = path.name
        own_refs = equation_refs(nb)
        refs |= own_refs
        if path.name >= "02":
            assert labels, f"{path.name} numbers none of its equations"
            assert own_refs & set(labels), f"{path.name} never refers to its own equations"
    missing = refs - set(seen)
    assert not missing, f"{{eq}} references to labels no chapter defines: {sorted(missing)}"


def test_equation_label_check_reads_both_forms():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "$$\nx = 1\n$$ (eq-a)\n\n```{math}\n:label: eq-b\ny = 2\n```\n\n$$\nz\n$$\n"
        "See {eq}`eq-a` and {eq}`the second <eq-b>`.")]
    assert equation_labels(nb) == ["eq-a", "eq-b"]
    assert equation_refs(nb) == {"eq-a", "eq-b"}
