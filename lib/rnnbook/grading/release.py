"""``rnnbook-release DIR``: the copy of the book handed out to students.

The repository holds the solutions and the library that solves every
exercise; a course hands out this copy instead::

    rnnbook-release build/student-copy [--solved 01_rnn_forward ...]

It writes to ``DIR``:

* ``exercises/`` (generated from the solutions, as ``make exercises`` does)
  and the chapters in ``book/`` with the site's configuration;
* ``lib/rnnbook``, the library in which every function the grader treats
  as graded (the table :data:`rnnbook.grading.selfcheck.BLOCKED`, wherever
  the modules live) is cut out of the source and replaced by a stand-in
  raising ``NotImplementedError`` that names the exercise where the
  student writes it; the private helpers of those modules go the same
  way, since they hold parts of the answers. The reference module of the
  grader and the slips module are cut out as well;
* ``lib/rnnbook/grading/stored_cases.npz``: a few sets of inputs with the
  reference outputs (and the outputs of the common slips), from which the
  self-check and ``rnnbook-grade`` work in the copy, since the reference
  is not there to compute them;
* ``pyproject.toml``, ``constraints.txt``, ``environment.yml``, the
  ``Makefile`` and a README for students.

Nothing else: no ``solutions/``, tests, benchmarks, scripts or history.
``--solved EXERCISE`` keeps the library's own implementation of that
exercise's functions, for a copy handed out after its deadline (exercise
2 uses the forward pass of exercise 1, for instance).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from .questions import EXERCISES, QUESTIONS
from .selfcheck import BLOCKED, module_members, needed_by
from .stubs import stub_source

__all__ = ["release", "main", "released_blocked", "STORED_CASES_NAME"]

#: File name of the stored self-check cases inside ``rnnbook/grading``.
STORED_CASES_NAME = "stored_cases.npz"
#: Sets of stored cases per question; the self-check picks one at random.
STORED_SETS = 4

#: Top-level entries copied into the student copy.
_TOP_FILES = ("pyproject.toml", "constraints.txt", "environment.yml", "Makefile",
              "_config.yml", "_toc.yml", "package.json", "package-lock.json")
#: Modules of rnnbook.grading left out of the copy (they hold reference code).
_LEFT_OUT = ("slips.py",)

_STUDENT_README = """# Recurrent Neural Networks: the student copy

This copy of the book holds the chapters (`book/`), the exercises
(`exercises/`) and the `rnnbook` library, in which the functions you write
in the exercises are left out: calling one raises `NotImplementedError` with
the name of its exercise.

```sh
make lab      # set up .venv, then open JupyterLab at this folder
```

Open `exercises/01_rnn_forward.ipynb` and follow it. The self-check cells
score each function as the grader does; to grade your whole notebook the way
your instructor will, run

```sh
.venv/bin/rnnbook-grade exercises/01_rnn_forward.ipynb
```

