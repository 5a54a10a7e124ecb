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
           "merge_reports"]

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
            if not isinstance(r, dict) or set(r) != _REPORT_KEYS:
                raise ValueError(f"part {n} holds an entry that is not a submission report")
            sub = r["submission"]
            if sub in seen:
                raise ValueError(f"{sub} is in part {seen[sub]} and in part {n}")
            seen[sub] = n
            out.append(r)
    return sorted(out, key=lambda r: r["submission"])


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
    ``max_score``, ``error``.
    """
    columns = question_columns(reports)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "exercise", *columns, "total", "max_score", "error"])
    for r in reports:
        scores = {q["name"]: q["score"] for q in r["questions"]}
        writer.writerow([r["submission"], r["exercise"] or "",
                         *[scores.get(c, "") for c in columns],
                         r["score"], r["max_score"], r["error"] or ""])
    return buf.getvalue()


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
