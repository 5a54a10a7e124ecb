"""The site builds with no warnings, and reads correctly in a real browser.

The full build runs `jupyter-book build . -W -n --keep-going`, exactly as
`make book` does, into the same `_build/` so that both share the notebook
execution cache. Two small scratch books built with the project's own
`_config.yml` show that a raising cell and a broken cross-reference each fail
the build.

The built site is then opened in headless Chromium, page by page, the way a
reader sees it: served over HTTP from 127.0.0.1, with every request to any
other host blocked and reported. Every page must load without console
errors, typeset its mathematics, load its images (each with alt text),
render its widgets and link only to pages and anchors that exist; the search
page must find a phrase. The chapters' figures must be SVG (or bitmaps at
twice their shown width), undimmed in dark mode, with tick labels of at
least 8 px on a 390-px phone and 10 px at 1400 px. The figures are SVG only
when the kernels read book/_ext/ipython_kernel_config.py, which `make setup`
installs into .venv.

Why the browser checks live in this file: pytest runs with `-n 2 --dist
loadfile`, which sends all tests of one file to the same worker, in the
order they are written. Checks in a separate file could run on the other
worker while this one is still rewriting `_build/html`, and would read a
half-built site. Here, the module-scoped `site_build` fixture builds the book
once, the build test asserts on that build, and every browser test depends
on the same fixture, so the site is complete before a browser opens it, even
when a browser test is selected on its own (`-k browser`).

Without Chromium (Debian's `chromium` package at /usr/bin/chromium) the
browser tests are skipped, except under continuous integration (the CI
environment variable is set), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"


def build(path: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", str(path), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=timeout,
    )


def _tail(proc: subprocess.CompletedProcess, lines: int = 60) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


@pytest.fixture(scope="module")
def site_build() -> subprocess.CompletedProcess:
    """The full book, built once for every test in this file that needs it."""
    return build(ROOT)


def test_book_builds_without_warnings(site_build):
    proc = site_build
    assert proc.returncode == 0, f"jupyter-book build failed:\n{_tail(proc)}"
    # Sphinx writes "<location>: WARNING: <message>"; with -W the build would
    # already have failed, this makes the message visible if it did not.
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING:" in line]
    assert not warnings, "build printed warnings:\n" + "\n".join(warnings)
    assert (HTML / "index.html").is_file()


def _scratch_book(tmp_path: Path, notebook: nbformat.NotebookNode) -> Path:
    """A one-page book that uses the project's real _config.yml."""
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")
    shutil.copytree(ROOT / "book" / "images", book / "book" / "images")
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


# --------------------------------------------------------------------------
# Citations and bibliography
# --------------------------------------------------------------------------

_LABEL = re.compile(r'<span class="label"><span class="fn-bracket">\[</span>(.*?)'
                    r'<span class="fn-bracket">\]</span></span>', re.S)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def test_bibliography_is_author_year_and_matches_the_citations(site_build):
    if site_build.returncode != 0:
        pytest.fail("the site did not build (see test_book_builds_without_warnings)")
    labels = [_text(m) for m in _LABEL.findall((HTML / "book" / "references.html").read_text())]
    assert len(labels) > 10, f"the bibliography lists only {labels}"
    assert len(set(labels)) == len(labels), f"two works share a label: {sorted(labels)}"
    year = re.compile(r"^.+, (\d{4}|n\.d\.)[a-z]?$")
    assert all(year.match(label) for label in labels), \
        [label for label in labels if not year.match(label)]
    assert {"Karpathy, 2015a", "Karpathy, 2015b"} <= set(labels)
    # Every parenthetical citation in a chapter names a bibliography label.
    cited = set()
    for page in (HTML / "book").glob("*.html"):
        for link in re.findall(r'<a class="reference internal" href="references\.html#id\d+"'
                               r'[^>]*>(.*?)</a>', page.read_text(), re.S):
            cited.add(_text(link))
    parenthetical = {c for c in cited if re.search(r", \d{4}[a-z]?$", c)}
    assert parenthetical, "no author-year citation found in the chapters"
    assert parenthetical <= set(labels), sorted(parenthetical - set(labels))


# --------------------------------------------------------------------------
# The PDF edition
# --------------------------------------------------------------------------

LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "rnnbook.pdf"
TEX_TOOLS = ["latexmk", "xelatex", "pdftotext"]


