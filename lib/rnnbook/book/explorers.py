"""Explorers: interactive figures that need no kernel.

An explorer is a Vega-Lite chart, built with Altair, whose data are results
computed by ``rnnbook`` for every combination of a few control values. The
chart draws only the rows that belong to the current setting of its sliders
and selectors, so moving a control swaps in another precomputed result: the
browser filters, nothing is recomputed and nothing is re-implemented in
JavaScript. The same chart works on the static site (drawn by Vega-Embed,
served from the site), in JupyterLab (which draws Vega-Lite itself) and in
any Vega-Lite viewer. Chapters 3 and 4 use it for their explorers; chapter 8's
attention explorer (pick an example and an output step, see the weights over
the input characters) fits the same pattern.

API
---
``slider(name, values, label=None, fmt=".2f")``
    A range slider over evenly spaced numbers.
``select(name, values, labels=None, label=None)``
    A drop-down list of any values (numbers or strings), each shown with a
    label, e.g. one per example sentence.
``grid_explorer(compute, controls, draw, *, description, ...)``
    Calls ``compute(**setting)`` for every setting on the grid of control
    values (``setting`` maps each control's name to one of its values).
    ``compute`` returns the rows for that setting as a dict of columns: equal
    length 1-D arrays (numbers or strings); scalars are repeated on every row.
    ``draw(base)`` receives an ``altair.Chart`` of those rows already filtered
    to the current setting and returns the chart to show (marks, encodings,
    layers built from ``base``). The result is an :class:`Explorer`.

A minimal example, a curve ``a * x ** 2`` with a slider for ``a``::

    import altair as alt
    import numpy as np
    from rnnbook.book.explorers import grid_explorer, slider

    def parabola(a):
        x = np.linspace(-1, 1, 21)
        return {"x": x, "y": a * x ** 2}

    grid_explorer(parabola, [slider("a", np.linspace(0, 2, 11))],
                  lambda base: base.mark_line().encode(x="x:Q", y="y:Q"),
                  description="A parabola whose height follows the slider.")

The data are stored as CSV text inside the chart with ``digits`` significant
digits, so the page weight is roughly (settings x rows x columns x 7) bytes;
:attr:`Explorer.nbytes` reports it. Keep grids to a few hundred settings.

On the site, the MyST-NB plugin :class:`VegaLiteSiteRenderer` (registered as
an entry point of this package) writes each chart into the page as a JSON
island; the site's ``explorers.js`` (``book/_ext``) draws it with the Vega
scripts the site serves itself and redraws it in the reader's light or dark
theme. In a PDF, which cannot move a slider, the plain-text form says so.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Control", "slider", "select", "grid_explorer", "Explorer", "VEGALITE_MIME",
           "VegaLiteSiteRenderer"]

VEGALITE_MIME = "application/vnd.vegalite.v5+json"

# The column that numbers the settings; control names may not use it.
_KEY = "setting"


@dataclass(frozen=True)
class Control:
    """One control of an explorer: a slider or a drop-down list.

    Attributes:
        name: parameter name, a valid identifier; ``compute`` receives the
            chosen value under this keyword.
        values: the values on the grid, in order.
        labels: the text shown for each value (selectors only).
        label: the text beside the control.
        kind: ``"slider"`` or ``"select"``.
        fmt: d3 number format of a slider's readout.
        initial: index into ``values`` of the first setting shown.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    name: str
    values: tuple
    labels: tuple
    label: str
    kind: str
    fmt: str = ".2f"
    initial: int = 0


def _check_name(name: str) -> None:
    if not (isinstance(name, str) and name.isidentifier()) or name == _KEY:
        raise ValueError(f"name is {name!r} but needs to be a Python identifier other "
                         f"than {_KEY!r}")


def slider(name: str, values, label: str | None = None, fmt: str = ".2f",
           initial=None) -> Control:
    """A slider over evenly spaced numbers.

    Args:
        name: the keyword ``compute`` receives the value under.
        values: 1-D sequence of at least two evenly spaced, increasing numbers.
        label: text beside the slider; defaults to ``name``.
        fmt: d3 format of the value shown beside the slider.
        initial: the value shown first (one of ``values``); defaults to the first.

    Returns:
        a :class:`Control`.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    _check_name(name)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values has shape {v.shape} but needs to be 1-D with at least 2 entries")
    steps = np.diff(v)
    if not (np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-6, atol=0)):
        raise ValueError("values need to be increasing and evenly spaced for a slider; "
                         "use select() for other values")
    start = 0 if initial is None else int(np.argmin(np.abs(v - initial)))
    if initial is not None and not np.isclose(v[start], initial):
        raise ValueError(f"initial is {initial} but needs to be one of the values")
    return Control(name, tuple(float(x) for x in v), (), label or name, "slider", fmt, start)


def select(name: str, values, labels=None, label: str | None = None, initial=None) -> Control:
    """A drop-down list of arbitrary values.

    Args:
        name: the keyword ``compute`` receives the value under.
        values: the choices (numbers or strings), at least one.
        labels: text shown for each choice; defaults to ``str(value)``.
        label: text beside the list; defaults to ``name``.
        initial: the value shown first; defaults to the first.

    Returns:
        a :class:`Control`.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    _check_name(name)
    values = tuple(values)
    if not values:
        raise ValueError("values is empty but needs at least one choice")
    labels = tuple(str(v) for v in values) if labels is None else tuple(str(t) for t in labels)
    if len(labels) != len(values):
        raise ValueError(f"labels has {len(labels)} entries but values has {len(values)}")
    start = 0 if initial is None else values.index(initial)
    return Control(name, values, labels, label or name, "select", ".2f", start)


