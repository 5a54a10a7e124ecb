"""The diagram helpers draw what they promise and reject impossible requests."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from rnnbook.book import plots  # noqa: E402


def _boxes(ax):
    return [p for p in ax.patches if isinstance(p, FancyBboxPatch)]


def _texts(ax):
    return [t.get_text() for t in ax.texts]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("T", [1, 2, 4, 7])
def test_chain_draws_one_box_per_input_state_and_output(T):
    fig, ax = plt.subplots()
    xs = plots.draw_rnn_chain(ax, T)
    assert len(xs) == T
    assert len(_boxes(ax)) == 3 * T
    assert all(b > a for a, b in zip(xs, xs[1:])), "steps run left to right"


def test_chain_respects_inputs_outputs_and_h0():
    fig, ax = plt.subplots()
    plots.draw_rnn_chain(ax, 4, inputs=[1], outputs=[4], h0=True)
    # 4 states + 1 input + 1 output + h0
    assert len(_boxes(ax)) == 7
    texts = _texts(ax)
    assert "$x_{1}$" in texts and "$x_{2}$" not in texts
    assert "$\\hat{y}_{4}$" in texts and "$\\hat{y}_{1}$" not in texts
    assert "$h_0$" in texts


def test_chain_weight_labels_name_every_matrix():
    fig, ax = plt.subplots()
    plots.draw_rnn_chain(ax, 3, weight_labels=True)
    texts = _texts(ax)
    assert texts.count("$W_{xh}$") == 3
    assert texts.count("$W_{hy}$") == 3
    assert texts.count("$W_{hh}$") == 2


def test_chain_uses_decoder_colour_from_the_given_step():
    fig, ax = plt.subplots()
    plots.draw_rnn_chain(ax, 4, inputs=[1, 2], outputs=[3, 4], decoder_from=3)
    decoder = matplotlib.colors.to_rgba(plots.ROLE_COLORS["decoder"])
    assert sum(b.get_facecolor() == decoder for b in _boxes(ax)) == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "at least 1"),
    (dict(steps=3, inputs=[4]), "inputs lists steps outside"),
    (dict(steps=3, outputs=[0]), "outputs lists steps outside"),
    (dict(steps=3, hidden_labels=["a", "b"]), "labels has 2 entries"),
])
def test_chain_rejects_bad_arguments(kwargs, match):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=match):
        plots.draw_rnn_chain(ax, **kwargs)


@pytest.mark.parametrize("folded", [True, False])
def test_unrolled_returns_a_figure_with_all_steps(folded):
    fig = plots.draw_unrolled_rnn(T=4, folded=folded)
    ax = fig.axes[0]
    texts = _texts(ax)
    for t in range(1, 5):
        assert f"$h_{{{t}}}$" in texts
    assert ("$h_t$" in texts) == folded
    # Everything drawn lies inside the visible area.
    x0, x1 = ax.get_xlim()
    assert all(x0 <= b.get_x() and b.get_x() + b.get_width() <= x1 for b in _boxes(ax))


def test_io_patterns_has_five_titled_panels():
    fig = plots.draw_io_patterns()
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5
    assert titles[0] == "one-to-one"
    assert any("encoder-decoder" in t for t in titles)


def test_io_patterns_needs_five_axes():
    fig, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="5 panels"):
        plots.draw_io_patterns(axes)


def test_palette_is_okabe_ito():
    assert len(plots.OKABE_ITO) == 8
    assert set(plots.ROLE_COLORS.values()) - {"#DDDDDD"} <= set(plots.OKABE_ITO.values())


def test_lstm_cell_diagram_has_four_coloured_gates_and_the_belt():
    fig = plots.draw_lstm_cell()
    ax = fig.axes[0]
    colours = {matplotlib.colors.to_hex(b.get_facecolor()) for b in _boxes(ax)}
    assert {c.lower() for c in plots.GATE_COLORS.values()} <= colours
    texts = " ".join(_texts(ax))
    for name in ("forget", "input", "candidate", "output", "$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$x_t$"):
        assert name in texts
    # The belt is drawn thicker than every other line.
    widths = [a.get_linewidth() for a in ax.patches if isinstance(a, FancyArrowPatch)]
    assert sum(w > 3 for w in widths) == 3 and sorted(widths)[-4] < 2
    unlabelled = plots.draw_lstm_cell(labels=False).axes[0]
    assert "forget" not in " ".join(_texts(unlabelled))


def _gate_fills(ax, palette):
    """The palette keys whose colour fills some box of ``ax``."""
    fills = {matplotlib.colors.to_hex(b.get_facecolor()).lower() for b in _boxes(ax)}
    return {k for k, c in palette.items() if c.lower() in fills}


def _line_colours(ax):
    colours = {matplotlib.colors.to_hex(p.get_edgecolor()).lower()
               for p in ax.patches if isinstance(p, FancyArrowPatch)}
    return colours | {matplotlib.colors.to_hex(line.get_color()).lower() for line in ax.lines}


@pytest.mark.parametrize("name, key", list(plots.LSTM_GATES.items()))
def test_lstm_highlight_colours_one_gate_and_greys_the_rest(name, key):
    plain = plots.draw_lstm_cell().axes[0]
    lit = plots.draw_lstm_cell(highlight=name).axes[0]
    assert _gate_fills(plain, plots.GATE_COLORS) == set("figo")
    assert _gate_fills(lit, plots.GATE_COLORS) == {key}
    colour = plots.GATE_COLORS[key].lower()
    assert colour in _line_colours(lit) and colour not in _line_colours(plain)
    assert plots.MUTED["line"].lower() in _line_colours(lit)
    # The belt segment the gate acts on is drawn in the gate's colour, thick.
    belt = [p for p in lit.patches if isinstance(p, FancyArrowPatch) and p.get_linewidth() > 3]
    assert len(belt) == 3
    belt_colours = [matplotlib.colors.to_hex(p.get_edgecolor()).lower() for p in belt]
    assert belt_colours.count(colour) == (0 if key == "o" else 1)


def test_gru_cell_diagram_has_its_gates_and_the_state_line():
    ax = plots.draw_gru_cell().axes[0]
    assert _gate_fills(ax, plots.GRU_GATE_COLORS) == {"r", "z", "n"}
    texts = " ".join(_texts(ax))
    for name in ("update", "reset", "candidate", "$h_{t-1}$", "$h_t$", "$x_t$", "$W_{hn}$", "$1-$"):
        assert name in texts
    widths = [a.get_linewidth() for a in ax.patches if isinstance(a, FancyArrowPatch)]
    assert sum(w > 3 for w in widths) == 3
    assert "update" not in " ".join(_texts(plots.draw_gru_cell(labels=False).axes[0]))


@pytest.mark.parametrize("name, key", list(plots.GRU_GATES.items()))
def test_gru_highlight_colours_one_gate(name, key):
    ax = plots.draw_gru_cell(highlight=name).axes[0]
    assert _gate_fills(ax, plots.GRU_GATE_COLORS) == {key}
    assert plots.GRU_GATE_COLORS[key].lower() in _line_colours(ax)


@pytest.mark.parametrize("draw, bad, options", [
    (plots.draw_lstm_cell, "reset", "'forget', 'input', 'candidate', 'output'"),
    (plots.draw_lstm_cell, "f", "'forget', 'input', 'candidate', 'output'"),
    (plots.draw_gru_cell, "forget", "'reset', 'update', 'candidate'"),
])
def test_highlight_rejects_unknown_gate_names(draw, bad, options):
    with pytest.raises(ValueError, match="highlight") as err:
        draw(highlight=bad)
    assert options in str(err.value) and repr(bad) in str(err.value)


def test_a_figure_drawn_twice_is_the_same_svg_file():
    # The site's SVG figures carry no creation date and no random element
    # ids (book/_ext/ipython_kernel_config.py, book/matplotlibrc), so that a
    # rebuild changes a figure only when its code or data change.
    import copy
    from pathlib import Path

    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    book = Path(__file__).resolve().parents[1] / "book"
    nb = new_notebook(cells=[new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([1, 3, 2], label='line')\n"
        "ax.imshow([[0, 1], [1, 0]], extent=(0, 1, 0, 1))\n"
        "ax.legend()\n"
        "plt.show()")])
    drawn = []
    for _ in range(2):
        run = copy.deepcopy(nb)
        NotebookClient(run, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(book)}}).execute()
        drawn.append([out["data"]["image/svg+xml"] for out in run.cells[0].outputs
                      if "image/svg+xml" in out.get("data", {})])
    assert len(drawn[0]) == 1, "the kernel did not draw an SVG figure"
    assert drawn[0] == drawn[1]
    assert "<dc:date>" not in drawn[0][0]
