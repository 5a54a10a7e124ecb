"""Interactive explorers for the book's notebooks.

Each explorer has a plain function that computes what it shows for one
setting of its controls (:func:`rnn_gradient_profile`,
:func:`lstm_gate_traces`) and a matplotlib drawing of one setting, for the
static figures beside it and for tests. The explorers themselves
(:func:`gradient_lag_explorer`, :func:`lstm_gate_explorer`) compute every
setting on a grid of slider positions once and hand the results to
:func:`rnnbook.book.explorers.grid_explorer`, which makes a Vega-Lite chart whose
sliders work on the static site without a kernel.

Figures are built with :class:`matplotlib.figure.Figure` rather than
``pyplot`` so that drawing never leaves stray figures behind for the
notebook to show twice.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rnnbook.checks import Shapes, check_cell_params
from rnnbook.book.diagnostics import gradient_norms_by_lag, saturation_fraction
from rnnbook.nn.init import set_spectral_radius
from rnnbook.nn.lstm import lstm_forward
from rnnbook.nn.rnn import rnn_forward

__all__ = ["rnn_gradient_profile", "draw_gradient_profile", "gradient_lag_explorer",
           "lstm_gate_traces", "draw_gate_traces", "lstm_gate_explorer"]

# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
_BLUE, _ORANGE, _GREY = "#0072B2", "#E69F00", "#999999"


def rnn_gradient_profile(Wh, Wx, x, rho: float, input_scale: float = 1.0, b=None) -> dict:
    """Gradient norm against lag for a tanh RNN with a chosen spectral radius.

    The recurrent matrix is ``Wh`` rescaled to spectral radius ``rho`` and
    the input matrix is ``input_scale * Wx``; everything else is fixed, so
    the two numbers are the only things that change between calls. The loss
    sits on the last hidden state (see
    :func:`rnnbook.book.diagnostics.gradient_norms_by_lag`).

    Args:
        Wh: recurrent matrix, (H, H), with a nonzero eigenvalue.
        Wx: input matrix, (D, H).
        x: inputs, (N, T, D).
        rho: spectral radius to give ``Wh``, >= 0.
        input_scale: factor on ``Wx``, >= 0.
        b: bias (H,); ``None`` means zeros.

    Returns:
        dict with ``lags`` (T + 1,), ``median``, ``q25``, ``q75`` (T + 1,)
        (over the N examples) and ``saturation`` (share of ``|h| > 0.99``
        over all units, steps and examples, a float).

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    s = Shapes()
    Wh = s.check("Wh", Wh, ("H", "H"))
    Wx = s.check("Wx", Wx, ("D", "H"))
    x = s.check("x", x, ("N", "T", "D"))
    b = np.zeros(s["H"], dtype=Wh.dtype) if b is None else s.check("b", b, ("H",))
    if input_scale < 0:
        raise ValueError(f"input_scale is {input_scale} but needs to be >= 0")
    params = {"Wx": Wx * input_scale, "Wh": set_spectral_radius(Wh, rho), "b": b}
    lags, norms = gradient_norms_by_lag("rnn", params, x)
    h, _ = rnn_forward(x, np.zeros((s["N"], s["H"]), dtype=x.dtype), **params)
    q25, median, q75 = np.percentile(norms, [25, 50, 75], axis=0)
    return {"lags": lags, "median": median, "q25": q25, "q75": q75,
            "saturation": saturation_fraction(h)}