def _chapter_titles() -> list[str]:
    """The first heading of every notebook chapter in _toc.yml, as plain text."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    titles = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            path = ROOT / (chapter["file"] + ".ipynb")
            if not path.is_file():
                continue
            nb = nbformat.read(path, as_version=4)
            heading = next(line for cell in nb.cells if cell.cell_type == "markdown"
                           for line in cell.source.splitlines() if line.startswith("# "))
            titles.append(re.sub(r"[`*_$]", "", heading[2:]).strip())
    return titles


@pytest.fixture(scope="module")
def pdf_build(site_build) -> subprocess.CompletedProcess | None:
    """`make pdf`'s build, after the site so that it reuses the executed notebooks.

    None when TeX is not installed (outside CI only; see .ci/run).
    """
    missing = [tool for tool in TEX_TOOLS if shutil.which(tool) is None]
    if missing:
        if _in_ci():
            pytest.fail(f"{missing} not installed; under CI the PDF must be built")
        return None
    if PDF.exists():
        PDF.unlink()
    proc = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(ROOT), "--builder", "pdflatex", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=1800)
    if PDF.is_file() and HTML.is_dir():
        shutil.copy(PDF, HTML / "rnnbook.pdf")  # what `make pdf` does: the site links to it
    return proc


def test_pdf_edition_builds_and_reads(pdf_build):
    if pdf_build is None:
        pytest.skip(f"TeX is not installed (needs {TEX_TOOLS}); see the README")
    assert pdf_build.returncode == 0 and PDF.is_file(), "the PDF did not build:\n" + _tail(pdf_build)
    # Executed notebooks come from the site build's cache: nothing runs again.
    assert "Executing notebook" not in pdf_build.stdout + pdf_build.stderr
    log = (LATEX / "rnnbook.log").read_text(encoding="utf-8", errors="replace")
    pages = re.search(r"Output written on rnnbook\.(?:pdf|xdv) \((\d+) pages?", log)
    assert pages, "the LaTeX log does not say how many pages were written"
    chapters = _chapter_titles()
    assert len(chapters) >= 5, chapters
    assert int(pages.group(1)) >= 20 * len(chapters), f"only {pages.group(1)} pages"
    problems = [line for line in log.splitlines()
                if re.search(r"undefined|Missing character|There were undefined", line)]
    assert not problems, "LaTeX log:\n" + "\n".join(problems[:20])
    text = subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = " ".join(text.split())
    missing = [title for title in chapters if title not in flat]
    assert not missing, f"chapter titles not found in the PDF text: {missing}"
    # The pages before the first chapter (how to use the book, notation, the
    # exercise guides) and after the last take no chapter number: the book's
    # chapter N is Chapter N in the PDF, as on the site. Every page of a
    # chapter after its first is headed "Chapter N. Title".
    heads = {int(n): title for n, title in re.findall(r"^\s*\d+\s{3,}Chapter (\d+)\. (.+?)\s*$",
                                                      text, re.M)}
    assert heads, "no running head 'Chapter N. Title' in the PDF"
    assert sorted(heads) == list(range(1, len(chapters) + 1)), sorted(heads)
    wrong = {n: (heads[n], title) for n, title in enumerate(chapters, 1)
             if not heads[n].startswith(title[:40])}
    assert not wrong, f"chapter numbers and titles do not match: {wrong}"
    # Parts are numbered by their titles only ("Part I: ..."), with no
    # second number of LaTeX's in front ("II Part I: ...").
    assert "Part I: Recurrent networks" in flat
    assert not re.search(r"\b[IVX]+ +Part [IVX]+:", flat), "parts carry two numbers"
    assert "Karpathy, 2015a" in flat and "Karpathy, 2015b" in flat


# --------------------------------------------------------------------------
# The site in a browser
# --------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu",
    # Chromium's own traffic (updates, sync, safe browsing, QUIC probes)
    # would leave the machine; none of it is needed to read the site.
    "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Console messages known to be harmless, as (regular expression, reason)
# pairs. A message is ignored only if it matches one of them; anything else
# on the console fails the check. The theme's messages used to be listed
# here; their causes are fixed in book/_ext/offline_assets.py, and the list
# should stay empty.
CONSOLE_ALLOWED: list[tuple[str, str]] = []

# The two widths every page is read at: a phone and a desktop.
PHONE, DESKTOP = 390, 1400

# Text left over from mathematics that was not typeset, outside code.
RAW_MATH = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _sync_playwright():
    """Playwright's sync API, or a skip (a failure under CI) when it cannot run."""
    problem = None
    if not CHROMIUM.is_file():
        problem = (f"Chromium is not installed ({CHROMIUM} is missing); "
                   "install it with 'apt-get install chromium' to run the browser checks")
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            problem = f"the Python package playwright is not installed ({exc})"
    if problem is not None:
        if _in_ci():
            pytest.fail(f"{problem}; under CI the browser checks must run")
        pytest.skip(problem)
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _sync_playwright()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The browser drops connections it no longer needs (a page closed
        # while a font was still loading); that is not an error of the site.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(directory: Path):
    """Serve `directory` over HTTP on a free port of 127.0.0.1; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class PageReport:
    """What one page did in the browser; every list holds problems."""

    path: str
    external_requests: list[str] = field(default_factory=list)
    missing_resources: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    math: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    alt_text: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    widgets: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    navigation: list[str] = field(default_factory=list)
    overflow: list[str] = field(default_factory=list)
    math_width: list[str] = field(default_factory=list)
    explorers: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    dark_mode: list[str] = field(default_factory=list)
    legibility: list[str] = field(default_factory=list)
    # Not problems: what the link check needs.
    hrefs: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    has_math: bool = False
    has_widgets: bool = False
    explorer_count: int = 0
    # Not problems: the smallest tick label of each figure, in CSS pixels,
    # by width of the window (for the record; see check_legibility).
    tick_px: dict[int, list[tuple[str, float]]] = field(default_factory=dict)


def site_pages(html_dir: Path) -> list[Path]:
    """Every HTML page of a built site, except the theme's own assets."""
    return sorted(p for p in html_dir.rglob("*.html")
                  if not p.relative_to(html_dir).parts[0].startswith("_"))


def _redirect_target(text: str) -> str | None:
    """The target of a <meta http-equiv="refresh"> page (Jupyter Book writes one as /index.html)."""
    match = re.search(r'<meta[^>]+http-equiv="refresh"[^>]+content="\d+;\s*url=([^"]+)"', text, re.I)
    return html.unescape(match.group(1)) if match else None


# Run in the page: wait for every image to finish loading or failing, then
# describe it. Images marked loading="lazy" would otherwise never load in an
# unscrolled headless window.
_IMAGES_JS = """
async () => {
  const imgs = [...document.querySelectorAll('img')];
  for (const img of imgs) if (img.loading === 'lazy') img.loading = 'eager';
  await Promise.all(imgs.map(img => img.complete ? null :
    new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  return imgs.map(img => {
    const figure = img.closest('figure');
    const caption = figure && figure.querySelector('figcaption');
    const src = img.currentSrc || img.getAttribute('src') || '';
    return {src: src.startsWith('data:') ? src.slice(0, 40) + '...' : src,
            loaded: img.complete && img.naturalWidth > 0,
            alt: (img.getAttribute('alt') || '').trim(),
            inArticle: !!img.closest('article, main'),
            inWidget: !!img.closest('.widget-subarea, .jupyter-widgets'),
            caption: caption ? caption.innerText.trim() : ''};
  });
}
"""

# Run in the page after MathJax has finished: which math is still raw.
_MATH_JS = """
() => {
  const math = [...document.querySelectorAll('.math')];
  return {
    elements: math.length,
    containers: document.querySelectorAll('mjx-container').length,
    untypeset: math.filter(e => !e.querySelector('mjx-container'))
                   .map(e => e.textContent.trim().slice(0, 80)),
    errors: [...document.querySelectorAll('mjx-merror')]
                   .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80)),
  };
}
"""

# The reader-visible text of the page, without code, scripts or typeset math.
_TEXT_JS = """
() => {
  const root = (document.querySelector('main') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight')
      .forEach(e => e.remove());
  return root.textContent;
}
"""

# A widget view is rendered when the embed manager has put a non-empty
# widget-subarea in front of its <script> tag.
_WIDGETS_JS = """
() => [...document.querySelectorAll('script[type="%s"]')].map(tag => {
  const area = tag.previousElementSibling;
  return !!(area && area.classList.contains('widget-subarea') &&
            area.querySelector('.jupyter-widgets, .widget-slider, .lm-Widget'));
})
""" % WIDGET_MIME

_PAGE_STRUCTURE_JS = """
() => ({
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id)
        .concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
})
"""

# Code and output blocks wider than their box (they would scroll sideways).
_OVERFLOW_JS = """
() => [...document.querySelectorAll('main pre')]
  .filter(pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1)
  .map(pre => {
    const cell = pre.closest('.cell');
    const where = pre.closest('.cell_output, .output') ? 'output' : 'code';
    const line = pre.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '');
    return `${where} block ${pre.scrollWidth}px wide in a ${pre.clientWidth}px box` +
           (cell && cell.id ? ` (${cell.id})` : '') + `: "${line.trim().slice(0, 60)}"`;
  })
"""

# Display equations that do not fit the column. At desktop width every
# display must fit inside its container and the container inside its box
# (`div.math`, which the theme clips). On a phone a wide display may scroll
# sideways inside its own container, but only if the container really
# scrolls (overflow-x auto or scroll, with the whole formula reachable) and
# itself stays inside its box; a display that is clipped, or that pushes the
# page wider than the screen, is reported, and so is a formula that would fit
# the column but scrolls because its number takes the room (equation (1.1) on
# a phone). `strict` selects the desktop rule.
_MATH_WIDTH_JS = """
strict => [...document.querySelectorAll('mjx-container[display="true"]')]
  .filter(c => c.offsetParent !== null)
  .map(c => {
    const math = c.querySelector('mjx-math') || c.firstElementChild;
    const box = c.parentElement;
    const wide = math ? Math.ceil(math.getBoundingClientRect().width) : 0;
    const cr = c.getBoundingClientRect(), br = box.getBoundingClientRect();
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(c).overflowX)
                    && c.scrollWidth + 1 >= wide;
    const label = ((box.querySelector('.eqno') || {}).textContent || '').replace('#', '');
    const text = (c.querySelector('mjx-assistive-mml') || c).textContent.trim().slice(0, 50);
    let problem = null;
    if (cr.right > br.right + 1 || cr.left < br.left - 1) {
      problem = `container ${Math.round(cr.width)}px wide sticks out of its ${Math.round(br.width)}px box`;
    } else if (wide > c.clientWidth + 1 && (strict || !scrolls)) {
      problem = `formula ${wide}px wide in a ${c.clientWidth}px container` +
                (strict ? '' : ' that does not scroll');
    } else if (wide > c.clientWidth + 1 && wide <= br.width + 1) {
      problem = `formula ${wide}px wide would fit the ${Math.round(br.width)}px column ` +
                `but scrolls in a ${c.clientWidth}px container beside its number`;
    }
    return problem && `display ${label.trim()} ${problem}: "${text}"`;
  })
  .filter(Boolean)
  .concat(document.documentElement.scrollWidth > window.innerWidth + 1 &&
          [...document.querySelectorAll('mjx-container')].some(
            c => c.getBoundingClientRect().right > window.innerWidth + 1)
          ? [`mathematics makes the page ${document.documentElement.scrollWidth}px wide`] : [])
"""


def check_display_math(page, width: int) -> list[str]:
    """Display equations that do not fit the column at this width (see _MATH_WIDTH_JS)."""
    return [f"{width}px: {problem}" for problem in page.evaluate(_MATH_WIDTH_JS, width == DESKTOP)]


# Whether a drawer (or the sidebar it replaces) shows links a reader can click.
_VISIBLE_LINKS_JS = """
selector => {
  const root = document.querySelector(selector);
  if (!root) return 0;
  return [...root.querySelectorAll('a[href]')].filter(a => {
    const r = a.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(a).visibility !== 'hidden';
  }).length;
}
"""

# Move every control of every explorer and report whether its picture changed.
_EXPLORERS_JS = """
async () => {
  const pause = ms => new Promise(done => setTimeout(done, ms));
  const out = [];
  for (const [n, box] of [...document.querySelectorAll('.rnnbook-explorer')].entries()) {
    for (let i = 0; i < 100 && !box.querySelector('svg'); i++) await pause(100);
    const svg = box.querySelector('svg');
    const controls = [...box.querySelectorAll('input[type=range], select')];
    const result = {n, svg: !!svg, label: svg ? (svg.getAttribute('aria-label') || '') : '',
                    controls: controls.length, unchanged: []};
    for (const input of controls) {
      const before = svg ? svg.innerHTML : '';
      if (input.tagName === 'SELECT') {
        input.selectedIndex = (input.selectedIndex + 1) % input.options.length;
      } else {
        input.value = input.value === input.max ? input.min : input.max;
      }
      input.dispatchEvent(new Event(input.tagName === 'SELECT' ? 'change' : 'input',
                                    {bubbles: true}));
      let changed = false;
      for (let i = 0; i < 30 && !changed; i++) {
        await pause(100);
        const now = box.querySelector('svg');
        changed = !!now && now.innerHTML !== before;
      }
      if (!changed) result.unchanged.push(input.name || input.tagName.toLowerCase());
    }
    out.push(result);
  }
  return out;
}
"""


# The chapters' figures as the page shows them: every image of a cell's
# output (a widget's replayed images excepted), with its natural and shown
# size and the filter the style sheets apply to it.
_FIGURES_JS = """
async () => {
  const imgs = [...document.querySelectorAll('main .cell_output img')]
    .filter(img => !img.closest('.widget-subarea, .jupyter-widgets'));
  for (const img of imgs) if (img.loading === 'lazy') img.loading = 'eager';
  await Promise.all(imgs.map(img => img.complete ? null :
    new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  await new Promise(done => setTimeout(done, 100));   // figures.js has run
  return imgs.map(img => ({
    src: img.currentSrc || img.src, natural: img.naturalWidth,
    shown: img.getBoundingClientRect().width, filter: getComputedStyle(img).filter}));
}
"""

# The smallest text of each explorer chart, in CSS pixels as shown.
_EXPLORER_TEXT_JS = """
async () => {
  const pause = ms => new Promise(done => setTimeout(done, ms));
  const out = [];
  for (const box of document.querySelectorAll('.rnnbook-explorer')) {
    for (let i = 0; i < 100 && !box.querySelector('svg'); i++) await pause(100);
    const svg = box.querySelector('svg');
    if (!svg) continue;
    const scale = svg.getBoundingClientRect().width / parseFloat(svg.getAttribute('width'));
    const sizes = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
    out.push(Math.min(...sizes));
  }
  return out;
}
"""

# Legibility. Figures are SVG written by matplotlib with its text as paths:
# each piece of text is a group scaled by its font size in points / 100, and
# tick labels sit in groups named xtick_N / ytick_N. The size a reader sees
# is that font size times 4/3 (CSS pixels per point) times the ratio of the
# shown to the natural width of the image. Thresholds, for tick labels (the
# smallest text every plot has): at 390 px at least 8 CSS px, which on a
# phone's screen (2-3 device pixels per CSS pixel) is 16-24 device pixels to
# the em, the size of the theme's own smallest text (footer, 0.7rem of a
# 12-px root on phones is 8.4 px) and some 10 % larger than the 7.3-px labels
# of the 100-dpi PNGs this replaced; at 1400 px at least 10 CSS px.
TICK_PX_MIN = {PHONE: 8.0, DESKTOP: 10.0}
_TICK_TEXT = re.compile(r'<g id="[xy]tick_\d+">.*?<g id="text_\d+">.*?scale\(([\d.]+)', re.S)


def _svg_tick_points(svg: str) -> float | None:
    """The smallest tick-label font size of a matplotlib SVG, in points (None: no ticks)."""
    sizes = [float(s) * 100 for s in _TICK_TEXT.findall(svg)]
    return min(sizes) if sizes else None


def check_figures(page, html_dir: Path, base_url: str, width: int, report: PageReport, *,
                  dark: bool = False) -> None:
    """Resolution (desktop), filter (dark mode) and tick-label size of every figure."""
    for fig in page.evaluate(_FIGURES_JS):
        name = fig["src"].rsplit("/", 1)[-1]
        if not fig["natural"] or not fig["shown"]:
            continue  # did not load or is hidden: the images check reports it
        is_svg = urlsplit(fig["src"]).path.endswith(".svg")
        if dark:
            if fig["filter"] != "none":
                report.dark_mode.append(f"figure {name} is shown through the filter "
                                        f"{fig['filter']!r} in dark mode")
            continue
        if width == DESKTOP and not is_svg and fig["natural"] < 2 * fig["shown"]:
            report.figures.append(
                f"figure {name} is a bitmap of {fig['natural']} px shown {fig['shown']:.0f} px "
                "wide: neither SVG nor at twice the resolution it is shown at")
        if not is_svg:
            continue
        rel = unquote(urlsplit(fig["src"]).path[len(urlsplit(base_url).path):])
        points = _svg_tick_points((html_dir / rel).read_text(encoding="utf-8"))
        if points is None:
            continue  # a diagram without axes
        px = points * 4 / 3 * fig["shown"] / fig["natural"]
        report.tick_px.setdefault(width, []).append((name, px))
        if px < TICK_PX_MIN[width]:
            report.legibility.append(
                f"{width}px: the tick labels of figure {name} are {px:.1f} px "
                f"({points:g} pt shown at {fig['shown'] / fig['natural']:.2f} of its size), "
                f"below {TICK_PX_MIN[width]:g} px")
    if not dark:
        for n, px in enumerate(page.evaluate(_EXPLORER_TEXT_JS)):
            if px < TICK_PX_MIN[width]:
                report.legibility.append(f"{width}px: the smallest text of explorer {n + 1} "
                                         f"is {px:.1f} px, below {TICK_PX_MIN[width]:g} px")


def check_navigation(page, width: int) -> list[str]:
    """Click the ☰ and the page-contents buttons; each must open what it names.

    A button a reader cannot see is not clicked: at desktop width the page
    contents sit in their own column and need no button, so there the column
    itself must show its links instead.
    """
    problems = []
    if not page.query_selector("#pst-primary-sidebar"):
        return problems  # not a page of the book's theme
    for which, required in (("primary", True), ("secondary", False)):
        buttons = [b for b in page.query_selector_all(f".{which}-toggle") if b.is_visible()]
        dialog = f"#pst-{which}-sidebar-modal"
        name = "☰ (site navigation)" if which == "primary" else "page contents"
        if not buttons:
            has_contents = which == "secondary" and page.query_selector("#pst-page-toc-nav a")
            if required:
                problems.append(f"{width}px: no visible {name} button")
            elif has_contents and not page.evaluate(_VISIBLE_LINKS_JS, f"#pst-{which}-sidebar"):
                problems.append(f"{width}px: the page contents are neither shown nor behind "
                                "a visible button")
            continue
        buttons[0].click()
        try:
            page.wait_for_selector(f"{dialog}[open]", timeout=3_000)
        except Exception:
            problems.append(f"{width}px: clicking the {name} button opened nothing")
            continue
        if not page.evaluate(_VISIBLE_LINKS_JS, dialog):
            problems.append(f"{width}px: the {name} drawer opened without any visible link")
        page.keyboard.press("Escape")
        try:
            page.wait_for_selector(f"{dialog}[open]", state="detached", timeout=3_000)
        except Exception:
            problems.append(f"{width}px: the {name} drawer did not close on Escape")
    return problems


def check_explorers(page) -> tuple[int, list[str]]:
    """Move every explorer control; the chart must be drawn and must change."""
    problems = []
    results = page.evaluate(_EXPLORERS_JS)
    for r in results:
        if not r["svg"]:
            problems.append(f"explorer {r['n'] + 1} drew no chart")
            continue
        if not r["label"]:
            problems.append(f"explorer {r['n'] + 1} has no text alternative (aria-label)")
        if r["controls"] == 0:
            problems.append(f"explorer {r['n'] + 1} has no slider or selector")
        problems += [f"explorer {r['n'] + 1}: moving {name!r} did not change the picture"
                     for name in r["unchanged"]]
    return len(results), problems



def local_context(browser, external: list[str], timeout_ms: float, width: int = DESKTOP,
                  dark: bool = False):
    """A fresh browser context that blocks every request leaving this machine.

    The URL of each blocked request is appended to `external`. With `dark`,
    the reader has chosen the dark theme (the theme's switch stores the
    choice in localStorage) on a system that prefers dark colours.
    """
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  color_scheme="dark" if dark else "light")
    context.set_default_timeout(timeout_ms)
    if dark:
        context.add_init_script("localStorage.setItem('theme', 'dark');"
                                "localStorage.setItem('mode', 'dark');")

    def route(route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            external.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", route)
    return context


def check_page(browser, html_dir: Path, base_url: str, page_file: Path, *,
               timeout_ms: float = 30_000, screenshot: Path | None = None) -> PageReport:
    """Open one page in a fresh browser context and record what is wrong with it."""
    rel = page_file.relative_to(html_dir).as_posix()
    report = PageReport(rel)
    source = page_file.read_text(encoding="utf-8", errors="replace")
    redirect = _redirect_target(source)
    if redirect is not None:
        # Nothing to render: the link check makes sure the target exists.
        report.hrefs.append(urljoin(base_url + rel, redirect))
        return report
    report.has_math = 'class="math' in source
    report.has_widgets = WIDGET_MIME in source

    context = local_context(browser, report.external_requests, timeout_ms)

    def on_response(response):
        if response.status >= 400:
            report.missing_resources.append(f"{response.status} {response.url}")

    def console_error(text: str) -> None:
        if not any(re.search(pattern, text) for pattern, _ in CONSOLE_ALLOWED):
            report.console_errors.append(text)

    def on_console(message):
        if message.type == "error":
            location = (message.location or {}).get("url", "")
            console_error(f"{message.text} ({location})" if location else message.text)

    page = context.new_page()
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: console_error(f"uncaught exception: {error}"))
    try:
        page.goto(base_url + rel, wait_until="load")

        if report.has_math:
            try:
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("""ms => Promise.race([MathJax.startup.promise,
                    new Promise((_, fail) => setTimeout(() => fail(new Error('typesetting timed out')), ms))])""",
                              timeout_ms)
            except Exception as exc:  # a timeout: MathJax never started
                report.math.append(f"MathJax did not typeset the page: {str(exc).splitlines()[0]}")
            else:
                state = page.evaluate(_MATH_JS)
                if state["containers"] == 0:
                    report.math.append(f"no typeset math (mjx-container) among {state['elements']} formulas")
                report.math += [f"not typeset: {text!r}" for text in state["untypeset"]]
                report.math += [f"MathJax error: {text!r}" for text in state["errors"]]
        text = page.evaluate(_TEXT_JS)
        raw = list(RAW_MATH.finditer(text))
        if raw:
            around = " ".join(text[max(0, raw[0].start() - 40):raw[0].end() + 40].split())
            report.math.append(f"{len(raw)} raw math delimiters in the text, the first in: {around!r}")

        if report.has_widgets:
            try:
                page.wait_for_function(
                    f"() => (views => views.length > 0 && views.every(Boolean))(({_WIDGETS_JS})())")
            except Exception:  # a timeout: say how many did not render
                rendered = page.evaluate(_WIDGETS_JS)
                report.widgets.append(f"{rendered.count(False)} of {len(rendered)} widget views "
                                      "did not render" if rendered else "no widget view on the page")

        is_chapter = (html_dir / "_sources" / Path(rel).with_suffix(".ipynb")).is_file()
        for img in page.evaluate(_IMAGES_JS):
            if not img["loaded"]:
                report.images.append(f"image did not load: {img['src']}")
            if img["inWidget"]:
                # A widget replays the output it showed when the chapter ran
                # (a plot drawn by an interact callback, say); those images carry
                # no metadata. The chapter's static figure beside the widget is
                # the one that must have alt text and a caption.
                continue
            if not img["alt"]:
                report.alt_text.append(f"image without alt text: {img['src']}")
            if is_chapter and img["inArticle"] and not img["caption"]:
                report.captions.append(f"figure without caption: {img['src']}")

        structure = page.evaluate(_PAGE_STRUCTURE_JS)
        report.hrefs = structure["hrefs"]
        report.ids = set(structure["ids"])

        # At desktop width no code or output block may scroll sideways.
        report.overflow += [f"{DESKTOP}px: {problem}" for problem in page.evaluate(_OVERFLOW_JS)]
        if is_chapter:
            check_figures(page, html_dir, base_url, DESKTOP, report)
        if report.has_math:
            report.math_width += check_display_math(page, DESKTOP)
        report.explorer_count, report.explorers = check_explorers(page)
        report.navigation += check_navigation(page, DESKTOP)

        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()

    # The same page on a phone: the navigation must be reachable there too.
    def open_again(**options):
        # The page in another browser context (a phone's width, the dark theme),
        # reporting console errors like the first visit.
        context = local_context(browser, report.external_requests, timeout_ms, **options)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: console_error(f"uncaught exception: {error}"))
        return context, page

    context, page = open_again(width=PHONE)
    try:
        page.goto(base_url + rel, wait_until="load")
        if is_chapter:
            check_figures(page, html_dir, base_url, PHONE, report)
        report.navigation += check_navigation(page, PHONE)
        if report.has_math:
            try:
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise")
            except Exception:  # already reported by the desktop pass
                pass
            report.math_width += check_display_math(page, PHONE)
    finally:
        context.close()

    if is_chapter:
        # In dark mode the figures are shown as drawn, not dimmed by a filter.
        context, page = open_again(dark=True)
        try:
            page.goto(base_url + rel, wait_until="load")
            if page.evaluate("document.documentElement.dataset.theme") != "dark":
                report.dark_mode.append("the page did not switch to the dark theme")
            check_figures(page, html_dir, base_url, DESKTOP, report, dark=True)
        finally:
            context.close()
    return report


