"""Write grading reports: JSON, a CSV gradebook and a table for the terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from .questions import EXERCISES

__all__ = ["to_json", "to_csv", "to_table", "write_atomic", "question_columns",
           "write_gradebooks", "merge_reports"]

_REPORT_KEYS = {"submission", "exercise", "score", "max_score", "error", "questions"}


def to_json(reports: list[dict]) -> str:
    """The JSON report: a list with one object per submission."""
    return json.dumps(reports, indent=2) + "\n"


def merge_reports(parts: list) -> list[dict]:
    """Join the JSON reports of the shards of one run into the one-machine report.

    Each part is a list of report objects (the ``--json`` file of one
    shard). The result is sorted by submission path, the order a run over
    the whole folder on one machine produces, so that its gradebook is the
    same file.

    Raises:
        ValueError: a part is not a report list, or a submission appears
            in more than one part (a shard was given twice, or two runs
            overlapped).
    """
    seen: dict[str, int] = {}
    out = []
    for n, part in enumerate(parts, 1):
        if not isinstance(part, list):
            raise ValueError(f"part {n} is not a JSON report (a list of submissions)")
        for r in part:
            if not isinstance(r, dict) or not _REPORT_KEYS <= set(r):
                raise ValueError(f"part {n} holds an entry that is not a submission report")
            sub = r["submission"]
            if sub in seen:
                raise ValueError(f"{sub} is in part {seen[sub]} and in part {n}")
            seen[sub] = n
            # The student is matched again from the roster given to the merge.
            out.append({k: v for k, v in r.items() if k != "student"})
    return sorted(out, key=lambda r: Path(r["submission"]).parts)


def question_columns(reports: list[dict]) -> list[str]:
    """Question names in the order of the registry, for the exercises present."""
    present = {r["exercise"] for r in reports}
    names = []
    for ex, questions in EXERCISES.items():
        if ex in present:
            names += [q.name for q in questions if q.name not in names]
    return names


def to_csv(reports: list[dict]) -> str:
    """The gradebook: one row per submission, a column per question, then the totals.

    Columns: ``submission``, ``exercise``, one column per question (empty
    when the question does not belong to that row's exercise), ``total``,
    ``max_score``, ``error``. A file that could not be graded keeps the
    maximum score of its exercise when the exercise is known. This one
    table mixes exercises; ``rnnbook-grade --csv`` writes the per-exercise
    gradebooks of :func:`write_gradebooks` instead.
    """
    columns = question_columns(reports)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "exercise", *columns, "total", "max_score", "error"])
    for r in reports:
        scores = {q["name"]: q["score"] for q in r["questions"]}
        writer.writerow([r["submission"], r["exercise"] or "",
                         *[scores.get(c, "") for c in columns],
                         r["score"], r["max_score"] or _exercise_max(r["exercise"]),
                         r["error"] or ""])
    return buf.getvalue()


def _exercise_max(exercise) -> int:
    return sum(q.max_score for q in EXERCISES.get(exercise, ()))


def write_gradebooks(books: dict, csv_path) -> list[Path]:
    """Write one gradebook per exercise next to ``csv_path``; return the files.

    For each exercise two files: the import file of
    :func:`rnnbook.grading.course.lms_csv` (``grades.csv``, or
    ``grades.<exercise>.csv`` when several exercises were graded) and the
    detail of :func:`rnnbook.grading.course.details_csv`
    (``grades.details.csv`` or ``grades.<exercise>.details.csv``).
    """
    from .course import details_csv, lms_csv, per_exercise_path

    several = len(books) > 1
    written = []
    for ex, rows in books.items():
        main = per_exercise_path(csv_path, ex, several)
        detail = per_exercise_path(csv_path, ex, several, ".details")
        write_atomic(main, lms_csv(rows, ex))
        write_atomic(detail, details_csv(rows, ex))
        written += [main, detail]
    return written


def to_table(reports: list[dict], feedback: bool = True) -> str:
    """A plain-text table of the results, with the feedback of lost points below."""
    if not reports:
        return "no submissions\n"
    name_w = min(max(len(r["submission"]) for r in reports), 60)
    ex_w = max(len("exercise"), *(len(r["exercise"] or "-") for r in reports))
    lines = [f"{'submission':<{name_w}}  {'exercise':<{ex_w}}  {'score':>9}  note",
             "-" * (name_w + ex_w + 20)]
    for r in reports:
        sub = r["submission"]
        if len(sub) > name_w:
            sub = "..." + sub[-(name_w - 3):]
        score = f"{r['score']:g}/{r['max_score']:g}"
        note = r["error"] or ("" if r["score"] == r["max_score"] else "see below")
        lines.append(f"{sub:<{name_w}}  {r['exercise'] or '-':<{ex_w}}  {score:>9}  {note}")
    if feedback:
        details = []
        for r in reports:
            lost = [q for q in r["questions"] if q["score"] < q["max_score"]]
            if r["error"] is None and lost:
                details.append(f"\n{r['submission']}:")
                for q in lost:
                    details.append(f"  {q['name']} {q['score']:g}/{q['max_score']:g}: "
                                   f"{q['feedback']}")
        lines += details
        notes = [(r["submission"], r.get("notes")) for r in reports if r.get("notes")]
        if notes:
            lines.append("\nCells that raised, timed out or did not run:")
            for sub, ns in notes:
                lines.append(f"  {sub}: " + "; ".join(ns))
    return "\n".join(lines) + "\n"


def write_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Replacing the path (rather than writing into it) means a symlink put
    there is replaced, not followed.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
