"""Sphinx extension: how the chapters' figures are shown on the site.

Adds ``figures.js`` (a lower bound on how far a figure shrinks on a phone,
see the file) to every page. The figures themselves are SVG for the site and
PNG for the PDF edition (``nb_mime_priority_overrides`` in _config.yml,
``book/_ext/ipython_kernel_config.py``), with the sizes of book/matplotlibrc.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

HERE = Path(__file__).resolve().parent


def copy_script(app: Sphinx, exception) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "figures.js", static / "figures.js")


def setup(app: Sphinx) -> dict:
    app.add_js_file("figures.js", defer="defer")
    app.connect("build-finished", copy_script)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