def _ids_in_file(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return {html.unescape(m) for m in re.findall(r'\s(?:id|name)="([^"]*)"', text)}


def check_links(reports: dict[str, PageReport], html_dir: Path, base_url: str) -> None:
    """Add to each report the local links whose file or anchor does not exist."""
    for report in reports.values():
        for href in report.hrefs:
            if not href.startswith(base_url):
                continue  # another host (a link to a paper, say) or mailto:, javascript:
            parts = urlsplit(href)
            rel = unquote(parts.path[len(urlsplit(base_url).path):])
            target = html_dir / rel
            if rel == "" or rel.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                report.links.append(f"{href} -> no such file {target.relative_to(html_dir)}")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html":
                target_rel = target.relative_to(html_dir).as_posix()
                ids = reports[target_rel].ids if target_rel in reports else _ids_in_file(target)
                if anchor not in ids:
                    report.links.append(f"{href} -> no id {anchor!r} on {target_rel}")


def check_site(browser, html_dir: Path, *, timeout_ms: float = 30_000,
               screenshots: dict[str, Path] | None = None) -> dict[str, PageReport]:
    """Open every page of the site in `html_dir`; a report per page, by relative path."""
    screenshots = screenshots or {}
    with serve(html_dir) as base_url:
        reports = {}
        for page_file in site_pages(html_dir):
            rel = page_file.relative_to(html_dir).as_posix()
            reports[rel] = check_page(browser, html_dir, base_url, page_file,
                                      timeout_ms=timeout_ms, screenshot=screenshots.get(rel))
        check_links(reports, html_dir, base_url)
    return reports


def _problems(reports: dict[str, PageReport], kind: str) -> str:
    lines = [f"{path}: {problem}" for path, report in reports.items()
             for problem in getattr(report, kind)]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def site(site_build, pdf_build, browser) -> dict[str, PageReport]:
    """Every page of the built book, opened once in the browser."""
    if site_build.returncode != 0 or not (HTML / "index.html").is_file():
        pytest.fail("the site did not build (see test_book_builds_without_warnings)")
    chapters = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("[0-9][0-9]_*.html"))
    # For a person to look at after the run: the front page, the notation
    # page (mostly mathematics) and the first chapter.
    wanted = ["book/index.html", "book/notation.html"] + chapters[:1]
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    return check_site(browser, HTML, screenshots={
        rel: SCREENSHOTS / rel.replace("/", "_").replace(".html", ".png") for rel in wanted})


