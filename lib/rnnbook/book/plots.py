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
    "LSTM_GATES",
    "draw_lstm_cell",
    "GRU_GATE_COLORS",
    "GRU_GATES",
    "draw_gru_cell",
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
        width: width of every box.
        height: height of every box.
        y_in: vertical centre of the input row.
        y_hid: vertical centre of the hidden row.
        y_out: vertical centre of the output row.
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
        input_labels: text of each input box, one per step (entries for
            steps without a box are ignored); default ``x_t``.
        hidden_labels: the same for the hidden boxes; default ``h_t``.
        output_labels: the same for the output boxes; default ``y-hat_t``.
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
              hidden_labels=["$h_{1}$", "$h_{2}$", "$h_{3}$", "$d_{1}$", "$d_{2}$", "$d_{3}$"])),
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


def _node(ax, xy, symbol, radius=0.28, *, edgecolor="black", linewidth=1.3, textcolor="black"):
    """A small circle holding an operation symbol (the point-wise x and +)."""
    ax.add_patch(plt.Circle(xy, radius, facecolor="white", edgecolor=edgecolor,
                            linewidth=linewidth, zorder=3))
    ax.text(xy[0], xy[1], symbol, ha="center", va="center", fontsize=13, zorder=4,
            color=textcolor)


def _line(ax, points, *, arrow=True, color="black", linewidth=1.3, zorder=1):
    """A polyline through ``points``; with an arrow head at its end if ``arrow``."""
    xs, ys = zip(*points)
    if len(points) > 2:
        ax.plot(xs[:-1], ys[:-1], color=color, linewidth=linewidth, solid_capstyle="butt",
                zorder=zorder)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>" if arrow else "-",
                                 mutation_scale=13, linewidth=linewidth, color=color,
                                 shrinkA=0, shrinkB=0, zorder=zorder))


#: Colours of the parts of a diagram that a highlight leaves in the background.
MUTED = {"line": "#BBBBBB", "fill": "#EBEBEB", "edge": "#AAAAAA", "text": "#999999"}

#: The gates :func:`draw_lstm_cell` can highlight, by name, and their key in GATE_COLORS.
LSTM_GATES = {"forget": "f", "input": "i", "candidate": "g", "output": "o"}


def _highlight_key(highlight, gates, function):
    """The short key of the gate named ``highlight`` (None stays None)."""
    if highlight is None:
        return None
    if highlight not in gates:
        options = ", ".join(repr(name) for name in gates)
        raise ValueError(f"{function}: highlight is {highlight!r} but needs to be None or one "
                         f"of {options}")
    return gates[highlight]


class _Painter:
    """Colours for one diagram: every part in black, or only the highlighted parts in colour.

    ``parts`` are the names of the lines, nodes and boxes that belong to the
    highlighted gate; ``color`` is that gate's colour. With no highlight
    (``color=None``) everything is drawn as in the plain diagram.
    """

    def __init__(self, color=None, parts=()):
        self.color, self.parts = color, set(parts)

    def on(self, part):
        return self.color is not None and part in self.parts

    def line(self, part, width=1.3):
        """Keyword arguments for :func:`_line` for the part named ``part``."""
        if self.color is None:
            return dict(color="black", linewidth=width)
        if part in self.parts:
            return dict(color=self.color, linewidth=max(width, 2.4), zorder=1.5)
        return dict(color=MUTED["line"], linewidth=width)

    def node(self, part):
        """Keyword arguments for :func:`_node`."""
        if self.color is None:
            return {}
        if part in self.parts:
            return dict(edgecolor=self.color, linewidth=2.6)
        return dict(edgecolor=MUTED["edge"], textcolor=MUTED["text"])

    def box(self, part, fill):
        """(facecolor, edgecolor, text colour) of a box whose own colour is ``fill``."""
        if self.color is None or part in self.parts:
            return fill, "black", "black"
        return MUTED["fill"], MUTED["edge"], MUTED["text"]


