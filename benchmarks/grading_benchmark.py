"""Time the grader on a folder of twenty submissions.

The submissions are made from the solution notebooks, four per exercise:
the solution itself, the solution with one deliberate mistake, the solution
with a slow but correct extra cell, and the untouched student notebook. They
are written to a temporary folder and graded in one run of
``rnnbook-grade`` (a separate process, so start-up counts too), by default
with two kernels at a time. The script prints the wall time, the time per
submission and the scores, and checks that every score is what it should
be.

    python benchmarks/grading_benchmark.py [--jobs 2] [--sandbox auto|on|off]
                                           [--limits auto|rlimits]

The resource limits per submission are on, with their defaults; ``--limits``
chooses how they are enforced (cgroups when possible, or rlimits).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent

# One mistake per exercise: (old text, new text) in the solution.
MISTAKES = {
    "01_rnn_forward": ("h = np.empty((N, T, H), dtype=x.dtype)", "h = np.empty((N, T, H))"),
    "02_rnn_backward": ("dh_prev = da @ Wh.T", "dh_prev = da @ Wh"),
    "03_char_model": ("    z = z - np.max(z, axis=-1, keepdims=True)\n", ""),
    "04_lstm": ("h_prev.T @ da, da.sum(axis=0))", "h_prev.T @ da, da.mean(axis=0))"),
    "05_gru": ("h = (1 - z) * n + z * h_prev", "h = z * n + (1 - z) * h_prev"),
}

# A correct notebook that also does some honest work of its own.
EXTRA_WORK = """
import numpy as np
work = np.random.default_rng(0).standard_normal((300, 300))
for _ in range(20):
    work = np.tanh(work @ work.T / 300)
"""


def make_submissions(folder: Path) -> dict[Path, str]:
    """Write twenty notebooks; return {path: expected outcome}."""
    expected = {}
    for ex, (old, new) in MISTAKES.items():
        solution = nbformat.read(ROOT / "solutions" / f"{ex}.ipynb", as_version=4)
        student = nbformat.read(ROOT / "exercises" / f"{ex}.ipynb", as_version=4)
        wrong = copy.deepcopy(solution)
        cell = next(c for c in wrong.cells if old in c.source)
        cell.source = cell.source.replace(old, new)
        busy = copy.deepcopy(solution)
        busy.cells.append(nbformat.v4.new_code_cell(EXTRA_WORK.strip()))
        for name, nb, outcome in (("solution", solution, "full"), ("mistake", wrong, "partial"),
                                  ("busy", busy, "full"), ("untouched", student, "zero")):
            path = folder / f"{ex}_{name}.ipynb"
            nbformat.write(nb, path)
            expected[path] = outcome
    return expected


def _cpu_meter():
    """A fresh cgroup to run the grader in, and a function reading its CPU seconds.

    The cgroup counts the grader and every kernel, also those reparented
    when their parent is killed (which ``getrusage`` would miss). None when
    this user cannot create cgroups.
    """
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path
    candidates = []
    if "cpuacct" in own:
        base = Path("/sys/fs/cgroup/cpuacct") / own["cpuacct"].lstrip("/")
        candidates.append((base, lambda d: int((d / "cpuacct.usage").read_text()) / 1e9))
    if "" in own and Path("/sys/fs/cgroup/cgroup.controllers").is_file():
        base = Path("/sys/fs/cgroup") / own[""].lstrip("/")
        candidates.append((base, lambda d: int((d / "cpu.stat").read_text().split()[1]) / 1e6))
    for base, read in candidates:
        d = base / f"rnnbook-bench-{os.getpid()}"
        try:
            d.mkdir()
        except OSError:
            continue
        return d, read
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="kernels at a time (default 2)")
    parser.add_argument("--sandbox", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--limits", choices=("auto", "rlimits"), default="auto")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rnnbook-grading-bench-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        expected = make_submissions(folder)
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "rnnbook.grading.cli", str(folder), "--jobs",
               str(args.jobs), "--sandbox", args.sandbox, "--limits", args.limits,
               "--json", str(report), "--quiet"]
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        if args.limits == "auto":
            cmd.remove("--limits")
            cmd.remove("auto")
        meter = _cpu_meter()
        join = None if meter is None else \
            (lambda: (meter[0] / "cgroup.procs").write_text(str(os.getpid())))
        start = time.perf_counter()
        try:
            subprocess.run(cmd, check=True, env=env, preexec_fn=join)
            wall = time.perf_counter() - start
            cpu = None if meter is None else meter[1](meter[0])
        finally:
            if meter is not None:
                meter[0].rmdir()
        results = json.loads(report.read_text())

    wrong = []
    for r in results:
        outcome = expected[Path(r["submission"])]
        ok = {"full": r["score"] == r["max_score"],
              "partial": 0 < r["score"] < r["max_score"],
              "zero": r["score"] == 0}[outcome]
        if not ok or r["error"]:
            wrong.append(f"{Path(r['submission']).name}: {r['score']}/{r['max_score']} "
                         f"(expected {outcome}) {r['error'] or ''}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")
    print(f"graded {len(results)} submissions with --jobs {args.jobs} "
          f"(--sandbox {args.sandbox}, --limits {args.limits}) in {wall:.1f} s wall time, "
          f"{wall / len(results):.2f} s per submission")
    if cpu is not None:
        print(f"CPU time of the grader and all kernels: {cpu:.1f} s, "
              f"{cpu / len(results):.2f} s per submission")
    for r in results:
        print(f"  {Path(r['submission']).name:<32} {r['score']:>3}/{r['max_score']}")
    if wrong:
        print("unexpected scores:\n  " + "\n  ".join(wrong))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