def test_browser_opens_every_page(site):
    # Guards against a check that passes because it looked at nothing.
    for rel in ["index.html", "book/index.html", "book/api.html", "book/execution_stats.html",
                "book/references.html", "genindex.html", "search.html"]:
        assert rel in site, f"{rel} was not opened; pages seen: {sorted(site)}"
    assert any(r.has_math for r in site.values()), "no page has any mathematics"
    # The figure checks measured something: SVG plots with tick labels, at
    # both widths, on most chapters.
    measured = [r for r in site.values() if r.tick_px.get(PHONE) and r.tick_px.get(DESKTOP)]
    assert len(measured) >= 8, [r.path for r in measured]


@pytest.mark.parametrize("kind", [
    "external_requests",   # everything, MathJax and widget scripts included, is served locally
    "missing_resources",   # no 404 for a script, style sheet, font or image
    "console_errors",
    "math",                # typeset by MathJax, no TeX errors, no raw $$ or \( in the text
    "images",              # every image loads
    "alt_text",            # every image has alt text
    "captions",            # every figure in a chapter has a caption
    "widgets",             # every embedded widget renders
    "links",               # every local link reaches an existing page and anchor
    "navigation",          # the ☰ and page-contents buttons open their drawers, 390 and 1400 px
    "overflow",            # no code or output block scrolls sideways at 1400 px
    "math_width",          # every display equation fits at 1400 px; at 390 px it fits or scrolls
    "explorers",           # every explorer draws, and each control changes its picture
    "figures",             # every chapter figure is SVG or a bitmap at >= 2x its shown width
    "dark_mode",           # in dark mode figures are not dimmed (computed filter "none")
    "legibility",          # tick labels >= 8 px at 390 px and >= 10 px at 1400 px
])
def test_browser_finds_no_problems(site, kind):
    problems = _problems(site, kind)
    assert not problems, f"{kind.replace('_', ' ')}:\n{problems}"