def _gate_box(ax, x, y, symbol, fill, paint, part, *, width=0.9, height=0.6, rounding=0.1,
              fontsize=12):
    face, edge, text = paint.box(part, fill)
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle=f"round,pad=0.02,rounding_size={rounding}",
                                facecolor=face, edgecolor=edge,
                                linewidth=2.0 if paint.on(part) else 1.2, zorder=2))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=fontsize, zorder=3, color=text)


def _cell_frame_and_belt(ax, paint, *, bottom, height, x_times, x_plus, times_part,
                         state_in, state_out, belt_y=5.0):
    """The grey frame of a gated cell and its state line: in, a product, a sum, out.

    The LSTM's cell-state belt and the GRU's hidden-state line have the same
    shape; they differ in where the product and the sum sit and what the
    state is called.
    """
    ax.add_patch(FancyBboxPatch((0.4, bottom), 11.0, height,
                                boxstyle="round,pad=0.02,rounding_size=0.4",
                                facecolor="#F2F2F2", edgecolor="#999999", linewidth=1.0,
                                zorder=0))
    _line(ax, [(-0.6, belt_y), (x_times - 0.28, belt_y)], arrow=False,
          **paint.line("belt_in", 3.2))
    _line(ax, [(x_times + 0.28, belt_y), (x_plus - 0.28, belt_y)], arrow=False,
          **paint.line("belt_mid", 3.2))
    _line(ax, [(x_plus + 0.28, belt_y), (12.4, belt_y)], **paint.line("belt_out", 3.2))
    _node(ax, (x_times, belt_y), r"$\times$", **paint.node(times_part))
    _node(ax, (x_plus, belt_y), "$+$", **paint.node("plus"))
    ax.text(-0.6, belt_y + 0.3, state_in, ha="left", va="bottom", fontsize=13)
    ax.text(12.4, belt_y + 0.3, state_out, ha="right", va="bottom", fontsize=13)


# What each LSTM gate touches: its box, the inputs that reach it, and its path to the belt.
_LSTM_PARTS = {
    "f": {"f", "stub_f", "bus_f", "x_in", "f_up", "times_f", "belt_mid"},
    "i": {"i", "stub_i", "bus_i", "x_in", "i_up", "times_w", "w_up", "plus", "belt_out"},
    "g": {"g", "stub_g", "bus_g", "x_in", "g_up", "times_w", "w_up", "plus", "belt_out"},
    "o": {"o", "stub_o", "bus_o", "x_in", "o_up", "times_o", "tanh_in", "tanh", "tanh_out",
          "h_out"},
}


