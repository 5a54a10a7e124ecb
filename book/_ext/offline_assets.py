"""Serve MathJax 3 and the ipywidgets embed manager from the site itself.

The site must read offline, so instead of the CDN addresses Sphinx and
MyST-NB use by default, `_config.yml` points `mathjax_path` and
`nb_ipywidgets_js` at `_static/mathjax/` and `_static/widgets/`. This
extension fills those folders from the pinned npm packages in
`node_modules/` (installed by `make book` from package-lock.json) when the
build finishes, and fails the build early if they are missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ConfigError

# destination folder under _static  ->  (folder in node_modules, a file that must exist)
ASSETS = {
    "mathjax": ("mathjax/es5", "tex-chtml.js"),
    "widgets": ("@jupyter-widgets/html-manager/dist", "embed-amd.js"),
    "requirejs": ("requirejs", "require.js"),
}


def _source(app: Sphinx, folder: str) -> Path:
    # node_modules/ sits beside _config.yml, at the root of the book's sources.
    return Path(app.srcdir) / "node_modules" / folder


def check_assets(app: Sphinx, config) -> None:
    for name, (folder, filename) in ASSETS.items():
        source = _source(app, folder)
        if not (source / filename).is_file():
            raise ConfigError(
                f"offline asset {name!r} is missing: {source / filename} does not exist; "
                "run 'npm ci' in the project folder (make book does it)"
            )


def copy_assets(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    for name, (folder, _) in ASSETS.items():
        source = _source(app, folder)
        # Source maps and licence texts are not needed to read the site.
        shutil.copytree(source, static / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.map", "bin", "*.md", "package.json"))
    # Loaded between require.js and embed-amd.js (see nb_ipywidgets_js).
    shutil.copy(Path(__file__).with_name("widgets_setup.js"), static / "widgets" / "setup.js")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_assets)
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
