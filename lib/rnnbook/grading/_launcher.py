"""Start one grading kernel: confine it, limit it, then become the kernel.

The grader runs this file as a script (``python -I _launcher.py CONFIG``),
either directly or as the first process of fresh Linux user, pid, mount
and network namespaces (``unshare``). It reads a JSON configuration, and

1. in a sandbox, builds the file-system view the kernel will see: the whole
   tree bind-mounted read-only under a new root, empty read-only tmpfs
   layers over the hidden directories (the project with its solutions, the
   grader's scratch space, the submissions' folders, temporary and home
   directories), the Python environment and the stub copy of ``rnnbook``
   put back read-only where they belong, and the kernel's own scratch
   directory writable; then makes that the root with ``pivot_root`` (the
   old root is detached, so there is no way back, unlike ``chroot``) and
   enters one more user and mount namespace, in which all these mounts are
   *locked*: the kernel, although root in its namespace, can neither
   unmount a cover to see what is under it nor make a mount writable;
2. applies resource limits (address space, CPU time, file size, core
   dumps, and the number of processes when no cgroup does it);
3. without a sandbox, stays as a *subreaper* above the kernel: every
   process the kernel starts, also one that double-forks or starts a new
   session, remains a descendant of the launcher, which kills them all when
   the kernel ends or when the grader dies (its parent-death signal); a
   grader running as root gives the kernel its own unprivileged user id,
   so that ``RLIMIT_NPROC`` applies;
4. ``exec``s the kernel command with a clean environment.

It imports nothing from ``rnnbook`` and runs before any student code, so
nothing the student writes can change what it does. It exits with status
3 and a one-line reason on stderr when a step fails.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import signal
import sys

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture with the generic table
# pivot_root has no wrapper in the C library; its number depends on the architecture.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203,
                  "s390x": 217, "i686": 217, "armv7l": 218}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p]


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _fail(message: str) -> None:
    sys.stderr.write(f"rnnbook-grade launcher: {message}\n")
    sys.stderr.flush()
    os._exit(3)


def _mount(source, target, fstype, flags, data=None):
    res = _libc.mount(source.encode() if source else None, target.encode(),
                      fstype.encode() if fstype else None, flags,
                      data.encode() if data else None)
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def _readonly_tree(path: str) -> None:
    """Make the mount at ``path`` and every mount below it read-only."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    res = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE,
                        ctypes.byref(attr), ctypes.sizeof(attr))
    if res == 0:
        return
    # Kernels older than 5.12 lack mount_setattr: remount the mounts one by
    # one, keeping the flags the kernel locks for an unprivileged remount.
    mounts = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                mounts.append(point)
    for point in sorted(mounts, key=len):
        try:
            st = os.statvfs(point)
            keep = st.f_flag & (0x2 | 0x4 | 0x8 | 0x400 | 0x800 | 0x1000)  # nosuid nodev noexec noatime nodiratime relatime
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
        except OSError:
            # A mount we may not remount (locked by the parent namespace) is
            # left as it is; the paths that matter are covered separately.
            pass


def _enter_root(root: str) -> None:
    """Make ``root`` the root of this mount namespace and detach the old one."""
    import platform

    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(0, f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root on top of the new one; a lazy
    # unmount of "." then removes it, leaving no path back to the old tree.
    if _libc.syscall(number, b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"detaching the old root: {os.strerror(err)}")
    os.chdir("/")


def _lock_mounts() -> None:
    """Enter a new user and mount namespace, in which every mount is locked."""
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def build_root(cfg: dict) -> None:
    """Assemble the confined file-system view under cfg['root'] and enter it."""
    root = cfg["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("/", root, None, MS_BIND | MS_REC)
    _readonly_tree(root)
    # A fresh /proc belongs to the new pid namespace: the kernel sees only
    # its own processes there.
    try:
        _mount("proc", _inside(root, "/proc"), "proc", 0x2 | 0x4 | 0x8)
    except OSError:
        pass
    hidden = []
    for path in sorted(cfg["hide"], key=len):
        if any(path == h or path.startswith(h.rstrip("/") + "/") for h in hidden):
            continue
        _mount("tmpfs", _inside(root, path), "tmpfs", 0x2 | 0x4, "mode=755,size=1m")
        hidden.append(path)
    for src, dst, writable in cfg["expose"]:
        target = _inside(root, dst)
        if os.path.isdir(src):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "w").close()
        _mount(src, target, None, MS_BIND | MS_REC)
        if not writable:
            _readonly_tree(target)
    for path in hidden:
        target = _inside(root, path)
        _mount(None, target, None, MS_REMOUNT | MS_RDONLY | 0x2 | 0x4, "mode=755,size=1m")
    _enter_root(root)
    _lock_mounts()
    os.chdir(cfg["workdir"])


PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_SET_CHILD_SUBREAPER = 36
CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_to_user(uid: int) -> None:
    """Become ``uid`` (from root), keeping only the right to read and search files.

    The Python environment may live under a directory only root can enter
    (``/root``); reading is all the kernel keeps. ``RLIMIT_NPROC`` then
    counts the kernel's processes, since it does not apply to root.
    """
    if _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS)")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    bit = 1 << CAP_DAC_READ_SEARCH
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    # An ambient capability survives execve of the kernel.
    if _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAP_AMBIENT_RAISE)")


