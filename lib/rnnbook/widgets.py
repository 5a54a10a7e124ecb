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

from rnnbook._checks import Shapes
from rnnbook.diagnostics import gradient_norms_by_lag, saturation_fraction
from rnnbook.init import set_spectral_radius
from rnnbook.rnn import rnn_forward

__all__ = ["rnn_gradient_profile", "draw_gradient_profile", "gradient_lag_explorer"]

# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
_BLUE, _ORANGE, _GREY = "#0072B2", "#E69F00", "#999999"


def rnn_gradient_profile(Wh, Wx, x, rho: float, input_scale: float = 1.0, b=None) -> dict:
    """Gradient norm against lag for a tanh RNN with a chosen spectral radius.

    The recurrent matrix is ``Wh`` rescaled to spectral radius ``rho`` and
    the input matrix is ``input_scale * Wx``; everything else is fixed, so
    the two numbers are the only things that change between calls. The loss
    sits on the last hidden state (see
    :func:`rnnbook.diagnostics.gradient_norms_by_lag`).

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
