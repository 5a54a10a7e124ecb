"""Resource limits for one submission: its kernel and every process it starts.

A submission gets a budget of CPU time, memory, processes and threads,
bytes written to files and bytes of output. The budget holds for the
kernel *and all its descendants together* (two children touching 2.5 GiB
each count as 5 GiB), which per-process rlimits alone cannot do.

:func:`make_container` picks how the budget is enforced:

* **cgroups v2** (``/sys/fs/cgroup`` mounted as ``cgroup2`` with the
  ``memory`` and ``pids`` controllers available to the grader's cgroup):
  one child cgroup per kernel with ``memory.max``, ``memory.swap.max = 0``
  and ``pids.max``; CPU time is read from ``cpu.stat``; ``cgroup.kill``
  ends every process in it at once.
* **cgroups v1** (separate ``memory``, ``pids``, ``cpuacct`` and
  ``freezer`` hierarchies, as on older hosts and many CI containers): the
  same limits through ``memory.limit_in_bytes``, ``memory.memsw`` and
  ``pids.max``; the group is frozen before its processes are killed, so
  that a fork bomb cannot outrun the kill.
* **rlimits** (no writable cgroup): ``RLIMIT_NPROC`` bounds processes and
  threads, ``RLIMIT_AS`` and ``RLIMIT_CPU`` each process, and the grader
  polls the summed proportional memory (PSS) and CPU time of the kernel's
  process tree and kills it when the sum goes over. ``RLIMIT_NPROC``
  counts the processes of a *user* and does not apply to root, so a grader
  running as root starts each kernel under its own unprivileged user id
  (see :func:`kernel_uid`); an unprivileged grader's sandboxed kernels
  have their own user namespace, where the count is their own. Where
  neither holds (root in the sandbox, an unprivileged grader without it)
  the number of tasks is only polled.

In every mode ``RLIMIT_FSIZE`` caps each file written, and the grader
watches the total size of the kernel's directory and the bytes the kernel
publishes as output. The runner turns a limit that was hit into a
one-line reason such as "used more than 2 GiB of memory in question 3".
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ._launcher import descendants, send_signal, stat_fields, stop_then_kill

__all__ = ["Limits", "LimitHit", "Container", "make_container", "format_mib",
           "remove_stale_cgroups", "kernel_uid", "descendants", "kill_tree"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Prefix of every cgroup the grader creates (followed by its pid).
CGROUP_PREFIX = "rnnbook-grade-"


@dataclass(frozen=True)
class Limits:
    """The budget of one submission (kernel and descendants together).

    Attributes:
        cpu_seconds: CPU time of all the submission's processes, in seconds.
        memory_mb: memory of all the submission's processes, in MiB.
        processes: processes and threads alive at the same time (the
            kernel itself uses about ten threads).
        file_mb: size of any one file written, and of everything in the
            kernel's directory together, in MiB.
        output_mb: bytes of output (printed text, displayed data) and of the
            kernel's own standard output and error, in MiB.
    """

    cpu_seconds: float = 120.0
    memory_mb: int = 2048
    processes: int = 64
    file_mb: int = 256
    output_mb: int = 16

    def __post_init__(self):
        for name in ("cpu_seconds", "memory_mb", "processes", "file_mb", "output_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.processes < 16:
            raise ValueError("processes must be at least 16: a kernel needs about ten threads")

    def describe(self) -> str:
        """One line listing the limits."""
        return (f"{self.cpu_seconds:g} s CPU, {format_mib(self.memory_mb)} memory, "
                f"{self.processes} processes and threads, {format_mib(self.file_mb)} "
                f"of files, {format_mib(self.output_mb)} of output")

    def reason(self, kind: str) -> str:
        """The one-line description of exceeding the limit ``kind``."""
        return {
            "memory": f"used more than {format_mib(self.memory_mb)} of memory",
            "processes": f"started more than {self.processes} processes and threads",
            "cpu": f"used more than {self.cpu_seconds:g} s of CPU time",
            "file": f"wrote more than {format_mib(self.file_mb)} to files",
            "output": f"printed more than {format_mib(self.output_mb)} of output",
        }[kind]


def format_mib(mb: float) -> str:
    """``2048`` -> ``"2 GiB"``, ``256`` -> ``"256 MiB"``."""
    if mb >= 1024 and mb % 1024 == 0:
        return f"{int(mb // 1024)} GiB"
    return f"{mb:g} MiB"


@dataclass
class LimitHit:
    """A limit a submission went over."""

    kind: str
    message: str


# --------------------------------------------------------------------------
# Process trees from /proc
# --------------------------------------------------------------------------

def kill_tree(root: int) -> None:
    """Stop, then kill, every descendant of ``root`` (not ``root`` itself).

    A few rounds catch what was born between the listing and the kill.
    """
    for _ in range(5):
        pids = descendants(root)
        if not pids:
            return
        stop_then_kill(pids)
        time.sleep(0.01)


def _tree_usage(root: int) -> tuple[float, int, int]:
    """(CPU seconds, PSS bytes, tasks) of ``root`` and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, pss, tasks = 0.0, 0, 0
    for pid in [root, *descendants(root)]:
        fields = stat_fields(pid)
        if not fields or len(fields) < 18:
            continue
        # utime, stime and the waited-for children's cutime, cstime.
        cpu += sum(int(x) for x in fields[11:15]) / tick
        tasks += int(fields[17])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return cpu, pss, tasks