def test_browser_search_finds_a_phrase(site_build, browser):
    if site_build.returncode != 0:
        pytest.fail("the site did not build (see test_book_builds_without_warnings)")
    external: list[str] = []
    with serve(HTML) as base_url:
        context = local_context(browser, external, timeout_ms=30_000)
        page = context.new_page()
        try:
            found = {}
            for query in ["hidden+state", "zqxjkvw"]:
                page.goto(f"{base_url}search.html?q={query}", wait_until="load")
                # searchtools.js retitles the results "Search Results" when it is done.
                page.wait_for_function(
                    "() => [...document.querySelectorAll('#search-results h2')]"
                    ".some(h => h.textContent.startsWith('Search Results'))")
                found[query] = page.eval_on_selector_all(
                    "#search-results ul.search li a", "links => links.map(a => a.href)")
                if query == "hidden+state":
                    # Snippets are fetched page by page after the list appears.
                    page.wait_for_function(
                        "() => document.querySelectorAll('#search-results p.context').length > 2")
                    snippets = page.eval_on_selector_all(
                        "#search-results p.context", "ps => ps.map(p => p.textContent)")
        finally:
            context.close()
    assert not external, f"the search page requested other hosts: {external}"
    assert found["hidden+state"], "searching for 'hidden state' found nothing"
    for href in found["hidden+state"]:
        path = urlsplit(href).path[1:]
        assert (HTML / unquote(path)).is_file(), f"search result {href} is not a page of the site"
    assert not found["zqxjkvw"], f"a word that is in no page was found: {found['zqxjkvw']}"
    # Snippets are body text: no TeX source, no contents list.
    bad = [s for s in snippets if RAW_MATH.search(s) or re.search(r"\\[a-z]+\{|_\{", s)
           or s.lstrip(". ").startswith("Contents")
           or re.search(r"(\d+\.\d+\.\s+[^\n]+\n\s*){3}", s)]  # a list of section titles
    assert not bad, "search snippets that are not body text:\n" + "\n".join(bad[:5])
    assert any("hidden state" in s.lower() for s in snippets), snippets[:5]


