"""Running a course: the roster, deadlines and the late policy, the per-exercise gradebook.

``rnnbook-grade`` grades notebooks; this module turns its reports into
what a course keeps:

* :func:`read_roster` reads the class list, a CSV file with the columns

  ``student_id`` (required)
      the id the learning-management system knows the student by (it goes
      into the gradebook's ``SIS User ID`` column);
  ``name`` (required)
      the student's name, as shown in the gradebook;
  ``submission`` (optional)
      the submission's file or folder name, or a pattern such as
      ``*smith*`` (matched against every part of a path below the graded
      folder); when empty, any path with the student id as one of its
      parts (or in a part's words, as in ``smith_12345_hw1.ipynb``) is
      the student's;
  ``submitted_at`` (optional)
      when it was handed in, ISO 8601 (``2026-03-01T23:59``, UTC unless
      an offset is given); when empty, the time is unknown and no late
      penalty applies (a downloaded file's modification time is the
      download's, not the submission's);
  ``login``, ``section``, ``lms_id`` (optional)
      copied into the gradebook's ``SIS Login ID``, ``Section`` and ``ID``
      columns.

* :class:`LatePolicy` is the documented late policy: a submission handed
  in after the deadline loses ``penalty`` percent of its points for every
  started day (24 hours) late, and one more than ``cutoff`` days late
  scores 0. The gradebook keeps the points before and after.

* :func:`gradebooks` makes one gradebook per exercise with one row per
  student of the roster (without a roster, one per submission). A
  student without a submission appears with the reason; a submission
  that could not be graded keeps the exercise's maximum score, so
  percentages stay right. :func:`lms_csv` writes the file a Canvas or
  Moodle gradebook imports, :func:`details_csv` the per-question detail.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .questions import EXERCISES

__all__ = ["Student", "read_roster", "parse_time", "LatePolicy", "Row", "gradebooks",
           "lms_csv", "details_csv", "per_exercise_path", "RosterError"]


class RosterError(ValueError):
    """A roster file that cannot be used; the message says why."""


@dataclass
class Student:
    """One line of the roster."""

    student_id: str
    name: str
    submission: str = ""
    submitted_at: datetime | None = None
    login: str = ""
    section: str = ""
    lms_id: str = ""


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-03-01T23:59``, ``2026-03-01 23:59+01:00``); UTC if no offset."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time like 2026-03-01T23:59 (ISO 8601)") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def read_roster(path) -> list[Student]:
    """Read the roster CSV (see the module docstring for its columns)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RosterError(f"cannot read the roster {path}: {exc.strerror or exc}") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise RosterError(f"the roster {path} has no students")
    columns = {c.strip().lower() for c in rows[0] if c}
    missing = {"student_id", "name"} - columns
    if missing:
        raise RosterError(f"the roster {path} needs the columns student_id and name "
                          f"(missing: {', '.join(sorted(missing))})")
    students, seen = [], set()
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        sid = row.get("student_id", "")
        if not sid:
            raise RosterError(f"{path}, line {line}: empty student_id")
        if sid in seen:
            raise RosterError(f"{path}, line {line}: student_id {sid} appears twice")
        seen.add(sid)
        when = None
        if row.get("submitted_at"):
            try:
                when = parse_time(row["submitted_at"])
            except ValueError as exc:
                raise RosterError(f"{path}, line {line}: submitted_at {exc}") from None
        students.append(Student(sid, row.get("name", ""), row.get("submission", ""), when,
                                row.get("login", ""), row.get("section", ""),
                                row.get("lms_id", "")))
    return students


@dataclass(frozen=True)
class LatePolicy:
    """Points lost for lateness.

    Attributes:
        deadline: the deadline, or None (nothing is late).
        penalty: percent of the points lost per started day late.
        cutoff: days late after which the submission scores 0.
    """

    deadline: datetime | None = None
    penalty: float = 10.0
    cutoff: float = 7.0

    def days_late(self, submitted_at: datetime | None) -> int:
        """Started days (24 h) after the deadline; 0 when on time or unknown."""
        if self.deadline is None or submitted_at is None or submitted_at <= self.deadline:
            return 0
        return math.ceil((submitted_at - self.deadline) / timedelta(days=1))

    def apply(self, score: float, days: int) -> float:
        """The score after the penalty for ``days`` started days late."""
        if days <= 0:
            return score
        if days > self.cutoff:
            return 0.0
        return round(max(0.0, score * (1 - self.penalty / 100 * days)), 4)

    def describe(self) -> str:
        if self.deadline is None:
            return "no deadline"
        return (f"deadline {self.deadline.isoformat()}; {self.penalty:g}% of the points lost "
                f"per started day late; 0 points after {self.cutoff:g} days")