def _index_expression(control: Control) -> str:
    """A Vega expression giving the index of the control's current value."""
    if control.kind == "select":
        return control.name
    v0, step = control.values[0], control.values[1] - control.values[0]
    return f"round(({control.name} - {v0!r}) / {step!r})"


def _param(control: Control):
    import altair as alt

    if control.kind == "slider":
        v = control.values
        bind = alt.binding_range(min=v[0], max=v[-1], step=v[1] - v[0], name=control.label + " ")
        return alt.param(name=control.name, value=v[control.initial], bind=bind)
    bind = alt.binding_select(options=list(range(len(control.values))),
                              labels=list(control.labels), name=control.label + " ")
    return alt.param(name=control.name, value=control.initial, bind=bind)


def _columns(table: Mapping, where: str) -> dict[str, np.ndarray]:
    """The table's columns as equal-length 1-D arrays (scalars repeated)."""
    if not isinstance(table, Mapping) or not table:
        raise ValueError(f"compute returned {type(table).__name__} for {where} but needs to "
                         "return a non-empty dict of columns")
    arrays = {str(k): np.asarray(v) for k, v in table.items()}
    if _KEY in arrays:
        raise ValueError(f"compute returned a column named {_KEY!r}, which is reserved")
    lengths = {a.shape[0] for a in arrays.values() if a.ndim == 1}
    if any(a.ndim > 1 for a in arrays.values()) or len(lengths) > 1:
        shapes = {k: a.shape for k, a in arrays.items()}
        raise ValueError(f"compute returned columns of shapes {shapes} for {where}; each needs "
                         "to be a scalar or 1-D, all of one length")
    n = lengths.pop() if lengths else 1
    return {k: np.broadcast_to(a, (n,)) for k, a in arrays.items()}


def _cell(value, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}" if np.isfinite(value) else ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    return str(value)


@dataclass
class Explorer:
    """A finished explorer: an Altair chart and what it cost.

    Attributes:
        chart: the ``altair`` chart (top level), e.g. to ``.save("x.html")``.
        settings: number of settings on the grid.
        rows: number of data rows over all settings.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    chart: object
    settings: int
    rows: int
    controls: tuple = ()
    csv_text: str = ""

    def setting_index(self, **setting) -> int:
        """The number the chart's filter gives this setting (one value per control)."""
        if set(setting) != {c.name for c in self.controls}:
            raise ValueError(f"setting names {sorted(setting)} but the controls are "
                             f"{[c.name for c in self.controls]}")
        key = 0
        for c in self.controls:
            if c.kind == "slider":
                step = c.values[1] - c.values[0]
                i = int(round((float(setting[c.name]) - c.values[0]) / step))
                ok = 0 <= i < len(c.values) and np.isclose(c.values[i], setting[c.name])
            else:
                ok = setting[c.name] in c.values
                i = c.values.index(setting[c.name]) if ok else -1
            if not ok:
                raise ValueError(f"{c.name} is {setting[c.name]!r}, which is not on the grid")
            key = key * len(c.values) + i
        return key

    def table(self, **setting) -> dict[str, list[str]]:
        """The stored rows of one setting, column by column, as the text the chart reads."""
        key = str(self.setting_index(**setting))
        reader = csv.reader(io.StringIO(self.csv_text))
        header = next(reader)
        rows = [r[1:] for r in reader if r[0] == key]
        return {name: [r[j] for r in rows] for j, name in enumerate(header[1:])}

    def to_dict(self) -> dict:
        """The Vega-Lite specification, a JSON-compatible dict."""
        return self.chart.to_dict()

    @property
    def nbytes(self) -> int:
        """Size of the specification as JSON, in bytes (what the page carries)."""
        return len(json.dumps(self.to_dict(), separators=(",", ":")))

    def _repr_mimebundle_(self, include=None, exclude=None):
        spec = self.to_dict()
        text = ("Interactive figure (Vega-Lite): move its controls in the web edition "
                "or in JupyterLab. " + spec.get("description", ""))
        return {VEGALITE_MIME: spec, "text/plain": text}


