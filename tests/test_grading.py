"""Tests for the graded exercises: generator, self-check, grader and its defences.

Most tests read one batch run of ``rnnbook-grade`` over notebooks built here
from the solutions and exercises: correct ones, deliberately wrong ones,
tampering ones and broken files. Grading them in one call (two kernels at a
time) keeps the file fast; each test then looks at the report it cares about.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from rnnbook.grading import check, run_check, uses_reference
from rnnbook.grading import cli
from rnnbook.grading.generate import exercise_from_solution, generate, render, MarkerError
from rnnbook.grading.questions import EXERCISES, QUESTIONS
from rnnbook.grading.runner import (GradingError, _remove_stale_scratch, grade_submissions,
                                    load_outputs)
from rnnbook.grading.sandbox import PACKAGE_DIR, Sandbox

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISE_DIR = ROOT / "exercises"
IDS = sorted(EXERCISES)


def _sandbox_available() -> bool:
    from rnnbook.grading.sandbox import build_stub_package

    tmp = Path(tempfile.mkdtemp(prefix="rnnbook-probe-"))
    try:
        stub = build_stub_package(tmp / "stub")
        launcher = tmp / "launcher.py"
        launcher.write_text((PACKAGE_DIR / "grading" / "_launcher.py").read_text())
        return Sandbox(tmp, stub, launcher).enabled
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp)], check=False)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


SANDBOX = _sandbox_available()
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason="Linux namespaces are not available")


# --------------------------------------------------------------------------
# Building submissions
# --------------------------------------------------------------------------

def solution(ex: str):
    return nbformat.read(SOLUTIONS / f"{ex}.ipynb", as_version=4)


def exercise(ex: str):
    return nbformat.read(EXERCISE_DIR / f"{ex}.ipynb", as_version=4)


def edit(nb, old: str, new: str):
    """Replace ``old`` by ``new`` in exactly one cell of a copy of ``nb``."""
    nb = copy.deepcopy(nb)
    hits = [c for c in nb.cells if old in c.source]
    assert len(hits) == 1, f"{old!r} found in {len(hits)} cells"
    hits[0].source = hits[0].source.replace(old, new)
    return nb


def add_cell(nb, source: str, at: int | None = None):
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"))
    nb.cells.insert(len(nb.cells) if at is None else at, cell)
    return nb


def first_code_index(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def plain(ex: str, code: str):
    """A notebook of the exercise with only the given code cell."""
    nb = copy.deepcopy(exercise(ex))
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(code).strip("\n"))]
    return nb


WRONG = {
    # A missing gate: the forget gate no longer scales the old cell state.
    "missing_forget_gate": edit(solution("04_lstm"), "c = f * c_prev + i * g", "c = c_prev + i * g"),
    # A wrong activation: the candidate goes through a sigmoid instead of tanh.
    "sigmoid_for_tanh": edit(solution("05_gru"), "n = np.tanh(u[:, 2 * H:] + r * v[:, 2 * H:])",
                             "n = sigmoid(u[:, 2 * H:] + r * v[:, 2 * H:])"),
    # A transposed weight in one gradient.
    "transposed_weight": edit(solution("02_rnn_backward"), "dh_prev = da @ Wh.T",
                              "dh_prev = da @ Wh"),
    # A wrong output shape: time-major instead of batch-first.
    "wrong_output_shape": edit(solution("01_rnn_forward"), "    return h, steps",
                               "    return h.transpose(1, 0, 2), steps"),
    # The weight gradient is not summed over time.
    "wrong_sum_over_time": edit(solution("02_rnn_backward"), "dWx += dWx_t", "dWx = dWx_t"),
    # float32 inputs give a float64 result.
    "wrong_dtype": edit(solution("01_rnn_forward"), "h = np.empty((N, T, H), dtype=x.dtype)",
                        "h = np.empty((N, T, H))"),
    # Clipping builds new arrays instead of rescaling the given ones.
    "clip_not_in_place": edit(solution("03_char_model"),
                              "        for g in grads.values():\n            g *= scale",
                              "        grads = {k: g * scale for k, g in grads.items()}"),
    # A softmax without the shift overflows for large logits.
    "unstable_softmax": edit(solution("03_char_model"),
                             "    z = z - np.max(z, axis=-1, keepdims=True)\n", ""),
}

REFERENCE_CALLS = '''
import numpy as np
import rnnbook.nn.rnn


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    from rnnbook.nn.rnn import rnn_step_forward as ref
    return ref(x, h_prev, Wx, Wh, b)


def rnn_forward(x, h0, Wx, Wh, b):
    return rnnbook.nn.rnn.rnn_forward(x, h0, Wx, Wh, b)
'''

REFERENCE_FROM_SOURCE = f'''
import importlib.util, sys
sys.path.insert(0, {str(PACKAGE_DIR.parent)!r})
spec = importlib.util.spec_from_file_location("stolen_rnn", {str(PACKAGE_DIR / "rnn.py")!r},
                                              submodule_search_locations=None)
try:
    stolen = importlib.util.module_from_spec(spec)
    sys.modules["stolen_rnn"] = stolen
    spec.loader.exec_module(stolen)
    rnn_step_forward, rnn_forward = stolen.rnn_step_forward, stolen.rnn_forward
except Exception as exc:
    print("could not load the source:", exc)
'''

def copy_solution_code(notebook: str, marker: str = "def ") -> str:
    """A cheat's cell: run the code cells of a solution notebook that contain ``marker``."""
    return f'''
import json
code = []
for cell in json.load(open({str(SOLUTIONS / notebook)!r}))["cells"]:
    if cell["cell_type"] == "code" and {marker!r} in "".join(cell["source"]):
        code.append("".join(cell["source"]))
exec("\\n".join(code))
'''


