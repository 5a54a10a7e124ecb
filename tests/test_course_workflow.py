"""A course run on the grader: roster, late policy, LMS gradebook, feedback, slips.

Two grading runs, each through the command line as an instructor runs it:

* an LMS-style download (one subfolder per student) of exercise 1 with a
  roster, a deadline and ``--exercise``: a student without a submission,
  a late one, a stray text file, a notebook whose metadata was stripped,
  one whose top-level cell runs too long;
* held-out submissions with the common slips and with library calls
  written inside function bodies, whose grades are compared with the
  self-check run in this process on the same code.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from rnnbook.grading import cli, run_check
from rnnbook.grading.course import LatePolicy, parse_time, read_roster, RosterError
from rnnbook.grading.questions import EXERCISES, QUESTIONS

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISE_DIR = ROOT / "exercises"


def solution(ex):
    return nbformat.read(SOLUTIONS / f"{ex}.ipynb", as_version=4)


def edit(ex, old, new, count=1):
    nb = solution(ex)
    hits = 0
    for cell in nb.cells:
        if old in cell.source:
            hits += cell.source.count(old)
            cell.source = cell.source.replace(old, new)
    assert hits == count, (ex, old, hits)
    return nb


def grade(args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main([*map(str, args), "--jobs", "2", "--cell-timeout", "4",
                           "--total-timeout", "60", "--quiet"])
    assert status == 0
    return out.getvalue()


# --------------------------------------------------------------------------
# Run 1: an LMS download with a roster
# --------------------------------------------------------------------------

DEADLINE = "2026-03-01T23:59"


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    base = tmp_path_factory.mktemp("course")
    inbox = base / "download"
    stripped = solution("01_rnn_forward")
    stripped.metadata = {}
    slow = solution("01_rnn_forward")
    slow.cells.append(nbformat.v4.new_code_cell("import time\nwhile True:\n    time.sleep(0.1)"))
    files = {
        "Ada Lovelace_1001_assignsubmission_file_/rnn.ipynb": solution("01_rnn_forward"),
        "Alan Turing_1002_assignsubmission_file_/rnn.ipynb": solution("01_rnn_forward"),
        "Alan Turing_1002_assignsubmission_file_/notes.txt": "my notes",
        "Grace Hopper_1003_assignsubmission_file_/hw1 (1).ipynb": stripped,
        "edsger_1005/final.ipynb": slow,
        "edsger_1005/draft.ipynb": nbformat.read(EXERCISE_DIR / "01_rnn_forward.ipynb", 4),
    }
    for rel, content in files.items():
        path = inbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            nbformat.write(content, path)
    roster = base / "roster.csv"
    roster.write_text(
        "student_id,name,submission,submitted_at,login,section\n"
        "1001,Ada Lovelace,,2026-03-01T20:00,ada,A\n"
        # Two and a half days late: three started days.
        "1002,Alan Turing,,2026-03-04T11:00,alan,A\n"
        "1003,Grace Hopper,Grace Hopper_*,2026-03-01T22:00+00:00,grace,B\n"
        "1004,Barbara Liskov,,,barbara,B\n"
        "1005,Edsger Dijkstra,edsger_1005,2026-03-01T23:00,edsger,B\n")
    csv_path, json_path, feedback = base / "grades.csv", base / "grades.json", base / "fb"
    table = grade([inbox, "--roster", roster, "--deadline", DEADLINE, "--exercise",
                   "01_rnn_forward", "--csv", csv_path, "--json", json_path,
                   "--feedback", feedback])
    with csv_path.open(newline="") as fh:
        lms_rows = list(csv.DictReader(fh))
    with (base / "grades.details.csv").open(newline="") as fh:
        details = {r["student_id"]: r for r in csv.DictReader(fh)}
    return {"base": base, "lms": lms_rows, "lms_text": csv_path.read_text(),
            "details": details, "json": json.loads(json_path.read_text()),
            "feedback": feedback, "table": table}


def test_one_row_per_student_in_roster_order(lms):
    assert [r["SIS User ID"] for r in lms["lms"]] == ["1001", "1002", "1003", "1004", "1005"]
    assert lms["lms_text"].splitlines()[0] == \
        "Student,ID,SIS User ID,SIS Login ID,Section,01_rnn_forward"
    ada = lms["lms"][0]
    assert (ada["Student"], ada["SIS Login ID"], ada["Section"], ada["01_rnn_forward"]) == \
        ("Ada Lovelace", "ada", "A", "10")


def test_a_student_without_a_submission_has_a_row_and_a_reason(lms):
    row = lms["details"]["1004"]
    assert row["status"] == "no submission" and row["points"] == "0"
    assert row["max_score"] == "10"
    assert lms["lms"][3]["01_rnn_forward"] == "0"


def test_late_submission_follows_the_documented_policy(lms):
    row = lms["details"]["1002"]
    policy = LatePolicy(parse_time(DEADLINE))
    days = policy.days_late(parse_time("2026-03-04T11:00"))
    assert days == 3 and row["days_late"] == "3"
    assert row["score"] == "10" and float(row["points"]) == pytest.approx(10 * (1 - 0.3))
    assert "3 days late" in row["status"]
    # On time, and past the cut-off.
    assert policy.apply(10, 0) == 10 and policy.apply(10, 8) == 0


def test_the_text_file_is_reported_not_skipped(lms):
    txt = [r for r in lms["json"] if r["submission"].endswith("notes.txt")]
    assert len(txt) == 1 and "not a notebook" in txt[0]["error"]
    # It keeps the exercise's maximum score, so percentages stay right.
    assert txt[0]["max_score"] == 10
    assert "also handed in notes.txt (not a notebook" in lms["details"]["1002"]["notes"]


def test_stripped_metadata_grades_with_the_exercise_flag(lms):
    row = lms["details"]["1003"]
    assert row["score"] == "10" and row["status"] == "graded"
    assert row["submission"].endswith("hw1 (1).ipynb")


def test_the_best_of_several_files_counts_and_a_timed_out_cell_is_reported(lms):
    row = lms["details"]["1005"]
    assert row["submission"].endswith("final.ipynb") and row["score"] == "10"
    assert "also handed in draft.ipynb (0/10)" in row["notes"]
    assert re.search(r"code cell \d+: timed out after 4 s", row["notes"]), row["notes"]
    final = next(r for r in lms["json"] if r["submission"].endswith("final.ipynb"))
    assert any("timed out" in n for n in final["notes"])
    assert final["student"]["id"] == "1005"


def test_feedback_pages_per_submission(lms):
    fb = lms["feedback"]
    assert sorted(p.name for p in fb.iterdir()) == ["1001", "1002", "1003", "1005"]
    md = (fb / "1002" / "01_rnn_forward.md").read_text()
    assert md.startswith("# Feedback on exercise 01_rnn_forward for Alan Turing (1002)")
    assert "| `rnn_step_forward` | 4/4 |" in md and "Points: 7 of 10" in md
    assert "3 started day(s) after the deadline" in md
    page = (fb / "1005" / "01_rnn_forward.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "timed out" in page
    assert "<script" not in page


def test_roster_errors_are_clear(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("id,name\n1,A\n")
    with pytest.raises(RosterError, match="student_id"):
        read_roster(bad)
    bad.write_text("student_id,name\n1,A\n1,B\n")
    with pytest.raises(RosterError, match="appears twice"):
        read_roster(bad)


def test_unknown_exercise_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(SOLUTIONS / "01_rnn_forward.ipynb"), "--exercise", "99_nothing"])
    assert exc.value.code == 2 and "unknown exercise" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Run 2: held-out slips, and library calls inside function bodies
# --------------------------------------------------------------------------

SLIPS = {
    "rnn_transposed": (edit("01_rnn_forward", "h_prev @ Wh + b", "h_prev @ Wh.T + b"),
                       "rnn_step_forward", "this looks like Wh used transposed"),
    "rnn_no_bias": (edit("01_rnn_forward", "h_prev @ Wh + b)", "h_prev @ Wh)"),
                    "rnn_step_forward", "this looks like the bias b left out"),
    "rnn_sigmoid": (edit("01_rnn_forward", "h = np.tanh(x @ Wx + h_prev @ Wh + b)",
                         "h = 1 / (1 + np.exp(-(x @ Wx + h_prev @ Wh + b)))"),
                    "rnn_step_forward", "this looks like sigmoid where tanh belongs"),
    "gru_sigmoid": (edit("05_gru", "n = np.tanh(u[:, 2 * H:] + r * v[:, 2 * H:])",
                         "n = sigmoid(u[:, 2 * H:] + r * v[:, 2 * H:])"),
                    "gru_step_forward",
                    "this looks like sigmoid where tanh belongs for the candidate n"),
    "lstm_gate_order": (edit("04_lstm", "    i = sigmoid(a[:, :H])\n    f = sigmoid(a[:, H:2 * H])",
                             "    f = sigmoid(a[:, :H])\n    i = sigmoid(a[:, H:2 * H])"),
                        "lstm_step_forward",
                        "this looks like the gate blocks taken in the order (f, i, g, o)"),
    "argument_order": (edit("01_rnn_forward", "def rnn_step_forward(x, h_prev, Wx, Wh, b):",
                            "def rnn_step_forward(x, Wx, h_prev, Wh, b):"),
                       "rnn_step_forward", "this looks like a swapped argument order"),
    "backward_transposed": (edit("02_rnn_backward", "dh_prev = da @ Wh.T", "dh_prev = da @ Wh"),
                            "rnn_step_backward", "this looks like Wh not transposed"),
}

INNER_IMPORTS = {
    # The library's step, imported inside the body: unavailable when graded.
    "inner_import": (edit("01_rnn_forward", "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n",
                          "    from rnnbook.nn.rnn import rnn_step_forward as ref\n"
                          "    h = ref(x, h_prev, Wx, Wh, b)[0]\n"), "01_rnn_forward"),
    # The same through importlib and a module attribute.
    "inner_importlib": (edit("01_rnn_forward", "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n",
                             "    import importlib\n"
                             "    h = importlib.import_module('rnnbook.nn.rnn')"
                             ".rnn_step_forward(x, h_prev, Wx, Wh, b)[0]\n"), "01_rnn_forward"),
    # Falls back to its own code when the library's fails: full marks in both.
    "inner_fallback": (edit("01_rnn_forward", "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n",
                            "    try:\n        from rnnbook.nn.rnn import rnn_step_forward as r\n"
                            "        h = r(x, h_prev, Wx, Wh, b)[0]\n    except RuntimeError:\n"
                            "        h = np.tanh(x @ Wx + h_prev @ Wh + b)\n"), "01_rnn_forward"),
    # Exercise 2 calls the library's backward inside its own.
    "inner_backward": (edit("02_rnn_backward", "    da = dh * (1 - h * h)\n",
                            "    from rnnbook.nn.rnn import rnn_step_backward as ref\n"
                            "    return ref(dh, cache)\n    da = dh * (1 - h * h)\n"),
                       "02_rnn_backward"),
}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("held_out")
    for key, (nb, *_rest) in {**SLIPS, **INNER_IMPORTS}.items():
        nbformat.write(nb, folder / f"{key}.ipynb")
    json_path = folder / "report.json"
    grade([folder, "--json", json_path])
    return {Path(r["submission"]).stem: r for r in json.loads(json_path.read_text())}


def q(report, name):
    return next(x for x in report["questions"] if x["name"] == name)


@pytest.mark.parametrize("key", sorted(SLIPS))
def test_each_common_slip_is_named(held_out, key):
    _, name, words = SLIPS[key]
    fb = q(held_out[key], name)["feedback"]
    assert words in fb, fb
    if "wrong values" in fb:
        assert "of the largest expected value" in fb or "times the largest expected" in fb


def test_argument_order_feedback_gives_the_signature(held_out):
    fb = q(held_out["argument_order"], "rnn_step_forward")["feedback"]
    assert "rnn_step_forward(x, h_prev, Wx, Wh, b)" in fb and "(x, Wx, h_prev, Wh, b)" in fb
    assert "IndexError" not in fb.split(";")[0]


def test_repeated_feedback_is_merged(held_out):
    fb = q(held_out["inner_import"], "rnn_step_forward")["feedback"]
    assert fb.count("is not available while a notebook is graded") == 1, fb
    assert "the same for" in fb


def _self_check_scores(nb) -> dict:
    """Run the notebook's code in this process and self-check every graded function."""
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type == "code" and "BEGIN HIDDEN" not in cell.source:
                exec(compile(cell.source, "<cell>", "exec"), ns)
    ex = nb.metadata["rnnbook"]["exercise"]
    scores = {}
    for question in EXERCISES[ex]:
        forward = ns[question.forward] if question.forward else None
        scores[question.name] = run_check(question.name, ns[question.name], forward).score
    return scores


