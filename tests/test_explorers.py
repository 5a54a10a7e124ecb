"""The explorer machinery: a grid of precomputed results behind a Vega-Lite chart."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from rnnbook.book.explorers import (VEGALITE_MIME, VegaLiteSiteRenderer, grid_explorer, select,
                               slider)


def parabola(a, shift):
    x = np.linspace(-1.0, 1.0, 5)
    return {"x": x, "y": a * x ** 2 + shift, "name": f"a={a}", "peak": float(a)}


def line(base):
    return base.mark_line().encode(x="x:Q", y="y:Q")


@pytest.fixture
def explorer():
    return grid_explorer(parabola, [slider("a", [0.5, 1.0, 1.5, 2.0], initial=1.0),
                                    select("shift", [0, 10, 20], labels=["none", "ten", "twenty"])],
                         line, description="Parabolas.")


def _filter(spec: dict) -> str:
    return next(t["filter"] for t in spec["transform"] if "filter" in t)


def test_every_setting_is_stored_once_with_what_compute_returned(explorer):
    assert explorer.settings == 4 * 3 and explorer.rows == 12 * 5
    table = explorer.table(a=1.5, shift=20)
    # Four significant digits (the default) are kept.
    assert [float(v) for v in table["y"]] == pytest.approx(
        1.5 * np.linspace(-1, 1, 5) ** 2 + 20, abs=0.01)
    assert table["name"] == ["a=1.5"] * 5          # a scalar is repeated on every row
    assert table["peak"] == ["1.5"] * 5
    # Different settings hold different rows (the chart has something to swap).
    assert explorer.table(a=0.5, shift=0)["y"] != explorer.table(a=2.0, shift=0)["y"]


def test_the_charts_filter_selects_the_setting_the_controls_show(explorer):
    spec = explorer.to_dict()
    expression = _filter(spec).removeprefix("datum.setting == ")
    params = {p["name"]: p for p in spec["params"]}
    assert params["a"]["value"] == 1.0 and params["a"]["bind"]["input"] == "range"
    assert params["shift"]["bind"]["labels"] == ["none", "ten", "twenty"]
    for a, (i, shift) in itertools.product([0.5, 1.0, 1.5, 2.0], enumerate([0, 10, 20])):
        # What the browser evaluates; a select's value is the index of its option.
        key = eval(expression, {"round": lambda v: math.floor(v + 0.5)}, {"a": a, "shift": i})
        assert key == explorer.setting_index(a=a, shift=shift)
        stored = [row for row in spec["datasets"][spec["data"]["name"]].splitlines()[1:]
                  if row.split(",")[0] == str(key)]
        assert [float(r.split(",")[2]) for r in stored] == pytest.approx(
            parabola(a, shift)["y"], rel=1e-3)


def test_the_notebook_output_is_vega_lite_with_a_text_form(explorer):
    bundle = explorer._repr_mimebundle_()
    assert set(bundle) == {VEGALITE_MIME, "text/plain"}
    assert bundle[VEGALITE_MIME]["description"] == "Parabolas."
    assert "$schema" in bundle[VEGALITE_MIME] and "v5" in bundle[VEGALITE_MIME]["$schema"]
    assert "Parabolas." in bundle["text/plain"]
    assert explorer.nbytes == len(json.dumps(explorer.to_dict(), separators=(",", ":")))


def test_the_site_renderer_writes_a_json_island():
    class Data:
        mime_type = VEGALITE_MIME
        content = {"description": 'say "</script>"', "mark": "point"}

    nodes = VegaLiteSiteRenderer.handle_mime(None, Data(), inline=False)
    html = nodes[0].astext()
    assert 'class="rnnbook-explorer"' in html and 'aria-label="say &quot;&lt;/script&gt;&quot;"' in html
    island = html.split('class="rnnbook-explorer-spec">', 1)[1].split("</script>", 1)[0]
    assert json.loads(island) == Data.content
    Data.mime_type = "text/plain"
    assert VegaLiteSiteRenderer.handle_mime(None, Data(), inline=False) is None


@pytest.mark.parametrize("make, message", [
    (lambda: slider("a b", [1, 2]), "identifier"),
    (lambda: slider("setting", [1, 2]), "identifier"),
    (lambda: slider("a", [1, 2, 4]), "evenly spaced"),
    (lambda: slider("a", [1]), "at least 2"),
    (lambda: slider("a", [1, 2], initial=1.5), "initial"),
    (lambda: select("a", [], ), "empty"),
    (lambda: select("a", [1, 2], labels=["one"]), "labels"),
    (lambda: grid_explorer(parabola, [slider("a", [1, 2])], line, description="x"),
     "shift"),  # compute needs an argument no control provides: Python's own TypeError
    (lambda: grid_explorer(lambda a: {"y": np.ones((2, 2))}, [slider("a", [1, 2])], line,
                           description="x"), "1-D"),
    (lambda: grid_explorer(lambda a: {"y": [1, 2], "z": [1, 2, 3]}, [slider("a", [1, 2])],
                           line, description="x"), "one length"),
    (lambda: grid_explorer(lambda a: {"y": [a]} if a < 2 else {"z": [a]},
                           [slider("a", [1, 2])], line, description="x"), "columns"),
    (lambda: grid_explorer(lambda a: {"y": [a]}, [slider("a", [1, 2])], line,
                           description=" "), "description"),
    (lambda: grid_explorer(lambda a: {"y": [a]}, [slider("a", [1, 2]), slider("a", [1, 2])],
                           line, description="x"), "repeated"),
])
def test_bad_input_is_refused_with_a_clear_message(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_setting_index_refuses_points_off_the_grid(explorer):
    with pytest.raises(ValueError, match="not on the grid"):
        explorer.setting_index(a=1.25, shift=0)
    with pytest.raises(ValueError, match="controls"):
        explorer.setting_index(a=1.0)