@dataclass
class Row:
    """One line of an exercise's gradebook."""

    exercise: str
    student_id: str
    name: str
    login: str = ""
    section: str = ""
    lms_id: str = ""
    report: dict | None = None
    submitted_at: datetime | None = None
    time_source: str = ""
    days_late: int = 0
    raw: float = 0.0
    points: float = 0.0
    max_score: int = 0
    status: str = ""
    notes: list = field(default_factory=list)
    #: The submission's path below the graded folder.
    file: str = ""

    @property
    def submission(self) -> str:
        return self.report["submission"] if self.report else ""


def _parts(path: str, roots) -> list[str]:
    """The parts of ``path`` below the graded folder it came from."""
    p = os.path.abspath(path)
    for root in roots:
        r = os.path.abspath(root)
        if os.path.isdir(r) and (p + os.sep).startswith(r.rstrip(os.sep) + os.sep):
            return Path(os.path.relpath(p, r)).parts
    return (Path(p).name,)


def _matches(student: Student, path: str, roots) -> bool:
    parts = _parts(path, roots)
    if student.submission:
        pat = student.submission
        rel = "/".join(parts)
        return any(fnmatch.fnmatchcase(x, pat) or x == pat for x in (rel, *parts))
    words = set()
    for part in parts:
        words.add(part)
        words.add(Path(part).stem)
        words.update(re.split(r"[^A-Za-z0-9@.]+", Path(part).stem))
    return student.student_id in words


def _max_score(exercise: str) -> int:
    return sum(q.max_score for q in EXERCISES.get(exercise, ()))


def _exercise_of(report: dict, known: set[str], forced: str | None) -> str:
    if forced:
        return forced
    if report.get("exercise") in EXERCISES:
        return report["exercise"]
    return next(iter(known)) if len(known) == 1 else "unknown"


def _fill(row: Row, report: dict, when: datetime | None, source: str,
          policy: LatePolicy, roots=()) -> None:
    row.report = report
    row.file = "/".join(_parts(report["submission"], roots))
    row.max_score = _max_score(row.exercise) or int(report.get("max_score") or 0)
    row.raw = report["score"] if report["error"] is None else 0
    row.submitted_at, row.time_source = when, source
    row.days_late = policy.days_late(when)
    row.points = policy.apply(row.raw, row.days_late)
    if report["error"] is not None:
        row.status = f"not graded: {report['error']}"
    elif row.days_late > policy.cutoff:
        row.status = f"{row.days_late} days late: 0 points under the late policy"
    elif row.days_late:
        row.status = (f"{row.days_late} day{'s' if row.days_late > 1 else ''} late: "
                      f"{policy.penalty * row.days_late:g}% off {row.raw:g} points")
    else:
        row.status = "graded"
    if when is None and policy.deadline is not None:
        row.notes.append("submission time unknown, so no late penalty: give submitted_at "
                         "in the roster")
    row.notes += list(report.get("notes") or [])


def gradebooks(reports: list[dict], *, roster: list[Student] | None = None,
               roots=(), policy: LatePolicy = LatePolicy(),
               exercise: str | None = None) -> dict[str, list[Row]]:
    """Exercise id -> gradebook rows.

    Args:
        reports: the grader's reports.
        roster: the students; None makes one row per submission.
        roots: the folders that were graded (paths are matched to students
            relative to them).
        policy: deadline and late policy.
        exercise: the exercise every submission belongs to (``--exercise``).

    Returns:
        books: for each exercise met (or given), its rows in roster order.
            With a roster, a student with several submissions for an
            exercise gets the best one and a note naming the others;
            reports that match no student come last, with ``student_id`` "".
    """
    known = {r["exercise"] for r in reports if r.get("exercise") in EXERCISES}
    if exercise:
        known = {exercise}
    by_ex: dict[str, list[dict]] = {}
    for r in reports:
        by_ex.setdefault(_exercise_of(r, known, exercise), []).append(r)
    for ex in known:
        by_ex.setdefault(ex, [])
    books: dict[str, list[Row]] = {}
    for ex, reps in sorted(by_ex.items()):
        if roster is None:
            books[ex] = [_row_of_report(ex, r, policy, roots) for r in reps]
        else:
            books[ex] = _roster_rows(ex, reps, roster, policy, roots)
    return books