@pytest.mark.parametrize("key", sorted(INNER_IMPORTS))
def test_self_check_and_grader_agree_on_imports_inside_functions(held_out, key):
    nb, ex = INNER_IMPORTS[key]
    graded = {x["name"]: x["score"] for x in held_out[key]["questions"]}
    assert _self_check_scores(copy.deepcopy(nb)) == graded
    if key == "inner_fallback":
        assert held_out[key]["score"] == held_out[key]["max_score"]
    else:
        assert min(graded.values()) == 0


def test_self_check_warns_before_any_praise(capsys):
    from rnnbook.grading import check

    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        from rnnbook.nn.rnn import rnn_step_forward as ref
        return ref(x, h_prev, Wx, Wh, b)

    check("rnn_step_forward", rnn_step_forward)
    out = capsys.readouterr().out
    assert out.startswith("Warning: rnn_step_forward calls rnnbook.nn.rnn.rnn_step_forward")
    assert "Well done" not in out and "0/4 points" in out


def test_gate_block_is_named_for_a_wrong_gradient():
    from rnnbook.nn.lstm import lstm_step_backward, lstm_step_forward

    def wrong(dh, dc, cache):
        out = list(lstm_step_backward(dh, dc, cache))
        H = dh.shape[1]
        out[5] = out[5].copy()
        out[5][2 * H:3 * H] += 1.0  # db of the candidate g only
        return tuple(out)

    result = run_check("lstm_step_backward", wrong, lstm_step_forward, as_graded=False)
    fb = result.feedback
    assert "db has wrong values" in fb and "columns of gate g" in fb
    assert "only the columns of gate g are wrong" in fb