def _write(path: Path, body: str, head: str = "") -> None:
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head>"
                    f"<body><main>{body}</main></body></html>", encoding="utf-8")


def test_browser_checks_catch_broken_pages(tmp_path, browser):
    """The checks above can fail: a deliberately broken page trips every one of them."""
    (tmp_path / "_sources").mkdir()
    (tmp_path / "_sources" / "broken.ipynb").write_text("{}")  # makes broken.html a chapter
    _write(tmp_path / "good.html", "<h1 id='top'>Fine</h1><p>Plain text.</p>")
    _write(tmp_path / "broken.html", f"""
        <p>$$ x^2 $$ was never typeset.</p>
        <span class="math notranslate nohighlight">\\(x\\)</span>
        <img src="http://example.com/remote.png" alt="served from elsewhere">
        <img src="missing.png">
        <figure><img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
            alt="a dot without a caption"></figure>
        <a href="good.html#top">fine</a> <a href="good.html#nowhere">bad anchor</a>
        <a href="nothere.html">bad page</a>
        <div><script type="{WIDGET_MIME}">{{"model_id": "1", "version_major": 2}}</script></div>
        <div id="pst-primary-sidebar"><a href="good.html">a sidebar link</a></div>
        <button class="primary-toggle">a button that opens nothing</button>
        <div style="width: 200px"><pre>{"x" * 300}</pre></div>
        <div class="math" style="width: 300px; overflow: hidden"><mjx-container display="true"
            style="display: block; overflow: hidden"><mjx-math style="display: inline-block;
            width: 2000px">a formula far wider than the column</mjx-math></mjx-container></div>
        <div class="rnnbook-explorer"><svg aria-label="a chart that never changes"
            width="10" height="10"><rect width="5" height="5"></rect></svg>
            <input type="range" min="0" max="1" step="1" value="0"></div>
        <div class="cell_output"><img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
            alt="a one-pixel bitmap shown 200 px wide" style="width: 200px"></div>
        <div class="cell_output"><img src="tiny.svg" alt="a plot with 5-pt tick labels"></div>
        <script>document.documentElement.dataset.theme = localStorage.getItem('theme') || 'light'</script>
        <style>html[data-theme="dark"] img {{ filter: brightness(0.8) contrast(1.2); }}</style>
        <script>console.error("deliberate error")</script>""")
    (tmp_path / "tiny.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200pt" height="100pt">'
        '<g id="xtick_1"><g id="text_1"><g transform="translate(10 50) scale(0.05 -0.05)">'
        '<path d="M 0 0 L 1000 0 L 1000 1000 z"/></g></g></g></svg>')
    reports = check_site(browser, tmp_path, timeout_ms=2_000)
    good, broken = reports["good.html"], reports["broken.html"]
    for kind in ["external_requests", "missing_resources", "console_errors", "math", "images",
                 "alt_text", "captions", "widgets", "links", "navigation", "overflow",
                 "math_width", "explorers", "figures", "dark_mode", "legibility"]:
        assert getattr(broken, kind), f"the broken page was not caught by the {kind} check"
        assert not getattr(good, kind), f"the good page was flagged by the {kind} check"
    assert set(broken.external_requests) == {"http://example.com/remote.png"}
    assert len(broken.links) == 2, broken.links
    assert any("raw math" in problem for problem in broken.math)
    assert any("MathJax did not typeset" in problem for problem in broken.math)
    assert broken.navigation == [f"{w}px: clicking the ☰ (site navigation) button opened nothing"
                                 for w in (DESKTOP, PHONE)]
    assert len(broken.overflow) == 1 and broken.explorer_count == 1
    # The one-pixel bitmap, not the SVG; both dimmed in dark mode; the SVG's
    # 5-pt labels (6.7 px) too small at both widths.
    assert len(broken.figures) == 1 and "bitmap of 1 px" in broken.figures[0]
    assert len(broken.dark_mode) == 2, broken.dark_mode
    assert [p.split(":")[0] for p in broken.legibility] == [f"{DESKTOP}px", f"{PHONE}px"]
    assert [p.split(":")[0] for p in broken.math_width] == [f"{DESKTOP}px", f"{PHONE}px"]
