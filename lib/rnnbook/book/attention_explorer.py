"""An explorer of attention weights that also works without a running kernel.

A trained model's weights are computed once, for a handful of examples and
every output step, and kept in an :class:`AttentionTable`. Two views read
the table: :func:`draw_attention_table`, a static grid of heatmaps (what a
reader of the static site sees), and :func:`attention_explorer`, a widget
with a choice of example and output step that redraws the weights of that
step as bars over the input characters. Nothing is recomputed when the
controls move, so the widget needs only the table, never the model.

Taught in chapter 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AttentionTable", "attention_table", "draw_attention_table",
           "draw_attention_step", "attention_explorer"]


@dataclass
class AttentionTable:
    """Attention weights of a few decoded examples.

    Taught in: Chapter 8, Attention.


    Attributes:
        sources: list of N input strings (one character per key).
        outputs: list of N output strings (one character per output step,
            EOS not included).
        weights: list of N arrays, the n-th of shape
            (len(outputs[n]), len(sources[n])); row t is the distribution
            over input characters used to write output character t.
    """

    sources: list
    outputs: list
    weights: list

    def __len__(self) -> int:
        return len(self.sources)

    def as_records(self) -> list[dict]:
        """One dict per (example, step, input position): the long table format.

        Keys ``example``, ``step``, ``output``, ``position``, ``input``,
        ``weight``: ready for a plotting library that wants tidy data.
        """
        rows = []
        for n, (src, out, w) in enumerate(zip(self.sources, self.outputs, self.weights)):
            for t, ch in enumerate(out):
                for j, sch in enumerate(src):
                    rows.append(dict(example=n, step=t, output=ch, position=j, input=sch,
                                     weight=float(w[t, j])))
        return rows


def attention_table(sources, outputs, weights) -> AttentionTable:
    """Check and pack decoded attention weights into an :class:`AttentionTable`.

    Taught in: Chapter 8, Attention.


    Args:
        sources: list of N input strings.
        outputs: list of N decoded strings (EOS excluded).
        weights: array (N, L, S) with L >= every output length and S >=
            every source length, e.g. ``Decoded.attention`` of
            :meth:`rnnbook.nn.seq2seq.Seq2Seq.greedy_decode`; the rows of each
            example are cut to its output and source lengths.

    Returns:
        table: the :class:`AttentionTable`.
    """
    sources, outputs = list(sources), list(outputs)
    weights = np.asarray(weights)
    if len(sources) != len(outputs):
        raise ValueError(f"sources has {len(sources)} strings but outputs has {len(outputs)}")
    if weights.ndim != 3 or weights.shape[0] != len(sources):
        raise ValueError(f"weights has shape {weights.shape} but needs (N, L, S) with "
                         f"N = {len(sources)}")
    rows = []
    for n, (src, out) in enumerate(zip(sources, outputs)):
        if len(out) > weights.shape[1] or len(src) > weights.shape[2]:
            raise ValueError(f"example {n}: output length {len(out)} and source length "
                             f"{len(src)} must fit in weights' (L, S) = {weights.shape[1:]}")
        rows.append(np.array(weights[n, :len(out), :len(src)], dtype=np.float64))
    return AttentionTable(sources, outputs, rows)


def _heatmap(ax, src, out, w, *, highlight=None, cmap="Blues"):
    ax.imshow(w, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    # The characters at the full tick size: they are what a reader reads off.
    ax.set_xticks(range(len(src)), list(src), fontfamily="monospace")
    ax.set_yticks(range(len(out)), list(out), fontfamily="monospace")
    ax.tick_params(length=0)
    if highlight is not None:
        ax.axhline(highlight - 0.5, color="#D55E00", linewidth=1.5)
        ax.axhline(highlight + 0.5, color="#D55E00", linewidth=1.5)


def draw_attention_table(table: AttentionTable, axes=None, *, ncols: int = 2):
    """One heatmap per example: output characters down, input characters across.

    Taught in: Chapter 8, Attention.


    Args:
        table: an :class:`AttentionTable`.
        axes: sequence of at least ``len(table)`` matplotlib axes; None
            makes a new figure.
        ncols: columns of the new figure's grid.

    Returns:
        axes: the axes drawn on (flattened).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        nrows = -(-len(table) // ncols)
        _, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 2.3 * nrows),
                               layout="constrained", squeeze=False)
    axes = np.asarray(axes).reshape(-1)
    if axes.size < len(table):
        raise ValueError(f"axes has {axes.size} axes but the table has {len(table)} examples")
    for ax, src, out, w in zip(axes, table.sources, table.outputs, table.weights):
        _heatmap(ax, src, out, w)
    for ax in axes[len(table):]:
        ax.set_visible(False)
    return axes