The chapters use the library, so a chapter stops at the first function
that is left out of this copy; read it on the book's site, or run it once
your instructor releases the library's version after the deadline.
"""


def _exercise_of(name: str) -> str | None:
    q = QUESTIONS.get(name)
    return q.exercise if q is not None else None


def released_blocked(solved=()) -> dict[str, list[str]]:
    """Module -> function names cut out of the student copy.

    Every function of :data:`~rnnbook.grading.selfcheck.BLOCKED` (``"*"``: every function of the
    module, private helpers included), less the functions graded in a
    ``solved`` exercise and the helpers they use. Classes stay: they are
    the caches and containers the exercises build on.
    """
    solved_names = {q.name for ex in solved for q in EXERCISES[ex]}
    out = {}
    for mod_name, names in BLOCKED.items():
        mod = importlib.import_module(mod_name)
        names = module_members(mod) if names == "*" else list(names)
        keep = needed_by(mod, [n for n in solved_names if hasattr(mod, n)])
        out[mod_name] = [n for n in names if n not in keep and not isinstance(
            getattr(mod, n), type)]
    return out


def _message(mod_name: str, name: str) -> str:
    ex = _exercise_of(name)
    if ex is not None:
        return (f"{name} is yours to write: it is the exercise exercises/{ex}.ipynb "
                f"(this copy of the library leaves it out)")
    return (f"{mod_name}.{name} is part of the library's own solution of the exercises "
            f"and is left out of this copy")


def _module_path(lib: Path, mod_name: str) -> Path:
    mod = importlib.import_module(mod_name)
    rel = Path(mod.__file__).resolve().relative_to(Path(importlib.import_module(
        "rnnbook").__file__).resolve().parent)
    return lib / "rnnbook" / rel


def _store_cases(path: Path, seed: int) -> None:
    """Write STORED_SETS sets of cases per question with their reference and slip outputs."""
    from .questions import expected_params
    from .slips import slips_for

    rng = np.random.default_rng(seed)
    arrays, manifest = {}, {"sets": STORED_SETS, "questions": {}, "signatures": {}}

    def put(key, value):
        if isinstance(value, float):
            return {"f": value}
        arrays[key] = np.asarray(value)
        return {"a": key}

    for name, q in QUESTIONS.items():
        manifest["signatures"][name] = expected_params(q)
        sets = []
        for s in range(STORED_SETS):
            cases = []
            for c, case in enumerate(q.make_cases(rng)):
                base = f"{name}/{s}/{c}"
                slips = []
                for j, (description, fn) in enumerate(slips_for(name)):
                    try:
                        outs = fn(case)
                    except Exception:  # a slip that does not apply to these shapes
                        continue
                    slips.append({"description": description,
                                  "outputs": [put(f"{base}/s{j}_{k}", o)
                                              for k, o in enumerate(outs)]})
                cases.append({
                    "label": case.label, "dtype": np.dtype(case.dtype).name,
                    "keys": list(case.keys),
                    "args": [put(f"{base}/a{i}", v) for i, v in enumerate(case.args)],
                    "upstream": [put(f"{base}/u{i}", v) for i, v in enumerate(case.upstream)],
                    "expected": [put(f"{base}/e{k}", o)
                                 for k, o in enumerate(q.reference(case))],
                    "slips": slips,
                })
            sets.append(cases)
        manifest["questions"][name] = sets
    with open(path, "wb") as fh:
        np.savez_compressed(fh, manifest=np.array(json.dumps(manifest)), **arrays)


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", "_build"))


def release(root, dest, solved=(), seed: int | None = None) -> list[str]:
    """Write the student copy of the project at ``root`` into ``dest``.

    Args:
        root: the project (holding ``solutions/``, ``book/``, ``lib/``).
        dest: a folder that does not exist yet, or an empty one.
        solved: exercise ids whose functions keep the library's implementation.
        seed: seed of the stored self-check inputs; fresh entropy if None.

    Returns:
        left_out: the functions cut out of the copy, as dotted names.
    """
    from .generate import generate

    root, dest = Path(root), Path(dest)
    for ex in solved:
        if ex not in EXERCISES:
            raise ValueError(f"unknown exercise {ex!r}; known: {', '.join(EXERCISES)}")
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty; give a new folder")
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents and \
            dest.resolve().parts[len(root.resolve().parts)] in ("lib", "book", "exercises"):
        raise ValueError(f"{dest} is inside the project's sources; give another folder")
    dest.mkdir(parents=True, exist_ok=True)
    for name in _TOP_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, dest / name)
    (dest / "README.md").write_text(_STUDENT_README)
    _copy_tree(root / "book", dest / "book")
    generate(root / "solutions", dest / "exercises")
    if (root / "exercises" / "README.md").is_file():
        shutil.copy2(root / "exercises" / "README.md", dest / "exercises" / "README.md")
    lib = dest / "lib"
    package = Path(importlib.import_module("rnnbook").__file__).resolve().parent
    _copy_tree(package, lib / "rnnbook")
    left_out = []
    for mod_name, names in released_blocked(solved).items():
        path = _module_path(lib, mod_name)
        path.write_text(stub_source(path.read_text(), names,
                                    lambda n, m=mod_name: _message(m, n),
                                    error="NotImplementedError", keep_classes=True))
        left_out += [f"{mod_name}.{n}" for n in names]
    for name in _LEFT_OUT:
        (lib / "rnnbook" / "grading" / name).unlink(missing_ok=True)
    _store_cases(lib / "rnnbook" / "grading" / STORED_CASES_NAME,
                 seed if seed is not None else int.from_bytes(np.random.bytes(8), "little"))
    return left_out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="rnnbook-release",
        description="Write the student copy of the book: chapters, exercises and a library "
                    "with the graded functions left out; no solutions.")
    parser.add_argument("dest", metavar="DIR", type=Path,
                        help="folder to write (must not exist yet, or be empty)")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the project to release (default: the current folder)")
    parser.add_argument("--solved", action="append", default=[], metavar="EXERCISE",
                        help="keep the library's implementation of this exercise's functions, "
                             "e.g. after its deadline (repeatable)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the stored self-check inputs (default: fresh)")
    args = parser.parse_args(argv)
    if not (args.root / "solutions").is_dir() or not (args.root / "book").is_dir():
        parser.error(f"{args.root} is not the project's root (no solutions/ or book/)")
    try:
        left_out = release(args.root, args.dest, args.solved, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote the student copy to {args.dest}: {len(left_out)} library functions left out"
          + (f", {', '.join(args.solved)} released as solved" if args.solved else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