def draw_gradient_profile(profile: dict, rho: float, ax=None, *, ylim=(1e-16, 1e16)):
    """Draw one profile from :func:`rnn_gradient_profile` on a log axis.

    The median gradient norm is a solid line with the middle half of the
    examples shaded; the dashed line ``rho ** lag`` is what the linear
    recurrence alone would give, so the gap between the two is the share of
    tanh saturation.

    Args:
        profile: dict from :func:`rnn_gradient_profile`.
        rho: the spectral radius it was computed with (for the reference line).
        ax: matplotlib Axes; ``None`` creates a new figure.
        ylim: fixed y-limits, so that curves can be compared between redraws.

    Returns:
        the matplotlib Axes.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    if ax is None:
        ax = Figure(figsize=(6.4, 3.8), layout="constrained").add_subplot()
    lags = profile["lags"]
    # Zeros (an underflowed gradient) cannot be shown on a log axis.
    floor = ylim[0] * 1e-3
    ax.fill_between(lags, np.maximum(profile["q25"], floor), np.maximum(profile["q75"], floor),
                    color=_BLUE, alpha=0.25, linewidth=0, label="middle half of the batch")
    ax.plot(lags, np.maximum(profile["median"], floor), color=_BLUE, linewidth=2,
            label=r"median $\|\partial L/\partial h_{T-k}\|$")
    with np.errstate(divide="ignore", over="ignore"):
        reference = np.clip(float(rho) ** lags.astype(np.float64), floor, 1e300)
    ax.plot(lags, reference, color=_ORANGE, linestyle="--", linewidth=1.5,
            label=rf"linear regime $\rho^k$, $\rho = {rho:.2f}$")
    ax.axhline(1.0, color=_GREY, linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylim(*ylim)
    ax.set_xlim(lags[0], lags[-1])
    ax.set_xlabel("lag $k$ (steps back from the last state)")
    ax.set_ylabel("gradient norm")
    ax.set_title(f"share of saturated units (|h| > 0.99): {profile['saturation']:.1%}",
                 fontsize="medium")
    ax.legend(loc="lower left", fontsize="small")
    return ax


def _grid(rng, what: str) -> np.ndarray:
    """The values of a (min, max, step) range, both ends included."""
    lo, hi, step = (float(v) for v in rng)
    if not (step > 0 and hi > lo):
        raise ValueError(f"{what} is {tuple(rng)} but needs to be (min, max, step) with "
                         "max > min and step > 0")
    n = int(round((hi - lo) / step))
    if not np.isclose(lo + n * step, hi):
        raise ValueError(f"{what} is {tuple(rng)} but max - min needs to be a multiple of step")
    return lo + step * np.arange(n + 1)


def gradient_lag_explorer(Wh, Wx, x, *, rho: float = 1.0, rho_range=(0.25, 2.5, 0.125),
                          input_scale: float = 1.0, scale_range=(0.0, 8.0, 1.0), b=None,
                          lag_step: int = 2):
    """Sliders for the spectral radius and the input scale over the gradient profile.

    Every slider position is computed here, once, with
    :func:`rnn_gradient_profile`; the chart (see :mod:`rnnbook.book.explorers`)
    then shows the median gradient norm against the lag, the middle half of
    the batch, the linear-regime line ``rho ** lag`` and the share of
    saturated units for the chosen setting, on the static site as well as in
    a notebook.

    Args:
        Wh: recurrent matrix, (H, H); rescaled to each slider value of rho.
        Wx: input matrix, (D, H); multiplied by the input-scale slider.
        x: inputs, (N, T, D); every grid point runs the network once, so keep
            N * T modest (say N = 16, T = 60).
        rho: initial spectral radius (a point of ``rho_range``).
        rho_range: (min, max, step) of the spectral-radius slider.
        input_scale: initial input scale (a point of ``scale_range``).
        scale_range: (min, max, step) of the input-scale slider.
        b: bias (H,); ``None`` means zeros.
        lag_step: keep every ``lag_step``-th lag (a lighter page).

    Returns:
        a :class:`rnnbook.book.explorers.Explorer`; the last line of a cell shows it.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    import altair as alt

    from rnnbook.book.explorers import grid_explorer, slider

    # Fail now, with the library's message, rather than at every grid point.
    rnn_gradient_profile(Wh, Wx, x[:1, :1], rho, input_scale, b)
    if not (isinstance(lag_step, (int, np.integer)) and lag_step >= 1):
        raise ValueError(f"lag_step is {lag_step!r} but needs to be an integer >= 1")
    floor, top = 1e-16, 1e16

    def profile(rho, input_scale):
        p = rnn_gradient_profile(Wh, Wx, x, rho, input_scale, b)
        keep = slice(None, None, int(lag_step))
        lags = p["lags"][keep]
        with np.errstate(divide="ignore", over="ignore"):
            linear = float(rho) ** lags.astype(np.float64)
            logs = {k: np.log10(np.clip(p[k][keep], floor / 10, top * 10))
                    for k in ("median", "q25", "q75")}
            linear = np.log10(np.clip(linear, floor / 10, top * 10))
        return {"lag": lags, **logs, "linear": linear, "saturation": p["saturation"]}

    def draw(base):
        lo, hi = int(np.log10(floor)), int(np.log10(top))
        y_scale = alt.Scale(domain=[lo, hi], clamp=True)
        x = alt.X("lag:Q", title="lag k (steps back from the last state)")
        band = base.mark_area(opacity=0.25, color=_BLUE, clip=True).encode(
            x=x, y=alt.Y("q25:Q", scale=y_scale), y2="q75:Q")
        names = {"median": "median gradient norm (band: middle half of the batch)",
                 "linear": "linear regime, rho to the power k"}
        lines = base.transform_fold(["median", "linear"], as_=["curve", "value"]).transform_calculate(
            curve="datum.curve == 'median' ? '%s' : '%s'" % (names["median"], names["linear"])
        ).mark_line(clip=True, strokeWidth=2).encode(
            x=x,
            y=alt.Y("value:Q", scale=y_scale, title="gradient norm",
                    axis=alt.Axis(values=list(range(lo, hi + 1, 4)),
                                  labelExpr="datum.value == 0 ? '1' : '1e' + datum.value")),
            color=alt.Color("curve:N", title=None, scale=alt.Scale(
                domain=list(names.values()), range=[_BLUE, _ORANGE])),
            strokeDash=alt.StrokeDash("curve:N", title=None, scale=alt.Scale(
                domain=list(names.values()), range=[[1, 0], [6, 4]])))
        one = base.transform_filter("datum.lag == 0").mark_rule(color=_GREY).encode(
            y=alt.datum(0))
        note = base.transform_filter("datum.lag == 0").transform_calculate(
            text="'saturated units (|h| > 0.99): ' + format(datum.saturation, '.1%')"
        ).mark_text(align="left", baseline="bottom", fontSize=13).encode(
            x=alt.value(0), y=alt.value(-6), text="text:N")
        return alt.layer(band, one, lines, note)

    return grid_explorer(
        profile,
        [slider("rho", _grid(rho_range, "rho_range"), "spectral radius ρ", initial=rho),
         slider("input_scale", _grid(scale_range, "scale_range"), "input scale",
                initial=input_scale)],
        draw,
        description=("Gradient norm of a tanh RNN against the lag on a log axis, for the "
                     "spectral radius and input scale chosen with the two sliders: the "
                     "median over the batch with the middle half shaded, the line rho to "
                     "the power k of the linear regime, and the share of saturated units."),
        height=280)


