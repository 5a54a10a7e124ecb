"""Grade submissions: one confined kernel each, fresh inputs, comparison at home.

:func:`grade_submissions` is the whole grader; the console script
``rnnbook-grade`` (:mod:`rnnbook.grading.cli`) only adds the command line
and the reports. For each submission it

1. reads the notebook into memory (before any kernel starts) and finds its
   exercise id in ``metadata["rnnbook"]["exercise"]``;
2. starts a fresh kernel (the same Python as the grader, ``ipykernel``) in
   a new temporary directory, confined by :class:`~rnnbook.grading.sandbox.Sandbox`
   when the system allows it, with the graded library code stubbed out;
3. runs every code cell with a per-cell time limit, interrupting a cell
   that runs too long; errors do not stop the run;
4. for each question, writes fresh random inputs (drawn in the grader from
   ``os.urandom``) to an ``.npz`` file and has the harness call the
   student's function in the kernel and save the returned arrays;
5. kills the kernel's whole process tree, then computes the reference
   outputs and compares, in the grader's process;
6. checks that the library files are unchanged (restoring them if not).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import _harness
from ._launcher import send_signal
from .limits import LimitHit, Limits, kernel_uid, kill_tree, make_container, remove_stale_cgroups
from .questions import EXERCISES, failed_question, score_question
from .sandbox import PACKAGE_DIR, FileGuard, Sandbox, build_stub_package
from .selfcheck import given_functions

__all__ = ["grade_submissions", "read_submission", "select_shard", "Submission",
           "GradingError", "Limits"]

#: Largest submission file accepted, in bytes.
MAX_NOTEBOOK_BYTES = 20 * 2**20
#: Largest output file read back from a kernel, in bytes.
MAX_OUTPUT_BYTES = 64 * 2**20
#: Largest message accepted from a kernel on the shell channel, in bytes.
MAX_MESSAGE_BYTES = 2**20
#: Seconds a kernel gets to stop after an interrupt before it counts as unresponsive.
INTERRUPT_GRACE = 3.0

_HARNESS_SOURCE = Path(_harness.__file__).read_text()
_LAUNCHER_SOURCE = (Path(__file__).parent / "_launcher.py").read_text()


class GradingError(Exception):
    """A submission that cannot be graded; the message is the one-line reason."""


# --------------------------------------------------------------------------
# Reading submissions
# --------------------------------------------------------------------------

@dataclass
class Submission:
    """A submission read into memory."""

    path: str
    exercise: str | None = None
    cells: list = field(default_factory=list)
    error: str | None = None


def read_submission(path, exercise: str | None = None) -> Submission:
    """Read a notebook file; never raises for a bad file (``error`` says why).

    ``exercise`` names the exercise when the notebook's metadata lost it
    (and overrides the metadata when it has one).
    """
    sub = Submission(str(path))
    if exercise is not None and exercise not in EXERCISES:
        sub.error = f"unknown exercise {_harness.clean_text(exercise, 80)!r}"
        return sub
    # With the exercise given, even a file that is no notebook is reported
    # against that exercise (and its maximum score).
    sub.exercise = exercise
    try:
        nb = _load_notebook(Path(path))
        if exercise is None:
            meta = nb.get("metadata")
            info = meta.get("rnnbook") if isinstance(meta, dict) else None
            exercise = info.get("exercise") if isinstance(info, dict) else None
        if not isinstance(exercise, str):
            raise GradingError("the notebook has no exercise id in its metadata "
                               "(metadata.rnnbook.exercise); start from the file in "
                               "exercises/, or grade it with --exercise ID")
        sub.exercise = _harness.clean_text(exercise, 80)
        if exercise not in EXERCISES:
            raise GradingError(f"unknown exercise {sub.exercise!r}")
        sub.cells = _code_cells(nb)
    except GradingError as exc:
        sub.error = str(exc)
    return sub


def _load_notebook(path: Path) -> dict:
    """The notebook at ``path`` as a dict with a list of cells (GradingError if not)."""
    try:
        if not path.is_file():
            raise GradingError("not a file")
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise GradingError(f"file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise GradingError("not a notebook: the file is not UTF-8 text") from None
    except (OSError, GradingError) as exc:
        raise GradingError(f"cannot read the file: {exc}") from None
    try:
        nb = json.loads(text)
    except ValueError as exc:
        if path.suffix != ".ipynb":
            raise GradingError(f"not a notebook: a {path.suffix or 'plain'} file, "
                               f"not .ipynb") from None
        raise GradingError(f"not a notebook: invalid JSON "
                           f"({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise GradingError("not a notebook: no list of cells")
    return nb


def _code_cells(nb: dict) -> list[str]:
    """The sources of the notebook's non-empty code cells, in order."""
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise GradingError("not a notebook: a code cell has a malformed source")
        if source.strip():
            cells.append(source)
    return cells