COPY_SOLUTIONS = copy_solution_code("01_rnn_forward.ipynb")

# Root inside the sandbox tries to remove the covers before copying.
UNMOUNT_THEN_COPY = f'''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for path in [{str(ROOT)!r}, {str(SOLUTIONS)!r}, "/tmp", "/"]:
    libc.umount2(path.encode(), 2)
''' + COPY_SOLUTIONS

TAMPER = {
    "patch_numpy": add_cell(exercise("01_rnn_forward"), """
        import numpy
        numpy.allclose = lambda *a, **k: True
        numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)
        numpy.array_equal = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        numpy.max = lambda *a, **k: 0.0
        """),
    "patch_builtins": add_cell(exercise("01_rnn_forward"), """
        import builtins
        builtins.NotImplementedError = type("NotImplementedError", (Exception,), {})
        builtins.isinstance = lambda *a: True
        builtins.len = lambda obj: 2
        builtins.abs = lambda v: 0
        """),
    "ipython_hooks": add_cell(exercise("01_rnn_forward"), """
        ip = get_ipython()
        ip.events.register("post_run_cell", lambda result: print("score: 10/10"))
        ip.input_transformers_post.append(
            lambda lines: ["print('all checks passed')\\n"] if "harness" in "".join(lines) else lines)
        import sys
        sys.displayhook = lambda value: print("score: 10/10")
        """),
    "fake_score": add_cell(exercise("01_rnn_forward"), """
        import json
        from IPython.display import JSON, display
        report = {"score": 10, "max_score": 10, "feedback": "all checks passed"}
        print(json.dumps(report))
        display(JSON(report))
        print("rnn_step_forward: Well done: rnn_step_forward passes every check (4/4 points).")
        """),
    "edit_library": add_cell(exercise("01_rnn_forward"), f"""
        import glob, os, site, rnnbook
        targets = [os.path.dirname(rnnbook.__file__), {str(PACKAGE_DIR)!r}]
        for folder in targets:
            for path in glob.glob(os.path.join(folder, "**", "*.py"), recursive=True):
                try:
                    with open(path, "a") as fh:
                        fh.write("\\n# changed by a submission\\n")
                except OSError as exc:
                    print("refused:", path, exc)
        for folder in site.getsitepackages():
            try:
                with open(os.path.join(folder, "sitecustomize.py"), "w") as fh:
                    fh.write("print('injected')\\n")
            except OSError as exc:
                print("refused:", exc)
        """),
    "call_reference": plain("01_rnn_forward", REFERENCE_CALLS),
    "reference_from_source": plain("01_rnn_forward", REFERENCE_FROM_SOURCE),
    "sys_exit": add_cell(exercise("01_rnn_forward"), """
        import sys
        sys.exit(0)
        """, at=first_code_index(exercise("01_rnn_forward"))),
    "os_exit_after_solving": add_cell(solution("01_rnn_forward"), """
        import os
        os._exit(0)
        """),
    "infinite_loop": add_cell(exercise("01_rnn_forward"), """
        while True:
            pass
        """),
    "loop_ignoring_interrupt": add_cell(solution("01_rnn_forward"), """
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
        """),
    "slow_function": edit(solution("01_rnn_forward"), "    N, T, _ = x.shape\n    H = h0.shape[1]",
                          "    import time\n    time.sleep(1000)\n    N, T, _ = x.shape\n"
                          "    H = h0.shape[1]"),
    "harness_monkeypatch": add_cell(exercise("01_rnn_forward"), """
        import json
        import numpy as np
        _savez = np.savez
        def fake_savez(file, **arrays):
            meta = {"status": "ok", "cases": [
                {"status": "ok", "outputs": [{"dtype": "float64", "shape": [2, 3]}]}
                for _ in range(3)]}
            fake = {f"c{c}_o0": np.ones((2, 3)) for c in range(3)}
            _savez(file, meta=np.array(json.dumps(meta)), **fake)
        np.savez = fake_savez
        """),
    "ndarray_subclass": plain("01_rnn_forward", """
        import numpy as np

        class Agreeable(np.ndarray):
            def __eq__(self, other):
                return True
            def __array__(self, *args, **kwargs):
                return np.zeros(self.shape)

        def rnn_step_forward(x, h_prev, Wx, Wh, b):
            h = np.tanh(x @ Wx + h_prev @ Wh + b + 1.0).view(Agreeable)
            return h, None

        def rnn_forward(x, h0, Wx, Wh, b):
            N, T, _ = x.shape
            return np.zeros((N, T, h0.shape[1])).view(Agreeable), None
        """),
    "huge_output": edit(solution("01_rnn_forward"), "    return h, steps",
                        "    return np.zeros(3_000_000), steps"),
    "fork_and_threads": add_cell(solution("01_rnn_forward"), """
        import os, subprocess, threading, time
        pid = os.fork()
        if pid == 0:
            os.setsid()
            while True:
                time.sleep(0.1)
        subprocess.Popen(["sleep", "300"], start_new_session=True)
        def linger():
            while True:
                time.sleep(0.01)
        threading.Thread(target=linger).start()
        """),
    "copy_solutions": plain("01_rnn_forward", COPY_SOLUTIONS),
}