# -- the LSTM gate explorer ---------------------------------------------------------

_GREEN, _VERMILLION, _PURPLE, _BLACK = "#009E73", "#D55E00", "#CC79A7", "#000000"


def lstm_gate_traces(x, Wx, Wh, b, *, input_bias=None, forget_bias=None, output_bias=None,
                     input_scale: float = 1.0) -> dict:
    """Gates and states of an LSTM over a fixed input, with chosen gate biases.

    The three ``*_bias`` arguments overwrite the whole bias block of their
    gate (every unit gets the same value); ``None`` keeps the block of ``b``.
    ``input_scale`` multiplies all of ``Wx``, so it makes every gate and the
    candidate react more (or less) strongly to the input. Nothing else
    changes between calls, so two calls differ only in the knobs turned.

    Args:
        x: inputs, (N, T, D).
        Wx: (D, 4H), blocks [i | f | g | o] as in :mod:`rnnbook.nn.lstm`.
        Wh: (H, 4H).
        b: (4H,).
        input_bias, forget_bias, output_bias: floats or None.
        input_scale: factor on ``Wx``, >= 0.

    Returns:
        dict with ``i``, ``f``, ``g``, ``o``, ``c``, ``h``, each (N, T, H),
        and ``b``, the bias actually used, (4H,).

    Taught in: Chapter 4, Long short-term memory.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 4, Wx=Wx, Wh=Wh, b=b)
    x = s.check("x", x, ("N", "T", "D"))
    if input_scale < 0:
        raise ValueError(f"input_scale is {input_scale} but needs to be >= 0")
    H = s["H"]
    b = b.copy()
    for k, value in ((0, input_bias), (1, forget_bias), (3, output_bias)):
        if value is not None:
            b[k * H:(k + 1) * H] = value
    h, cache = lstm_forward(x, np.zeros((s["N"], H), dtype=x.dtype), Wx * input_scale, Wh, b)
    out = {name: np.array(getattr(cache, name)) for name in ("i", "f", "g", "o", "c")}
    out["h"] = h
    out["b"] = b
    return out


def draw_gate_traces(traces: dict, axes=None, *, n: int = 0, unit: int = 0, marks=None):
    """Draw one unit's gates (top) and candidate, cell and hidden state (bottom).

    Args:
        traces: dict from :func:`lstm_gate_traces`.
        axes: two matplotlib Axes (top, bottom); ``None`` creates a figure.
        n: which sequence of the batch to draw.
        unit: which hidden unit to draw.
        marks: optional steps (0-based) to mark with dotted vertical lines,
            e.g. where the input carries a marker.

    Returns:
        the two Axes.

    Taught in: Chapter 4, Long short-term memory.
    """
    if axes is None:
        fig = Figure(figsize=(6.4, 4.4), layout="constrained")
        axes = fig.subplots(2, 1, sharex=True)
    top, bottom = axes
    N, T, H = traces["c"].shape
    if not (0 <= n < N and 0 <= unit < H):
        raise ValueError(f"n = {n} and unit = {unit} need 0 <= n < {N} and 0 <= unit < {H}")
    steps = np.arange(1, T + 1)
    for key, color, label in (("i", _GREEN, "input gate $i_t$"),
                              ("f", _VERMILLION, "forget gate $f_t$"),
                              ("o", _PURPLE, "output gate $o_t$")):
        top.plot(steps, traces[key][n, :, unit], color=color, linewidth=1.8, label=label)
    top.set_ylim(-0.05, 1.05)
    top.set_ylabel("gate value")
    for key, color, style, label in (("g", _ORANGE, ":", r"candidate $\tilde c_t$"),
                                     ("c", _BLUE, "-", "cell state $c_t$"),
                                     ("h", _BLACK, "--", "hidden state $h_t$")):
        bottom.plot(steps, traces[key][n, :, unit], color=color, linestyle=style, linewidth=1.8,
                    label=label)
    bottom.axhline(0.0, color=_GREY, linewidth=0.8)
    bottom.set_xlabel("step $t$")
    bottom.set_ylabel("value")
    for ax in axes:
        for m in marks if marks is not None else ():
            ax.axvline(m + 1, color=_GREY, linestyle=":", linewidth=1.2)
        # Beside the panel, not on it: a gate sits anywhere in [0, 1], so no
        # corner of the panel is reliably free of data.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.set_xlim(steps[0] - 0.5, steps[-1] + 0.5)
    return axes


def lstm_gate_explorer(x, Wx, Wh, b, *, input_bias: float = 0.0, forget_bias: float = 1.0,
                       output_bias: float = 0.0, input_range=(-6.0, 6.0, 3.0),
                       forget_range=(-2.0, 8.0, 1.0), output_range=(-6.0, 6.0, 4.0),
                       input_scale: float = 1.0, n: int = 0, unit: int = 0, marks=None):
    """Sliders for the three gate biases over one unit's gates and states.

    Every slider position is computed here, once, with
    :func:`lstm_gate_traces`; the chart (see :mod:`rnnbook.book.explorers`) shows
    the input, forget and output gates (top) and the candidate, cell state
    and hidden state (bottom) of one unit for the chosen biases, on the
    static site as well as in a notebook.

    Args:
        x: inputs, (N, T, D); one short sequence (T up to ~100) keeps the page light.
        Wx, Wh, b: LSTM parameters, (D, 4H), (H, 4H), (4H,).
        input_bias, forget_bias, output_bias: initial slider values, points of
            their ranges (each overwrites its gate's whole bias block, see
            :func:`lstm_gate_traces`).
        input_range, forget_range, output_range: (min, max, step) of the
            three sliders; the grid has one setting per combination.
        input_scale: factor on ``Wx``, fixed.
        n: which sequence of the batch to draw.
        unit: which hidden unit to draw.
        marks: optional steps (0-based) to mark with dotted vertical lines.

    Returns:
        a :class:`rnnbook.book.explorers.Explorer`; the last line of a cell shows it.

    Taught in: Chapter 4, Long short-term memory.
    """
    import altair as alt

    from rnnbook.book.explorers import grid_explorer, slider

    # Fail now, with the library's message, rather than at every grid point.
    first = lstm_gate_traces(x[:1, :1], Wx, Wh, b, input_scale=input_scale)
    if not (0 <= n < len(x) and 0 <= unit < first["c"].shape[2]):
        raise ValueError(f"n = {n} or unit = {unit} is outside the batch or the hidden units")
    T = np.shape(x)[1]
    marks = [] if marks is None else [int(m) for m in marks]
    if any(not 0 <= m < T for m in marks):
        raise ValueError(f"marks are {marks} but need to be steps in [0, {T})")
    gates = {"i": "input gate i", "f": "forget gate f", "o": "output gate o"}
    states = {"g": "candidate c~", "c": "cell state c", "h": "hidden state h"}

    def traces(input_bias, forget_bias, output_bias):
        tr = lstm_gate_traces(x[n:n + 1], Wx, Wh, b, input_bias=input_bias,
                              forget_bias=forget_bias, output_bias=output_bias,
                              input_scale=input_scale)
        return {"step": np.arange(1, T + 1),
                **{k: tr[k][0, :, unit] for k in (*gates, *states)}}

    def panel(base, names, colors, dashes, title, domain=None):
        scale = alt.Scale(domain=list(names.values()), range=colors)
        # A gate at exactly 0 or 1 (a saturated forget gate, say) would lie on
        # the frame of the panel and disappear into it; a little room shows it.
        padded = [domain[0] - 0.05, domain[1] + 0.05] if domain else None
        y_scale = (alt.Scale(domain=padded, clamp=True, nice=False) if domain
                   else alt.Scale(zero=True))
        lines = base.transform_fold(list(names), as_=["key", "value"]).transform_calculate(
            curve=" : ".join(f"datum.key == '{k}' ? '{v}'" for k, v in names.items())
            + " : ''").mark_line(strokeWidth=2, clip=True).encode(
            x=alt.X("step:Q", title="step t", scale=alt.Scale(domain=[0.5, T + 0.5], nice=False)),
            y=alt.Y("value:Q", title=title, scale=y_scale),
            color=alt.Color("curve:N", title=None, scale=scale,
                            # Above its panel, off the data, and within the
                            # panel's width, so that the chart stays narrow
                            # enough for a phone.
                            legend=alt.Legend(orient="top", direction="horizontal",
                                              columns=3)),
            strokeDash=alt.StrokeDash("curve:N", title=None, scale=alt.Scale(
                domain=list(names.values()), range=dashes)))
        layers = [lines]
        if marks:
            rules = alt.Chart(alt.Data(values=[{"step": m + 1} for m in marks])).mark_rule(
                color=_GREY, strokeDash=[2, 3]).encode(x="step:Q")
            layers.insert(0, rules)
        return alt.layer(*layers).properties(width=460, height=170)

    def draw(base):
        top = panel(base, gates, [_GREEN, _VERMILLION, _PURPLE], [[1, 0], [1, 0], [1, 0]],
                    "gate value", domain=[0, 1])
        bottom = panel(base, states, [_ORANGE, _BLUE, "#777777"], [[2, 2], [1, 0], [6, 4]],
                       "value")
        return alt.vconcat(top, bottom).resolve_scale(color="independent",
                                                      strokeDash="independent")

    values = {"input_bias": _grid(input_range, "input_range"),
              "forget_bias": _grid(forget_range, "forget_range"),
              "output_bias": _grid(output_range, "output_range")}
    initial = {"input_bias": input_bias, "forget_bias": forget_bias,
               "output_bias": output_bias}
    labels = {"input_bias": "input bias", "forget_bias": "forget bias",
              "output_bias": "output bias"}
    return grid_explorer(
        traces,
        [slider(k, values[k], labels[k], initial=initial[k]) for k in values],
        draw,
        description=("One LSTM unit over one input sequence, for the gate biases chosen "
                     "with the three sliders: the input, forget and output gates over the "
                     "steps in the upper panel, and the candidate, the cell state and the "
                     "hidden state in the lower panel; dotted lines mark the marked steps."),
        digits=3)
