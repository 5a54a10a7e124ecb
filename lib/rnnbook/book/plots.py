"""Diagrams of recurrent networks, drawn with plain matplotlib patches.

The chapters draw the same few pictures again and again: a recurrent cell
with its loop, the same cell unrolled over T steps, and the input/output
patterns (one-to-many, many-to-one, ...). This module draws them from code,
so a figure always matches the sizes and labels the text uses.

Colours come from the Okabe-Ito palette, which stays distinguishable under
the common forms of colour blindness, and every box also carries a text
label, so no information is carried by colour alone.

Every function takes an optional ``ax`` and returns the figure it drew on;
none calls ``plt.show()``, so the caller decides how the figure is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

__all__ = [
    "OKABE_ITO",
    "ROLE_COLORS",
    "ChainLayout",
    "draw_rnn_chain",
    "draw_folded_rnn",
    "draw_unrolled_rnn",
    "draw_io_patterns",
    "GATE_COLORS",
    "draw_lstm_cell",
]

#: The Okabe-Ito colour-blind-safe palette (Okabe & Ito, 2008).
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Fill colour of each kind of box in the diagrams.
ROLE_COLORS = {
    "input": OKABE_ITO["orange"],
    "hidden": OKABE_ITO["sky_blue"],
    "decoder": OKABE_ITO["reddish_purple"],
    "output": OKABE_ITO["bluish_green"],
    "state0": "#DDDDDD",
}


@dataclass(frozen=True)
class ChainLayout:
    """Geometry shared by the diagrams, in data units.

    Attributes:
        dx: horizontal distance between neighbouring time steps.
        width, height: size of every box.
        y_in, y_hid, y_out: vertical centres of the input, hidden and output rows.
        fontsize: size of the labels inside boxes.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """

    dx: float = 1.6
    width: float = 0.9
    height: float = 0.55
    y_in: float = 0.0
    y_hid: float = 1.35
    y_out: float = 2.7
    fontsize: float = 12.0


def _box(ax, x, y, label, color, layout, *, dashed=False):
    """A rounded box centred at (x, y) with ``label`` inside it."""
    w, h = layout.width, layout.height
    ax.add_patch(FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h,
        boxstyle="round,pad=0.02,rounding_size=0.12",
        facecolor=color, edgecolor="black", linewidth=1.2,
        linestyle="--" if dashed else "-",
    ))
    ax.text(x, y, label, ha="center", va="center", fontsize=layout.fontsize)


def _arrow(ax, start, end, *, label=None, label_offset=(0.0, 0.0), style="-"):
    """A straight arrow from ``start`` to ``end`` with an optional label at its middle."""
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=13, linewidth=1.3,
        color="black", linestyle=style, shrinkA=0, shrinkB=0,
    ))
    if label:
        mx = (start[0] + end[0]) / 2 + label_offset[0]
        my = (start[1] + end[1]) / 2 + label_offset[1]
        ax.text(mx, my, label, ha="center", va="center", fontsize=10)


def _labels(labels, n, default):
    """``labels`` if given, else ``default(k)`` for the 1-based step k."""
    if labels is None:
        return [default(k) for k in range(1, n + 1)]
    labels = list(labels)
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but there are {n} steps")
    return labels


def _new_axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    ax.set_axis_off()
    ax.set_aspect("equal")
    return fig, ax


def draw_rnn_chain(
    ax,
    steps: int,
    inputs=None,
    outputs=None,
    *,
    x0: float = 0.0,
    h0: bool = False,
    decoder_from: int | None = None,
    weight_labels: bool = False,
    input_labels=None,
    hidden_labels=None,
    output_labels=None,
    layout: ChainLayout = ChainLayout(),
):
    """Draw a recurrent network unrolled over ``steps`` time steps onto ``ax``.

    Hidden states form a row of boxes joined by recurrent arrows; an input
    box sits below every step listed in ``inputs`` and an output box above
    every step listed in ``outputs``. Steps are numbered from 1, as in the
    book's prose.

    Args:
        ax: matplotlib Axes to draw on (not cleared first).
        steps: number of time steps T >= 1.
        inputs: iterable of steps that receive an input (default: all).
        outputs: iterable of steps that emit an output (default: all).
        x0: horizontal position of step 1.
        h0: also draw the initial state ``h_0`` left of step 1.
        decoder_from: if given, hidden boxes from this step on are drawn in
            the decoder colour (an encoder-decoder network).
        weight_labels: write W_xh, W_hh, W_hy next to the arrows.
        input_labels, hidden_labels, output_labels: text for each box, one
            per step (entries for steps without a box are ignored); default
            ``x_t``, ``h_t`` and ``y-hat_t``.
        layout: a :class:`ChainLayout` with the geometry.

    Returns:
        The x coordinates of the T hidden boxes, as a list.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    if steps < 1:
        raise ValueError(f"steps is {steps} but needs to be at least 1")
    all_steps = range(1, steps + 1)
    inputs = set(all_steps if inputs is None else inputs)
    outputs = set(all_steps if outputs is None else outputs)
    for name, chosen in (("inputs", inputs), ("outputs", outputs)):
        if not chosen <= set(all_steps):
            raise ValueError(f"{name} lists steps outside 1..{steps}: {sorted(chosen - set(all_steps))}")
    xl = _labels(input_labels, steps, lambda k: f"$x_{{{k}}}$")
    hl = _labels(hidden_labels, steps, lambda k: f"$h_{{{k}}}$")
    yl = _labels(output_labels, steps, lambda k: f"$\\hat{{y}}_{{{k}}}$")
    L = layout
    xs = [x0 + (k - 1) * L.dx for k in all_steps]
    half_w, half_h = L.width / 2, L.height / 2

    if h0:
        x_h0 = x0 - L.dx
        _box(ax, x_h0, L.y_hid, "$h_0$", ROLE_COLORS["state0"], L, dashed=True)
        _arrow(ax, (x_h0 + half_w, L.y_hid), (xs[0] - half_w, L.y_hid),
               label="$W_{hh}$" if weight_labels else None, label_offset=(0, 0.22))

    for k, x in zip(all_steps, xs):
        role = "decoder" if decoder_from is not None and k >= decoder_from else "hidden"
        _box(ax, x, L.y_hid, hl[k - 1], ROLE_COLORS[role], L)
        if k in inputs:
            _box(ax, x, L.y_in, xl[k - 1], ROLE_COLORS["input"], L)
            _arrow(ax, (x, L.y_in + half_h), (x, L.y_hid - half_h),
                   label="$W_{xh}$" if weight_labels else None, label_offset=(0.33, 0))
        if k in outputs:
            _box(ax, x, L.y_out, yl[k - 1], ROLE_COLORS["output"], L)
            _arrow(ax, (x, L.y_hid + half_h), (x, L.y_out - half_h),
                   label="$W_{hy}$" if weight_labels else None, label_offset=(0.33, 0))
        if k < steps:
            _arrow(ax, (x + half_w, L.y_hid), (x + L.dx - half_w, L.y_hid),
                   label="$W_{hh}$" if weight_labels else None, label_offset=(0, 0.22))
    return xs


