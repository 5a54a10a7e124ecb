"""Sphinx extension: the PDF edition's front, main and back matter.

Jupyter Book turns each caption of _toc.yml into a LaTeX part and every file
under it into a chapter, and LaTeX numbers every chapter, so the four pages
of "Getting started" became Chapters 1-4 and the book's first chapter became
Chapter 5. Here the parts whose toctree is not ``numbered`` in _toc.yml
become front matter (before the first numbered part) or back matter (after
it), with unnumbered chapters; the numbered parts keep LaTeX's numbering,
which then matches the site's. The commands are defined in
``book/_ext/latex/rnnbookmatter.sty``.
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

PACKAGE = "rnnbookmatter"


def part_numbering(app: Sphinx) -> dict[str, bool]:
    """Caption of each part of _toc.yml -> whether its chapters are numbered."""
    site_map = getattr(app.config, "external_site_map", None)
    if site_map is None:
        return {}
    return {sub.caption: bool(sub.numbered)
            for sub in site_map.root.subtrees if sub.caption}


class MatterCommands(SphinxPostTransform):
    """Put \\rnnbook{front,main,back}matter before the parts that start each matter."""

    builders = ("latex",)
    # After sphinx-jupyterbook-latex has made the parts (priority 700).
    default_priority = 750

    def run(self, **kwargs) -> None:
        numbered = part_numbering(self.app)
        parts = [n for n in self.document.findall(addnodes.start_of_file)
                 if n.get("docname") in numbered]
        state = None
        for part in parts:
            new = ("main" if numbered[part["docname"]] else
                   "front" if state in (None, "front") else "back")
            if new != state:
                raw = nodes.raw("", f"\n\\rnnbook{new}matter\n", format="latex")
                part.parent.insert(part.parent.index(part), raw)
                state = new


def setup(app: Sphinx) -> dict:
    # The file itself is listed in latex_additional_files (_config.yml).
    app.add_latex_package(PACKAGE)
    app.add_post_transform(MatterCommands)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
