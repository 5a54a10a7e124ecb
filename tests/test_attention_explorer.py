"""Tests for rnnbook.attention_explorer: the table, the static views, the widget."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnbook.book import (attention_explorer, attention_table,  # noqa: E402
                                        draw_attention_step, draw_attention_table)


def make_table():
    rng = np.random.default_rng(0)
    w = rng.random((2, 4, 6))
    w /= w.sum(axis=2, keepdims=True)
    return attention_table(["abcdef", "xyz"], ["1234", "12"], w), w


def test_rows_are_cut_to_the_lengths():
    table, w = make_table()
    assert table.weights[0].shape == (4, 6) and table.weights[1].shape == (2, 3)
    np.testing.assert_array_equal(table.weights[1], w[1, :2, :3])
    records = table.as_records()
    assert len(records) == 4 * 6 + 2 * 3
    hit = [r for r in records if r["example"] == 1 and r["step"] == 1 and r["position"] == 2]
    assert hit[0]["input"] == "z" and hit[0]["output"] == "2"
    assert hit[0]["weight"] == pytest.approx(w[1, 1, 2])


def test_bad_shapes():
    with pytest.raises(ValueError, match="outputs has"):
        attention_table(["ab"], [], np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"\(N, L, S\)"):
        attention_table(["ab"], ["1"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="must fit"):
        attention_table(["abc"], ["1"], np.zeros((1, 2, 2)))


def test_static_views_draw_the_weights():
    table, _ = make_table()
    axes = draw_attention_table(table, ncols=3)
    assert axes.size == 3 and not axes[2].get_visible()
    np.testing.assert_allclose(axes[0].images[0].get_array(), table.weights[0])
    hm, bars = draw_attention_step(table, 0, 2)
    heights = [p.get_height() for p in bars.patches]
    np.testing.assert_allclose(heights, table.weights[0][2])
    with pytest.raises(ValueError, match="step is 2"):
        draw_attention_step(table, 1, 2)
    with pytest.raises(ValueError, match="example is 5"):
        draw_attention_step(table, 5, 0)
    plt.close("all")


def test_explorer_holds_every_step_and_clamps_short_outputs():
    table, _ = make_table()
    explorer = attention_explorer(table, example=1, step=1)
    assert explorer.settings == 2 * 4              # two inputs, four output steps
    first = explorer.table(example=0, step=2)
    np.testing.assert_allclose([float(v) for v in first["weight"]], table.weights[0][2],
                               rtol=1e-3)
    # The second output has two steps; later steps show its last one.
    late, last = explorer.table(example=1, step=3), explorer.table(example=1, step=1)
    assert late == last and len(late["weight"]) == 3
    assert "writes '2'" in last["writes"][0]
    spec = explorer.to_dict()
    assert spec["description"].startswith("Bar chart of the attention weights")
    plt.close("all")