SANDBOX_ONLY = {
    "signal_everything": add_cell(exercise("01_rnn_forward"), """
        import os, signal
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        """),
    "unmount_covers": plain("01_rnn_forward", UNMOUNT_THEN_COPY),
    "network": add_cell(exercise("01_rnn_forward"), """
        import os, socket
        try:
            socket.create_connection(("127.0.0.1", int(PORT)), timeout=2).sendall(b"leak")
        except OSError as exc:
            print("no network:", exc)
        """),
}

BROKEN = {
    "invalid_json.ipynb": b"{ this is not json",
    "not_a_notebook.ipynb": b"[1, 2, 3]",
    "binary.ipynb": bytes(range(256)) * 4,
    "empty.ipynb": b"",
}


def _without_metadata():
    nb = copy.deepcopy(solution("01_rnn_forward"))
    del nb.metadata["rnnbook"]
    return nb


def _unknown_exercise():
    nb = copy.deepcopy(solution("01_rnn_forward"))
    nb.metadata["rnnbook"] = {"exercise": "99_no_such_exercise"}
    return nb


# --------------------------------------------------------------------------
# One batch for most tests
# --------------------------------------------------------------------------

def _library_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(PACKAGE_DIR.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    paths = {}

    def put(key, nb_or_bytes, name=None):
        path = folder / (name or f"{key}.ipynb")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(nb_or_bytes, bytes):
            path.write_bytes(nb_or_bytes)
        else:
            nbformat.write(nb_or_bytes, path)
        paths[key] = path

    for ex in IDS:
        put(f"solution_{ex}", solution(ex))
        put(f"exercise_{ex}", exercise(ex))
    put("renamed", solution("03_char_model"), "other folder/My homework (final).ipynb")
    for key, nb in {**WRONG, **TAMPER}.items():
        put(key, nb)
    server = None
    if SANDBOX:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        server.setblocking(False)
        port = server.getsockname()[1]
        for key, nb in SANDBOX_ONLY.items():
            nb = copy.deepcopy(nb)
            nb.cells[-1].source = nb.cells[-1].source.replace("int(PORT)", str(port))
            put(key, nb)
    for name, data in BROKEN.items():
        put(name.removesuffix(".ipynb"), data, name)
    put("missing_metadata", _without_metadata())
    put("unknown_exercise", _unknown_exercise())

    before = _library_digest()
    json_path, csv_path = folder / "report.json", folder / "gradebook.csv"
    status = cli.main([*map(str, paths.values()), "--json", str(json_path), "--csv",
                       str(csv_path), "--jobs", "2", "--cell-timeout", "4",
                       "--total-timeout", "60", "--quiet"])
    connections = 0
    if server is not None:
        try:
            while True:
                server.accept()[0].close()
                connections += 1
        except BlockingIOError:
            pass
        server.close()
    reports = json.loads(json_path.read_text())
    by_path = {r["submission"]: r for r in reports}
    return {
        "status": status,
        "reports": reports,
        "by_key": {key: by_path[str(p)] for key, p in paths.items()},
        "json": json_path,
        "csv": csv_path,
        "library_before": before,
        "library_after": _library_digest(),
        "connections": connections,
        "paths": paths,
    }


def report(batch, key):
    return batch["by_key"][key]


def question(rep, name):
    return next(q for q in rep["questions"] if q["name"] == name)


def kernel_processes(grader_pid: int) -> list[int]:
    """Processes started by the grader with this pid (they carry its marker)."""
    marker = f"RNNBOOK_GRADING_TOKEN={grader_pid}-".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                env = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if any(var.startswith(marker) for var in env.split(b"\0")):
                pids.append(int(entry))
    return pids


# --------------------------------------------------------------------------
# The batch: exit status, schema, gradebook
# --------------------------------------------------------------------------

def test_batch_exits_zero_and_grades_every_submission(batch):
    assert batch["status"] == 0
    assert len(batch["reports"]) == len(batch["paths"])


def test_json_report_schema_is_exact(batch):
    for rep in batch["reports"]:
        assert list(rep) == ["submission", "exercise", "score", "max_score", "error",
                             "questions", "notes"]
        assert all(isinstance(n, str) and "\n" not in n for n in rep["notes"])
        assert isinstance(rep["submission"], str)
        assert rep["exercise"] is None or isinstance(rep["exercise"], str)
        assert isinstance(rep["score"], (int, float)) and isinstance(rep["max_score"], int)
        assert rep["error"] is None or (isinstance(rep["error"], str) and "\n" not in rep["error"])
        assert 0 <= rep["score"] <= rep["max_score"]
        for q in rep["questions"]:
            assert list(q) == ["name", "score", "max_score", "feedback"]
            assert isinstance(q["feedback"], str) and q["feedback"]
            assert 0 <= q["score"] <= q["max_score"]
        assert rep["score"] == sum(q["score"] for q in rep["questions"])
        if rep["exercise"] in EXERCISES:
            assert [q["name"] for q in rep["questions"]] == \
                [q.name for q in EXERCISES[rep["exercise"]]]


def test_csv_gradebook_has_one_file_per_exercise_with_its_questions(batch):
    # Several exercises: grades.csv becomes grades.<exercise>.csv and
    # grades.<exercise>.details.csv; files of no known exercise go to "unknown".
    assert not batch["csv"].exists()
    seen = 0
    for ex in [*IDS, "unknown"]:
        detail = batch["csv"].with_name(f"gradebook.{ex}.details.csv")
        with detail.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        questions = [q.name for q in EXERCISES.get(ex, ())]
        assert list(rows[0])[3:3 + len(questions)] == questions
        # Files given one by one are named by their file name.
        by_sub = {r["submission"]: r for r in rows}
        assert len(by_sub) == len(rows)
        for rep in batch["reports"]:
            if (rep["exercise"] if rep["exercise"] in EXERCISES else "unknown") != ex:
                continue
            seen += 1
            row = by_sub[Path(rep["submission"]).name]
            assert float(row["score"]) == rep["score"]
            if ex != "unknown":
                # An ungradable file keeps the exercise's maximum score.
                assert int(row["max_score"]) == sum(q.max_score for q in EXERCISES[ex])
            for q in rep["questions"]:
                assert float(row[q["name"]]) == q["score"]
        lms = batch["csv"].with_name(f"gradebook.{ex}.csv").read_text().splitlines()
        assert lms[0] == f"Student,ID,SIS User ID,SIS Login ID,Section,{ex}"
    assert seen == len(batch["reports"])


# --------------------------------------------------------------------------
# Solutions, exercises, renamed files
# --------------------------------------------------------------------------

@pytest.mark.parametrize("ex", IDS)
def test_every_solution_scores_full_marks(batch, ex):
    rep = report(batch, f"solution_{ex}")
    assert rep["error"] is None
    assert rep["exercise"] == ex
    assert rep["score"] == rep["max_score"] == sum(q.max_score for q in EXERCISES[ex])
    assert all(q["feedback"] == "all checks passed" for q in rep["questions"])


@pytest.mark.parametrize("ex", IDS)
def test_every_unmodified_exercise_scores_zero(batch, ex):
    rep = report(batch, f"exercise_{ex}")
    assert rep["error"] is None
    assert rep["score"] == 0 and rep["max_score"] > 0
    assert all("not implemented" in q["feedback"] for q in rep["questions"]), rep


def test_renamed_file_still_grades(batch):
    rep = report(batch, "renamed")
    assert rep["exercise"] == "03_char_model"
    assert rep["submission"].endswith("My homework (final).ipynb")
    assert rep["score"] == rep["max_score"] == 10


# --------------------------------------------------------------------------
# Deliberately wrong implementations lose marks, with feedback that says why
# --------------------------------------------------------------------------

def test_missing_forget_gate(batch):
    rep = report(batch, "missing_forget_gate")
    q = question(rep, "lstm_step_forward")
    assert q["score"] < q["max_score"]
    assert "c has wrong values" in q["feedback"]
    assert rep["score"] < rep["max_score"]


def test_sigmoid_instead_of_tanh(batch):
    q = question(report(batch, "sigmoid_for_tanh"), "gru_step_forward")
    assert q["score"] == 0
    assert "h has wrong values" in q["feedback"] and "largest error" in q["feedback"]


def test_transposed_weight_costs_exactly_that_gradient(batch):
    q = question(report(batch, "transposed_weight"), "rnn_step_backward")
    assert q["score"] == q["max_score"] - 1
    assert "dh_prev has wrong values" in q["feedback"]
    assert "dWh" not in q["feedback"] and "dx " not in q["feedback"]


def test_wrong_output_shape(batch):
    rep = report(batch, "wrong_output_shape")
    assert question(rep, "rnn_step_forward")["score"] == 4
    q = question(rep, "rnn_forward")
    assert q["score"] == 0
    assert re.search(r"h has shape \(\d+, \d+, \d+\) but should have \(\d+, \d+, \d+\)",
                     q["feedback"]), q["feedback"]


def test_wrong_sum_over_time(batch):
    q = question(report(batch, "wrong_sum_over_time"), "rnn_backward")
    assert q["score"] == q["max_score"] - 1
    assert "dWx has wrong values" in q["feedback"]


def test_wrong_dtype(batch):
    q = question(report(batch, "wrong_dtype"), "rnn_forward")
    assert q["score"] == q["max_score"] - 1
    assert "dtype float64 for float32 inputs" in q["feedback"]


def test_clipping_that_is_not_in_place(batch):
    q = question(report(batch, "clip_not_in_place"), "clip_grad_norm")
    assert q["score"] == 2
    assert "rescale the arrays of the dict in place" in q["feedback"]


def test_unstable_softmax(batch):
    q = question(report(batch, "unstable_softmax"), "softmax_with_temperature")
    assert q["score"] == 2
    assert "NaN or infinity" in q["feedback"]


# --------------------------------------------------------------------------
# Tampering earns nothing
# --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["patch_numpy", "patch_builtins", "ipython_hooks", "fake_score",
                                 "edit_library", "call_reference", "sys_exit",
                                 "os_exit_after_solving", "infinite_loop",
                                 "loop_ignoring_interrupt", "harness_monkeypatch",
                                 "ndarray_subclass"])