# --------------------------------------------------------------------------
# Process bookkeeping: no kernel outlives the grader
# --------------------------------------------------------------------------

_LIVE: dict[int, "Kernel"] = {}
_LIVE_LOCK = threading.Lock()


def kill_all_kernels() -> None:
    """Kill every kernel this process started and has not yet cleaned up.

    Safe to call from any thread: it only kills processes; each kernel's
    socket is closed by the thread that uses it.
    """
    with _LIVE_LOCK:
        kernels = list(_LIVE.values())
    for k in kernels:
        k.kill_processes()


atexit.register(kill_all_kernels)


def _processes_with_token(token: str) -> list[int]:
    """Pids of processes whose initial environment carries ``token``."""
    needle = f"RNNBOOK_GRADING_TOKEN={token}".encode()
    pids = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


# --------------------------------------------------------------------------
# One kernel
# --------------------------------------------------------------------------

@dataclass
class Reply:
    """How one execute request ended."""

    status: str  # "ok", "error", "timeout", "dead", "unresponsive", "limit"
    ename: str = ""  # for "limit": which limit (memory, processes, cpu, file, output)
    evalue: str = ""  # for "limit": the reason, naming the step


class _Shell:
    """A synchronous connection to a kernel's shell channel.

    One DEALER socket and a signing :class:`jupyter_client.session.Session`:
    no event loop and no background thread, and the socket refuses
    oversized messages and long queues from the (untrusted) kernel.
    """

    def __init__(self, connection: dict, output_limit: int = MAX_MESSAGE_BYTES):
        import zmq
        from jupyter_client.session import Session

        self.zmq = zmq
        key = connection["key"]
        self.session = Session(key=key.encode() if isinstance(key, str) else key,
                               signature_scheme=connection["signature_scheme"])
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.socket.setsockopt(zmq.RCVHWM, 100)
        self.socket.connect(f"ipc://{connection['ip']}-{connection['shell_port']}")
        # Everything the kernel prints or displays is published here; the
        # grader only counts the bytes (a message larger than the whole
        # output limit is refused by the socket and never stored).
        self.iopub = self.context.socket(zmq.SUB)
        self.iopub.linger = 0
        self.iopub.setsockopt(zmq.MAXMSGSIZE, output_limit + 2**16)
        self.iopub.setsockopt(zmq.RCVHWM, 1000)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        # A message over the size cap makes the socket drop the connection:
        # the monitor reports it, and it counts as too much output.
        self.monitor = self.iopub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.iopub.connect(f"ipc://{connection['ip']}-{connection['iopub_port']}")
        self.output_bytes = 0

    def count_output(self, settle_for: str | None = None) -> float:
        """Bytes published by the kernel so far (infinite after an oversized message).

        With ``settle_for`` (a request id), also wait (briefly) for the
        kernel to say it is idle after that request, so that all the output
        of the request is counted.
        """
        zmq = self.zmq
        end = time.monotonic() + 0.5
        needle = settle_for.encode() if settle_for else None
        while True:
            try:
                frames = self.iopub.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                if needle is None or time.monotonic() > end or \
                        not self.iopub.poll(int(max(0.0, end - time.monotonic()) * 1000)):
                    break
                continue
            self.output_bytes += sum(len(f) for f in frames)
            if needle is not None and len(frames) >= 7 and len(frames[-1]) < 200:
                tail = [f.bytes for f in frames[-4:]]
                if any(needle in t for t in tail) and b'"idle"' in tail[-1]:
                    needle = None
        try:
            self.monitor.recv_multipart(zmq.NOBLOCK)
            return float("inf")
        except zmq.Again:
            return self.output_bytes

    def send(self, msg_type: str, content: dict) -> str:
        msg = self.session.msg(msg_type, content)
        self.session.send(self.socket, msg)
        return msg["header"]["msg_id"]

    def reply_to(self, msg_id: str, timeout: float) -> dict | None:
        """The reply to ``msg_id`` if one arrives within ``timeout`` seconds, else None."""
        if not self.socket.poll(int(timeout * 1000)):
            return None
        try:
            _, msg = self.session.recv(self.socket, mode=self.zmq.NOBLOCK)
        except Exception:  # a malformed or badly signed message
            return None
        if isinstance(msg, dict) and msg.get("parent_header", {}).get("msg_id") == msg_id:
            return msg
        return None

    def close(self) -> None:
        self.socket.close(linger=0)
        self.iopub.disable_monitor()
        self.monitor.close(linger=0)
        self.iopub.close(linger=0)
        self.context.term()


