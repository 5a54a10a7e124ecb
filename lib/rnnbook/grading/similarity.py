"""Find submissions whose own code is too close to another's, or to the reference.

:func:`find_similar` compares, exercise by exercise, the code each student
wrote: the code cells of the submission without the lines the exercise
notebook gives (signatures, docstrings, checks, set-up cells). The
comparison is copydetect's winnowing detector (the method of MOSS,
Schleimer, Wilkerson and Aiken, 2003): the code is tokenised with
Pygments, every name becomes one placeholder (so renaming variables
changes nothing), and fingerprints of overlapping token windows are
compared as sets (so reordering functions changes nothing). Fingerprints
of the given code are subtracted, so two students do not look alike for
the code they were both handed.

Each submission is also compared with the reference code of its exercise:
the solution blocks of ``solutions/`` (when the project tree is present)
and the library's implementation of the graded functions.

:func:`write_similarity_report` writes the result as JSON and as one HTML
page with the matching passages highlighted side by side; the page has
its style inline and loads nothing from elsewhere.
"""

from __future__ import annotations

import html
import importlib
import inspect
import io
import itertools
import json
from pathlib import Path

import numpy as np

from .questions import EXERCISES
from .runner import read_submission
from .sandbox import project_root
from .selfcheck import BLOCKED

__all__ = ["find_similar", "write_similarity_report", "own_code", "to_html",
           "DEFAULT_THRESHOLD"]

#: Similarity (share of one side's fingerprinted code that the other has too)
#: from which a pair is listed.
DEFAULT_THRESHOLD = 0.6
#: copydetect's noise threshold: matches shorter than this many characters
#: of tokenised code are ignored.
NOISE = 25
#: copydetect's guarantee threshold: matches this long are always found.
GUARANTEE = 30
_TRIVIAL = {"# YOUR CODE HERE", "raise NotImplementedError()", "pass", ""}


def _solution_notebook(ex: str):
    root = project_root()
    path = None if root is None else root / "solutions" / f"{ex}.ipynb"
    if path is None or not path.is_file():
        return None
    import nbformat

    return nbformat.read(path, as_version=4)


def _exercise_cells(ex: str) -> list[str]:
    """The code cells of the student notebook of ``ex`` (the code students get)."""
    from .generate import exercise_from_solution

    nb = _solution_notebook(ex)
    if nb is None:
        return []
    student = exercise_from_solution(nb, ex)
    return [c.source for c in student.cells if c.cell_type == "code"]


def own_code(cells: list[str], given: list[str]) -> str:
    """The lines of ``cells`` that the given code does not contain, in order.

    Lines are compared without their indentation; a given line that occurs
    in several places is subtracted as often as it is given.
    """
    remaining: dict[str, int] = {}
    for cell in given:
        for line in cell.splitlines():
            key = line.strip()
            if key not in _TRIVIAL:
                remaining[key] = remaining.get(key, 0) + 1
    out = []
    for cell in cells:
        kept = []
        for line in cell.splitlines():
            key = line.strip()
            if key in _TRIVIAL:
                continue
            if remaining.get(key, 0) > 0:
                remaining[key] -= 1
                continue
            kept.append(line)
        if kept:
            out.append("\n".join(kept))
    return "\n\n".join(out) + "\n"


def _reference_code(ex: str) -> str:
    """The reference solutions of ``ex``: solution blocks and library functions."""
    from .generate import BEGIN_SOLUTION, END_SOLUTION

    parts = []
    nb = _solution_notebook(ex)
    for cell in nb.cells if nb is not None else []:
        inside = False
        for line in cell.source.splitlines() if cell.cell_type == "code" else []:
            if line.strip() == BEGIN_SOLUTION:
                inside = True
            elif line.strip() == END_SOLUTION:
                inside = False
            elif inside:
                parts.append(line)
    parts.append("")
    names = {q.name for q in EXERCISES.get(ex, ())}
    for mod_name in BLOCKED:
        mod = importlib.import_module(mod_name)
        for name in sorted(names):
            fn = getattr(mod, name, None)
            if callable(fn) and getattr(fn, "__module__", None) == mod_name:
                try:
                    parts.append(inspect.getsource(fn))
                except (OSError, TypeError):
                    pass
    return "\n".join(parts)


def _fingerprint(label: str, code: str, boilerplate):
    from copydetect import CodeFingerprint

    return CodeFingerprint(f"{label}.py", NOISE, GUARANTEE - NOISE + 1,
                           boilerplate=boilerplate, fp=io.StringIO(code), language="python")


def _passages(fp, slices) -> list[dict]:
    """The matching passages of one side as [{start, end, text}]."""
    out = []
    if len(slices) == 0:
        return out
    for start, end in zip(*np.asarray(slices)):
        out.append({"start": int(start), "end": int(end),
                    "text": fp.raw_code[int(start):int(end)]})
    return out


def _compare(a, b) -> tuple[float, list, list]:
    from copydetect import compare_files

    _, (sa, sb), (slices_a, slices_b) = compare_files(a, b)
    return max(float(sa), float(sb)), _passages(a, slices_a), _passages(b, slices_b)