def test_tampering_earns_nothing(batch, key):
    rep = report(batch, key)
    assert rep["score"] == 0, rep


def test_calling_the_reference_is_named_in_the_feedback(batch):
    q = question(report(batch, "call_reference"), "rnn_step_forward")
    assert "not available while a notebook is graded" in q["feedback"]


@needs_sandbox
@pytest.mark.parametrize("key", ["reference_from_source", "copy_solutions"])
def test_the_source_and_the_solutions_are_out_of_sight(batch, key):
    assert report(batch, key)["score"] == 0


def test_library_files_are_unchanged_after_grading(batch):
    assert batch["library_after"] == batch["library_before"]
    for folder in __import__("site").getsitepackages():
        assert not (Path(folder) / "sitecustomize.py").exists() or \
            "injected" not in (Path(folder) / "sitecustomize.py").read_text()


def test_a_dead_kernel_fails_the_questions_after_it(batch):
    rep = report(batch, "os_exit_after_solving")
    assert all("kernel had stopped" in q["feedback"] for q in rep["questions"]), rep


def test_a_timeout_costs_only_that_question(batch):
    rep = report(batch, "slow_function")
    assert question(rep, "rnn_step_forward")["score"] == 4
    q = question(rep, "rnn_forward")
    assert q["score"] == 0 and "timed out" in q["feedback"]