def kernel_uid(n: int) -> int:
    """An unprivileged user id for kernel number ``n`` of this grader (when root).

    Each kernel gets its own id, so that ``RLIMIT_NPROC`` counts only its
    own processes; the ids lie far above those of real accounts.
    """
    return 3_000_000 + (os.getpid() % 10_000) * 100 + n % 100


# --------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------

class Container:
    """The rlimit fallback: no cgroup; the grader polls the process tree.

    Args:
        limits: the budget.
        name: a name unique to this kernel (used for the cgroup).
    """

    kind = "rlimits"
    poll_interval = 0.25

    def __init__(self, limits: Limits, name: str):
        self.limits = limits
        self.name = name
        self.root_pid: int | None = None

    # -- what the kernel is started with -------------------------------------
    def join_files(self) -> list[str]:
        """``cgroup.procs`` files the kernel's first process writes itself into."""
        return []

    def rlimits(self) -> dict:
        """Per-process limits the launcher sets (a backstop under cgroups)."""
        lim = self.limits
        out = {"RLIMIT_FSIZE": lim.file_mb * 2**20, "RLIMIT_CORE": 0,
               # One process can never use more than the whole budget; the
               # slack lets the summed check below name the limit first.
               "RLIMIT_CPU": int(lim.cpu_seconds) + 5,
               "RLIMIT_AS": max(4096, 2 * lim.memory_mb) * 2**20}
        if self.kind == "rlimits":
            out["RLIMIT_NPROC"] = lim.processes
        return out

    # -- watching -----------------------------------------------------------
    def check(self) -> LimitHit | None:
        """The limit that was exceeded so far, if any."""
        if self.root_pid is None:
            return None
        cpu, pss, tasks = _tree_usage(self.root_pid)
        return self._judge(cpu, pss, tasks >= self.limits.processes, False)

    def _judge(self, cpu, memory, pids_hit, oom) -> LimitHit | None:
        lim = self.limits
        if oom or (memory is not None and memory > lim.memory_mb * 2**20):
            return LimitHit("memory", lim.reason("memory"))
        if pids_hit:
            return LimitHit("processes", lim.reason("processes"))
        if cpu is not None and cpu > lim.cpu_seconds:
            return LimitHit("cpu", lim.reason("cpu"))
        return None

    def cpu_seconds(self) -> float | None:
        if self.root_pid is None:
            return None
        return _tree_usage(self.root_pid)[0]

    # -- ending -------------------------------------------------------------
    def kill(self) -> None:
        """Kill every process of the submission (the tree below the first one)."""
        if self.root_pid is not None:
            kill_tree(self.root_pid)

    def close(self) -> None:
        """Release what the container holds (after :meth:`kill`)."""


