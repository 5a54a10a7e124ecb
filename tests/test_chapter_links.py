"""Chapters and the library point at each other.

Every public function's docstring names the chapter that teaches it
(tests/test_layout.py); in the other direction, when a chapter's prose names
a library function or class, it links it to the API page with a ``{func}`` or
``{class}`` role instead of plain backticks. A role whose target does not
exist fails the site build (nitpicky mode), so this test only has to find the
names that are not linked at all.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest

import rnnbook

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

# A name in single backticks that is not the target of a role ({func}`...`)
# and not part of a ``double-backtick`` literal.
PLAIN_NAME = re.compile(r"(?<![}\w`])`([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`(?!`)")
# Code fences and display maths are not prose.
NOT_PROSE = re.compile(r"```.*?```|\$\$.*?\$\$", re.S)


def documented_modules() -> set[str]:
    """The modules whose members the API pages document (``automodule``)."""
    found = set()
    for page in (ROOT / "book" / "api").glob("*.md"):
        found.update(re.findall(r"^\.\. automodule:: (\S+)\n(?!\s+:no-members:)",
                                page.read_text(encoding="utf-8"), re.MULTILINE))
    return found


def public_names() -> dict[str, str]:
    """Public functions and classes of rnnbook, by name, with the module defining them.

    A name defined in more than one module is left out: plain backticks are
    the honest choice when the prose cannot say which one it means.
    """
    where: dict[str, set] = {}
    documented = documented_modules()
    for info in pkgutil.walk_packages(rnnbook.__path__, "rnnbook."):
        if info.name not in documented:
            continue
        module = importlib.import_module(info.name)
        # The API page documents a module's __all__ (autodoc), so only those link.
        exported = getattr(module, "__all__", None)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if exported is not None and name not in exported:
                continue
            if obj.__module__ == info.name:
                where.setdefault(name, set()).add(info.name)
    return {name: next(iter(mods)) for name, mods in where.items() if len(mods) == 1}


def unlinked(markdown: str, names: dict[str, str]) -> list[str]:
    prose = NOT_PROSE.sub(" ", markdown)
    return [m.group(1) for m in PLAIN_NAME.finditer(prose) if m.group(1) in names]


def test_the_finder_sees_plain_names_and_skips_roles():
    names = {"lstm_forward": "rnnbook.nn.lstm", "Adam": "rnnbook.train.optim"}
    text = ("`lstm_forward` and {func}`~rnnbook.nn.lstm.lstm_forward`, `Adam()`, "
            "``lstm_forward``, `rng`\n```\n`Adam`\n```\n$$ `lstm_forward` $$")
    assert unlinked(text, names) == ["lstm_forward", "Adam"]


def test_the_library_has_names_to_link():
    assert {"rnnbook.nn.lstm", "rnnbook.train.loop"} <= documented_modules()
    names = public_names()
    assert {"lstm_forward", "rnn_backward", "train", "Adam"} <= set(names)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_links_the_library_functions_it_names(path):
    names = public_names()
    nb = nbformat.read(path, as_version=4)
    missing = sorted({name for cell in nb.cells if cell.cell_type == "markdown"
                      for name in unlinked(cell.source, names)})
    assert not missing, (
        f"{path.name} names library functions in plain backticks: {missing}; write "
        f"{{func}}`~{names[missing[0]]}.{missing[0]}` (or {{class}} for a class) so "
        "the reader can follow the link to the API page")
