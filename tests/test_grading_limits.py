"""Resource limits of the grader, and that nothing a submission starts outlives it.

Every hostile notebook here is bounded even if the limits failed: the fork
bomb stops at 84 processes, the memory hog at about 500 MiB, the busy loop
at 60 s, the thread storm at 150 threads and the file-filling loop at
160 MiB, so that a broken limit fails a test without hurting the machine.
The limits of the batch are small for the same reason.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from rnnbook.grading import limits as limits_mod
from rnnbook.grading.limits import Limits, format_mib, make_container
from rnnbook.grading.runner import grade_submissions

ROOT = Path(__file__).resolve().parent.parent
SMALL = Limits(cpu_seconds=4, memory_mb=384, processes=64, file_mb=64, output_mb=4)


def solution(ex: str):
    return nbformat.read(ROOT / "solutions" / f"{ex}.ipynb", as_version=4)


def with_cell(nb, source: str, at: int | None = None):
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"))
    nb.cells.insert(len(nb.cells) if at is None else at, cell)
    return nb


def in_graded_function(body: str):
    """The 01 solution whose graded rnn_forward first runs ``body`` (only when graded)."""
    return with_cell(solution("01_rnn_forward"), "_honest_rnn_forward = rnn_forward\n\n"
                     "def rnn_forward(x, h0, Wx, Wh, b):\n"
                     + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
                     + "\n    return _honest_rnn_forward(x, h0, Wx, Wh, b)\n")


def at_top_level(body: str):
    """The 01 solution with ``body`` as its second code cell, after the imports."""
    nb = solution("01_rnn_forward")
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    return with_cell(nb, body, at=first + 1)


FORK_BOMB = """
import os, time
# Every process forks four children, three generations deep (84 at most),
# and waits for them.
def spawn(depth):
    kids = 0
    for _ in range(4):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            if depth > 1:
                spawn(depth - 1)
            time.sleep(5)
            os._exit(0)
        kids += 1
    for _ in range(kids):
        os.wait()
spawn(3)
"""

MEMORY_HOG = """
import os, time
import numpy as np
# Three children touch 160 MiB each: under any per-process limit, over 384 MiB in all.
for _ in range(3):
    if os.fork() == 0:
        block = np.ones(20 * 2**20)
        time.sleep(20)
        os._exit(0)
time.sleep(10)
"""

BUSY_LOOP = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
end = time.monotonic() + 60
while time.monotonic() < end:
    pass
"""

THREAD_STORM = """
import threading, time
threads = []
try:
    for _ in range(150):
        t = threading.Thread(target=time.sleep, args=(20,), daemon=True)
        t.start()
        threads.append(t)
except RuntimeError:
    pass
"""

FILE_FILLER = """
# Twenty files of 8 MiB each: every one under the per-file cap, 160 MiB in all.
chunk = b"x" * 2**20
for n in range(20):
    with open(f"filler_{n}.bin", "wb") as fh:
        for _ in range(8):
            fh.write(chunk)
"""

ONE_BIG_FILE = """
chunk = b"x" * 2**20
with open("big.bin", "wb") as fh:
    for _ in range(160):
        fh.write(chunk)
"""

OUTPUT_FLOOD = """
line = "y" * 1000
for _ in range(10000):
    print(line)
"""

HOSTILE = {
    "fork_bomb_graded": (in_graded_function(FORK_BOMB), "processes", "question 2"),
    "fork_bomb_top": (at_top_level(FORK_BOMB), "processes", "code cell 2"),
    "memory_hog_top": (at_top_level(MEMORY_HOG), "memory", "code cell 2"),
    "memory_hog_graded": (in_graded_function(MEMORY_HOG), "memory", "question 2"),
    "busy_loop_top": (at_top_level(BUSY_LOOP), "cpu", "code cell 2"),
    "thread_storm_graded": (in_graded_function(THREAD_STORM), "processes", "question 2"),
    "file_filler_top": (at_top_level(FILE_FILLER), "file", "code cell 2"),
    "one_big_file_graded": (in_graded_function(ONE_BIG_FILE), "file", "question 2"),
    "output_flood_top": (at_top_level(OUTPUT_FLOOD), "output", "code cell 2"),
}
HONEST = ["01_rnn_forward", "04_lstm"]


def _batch(tmp_path_factory, mode):
    folder = tmp_path_factory.mktemp(f"limits-{mode}")
    paths = {}
    for key, (nb, _, _) in HOSTILE.items():
        paths[key] = folder / f"{key}.ipynb"
        nbformat.write(nb, paths[key])
    for ex in HONEST:
        paths[ex] = folder / f"honest_{ex}.ipynb"
        nbformat.write(solution(ex), paths[ex])
    start = time.monotonic()
    reports = grade_submissions(list(paths.values()), jobs=2, cell_timeout=30,
                                limits=SMALL, limit_mode=mode)
    by_key = {k: r for k, r in zip(paths, reports)}
    return {"reports": by_key, "seconds": time.monotonic() - start}


@pytest.fixture(scope="module", params=["auto", "rlimits"])
def batch(request, tmp_path_factory):
    return _batch(tmp_path_factory, request.param)


