"""rnnbook: numpy reference implementations for the recurrent-networks textbook.

The package is a stack of layers, each a subpackage that imports only from
the layers below it:

- :mod:`rnnbook.checks`: argument validation shared by every function;
- :mod:`rnnbook.nn`: the cells (RNN, LSTM, GRU), attention, layers,
  activations, initialisers, the cell registry, the masked, bidirectional
  and stacked wrappers and the encoder-decoder;
- :mod:`rnnbook.train`: optimisers, the training loop, gradient checking;
- :mod:`rnnbook.datasets`: shipped texts and series, generated tasks,
  vocabularies;
- :mod:`rnnbook.models`: whole models built from the cells;
- :mod:`rnnbook.interop`: weights to and from PyTorch;
- :mod:`rnnbook.book`: diagrams, widgets and measurements for the chapters;
- :mod:`rnnbook.grading`: the self-check and the grader.

The functional core follows one convention: batch-first arrays, row-vector
maths (``x @ Wx``), and forward functions that return a ``cache`` consumed by
the matching backward function.
"""

__version__ = "0.1.0"
