"""Interactive explorers (ipywidgets) for the book's notebooks.

Each explorer is a plain function that draws one matplotlib figure for a
given setting of its parameters, wrapped in sliders. The drawing function is
public too, so a notebook can put a static figure of the same kind next to
the widget (the static web site has no kernel to run the sliders), and the
tests can check the drawing without a browser.

Figures are built with :class:`matplotlib.figure.Figure` rather than
``pyplot`` so that redrawing never leaves stray figures behind for the
notebook to show twice.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rnnbook.checks import Shapes
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


def gradient_lag_explorer(Wh, Wx, x, *, rho: float = 1.0, rho_range=(0.25, 2.5, 0.05),
                          input_scale: float = 1.0, scale_range=(0.0, 8.0, 0.25), b=None):
    """Sliders for the spectral radius and the input scale, redrawing the gradient profile.

    Args:
        Wh: recurrent matrix, (H, H); rescaled to each slider value of rho.
        Wx: input matrix, (D, H); multiplied by the input-scale slider.
        x: inputs, (N, T, D); keep N * T modest (say N = 16, T = 60) so that
            a redraw takes a fraction of a second.
        rho: initial spectral radius.
        rho_range: (min, max, step) of the spectral-radius slider.
        input_scale: initial input scale.
        scale_range: (min, max, step) of the input-scale slider.
        b: bias (H,); ``None`` means zeros.

    Returns:
        an ``ipywidgets.VBox`` holding the two sliders and the figure.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    import ipywidgets as widgets
    from IPython.display import display

    # Fail now, with the library's message, rather than inside the callback.
    rnn_gradient_profile(Wh, Wx, x[:1, :1], rho, input_scale, b)
    rho_slider = widgets.FloatSlider(
        value=rho, min=rho_range[0], max=rho_range[1], step=rho_range[2],
        description="ρ(W_hh)", continuous_update=False, readout_format=".2f")
    scale_slider = widgets.FloatSlider(
        value=input_scale, min=scale_range[0], max=scale_range[1], step=scale_range[2],
        description="input scale", continuous_update=False, readout_format=".2f")

    def redraw(rho, input_scale):
        ax = draw_gradient_profile(rnn_gradient_profile(Wh, Wx, x, rho, input_scale, b), rho)
        display(ax.figure)

    out = widgets.interactive_output(redraw, {"rho": rho_slider, "input_scale": scale_slider})
    return widgets.VBox([widgets.HBox([rho_slider, scale_slider]), out])


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
    Wh = s.check("Wh", Wh, ("H", "4*H"))
    Wx = s.check("Wx", Wx, ("D", "4*H"))
    b = s.check("b", b, ("4*H",))
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
        ax.legend(loc="upper left", fontsize="x-small", ncol=3)
        ax.set_xlim(steps[0] - 0.5, steps[-1] + 0.5)
    return axes


def lstm_gate_explorer(x, Wx, Wh, b, *, input_bias: float = 0.0, forget_bias: float = 1.0,
                       output_bias: float = 0.0, input_scale: float = 1.0,
                       bias_range=(-6.0, 6.0, 0.25), scale_range=(0.0, 3.0, 0.1),
                       n: int = 0, unit: int = 0, marks=None):
    """Sliders for the gate biases and the input scale, redrawing one unit's traces.

    Args:
        x: inputs, (N, T, D); a short batch (N of 1 to a few, T up to ~100)
            keeps redraws instant.
        Wx, Wh, b: LSTM parameters, (D, 4H), (H, 4H), (4H,).
        input_bias, forget_bias, output_bias: initial slider values (each
            overwrites its gate's whole bias block, see :func:`lstm_gate_traces`).
        input_scale: initial value of the factor on ``Wx``.
        bias_range: (min, max, step) of the three bias sliders.
        scale_range: (min, max, step) of the input-scale slider.
        n, unit, marks: passed to :func:`draw_gate_traces`.

    Returns:
        an ``ipywidgets.VBox`` with the four sliders and the figure.

    Taught in: Chapter 4, Long short-term memory.
    """
    import ipywidgets as widgets
    from IPython.display import display

    # Fail now, with the library's message, rather than inside the callback.
    first = lstm_gate_traces(x[:1, :1], Wx, Wh, b, input_scale=input_scale)
    if not (0 <= n < len(x) and 0 <= unit < first["c"].shape[2]):
        raise ValueError(f"n = {n} or unit = {unit} is outside the batch or the hidden units")

    def slider(value, rng, label):
        return widgets.FloatSlider(value=value, min=rng[0], max=rng[1], step=rng[2],
                                   description=label, continuous_update=False,
                                   readout_format=".2f")

    sliders = {
        "input_bias": slider(input_bias, bias_range, "input bias"),
        "forget_bias": slider(forget_bias, bias_range, "forget bias"),
        "output_bias": slider(output_bias, bias_range, "output bias"),
        "input_scale": slider(input_scale, scale_range, "input scale"),
    }

    def redraw(**knobs):
        top, _ = draw_gate_traces(lstm_gate_traces(x, Wx, Wh, b, **knobs), n=n, unit=unit,
                                  marks=marks)
        display(top.figure)

    out = widgets.interactive_output(redraw, sliders)
    rows = [widgets.HBox([sliders["input_bias"], sliders["forget_bias"]]),
            widgets.HBox([sliders["output_bias"], sliders["input_scale"]])]
    return widgets.VBox(rows + [out])
