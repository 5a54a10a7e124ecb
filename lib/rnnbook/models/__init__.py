"""Whole models built from the cells: language models and the adding-problem model.

A model here is a parameter dict plus functions for its loss and gradients,
assembled from :mod:`rnnbook.nn` and trained with :mod:`rnnbook.train` on
data from :mod:`rnnbook.datasets`: the character-level language models
(:mod:`rnnbook.models.charmodel` for the RNN, :mod:`rnnbook.models.compare`
for any cell), the word-level model (:mod:`rnnbook.models.wordlm`), the
adding-problem model (:mod:`rnnbook.models.tasks`) and the per-step tagger
on stacked, bidirectional layers (:mod:`rnnbook.models.tagger`). Import
from here, e.g. ``from rnnbook.models import train_char_model``.
"""

from rnnbook.models.charmodel import *  # noqa: F401,F403
from rnnbook.models.compare import *  # noqa: F401,F403
from rnnbook.models.tagger import *  # noqa: F401,F403
from rnnbook.models.tasks import *  # noqa: F401,F403
from rnnbook.models.wordlm import *  # noqa: F401,F403
