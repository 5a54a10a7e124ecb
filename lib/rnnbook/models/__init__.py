"""Whole models built from the cells: language models, taggers, the adding problem.

A model here is a parameter dict plus functions for its loss and gradients,
assembled from :mod:`rnnbook.nn` and trained with :mod:`rnnbook.train` on
data from :mod:`rnnbook.datasets`: one language model for any registered
cell, at the character or the word level (:mod:`rnnbook.models.language_model`),
the adding-problem model (:mod:`rnnbook.models.tasks`), the per-step tagger
on stacked, bidirectional layers (:mod:`rnnbook.models.tagger`) and the
many-to-one forecaster and sequence classifier
(:mod:`rnnbook.models.many_to_one`), and the copy-task measurement of the
encoder-decoders (:mod:`rnnbook.models.copy_task`). Import from here, e.g.
``from rnnbook.models import train_char_model``.
"""

from rnnbook.models.copy_task import *  # noqa: F401,F403
from rnnbook.models.language_model import *  # noqa: F401,F403
from rnnbook.models.many_to_one import *  # noqa: F401,F403
from rnnbook.models.tagger import *  # noqa: F401,F403
from rnnbook.models.tasks import *  # noqa: F401,F403