def _reason(report) -> str:
    """The error of the report, or the feedback of the question that hit the limit."""
    if report["error"]:
        return report["error"]
    return " | ".join(q["feedback"] for q in report["questions"])


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_a_limit_gives_zero_and_a_reason_naming_it_and_the_step(batch, key):
    report = batch["reports"][key]
    _, kind, step = HOSTILE[key]
    words = SMALL.reason(kind)
    reason = _reason(report)
    assert f"{words} in {step}" in reason, reason
    if step.startswith("code cell"):
        # Nothing the notebook defined could finish: every question is 0.
        assert report["score"] == 0
        assert report["error"] == f"{words} in {step}"
    else:
        # The question before the limit keeps its points; the one that hit it
        # and what follows get none.
        q1, q2 = report["questions"]
        assert q1["score"] == q1["max_score"], q1
        assert q2["score"] == 0
        assert report["error"] is None


def test_honest_submissions_in_the_same_batch_keep_full_marks(batch):
    for ex in HONEST:
        r = batch["reports"][ex]
        assert r["error"] is None and r["score"] == r["max_score"], r


def test_the_reason_is_one_line_with_the_limit_in_words():
    assert SMALL.reason("memory") == "used more than 384 MiB of memory"
    assert Limits(memory_mb=2048).reason("memory") == "used more than 2 GiB of memory"
    assert format_mib(256) == "256 MiB"
    with pytest.raises(ValueError, match="processes"):
        Limits(processes=4)
    with pytest.raises(ValueError, match="cpu_seconds"):
        Limits(cpu_seconds=0)


def test_the_memory_limit_counts_all_processes_together(batch):
    # Each child stays far below any per-process limit (160 MiB of 384).
    assert "memory" in batch["reports"]["memory_hog_top"]["error"]


def test_cgroups_are_used_where_the_machine_offers_them():
    c = make_container(SMALL, "t-probe")
    try:
        writable_v1 = all(os.access(Path("/sys/fs/cgroup") / ctl, os.W_OK)
                          for ctl in ("memory", "pids"))
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").is_file()
        if os.geteuid() == 0 and (writable_v1 or v2):
            assert c.kind.startswith("cgroup"), c.kind
        assert make_container(SMALL, "t-probe2", "rlimits").kind == "rlimits"
    finally:
        c.close()


def test_no_cgroup_is_left_behind(batch):
    parents = list((limits_mod._v1_parents() or {}).values())
    if limits_mod._v2_parent() is not None:
        parents.append(limits_mod._v2_parent())
    prefix = f"{limits_mod.CGROUP_PREFIX}{os.getpid()}-k"
    leftovers = [d for p in parents for d in p.iterdir() if d.name.startswith(prefix)]
    assert leftovers == []


# --------------------------------------------------------------------------
# Nothing outlives the grader
# --------------------------------------------------------------------------

ESCAPES = """
import os, subprocess, sys, time
MARK = "{mark}"
loop = "import time\\nwhile True:\\n    time.sleep(0.05)  # " + MARK
# A daemon in a new session, with an empty environment (no marker to find).
subprocess.Popen([sys.executable, "-c", loop], env={{}}, start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
# A double fork whose grandchild busy-loops after its parent is gone.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve(sys.executable, [sys.executable, "-c",
                  "while True:\\n    pass  # " + MARK], {{}})
    os._exit(0)
time.sleep(0.5)
"""