def _write(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _read_keyed(path: Path) -> dict[str, int]:
    """A cgroup file of ``key value`` lines as a dict."""
    out = {}
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out


def _procs(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


def _rmdir_when_empty(path: Path, timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > end:
                return
            time.sleep(0.02)


def _own_cgroups() -> dict[str, str]:
    """{controller or "" for v2: path} from /proc/self/cgroup."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except (OSError, ValueError):
        pass
    return out


class CgroupV2(Container):
    """One cgroup v2 group per kernel (see the module docstring)."""

    kind = "cgroup v2"
    poll_interval = 0.1

    def __init__(self, limits: Limits, name: str, parent: Path):
        super().__init__(limits, name)
        self.path = parent / name
        self.path.mkdir()
        try:
            _write(self.path / "memory.max", str(limits.memory_mb * 2**20))
            if (self.path / "memory.swap.max").exists():
                _write(self.path / "memory.swap.max", "0")
            _write(self.path / "pids.max", str(limits.processes))
        except OSError:
            self.path.rmdir()
            raise

    def join_files(self) -> list[str]:
        return [str(self.path / "cgroup.procs")]

    def check(self) -> LimitHit | None:
        usage = _read_keyed(self.path / "cpu.stat").get("usage_usec")
        memory = _read_keyed(self.path / "memory.events")
        pids = _read_keyed(self.path / "pids.events")
        return self._judge(None if usage is None else usage / 1e6, None,
                           pids.get("max", 0) > 0,
                           memory.get("oom_kill", 0) > 0 or memory.get("max", 0) > 0
                           and memory.get("oom", 0) > 0)

    def cpu_seconds(self) -> float | None:
        usage = _read_keyed(self.path / "cpu.stat").get("usage_usec")
        return None if usage is None else usage / 1e6

    def kill(self) -> None:
        kill_file = self.path / "cgroup.kill"
        for _ in range(50):
            pids = _procs(self.path / "cgroup.procs")
            if not pids:
                break
            try:
                _write(kill_file, "1")
            except OSError:
                send_signal(pids, signal.SIGKILL)
            time.sleep(0.02)
        super().kill()

    def close(self) -> None:
        _rmdir_when_empty(self.path)


class CgroupV1(Container):
    """One group per kernel in each cgroup v1 hierarchy (see the module docstring)."""

    kind = "cgroup v1"
    poll_interval = 0.1

    def __init__(self, limits: Limits, name: str, parents: dict[str, Path]):
        super().__init__(limits, name)
        self.dirs: dict[str, Path] = {}
        try:
            for controller, parent in parents.items():
                d = parent / name
                d.mkdir()
                self.dirs[controller] = d
            mem = self.dirs["memory"]
            limit = str(limits.memory_mb * 2**20)
            _write(mem / "memory.limit_in_bytes", limit)
            if (mem / "memory.memsw.limit_in_bytes").exists():
                # Swap counts too, or a hog would page out instead of stopping.
                _write(mem / "memory.memsw.limit_in_bytes", limit)
            _write(self.dirs["pids"] / "pids.max", str(limits.processes))
        except OSError:
            self.close()
            raise

    def join_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def check(self) -> LimitHit | None:
        oom = _read_keyed(self.dirs["memory"] / "memory.oom_control").get("oom_kill", 0)
        pids = _read_keyed(self.dirs["pids"] / "pids.events").get("max", 0)
        return self._judge(self.cpu_seconds(), None, pids > 0, oom > 0)

    def cpu_seconds(self) -> float | None:
        if "cpuacct" not in self.dirs:
            return super().cpu_seconds()
        try:
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        freezer = self.dirs.get("freezer")
        procs = self.dirs["pids"] / "cgroup.procs"
        for _ in range(50):
            pids = _procs(procs)
            if not pids:
                break
            if freezer is not None:
                try:
                    _write(freezer / "freezer.state", "FROZEN")
                except OSError:
                    pass
            send_signal(pids, signal.SIGKILL)
            if freezer is not None:
                # Killed tasks die only once thawed.
                try:
                    _write(freezer / "freezer.state", "THAWED")
                except OSError:
                    pass
            time.sleep(0.02)
        super().kill()

    def close(self) -> None:
        for d in self.dirs.values():
            _rmdir_when_empty(d)


# --------------------------------------------------------------------------
# Choosing the mechanism
# --------------------------------------------------------------------------

def _v2_parent() -> Path | None:
    """The grader's own cgroup v2 directory when kernels' groups can go below it."""
    for base in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if not (base / "cgroup.controllers").is_file():
            continue
        own = _own_cgroups().get("")
        if own is None:
            continue
        parent = base / own.lstrip("/")
        try:
            available = (parent / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        if not {"memory", "pids"} <= set(available):
            continue
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        try:
            for c in ("memory", "pids", "cpu"):
                if c not in enabled and c in available:
                    _write(parent / "cgroup.subtree_control", f"+{c}")
        except OSError as exc:
            if exc.errno != errno.EBUSY or _procs(parent / "cgroup.procs") != [os.getpid()]:
                continue
            # The grader is alone in a delegated cgroup (systemd-run --scope
            # -p Delegate=yes): it moves itself into a leaf so that the
            # controllers can be handed down.
            try:
                leaf = parent / f"{CGROUP_PREFIX}{os.getpid()}-self"
                leaf.mkdir(exist_ok=True)
                _write(leaf / "cgroup.procs", "0")
                for c in ("memory", "pids"):
                    _write(parent / "cgroup.subtree_control", f"+{c}")
            except OSError:
                continue
        return parent
    return None


def _v1_parents() -> dict[str, Path] | None:
    own = _own_cgroups()
    out = {}
    for controller in ("memory", "pids", "cpuacct", "freezer"):
        mount = CGROUP_ROOT / controller
        if controller not in own or not (mount / "cgroup.procs").is_file():
            if controller in ("memory", "pids"):
                return None
            continue
        parent = mount / own[controller].lstrip("/")
        if not os.access(parent, os.W_OK):
            if controller in ("memory", "pids"):
                return None
            continue
        out[controller] = parent
    return out


_CHOICE: dict = {}


def make_container(limits: Limits, name: str, mode: str = "auto") -> Container:
    """A container for one kernel: cgroups when they can be created, else rlimits.

    Args:
        limits: the budget.
        name: unique among this grader's kernels.
        mode: "auto" or "rlimits" (never use cgroups).
    """
    full = f"{CGROUP_PREFIX}{os.getpid()}-{name}"
    if mode == "auto":
        for version, find_parent, kind in (("v2", _v2_parent, CgroupV2),
                                           ("v1", _v1_parents, CgroupV1)):
            if version not in _CHOICE:
                _CHOICE[version] = find_parent()
            if _CHOICE[version] is not None:
                try:
                    return kind(limits, full, _CHOICE[version])
                except OSError:
                    pass
    elif mode != "rlimits":
        raise ValueError(f"mode must be 'auto' or 'rlimits', got {mode!r}")
    return Container(limits, full)


def remove_stale_cgroups() -> None:
    """Empty and remove the cgroups of graders that are gone (killed ones)."""
    parents = []
    v2 = _v2_parent() if "v2" not in _CHOICE else _CHOICE["v2"]
    if v2 is not None:
        parents.append(v2)
    parents += list((_v1_parents() or {}).values())
    for parent in parents:
        try:
            entries = [d for d in parent.iterdir() if d.name.startswith(CGROUP_PREFIX)]
        except OSError:
            continue
        for d in entries:
            try:
                pid = int(d.name[len(CGROUP_PREFIX):].split("-")[0])
                os.kill(pid, 0)
                continue  # that grader is still running
            except ProcessLookupError:
                pass
            except (ValueError, OSError):
                continue
            send_signal(_procs(d / "cgroup.procs"), signal.SIGKILL)
            _rmdir_when_empty(d, 0.5)