def test_an_unresponsive_kernel_is_reported(batch):
    rep = report(batch, "loop_ignoring_interrupt")
    assert all("stopped responding" in q["feedback"] for q in rep["questions"]), rep


def test_huge_outputs_are_refused_without_harm(batch):
    rep = report(batch, "huge_output")
    q = question(rep, "rnn_forward")
    assert q["score"] == 0 and "far more than expected" in q["feedback"]
    assert question(rep, "rnn_step_forward")["score"] == 4


def test_forks_and_threads_do_not_outlive_grading(batch):
    assert report(batch, "fork_and_threads")["score"] == 10
    assert kernel_processes(os.getpid()) == []


@needs_sandbox
def test_root_in_the_sandbox_cannot_remove_the_covers(batch):
    assert report(batch, "unmount_covers")["score"] == 0


@needs_sandbox
def test_a_kernel_cannot_signal_the_grader_or_reach_the_network(batch):
    assert report(batch, "signal_everything")["score"] == 0
    assert report(batch, "network")["score"] == 0
    assert batch["connections"] == 0


# --------------------------------------------------------------------------
# Broken submissions are reported, not fatal
# --------------------------------------------------------------------------

@pytest.mark.parametrize("key,words", [
    ("invalid_json", "invalid JSON"),
    ("not_a_notebook", "not a notebook"),
    ("binary", "not a notebook"),
    ("empty", "invalid JSON"),
    ("missing_metadata", "no exercise id"),
    ("unknown_exercise", "unknown exercise"),
])
def test_broken_submissions_get_zero_and_a_reason(batch, key, words):
    rep = report(batch, key)
    assert rep["score"] == 0
    assert words in rep["error"]
    assert "\n" not in rep["error"]