class Kernel:
    """An ipykernel in its own directory, process group, cgroup and (maybe) namespaces."""

    def __init__(self, grader: "Grader", kdir: Path, exercise: str | None = None):
        self.grader = grader
        self.exercise = exercise
        self.kdir = kdir
        self.workdir = kdir / "work"
        self.workdir.mkdir(parents=True)
        (kdir / "root").mkdir()
        # The marker names the grader's pid, so that a process can be traced
        # back to the run that started it.
        self.token = f"{os.getpid()}-{secrets.token_hex(16)}"
        self.proc: subprocess.Popen | None = None
        self.shell: _Shell | None = None
        self._group_killed = False
        self._pid: int | None = None
        # Set once the kernel has died, ignored an interrupt or gone over a
        # limit: nothing more can run in it.
        self.broken: Reply | None = None
        self.log_path = kdir / "kernel.log"
        self.container = make_container(grader.limits, kdir.name, grader.limit_mode)
        # What runs now, for the reasons: "code cell 4", "question 2 (...)".
        self.step = "the notebook"
        self._next_poll = 0.0
        self._next_disk_poll = 0.0

    # -- start and stop -------------------------------------------------
    def start(self, deadline: float) -> None:
        from jupyter_client.connect import write_connection_file

        cf, connection = write_connection_file(
            fname=str(self.workdir / ".kernel.json"), ip=str(self.workdir / "ipc"),
            transport="ipc", key=secrets.token_hex(32).encode())
        self._copy_font_cache()
        sandbox = self.grader.sandbox_for(self.exercise)
        env = sandbox.kernel_env(self.workdir, self.token)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", cf,
                "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"]
        uid = None
        if os.geteuid() == 0 and not sandbox.enabled:
            # Root is exempt from RLIMIT_NPROC and could leave its cgroup.
            uid = kernel_uid(int(self.kdir.name.lstrip("k") or 0))
            for root, dirs, files in os.walk(self.workdir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, uid, uid)
        rlimits = self.container.rlimits()
        if not sandbox.enabled and uid is None:
            # RLIMIT_NPROC would count every process of the grader's user,
            # not only the kernel's: the grader's polling counts instead.
            rlimits.pop("RLIMIT_NPROC", None)
        cmd = sandbox.command(self.workdir, self.kdir / "root", argv, env,
                              self.kdir / "launch.json", rlimits=rlimits,
                              join=self.container.join_files(), uid=uid)
        with _LIVE_LOCK:
            log = open(self.log_path, "wb")
            try:
                self.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir,
                    env={"PATH": env["PATH"], "LANG": "C.UTF-8"}, start_new_session=True)
            finally:
                log.close()
            self.container.root_pid = self.proc.pid
            _LIVE[id(self)] = self
        self.shell = _Shell(connection, self.grader.limits.output_mb * 2**20)
        # The kernel is ready when it answers a kernel_info request.
        msg_id = self.shell.send("kernel_info_request", {})
        while self.shell.reply_to(msg_id, 0.1) is None:
            if self.proc.poll() is not None:
                raise GradingError(f"the kernel did not start ({self._log_tail()})")
            if time.monotonic() > deadline:
                raise GradingError("the kernel did not start in time")
        self._pid = self._find_kernel_pid()

    def _copy_font_cache(self) -> None:
        # The kernel's HOME is its scratch directory; a copy of matplotlib's
        # font list spares a notebook that plots a rebuild of several seconds.
        src = self.grader.font_cache
        if src is not None:
            dst = self.workdir / ".matplotlib"
            dst.mkdir(exist_ok=True)
            for f in src.glob("fontlist-*.json"):
                shutil.copy(f, dst / f.name)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return _harness.clean_text(lines[-1] if lines else "no message", 160)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _find_kernel_pid(self) -> int | None:
        """The pid (as the grader sees it) of the ipykernel process.

        The kernel is the only child of the first process (the launcher,
        or ``unshare``) until student code runs; later children of the
        launcher are orphans it adopted, so the answer is kept.
        """
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                children = fh.read().split()
            return int(children[0]) if children else None
        except (OSError, ValueError):
            return None

    def interrupt(self) -> None:
        if self._pid is not None and self.alive():
            try:
                os.kill(self._pid, signal.SIGINT)
            except OSError:
                pass

    def kill(self) -> None:
        """Kill the kernel and everything it started, and close the connection.

        Called by the thread that talks to the kernel; idempotent.
        """
        self.kill_processes()
        self.container.close()
        if self.shell is not None:
            self.shell.close()
            self.shell = None
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)

    def kill_processes(self) -> None:
        """Kill the kernel's processes (from any thread); idempotent."""
        if self.proc is not None and not self._group_killed:
            # Once the group is gone its number may be reused: kill it once.
            self._group_killed = True
            # The cgroup holds every process of the submission; without one,
            # the launcher's (or the pid namespace's) tree does, as long as
            # its first process lives: the tree goes first.
            self.container.kill()
            kill_tree(self.proc.pid)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # Processes that left the process group (setsid, double fork) but
        # still carry the kernel's environment marker; in the sandbox they
        # are already gone with the pid namespace.
        for _ in range(3):
            pids = _processes_with_token(self.token)
            if not pids:
                break
            send_signal(pids, signal.SIGKILL)
            time.sleep(0.05)

    # -- limits -------------------------------------------------------------
    def _over_limit(self, force: bool = False, settle_for: str | None = None):
        """The limit the submission went over (a :class:`LimitHit`), if any.

        Polled while a cell runs; cheap reads of the cgroup's counters, the
        output count, and now and then the size of the kernel's directory.
        """
        now = time.monotonic()
        if not force and now < self._next_poll:
            return None
        self._next_poll = now + self.container.poll_interval
        hit = self.container.check()
        if hit is not None:
            return hit
        lim = self.grader.limits
        out = self.shell.count_output(settle_for) if self.shell is not None else 0
        try:
            out += self.log_path.stat().st_size
        except OSError:
            pass
        if out == float("inf"):
            # The connection dropped: for an oversized message, or because
            # the kernel died (then it is not about output).
            end = time.monotonic() + 1.0
            while self.alive() and time.monotonic() < end:
                time.sleep(0.02)
            if not self.alive():
                out = self.shell.output_bytes
        if out > lim.output_mb * 2**20:
            return LimitHit("output", lim.reason("output"))
        if force or now >= self._next_disk_poll:
            self._next_disk_poll = now + 0.5
            # A file cut at the per-file cap fills it exactly.
            if _disk_usage(self.workdir, lim.file_mb * 2**20) >= lim.file_mb * 2**20:
                return LimitHit("file", lim.reason("file"))
        return None

    def _explain(self, reply: Reply, msg_id: str | None) -> Reply:
        """Turn a reply that a limit caused into a "limit" reply (and stop the kernel).

        Also an "ok": code that caught the error a limit caused (a failed
        fork, a cut file) finishes normally, but it did go over the limit.
        """
        if reply.status in ("limit", "unresponsive"):
            return reply
        hit = self._over_limit(force=True, settle_for=msg_id if self.alive() else None)
        lim = self.grader.limits
        if hit is None and reply.status == "error":
            hit = self.limit_in_error(reply.ename, reply.evalue)
        if hit is None and reply.status == "dead":
            cpu = self.container.cpu_seconds()
            if cpu is not None and cpu > 0.9 * lim.cpu_seconds:
                hit = LimitHit("cpu", lim.reason("cpu"))
        if hit is None:
            return reply
        return self.stop_for(hit)

    def limit_in_error(self, ename: str, evalue: str) -> LimitHit | None:
        """The limit an exception of the student's code reveals, if any."""
        lim = self.grader.limits
        text = f"{ename}: {evalue}"
        if ename == "MemoryError" or "MemoryError" in evalue:
            return LimitHit("memory", lim.reason("memory"))
        if "Errno 27" in text or "File too large" in text:
            return LimitHit("file", lim.reason("file"))
        if self.container.kind == "rlimits" and (
                "Errno 11" in text or "can't start new thread" in text):
            return LimitHit("processes", lim.reason("processes"))
        return None

    def stop_for(self, hit) -> Reply:
        """Kill the submission's processes for going over a limit; nothing more runs."""
        self.kill_processes()
        self.broken = Reply("limit", hit.kind, f"{hit.message} in {self.step}")
        return self.broken

    # -- running code ------------------------------------------------------
    def execute(self, code: str, timeout: float, deadline: float) -> Reply:
        """Run ``code``; interrupt it after ``timeout`` s or at ``deadline``."""
        if self.broken is None and (not self.alive() or self.shell is None):
            self.broken = Reply("dead")
        if self.broken is not None:
            return self.broken
        reply, msg_id = self._execute(code, timeout, deadline)
        reply = self._explain(reply, msg_id)
        if reply.status in ("dead", "unresponsive", "limit"):
            self.broken = reply
        return reply

    def _execute(self, code: str, timeout: float, deadline: float) -> tuple[Reply, str]:
        msg_id = self.shell.send("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False})
        return self._wait(msg_id, timeout, deadline), msg_id

    def _wait(self, msg_id: str, timeout: float, deadline: float) -> Reply:
        limit = min(time.monotonic() + timeout, deadline)
        interrupted_at = None
        while True:
            now = time.monotonic()
            if not self.alive():
                return Reply("dead")
            hit = self._over_limit()
            if hit is not None:
                return self.stop_for(hit)
            if interrupted_at is None and now > limit:
                self.interrupt()
                interrupted_at = now
            if interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE:
                return Reply("unresponsive")
            msg = self.shell.reply_to(msg_id, 0.05)
            if msg is None:
                continue
            content = msg.get("content", {})
            if not isinstance(content, dict):
                content = {}
            if interrupted_at is not None:
                return Reply("timeout")
            if content.get("status") == "ok":
                return Reply("ok")
            return Reply("error", _harness.clean_text(content.get("ename", ""), 60),
                         _harness.clean_text(content.get("evalue", ""), 160))


def _disk_usage(path: Path, cap: int) -> int:
    """Bytes allocated below ``path``; stops counting once over ``cap``.

    A directory with very many entries counts as over: a million empty
    files fill a disk's inodes as surely as one big file fills its blocks.
    """
    total, entries, todo = 0, 0, [str(path)]
    while todo:
        try:
            it = os.scandir(todo.pop())
        except OSError:
            continue
        with it:
            for e in it:
                entries += 1
                if entries > 20000:
                    return cap + 1
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512
                if e.is_dir(follow_symlinks=False):
                    todo.append(e.path)
                if total > cap:
                    return total
    return total


# --------------------------------------------------------------------------
# Reading the harness output safely
# --------------------------------------------------------------------------

_KEY = re.compile(r"^c\d{1,3}_o\d{1,3}$")


def load_outputs(path: Path) -> tuple[dict, dict]:
    """Read an output .npz written in the kernel; raise GradingError if unusable.

    The file comes from untrusted code: it must be a regular file (no
    symlink, FIFO or device), not too large, a zip of .npy members with
    plain numeric arrays, and no pickled objects are ever loaded.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise GradingError("no output file") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise GradingError("the output is not a regular file")
        if st.st_size > MAX_OUTPUT_BYTES:
            raise GradingError("the output file is too large")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_OUTPUT_BYTES + 1)
    finally:
        os.close(fd)
    arrays, meta = {}, None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > 200:
                raise GradingError("the output holds too many arrays")
            for info in infos:
                if info.file_size > MAX_OUTPUT_BYTES:
                    raise GradingError("an output array is too large")
                key = info.filename[:-4] if info.filename.endswith(".npy") else None
                if key is None or not (key == "meta" or _KEY.match(key)):
                    continue
                arr = np.load(io.BytesIO(zf.read(info)), allow_pickle=False)
                if key == "meta":
                    if arr.dtype.kind != "U" or arr.ndim != 0 or arr.size * 4 > 2**20:
                        raise GradingError("malformed output description")
                    meta = json.loads(str(arr))
                elif type(arr) is np.ndarray and arr.dtype == np.float64:
                    arrays[key] = arr
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise GradingError(f"unreadable output ({_harness.clean_text(exc, 80)})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("cases", []), list):
        raise GradingError("the output has no description")
    return arrays, _sanitize_meta(meta)


def _sanitize_meta(meta: dict) -> dict:
    """Keep only expected fields with expected types; every text shortened and cleaned."""
    text = lambda v, n=200: _harness.clean_text(v, n) if isinstance(v, str) else ""
    out = {"status": text(meta.get("status"), 20), "missing": text(meta.get("missing"), 80),
           "cases": []}
    params = meta.get("params")
    if isinstance(params, dict):
        out["params"] = {text(k, 80): [text(p, 40) for p in v[:12]]
                         for k, v in list(params.items())[:4] if isinstance(v, list)}
    for case in meta.get("cases", [])[:50]:
        if not isinstance(case, dict):
            out["cases"].append({"status": "bad"})
            continue
        c = {k: text(case.get(k)) for k in ("status", "type", "message")}
        c["outputs"] = []
        for info in case.get("outputs", [])[:50] if isinstance(case.get("outputs"), list) else []:
            if not isinstance(info, dict):
                c["outputs"].append({"problem": "was not understood"})
            elif "problem" in info:
                c["outputs"].append({"problem": text(info["problem"])})
            else:
                shape = info.get("shape")
                if not (isinstance(shape, list) and len(shape) <= 8
                        and all(isinstance(s, int) and 0 <= s < 2**31 for s in shape)):
                    c["outputs"].append({"problem": "has an unreadable shape"})
                    continue
                c["outputs"].append({"dtype": text(info.get("dtype"), 40), "shape": shape})
        out["cases"].append(c)
    return out


# --------------------------------------------------------------------------
# The grader
# --------------------------------------------------------------------------

def _harness_call(in_path: Path, out_path: Path) -> str:
    return (
        "(lambda __rnnbook_d: (__import__('builtins').exec("
        f"{_HARNESS_SOURCE!r}, __rnnbook_d), "
        f"__rnnbook_d['main'](globals(), {str(in_path)!r}, {str(out_path)!r})))"
        "({'__name__': '_rnnbook_harness'})\n"
    )


def _describe_stop(reply: Reply, cell_timeout: float) -> str:
    if reply.status == "timeout":
        return f"timed out after {cell_timeout:g} s"
    if reply.status == "unresponsive":
        return "the kernel stopped responding"
    if reply.status == "dead":
        return "the kernel had stopped (did the notebook exit or crash it?)"
    if reply.status == "limit":
        return reply.evalue
    return f"{reply.ename}: {reply.evalue}".strip(": ")


class Grader:
    """Shared state of one grading run (scratch space, stubs, sandbox, file guard)."""

    def __init__(self, *, cell_timeout=30.0, total_timeout=300.0, sandbox="auto", hide=(),
                 protect=(), limits: Limits | None = None, limit_mode="auto"):
        self.cell_timeout = float(cell_timeout)
        self.total_timeout = float(total_timeout)
        self.limits = Limits() if limits is None else limits
        self.limit_mode = limit_mode
        _remove_stale_scratch()
        remove_stale_cgroups()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"rnnbook-grade-{os.getpid()}-"))
        os.chmod(self.tmp, 0o700)
        try:
            stub = build_stub_package(self.tmp / "stub")
            launcher = self.tmp / "launcher.py"
            launcher.write_text(_LAUNCHER_SOURCE)
            self.sandbox = Sandbox(self.tmp, stub, launcher, mode=sandbox, hide=hide,
                                   memory_mb=max(4096, 2 * self.limits.memory_mb))
            self.guard = FileGuard([PACKAGE_DIR, *protect])
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.font_cache = self._find_font_cache()
        self._counter = 0
        self._lock = threading.Lock()
        self._exercise_sandboxes: dict[str, Sandbox] = {}

    def sandbox_for(self, exercise: str | None) -> Sandbox:
        """The sandbox whose library copy suits ``exercise``.

        An exercise given a graded function of another one (a forward pass
        for its backward, or working code such as the one-directional RNN
        that exercise 6 builds on) gets a library copy in which that
        function works; every other exercise shares the copy that blocks
        everything.
        """
        if not given_functions(exercise):
            return self.sandbox
        with self._lock:
            if exercise not in self._exercise_sandboxes:
                stub = build_stub_package(self.tmp / f"stub-{exercise}", exercise)
                self._exercise_sandboxes[exercise] = self.sandbox.with_stub(stub)
            return self._exercise_sandboxes[exercise]

    @staticmethod
    def _find_font_cache() -> Path | None:
        base = os.environ.get("MPLCONFIGDIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
        p = Path(base)
        return p if p.is_dir() and any(p.glob("fontlist-*.json")) else None

    def close(self) -> None:
        _make_writable(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _new_kdir(self) -> Path:
        with self._lock:
            self._counter += 1
            n = self._counter
        return self.tmp / f"k{n}"

    def grade(self, sub: Submission) -> dict:
        """Grade one submission that was read without error."""
        questions = EXERCISES[sub.exercise]
        start = time.monotonic()
        deadline = start + self.total_timeout
        kdir = self._new_kdir()
        kernel = Kernel(self, kdir, sub.exercise)
        collected, cell_errors = {}, []
        fatal = None
        try:
            try:
                kernel.start(min(deadline, start + 60))
            except GradingError as exc:
                fatal = str(exc)
            if fatal is None:
                fatal = self._run_cells(kernel, sub, deadline, cell_errors)
            if fatal is None:
                for q_index, question in enumerate(questions):
                    kernel.step = f"question {q_index + 1} ({question.name})"
                    collected[question.name] = self._run_question(
                        kernel, question, q_index, deadline)
        finally:
            kernel.kill()
            _make_writable(kdir)
            shutil.rmtree(kdir, ignore_errors=True)
        if fatal is not None:
            return _error_report(sub, fatal)
        notes = list(cell_errors)
        results = []
        for question in questions:
            outcome = collected[question.name]
            if isinstance(outcome, str):
                note = outcome
                if cell_errors and "not defined" in outcome:
                    note += " (" + "; ".join(cell_errors[:3]) + ")"
                results.append(failed_question(question, note))
                continue
            cases, arrays, meta = outcome
            expected = [question.reference(case) for case in cases]
            result = score_question(question, cases, expected, arrays, meta)
            if meta.get("status") == "missing" and cell_errors:
                result.feedback += " (" + "; ".join(cell_errors[:3]) + ")"
            results.append(result)
        report = _report(sub, results, None)
        report["notes"] = notes
        return report

    def _run_cells(self, kernel, sub, deadline, cell_errors) -> str | None:
        """Run the notebook's code cells; return a reason when a limit stopped them."""
        for i, source in enumerate(sub.cells):
            kernel.step = f"code cell {i + 1}"
            reply = kernel.execute(source, self.cell_timeout, deadline)
            if reply.status == "limit":
                # Nothing the notebook defines can be trusted to be complete.
                return reply.evalue
            if reply.status == "error":
                cell_errors.append(f"code cell {i + 1} raised {reply.ename}")
            elif reply.status != "ok":
                cell_errors.append(f"code cell {i + 1}: "
                                   f"{_describe_stop(reply, self.cell_timeout)}")
            if kernel.broken is not None or time.monotonic() > deadline:
                if i + 1 < len(sub.cells):
                    cell_errors.append(f"code cells {i + 2} to {len(sub.cells)} "
                                       f"did not run")
                break
        return None

    def _run_question(self, kernel, question, q_index, deadline):
        """Call one question's function in the kernel; return (cases, arrays, meta) or a reason."""
        if kernel.broken is not None:
            return f"not graded: {_describe_stop(kernel.broken, self.cell_timeout)}"
        if time.monotonic() > deadline:
            return f"not graded: the notebook used up the total time limit " \
                   f"of {self.total_timeout:g} s"
        rng = np.random.default_rng(np.frombuffer(os.urandom(16), dtype=np.uint32))
        cases = question.make_cases(rng)
        manifest, arrays = question.manifest(cases)
        # Unpredictable names, created exclusively and without following
        # links: the kernel's directory belongs to the student's code.
        tag = secrets.token_hex(8)
        in_path = kernel.workdir / f"in_{q_index}_{tag}.npz"
        out_path = kernel.workdir / f"out_{q_index}_{tag}.npz"
        try:
            fd = os.open(in_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, manifest=np.array(json.dumps(manifest)), **arrays)
        except OSError:
            return "the grader could not hand the inputs to the kernel"
        reply = kernel.execute(_harness_call(in_path, out_path), self.cell_timeout, deadline)
        if reply.status != "ok":
            if reply.status == "limit":
                return reply.evalue
            if reply.status == "error":
                return (f"the grader could not call {question.name} "
                        f"({reply.ename}: {reply.evalue})")
            return f"{_describe_stop(reply, self.cell_timeout)} while the grader called it"
        try:
            got, meta = load_outputs(out_path)
        except GradingError as exc:
            return f"the grader could not read what {question.name} returned ({exc})"
        finally:
            for p in (in_path, out_path):
                try:
                    p.unlink()
                except OSError:
                    pass
        # The harness catches what the function raises; a limit behind it
        # still costs the question.
        for case in meta.get("cases", []):
            hit = kernel.limit_in_error(case.get("type", ""), case.get("message", ""))
            if hit is not None:
                return kernel.stop_for(hit).evalue
        return cases, got, meta


def _remove_stale_scratch() -> None:
    """Delete scratch folders left by graders that were killed (their pid is gone)."""
    base = Path(tempfile.gettempdir())
    for d in base.glob("rnnbook-grade-*-*"):
        try:
            pid = int(d.name.split("-")[2])
            st = os.lstat(d)
        except (ValueError, IndexError, OSError):
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        try:
            os.kill(pid, 0)
            continue  # that grader is still running
        except ProcessLookupError:
            pass
        except OSError:
            continue
        _make_writable(d)
        shutil.rmtree(d, ignore_errors=True)


def _make_writable(path: Path) -> None:
    """Let the owner delete everything below ``path``; never follows a symlink."""
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            full = os.path.join(root, d)
            try:
                if stat.S_ISDIR(os.lstat(full).st_mode):
                    os.chmod(full, 0o700)
            except OSError:
                pass


def _report(sub: Submission, results, error) -> dict:
    questions = [r.as_dict() for r in results]
    return {
        "submission": sub.path,
        "exercise": sub.exercise,
        "score": sum(q["score"] for q in questions) if error is None else 0,
        "max_score": sum(q["max_score"] for q in questions),
        "error": error,
        "questions": questions,
        "notes": [],
    }


def _error_report(sub: Submission, reason: str) -> dict:
    questions = EXERCISES.get(sub.exercise, ()) if sub.exercise else ()
    results = [failed_question(q, f"not graded: {reason}") for q in questions]
    return _report(sub, results, reason)


def zero_report(report: dict, reason: str) -> dict:
    """The same report with every score set to 0 and ``reason`` as the error."""
    out = dict(report)
    out["score"] = 0
    out["error"] = reason
    out["questions"] = [dict(q, score=0, feedback=f"not graded: {reason}")
                        for q in report["questions"]]
    return out


def select_shard(paths, shard: tuple[int, int] | None) -> list[str]:
    """The submissions of shard ``K`` of ``N`` (1-based): every N-th one, from the K-th.

    The paths are sorted first, so that every machine of a sharded run,
    given the same folder, splits it the same way and the shards together
    hold every submission exactly once.
    """
    # The order of a folder given on the command line (path components).
    paths = sorted((str(p) for p in paths), key=lambda p: Path(p).parts)
    if shard is None:
        return paths
    k, n = shard
    if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {k}/{n}")
    return paths[k - 1::n]


class _Batch:
    """The reports of one run and who may have changed the library files."""

    def __init__(self, grader: Grader, subs: list[Submission], progress):
        self.grader = grader
        self.subs = subs
        self.progress = progress
        self.reports: list[dict | None] = [None] * len(subs)
        self.lock = threading.Lock()
        self.active: set[int] = set()
        self.suspects: set[int] = set()
        self.tampered: set[int] = set()
        self.done = 0

    def _finish(self, i: int, report: dict) -> None:
        self.reports[i] = report
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, len(self.subs), report)

    def work(self, i: int) -> None:
        with self.lock:
            self.active.add(i)
            self.suspects.add(i)
        try:
            report = self.grader.grade(self.subs[i])
        except Exception as exc:  # a bug or an exotic failure: report it, keep going
            report = _error_report(self.subs[i], f"grading failed: {type(exc).__name__}: "
                                                 f"{_harness.clean_text(exc, 120)}")
        with self.lock:
            self.active.discard(i)
            guard = self.grader.guard
            changed = guard.changed()
            guard.restore(changed)
            if guard.tampered(changed):
                # With several kernels at once the change cannot be pinned on
                # one of them: every submission that ran since the last clean
                # check is blamed.
                self.tampered.update(self.suspects)
            self.suspects.clear()
            self.suspects.update(self.active)
            self._finish(i, report)

    def run(self, jobs: int) -> list[dict]:
        todo = []
        for i, sub in enumerate(self.subs):
            if sub.error is not None:
                self._finish(i, _error_report(sub, sub.error))
            else:
                todo.append(i)
        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            futures = {pool.submit(self.work, i) for i in todo}
            try:
                while futures:
                    finished, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                kill_all_kernels()
                raise
        for i in self.tampered:
            self.reports[i] = zero_report(self.reports[i], "modified the rnnbook library files")
        return self.reports