def grid_explorer(compute: Callable[..., Mapping], controls: Sequence[Control],
                  draw: Callable, *, description: str, title: str | None = None,
                  width: int | str = "container", height: int = 260,
                  digits: int = 4) -> Explorer:
    """An interactive chart over a grid of precomputed results.

    See the module docstring for the pattern. Every setting in the cartesian
    product of the controls' values is computed once, here, in Python.

    Args:
        compute: function of one keyword per control, returning a dict of
            columns (1-D arrays of one length, or scalars) for that setting.
        controls: the sliders and selectors (from :func:`slider`, :func:`select`).
        draw: function from the filtered ``altair.Chart`` to the chart to show.
        description: what the chart shows, in words (the alt text: screen
            readers announce it).
        title: optional chart title.
        width: pixels, or ``"container"`` to fill the column (the default).
        height: pixels.
        digits: significant digits kept for floating-point numbers.

    Returns:
        an :class:`Explorer`; a notebook cell that ends with it shows the chart.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    import altair as alt

    controls = list(controls)
    if not controls or not all(isinstance(c, Control) for c in controls):
        raise ValueError("controls needs to be a non-empty list of slider()/select() controls")
    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"controls have repeated names: {names}")
    if not (isinstance(description, str) and description.strip()):
        raise ValueError("description is empty but needs to say what the chart shows")
    if not 1 <= int(digits) <= 17:
        raise ValueError(f"digits is {digits} but needs to be between 1 and 17")

    # Settings are numbered in row-major order over the controls, so the
    # number of the current one is sum(index_i * stride_i).
    sizes = [len(c.values) for c in controls]
    strides = [int(np.prod(sizes[i + 1:])) for i in range(len(sizes))]
    header: list[str] | None = None
    numeric: dict[str, bool] = {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = 0
    for key, indices in enumerate(itertools.product(*(range(n) for n in sizes))):
        setting = {c.name: c.values[i] for c, i in zip(controls, indices)}
        cols = _columns(compute(**setting), where=f"setting {setting}")
        if header is None:
            header = list(cols)
            numeric = {k: cols[k].dtype.kind in "iuf" for k in header}
            writer.writerow([_KEY] + header)
        elif list(cols) != header:
            raise ValueError(f"compute returned columns {list(cols)} for {setting} but "
                             f"{header} for the first setting")
        n = len(next(iter(cols.values())))
        for r in range(n):
            writer.writerow([key] + [_cell(cols[k][r], digits) for k in header])
        rows += n

    parse = {_KEY: "number", **{k: "number" for k in header if numeric[k]}}
    data = alt.InlineData(values=out.getvalue(), format=alt.DataFormat(type="csv", parse=parse))
    current = " + ".join(f"{_index_expression(c)} * {s}" for c, s in zip(controls, strides))
    base = alt.Chart(data).transform_filter(f"datum.{_KEY} == {current}")
    chart = draw(base)
    props = {"description": description}
    if title:
        props["title"] = title
    chart = chart.add_params(*[_param(c) for c in controls]).properties(**props)
    if isinstance(chart, (alt.Chart, alt.LayerChart)):
        # One view can stretch to the column; concatenated views keep the
        # sizes draw() gave them.
        chart = chart.properties(width=width, height=height).configure(
            autosize={"type": "fit-x", "contains": "padding"})
    # 13-px text stays at 8 px or more where a phone shows a chart at 0.6 of
    # its size (tests/test_site_build.py measures it).
    chart = chart.configure_axis(labelFontSize=13, titleFontSize=13) \
        .configure_legend(labelFontSize=13, titleFontSize=13, orient="bottom",
                          direction="vertical", columns=1, labelLimit=0)
    return Explorer(chart, int(np.prod(sizes)), rows, tuple(controls), out.getvalue())


class VegaLiteSiteRenderer:
    """MyST-NB plugin: writes Vega-Lite outputs into HTML pages for the site.

    Registered in ``pyproject.toml`` under ``myst_nb.mime_renderers``. The
    chart goes into the page as a JSON island inside a
    ``div.rnnbook-explorer``; ``book/_ext/explorers.js`` draws it. Other
    builders (LaTeX) keep choosing the plain-text form.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    mime_priority_overrides = [(b, VEGALITE_MIME, 0) for b in ("html", "dirhtml", "singlehtml")]

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        if data.mime_type != VEGALITE_MIME or inline:
            return None
        from docutils import nodes

        spec = data.content if isinstance(data.content, dict) else json.loads(data.content)
        # "</" would end the script element early.
        island = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
        label = html.escape(str(spec.get("description", "interactive chart")))
        page = (f'<div class="rnnbook-explorer" role="group" aria-label="{label}">'
                f'<script type="application/json" class="rnnbook-explorer-spec">{island}'
                "</script><noscript>This interactive figure needs JavaScript.</noscript></div>")
        return [nodes.raw("", page, format="html")]