def draw_lstm_cell(ax=None, *, labels: bool = True, highlight: str | None = None):
    """Draw one LSTM step: the cell-state belt on top, the four gates below it.

    The thick line along the top carries the cell state from ``c_{t-1}`` to
    ``c_t``; it meets only an element-wise product with the forget gate and
    an element-wise sum with the gated candidate. The thin line along the
    bottom brings ``h_{t-1}``, which joins ``x_t`` and feeds the four gate
    boxes; on the right, ``tanh(c_t)`` times the output gate gives ``h_t``,
    which leaves both to the right (the next step) and upwards (the output).
    Chapter 4 (LSTM) draws it, once whole and once per gate.

    Args:
        ax: Axes to draw on, or None for a new figure.
        labels: write the names of the gates under their boxes.
        highlight: None, or one of ``"forget"``, ``"input"``, ``"candidate"``,
            ``"output"``: draw that gate's box, the lines that feed it and
            its path to the belt (or, for the output gate, from the belt to
            ``h_t``) in the gate's colour and everything else in grey.

    Returns:
        The matplotlib Figure.

    Taught in: Chapter 4, Long short-term memory.
    """
    key = _highlight_key(highlight, LSTM_GATES, "draw_lstm_cell")
    paint = _Painter(None if key is None else GATE_COLORS[key],
                     () if key is None else _LSTM_PARTS[key])
    fig, ax = _new_axes(ax, (8.8, 5.2))
    belt_y, low_y, gate_y, mid_y = 5.0, 0.6, 2.0, 3.5
    # The cell-state belt: c_{t-1} -> x (forget) -> + (write) -> c_t.
    xf, xi, xg, xo = 2.0, 4.0, 5.8, 8.1
    _cell_frame_and_belt(ax, paint, bottom=0.1, height=5.6, x_times=xf, x_plus=xg,
                         times_part="times_f", state_in="$c_{t-1}$", state_out="$c_t$",
                         belt_y=belt_y)
    # h_{t-1} enters at the bottom left and x_t from below; together they feed every gate.
    bus_y = gate_y - 0.9
    _line(ax, [(-0.6, low_y), (0.9, low_y), (0.9, bus_y), (xo, bus_y)], arrow=False,
          **paint.line("bus"))
    if key is not None:
        # The stretch of the bus that reaches the highlighted gate, over the grey one.
        x_gate = {"f": xf, "i": xi, "g": xg, "o": xo}[key]
        _line(ax, [(-0.6, low_y), (0.9, low_y), (0.9, bus_y), (x_gate, bus_y)], arrow=False,
              **paint.line("bus_" + key))
    ax.text(-0.6, low_y - 0.3, "$h_{t-1}$", ha="left", va="top", fontsize=13)
    _line(ax, [(1.5, -0.7), (1.5, bus_y)], arrow=False, **paint.line("x_in"))
    ax.text(1.5, -0.8, "$x_t$", ha="center", va="top", fontsize=13)
    # Each name sits beside its box, on the side where no line runs.
    boxes = [(xf, "f", r"$\sigma$", "forget\n$f_t$", "right"),
             (xi, "i", r"$\sigma$", "input\n$i_t$", "right"),
             (xg, "g", r"$\tanh$", "candidate\n$\\tilde c_t$", "left"),
             (xo, "o", r"$\sigma$", "output\n$o_t$", "left")]
    for x, gate, fn, name, align in boxes:
        _line(ax, [(x, bus_y), (x, gate_y - 0.3)], **paint.line("stub_" + gate))
        _gate_box(ax, x, gate_y, fn, GATE_COLORS[gate], paint, gate)
        if labels:
            side = -0.55 if align == "right" else 0.55
            ax.text(x + side, gate_y, name, ha=align, va="center", fontsize=9.5,
                    linespacing=1.1, color=paint.box(gate, "")[2])
    # Forget gate straight up to the belt.
    _line(ax, [(xf, gate_y + 0.3), (xf, belt_y - 0.28)], **paint.line("f_up"))
    # Input gate and candidate meet in a product, which is added to the belt.
    _node(ax, (xg, mid_y), r"$\times$", **paint.node("times_w"))
    _line(ax, [(xi, gate_y + 0.3), (xi, mid_y), (xg - 0.28, mid_y)], **paint.line("i_up"))
    _line(ax, [(xg, gate_y + 0.3), (xg, mid_y - 0.28)], **paint.line("g_up"))
    _line(ax, [(xg, mid_y + 0.28), (xg, belt_y - 0.28)], **paint.line("w_up"))
    # Output: tanh of the new cell state, gated by o_t.
    xt = 10.0
    _line(ax, [(xt, belt_y), (xt, 4.1 + 0.25)], **paint.line("tanh_in"))
    _gate_box(ax, xt, 3.85, r"$\tanh$", "white", paint, "tanh", height=0.5, rounding=0.2,
              fontsize=11)
    _node(ax, (xt, 2.6), r"$\times$", **paint.node("times_o"))
    _line(ax, [(xt, 3.6), (xt, 2.6 + 0.28)], **paint.line("tanh_out"))
    _line(ax, [(xo, gate_y + 0.3), (xo, 2.6), (xt - 0.28, 2.6)], **paint.line("o_up"))
    # h_t leaves to the right (next step) and upwards (the output of this step).
    _line(ax, [(xt, 2.6 - 0.28), (xt, low_y), (12.4, low_y)], **paint.line("h_out"))
    _line(ax, [(10.9, low_y), (10.9, 6.4)], **paint.line("h_out"))
    ax.text(12.4, low_y - 0.3, "$h_t$", ha="right", va="top", fontsize=13)
    ax.text(11.05, 6.4, "$h_t$", ha="left", va="top", fontsize=13)
    ax.set_xlim(-0.8, 12.6)
    ax.set_ylim(-1.3, 6.6)
    return fig


