"""The student copy made by rnnbook-release holds no answer, and still works.

Also: `make lab` opens JupyterLab where the chapters and the exercises are
both inside the server's root, and works as root.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from rnnbook.grading import release as release_mod
from rnnbook.grading.generate import BEGIN_SOLUTION, END_SOLUTION, MarkerError, \
    validate_solution
from rnnbook.grading.questions import EXERCISES, QUESTIONS
from rnnbook.grading.selfcheck import BLOCKED

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    dest = tmp_path_factory.mktemp("release") / "student-copy"
    status = release_mod.main([str(dest), "--root", str(ROOT), "--seed", "3"])
    assert status == 0
    return dest


def _text_files(folder: Path):
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix not in (".npz", ".csv", ".txt") and \
                "node_modules" not in p.parts:
            try:
                yield p, p.read_text()
            except UnicodeDecodeError:
                continue


def _normalise(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def _kept(lines, skip=()):
    return [_normalise(x) for x in lines if _normalise(x) and not _normalise(x).startswith("#")
            and not any(w in x for w in skip)]


def _windows(lines, n=3, skip=()):
    lines = _kept(lines, skip)
    return {"\n".join(lines[i:i + n]) for i in range(len(lines) - n + 1)}


def _bundle_text(bundle):
    """Every text file of the copy, lines normalised, notebooks by cell sources."""
    out = {}
    for p, text in _text_files(bundle):
        if p.suffix == ".ipynb":
            nb = json.loads(text)
            text = "\n".join("".join(c["source"]) for c in nb["cells"])
        out[p] = "\n".join(_normalise(x) for x in text.splitlines())
    return out


def test_no_solutions_tests_or_history(bundle):
    top = sorted(p.name for p in bundle.iterdir())
    for absent in ("solutions", "tests", "benchmarks", "scripts", ".git", ".ci", "_build"):
        assert absent not in top
    assert {"book", "exercises", "lib", "pyproject.toml", "README.md", "Makefile"} <= set(top)
    assert not list(bundle.rglob("*solution*.ipynb"))
    assert not (bundle / "lib" / "rnnbook" / "grading" / "slips.py").exists()


def test_no_solution_block_is_in_the_copy(bundle):
    texts = _bundle_text(bundle)
    blocks = 0
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            lines = cell.source.split("\n")
            starts = [i for i, x in enumerate(lines) if x.strip() == BEGIN_SOLUTION]
            for s in starts:
                e = next(i for i in range(s, len(lines)) if lines[i].strip() == END_SOLUTION)
                block = lines[s + 1:e]
                blocks += 1
                for window in _windows(block):
                    for p, text in texts.items():
                        assert window not in text, (path.name, p, window)
    assert blocks >= 13
    # The exercises carry their markers' replacement, never the code.
    for path in (bundle / "exercises").glob("*.ipynb"):
        assert BEGIN_SOLUTION not in path.read_text()


def test_no_reference_implementation_of_a_graded_function(bundle):
    import importlib

    # Lines are compared with the validation lines left out on both sides.
    texts = {p: "\n".join(_kept(t.splitlines(), VALIDATION))
             for p, t in _bundle_text(bundle).items()}
    checked = 0
    for mod_name, names in release_mod.released_blocked().items():
        mod = importlib.import_module(mod_name)
        for n in names:
            if n.startswith("_check"):
                continue  # input validators, shared with the rest of the library
            source = textwrap.dedent(inspect.getsource(getattr(mod, n)))
            body = source.split('"""')[-1] if source.count('"""') >= 2 else source
            # Input validation is shared with the rest of the library; the
            # computation is what must not be there.
            windows = _windows(body.splitlines(), skip=VALIDATION)
            for window in windows:
                for p, text in texts.items():
                    assert window not in text, (f"{mod_name}.{n}", p, window)
            if n in QUESTIONS and windows:
                # The check can fail: the same windows are found in the real source.
                real = "\n".join(_kept(Path(mod.__file__).read_text().splitlines(),
                                        VALIDATION))
                assert all(w in real for w in windows)
                checked += 1
    # Every graded question's function is among those cut out.
    cut = {n for names in release_mod.released_blocked().values() for n in names}
    assert set(QUESTIONS) <= cut
    # A short function may have no 3-line window: rnn_step_forward is one line
    # of maths, and lstm_backward and greedy_decode hand over to
    # lstm_backward_full and beam_search, which are cut out too (checked above).
    assert {"lstm_backward_full", "beam_search"} <= cut
    assert checked >= len(QUESTIONS) - 3


VALIDATION = ("check", "Shapes", "raise ", "ValueError", "return ", '"""', "f\"")


