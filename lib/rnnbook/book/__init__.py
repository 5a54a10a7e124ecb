"""What the chapters use and the library itself does not: figures, widgets, measurements.

:mod:`rnnbook.book.plots` draws the diagrams (unrolled chains, the LSTM cell)
in the book's colour palette, :mod:`rnnbook.book.widgets` builds the
interactive explorers on the grid machinery of :mod:`rnnbook.book.explorers`,
:mod:`rnnbook.book.attention_explorer` shows precomputed attention weights
with or without a kernel, :mod:`rnnbook.book.diagnostics` measures how
gradients travel through time for any cell, and
:mod:`rnnbook.book.reporting` holds the tables, parameter counts and line
colours the chapters share. This layer sits above the models
and may use all of them; nothing in the library imports it. Import from
here, e.g. ``from rnnbook.book import plots, gradient_norms_by_lag``.
"""

from rnnbook.book.attention_explorer import *  # noqa: F401,F403
from rnnbook.book.diagnostics import *  # noqa: F401,F403
from rnnbook.book.explorers import *  # noqa: F401,F403
from rnnbook.book.plots import *  # noqa: F401,F403
from rnnbook.book.reporting import *  # noqa: F401,F403
from rnnbook.book.widgets import *  # noqa: F401,F403