def _row_of_report(ex: str, report: dict, policy: LatePolicy, roots) -> Row:
    """The row of a report graded without a roster, named after its folder or file."""
    parts = _parts(report["submission"], roots)
    who = parts[0] if len(parts) > 1 else Path(parts[0]).stem
    row = Row(ex, "", who)
    _fill(row, report, None, "", policy, roots)
    return row


def _roster_rows(ex: str, reports: list[dict], roster: list[Student],
                 policy: LatePolicy, roots) -> list[Row]:
    """One row a student (their best submission), then the reports nobody claims."""
    rows, claimed = [], set()
    for st in roster:
        mine = [r for r in reports if _matches(st, r["submission"], roots)]
        claimed.update(id(r) for r in mine)
        row = Row(ex, st.student_id, st.name, st.login, st.section, st.lms_id,
                  max_score=_max_score(ex))
        if not mine:
            row.status = "no submission"
            rows.append(row)
            continue
        graded = [r for r in mine if r["error"] is None]
        best = max(graded or mine, key=lambda r: r["score"])
        when, source = (st.submitted_at, "roster") if st.submitted_at else (None, "")
        _fill(row, best, when, source, policy, roots)
        for other in mine:
            if other is not best:
                why = other["error"] or f"{other['score']:g}/{other['max_score']:g}"
                row.notes.append(f"also handed in {Path(other['submission']).name} "
                                 f"({why})")
        rows.append(row)
    for r in reports:
        if id(r) not in claimed:
            row = Row(ex, "", "")
            _fill(row, r, None, "", policy, roots)
            row.status = "matches no student of the roster; " + row.status
            rows.append(row)
    return rows


#: Columns of the file an LMS imports, in order; the last is the exercise's points.
LMS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def lms_csv(rows: list[Row], exercise: str) -> str:
    """The gradebook a Canvas or Moodle course imports: identity columns and the points.

    Columns ``Student, ID, SIS User ID, SIS Login ID, Section`` (the
    layout of a Canvas gradebook export) and one column named after the
    exercise with the points after the late policy. Rows that match no
    student are left out (they are in the details file).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*LMS_COLUMNS, exercise])
    for row in rows:
        if not row.student_id and not row.name:
            continue  # a file that matches no student of the roster
        w.writerow([row.name, row.lms_id, row.student_id, row.login, row.section,
                    _num(row.points)])
    return buf.getvalue()


def details_csv(rows: list[Row], exercise: str) -> str:
    """Everything behind the points: per question, lateness, the file and the reason."""
    questions = [q.name for q in EXERCISES.get(exercise, ())]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student_id", "name", "exercise", *questions, "score", "days_late",
                "points", "max_score", "submitted_at", "time_from", "submission", "status",
                "notes"])
    for row in rows:
        scores = {q["name"]: q["score"] for q in (row.report or {}).get("questions", [])}
        w.writerow([row.student_id, row.name, exercise,
                    *[_num(scores[q]) if q in scores else "" for q in questions],
                    _num(row.raw), row.days_late, _num(row.points), row.max_score,
                    row.submitted_at.isoformat() if row.submitted_at else "",
                    row.time_source, row.file or row.submission, row.status,
                    "; ".join(row.notes)])
    return buf.getvalue()


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def per_exercise_path(path, exercise: str, several: bool, suffix: str = "") -> Path:
    """``grades.csv`` for one exercise, ``grades.<exercise>.csv`` for several."""
    path = Path(path)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    name = f"{stem}.{exercise}" if several else stem
    return path.with_name(f"{name}{suffix}{path.suffix or '.csv'}")