def test_nonexistent_path_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["/no/such/notebook.ipynb"])
    assert exc.value.code == 2
    assert "no such file: /no/such/notebook.ipynb" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Library tampering without the sandbox: detected and undone
# --------------------------------------------------------------------------

def test_modified_library_files_are_detected_and_restored(tmp_path):
    decoy = tmp_path / "lib"
    decoy.mkdir()
    (decoy / "module.py").write_text("VALUE = 1\n")
    # Without the sandbox a grader running as root starts kernels under an
    # unprivileged user id; the decoy is writable by anyone so that the
    # detection itself is what is tested.
    os.chmod(decoy, 0o777)
    os.chmod(decoy / "module.py", 0o666)
    nb = add_cell(solution("01_rnn_forward"), f"""
        with open({str(decoy / "module.py")!r}, "w") as fh:
            fh.write("VALUE = 2\\n")
        open({str(decoy / "new.py")!r}, "w").close()
        """)
    honest = tmp_path / "honest.ipynb"
    tamper = tmp_path / "tamper.ipynb"
    cheat = tmp_path / "cheat.ipynb"
    nbformat.write(nb, tamper)
    nbformat.write(solution("05_gru"), honest)
    nbformat.write(TAMPER["call_reference"], cheat)
    reports = grade_submissions([tamper, honest, cheat], jobs=1, sandbox="off",
                                protect=[decoy], cell_timeout=10)
    assert reports[0]["score"] == 0
    assert reports[0]["error"] == "modified the rnnbook library files"
    assert reports[1]["score"] == reports[1]["max_score"]
    # Without the sandbox the stub package on PYTHONPATH still comes before
    # the editable install, so the reference is unavailable there too.
    assert reports[2]["score"] == 0 and reports[2]["error"] is None
    assert "not available while a notebook is graded" in reports[2]["questions"][0]["feedback"]
    assert (decoy / "module.py").read_text() == "VALUE = 1\n"
    assert not (decoy / "new.py").exists()


# --------------------------------------------------------------------------
# No kernel outlives the grader
# --------------------------------------------------------------------------