# The process-tree functions below are also the grader's (``limits`` imports
# them from this file), so the launcher and the grader end processes alike.

def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces.
    return data[data.rfind(")") + 2:].split()


def descendants(root: int) -> list[int]:
    """Pids of every process below ``root`` (children first reached first)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            # A process gone between the listing and the read has no fields.
            fields = stat_fields(int(entry))
            if fields and len(fields) > 1 and fields[1].isdigit():
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def send_signal(pids, sig: int) -> None:
    """Send ``sig`` to each of ``pids``, passing over those already gone."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def stop_then_kill(pids) -> None:
    """Stop every one of ``pids``, then kill them.

    Stopping all first keeps a forking process from adding children
    between the listing and the kill.
    """
    pids = list(pids)
    send_signal(pids, signal.SIGSTOP)
    send_signal(pids, signal.SIGKILL)


def _kill_descendants() -> None:
    """Stop and kill every process below this one, reaping them, until none is left."""
    # A second SIGTERM or SIGHUP must not cut the clean-up short: the
    # handler of supervise() would raise inside it and leave the rest alive.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    me = os.getpid()
    for _ in range(200):
        try:
            pids = descendants(me)
        except Exception:  # noqa: BLE001 - never leave without trying again
            continue
        if not pids:
            return
        stop_then_kill(pids)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


class _Stop(Exception):
    pass


def supervise(cfg: dict) -> None:
    """Fork the kernel and stay above it as a subreaper until it ends; never returns."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_CHILD_SUBREAPER) failed")
    kernel = os.fork()
    if kernel == 0:
        try:
            if cfg.get("uid") is not None:
                drop_to_user(int(cfg["uid"]))
            os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
        except BaseException as exc:  # noqa: BLE001 - report and leave
            sys.stderr.write(f"rnnbook-grade launcher: {exc}\n")
        os._exit(3)

    def stop(signum, frame):
        raise _Stop

    # The grader interrupts the kernel itself; the launcher only ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    # When the grader dies, this process is told, and takes the kernel's
    # processes with it. (setpriv had asked for SIGKILL, which could not.)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:
        _kill_descendants()
        os._exit(1)
    code = 1
    try:
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == kernel:
                code = os.waitstatus_to_exitcode(status)
                break
    except _Stop:
        pass
    _kill_descendants()
    os._exit(code if 0 <= code < 256 else 1)


def apply_limits(cfg: dict) -> None:
    for name, value in cfg.get("rlimits", {}).items():
        which = getattr(resource, name)
        _, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        _fail("usage: _launcher.py CONFIG.json")
    try:
        with open(argv[1]) as fh:
            cfg = json.load(fh)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the configuration: {exc}")
    try:
        if cfg.get("sandbox"):
            build_root(cfg)
        else:
            os.chdir(cfg["workdir"])
        apply_limits(cfg)
    except OSError as exc:
        _fail(str(exc))
    sys.stdout.flush()
    if cfg.get("probe"):
        # Used once at grader start to find out whether the sandbox works.
        print("ok")
        sys.stdout.flush()
    if cfg.get("supervise"):
        supervise(cfg)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


if __name__ == "__main__":
    main(sys.argv)
