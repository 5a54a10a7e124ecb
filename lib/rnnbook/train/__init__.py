"""Training: optimisers, gradient clipping, the training loop, gradient checking.

:mod:`rnnbook.train.optim` updates parameter dicts in place (SGD, momentum,
Adagrad, Adam) and clips gradients by their global norm;
:mod:`rnnbook.train.loop` is the loop every chapter trains with (a step
budget or epochs, evaluation, a progress bar and a :class:`~rnnbook.train.loop.History`); and
:mod:`rnnbook.train.gradcheck` compares a backward pass with finite
differences. Nothing here knows about a particular network: a model is a
dict of arrays and a function returning its loss and gradients. Import from
here, e.g. ``from rnnbook.train import Adam, train, numerical_gradient``.
"""

from rnnbook.train.gradcheck import *  # noqa: F401,F403
from rnnbook.train.loop import *  # noqa: F401,F403
from rnnbook.train.optim import *  # noqa: F401,F403
