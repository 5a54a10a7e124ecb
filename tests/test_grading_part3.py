"""Tests of the Part III exercises: bidirectional layer (6), beam search (7), attention (8).

As in ``test_grading.py``, one batch run of ``rnnbook-grade`` grades every
notebook built here: the solutions, the blank exercises, honest solutions
written another way, one notebook per typical mistake and the tampering
cases. Each test then reads the report it cares about. The rest checks the
questions, the reference and the blocking of library code without a kernel.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from rnnbook.nn import attention, rnn
from rnnbook.nn import sequence as models
from rnnbook.grading import _harness, check, cli, run_check, uses_reference
from rnnbook.grading import questions as Q
from rnnbook.grading import references
from rnnbook.grading.questions import EXERCISES, QUESTIONS
from rnnbook.grading.sandbox import PACKAGE_DIR, build_stub_package
from rnnbook.grading.selfcheck import BLOCKED, blocked_for
from test_grading import (SANDBOX, SOLUTIONS, add_cell, copy_solution_code, edit, exercise,
                          kernel_processes, plain, solution)

PART_III = ["06_bidirectional", "07_beam_search", "08_attention"]


def edits(ex, *pairs):
    nb = solution(ex)
    for old, new in pairs:
        nb = edit(nb, old, new)
    return nb


# --------------------------------------------------------------------------
# Typical mistakes: (notebook, question, points lost at least, words in the feedback)
# --------------------------------------------------------------------------

_CONCAT = "h = np.concatenate([h_fwd * real, h_bwd * real], axis=2)"
_BEAM_FINISHED = ("                candidates.append((tokens, score))  "
                  "# finished: kept as it is\n")

WRONG = {
    "bidir_whole_row": (
        edits("06_bidirectional", ("    index = np.where(t < L, L - 1 - t, t)\n",
                                   "    index = np.broadcast_to(T - 1 - t, (N, T))\n")),
        {"reverse_within_lengths": "reverses the whole padded row",
         "bidirectional_forward": "reverses the whole padded row, so it starts in the padding"}),
    "bidir_padding_not_zeroed": (
        edits("06_bidirectional", (_CONCAT, "h = np.concatenate([h_fwd, h_bwd], axis=2)")),
        {"bidirectional_forward": "the outputs at padded steps are not zero"}),
    "bidir_halves_swapped": (
        edits("06_bidirectional",
              (_CONCAT, "h = np.concatenate([h_bwd * real, h_fwd * real], axis=2)")),
        {"bidirectional_forward": "concatenated in the wrong order"}),
    "bidir_not_back_in_order": (
        edits("06_bidirectional", ("    h_bwd = reverse_within_lengths(h_rev, lengths)\n",
                                   "    h_bwd = h_rev\n")),
        {"bidirectional_forward": "outputs are still in reversed order"}),
    "bidir_gradient_at_padding": (
        edits("06_bidirectional", ("    dh = dh * real  # the padded outputs are constants\n", "")),
        {"bidirectional_backward": "the upstream gradient at padded steps is not ignored"}),
    "bidir_dx_not_back_in_order": (
        edits("06_bidirectional", ("dx = dx_f + reverse_within_lengths(dx_rev, lengths)",
                                   "dx = dx_f + dx_rev")),
        {"bidirectional_backward": "dx is not put back in order"}),
    "bidir_dh_not_reversed": (
        edits("06_bidirectional", ("dh_rev = reverse_within_lengths(dh[:, :, H:], lengths)",
                                   "dh_rev = dh[:, :, H:]")),
        {"bidirectional_backward": "part of dh is not reversed"}),
    "beam_extends_finished": (
        edits("07_beam_search",
              ("        if all(tokens and tokens[-1] == end for tokens, _ in beam):\n"
               "            break\n", ""),
              ("            if tokens and tokens[-1] == end:\n" + _BEAM_FINISHED
               + "                continue\n", "")),
        {"beam_search": "kept growing after its end token"}),
    "beam_ties_reversed": (
        edits("07_beam_search", ("candidates.sort(key=lambda c: -c[1])",
                                 "candidates.sort(key=lambda c: c[1])\n"
                                 "        candidates.reverse()")),
        {"beam_search": "equal scores were ordered the other way round"}),
    "greedy_largest_id": (
        edits("07_beam_search",
              ("token = int(np.argmax(logp))  # the first maximum: the smallest id",
               "token = len(logp) - 1 - int(np.argmax(logp[::-1]))")),
        {"greedy_decode": "broken towards the larger token id"}),
    "greedy_past_end": (
        edits("07_beam_search",
              ("    while len(tokens) < max_len and not (tokens and tokens[-1] == end):",
               "    while len(tokens) < max_len:")),
        {"greedy_decode": "kept growing after the end token"}),
    "beam_keeps_one": (
        edits("07_beam_search", ("beam = candidates[:beam_size]", "beam = candidates[:1]")),
        {"beam_search": "only the best hypothesis survives each step"}),
    "beam_drops_finished": (
        edits("07_beam_search", (_BEAM_FINISHED, "")),
        {"beam_search": "finished hypotheses were dropped from the beam"}),
    "attention_no_scale": (
        edits("08_attention", ("scale = 1.0 / math.sqrt(q.shape[-1])", "scale = 1.0")),
        {"scaled_dot_product_attention": "not divided by sqrt(d)"}),
    "attention_wrong_axis": (
        edits("08_attention",
              ("    e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
               "    return e / e.sum(axis=-1, keepdims=True)",
               "    e = np.exp(scores - scores.max(axis=1, keepdims=True))\n"
               "    return e / e.sum(axis=1, keepdims=True)")),
        {"scaled_dot_product_attention": "the softmax runs over the queries",
         "additive_attention": "the softmax runs over the queries"}),
    "attention_mask_zero": (
        edits("08_attention", ("scores = np.where(mask, scores, -np.inf)",
                               "scores = np.where(mask, scores, 0.0)")),
        {"scaled_dot_product_attention": "masked scores were set to 0",
         "additive_attention": "masked scores were set to 0"}),
    "attention_padded_keys": (
        edits("08_attention", ("scores = np.where(mask, scores, -np.inf)", "scores = scores")),
        {"scaled_dot_product_attention": "the padded keys still get weight",
         "additive_attention": "the padded keys still get weight"}),
    "attention_backward_no_scale": (
        edits("08_attention", ("    dscores = dscores * scale\n", "")),
        {"scaled_dot_product_attention_backward": "misses the scale 1/sqrt(d)"}),
    "attention_backward_diagonal": (
        edits("08_attention", (
            "dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))",
            "dscores = dweights * weights * (1 - weights)")),
        {"scaled_dot_product_attention_backward": "uses only w(1 - w)"}),
    "attention_no_tanh": (
        edits("08_attention", ("scores = np.tanh(pq + pk) @ w", "scores = (pq + pk) @ w")),
        {"additive_attention": "the score has no tanh"}),
    "attention_float64_scale": (
        edits("08_attention", ("scale = 1.0 / math.sqrt(q.shape[-1])",
                               "scale = 1 / np.sqrt(q.shape[-1])")),
        {"scaled_dot_product_attention": "dtype float64 for float32 inputs"}),
}


# --------------------------------------------------------------------------
# Honest solutions written another way: full marks
# --------------------------------------------------------------------------

HONEST = {
    # The one-directional layer of the library (with lengths) stays usable:
    # it is the given cell wrapped, not the graded bidirectional layer.
    "bidir_with_masked_wrapper": plain("06_bidirectional", """
        import numpy as np
        from rnnbook.nn import recurrent_backward, recurrent_forward

        def reverse_within_lengths(x, lengths):
            out = np.array(x, copy=True)
            for n, L in enumerate(lengths):
                out[n, :L] = x[n, :L][::-1]
            return out

        def bidirectional_forward(x, lengths, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b):
            pf, pb = dict(Wx=Wx_f, Wh=Wh_f, b=b_f), dict(Wx=Wx_b, Wh=Wh_b, b=b_b)
            h_f, cf = recurrent_forward("rnn", x, None, pf, lengths)
            h_r, cb = recurrent_forward("rnn", reverse_within_lengths(x, lengths), None, pb,
                                        lengths)
            return np.concatenate([h_f, reverse_within_lengths(h_r, lengths)], 2), (cf, cb)

        def bidirectional_backward(dh, cache):
            cf, cb = cache
            H = dh.shape[2] // 2
            lengths = cf.lengths
            dx_f, _, gf, _ = recurrent_backward(dh[..., :H], cf)
            dx_r, _, gb, _ = recurrent_backward(reverse_within_lengths(dh[..., H:], lengths),
                                                cb)
            dx = dx_f + reverse_within_lengths(dx_r, lengths)
            return dx, gf["Wx"], gf["Wh"], gf["b"], gb["Wx"], gb["Wh"], gb["b"]
        """),
    # Beam search with arrays and a stable argsort instead of lists.
    "beam_vectorised": plain("07_beam_search", """
        import numpy as np

        def greedy_decode(step, end, max_len):
            tokens = []
            logps = []
            for _ in range(max_len):
                logp = np.asarray(step(tokens))
                tokens.append(int(np.flatnonzero(logp == logp.max())[0]))
                logps.append(logp[tokens[-1]])
                if tokens[-1] == end:
                    break
            score = 0.0
            for value in logps:
                score += value
            return np.array(tokens), score

        def beam_search(step, end, beam_size, max_len):
            tokens = [()]
            scores = np.zeros(1)
            for _ in range(max_len):
                done = np.array([bool(t) and t[-1] == end for t in tokens])
                if done.all():
                    break
                rows, cand_tokens = [], []
                for b, t in enumerate(tokens):
                    if done[b]:
                        rows.append(np.array([scores[b]]))
                        cand_tokens.append([t])
                    else:
                        rows.append(scores[b] + np.asarray(step(t)))
                        cand_tokens.append([t + (v,) for v in range(len(rows[-1]))])
                flat = np.concatenate(rows)
                flat_tokens = [t for group in cand_tokens for t in group]
                keep = np.argsort(-flat, kind="stable")[:beam_size]
                tokens, scores = [flat_tokens[i] for i in keep], flat[keep]
            return np.array(tokens[0], dtype=int), float(scores[0])
        """),
    # A large negative number instead of minus infinity gives the same weights.
    "attention_large_negative": edits(
        "08_attention", ("scores = np.where(mask, scores, -np.inf)",
                         "scores = np.where(mask, scores, -1e30)")),
}


# --------------------------------------------------------------------------
# Tampering: nothing earns a point
# --------------------------------------------------------------------------

LIBRARY_BIDIRECTIONAL = '''
import numpy as np
import rnnbook.nn.sequence as m
from rnnbook.nn import reverse_within_lengths as _rev


def reverse_within_lengths(x, lengths):
    return _rev(x, lengths)


def bidirectional_forward(x, lengths, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b):
    return m.bidirectional_forward("rnn", x, dict(Wx=Wx_f, Wh=Wh_f, b=b_f),
                                   dict(Wx=Wx_b, Wh=Wh_b, b=b_b), lengths)


def bidirectional_backward(dh, cache):
    dx, gf, gb = m.bidirectional_backward(dh, cache)
    return dx, gf["Wx"], gf["Wh"], gf["b"], gb["Wx"], gb["Wh"], gb["b"]
'''

STACKED_BIDIRECTIONAL = '''
import numpy as np
from rnnbook.nn import stacked_backward, stacked_forward


def bidirectional_forward(x, lengths, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b):
    layer = (dict(Wx=Wx_f, Wh=Wh_f, b=b_f), dict(Wx=Wx_b, Wh=Wh_b, b=b_b))
    return stacked_forward("rnn", x, [layer], lengths, bidirectional=True)
'''

LIBRARY_ATTENTION = '''
import rnnbook.nn.attention as att
from rnnbook.nn import masked_softmax


def scaled_dot_product_attention(q, k, v, mask):
    return att.scaled_dot_product_attention(q, k, v, mask)


def scaled_dot_product_attention_backward(dout, cache):
    return att.scaled_dot_product_attention_backward(dout, cache)


def additive_attention(q, k, v, Wq, Wk, w, mask):
    scores = (q @ Wq)[:, :, None] + (k @ Wk)[:, None]
    return masked_softmax(__import__("numpy").tanh(scores) @ w, mask) @ v, None, None
'''

REFERENCE_BEAM = '''
def beam_search(step, end, beam_size, max_len):
    from rnnbook.grading.references import beam_search as ref
    return ref(step, end, beam_size, max_len)
'''

SEQ2SEQ_BEAM = '''
import numpy as np
from rnnbook.nn import Seq2Seq


class Wrapped(Seq2Seq):
    pass


def beam_search(step, end, beam_size, max_len):
    model = Wrapped.__new__(Wrapped)
    return model.beam_search(None, None, beam_size, max_len)
'''

ATTENTION_FROM_SOURCE = f'''
import importlib.util
source = {str(PACKAGE_DIR / "nn" / "attention.py")!r}
spec = importlib.util.spec_from_file_location("stolen", source)
try:
    stolen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stolen)
    scaled_dot_product_attention = stolen.scaled_dot_product_attention
    scaled_dot_product_attention_backward = stolen.scaled_dot_product_attention_backward
    additive_attention = stolen.additive_attention
except Exception as exc:
    print("could not load the source:", exc)
'''

COPY_SOLUTION_BEAM = copy_solution_code("07_beam_search.ipynb", "def beam_search")

# An exercise 1 notebook graded in the same run as exercise 6: the RNN that
# exercise 6 gives stays blocked for exercise 1, directly and through the
# library's one-directional wrapper.
RNN_THROUGH_WRAPPER = '''
import numpy as np
from rnnbook.nn import recurrent_forward


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h, cache = recurrent_forward("rnn", x[:, None], h_prev, dict(Wx=Wx, Wh=Wh, b=b))
    return h[:, 0], cache


def rnn_forward(x, h0, Wx, Wh, b):
    return recurrent_forward("rnn", x, h0, dict(Wx=Wx, Wh=Wh, b=b))
'''

TAMPER = {
    "library_bidirectional": plain("06_bidirectional", LIBRARY_BIDIRECTIONAL),
    "stacked_bidirectional": plain("06_bidirectional", STACKED_BIDIRECTIONAL),
    "library_attention": plain("08_attention", LIBRARY_ATTENTION),
    "attention_from_source": plain("08_attention", ATTENTION_FROM_SOURCE),
    "reference_beam": plain("07_beam_search", REFERENCE_BEAM),
    "seq2seq_beam": plain("07_beam_search", SEQ2SEQ_BEAM),
    "copy_solution_beam": plain("07_beam_search", COPY_SOLUTION_BEAM),
    "rnn_through_wrapper": plain("01_rnn_forward", RNN_THROUGH_WRAPPER),
    # Patched numpy and a printed score do not rescue wrong work: this one
    # has the missing scale of WRONG["attention_no_scale"].
    "patch_numpy": add_cell(WRONG["attention_no_scale"][0], """
        import numpy
        numpy.allclose = lambda *a, **k: True
        numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)
        numpy.array_equal = lambda *a, **k: True
        numpy.max = lambda *a, **k: 0.0
        """),
    "fake_score": add_cell(exercise("06_bidirectional"), """
        import json
        print(json.dumps({"score": 16, "max_score": 16, "feedback": "all checks passed"}))
        print("Well done: bidirectional_forward passes every check (6/6 points).")
        """),
    "harness_monkeypatch": add_cell(exercise("07_beam_search"), """
        import json
        import numpy as np
        _savez = np.savez
        def fake_savez(file, **arrays):
            meta = {"status": "ok", "cases": [
                {"status": "ok", "outputs": [{"dtype": "int64", "shape": [1]},
                                             {"dtype": "float64", "shape": []}]}
                for _ in range(8)]}
            fake = {f"c{c}_o{k}": np.zeros([1] if k == 0 else []) for c in range(8)
                    for k in range(2)}
            _savez(file, meta=np.array(json.dumps(meta)), **fake)
        np.savez = fake_savez
        """),
    # Changing the model inside the kernel changes nothing the grader compares
    # with: here every log-probability becomes 0 before an honest search.
    "poison_step": edit(solution("07_beam_search"),
                        "    beam = [((), 0.0)]  # (tokens, score), best first\n",
                        "    for cell in step.__closure__ or ():\n"
                        "        if isinstance(cell.cell_contents, np.ndarray):\n"
                        "            cell.cell_contents[...] = 0\n"
                        "    beam = [((), 0.0)]  # (tokens, score), best first\n"),
    "fork_and_threads": add_cell(solution("07_beam_search"), """
        import os, subprocess, threading, time
        if os.fork() == 0:
            os.setsid()
            while True:
                time.sleep(0.1)
        subprocess.Popen(["sleep", "300"], start_new_session=True)
        threading.Thread(target=lambda: time.sleep(300), daemon=False).start()
        """),
}

#: tampering cases whose notebook also contains some honest work (they keep it)
KEEPS_POINTS = {"fork_and_threads": 12, "patch_numpy": 5}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    import nbformat

    folder = tmp_path_factory.mktemp("part3")
    paths = {}
    for ex in PART_III:
        paths[f"solution_{ex}"] = solution(ex)
        paths[f"exercise_{ex}"] = exercise(ex)
    paths.update({k: nb for k, (nb, _) in WRONG.items()})
    paths.update(HONEST)
    paths.update(TAMPER)
    files = {}
    for key, nb in paths.items():
        files[key] = folder / f"{key}.ipynb"
        nbformat.write(nb, files[key])
    json_path = folder / "report.json"
    status = cli.main([*map(str, files.values()), "--json", str(json_path), "--jobs", "2",
                       "--cell-timeout", "10", "--total-timeout", "60", "--quiet"])
    by_path = {r["submission"]: r for r in json.loads(json_path.read_text())}
    return {"status": status,
            "by_key": {k: by_path[str(p)] for k, p in files.items()}}


def report(batch, key):
    return batch["by_key"][key]


def question(rep, name):
    return next(q for q in rep["questions"] if q["name"] == name)


# --------------------------------------------------------------------------
# Solutions, blank exercises, honest variants
# --------------------------------------------------------------------------

def test_batch_grades_everything(batch):
    assert batch["status"] == 0
    assert all(r["error"] is None for r in batch["by_key"].values())


@pytest.mark.parametrize("ex", PART_III)
def test_solution_scores_full_marks(batch, ex):
    rep = report(batch, f"solution_{ex}")
    assert rep["exercise"] == ex
    assert rep["max_score"] == sum(q.max_score for q in EXERCISES[ex]) > 0
    assert rep["score"] == rep["max_score"], rep


@pytest.mark.parametrize("ex", PART_III)
def test_blank_exercise_scores_zero(batch, ex):
    rep = report(batch, f"exercise_{ex}")
    assert rep["score"] == 0
    assert all("not implemented" in q["feedback"] for q in rep["questions"]), rep


@pytest.mark.parametrize("key", sorted(HONEST))
def test_honest_work_written_another_way_scores_full_marks(batch, key):
    rep = report(batch, key)
    assert rep["score"] == rep["max_score"], rep


# --------------------------------------------------------------------------
# Each typical mistake costs its points and is named
# --------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(WRONG))
def test_typical_mistake_loses_points_and_is_named(batch, key):
    rep = report(batch, key)
    expected = WRONG[key][1]
    for q in rep["questions"]:
        if q["name"] in expected:
            assert q["score"] < q["max_score"], q
            assert expected[q["name"]] in q["feedback"], q
            assert "\n" not in q["feedback"]
    assert 0 < rep["max_score"] - rep["score"]


def test_a_mistake_costs_only_its_own_checks(batch):
    rep = report(batch, "bidir_whole_row")
    # Full-length sequences have no padding to start in.
    assert question(rep, "reverse_within_lengths")["score"] == 1
    assert question(rep, "bidirectional_forward")["score"] == 2
    rep = report(batch, "bidir_dx_not_back_in_order")
    assert question(rep, "bidirectional_backward")["score"] == 6  # only dx is wrong
    assert question(rep, "bidirectional_forward")["score"] == 6
    rep = report(batch, "beam_ties_reversed")
    assert question(rep, "beam_search")["score"] >= 4


# --------------------------------------------------------------------------
# Tampering earns nothing; no kernel survives
# --------------------------------------------------------------------------

#: cases that only the sandbox stops (without it a kernel can read any file)
SANDBOX_ONLY = {"attention_from_source", "copy_solution_beam"}


@pytest.mark.parametrize("key", sorted(set(TAMPER) - {"poison_step"}))
def test_tampering_earns_nothing(batch, key):
    if key in SANDBOX_ONLY and not SANDBOX:
        pytest.skip("without the sandbox a kernel can read the library source and solutions")
    rep = report(batch, key)
    assert rep["score"] == KEEPS_POINTS.get(key, 0), rep


@pytest.mark.parametrize("key,name", [
    ("library_bidirectional", "bidirectional_forward"),
    ("library_bidirectional", "bidirectional_backward"),
    ("library_attention", "scaled_dot_product_attention"),
    ("rnn_through_wrapper", "rnn_forward"),
])
def test_calling_blocked_library_code_is_named(batch, key, name):
    feedback = question(report(batch, key), name)["feedback"]
    assert "not available while a notebook is graded" in feedback


def test_a_poisoned_model_does_not_change_the_reference(batch):
    q = question(report(batch, "poison_step"), "beam_search")
    assert question(report(batch, "poison_step"), "greedy_decode")["score"] == 4
    # Every log-probability of the poisoned model is 0, so its scores are 0;
    # the reference's come from the grader's own copy and are negative.
    assert "score has wrong values" in q["feedback"] and q["score"] < q["max_score"]


def test_patched_numpy_earns_no_more_than_the_work_itself(batch):
    wrong = report(batch, "attention_no_scale")
    patched = report(batch, "patch_numpy")
    assert [q["score"] for q in patched["questions"]] == [q["score"] for q in
                                                          wrong["questions"]] == [0, 0, 5]


def test_no_kernel_outlives_the_grader(batch):
    assert report(batch, "fork_and_threads")["score"] == 12
    assert kernel_processes(os.getpid()) == []


# --------------------------------------------------------------------------
# Blocking: what each exercise's kernel gets
# --------------------------------------------------------------------------

def _blocked_names(exercise, module):
    import importlib

    names = blocked_for(exercise).get(module, ())
    if names == "*":
        mod = importlib.import_module(module)
        names = [n for n, v in vars(mod).items() if callable(v)
                 and getattr(v, "__module__", None) == module]
    return set(names)


def test_blocked_covers_the_part_iii_library_code():
    assert BLOCKED["rnnbook.nn.attention"] == "*"
    assert {"bidirectional_forward", "bidirectional_backward",
            "reverse_within_lengths"} <= set(BLOCKED["rnnbook.nn.sequence"])
    assert "Seq2Seq" in BLOCKED["rnnbook.nn.seq2seq"]
    given = _blocked_names("06_bidirectional", "rnnbook.nn.rnn")
    assert not given & {"rnn_forward", "rnn_backward"}
    # The readable sequence functions are loops over the step functions, so
    # those come with them; the other cells stay blocked.
    assert not given & {"rnn_step_forward", "rnn_step_backward"}
    # Exercise 2 is given the forward pass it differentiates, not the backward.
    blocked_02 = _blocked_names("02_rnn_backward", "rnnbook.nn.rnn")
    assert not blocked_02 & {"rnn_forward", "rnn_step_forward"}
    assert {"rnn_backward", "rnn_step_backward"} <= blocked_02
    for ex in EXERCISES:
        assert {"rnn_forward", "rnn_backward", "rnn_step_forward"} <= \
            _blocked_names(ex, "rnnbook.nn.rnn") or ex in ("02_rnn_backward",
                                                           "06_bidirectional")
        for module in ("rnnbook.nn.attention", "rnnbook.nn.sequence", "rnnbook.nn.seq2seq",
                       "rnnbook.nn.lstm", "rnnbook.nn.gru"):
            assert _blocked_names(ex, module) == _blocked_names(None, module), (ex, module)


def _run_with_stub(stub: Path, code: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(stub), "PYTHONNOUSERSITE": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)


def _unavailable(call: str) -> str:
    return (f"try:\n    {call}\nexcept RuntimeError as e:\n"
            f"    assert 'not available' in str(e)\nelse:\n    raise SystemExit('ran')\n")


@pytest.mark.parametrize("exercise_id", ["06_bidirectional", "01_rnn_forward"])
def test_stub_package_keeps_only_the_given_cell(exercise_id):
    tmp = Path(tempfile.mkdtemp(prefix="rnnbook-stub-test-"))
    try:
        stub = build_stub_package(tmp / "stub", exercise_id)
        given = exercise_id == "06_bidirectional"
        code = "import numpy as np\nimport rnnbook.nn.sequence as m, rnnbook.nn.rnn as r\n"
        code += "x, h0 = np.ones((2, 3, 4)), np.zeros((2, 5))\n"
        code += "W, U, b = np.ones((4, 5)), np.eye(5), np.zeros(5)\n"
        rnn_call = "r.rnn_forward(x, h0, W, U, b)"
        wrapper = "m.recurrent_forward('rnn', x, None, dict(Wx=W, Wh=U, b=b), np.array([3, 1]))"
        if given:
            code += f"h, cache = {rnn_call}\nassert h.shape == (2, 3, 5)\n"
            code += "assert r.rnn_backward(np.ones_like(h), cache)[0].shape == x.shape\n"
            code += f"h, _ = {wrapper}\nassert not h[1, 1:].any()\n"
        else:
            code += _unavailable(rnn_call) + _unavailable(wrapper)
        if not given:
            code += _unavailable("r.rnn_step_forward(x[:, 0], h0, W, U, b)")
        for call in ["m.bidirectional_forward('rnn', x, {}, {})",
                     "m.bidirectional_backward(None, None)",
                     "m.reverse_within_lengths(x, np.array([3, 1]))",
                     "m.stacked_forward('rnn', x, [(dict(Wx=W, Wh=U, b=b),) * 2], "
                     "bidirectional=True)",
                     "__import__('rnnbook.nn.attention').nn.attention.masked_softmax(x)",
                     "__import__('rnnbook.nn.attention').nn.attention"
                     ".scaled_dot_product_attention(x, x, x)",
                     "__import__('rnnbook.nn').nn.Seq2Seq()"]:
            code += _unavailable(call)
        code += "print('checked')\n"
        res = _run_with_stub(stub, code)
        assert res.returncode == 0 and "checked" in res.stdout, res.stderr[-2000:]
        rnn_source = (stub / "rnnbook" / "nn" / "rnn.py").read_text()
        assert ("def rnn_forward(" in rnn_source) == given
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp)], check=False)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def test_the_sandbox_probe_reads_files_that_exist():
    # After the package layout changed, the probe looked for rnn.py at its
    # old place and quietly turned the sandbox off on every machine.
    from rnnbook.grading.runner import Grader

    grader = Grader(sandbox="auto")
    try:
        assert "No such file" not in grader.sandbox.reason, grader.sandbox.reason
        assert grader.sandbox.enabled == SANDBOX
    finally:
        grader.close()


def test_grader_builds_the_given_stub_only_for_its_exercise(tmp_path):
    from rnnbook.grading.runner import Grader

    grader = Grader(sandbox="off")
    try:
        default = grader.sandbox_for("01_rnn_forward")
        assert grader.sandbox_for(None) is default is grader.sandbox_for("08_attention")
        assert default is grader.sandbox
        special = grader.sandbox_for("06_bidirectional")
        assert special is grader.sandbox_for("06_bidirectional")
        assert special.stub_path != default.stub_path
        assert special.hide == default.hide and special.enabled == default.enabled
        env = special.kernel_env(tmp_path)
        assert env["PYTHONPATH"] == str(special.stub_path)
        special_nn, default_nn = special.stub_path / "rnnbook" / "nn", \
            default.stub_path / "rnnbook" / "nn"
        assert "def rnn_forward(" in (special_nn / "rnn.py").read_text()
        assert "def rnn_forward(" not in (default_nn / "rnn.py").read_text()
        assert "_unavailable(" in (special_nn / "attention.py").read_text()
    finally:
        grader.close()


# --------------------------------------------------------------------------
# The self-check, in the student's process
# --------------------------------------------------------------------------

def _bidir_forward_ref(x, lengths, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b):
    return models.bidirectional_forward("rnn", x, dict(Wx=Wx_f, Wh=Wh_f, b=b_f),
                                        dict(Wx=Wx_b, Wh=Wh_b, b=b_b), lengths)


def _bidir_backward_ref(dh, cache):
    dx, gf, gb = models.bidirectional_backward(dh, cache)
    return dx, gf["Wx"], gf["Wh"], gf["b"], gb["Wx"], gb["Wh"], gb["b"]


def _greedy_ref(step, end, max_len):
    return references.beam_search(step, end, 1, max_len)


REFERENCES = {
    "greedy_decode": (_greedy_ref, None),
    "reverse_within_lengths": (models.reverse_within_lengths, None),
    "bidirectional_forward": (_bidir_forward_ref, None),
    "bidirectional_backward": (_bidir_backward_ref, _bidir_forward_ref),
    "beam_search": (references.beam_search, None),
    "scaled_dot_product_attention": (attention.scaled_dot_product_attention, None),
    "scaled_dot_product_attention_backward": (
        attention.scaled_dot_product_attention_backward,
        attention.scaled_dot_product_attention),
    "additive_attention": (attention.additive_attention, None),
}


def test_every_part_iii_question_has_a_reference_here():
    assert sorted(REFERENCES) == sorted(q.name for ex in PART_III for q in EXERCISES[ex])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_self_check_passes_the_reference_and_warns_about_it(name, capsys):
    fn, forward = REFERENCES[name]
    for seed in range(3):
        # The library's versions work outside a grading kernel ...
        result = run_check(name, fn, forward, rng=np.random.default_rng(seed),
                           as_graded=False)
        assert result.score == result.max_score, result.feedback
    # ... and not inside one: the self-check switches them off as the grader
    # does, so it gives the grader's points, and says why first.
    graded = run_check(name, fn, forward, rng=np.random.default_rng(0))
    assert graded.score == 0, graded.feedback
    check(name, fn, forward=forward)
    out = capsys.readouterr().out
    assert out.startswith(f"Warning: {name} calls rnnbook."), out
    assert "Well done" not in out


def test_the_given_rnn_is_no_reference_for_exercise_6_only():
    def forward_half(x, h0, Wx, Wh, b):
        return rnn.rnn_forward(x, h0, Wx, Wh, b)

    assert uses_reference(forward_half, "06_bidirectional") == []
    assert uses_reference(forward_half, "01_rnn_forward") == ["rnnbook.nn.rnn.rnn_forward"]
    assert uses_reference(forward_half) == ["rnnbook.nn.rnn.rnn_forward"]
    assert uses_reference(_bidir_forward_ref, "06_bidirectional") == [
        "rnnbook.nn.sequence.bidirectional_forward"]


def test_self_check_names_a_mistake_without_the_expected_values(capsys):
    def no_scale(q, k, v, mask):
        scores = np.where(mask, q @ k.transpose(0, 2, 1), -np.inf)
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        w = e / e.sum(axis=-1, keepdims=True)
        return w @ v, w, None

    check("scaled_dot_product_attention", no_scale)
    out = capsys.readouterr().out
    assert "0/6 points" in out and "not divided by sqrt(d)" in out
    assert "Warning" not in out


def _bidir_forward_own(x, lengths, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b, zero_padding=True):
    """The layer from the given one-directional RNN, as a student writes it."""
    N, T, _ = x.shape
    t = np.arange(T)[None, :]
    index = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    rows = np.arange(N)[:, None]
    h0 = np.zeros((N, Wh_f.shape[0]), dtype=x.dtype)
    h_f, cache_f = rnn.rnn_forward(x, h0, Wx_f, Wh_f, b_f)
    h_b, cache_b = rnn.rnn_forward(x[rows, index], h0, Wx_b, Wh_b, b_b)
    h = np.concatenate([h_f, h_b[rows, index]], axis=2)
    if zero_padding:
        h = h * (t < lengths[:, None])[:, :, None]
    return h, (cache_f, cache_b, index)


def test_a_named_mistake_is_said_once_and_not_taken_for_a_slip():
    # Mistake naming (Part III) and the slip re-check (Parts I and II) both
    # look at wrong outputs; a named mistake is the whole message, once.
    words = Q._MISTAKE_WORDS["no_zero"]
    assert run_check("bidirectional_forward", _bidir_forward_own,
                     rng=np.random.default_rng(0)).score == 6
    result = run_check("bidirectional_forward",
                       lambda *a: _bidir_forward_own(*a, zero_padding=False),
                       rng=np.random.default_rng(0))
    assert result.score < result.max_score
    assert result.feedback.count(words) == 1, result.feedback
    assert "this looks like" not in result.feedback
    assert len(result.messages) == len(set(result.messages))


def test_argument_order_hint_uses_the_exercises_signature():
    # The library's bidirectional_forward takes (cell, x, params_fwd, ...); the
    # exercise's takes the weights one by one, and the hint must say so.
    def swapped(lengths, x, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b):
        return _bidir_forward_own(x, lengths, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b)

    result = run_check("bidirectional_forward", swapped, rng=np.random.default_rng(0))
    assert result.score == 0
    assert "swapped argument order" in result.messages[0], result.messages
    assert "bidirectional_forward(x, lengths, Wx_f" in result.messages[0]
    assert "params_fwd" not in result.feedback


# --------------------------------------------------------------------------
# The questions: every mistake is detectable, the beam search rules hold
# --------------------------------------------------------------------------

def _differs(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape != b.shape or not np.allclose(a, b, equal_nan=True)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_every_mistake_is_caught_by_some_check(name):
    q = QUESTIONS[name]
    for seed in range(5):
        cases = q.make_cases(np.random.default_rng(seed))
        checked = {(c, chk.output) for chk in q.checks for c in chk.cases}
        for mistake in q.mistakes:
            caught = False
            for c, case in enumerate(cases):
                wrong = mistake.outputs_fn(case)
                right = q.reference(case)
                caught |= any(_differs(wrong[k], right[k]) for k in range(len(right))
                              if (c, k) in checked)
            assert caught, (name, mistake.words, seed)


def test_mistake_free_variants_equal_the_library():
    rng = np.random.default_rng(1)
    for case in Q.BIDIRECTIONAL_FORWARD.make_cases(rng):
        assert np.allclose(Q._bidir_variant(case)[0], Q._ref_bidirectional_forward(case)[0])
    for case in Q.BIDIRECTIONAL_BACKWARD.make_cases(rng):
        for a, b in zip(Q._bidir_variant(case, backward=True),
                        Q._ref_bidirectional_backward(case)):
            assert np.allclose(a, b)
    for case in Q.SCALED_DOT_PRODUCT_ATTENTION.make_cases(rng):
        for a, b in zip(Q._attention_variant(case), Q._ref_sdpa(case)):
            assert np.allclose(a, b)
    for case in Q.ADDITIVE_ATTENTION.make_cases(rng):
        for a, b in zip(Q._attention_variant(case, additive=True), Q._ref_additive(case)):
            assert np.allclose(a, b)
    for case in Q.SCALED_DOT_PRODUCT_ATTENTION_BACKWARD.make_cases(rng):
        for a, b in zip(Q._sdpa_backward_variant(case, None), Q._ref_sdpa_backward(case)):
            assert np.allclose(a, b)


def _random_model(rng, V, S, ties=False):
    logits = rng.integers(0, 2, (S, V)).astype(float) if ties else rng.normal(0, 1.5, (S, V))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return _harness.make_step(logp, rng.integers(0, S, (S, V)))


def _greedy(step, end, max_len):
    tokens, score = (), 0.0
    while len(tokens) < max_len and not (tokens and tokens[-1] == end):
        logp = step(tokens)
        t = int(np.argmax(logp))
        tokens, score = tokens + (t,), score + float(logp[t])
    return tokens, score


def test_beam_of_one_is_greedy_ties_included():
    rng = np.random.default_rng(3)
    for i in range(200):
        V = int(rng.integers(2, 6))
        step = _random_model(rng, V, int(rng.integers(1, 6)), ties=i % 2 == 0)
        end, max_len = int(rng.integers(0, V)), int(rng.integers(1, 7))
        tokens, score = references.beam_search(step, end, 1, max_len)
        assert (tuple(tokens), score) == _greedy(step, end, max_len)


def test_widest_beam_finds_the_most_probable_output():
    rng = np.random.default_rng(4)
    for _ in range(30):
        V, max_len = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        step = _random_model(rng, V, 3)
        end = int(rng.integers(0, V))
        outputs = [t for L in range(1, max_len + 1) for t in itertools.product(range(V), repeat=L)
                   if end not in t[:-1] and (t[-1] == end or L == max_len)]
        score = lambda t: sum(float(step(t[:i])[x]) for i, x in enumerate(t))
        best = max(score(t) for t in outputs)
        width = sum(V ** L for L in range(1, max_len + 1))
        tokens, found = references.beam_search(step, end, width, max_len)
        assert abs(found - best) < 1e-12 and abs(score(tuple(tokens)) - found) < 1e-12
        assert all(references.beam_search(step, end, B, max_len)[1] <= best + 1e-12
                   for B in (1, 2, 3))


def test_tie_rule_prefers_the_better_hypothesis_then_the_smaller_token():
    # Two equally probable first tokens; every continuation is equally probable.
    logp = np.log(np.array([[0.5, 0.5, 0.0 + 1e-300], [1 / 3, 1 / 3, 1 / 3]]))
    trans = np.array([[1, 1, 1], [1, 1, 1]])
    step = _harness.make_step(logp, trans)
    tokens, _ = references.beam_search(step, 2, 2, 2)
    assert tuple(tokens) == (0, 0)
    tokens, _ = references.beam_search(step, 2, 2, 2, reverse_ties=True)
    assert tuple(tokens) != (0, 0)


def test_step_function_rejects_bad_tokens():
    step = _harness.make_step(np.zeros((2, 3)), np.zeros((2, 3), dtype=int))
    assert step(()).shape == (3,)
    with pytest.raises(ValueError, match="token ids are 0 to 2"):
        step((3,))
    with pytest.raises(TypeError):
        step((1.5,))


def test_beam_cases_are_chosen_so_that_each_check_can_fail():
    for seed in range(10):
        cases = Q.BEAM_SEARCH.make_cases(np.random.default_rng(seed))
        assert Q._beam_differs(cases[2], greedy=True)
        assert Q._beam_differs(cases[4], reverse_ties=True)
        assert Q._beam_differs(cases[5], extend_finished=True)
