"""rnnbook: numpy reference implementations for the recurrent-networks textbook.

The functional core (``rnnbook.rnn``, ``rnnbook.lstm``, ``rnnbook.gru``,
``rnnbook.attention``) follows one convention: batch-first arrays, row-vector
maths (``x @ Wx``), and forward functions that return a ``cache`` consumed by
the matching backward function. Everything else (layers, losses, optimisers,
training loop, data sets, plots) is built on top of it.
"""

__version__ = "0.1.0"
