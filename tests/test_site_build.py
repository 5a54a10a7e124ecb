"""The site builds with no warnings, and the build settings catch broken content.

The full build runs `jupyter-book build . -W -n --keep-going`, exactly as
`make book` does, into the same `_build/` so that both share the notebook
execution cache. Two small scratch books built with the project's own
`_config.yml` show that a raising cell and a broken cross-reference each fail
the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def build(path: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", str(path), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=timeout,
    )


def _tail(proc: subprocess.CompletedProcess, lines: int = 60) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


def test_book_builds_without_warnings():
    proc = build(ROOT)
    assert proc.returncode == 0, f"jupyter-book build failed:\n{_tail(proc)}"
    # Sphinx writes "<location>: WARNING: <message>"; with -W the build would
    # already have failed, this makes the message visible if it did not.
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING:" in line]
    assert not warnings, "build printed warnings:\n" + "\n".join(warnings)
    assert (ROOT / "_build" / "html" / "index.html").is_file()


def _scratch_book(tmp_path: Path, notebook: nbformat.NotebookNode) -> Path:
    """A one-page book that uses the project's real _config.yml."""
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")
    (book / "node_modules").symlink_to(ROOT / "node_modules")
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    nbformat.write(notebook, book / "book" / "page.ipynb")
    return book


def _notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = list(cells)
    return nb


@pytest.mark.parametrize(
    "markdown, code, should_build",
    [
        ("# Page\n\nSee {ref}`the page <page-label>`.", "1 + 1", True),
        ("# Page", "raise RuntimeError('deliberate failure')", False),
        ("# Page\n\nSee {ref}`no-such-label`.", "1 + 1", False),
    ],
    ids=["control-builds", "raising-cell-fails", "broken-reference-fails"],
)
def test_build_settings_catch_broken_content(tmp_path, markdown, code, should_build):
    nb = _notebook(nbformat.v4.new_markdown_cell("(page-label)=\n" + markdown),
                   nbformat.v4.new_code_cell(code))
    proc = build(_scratch_book(tmp_path, nb), timeout=300)
    if should_build:
        assert proc.returncode == 0, "the control book did not build:\n" + _tail(proc)
    else:
        assert proc.returncode != 0, "the broken book built without error:\n" + _tail(proc)
