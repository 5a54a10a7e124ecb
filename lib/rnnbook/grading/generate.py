"""Generate the student notebooks in exercises/ from the solutions in solutions/.

``rnnbook-exercises`` (also ``make exercises``) rewrites every
``exercises/NN_slug.ipynb`` from ``solutions/NN_slug.ipynb``:

* in code cells, the lines from ``### BEGIN SOLUTION`` to
  ``### END SOLUTION`` become ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()`` at the marker's indentation, so the
  function's signature and docstring above the marker stay;
* in markdown cells, a solution block becomes ``YOUR ANSWER HERE``;
* the lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS``
  are removed, and a cell left empty is dropped;
* outputs and execution counts are cleared; metadata (including the
  exercise id) and cell ids are kept, so the result is reproducible.

``rnnbook-exercises --check`` writes nothing and exits with status 1 when
a file in exercises/ differs from what would be generated. Before writing,
each solution is validated: balanced markers, a known exercise id that
matches the file name, a solution block in the cell of every graded
function, and no definition of a function graded in another exercise
(such code comes from the library).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from .questions import EXERCISES

__all__ = ["exercise_from_solution", "render", "generate", "main", "MarkerError"]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


class MarkerError(ValueError):
    """A solution notebook whose markers or metadata are wrong."""


def _blocks(lines, begin, end, where):
    """Yield (start, stop) line indices of marker blocks; check they are balanced."""
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s == begin:
            if start is not None:
                raise MarkerError(f"{where}: '{begin}' inside another block (line {i + 1})")
            start = i
        elif s == end:
            if start is None:
                raise MarkerError(f"{where}: '{end}' without '{begin}' (line {i + 1})")
            yield start, i
            start = None
    if start is not None:
        raise MarkerError(f"{where}: '{begin}' is never closed")


def _replace_solutions(source: str, cell_type: str, where: str) -> str:
    lines = source.split("\n")
    out, pos = [], 0
    for start, stop in _blocks(lines, BEGIN_SOLUTION, END_SOLUTION, where):
        out.extend(lines[pos:start])
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        if cell_type == "code":
            out += [indent + "# YOUR CODE HERE", indent + "raise NotImplementedError()"]
        else:
            out.append(indent + "YOUR ANSWER HERE")
        pos = stop + 1
    out.extend(lines[pos:])
    return "\n".join(out)


def _remove_hidden(source: str, where: str) -> str:
    lines = source.split("\n")
    out, pos = [], 0
    for start, stop in _blocks(lines, BEGIN_HIDDEN, END_HIDDEN, where):
        out.extend(lines[pos:start])
        pos = stop + 1
    out.extend(lines[pos:])
    return "\n".join(out).strip("\n")


def exercise_id(nb) -> str | None:
    info = nb.metadata.get("rnnbook", {})
    return info.get("exercise") if isinstance(info, dict) else None


def validate_solution(nb, name: str) -> str:
    """Check a solution notebook; return its exercise id or raise MarkerError."""
    ex = exercise_id(nb)
    if ex is None:
        raise MarkerError(f"{name}: no metadata.rnnbook.exercise")
    if ex not in EXERCISES:
        raise MarkerError(f"{name}: exercise id {ex!r} is not registered in "
                          f"rnnbook.grading.questions.EXERCISES")
    if Path(name).stem != ex:
        raise MarkerError(f"{name}: the file name should be {ex}.ipynb, as its exercise id")
    sources = {}
    for i, cell in enumerate(nb.cells):
        where = f"{name}, cell {i + 1}"
        lines = cell.source.split("\n")
        has_solution = bool(list(_blocks(lines, BEGIN_SOLUTION, END_SOLUTION, where)))
        list(_blocks(lines, BEGIN_HIDDEN, END_HIDDEN, where))
        if cell.cell_type == "code" and has_solution:
            for m in re.finditer(r"^def\s+(\w+)\s*\(", cell.source, re.M):
                sources[m.group(1)] = True
    # Shared code comes through the library: a notebook that writes out a
    # function graded in another exercise hands that exercise's answer out.
    others = {q.name: other for other, qs in EXERCISES.items() if other != ex for q in qs}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for m in re.finditer(r"^\s*def\s+(\w+)\s*\(", cell.source, re.M):
            if m.group(1) in others:
                raise MarkerError(
                    f"{name}, cell {i + 1}: defines {m.group(1)}, which is graded in "
                    f"{others[m.group(1)]}; import it from the library instead, so that "
                    f"this exercise does not hand out another one's answer")
    for q in EXERCISES[ex]:
        if q.name not in sources:
            raise MarkerError(f"{name}: graded function {q.name} is not defined in a cell "
                              f"with a solution block")
    return ex


def exercise_from_solution(nb, name: str = "notebook"):
    """Return the student version of a solution notebook (a new object)."""
    validate_solution(nb, name)
    out = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(out.cells):
        where = f"{name}, cell {i + 1}"
        source = _replace_solutions(cell.source, cell.cell_type, where)
        if cell.cell_type == "code":
            had_hidden = BEGIN_HIDDEN in source
            source = _remove_hidden(source, where)
            if had_hidden and not source.strip():
                continue
            cell.outputs = []
            cell.execution_count = None
        cell.source = source
        cells.append(cell)
    out.cells = cells
    return out


def render(nb) -> str:
    """The exact text written for a notebook (as ``nbformat.write`` would write it)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def generate(solutions: Path, exercises: Path, check: bool = False) -> list[str]:
    """Regenerate (or with ``check`` only compare) exercises from solutions.

    Returns the list of problems (files that differ, are missing or stale)
    in check mode, or of files written otherwise.
    """
    solutions, exercises = Path(solutions), Path(exercises)
    sources = sorted(solutions.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise MarkerError(f"no solution notebooks (NN_slug.ipynb) in {solutions}")
    report = []
    wanted = set()
    for path in sources:
        nb = nbformat.read(path, as_version=4)
        text = render(exercise_from_solution(nb, path.name))
        target = exercises / path.name
        wanted.add(target.name)
        current = target.read_text() if target.exists() else None
        if current == text:
            continue
        if check:
            report.append(f"{target} is {'missing' if current is None else 'out of date'}")
        else:
            exercises.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            report.append(str(target))
    for stale in sorted(exercises.glob("[0-9][0-9]_*.ipynb")):
        if stale.name not in wanted:
            if check:
                report.append(f"{stale} has no solution in {solutions}")
            else:
                stale.unlink()
                report.append(f"removed {stale}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="rnnbook-exercises",
        description="Generate the student notebooks in exercises/ from solutions/.")
    parser.add_argument("--solutions", default="solutions", type=Path,
                        help="folder of solution notebooks (default: solutions)")
    parser.add_argument("--exercises", default="exercises", type=Path,
                        help="folder to write the exercises to (default: exercises)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit with status 1 if exercises/ is out of date")
    args = parser.parse_args(argv)
    if not args.solutions.is_dir():
        parser.error(f"no such folder: {args.solutions} (run from the project's root "
                     f"or pass --solutions)")
    try:
        report = generate(args.solutions, args.exercises, check=args.check)
    except MarkerError as exc:
        print(f"rnnbook-exercises: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for line in report:
            print(line)
        if report:
            print("Run 'make exercises' (or rnnbook-exercises) to regenerate them.")
            return 1
        print(f"{args.exercises} is up to date")
        return 0
    for line in report:
        print(f"wrote {line}" if not line.startswith("removed") else line)
    if not report:
        print(f"{args.exercises} was already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