def _wait_for(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_no_kernel_outlives_the_grader(tmp_path, how):
    if how == "kill" and not SANDBOX:
        pytest.skip("a killed grader takes forked children along only inside the sandbox")
    nb = add_cell(exercise("01_rnn_forward"), """
        import os, time
        if os.fork() == 0:
            os.setsid()
            while True:
                time.sleep(0.1)
        while True:
            time.sleep(0.1)
        """)
    path = tmp_path / "loop.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.Popen([sys.executable, "-m", "rnnbook.grading.cli", str(path),
                             "--cell-timeout", "60", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(kernel_processes(proc.pid)) >= 2, 30), \
            "the kernel never started"
        proc.send_signal(signal.SIGINT if how == "interrupt" else signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert _wait_for(lambda: kernel_processes(proc.pid) == [], 10), \
            kernel_processes(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    scratch = lambda: list(Path(tempfile.gettempdir()).glob(f"rnnbook-grade-{proc.pid}-*"))
    if how == "interrupt":
        assert proc.returncode == 130
        assert b"interrupted" in err
        assert scratch() == []
    else:
        # A killed grader leaves its scratch folder; the next run removes it.
        _remove_stale_scratch()
        assert scratch() == []


# --------------------------------------------------------------------------
# Reading outputs defensively
# --------------------------------------------------------------------------

def test_output_reader_refuses_fifos_symlinks_and_pickles(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(GradingError, match="regular file"):
        load_outputs(fifo)
    target = tmp_path / "target.npz"
    np.savez(target, meta=np.array(json.dumps({"status": "ok", "cases": []})))
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    with pytest.raises(GradingError):
        load_outputs(link)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, c0_o0=np.array([{"a": 1}], dtype=object),
             meta=np.array(json.dumps({"status": "ok", "cases": []})))
    with pytest.raises(GradingError, match="unreadable"):
        load_outputs(pickled)
    arrays, meta = load_outputs(target)
    assert arrays == {} and meta["status"] == "ok"


# --------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------

def _reference_functions():
    from rnnbook.nn import gru, lstm, rnn
    from rnnbook.train import optim
    from rnnbook.grading import references

    return {"rnn_step_forward": rnn.rnn_step_forward, "rnn_forward": rnn.rnn_forward,
            "rnn_step_backward": rnn.rnn_step_backward, "rnn_backward": rnn.rnn_backward,
            "lstm_step_forward": lstm.lstm_step_forward, "lstm_forward": lstm.lstm_forward,
            "lstm_step_backward": lstm.lstm_step_backward, "lstm_backward": lstm.lstm_backward,
            "gru_step_forward": gru.gru_step_forward, "gru_step_backward": gru.gru_step_backward,
            "clip_grad_norm": optim.clip_grad_norm,
            "softmax_with_temperature": references.softmax_with_temperature,
            "sample_from_probs": references.sample_from_probs}


# The Part III questions have their own version in test_grading_part3.py.
@pytest.mark.parametrize("name", sorted(_reference_functions()))
def test_self_check_passes_the_reference_and_warns_about_it(name, capsys):
    refs = _reference_functions()
    question_ = QUESTIONS[name]
    forward = refs[question_.forward] if question_.forward else None
    result = run_check(name, refs[name], forward, rng=np.random.default_rng(0),
                       as_graded=False)
    assert result.score == result.max_score, result.feedback
    # As graded, the library's version is not there: no "Well done", the
    # warning comes first and the points are the grader's.
    graded = run_check(name, refs[name], forward, rng=np.random.default_rng(0))
    check(name, refs[name], forward=forward)
    out = capsys.readouterr().out
    assert "Well done" not in out
    assert out.startswith(f"Warning: {name} calls rnnbook.")
    if question_.forward not in (None, *[q.name for q in EXERCISES[question_.exercise]]):
        return  # a given forward: only the backward itself is blocked
    assert graded.score == 0, graded.feedback


def test_self_check_says_not_implemented(capsys):
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        raise NotImplementedError()
    check("rnn_step_forward", rnn_step_forward)
    out = capsys.readouterr().out
    assert "is not implemented yet" in out and "Traceback" not in out


def test_self_check_names_shape_dtype_and_exceptions(capsys):
    def wrong_shape(x, h_prev, Wx, Wh, b):
        return np.tanh(x @ Wx + h_prev @ Wh + b).T, None

    def raises(x, h_prev, Wx, Wh, b):
        return x @ Wh, None

    def float64_always(x, h0, Wx, Wh, b):
        from rnnbook.nn.rnn import rnn_forward
        h, cache = rnn_forward(x.astype(np.float64), h0.astype(np.float64),
                               Wx.astype(np.float64), Wh.astype(np.float64),
                               b.astype(np.float64))
        return h, cache

    check("rnn_step_forward", wrong_shape)
    out = capsys.readouterr().out
    assert "h has shape" in out and "but should have" in out
    check("rnn_step_forward", raises)
    out = capsys.readouterr().out
    assert "raised ValueError" in out or "raised TypeError" in out
    result = run_check("rnn_forward", float64_always, as_graded=False)
    assert result.score == result.max_score - 1
    assert "dtype float64 for float32 inputs" in result.feedback


def test_self_check_does_not_print_expected_values(capsys):
    rng = np.random.default_rng(1)

    def almost(x, h_prev, Wx, Wh, b):
        return np.tanh(x @ Wx + h_prev @ Wh + b) + 0.5, None

    check("rnn_step_forward", almost)
    out = capsys.readouterr().out
    # Only shapes, indices and error sizes: no printed array, no long list of numbers.
    assert "[" not in out and "array(" not in out
    assert len(re.findall(r"\d+\.\d+", out)) <= 2 * len(out.splitlines())


def test_uses_reference_sees_module_attributes_and_imports():
    import rnnbook.nn.activations as act
    import rnnbook.nn.rnn as rnn_module

    def via_module(x):
        return rnn_module.rnn_forward(x)

    def via_softmax(z, t):
        return act.softmax(z / t)

    def own(z, t):
        return act.sigmoid(z / t)

    assert uses_reference(via_module) == ["rnnbook.nn.rnn.rnn_forward"]
    assert uses_reference(via_softmax) == ["rnnbook.nn.activations.softmax"]
    assert uses_reference(own) == []


def test_check_needs_the_forward_for_a_backward():
    with pytest.raises(ValueError, match="forward"):
        run_check("rnn_backward", lambda dh, cache: None)
    with pytest.raises(ValueError, match="no graded function"):
        run_check("rnn_sideways", lambda: None)


# --------------------------------------------------------------------------
# Generating the exercises
# --------------------------------------------------------------------------

def test_exercises_are_up_to_date():
    problems = generate(SOLUTIONS, EXERCISE_DIR, check=True)
    assert problems == [], "\n".join(problems) + "\nrun `make exercises`"


def test_every_exercise_has_its_solution_and_metadata():
    solutions = sorted(p.name for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    assert solutions == [f"{ex}.ipynb" for ex in IDS]
    for ex in IDS:
        nb = exercise(ex)
        assert nb.metadata["rnnbook"]["exercise"] == ex
        text = "\n".join(c.source for c in nb.cells)
        assert "### BEGIN" not in text and "### END" not in text
        assert text.count("raise NotImplementedError()") >= len(EXERCISES[ex])
        first = next(c.source for c in nb.cells if c.cell_type == "code")
        assert "import numpy as np" in first and "rnnbook" in first and "default_rng(" in first


def test_points_tables_in_the_notebooks_match_the_grader():
    for ex in IDS:
        text = "\n".join(c.source for c in solution(ex).cells if c.cell_type == "markdown")
        table = dict(re.findall(r"^\| `(\w+)` \| (\d+)", text, re.M))
        assert table == {q.name: str(q.max_score) for q in EXERCISES[ex]}, ex
        total = re.search(r"\*\*total\*\* \| \*\*(\d+)\*\*", text)
        assert int(total.group(1)) == sum(q.max_score for q in EXERCISES[ex])


def test_points_table_of_the_student_page_matches_the_grader():
    text = (ROOT / "book" / "exercises_student.md").read_text()
    rows = re.findall(r"^\| `exercises/(\w+)\.ipynb` \| (.+?) \| (\d+) \|$", text, re.M)
    assert [r[0] for r in rows] == IDS
    for ex, functions, points in rows:
        assert re.findall(r"`(\w+)`", functions) == [q.name for q in EXERCISES[ex]]
        assert int(points) == sum(q.max_score for q in EXERCISES[ex])


def test_generator_replaces_solutions_and_drops_hidden_tests():
    nb = copy.deepcopy(solution("01_rnn_forward"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"))
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "Explain:\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"))
    nb.cells[first_code_index(nb)].outputs = [nbformat.v4.new_output("stream", text="x")]
    out = exercise_from_solution(nb, "01_rnn_forward.ipynb")
    sources = [c.source for c in out.cells]
    assert "assert True" not in "".join(sources)
    assert sources[-1] == "Explain:\nYOUR ANSWER HERE"
    step = next(s for s in sources if s.startswith("def rnn_step_forward"))
    assert step.splitlines()[-2:] == ["    # YOUR CODE HERE", "    raise NotImplementedError()"]
    assert '"""One step of the tanh RNN' in step
    assert all(c.outputs == [] for c in out.cells if c.cell_type == "code")
    assert render(out) == render(exercise_from_solution(nb, "01_rnn_forward.ipynb"))


@pytest.mark.parametrize("source,words", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_generator_rejects_bad_markers(source, words):
    nb = copy.deepcopy(solution("01_rnn_forward"))
    nb.cells.append(nbformat.v4.new_code_cell(source))
    with pytest.raises(MarkerError, match=words):
        exercise_from_solution(nb, "01_rnn_forward.ipynb")


def test_generator_requires_metadata_and_every_graded_function():
    nb = _without_metadata()
    with pytest.raises(MarkerError, match="metadata"):
        exercise_from_solution(nb, "01_rnn_forward.ipynb")
    nb = copy.deepcopy(solution("01_rnn_forward"))
    nb.cells = [c for c in nb.cells if "def rnn_forward" not in c.source]
    with pytest.raises(MarkerError, match="rnn_forward"):
        exercise_from_solution(nb, "01_rnn_forward.ipynb")


def test_generator_cli_check_mode(tmp_path, capsys):
    from rnnbook.grading.generate import main

    out = tmp_path / "exercises"
    assert main(["--solutions", str(SOLUTIONS), "--exercises", str(out), "--check"]) == 1
    assert main(["--solutions", str(SOLUTIONS), "--exercises", str(out)]) == 0
    assert main(["--solutions", str(SOLUTIONS), "--exercises", str(out), "--check"]) == 0
    for ex in IDS:
        assert (out / f"{ex}.ipynb").read_text() == (EXERCISE_DIR / f"{ex}.ipynb").read_text()
