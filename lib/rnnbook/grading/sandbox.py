"""What the grading kernels run in: a stubbed library, a confined view, watched files.

Three pieces, used by :mod:`rnnbook.grading.runner`:

* :func:`build_stub_package` copies the installed ``rnnbook`` package and
  replaces the implementations of the graded functions by stubs that raise
  ``RuntimeError`` (every function and class of ``nn.rnn``, ``nn.lstm``,
  ``nn.gru``, the fast ``nn.kernels`` and ``grading.references``; ``clip_grad_norm``/``grad_norm`` of
  ``optim``; ``softmax``/``log_softmax`` of ``activations``; for Part III
  everything in ``attention``, the bidirectional layer and
  ``reverse_within_lengths`` of ``sequence`` and ``Seq2Seq``), and
  ``rnnbook.grading`` by a module whose ``check`` only says that
  self-checks are skipped. An exercise that gives some of these functions
  as working code (``selfcheck.GIVEN``: exercise 6 builds on
  ``rnn_forward`` and ``rnn_backward``) gets its own copy with them left
  real. Kernels find this copy first on
  ``PYTHONPATH`` (the editable install is a plain ``.pth`` entry that comes
  later on ``sys.path``) and, in the sandbox, it is also mounted over the real
  package directory, so the real source cannot be read either.
* :class:`Sandbox` decides whether the kernels can run in fresh Linux
  user, pid, mount and network namespaces (``unshare``), and builds the
  launch command and the launcher configuration for one kernel.
* :class:`FileGuard` keeps an in-memory copy of every file of the installed
  package (and of the start-up files of ``site-packages``, where a ``.pth``
  or ``sitecustomize.py`` would change later kernels), checks their
  SHA-256 after each submission and restores them when they changed.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import importlib
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import types
from pathlib import Path

import rnnbook

from .selfcheck import BLOCKED, blocked_for
from .stubs import stub_source

PACKAGE_DIR = Path(rnnbook.__file__).resolve().parent

__all__ = ["PACKAGE_DIR", "build_stub_package", "FileGuard", "Sandbox", "project_root"]

_STUB_HEADER = '''"""Stand-in used while a notebook is graded.