def draw_attention_step(table: AttentionTable, example: int, step: int, axes=None):
    """The weights of one output step as bars, next to the example's heatmap.

    Taught in: Chapter 8, Attention.


    Args:
        table: an :class:`AttentionTable`.
        example: index of the example, in [0, len(table)).
        step: output step, in [0, len(table.outputs[example])).
        axes: two matplotlib axes (heatmap, bars); None makes a new figure.

    Returns:
        axes: the two axes.
    """
    import matplotlib.pyplot as plt

    if not 0 <= example < len(table):
        raise ValueError(f"example is {example} but needs to lie in [0, {len(table)})")
    src, out, w = table.sources[example], table.outputs[example], table.weights[example]
    if not 0 <= step < len(out):
        raise ValueError(f"step is {step} but needs to lie in [0, {len(out)}) for this example")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.0, 2.8), layout="constrained",
                               width_ratios=(1.0, 1.2))
    hm, bars = axes
    _heatmap(hm, src, out, w, highlight=step)
    hm.set_title("all output steps", fontsize="medium")
    bars.bar(range(len(src)), w[step], color="#0072B2")
    bars.set_xticks(range(len(src)), list(src), fontfamily="monospace")
    bars.set_ylim(0, 1)
    bars.set_ylabel("attention weight")
    bars.set_title(f"writing output character {step + 1}: {out[step]!r}", fontsize="medium")
    return axes


def attention_explorer(table: AttentionTable, *, example: int = 0, step: int = 0):
    """A selector for the example and a slider for the output step, over a fixed table.

    Taught in: Chapter 8, Attention.

    The chart is an explorer of :mod:`rnnbook.book.explorers`: every
    (example, step) of the table is laid out in advance, so the controls work
    on the static site with no kernel, and in a running kernel too. Steps past
    the end of a shorter output show its last step.

    Args:
        table: an :class:`AttentionTable` (precomputed; the model is not needed).
        example: initially selected example.
        step: initially selected output step.

    Returns:
        an :class:`rnnbook.book.explorers.Explorer`.
    """
    import altair as alt

    from rnnbook.book.explorers import grid_explorer, select, slider

    draw_attention_step(table, example, step, axes=None)  # fail early, with a clear message
    import matplotlib.pyplot as plt
    plt.close()
    longest = max(len(out) for out in table.outputs)

    def weights_at(example, step):
        src, out, w = table.sources[example], table.outputs[example], table.weights[example]
        t = min(int(step), len(out) - 1)
        labels = [f"{i:02d} {ch if ch != ' ' else '␣'}" for i, ch in enumerate(src)]
        return {"input": labels, "weight": np.asarray(w[t], dtype=np.float64),
                "writes": f"output step {t}: writes '{out[t]}' (output so far: {out[:t + 1]})"}

    def draw(base):
        bars = base.mark_bar(color="#0072B2").encode(
            x=alt.X("input:N", sort=None, title="input character (position, character)"),
            y=alt.Y("weight:Q", scale=alt.Scale(domain=[0, 1]), title="attention weight"))
        note = base.transform_filter("datum.weight >= 0").mark_text(
            align="left", baseline="bottom", fontSize=13).encode(
            x=alt.value(0), y=alt.value(-6), text="writes:N")
        return alt.layer(bars, note)

    return grid_explorer(
        weights_at,
        [select("example", list(range(len(table))), labels=list(table.sources),
                label="input", initial=example),
         slider("step", np.arange(longest), "output step", fmt="d", initial=step)],
        draw,
        description=("Bar chart of the attention weights that one output step of the "
                     "trained model puts on each character of the chosen input; the "
                     "selector picks the input, the slider the output step, and the line "
                     "above the bars names the character written at that step."),
        height=260)