def _python(bundle, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(bundle / "lib"), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def test_every_graded_function_raises_not_implemented_with_its_exercise(bundle):
    calls = [(mod, n, QUESTIONS[n].exercise) for mod, names in
             release_mod.released_blocked().items() for n in names if n in QUESTIONS]
    code = textwrap.dedent(f"""
        import importlib, rnnbook
        assert rnnbook.__file__.startswith({str(bundle)!r}), rnnbook.__file__
        for mod, name, ex in {calls!r}:
            fn = getattr(importlib.import_module(mod), name)
            try:
                fn()
            except NotImplementedError as exc:
                assert ex in str(exc), (name, str(exc))
            else:
                raise SystemExit(name + " did not raise")
        print("ok", len({calls!r}))
    """)
    res = _python(bundle, code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ok", str(len(calls))]


def test_the_self_check_works_in_the_copy_from_stored_cases(bundle):
    code = textwrap.dedent("""
        import numpy as np
        from rnnbook.grading import check
        from rnnbook.grading.questions import USING_STORED_CASES
        assert USING_STORED_CASES
        def rnn_step_forward(x, h_prev, Wx, Wh, b):
            return np.tanh(x @ Wx + h_prev @ Wh + b), None
        check("rnn_step_forward", rnn_step_forward)
        def rnn_step_forward(x, h_prev, Wx, Wh, b):
            return np.tanh(x @ Wx + h_prev @ Wh.T + b), None
        check("rnn_step_forward", rnn_step_forward)
    """)
    res = _python(bundle, code)
    assert res.returncode == 0, res.stderr
    assert "Well done: rnn_step_forward passes every check (4/4 points)." in res.stdout
    assert "this looks like Wh used transposed" in res.stdout


def test_part_iii_self_checks_work_in_the_copy_and_name_the_mistake(bundle):
    # The copy has no reference to compute the typical mistakes' outputs
    # either: they come from the stored cases, like the slips.
    code = textwrap.dedent("""
        import numpy as np
        from rnnbook.grading import check

        def greedy_decode(step, end, max_len, larger_wins=False):
            assert type(end) is int and type(max_len) is int, (type(end), type(max_len))
            out, total = [], 0.0
            while len(out) < max_len and (not out or out[-1] != end):
                logp = np.asarray(step(tuple(out)))
                best = np.flatnonzero(logp == logp.max())
                t = int(best[-1] if larger_wins else best[0])
                out.append(t)
                total += float(logp[t])
            return np.array(out, dtype=np.int64), total
        check("greedy_decode", greedy_decode)
        check("greedy_decode", lambda s, e, m: greedy_decode(s, e, m, larger_wins=True))

        def unscaled(q, k, v, mask):
            s = np.where(mask, np.einsum("nqd,nkd->nqk", q, k), -np.inf)
            w = np.exp(s - s.max(axis=-1, keepdims=True))
            w = w / w.sum(axis=-1, keepdims=True)
            return w @ v, w, None
        check("scaled_dot_product_attention", unscaled)
    """)
    res = _python(bundle, code)
    assert res.returncode == 0, res.stderr
    assert "Well done: greedy_decode passes every check (4/4 points)." in res.stdout
    assert "broken towards the larger token id" in res.stdout
    assert "not divided by sqrt(d)" in res.stdout


def test_seq2seq_and_its_beam_search_are_left_out_of_the_copy(bundle):
    source = (bundle / "lib" / "rnnbook" / "nn" / "seq2seq.py").read_text()
    assert "def beam_search" not in source and "def greedy_decode" not in source
    res = _python(bundle, textwrap.dedent("""
        import rnnbook.nn as nn
        try:
            nn.Seq2Seq(5, 5, None)
        except NotImplementedError as exc:
            print("left out:", "left out of this copy" in str(exc))
    """))
    assert res.returncode == 0, res.stderr
    assert "left out: True" in res.stdout
    # The real library has them: the check can fail.
    import rnnbook.nn.seq2seq as real
    assert "def beam_search" in Path(real.__file__).read_text()


def _run_until_error(path: Path, bundle: Path, monkeypatch):
    """Execute a notebook with the copy's library; return the first error's name or None."""
    monkeypatch.setenv("PYTHONPATH", str(bundle / "lib"))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nb = nbformat.read(path, 4)
    client = NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        return exc.ename, nb
    return None, nb


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_exercise_notebooks_run_up_to_the_first_not_implemented_error(bundle, name,
                                                                      monkeypatch):
    ename, nb = _run_until_error(bundle / "exercises" / f"{name}.ipynb", bundle, monkeypatch)
    assert ename == "NotImplementedError"
    first = nb.cells[next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")]
    assert first.outputs == [] or all(o.get("output_type") != "error" for o in first.outputs)


def test_a_chapter_runs_up_to_the_first_not_implemented_error(bundle, monkeypatch):
    ename, _ = _run_until_error(bundle / "book" / "01_sequences_and_rnns.ipynb", bundle,
                                monkeypatch)
    assert ename == "NotImplementedError"


def test_solved_exercises_keep_their_functions(tmp_path):
    dest = tmp_path / "after-deadline"
    release_mod.release(ROOT, dest, solved=["01_rnn_forward"], seed=0)
    where = {n: m for m, names in BLOCKED.items() for n in
             (names if names != "*" else dir(__import__(m, fromlist=["x"])))}
    res = _python(dest, textwrap.dedent(f"""
        import numpy as np
        from {where["rnn_forward"]} import rnn_forward
        from {where["rnn_backward"]} import rnn_backward
        h, cache = rnn_forward(np.ones((2, 3, 4)), np.zeros((2, 5)), np.ones((4, 5)),
                               np.eye(5), np.zeros(5))
        assert h.shape == (2, 3, 5), h.shape
        try:
            rnn_backward(np.ones((2, 3, 5)), cache)
        except NotImplementedError as exc:
            print("backward left out:", "02_rnn_backward" in str(exc))
    """))
    assert res.returncode == 0, res.stderr
    assert "backward left out: True" in res.stdout


def test_the_copy_grades_a_notebook_with_its_own_grader(bundle, tmp_path):
    solved = tmp_path / "mine.ipynb"
    solved.write_bytes((SOLUTIONS / "04_lstm.ipynb").read_bytes())
    blank = bundle / "exercises" / "01_rnn_forward.ipynb"
    res = _python(bundle, "import sys; from rnnbook.grading.cli import main; "
                          f"sys.exit(main([{str(solved)!r}, {str(blank)!r}, '--quiet', "
                          f"'--json', {str(tmp_path / 'r.json')!r}]))")
    assert res.returncode == 0, res.stderr
    reports = {Path(r["submission"]).name: r for r in
               json.loads((tmp_path / "r.json").read_text())}
    assert reports["mine.ipynb"]["score"] == reports["mine.ipynb"]["max_score"] == 21
    assert reports["01_rnn_forward.ipynb"]["score"] == 0


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        release_mod.release(ROOT, tmp_path / "x")


# --------------------------------------------------------------------------
# No exercise hands out another one's answers
# --------------------------------------------------------------------------

def test_exercise_two_takes_the_forward_pass_from_the_library():
    nb = nbformat.read(SOLUTIONS / "02_rnn_backward.ipynb", 4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def rnn_step_forward" not in code and "def rnn_forward" not in code
    imported = re.search(r"^from rnnbook[.\w]* import (.*)$", code, re.M)
    assert imported and {"rnn_forward", "rnn_step_forward"} <= {
        n.strip() for line in re.findall(r"^from rnnbook[.\w]* import (.*)$", code, re.M)
        for n in line.split(",")}


def test_generator_refuses_a_notebook_with_another_exercises_function():
    nb = nbformat.read(SOLUTIONS / "02_rnn_backward.ipynb", 4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "def rnn_forward(x, h0, Wx, Wh, b):\n    return None, None"))
    with pytest.raises(MarkerError, match="graded in 01_rnn_forward"):
        validate_solution(nb, "02_rnn_backward.ipynb")


def test_gradient_checks_end_with_a_verdict():
    for name in ("02_rnn_backward", "04_lstm", "05_gru"):
        nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", 4)
        cells = [c.source for c in nb.cells if c.cell_type == "code"
                 and "relative error" in c.source]
        assert cells and all("Verdict:" in c for c in cells), name


# --------------------------------------------------------------------------
# make lab
# --------------------------------------------------------------------------

def _make_lab(uid: int) -> list[str]:
    res = subprocess.run(["make", "-n", "lab", f"LAB_UID={uid}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_make_lab_opens_the_repository_root():
    lines = _make_lab(1000)
    lab = [x for x in lines if "jupyter lab" in x]
    assert len(lab) == 1
    assert f'--ServerApp.root_dir="{ROOT}"' in lab[0]
    assert "--allow-root" not in lab[0] and not any("Note: running as root" in x for x in lines)
    # The server's contents manager, rooted there, reaches chapters and exercises;
    # rooted in book/ (as before) it refuses the exercises.
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from tornado.web import HTTPError

    cm = FileContentsManager(root_dir=str(ROOT))
    assert cm.get("exercises/01_rnn_forward.ipynb", content=False)["type"] == "notebook"
    assert cm.get("book/01_sequences_and_rnns.ipynb", content=False)["type"] == "notebook"
    with pytest.raises(HTTPError):
        FileContentsManager(root_dir=str(ROOT / "book")).get(
            "../exercises/01_rnn_forward.ipynb", content=False)


def test_make_lab_works_as_root_with_a_note():
    lines = _make_lab(0)
    lab = next(x for x in lines if "jupyter lab" in x)
    assert lab.rstrip().endswith("--allow-root")
    assert any("Note: running as root" in x for x in lines)


def test_stub_source_parses_one_module_at_a_time(monkeypatch):
    # The grader builds stub packages on several threads at once, and two
    # ast.parse calls at once can fail inside CPython 3.11 (stubs.py). A
    # parse that takes a while makes an overlap certain without the lock.
    import threading
    import time

    from rnnbook.grading import stubs

    real_parse, inside, most = stubs.ast.parse, [0], [0]
    count_lock = threading.Lock()

    def slow_parse(source, *args, **kwargs):
        with count_lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        try:
            return real_parse(source, *args, **kwargs)
        finally:
            with count_lock:
                inside[0] -= 1

    monkeypatch.setattr(stubs.ast, "parse", slow_parse)
    source = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        stubs.stub_source(source, ["f"], lambda n: "cut"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all("def g()" in r and "def f()" not in r for r in results)
    assert most[0] == 1