def draw_folded_rnn(ax=None, *, x: float = 0.0, layout: ChainLayout = ChainLayout()):
    """Draw the compact ("folded") recurrent cell: x_t -> h_t -> y-hat_t with a loop.

    The loop on the right of the hidden box is the recurrent connection: the
    state computed at step t is fed back as ``h_{t-1}`` of step t + 1.

    Args:
        ax: Axes to draw on, or None for a new figure.
        x: horizontal centre of the cell.
        layout: a :class:`ChainLayout`.

    Returns:
        The matplotlib Figure.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    fig, ax = _new_axes(ax, (3, 4))
    L = layout
    half_w, half_h = L.width / 2, L.height / 2
    _box(ax, x, L.y_in, "$x_t$", ROLE_COLORS["input"], L)
    _box(ax, x, L.y_hid, "$h_t$", ROLE_COLORS["hidden"], L)
    _box(ax, x, L.y_out, "$\\hat{y}_t$", ROLE_COLORS["output"], L)
    _arrow(ax, (x, L.y_in + half_h), (x, L.y_hid - half_h), label="$W_{xh}$", label_offset=(-0.33, 0))
    _arrow(ax, (x, L.y_hid + half_h), (x, L.y_out - half_h), label="$W_{hy}$", label_offset=(-0.33, 0))
    # The loop leaves the right side low and comes back high, as one cubic curve.
    xr = x + half_w
    loop = Path(
        [(xr, L.y_hid - 0.12), (xr + 0.75, L.y_hid - 0.6), (xr + 0.75, L.y_hid + 0.6), (xr, L.y_hid + 0.12)],
        [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4],
    )
    ax.add_patch(FancyArrowPatch(path=loop, arrowstyle="-|>", mutation_scale=13,
                                 linewidth=1.3, color="black"))
    ax.text(xr + 0.72, L.y_hid, "$W_{hh}$", ha="left", va="center", fontsize=10)
    _fit(ax, x - 1.0, x + 1.6, L)
    return fig


def _fit(ax, xmin, xmax, layout, title_room=0.0):
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(layout.y_in - layout.height, layout.y_out + layout.height + title_room)


def draw_unrolled_rnn(T: int = 4, ax=None, *, folded: bool = True, h0: bool = True):
    """The folded cell (optional), an equals sign, and the network unrolled over T steps.

    Every arrow of one kind carries the same matrix: the unrolled picture is
    a deep feedforward network whose layers share their weights.

    Args:
        T: number of time steps to unroll (>= 1).
        ax: Axes to draw on, or None for a new figure sized to T.
        folded: draw the compact cell with its loop on the left.
        h0: draw the initial state ``h_0``.

    Returns:
        The matplotlib Figure.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    L = ChainLayout()
    left = 0.0
    start = 0.0
    if folded:
        start = 2.9 + (L.dx if h0 else 0.0)
    width = start + T * L.dx + 0.5
    fig, ax = _new_axes(ax, (min(1.2 + 1.55 * width, 14), 3.6))
    if folded:
        draw_folded_rnn(ax, x=left, layout=L)
        ax.text(left + 1.85, L.y_hid, "=", ha="center", va="center", fontsize=22)
    draw_rnn_chain(ax, T, x0=start, h0=h0, weight_labels=True, layout=L)
    xmin = left - 1.0 if folded else start - (L.dx if h0 else 0.0) - 0.7
    _fit(ax, xmin, start + (T - 1) * L.dx + 0.7, L)
    return fig


