"""Small helpers the chapters share for reporting results.

Tables of results (:func:`markdown_table`), the size of a model
(:func:`count_params`), the step at which a learning curve first drops
below a level (:func:`first_step_below`), the best of several timings of
a function (:func:`best_time`), and the line colours of the
learning-curve figures (:data:`LINE_COLORS` for a sequence of runs,
:data:`CELL_COLORS` for one colour per kind of cell), drawn from the
colour-blind-safe palette :data:`rnnbook.book.plots.OKABE_ITO`.
"""

from __future__ import annotations

import time

import numpy as np

from rnnbook.book.plots import OKABE_ITO
from rnnbook.checks import check_int

__all__ = ["LINE_COLORS", "CELL_COLORS", "markdown_table", "count_params",
           "first_step_below", "best_time"]

#: Colours for the curves of one figure, in the order the chapters use them.
LINE_COLORS = tuple(OKABE_ITO[name] for name in (
    "blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue",
    "black"))

#: One colour per kind of cell, the same in every figure that compares cells.
CELL_COLORS = {"rnn": OKABE_ITO["vermillion"], "lstm": OKABE_ITO["blue"],
               "gru": OKABE_ITO["bluish_green"]}


def markdown_table(header, rows, align=None, float_format=None) -> str:
    """A Markdown (pipe) table as a string, e.g. for ``IPython.display.Markdown``.

    Cells are converted with ``str``, or with ``float_format`` for Python and
    numpy floats when it is given. A ``|`` inside a cell is escaped so that
    it cannot split the cell.

    Args:
        header: sequence of K column titles.
        rows: sequence of rows, each a sequence of K cells.
        align: optional string of K characters, ``"l"``, ``"r"`` or ``"c"``
            per column (default: all left).
        float_format: optional format string for floats, e.g. ``"{:.3f}"``.

    Returns:
        table: the table, one line per row, header and separator first.

    Taught in: Chapter 4, Long short-term memory.
    """
    header = [str(h) for h in header]
    K = len(header)
    if K == 0:
        raise ValueError("header is empty; a table needs at least one column")
    align = "l" * K if align is None else str(align)
    if len(align) != K or set(align) - set("lrc"):
        raise ValueError(f"align is {align!r} but needs {K} characters from "
                         f"'l', 'r', 'c'")
    if float_format is not None and not isinstance(float_format, str):
        raise ValueError(f"float_format is {float_format!r} but needs a format string "
                         f"such as '{{:.3f}}'")
    marks = {"l": ":---", "r": "---:", "c": ":---:"}

    def text(cell):
        if float_format is not None and isinstance(cell, (float, np.floating)):
            return float_format.format(cell)
        return str(cell)

    def line(cells):
        return "| " + " | ".join(text(c).replace("|", r"\|") for c in cells) + " |"

    out = [line(header), "| " + " | ".join(marks[a] for a in align) + " |"]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != K:
            raise ValueError(f"row {i} has {len(row)} cells but the header has {K}")
        out.append(line(row))
    return "\n".join(out)


def count_params(params) -> int:
    """Total number of scalars in a parameter dict (the sum of the arrays' sizes).

    Args:
        params: dict of arrays, e.g. from :func:`rnnbook.models.language_model.init_lm`.

    Returns:
        count: Python int.

    Taught in: Chapter 4, Long short-term memory.
    """
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict "
                         f"of arrays")
    return int(sum(np.asarray(v).size for v in params.values()))


def first_step_below(history, level: float, metric: str = "test_mse"):
    """The first evaluation step at which a recorded metric is below ``level``.

    Args:
        history: a :class:`rnnbook.train.loop.History` with evaluations.
        level: the threshold.
        metric: the key of ``history.eval`` to read.

    Returns:
        step: Python int, or None when the metric never drops below ``level``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    if metric not in getattr(history, "eval", {}):
        raise ValueError(f"history has no evaluations of {metric!r}; it records "
                         f"{sorted(getattr(history, 'eval', {}))}")
    below = [s for s, m in zip(history.eval_step, history.eval[metric]) if m < level]
    return below[0] if below else None


def best_time(fn, repeats: int = 5, clock=time.process_time) -> float:
    """The shortest of ``repeats`` timings of ``fn()``, in seconds.

    The shortest run is the one least disturbed by whatever else the
    machine was doing, so it is the best estimate of the work itself. The
    default clock, processor time, counts this process's own work only
    (all its threads together); pass ``time.perf_counter`` to time the wall
    clock, e.g. for code that runs on several threads.

    Args:
        fn: function of no arguments.
        repeats: int >= 1, timings to take.
        clock: function of no arguments returning seconds.

    Returns:
        seconds: float, the shortest of the timings.

    Taught in: Chapter 4, Long short-term memory.
    """
    best = np.inf
    for _ in range(check_int("repeats", repeats, 1)):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return float(best)