# -- the GRU cell -------------------------------------------------------------------

#: Fill colour of each GRU gate in :func:`draw_gru_cell`: the update gate takes the
#: forget gate's colour (it decides what is kept), the candidate the LSTM candidate's.
GRU_GATE_COLORS = {
    "r": OKABE_ITO["sky_blue"],
    "z": OKABE_ITO["vermillion"],
    "n": OKABE_ITO["orange"],
}

#: The gates :func:`draw_gru_cell` can highlight, by name, and their key in GRU_GATE_COLORS.
GRU_GATES = {"reset": "r", "update": "z", "candidate": "n"}

_GRU_PARTS = {
    "r": {"r", "stub_r", "bus_r", "r_up", "times_r", "r_to_n"},
    "z": {"z", "stub_z", "bus_z", "z_up", "times_z", "belt_mid", "one_minus_in", "one_minus",
          "one_minus_out", "times_n", "n_up", "plus", "belt_out"},
    "n": {"n", "x_to_n", "tap_hn", "Whn", "hn_down", "times_r", "r_to_n", "n_out", "times_n",
          "n_up", "plus", "belt_out"},
}


def draw_gru_cell(ax=None, *, labels: bool = True, highlight: str | None = None):
    """Draw one GRU step, in the form the library implements (reset after the product).

    Taught in: Chapter 5, Gated recurrent units.

    The line along the top is the state, from ``h_{t-1}`` to ``h_t``: it is
    multiplied by the update gate ``z_t`` and then receives the candidate
    weighted by ``1 - z_t``. Below it, ``h_{t-1}`` and ``x_t`` feed the two
    sigmoid gates; the reset gate scales the recurrent term
    ``W_hn h_{t-1} + b_hn`` before it enters the tanh candidate together with
    the input term. Chapter 5 (GRU) draws it next to the LSTM cell of
    :func:`draw_lstm_cell`.

    Args:
        ax: Axes to draw on, or None for a new figure.
        labels: write the names of the gates beside their boxes.
        highlight: None, or one of ``"reset"``, ``"update"``, ``"candidate"``:
            draw that gate's box, the lines that feed it and its path to the
            state in its colour and everything else in grey.

    Returns:
        The matplotlib Figure.
    """
    key = _highlight_key(highlight, GRU_GATES, "draw_gru_cell")
    paint = _Painter(None if key is None else GRU_GATE_COLORS[key],
                     () if key is None else _GRU_PARTS[key])
    fig, ax = _new_axes(ax, (8.8, 5.2))
    belt_y, low_y, gate_y = 5.0, 0.6, 2.0
    bus_y, r_y = gate_y - 0.9, 2.9
    xz, xr, xh, xn, xm, xp = 2.4, 3.8, 5.2, 6.9, 8.6, 10.4
    # The state line: h_{t-1} -> x z_t -> + (1 - z_t) n_t -> h_t.
    _cell_frame_and_belt(ax, paint, bottom=-0.2, height=5.9, x_times=xm, x_plus=xp,
                         times_part="times_z", state_in="$h_{t-1}$", state_out="$h_t$",
                         belt_y=belt_y)
    _line(ax, [(11.4, belt_y), (11.4, 6.4)], **paint.line("belt_out"))
    ax.text(11.55, 6.4, "$h_t$", ha="left", va="top", fontsize=13)
    # h_{t-1} drops to the bus, where x_t joins it; the bus feeds the two gates.
    _line(ax, [(0.9, belt_y), (0.9, bus_y), (xr, bus_y)], arrow=False, **paint.line("bus"))
    if key in ("z", "r"):
        x_gate = xz if key == "z" else xr
        _line(ax, [(0.9, belt_y), (0.9, bus_y), (x_gate, bus_y)], arrow=False,
              **paint.line("bus_" + key))
    _line(ax, [(1.5, -0.9), (1.5, bus_y)], arrow=False,
          **paint.line("bus_" + key if key in ("z", "r") else "x_in"))
    ax.text(1.5, -1.0, "$x_t$", ha="center", va="top", fontsize=13)
    # The input term of the candidate: x_t along the bottom to the tanh box.
    _line(ax, [(1.5, low_y - 0.4), (xn, low_y - 0.4), (xn, r_y - 0.3)], **paint.line("x_to_n"))
    for x, gate, name in ((xz, "z", "update\n$z_t$"), (xr, "r", "reset\n$r_t$")):
        _line(ax, [(x, bus_y), (x, gate_y - 0.3)], **paint.line("stub_" + gate))
        _gate_box(ax, x, gate_y, r"$\sigma$", GRU_GATE_COLORS[gate], paint, gate)
    if labels:
        ax.text(xz - 0.55, gate_y, "update\n$z_t$", ha="right", va="center", fontsize=9.5,
                linespacing=1.1, color=paint.box("z", "")[2])
        ax.text(xr + 0.55, gate_y - 0.1, "reset\n$r_t$", ha="left", va="top", fontsize=9.5,
                linespacing=1.1, color=paint.box("r", "")[2])
    # The recurrent term W_hn h_{t-1} + b_hn, read off the state line and scaled by r_t.
    _line(ax, [(xh, belt_y), (xh, 4.2)], **paint.line("tap_hn"))
    _gate_box(ax, xh, 3.95, "$W_{hn}$", "white", paint, "Whn", width=0.95, height=0.5,
              rounding=0.15, fontsize=10.5)
    _line(ax, [(xh, 3.7), (xh, r_y + 0.28)], **paint.line("hn_down"))
    _node(ax, (xh, r_y), r"$\times$", **paint.node("times_r"))
    _line(ax, [(xr, gate_y + 0.3), (xr, r_y), (xh - 0.28, r_y)], **paint.line("r_up"))
    _line(ax, [(xh + 0.28, r_y), (xn - 0.45, r_y)], **paint.line("r_to_n"))
    _gate_box(ax, xn, r_y, r"$\tanh$", GRU_GATE_COLORS["n"], paint, "n")
    if labels:
        ax.text(xn, r_y + 0.45, "candidate $n_t$", ha="center", va="bottom", fontsize=9.5,
                color=paint.box("n", "")[2])
    # The update gate runs up to the product on the state line and, as 1 - z_t, to the
    # product with the candidate. It crosses the W_hn tap; a white gap marks the crossing.
    z_route = 4.5
    ax.plot([xh, xh], [z_route - 0.12, z_route + 0.12], color="#F2F2F2", linewidth=6,
            zorder=1.7, solid_capstyle="butt")
    _line(ax, [(xz, gate_y + 0.3), (xz, z_route), (xm, z_route), (xm, belt_y - 0.28)],
          **paint.line("z_up"))
    if paint.on("z_up"):
        ax.lines[-1].set_zorder(1.8)
    _line(ax, [(xm, z_route), (xm, 3.75 + 0.28)], **paint.line("one_minus_in"))
    _node(ax, (xm, 3.75), "$1-$", radius=0.3, **paint.node("one_minus"))
    ax.texts[-1].set_fontsize(10)
    _line(ax, [(xm, 3.75 - 0.3), (xm, r_y + 0.28)], **paint.line("one_minus_out"))
    _node(ax, (xm, r_y), r"$\times$", **paint.node("times_n"))
    _line(ax, [(xn + 0.45, r_y), (xm - 0.28, r_y)], **paint.line("n_out"))
    _line(ax, [(xm + 0.28, r_y), (xp, r_y), (xp, belt_y - 0.28)], **paint.line("n_up"))
    ax.set_xlim(-0.8, 12.6)
    ax.set_ylim(-1.5, 6.6)
    return fig