def _log_confinement(grader: Grader, log) -> None:
    if log is None:
        return
    if grader.sandbox.enabled:
        log(f"kernels are confined: {grader.sandbox.reason}")
    else:
        log(f"kernels are NOT confined ({grader.sandbox.reason}): a notebook can read "
            f"and change what this user can")
    probe = make_container(grader.limits, "probe", grader.limit_mode)
    probe.close()
    log(f"limits per submission ({probe.kind}): {grader.limits.describe()}")


def grade_submissions(paths, *, jobs=2, cell_timeout=30.0, total_timeout=300.0,
                      sandbox="auto", hide=(), protect=(), limits: Limits | None = None,
                      memory_mb=None, limit_mode="auto", shard=None,
                      progress=None, log=None, exercise=None) -> list[dict]:
    """Grade notebooks and return one report dict per submission, in input order.

    Args:
        paths: notebook files.
        jobs: number of kernels run at the same time.
        cell_timeout: seconds allowed for each code cell and each graded call.
        total_timeout: seconds allowed for one submission in all.
        sandbox: "auto", "on" or "off" (see :class:`~rnnbook.grading.sandbox.Sandbox`).
        hide: extra directories a sandboxed kernel must not see (the
            submissions' folders, the project and the grader's scratch
            space are always hidden).
        protect: extra directories whose files are checked and restored
            after every submission, like the library's.
        limits: the resource budget of each submission
            (:class:`~rnnbook.grading.limits.Limits`; default: its defaults).
        memory_mb: shorthand for ``limits.memory_mb``.
        limit_mode: "auto" (cgroups when possible) or "rlimits".
        shard: ``(K, N)`` to grade only shard K of N of the sorted paths
            (see :func:`select_shard`); the reports are then in sorted order.
        progress: callable ``progress(done, total, report)`` called after
            each submission, or None.
        log: callable taking one line of text about the run (whether the
            kernels are confined, which limits hold), or None.
        exercise: the exercise id of every submission, for notebooks whose
            metadata lost it; None reads it from each notebook.

    Returns:
        A list of dicts with keys ``submission``, ``exercise``, ``score``,
        ``max_score``, ``error``, ``questions`` (each with ``name``,
        ``score``, ``max_score``, ``feedback``) and ``notes`` (top-level
        cells that raised or timed out, in words).
    """
    paths = [str(p) for p in paths]
    if shard is not None:
        paths = select_shard(paths, shard)
    if limits is None:
        limits = Limits() if memory_mb is None else Limits(memory_mb=memory_mb)
    elif memory_mb is not None:
        limits = replace(limits, memory_mb=memory_mb)
    # Every submission is read before any kernel starts, so no notebook can
    # change another one on disk before it is graded.
    subs = [read_submission(p, exercise) for p in paths]
    hide = list(hide) + sorted({os.path.dirname(os.path.abspath(p)) for p in paths})
    grader = Grader(cell_timeout=cell_timeout, total_timeout=total_timeout, sandbox=sandbox,
                    hide=hide, protect=protect, limits=limits, limit_mode=limit_mode)
    try:
        _log_confinement(grader, log)
        return _Batch(grader, subs, progress).run(jobs)
    finally:
        kill_all_kernels()
        grader.close()
