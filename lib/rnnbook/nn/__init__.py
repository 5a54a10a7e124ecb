"""The network layer of the library: cells, layers and sequence models in numpy.

Everything a recurrent network is made of lives here, written as pairs of
forward and backward functions on batch-first arrays: the activations, the
RNN, LSTM and GRU cells (one step and a whole sequence), the gate views of
their caches and the named results of their backward passes
(:mod:`rnnbook.nn.records`), attention, the affine, embedding and loss
layers, weight initialisers, the cell registry
:mod:`rnnbook.nn.cells` that lets one piece of code run any cell, the fast
sequence kernels of :mod:`rnnbook.nn.kernels` that training runs, the masked,
bidirectional and stacked wrappers of :mod:`rnnbook.nn.sequence`, and the
encoder-decoder of :mod:`rnnbook.nn.seq2seq`. It depends only on numpy and
:mod:`rnnbook.checks`; every public name can be imported from here, e.g.
``from rnnbook.nn import lstm_forward, bidirectional_forward, get_cell``.
"""

from rnnbook.nn.activations import *  # noqa: F401,F403
from rnnbook.nn.attention import *  # noqa: F401,F403
from rnnbook.nn.cells import *  # noqa: F401,F403
from rnnbook.nn.gru import *  # noqa: F401,F403
from rnnbook.nn.init import *  # noqa: F401,F403
from rnnbook.nn.kernels import *  # noqa: F401,F403
from rnnbook.nn.layers import *  # noqa: F401,F403
from rnnbook.nn.lstm import *  # noqa: F401,F403
from rnnbook.nn.records import *  # noqa: F401,F403
from rnnbook.nn.rnn import *  # noqa: F401,F403
from rnnbook.nn.seq2seq import *  # noqa: F401,F403
from rnnbook.nn.sequence import *  # noqa: F401,F403
