"""Similarity between submissions: copies are flagged, independent work is not.

The fixtures are three honest solutions of the backward-pass exercise
written independently (the one in ``solutions/``, a compact one that calls
the step function in a loop, and a vectorised one that never calls it),
and a copy of the compact one with every name changed and the two
functions in the other order.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from rnnbook.grading import cli
from rnnbook.grading.runner import grade_submissions
from rnnbook.grading.similarity import find_similar, own_code

ROOT = Path(__file__).resolve().parent.parent
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"

COMPACT_STEP = """
local = dh * (1.0 - np.square(cache.h))
return (local @ cache.Wx.T, local @ cache.Wh.T, cache.x.T @ local,
        cache.h_prev.T @ local, local.sum(0))
"""

COMPACT_SEQUENCE = """
steps = dh.shape[1]
grads_x = []
carry = np.zeros_like(dh[:, 0])
total = None
for t in range(steps - 1, -1, -1):
    before = cache.h[:, t - 1] if t > 0 else cache.h0
    one = RNNStepCache(cache.x[:, t], before, cache.Wx, cache.Wh, cache.h[:, t])
    gx, carry, gWx, gWh, gb = rnn_step_backward(dh[:, t] + carry, one)
    grads_x.append(gx)
    if total is None:
        total = [gWx, gWh, gb]
    else:
        total = [acc + g for acc, g in zip(total, (gWx, gWh, gb))]
dx = np.stack(grads_x[::-1], axis=1)
return (dx, carry, *total)
"""

VECTOR_STEP = """
g = dh.copy()
g *= 1 - cache.h * cache.h
d_input = np.dot(g, cache.Wx.T)
d_before = np.dot(g, cache.Wh.T)
dW_input = np.einsum("nd,nh->dh", cache.x, g)
dW_hidden = np.einsum("ni,nh->ih", cache.h_prev, g)
return d_input, d_before, dW_input, dW_hidden, g.sum(axis=0)
"""

VECTOR_SEQUENCE = """
xs, hs = cache.x, cache.h
prevs = np.concatenate([cache.h0[:, None], hs[:, :-1]], axis=1)
g = np.zeros_like(dh)
running = np.zeros_like(dh[:, 0])
t = xs.shape[1] - 1
while t >= 0:
    g[:, t] = (dh[:, t] + running) * (1 - hs[:, t] ** 2)
    running = g[:, t] @ cache.Wh.T
    t -= 1
dx = g @ cache.Wx.T
dW_input = np.einsum("ntd,nth->dh", xs, g)
dW_hidden = np.einsum("nti,nth->ih", prevs, g)
return dx, running, dW_input, dW_hidden, g.sum(axis=(0, 1))
"""

RENAMES = {"local": "upstream", "grads_x": "input_grads", "carry": "back",
           "total": "sums", "steps": "length", "gx": "gi", "gWx": "gA", "gWh": "gB",
           "gb": "gc", "acc": "running", "before": "previous", "one": "piece",
           "cache": "memo"}


def _body(code: str) -> str:
    return textwrap.indent(textwrap.dedent(code).strip("\n"), "    ")


def _exercise():
    return nbformat.read(ROOT / "exercises" / "02_rnn_backward.ipynb", as_version=4)


def _cell(nb, name):
    return next(c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source)


def honest(step: str, sequence: str):
    nb = copy.deepcopy(_exercise())
    for name, code in (("rnn_step_backward", step), ("rnn_backward", sequence)):
        cell = _cell(nb, name)
        cell.source = cell.source.replace(STUB, _body(code))
    return nb


def renamed_and_reordered():
    """The compact solution with other names and rnn_backward above rnn_step_backward."""
    def rename(code):
        for old, new in RENAMES.items():
            code = re.sub(rf"\b{old}\b", new, code)
        return code
    nb = copy.deepcopy(_exercise())
    step_cell, seq_cell = _cell(nb, "rnn_step_backward"), _cell(nb, "rnn_backward")
    # The parameters are renamed too (the signature is part of the cell).
    step_src = rename(step_cell.source.replace(STUB, _body(COMPACT_STEP)))
    seq_src = rename(seq_cell.source.replace(STUB, _body(COMPACT_SEQUENCE)))
    step_cell.source = seq_src + "\n\n\n" + step_src
    seq_cell.source = "# both functions are defined above"
    return nb


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("similarity")
    notebooks = {
        "reference_author": nbformat.read(ROOT / "solutions" / "02_rnn_backward.ipynb",
                                          as_version=4),
        "compact": honest(COMPACT_STEP, COMPACT_SEQUENCE),
        "vectorised": honest(VECTOR_STEP, VECTOR_SEQUENCE),
        "copy_of_compact": renamed_and_reordered(),
        "untouched": _exercise(),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, d / f"{name}.ipynb")
    return d


@pytest.fixture(scope="module")
def result(folder):
    return find_similar(sorted(folder.glob("*.ipynb")))


def _pair(result, a, b):
    for p in result["pairs"]:
        if {Path(p["a"]).stem, Path(p["b"]).stem} == {a, b} or \
                (Path(p["a"]).stem == a and p["b"] == b):
            return p
    return None


def test_the_fixtures_are_honest_correct_solutions(folder):
    paths = [folder / f"{n}.ipynb" for n in ("compact", "vectorised", "copy_of_compact")]
    for r in grade_submissions(paths):
        assert r["error"] is None and r["score"] == r["max_score"], r


def test_a_renamed_and_reordered_copy_is_flagged(result):
    pair = _pair(result, "compact", "copy_of_compact")
    assert pair is not None, result["pairs"]
    assert pair["similarity"] > 0.9
    assert pair["passages_a"] and pair["passages_b"]
    # The passages are the students' code, not the given docstrings.
    assert all("Backward pass of" not in p["text"] for p in pair["passages_a"])


def test_independent_honest_solutions_are_not_flagged(result):
    students = [p for p in result["pairs"] if p["kind"] == "students"]
    flagged = {frozenset((Path(p["a"]).stem, Path(p["b"]).stem)) for p in students}
    assert flagged == {frozenset(("compact", "copy_of_compact"))}, flagged


def test_closeness_to_the_reference_solution_is_flagged(result):
    refs = {Path(p["a"]).stem for p in result["pairs"] if p["kind"] == "reference"}
    assert "reference_author" in refs
    assert not refs & {"compact", "vectorised", "copy_of_compact"}


def test_the_given_code_is_not_compared():
    given = ['def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n'
             '    raise NotImplementedError()']
    mine = ["def f(x):\n    \"\"\"Doc.\"\"\"\n    return x + 1"]
    assert own_code(mine, given).strip() == "return x + 1"
    # An untouched notebook has nothing of its own, so it matches nothing.
    assert own_code(given, given).strip() == ""


def test_cli_writes_json_and_an_offline_html_page(folder, tmp_path):
    out = tmp_path / "similarity.json"
    status = cli.main([str(folder / "compact.ipynb"), str(folder / "copy_of_compact.ipynb"),
                       "--similarity", str(out), "--quiet"])
    assert status == 0
    data = json.loads(out.read_text())
    assert [Path(p["b"]).stem for p in data["pairs"] if p["kind"] == "students"] \
        == ["copy_of_compact"]
    page = (tmp_path / "similarity.html").read_text()
    assert "<mark>" in page and "copy_of_compact" in page
    # Nothing is loaded from elsewhere: no external scripts, styles or fonts.
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<script" not in page
