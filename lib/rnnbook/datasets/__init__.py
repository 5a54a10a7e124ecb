"""Data sets for the book: two shipped real ones, generated tasks, vocabularies.

Real data, shipped in ``rnnbook/datasets/files`` (see ``PROVENANCE.md``
there for sources and licences): Milton's *Paradise Lost* for the
character-level language model (:mod:`rnnbook.datasets.text`) and the yearly
sunspot numbers for forecasting (:mod:`rnnbook.datasets.series`). Generated
tasks: the adding problem and the copy task (:mod:`rnnbook.datasets.synthetic`),
human-written dates for sequence-to-sequence translation
(:mod:`rnnbook.datasets.dates`), digit strings to copy
(:mod:`rnnbook.datasets.digit_copy`) and the colour sentences of the word-level
model (:mod:`rnnbook.datasets.corpora`); every random choice comes from the
``numpy.random.Generator`` passed in. Vocabularies and padding are in
:mod:`rnnbook.datasets.vocab`. Import from here, e.g.
``from rnnbook.datasets import dates_dataset, load_text``.
"""

from rnnbook.datasets.corpora import *  # noqa: F401,F403
from rnnbook.datasets.dates import *  # noqa: F401,F403
from rnnbook.datasets.digit_copy import *  # noqa: F401,F403
from rnnbook.datasets.series import *  # noqa: F401,F403
from rnnbook.datasets.shipped import *  # noqa: F401,F403
from rnnbook.datasets.synthetic import *  # noqa: F401,F403
from rnnbook.datasets.text import *  # noqa: F401,F403
from rnnbook.datasets.vocab import *  # noqa: F401,F403