def processes_with(mark: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if mark.encode() in cmd:
                found.append(int(entry))
    return found


def _wait_for(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _escaping_notebook(tmp_path, mark):
    nb = with_cell(solution("01_rnn_forward"), ESCAPES.format(mark=mark))
    path = tmp_path / "escape.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("sandbox", ["on", "off"])
@pytest.mark.parametrize("mode", ["auto", "rlimits"])
def test_daemons_and_double_forks_end_with_their_grading(tmp_path, sandbox, mode):
    mark = f"rnnbook-escape-{os.getpid()}-{sandbox}-{mode}"
    path = _escaping_notebook(tmp_path, mark)
    seen = []

    def progress(done, total, report):
        seen.append(report)

    # The escapes are alive while the notebook runs ...
    import threading
    alive_during = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if len(processes_with(mark)) >= 2:
                alive_during.append(True)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        reports = grade_submissions([path], sandbox=sandbox, limit_mode=mode,
                                    limits=SMALL, progress=progress)
    finally:
        stop.set()
        watcher.join()
    assert alive_during, "the escaping processes never started"
    assert reports[0]["score"] == reports[0]["max_score"], reports[0]
    # ... and gone as soon as grading returns.
    assert _wait_for(lambda: processes_with(mark) == [], 3), processes_with(mark)


@pytest.mark.parametrize("sandbox", ["on", "off"])
def test_nothing_outlives_a_killed_grader(tmp_path, sandbox):
    mark = f"rnnbook-escape-killed-{os.getpid()}-{sandbox}"
    nb = with_cell(solution("01_rnn_forward"), ESCAPES.format(mark=mark)
                   + "\nwhile True:\n    time.sleep(0.1)\n")
    path = tmp_path / "escape.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.Popen([sys.executable, "-m", "rnnbook.grading.cli", str(path),
                             "--sandbox", sandbox, "--cell-timeout", "60", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(processes_with(mark)) >= 2, 40), \
            "the escaping processes never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # The launcher notices the dead grader and ends the tree; under load that
        # can take a few seconds longer than on an idle machine.
        assert _wait_for(lambda: processes_with(mark) == [], 30), processes_with(mark)
        # The killed grader's cgroups are left empty; the next run removes them.
        limits_mod.remove_stale_cgroups()
        parents = list((limits_mod._v1_parents() or {}).values())
        if limits_mod._v2_parent() is not None:
            parents.append(limits_mod._v2_parent())
        prefix = f"{limits_mod.CGROUP_PREFIX}{proc.pid}-"
        assert [d for p in parents for d in p.iterdir() if d.name.startswith(prefix)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in processes_with(mark):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", ["auto", "rlimits"])
def test_limits_hold_without_the_sandbox(tmp_path, mode):
    # Without namespaces, a grader running as root starts the kernel under an
    # unprivileged user id, so that RLIMIT_NPROC binds in the fallback too.
    cases = {"memory_hog_top": HOSTILE["memory_hog_top"],
             "uid": (at_top_level("import os\nassert os.getuid() != 0 or "
                                  f"{os.geteuid()} != 0\n"), None, None)}
    if mode == "auto":
        # Under RLIMIT_NPROC alone the bounded bomb's forks simply fail at the
        # limit and the cell goes on, so whether a reason is reported depends on
        # the poller seeing the count at the limit: a race, not a check.
        cases["fork_bomb_top"] = HOSTILE["fork_bomb_top"]
    paths = []
    for key, (nb, _, _) in cases.items():
        paths.append(tmp_path / f"{key}.ipynb")
        nbformat.write(nb, paths[-1])
    reports = grade_submissions(paths, sandbox="off", limits=SMALL, limit_mode=mode)
    for (key, (_, kind, step)), report in zip(cases.items(), reports):
        if kind is None:
            assert report["score"] == report["max_score"], report
        else:
            assert report["error"] == f"{SMALL.reason(kind)} in {step}", report


# --------------------------------------------------------------------------
# Reading the cgroup counters (on a stand-in directory, for both versions)
# --------------------------------------------------------------------------

def test_cgroup_v2_limits_and_counters(tmp_path):
    c = limits_mod.CgroupV2(SMALL, "k1", tmp_path)
    d = tmp_path / "k1"
    assert (d / "memory.max").read_text() == str(384 * 2**20)
    assert (d / "pids.max").read_text() == "64"
    assert c.join_files() == [str(d / "cgroup.procs")]
    (d / "cpu.stat").write_text("usage_usec 1000000\nuser_usec 900000\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 0\noom_kill 0\n")
    (d / "pids.events").write_text("max 0\n")
    # Reaching memory.max and reclaiming is not a failure; an OOM kill is.
    assert c.check() is None
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert c.check().kind == "memory"
    (d / "memory.events").write_text("oom_kill 0\n")
    (d / "pids.events").write_text("max 3\n")
    assert c.check().kind == "processes"
    (d / "pids.events").write_text("max 0\n")
    (d / "cpu.stat").write_text("usage_usec 4500000\n")
    assert c.check().kind == "cpu"


def test_cgroup_v1_limits_and_counters(tmp_path):
    parents = {}
    for ctl in ("memory", "pids", "cpuacct"):
        parents[ctl] = tmp_path / ctl
        parents[ctl].mkdir()
    c = limits_mod.CgroupV1(SMALL, "k1", parents)
    mem, pids, cpu = (parents[k] / "k1" for k in ("memory", "pids", "cpuacct"))
    assert (mem / "memory.limit_in_bytes").read_text() == str(384 * 2**20)
    assert (pids / "pids.max").read_text() == "64"
    assert sorted(c.join_files()) == sorted(str(p / "cgroup.procs") for p in (mem, pids, cpu))
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (pids / "pids.events").write_text("max 0\n")
    (cpu / "cpuacct.usage").write_text("1000000000\n")
    assert c.check() is None
    (cpu / "cpuacct.usage").write_text("5000000000\n")
    assert c.check().kind == "cpu"
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert c.check().kind == "memory"



def test_the_grader_and_the_launcher_end_a_process_tree_with_one_function():
    # limits.py takes its process-tree functions from the launcher (which
    # must stay free of rnnbook imports), so the two cannot drift apart.
    from rnnbook.grading import _launcher, limits

    assert limits.descendants is _launcher.descendants
    assert limits.stop_then_kill is _launcher.stop_then_kill
    parent = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(limits.descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(limits.descendants(parent.pid)) == 2
        limits.kill_tree(parent.pid)
        # The shell's wait returns once both children are killed.
        assert parent.wait(timeout=10) is not None
        assert limits.descendants(parent.pid) == []
    finally:
        parent.kill()
        parent.wait()
