"""Feedback to hand back: one HTML and one Markdown page per graded submission.

``rnnbook-grade ... --feedback DIR`` writes, for every gradebook row with
a submission, ``DIR/<who>/<exercise>.html`` and ``.md``, where ``<who>``
is the student id from the roster (or, without one, the student's folder
or the notebook's name). Each page gives the points per question with
the grader's feedback, the lateness and the penalty, cells of the
notebook that raised or timed out, and what to do next. Nothing of the
reference or of the hidden inputs appears: only what the gradebook holds.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .course import Row
from .report import write_atomic

__all__ = ["markdown_page", "html_page", "write_feedback"]


def _who(row: Row) -> str:
    base = row.student_id or row.name or Path(row.submission).stem or "unknown"
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", base).strip("._") or "unknown"


def _title(row: Row) -> str:
    who = f"{row.name} ({row.student_id})" if row.student_id else row.name
    return f"Feedback on exercise {row.exercise}" + (f" for {who}" if who else "")


def _summary(row: Row) -> list[str]:
    lines = [f"Submission: {Path(row.submission).name or 'none'}"]
    if row.report and row.report["error"]:
        lines.append(f"Not graded: {row.report['error']}")
    lines.append(f"Points: {row.points:g} of {row.max_score}")
    if row.days_late:
        lines.append(f"Late: {row.days_late} started day(s) after the deadline "
                     f"({row.status}); {row.raw:g} points before the late policy")
    return lines


def _advice(q: dict) -> str:
    if q["score"] == q["max_score"]:
        return "Full points."
    return q["feedback"]


def markdown_page(row: Row) -> str:
    """The Markdown page for one gradebook row."""
    out = [f"# {_title(row)}", ""]
    out += [f"- {line}" for line in _summary(row)]
    out.append("")
    questions = (row.report or {}).get("questions", [])
    if questions:
        out += ["| function | points | feedback |", "|---|---|---|"]
        for q in questions:
            fb = _advice(q).replace("|", "\\|")
            out.append(f"| `{q['name']}` | {q['score']:g}/{q['max_score']} | {fb} |")
        out.append("")
    if row.notes:
        out += ["## Notes on the run", ""] + [f"- {n}" for n in row.notes] + [""]
    out += ["Run `rnnbook-grade your_notebook.ipynb` to grade your notebook the same way "
            "before you hand it in again; the self-check cells give the same points for "
            "each function.", ""]
    return "\n".join(out)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;
padding:0 1rem;line-height:1.45;color:#222}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.full{color:#176117}td.lost{color:#9a2a00}code{font-size:.95em}"""


def html_page(row: Row) -> str:
    """The same page as :func:`markdown_page`, as a standalone HTML file."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(_title(row))}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{e(_title(row))}</h1>", "<ul>"]
    out += [f"<li>{e(line)}</li>" for line in _summary(row)]
    out.append("</ul>")
    questions = (row.report or {}).get("questions", [])
    if questions:
        out.append("<table><thead><tr><th>function</th><th>points</th><th>feedback</th>"
                   "</tr></thead><tbody>")
        for q in questions:
            cls = "full" if q["score"] == q["max_score"] else "lost"
            out.append(f"<tr><td><code>{e(q['name'])}</code></td>"
                       f"<td class=\"{cls}\">{q['score']:g}/{q['max_score']}</td>"
                       f"<td>{e(_advice(q))}</td></tr>")
        out.append("</tbody></table>")
    if row.notes:
        out.append("<h2>Notes on the run</h2><ul>")
        out += [f"<li>{e(n)}</li>" for n in row.notes]
        out.append("</ul>")
    out.append("<p>Run <code>rnnbook-grade your_notebook.ipynb</code> to grade your notebook "
               "the same way before you hand it in again; the self-check cells give the same "
               "points for each function.</p></body></html>")
    return "\n".join(out) + "\n"


def write_feedback(books: dict[str, list[Row]], folder) -> list[Path]:
    """Write the pages of every row that has a submission; return the files written."""
    folder = Path(folder)
    written = []
    for ex, rows in books.items():
        for row in rows:
            if row.report is None:
                continue
            d = folder / _who(row)
            d.mkdir(parents=True, exist_ok=True)
            for suffix, text in ((".md", markdown_page(row)), (".html", html_page(row))):
                path = d / f"{ex}{suffix}"
                write_atomic(path, text)
                written.append(path)
    return written