def draw_io_patterns(axes=None):
    """Five small diagrams: the input/output patterns of a recurrent network.

    one-to-one, one-to-many, many-to-one, many-to-many (one output per
    input, as in tagging) and encoder-decoder (read everything, then write).

    Args:
        axes: a sequence of five Axes, or None for a new one-row figure.

    Returns:
        The matplotlib Figure.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    L = ChainLayout(dx=1.25, width=0.8, height=0.5, fontsize=11)
    panels = [
        ("one-to-one", dict(steps=1)),
        ("one-to-many\n(e.g. captioning)", dict(steps=4, inputs=[1])),
        ("many-to-one\n(e.g. sentiment)", dict(steps=4, outputs=[4])),
        ("many-to-many\n(e.g. tagging)", dict(steps=4)),
        ("encoder-decoder\n(e.g. translation)",
         dict(steps=6, inputs=[1, 2, 3], outputs=[4, 5, 6], decoder_from=4,
              output_labels=["", "", "", "$\\hat{y}_{1}$", "$\\hat{y}_{2}$", "$\\hat{y}_{3}$"],
              hidden_labels=["$h_{1}$", "$h_{2}$", "$h_{3}$", "$s_{1}$", "$s_{2}$", "$s_{3}$"])),
    ]
    if axes is None:
        widths = [max(p[1]["steps"], 1) * L.dx + 0.5 for p in panels]
        fig, axes = plt.subplots(1, 5, figsize=(15, 3.4), gridspec_kw={"width_ratios": widths})
    else:
        if len(axes) != 5:
            raise ValueError(f"axes has {len(axes)} entries but the figure has 5 panels")
        fig = axes[0].figure
    for ax, (title, spec) in zip(axes, panels):
        ax.set_axis_off()
        ax.set_aspect("equal")
        draw_rnn_chain(ax, layout=L, **spec)
        _fit(ax, -L.width / 2 - 0.25, (spec["steps"] - 1) * L.dx + L.width / 2 + 0.25, L,
             title_room=0.1)
        ax.set_title(title, fontsize=11)
    return fig


# -- the LSTM cell ------------------------------------------------------------------

#: Fill colour of each LSTM gate in :func:`draw_lstm_cell` (and in plots of gate values).
GATE_COLORS = {
    "f": OKABE_ITO["vermillion"],
    "i": OKABE_ITO["bluish_green"],
    "g": OKABE_ITO["orange"],
    "o": OKABE_ITO["reddish_purple"],
}


def _node(ax, xy, symbol, radius=0.28):
    """A small circle holding an operation symbol (the point-wise x and +)."""
    ax.add_patch(plt.Circle(xy, radius, facecolor="white", edgecolor="black", linewidth=1.3,
                            zorder=3))
    ax.text(xy[0], xy[1], symbol, ha="center", va="center", fontsize=13, zorder=4)


def _line(ax, points, *, arrow=True, color="black", linewidth=1.3, zorder=1):
    """A polyline through ``points``; with an arrow head at its end if ``arrow``."""
    xs, ys = zip(*points)
    if len(points) > 2:
        ax.plot(xs[:-1], ys[:-1], color=color, linewidth=linewidth, solid_capstyle="butt",
                zorder=zorder)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>" if arrow else "-",
                                 mutation_scale=13, linewidth=linewidth, color=color,
                                 shrinkA=0, shrinkB=0, zorder=zorder))


def draw_lstm_cell(ax=None, *, labels: bool = True):
    """Draw one LSTM step: the cell-state belt on top, the four gates below it.

    The thick line along the top carries the cell state from ``c_{t-1}`` to
    ``c_t``; it meets only an element-wise product with the forget gate and
    an element-wise sum with the gated candidate. The thin line along the
    bottom brings ``h_{t-1}``, which joins ``x_t`` and feeds the four gate
    boxes; on the right, ``tanh(c_t)`` times the output gate gives ``h_t``,
    which leaves both to the right (the next step) and upwards (the output).

    Args:
        ax: Axes to draw on, or None for a new figure.
        labels: write the names of the gates under their boxes.

    Returns:
        The matplotlib Figure.

    Taught in: Chapter 4, Long short-term memory.
    """
    fig, ax = _new_axes(ax, (8.8, 5.2))
    belt_y, low_y, gate_y, mid_y = 5.0, 0.6, 2.0, 3.5
    ax.add_patch(FancyBboxPatch((0.4, 0.1), 11.0, 5.6, boxstyle="round,pad=0.02,rounding_size=0.4",
                                facecolor="#F2F2F2", edgecolor="#999999", linewidth=1.0,
                                zorder=0))
    # The cell-state belt: c_{t-1} -> x (forget) -> + (write) -> c_t.
    xf, xi, xg, xo = 2.0, 4.0, 5.8, 8.1
    _line(ax, [(-0.6, belt_y), (xf - 0.28, belt_y)], arrow=False, linewidth=3.2)
    _line(ax, [(xf + 0.28, belt_y), (xg - 0.28, belt_y)], arrow=False, linewidth=3.2)
    _line(ax, [(xg + 0.28, belt_y), (12.4, belt_y)], linewidth=3.2)
    _node(ax, (xf, belt_y), r"$\times$")
    _node(ax, (xg, belt_y), "$+$")
    ax.text(-0.6, belt_y + 0.3, "$c_{t-1}$", ha="left", va="bottom", fontsize=13)
    ax.text(12.4, belt_y + 0.3, "$c_t$", ha="right", va="bottom", fontsize=13)
    # h_{t-1} enters at the bottom left and x_t from below; together they feed every gate.
    _line(ax, [(-0.6, low_y), (0.9, low_y), (0.9, gate_y - 0.9), (xo, gate_y - 0.9)],
          arrow=False)
    ax.text(-0.6, low_y - 0.3, "$h_{t-1}$", ha="left", va="top", fontsize=13)
    _line(ax, [(1.5, -0.7), (1.5, gate_y - 0.9)], arrow=False)
    ax.text(1.5, -0.8, "$x_t$", ha="center", va="top", fontsize=13)
    # Each name sits beside its box, on the side where no line runs.
    boxes = [(xf, "f", r"$\sigma$", "forget\n$f_t$", "right"),
             (xi, "i", r"$\sigma$", "input\n$i_t$", "right"),
             (xg, "g", r"$\tanh$", "candidate\n$\\tilde c_t$", "left"),
             (xo, "o", r"$\sigma$", "output\n$o_t$", "left")]
    for x, key, fn, name, align in boxes:
        _line(ax, [(x, gate_y - 0.9), (x, gate_y - 0.3)])
        ax.add_patch(FancyBboxPatch((x - 0.45, gate_y - 0.3), 0.9, 0.6,
                                    boxstyle="round,pad=0.02,rounding_size=0.1",
                                    facecolor=GATE_COLORS[key], edgecolor="black",
                                    linewidth=1.2, zorder=2))
        ax.text(x, gate_y, fn, ha="center", va="center", fontsize=12, zorder=3)
        if labels:
            side = -0.55 if align == "right" else 0.55
            ax.text(x + side, gate_y, name, ha=align, va="center", fontsize=9.5,
                    linespacing=1.1)
    # Forget gate straight up to the belt.
    _line(ax, [(xf, gate_y + 0.3), (xf, belt_y - 0.28)])
    # Input gate and candidate meet in a product, which is added to the belt.
    _node(ax, (xg, mid_y), r"$\times$")
    _line(ax, [(xi, gate_y + 0.3), (xi, mid_y), (xg - 0.28, mid_y)])
    _line(ax, [(xg, gate_y + 0.3), (xg, mid_y - 0.28)])
    _line(ax, [(xg, mid_y + 0.28), (xg, belt_y - 0.28)])
    # Output: tanh of the new cell state, gated by o_t.
    xt = 10.0
    _line(ax, [(xt, belt_y), (xt, 4.1 + 0.25)])
    ax.add_patch(FancyBboxPatch((xt - 0.45, 3.85 - 0.25), 0.9, 0.5,
                                boxstyle="round,pad=0.02,rounding_size=0.2",
                                facecolor="white", edgecolor="black", linewidth=1.2, zorder=2))
    ax.text(xt, 3.85, r"$\tanh$", ha="center", va="center", fontsize=11, zorder=3)
    _node(ax, (xt, 2.6), r"$\times$")
    _line(ax, [(xt, 3.6), (xt, 2.6 + 0.28)])
    _line(ax, [(xo, gate_y + 0.3), (xo, 2.6), (xt - 0.28, 2.6)])
    # h_t leaves to the right (next step) and upwards (the output of this step).
    _line(ax, [(xt, 2.6 - 0.28), (xt, low_y), (12.4, low_y)])
    _line(ax, [(10.9, low_y), (10.9, 6.4)])
    ax.text(12.4, low_y - 0.3, "$h_t$", ha="right", va="top", fontsize=13)
    ax.text(11.05, 6.4, "$h_t$", ha="left", va="top", fontsize=13)
    ax.set_xlim(-0.8, 12.6)
    ax.set_ylim(-1.3, 6.6)
    return fig