def find_similar(paths, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Compare the students' own code across ``paths``, exercise by exercise.

    Args:
        paths: notebook files (unreadable ones are skipped and listed).
        threshold: similarity in [0, 1] from which a pair is listed; the
            similarity of a pair is the larger of the two shares of each
            side's fingerprinted code found in the other.

    Returns:
        A dict with ``threshold``, ``skipped`` (paths and reasons), and
        ``pairs``: a list sorted by decreasing ``similarity`` of dicts with
        ``kind`` ("students" or "reference"), ``exercise``, ``a``, ``b``
        (paths; ``b`` is "reference solution" for the reference),
        ``similarity``, and ``code_a``, ``code_b`` (the code compared) with
        ``passages_a``, ``passages_b`` (matching ``start``/``end``
        character offsets into that code, and the ``text``).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    by_exercise: dict[str, list] = {}
    skipped = []
    for p in sorted(str(p) for p in paths):
        sub = read_submission(p)
        if sub.error is not None:
            skipped.append({"submission": p, "reason": sub.error})
            continue
        by_exercise.setdefault(sub.exercise, []).append(sub)
    pairs = []
    for ex, subs in sorted(by_exercise.items()):
        given = _exercise_cells(ex)
        starter = _fingerprint("given", "\n".join(given), None) if given else None
        boiler = list(starter.hashes) if starter is not None else None
        prints = []
        for sub in subs:
            code = own_code(sub.cells, given)
            prints.append((sub.path, code, _fingerprint(Path(sub.path).stem, code, boiler)))
        reference = _reference_code(ex)
        ref_fp = _fingerprint("reference", reference, boiler) if reference.strip() else None
        candidates = list(itertools.combinations(prints, 2))
        if ref_fp is not None:
            candidates += [(p, ("reference solution", reference, ref_fp)) for p in prints]
        for (pa, ca, fa), (pb, cb, fb) in candidates:
            if not fa.hashes or not fb.hashes:
                continue
            sim, passages_a, passages_b = _compare(fa, fb)
            if sim >= threshold:
                pairs.append({
                    "kind": "reference" if fb is ref_fp else "students",
                    "exercise": ex, "a": pa, "b": pb, "similarity": round(sim, 4),
                    "code_a": ca, "code_b": cb,
                    "passages_a": passages_a, "passages_b": passages_b})
    pairs.sort(key=lambda p: (-p["similarity"], p["a"], p["b"]))
    return {"threshold": threshold, "pairs": pairs, "skipped": skipped}


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table.pairs { border-collapse: collapse; } .pairs td, .pairs th {
  padding: .2rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem;
  max-height: 40rem; }
mark { background: #ffd54f; }
.ref { color: #8a4b00; }
"""


def _highlighted(code: str, passages: list[dict]) -> str:
    out, at = [], 0
    for p in sorted(passages, key=lambda p: p["start"]):
        start, end = max(p["start"], at), p["end"]
        if end <= start:
            continue
        out.append(html.escape(code[at:start]))
        out.append("<mark>" + html.escape(code[start:end]) + "</mark>")
        at = end
    out.append(html.escape(code[at:]))
    return "".join(out)


def to_html(result: dict) -> str:
    """The similarity report as one self-contained HTML page."""
    pairs = result["pairs"]
    rows = []
    for n, p in enumerate(pairs, 1):
        cls = ' class="ref"' if p["kind"] == "reference" else ""
        rows.append(f'<tr{cls}><td><a href="#pair{n}">{n}</a></td>'
                    f'<td>{html.escape(p["exercise"])}</td><td>{html.escape(p["a"])}</td>'
                    f'<td>{html.escape(p["b"])}</td><td>{p["similarity"]:.2f}</td></tr>')
    sections = []
    for n, p in enumerate(pairs, 1):
        sections.append(
            f'<h2 id="pair{n}">{n}. {html.escape(p["a"])} &harr; {html.escape(p["b"])} '
            f'({p["similarity"]:.2f})</h2><div class="side">'
            f'<div><p>{html.escape(p["a"])}</p><pre>'
            f'{_highlighted(p["code_a"], p["passages_a"])}</pre></div>'
            f'<div><p>{html.escape(p["b"])}</p><pre>'
            f'{_highlighted(p["code_b"], p["passages_b"])}</pre></div></div>')
    skipped = "".join(f"<li>{html.escape(s['submission'])}: {html.escape(s['reason'])}</li>"
                      for s in result["skipped"])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Similarity between submissions</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Similarity between submissions</h1>"
        f"<p>{len(pairs)} pair(s) at or above {result['threshold']:.2f}. Only the code the "
        "students wrote is compared (the code the exercise gives is left out); names do "
        "not matter and neither does the order of functions. Highlighted: passages found "
        "on both sides. Rows in brown compare a submission with the reference solution. "
        "A high similarity is a reason to look, not a proof of copying.</p>"
        "<table class=\"pairs\"><tr><th>#</th><th>exercise</th><th>submission</th>"
        f"<th>compared with</th><th>similarity</th></tr>{''.join(rows)}</table>"
        + "".join(sections)
        + (f"<h2>Not compared</h2><ul>{skipped}</ul>" if skipped else "")
        + "</body></html>\n")


def write_similarity_report(result: dict, path) -> tuple[Path, Path]:
    """Write ``result`` to ``path`` (JSON) and next to it as HTML.

    Returns:
        json_path: the JSON file (``path``, or ``path`` with ``.json`` when
            ``path`` itself ends in ``.html``).
        html_path: the HTML file beside it.
    """
    from .report import write_atomic

    path = Path(path)
    html_path = path.with_suffix(".html")
    if html_path == path:
        path = path.with_suffix(".json")
    write_atomic(path, json.dumps(result, indent=2) + "\n")
    write_atomic(html_path, to_html(result))
    return path, html_path