The library's implementation of the functions in this module is not
available to the notebook being graded: the exercise is to write them.
"""


def _unavailable(name):
    def stub(*args, **kwargs):
        raise RuntimeError(
            f"{name} is not available while a notebook is graded: "
            f"the exercise is to write it yourself"
        )
    stub.__name__ = name.rsplit(".", 1)[-1]
    stub.__qualname__ = stub.__name__
    return stub


class _UnavailableClass:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            f"{type(self).__name__} is not available while a notebook is graded"
        )

'''

_GRADING_STUB = '''"""Stand-in for rnnbook.grading while a notebook is graded."""


def check(*args, **kwargs):
    """Self-checks do not run while a notebook is graded."""
    print("Self-checks are skipped while the notebook is graded.")


def __getattr__(name):
    raise AttributeError(
        f"rnnbook.grading.{name} is not available while a notebook is graded"
    )
'''


def project_root() -> Path | None:
    """The source tree the package is installed from in editable mode, if any."""
    root = PACKAGE_DIR.parent.parent
    if PACKAGE_DIR.parent.name == "lib" and (root / "pyproject.toml").is_file():
        return root
    return None


def _module_members(mod_name: str) -> tuple[list[str], list[str]]:
    """(function names, class names) defined in the module itself."""
    mod = importlib.import_module(mod_name)
    funcs, classes = [], []
    for n, v in vars(mod).items():
        if n.startswith("__") or getattr(v, "__module__", None) != mod_name:
            continue
        if isinstance(v, types.FunctionType):
            funcs.append(n)
        elif isinstance(v, type):
            classes.append(n)
    return funcs, classes


def _stub_lines(mod_name: str, funcs, classes) -> list[str]:
    lines = [f"{n} = _unavailable({mod_name + '.' + n!r})" for n in funcs]
    lines += [f"class {n}(_UnavailableClass):\n    pass\n" for n in classes]
    return lines


def build_stub_package(dest: Path, exercise: str | None = None) -> Path:
    """Copy the installed package to ``dest/rnnbook`` with the graded code stubbed out.

    With ``exercise``, the functions that exercise is given from another
    one (a forward pass whose cache its backward consumes) keep their
    implementation; see :func:`rnnbook.grading.selfcheck.blocked_for`.

    Returns the directory to put on ``PYTHONPATH`` (``dest``).
    """
    blocked = blocked_for(exercise)
    target = dest / "rnnbook"
    shutil.copytree(PACKAGE_DIR, target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "grading"))
    for mod_name, names in BLOCKED.items():
        if mod_name.startswith("rnnbook.grading"):
            continue
        rel = mod_name.split(".")[1:]
        path = target.joinpath(*rel[:-1], rel[-1] + ".py")
        if names == "*" and set(blocked[mod_name]) != set(sum(_module_members(mod_name), [])):
            # Part of the module stays: cut the rest out of the text.
            path.write_text(stub_source(
                path.read_text(), blocked[mod_name],
                lambda n: f"{mod_name}.{n} is not available while a notebook is graded: "
                          f"the exercise is to write it yourself"))
        elif names == "*":
            funcs, classes = _module_members(mod_name)
            body = _STUB_HEADER + "\n".join(_stub_lines(mod_name, funcs, classes)) + f'''


def __getattr__(name):
    raise AttributeError(f"{mod_name}.{{name}} is not available while a notebook is graded")
'''
            path.write_text(body)
        else:
            # Cut only the graded names out of the module's text (so that
            # their code cannot be read back from the file, as the
            # bidirectional layer could from sequence.py): the rest of the
            # module keeps working.
            path.write_text(stub_source(
                path.read_text(), blocked[mod_name],
                lambda n: f"{mod_name}.{n} is not available while a notebook is graded: "
                          f"the exercise is to write it yourself"))
    grading = target / "grading"
    grading.mkdir()
    (grading / "__init__.py").write_text(_GRADING_STUB)
    for path in target.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    target.chmod(0o555)
    return dest


# --------------------------------------------------------------------------
# Watching the library files
# --------------------------------------------------------------------------

def _site_dirs() -> list[Path]:
    dirs = set()
    for key in ("purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.add(Path(p))
    try:
        dirs.update(Path(p) for p in site.getsitepackages())
    except AttributeError:
        pass
    return sorted(d for d in dirs if d.is_dir())


class FileGuard:
    """Remember files' contents; find and undo changes.

    Symbolic links are remembered as links and never followed, so a link
    planted in a watched folder cannot redirect a restore elsewhere.
    Files in ``__pycache__`` are caches that other Python processes may
    rewrite at any time: :meth:`tampered` leaves them out, but
    :meth:`restore` puts them back like the rest (a stale cache is simply
    recompiled), so bytecode planted there cannot survive a submission.

    Args:
        dirs: directories whose files (recursively) are watched.
        top_level_dirs: directories in which only the files Python runs at
            start-up (``*.pth``, ``sitecustomize.py``, ``usercustomize.py``)
            are watched (default: the ``site-packages`` folders).
    """

    STARTUP = ("*.pth", "sitecustomize.py", "usercustomize.py")

    def __init__(self, dirs=(), top_level_dirs=None):
        self.dirs = [Path(os.path.realpath(d)) for d in dirs]
        self.top_level_dirs = [Path(os.path.realpath(d)) for d in
                               (_site_dirs() if top_level_dirs is None else top_level_dirs)]
        self.files = {p: data for p, data in self._scan().items() if data is not None}
        self._digest = {p: hashlib.sha256(b).hexdigest() for p, b in self.files.items()}

    def _roots(self):
        return [(d, True) for d in self.dirs] + [(d, False) for d in self.top_level_dirs]

    def _entries(self) -> set[Path]:
        paths = set()
        for d, recursive in self._roots():
            if os.path.islink(d) or not os.path.isdir(d):
                paths.add(d)
                continue
            for root, dirs, files in os.walk(d):
                names = files + [x for x in dirs if os.path.islink(os.path.join(root, x))]
                if not recursive:
                    names = [n for n in names if any(fnmatch.fnmatch(n, pat)
                                                     for pat in self.STARTUP)]
                paths.update(Path(root) / n for n in names)
                if not recursive:
                    break
        return paths

    @staticmethod
    def _read(p: Path) -> bytes | None:
        try:
            if os.path.islink(p):
                return b"symlink:" + os.readlink(p).encode()
            if p.is_file():
                return p.read_bytes()
            return b"directory:" if p.is_dir() else None
        except OSError:
            return None

    def _scan(self) -> dict[Path, bytes | None]:
        return {p: self._read(p) for p in self._entries()}

    def changed(self) -> list[Path]:
        """Paths that were modified, added or removed since the snapshot."""
        now = {p: (None if b is None else hashlib.sha256(b).hexdigest())
               for p, b in self._scan().items()}
        return sorted(p for p in set(self._digest) | set(now)
                      if self._digest.get(p) != now.get(p))

    @staticmethod
    def tampered(paths) -> list[Path]:
        """The changed paths that are not bytecode caches."""
        return [p for p in paths if "__pycache__" not in p.parts]

    def _root_of(self, p: Path) -> Path | None:
        for d, _ in self._roots():
            if p == d or d in p.parents:
                return d
        return None

    def _real_dirs_down_to(self, root: Path, target: Path) -> None:
        """Make every directory from ``root`` to ``target`` a real directory."""
        parts = [root] + [root / Path(*target.relative_to(root).parts[:i + 1])
                          for i in range(len(target.relative_to(root).parts))]
        for d in parts:
            if os.path.islink(d) or (os.path.exists(d) and not os.path.isdir(d)):
                os.unlink(d)
            if not os.path.exists(d):
                os.mkdir(d)

    def restore(self, paths) -> None:
        """Put back the remembered contents of ``paths``; delete what is new."""
        for p in paths:
            root = self._root_of(p)
            if root is None:
                continue
            try:
                if os.path.islink(p) or os.path.isfile(p):
                    os.unlink(p)
                elif os.path.isdir(p):
                    shutil.rmtree(p)
                data = self.files.get(p)
                if data is None:
                    continue
                self._real_dirs_down_to(root, p.parent)
                if data.startswith(b"symlink:"):
                    os.symlink(data[len(b"symlink:"):].decode(), p)
                elif data.startswith(b"directory:"):
                    os.mkdir(p)
                else:
                    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(data)
            except OSError:
                pass


# --------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------

_SYSTEM_DIRS = ("/", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
                "/dev", "/proc", "/sys", "/run", "/var", "/opt", "/boot")


def _is_ancestor(a: str, b: str) -> bool:
    """True when path ``a`` is ``b`` or a directory above it."""
    a = a.rstrip("/") or "/"
    return b == a or b.startswith(a.rstrip("/") + "/")


def _pth_dirs() -> list[str]:
    """Directories named in the .pth files of site-packages (editable installs)."""
    out = []
    for d in _site_dirs():
        for pth in d.glob("*.pth"):
            try:
                lines = pth.read_text().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import")) and os.path.isabs(line) \
                        and os.path.isdir(line):
                    out.append(os.path.realpath(line))
    return out


_JOIN_SCRIPT = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 3; shift; done; '
                'shift; exec "$@"')


class Sandbox:
    """Builds the command that starts one kernel, confined when possible.

    Args:
        tmp: the grader's private scratch directory.
        stub_path: directory holding the stub copy of ``rnnbook``.
        launcher: path of the launcher script (a copy in ``tmp``).
        mode: "auto" (use namespaces when they work), "on" (require them),
            or "off".
        hide: directories the kernel must not see (in the sandbox).
        memory_mb: address-space limit of a kernel, in MiB.
    """

    def __init__(self, tmp: Path, stub_path: Path, launcher: Path, mode: str = "auto",
                 hide=(), memory_mb: int = 4096):
        self.tmp = Path(tmp)
        self.stub_path = Path(stub_path)
        self.launcher = Path(launcher)
        self.memory_mb = memory_mb
        self.hide = self._hidden_dirs(hide)
        self.unshare = shutil.which("unshare")
        self.setpriv = shutil.which("setpriv")
        self.reason = ""
        if mode == "off":
            self.enabled = False
            self.reason = "turned off"
        else:
            self.enabled, self.reason = self._probe()
            if mode == "on" and not self.enabled:
                raise RuntimeError(f"the sandbox is not available: {self.reason}")

    def with_stub(self, stub_path: Path) -> "Sandbox":
        """The same sandbox for kernels that get another stub package.

        An exercise that gives blocked library code as working code (see
        ``selfcheck.GIVEN``) has a stub package of its
        own; everything else about its kernels' confinement is the same.
        """
        other = copy.copy(self)
        other.stub_path = Path(stub_path)
        return other

    def _hidden_dirs(self, extra) -> list[str]:
        # The grader's scratch space (other kernels, the stub sources), the
        # project (solutions, library source, repository history), temporary
        # and home directories (other people's files, keys), /run (sockets
        # of system services), and what the caller adds: the submissions'
        # folders and anything given with --hide.
        hide = {str(self.tmp.resolve()), tempfile.gettempdir(), "/tmp", "/var/tmp", "/run",
                "/home", "/root", os.path.expanduser("~")}
        root = project_root()
        if root is not None:
            hide.add(str(root))
        hide.update(extra)
        keep = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
        out = []
        for h in sorted({os.path.realpath(h) for h in hide}):
            if not os.path.isdir(h) or h == "/":
                continue
            if any(_is_ancestor(h, s) for s in _SYSTEM_DIRS if s not in ("/", "/run")):
                continue  # never hide the system itself
            if h in keep:
                continue  # the Python environment itself is needed
            out.append(h)
        return out

    def _exposures(self, workdir: Path) -> list[list]:
        """(source, target, writable) bind mounts put back over the hidden directories."""
        out = []
        needed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                 os.path.dirname(os.path.realpath(sys.executable)))}
        needed.update(d for d in _pth_dirs() if d != str(PACKAGE_DIR.parent))
        for path in sorted(needed):
            if any(_is_ancestor(h, path) for h in self.hide) and \
                    not any(_is_ancestor(e[0], path) for e in out):
                out.append([path, path, False])
        # The stub copy goes where the real package is, also when that is not hidden.
        out.append([str(self.stub_path / "rnnbook"), str(PACKAGE_DIR), False])
        out.append([str(self.stub_path), str(self.stub_path), False])
        out.append([str(workdir), str(workdir), True])
        return out

    def _rlimits(self) -> dict:
        return {"RLIMIT_AS": self.memory_mb * 2**20, "RLIMIT_FSIZE": 256 * 2**20,
                "RLIMIT_CORE": 0}

    def prefix(self, sandboxed: bool, join=()) -> list[str]:
        cmd = []
        if self.setpriv:
            # The kernel (or unshare, which then takes the kernel with it)
            # dies when the grader's thread that started it dies.
            cmd += [self.setpriv, "--pdeathsig", "KILL"]
        if join:
            # The first process enters the submission's cgroups before it
            # starts anything, so every later process is born inside them.
            cmd += ["/bin/sh", "-c", _JOIN_SCRIPT, "sh", *join, "--"]
        if sandboxed:
            cmd += [self.unshare, "--user", "--map-root-user", "--pid", "--fork", "--net",
                    "--mount", "--kill-child"]
        return cmd

    def command(self, workdir: Path, root: Path, argv: list[str], env: dict,
                config_path: Path, probe: bool = False, sandboxed: bool | None = None,
                rlimits: dict | None = None, join=(), uid: int | None = None) -> list[str]:
        """Write the launcher configuration and return the command to run.

        Args:
            rlimits: per-process limits (default: the address-space and
                file-size limits alone).
            join: ``cgroup.procs`` files the first process enters.
            uid: without the sandbox, the unprivileged user id the kernel
                runs as (None: the grader's own).
        """
        sandboxed = self.enabled if sandboxed is None else sandboxed
        cfg = {
            "sandbox": sandboxed,
            "probe": probe,
            "root": str(root),
            "workdir": str(workdir),
            "hide": self.hide,
            "expose": self._exposures(workdir),
            "rlimits": self._rlimits() if rlimits is None else rlimits,
            # Outside a pid namespace the launcher stays above the kernel
            # and collects whatever it leaves behind.
            "supervise": not sandboxed and not probe,
            "uid": None if sandboxed else uid,
            "argv": argv,
            "env": env,
        }
        config_path.write_text(json.dumps(cfg))
        return self.prefix(sandboxed, join) + [sys.executable, "-I", str(self.launcher),
                                               str(config_path)]

    def _probe(self) -> tuple[bool, str]:
        """Start a throw-away process the way kernels will be; check what it sees."""
        if self.unshare is None:
            return False, "unshare is not installed"
        base = self.tmp / "probe"
        work, root = base / "work", base / "root"
        work.mkdir(parents=True)
        root.mkdir()
        script = (
            "import os, sys, rnnbook.nn.rnn as r\n"
            "assert os.getpid() == 1, 'no pid namespace'\n"
            f"assert not os.path.exists({str(self.tmp / 'probe' / 'root')!r}), 'tmp visible'\n"
            "try:\n    r.rnn_forward()\nexcept RuntimeError:\n    pass\n"
            "else:\n    raise SystemExit('reference visible')\n"
            f"src = open({str(PACKAGE_DIR / 'nn' / 'rnn.py')!r}).read()\n"
            "assert 'tanh(x @ Wx' not in src, 'source visible'\n"
            "try:\n    open('/etc/rnnbook-probe', 'w')\nexcept OSError:\n    pass\n"
            "else:\n    raise SystemExit('root file system writable')\n"
            # The covers are locked: root in the namespace cannot remove them.
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"for path in {self.hide!r}:\n"
            "    if libc.umount2(path.encode(), 2) == 0:\n"
            "        raise SystemExit('a cover could be unmounted: ' + path)\n"
            "print('ready')\n"
        )
        env = self.kernel_env(work)
        cmd = self.command(work, root, [sys.executable, "-c", script], env,
                           base / "launch.json", probe=True, sandboxed=True)
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=work)
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"could not start a confined process ({exc})"
        finally:
            shutil.rmtree(base, ignore_errors=True)
        if res.returncode != 0 or "ready" not in res.stdout:
            lines = (res.stderr or res.stdout).strip().splitlines()
            why = lines[-1] if lines else f"exit status {res.returncode}"
            return False, f"a confined process failed ({why[:200]})"
        return True, "user, pid, mount and network namespaces"

    def kernel_env(self, workdir: Path, token: str = "") -> dict:
        """The complete environment of a kernel: nothing of the grader's leaks in."""
        env = {
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.stub_path),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "IPYTHONDIR": str(workdir / ".ipython"),
            "JUPYTER_CONFIG_DIR": str(workdir / ".jupyter"),
            "JUPYTER_DATA_DIR": str(workdir / ".jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(workdir / ".jupyter-runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(workdir / ".matplotlib"),
            "TMPDIR": str(workdir),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        if token:
            env["RNNBOOK_GRADING_TOKEN"] = token
        return env