def test_uses_reference_finds_imports_wherever_they_are_written():
    from rnnbook.grading import uses_reference

    def from_import(x, h, Wx, Wh, b):
        from rnnbook.nn.rnn import rnn_step_forward as ref
        return ref(x, h, Wx, Wh, b)

    def module_import(x, h0, Wx, Wh, b):
        import rnnbook.nn.rnn as r
        return r.rnn_forward(x, h0, Wx, Wh, b)

    def by_string(z, t):
        import importlib
        return importlib.import_module("rnnbook.nn.activations").softmax(z / t)

    def nested(z, t):
        def inner():
            from rnnbook.nn.activations import log_softmax
            return log_softmax(z / t)
        return inner()

    def own(z, t):
        from rnnbook.nn.activations import sigmoid
        softmax = sigmoid(z / t)  # a local name that only looks like the library's
        return softmax

    assert uses_reference(from_import) == ["rnnbook.nn.rnn.rnn_step_forward"]
    assert uses_reference(module_import) == ["rnnbook.nn.rnn.rnn_forward"]
    assert uses_reference(by_string) == ["rnnbook.nn.activations.softmax"]
    assert uses_reference(nested) == ["rnnbook.nn.activations.log_softmax"]
    assert uses_reference(own) == []
    # Exercise 2 is given the forward pass: importing it there is no offence.
    assert uses_reference(module_import, "02_rnn_backward") == []
