"""Serve MathJax 3, the ipywidgets embed manager and Vega from the site itself.

The site must read offline, so instead of the CDN addresses Sphinx and
MyST-NB use by default, `_config.yml` points `mathjax_path` and
`nb_ipywidgets_js` at `_static/mathjax/` and `_static/widgets/`. This
extension fills those folders from the pinned npm packages in
`node_modules/` (installed by `make book` from package-lock.json) when the
build finishes, and fails the build early if they are missing.

It also serves the explorers (`rnnbook.book.explorers`): Vega, Vega-Lite and
Vega-Embed go into one file, `_static/explorers/vega-all.js`, loaded with
`explorers.js` only on the pages that have an explorer (about 0.8 MB that
the other pages do not carry). And it carries the site's small fixes to the
theme: `navigation.js` (the sidebar buttons), `search_text.js` (search
snippets from the body text) and `site.css`, and removes the
second copy of inline scripts that reach the page twice (sphinx-thebe's
`const THEBE_JS_URL = ...` raised "already declared" on every page; see
`page_assets`).
"""

from __future__ import annotations

import re
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

# Concatenated, in this order, into _static/explorers/vega-all.js.
VEGA = ["vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js",
        "vega-embed/build/vega-embed.min.js"]
HERE = Path(__file__).parent


def _source(app: Sphinx, folder: str) -> Path:
    # node_modules/ sits beside _config.yml, at the root of the book's sources.
    return Path(app.srcdir) / "node_modules" / folder


def theme_defaults(app: Sphinx, config) -> None:
    # Follow the reader's system light/dark setting on a first visit. Without
    # a default the theme logs "Got invalid theme mode" to the console on
    # every page. (A template variable, not a theme option.)
    config.html_context.setdefault("default_mode", "auto")


def check_assets(app: Sphinx, config) -> None:
    for name, (folder, filename) in ASSETS.items():
        source = _source(app, folder)
        if not (source / filename).is_file():
            raise ConfigError(
                f"offline asset {name!r} is missing: {source / filename} does not exist; "
                "run 'npm ci' in the project folder (make book does it)"
            )
    for path in VEGA:
        if not _source(app, path).is_file():
            raise ConfigError(f"offline asset {path!r} is missing from node_modules; "
                              "run 'npm ci' in the project folder (make book does it)")


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
    shutil.copy(HERE / "widgets_setup.js", static / "widgets" / "setup.js")
    explorers = static / "explorers"
    explorers.mkdir(exist_ok=True)
    # The bundles are UMD modules. Inside this wrapper `define`, `exports`
    # and `module` are undefined, so each registers itself as a global
    # (vega, vegaLite, vegaEmbed) even on a page whose require.js (the
    # widgets) would otherwise make it an anonymous AMD module.
    parts = [_source(app, path).read_text(encoding="utf-8") for path in VEGA]
    body = "\n;\n".join(re.sub(r"//# sourceMappingURL=\S+\s*$", "", p) for p in parts)
    (explorers / "vega-all.js").write_text(
        "(function (define, exports, module) {\n" + body + "\n})();\n", encoding="utf-8")
    shutil.copy(HERE / "explorers.js", explorers / "explorers.js")
    shutil.copy(HERE / "navigation.js", static / "navigation.js")
    shutil.copy(HERE / "search_text.js", static / "search_text.js")
    shutil.copy(HERE / "site.css", static / "site.css")


def page_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Per page: the explorer scripts where needed, and no script twice."""
    if pagename == "search":
        # Deferred, so that it runs after searchtools.js, which the search
        # page loads after these scripts, and before the search starts.
        app.add_js_file("search_text.js", defer="defer")
    if doctree is not None and EXPLORER_CLASS in context.get("body", ""):
        app.add_js_file("explorers/vega-all.js", priority=800)
        app.add_js_file("explorers/explorers.js", priority=801)
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            # An inline script added with app.add_js_file(None, body=...)
            # after the builder started reaches the page twice, once with
            # filename None and once with '' (Sphinx 7.4 keeps it both in the
            # builder and in its registry); compare them as equal.
            key = (getattr(script, "filename", str(script)) or "",
                   getattr(script, "attributes", {}).get("body"))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        scripts[:] = unique


EXPLORER_CLASS = 'class="rnnbook-explorer"'


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_assets)
    app.connect("config-inited", theme_defaults)
    app.connect("build-finished", copy_assets)
    # After the other extensions have added their scripts to the page.
    app.connect("html-page-context", page_assets, priority=900)
    app.add_js_file("navigation.js", priority=100)
    app.add_css_file("site.css", priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
