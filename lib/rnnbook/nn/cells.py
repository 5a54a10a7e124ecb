"""The registry of recurrent cells: one record per cell type.

A cell is named by a string (``"rnn"``, ``"lstm"``, ``"gru"``) or given as a
:class:`Cell`, a small record of step-level and sequence-level forward and
backward functions working on a parameter dict, so that the sequence
wrappers, the language models and the gradient measurements can run any
cell, including one written by a reader, with the same code::

    cell = get_cell("lstm")
    params = cell.init(D, H, rng)
    states, cache = cell.step_forward(x_t, states, params)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from rnnbook.nn import init as _init
from rnnbook.nn.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from rnnbook.nn.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from rnnbook.nn.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

__all__ = ["Cell", "CELL_NAMES", "PARAM_NAMES", "get_cell"]

#: The names :func:`get_cell` accepts.
CELL_NAMES = ("rnn", "lstm", "gru")


class Cell(NamedTuple):
    """A recurrent cell described by its forward and backward functions.

    Every function works on a parameter dict, so that one piece of code can
    train or measure any cell. States are tuples of (N, H) arrays: ``(h,)``
    for the RNN and the GRU, ``(h, c)`` for the LSTM; the hidden state ``h``
    always comes first.

    Fields:

    - ``name``: short name, e.g. ``"rnn"``.
    - ``state_names``: names of the state arrays, e.g. ``("h",)`` or ``("h", "c")``.
    - ``init``: ``init(D, H, rng, dtype=np.float64) -> params`` (a dict of
      arrays); ``dtype`` is passed by keyword.
    - ``step_forward``: ``step_forward(x_t, states, params) -> (states, cache)``
      with ``x_t`` (N, D).
    - ``step_backward``: ``step_backward(dstates, cache) -> (dx_t,
      dstates_prev, grads)``; ``dstates`` is a tuple like ``states``, ``grads``
      a dict with the keys of ``params``.
    - ``forward``: ``forward(x, h0, params) -> (h, cache)`` over a whole
      sequence, ``x`` (N, T, D), ``h0`` (N, H), ``h`` (N, T, H); any further
      state starts at zero.
    - ``backward``: ``backward(dh, cache) -> (dx, dh0, grads)`` with ``dh``
      (N, T, H).
    """

    name: str
    state_names: tuple
    init: Callable
    step_forward: Callable
    step_backward: Callable
    forward: Callable
    backward: Callable


# -- the library's cells as Cell records ------------------------------------------

#: Parameter names of the library's cells, in the order their functions take them.
PARAM_NAMES = {
    "rnn": ("Wx", "Wh", "b"),
    "lstm": ("Wx", "Wh", "b"),
    "gru": ("Wx", "Wh", "bx", "bh"),
}


def _one_state_cell(name, init, param_names, step_forward_fn, step_backward_fn,
                    forward_fn, backward_fn) -> Cell:
    """A :class:`Cell` for a cell whose only state is ``h``.

    The four functions follow the library's convention: they take the
    parameters as separate arguments in the order of ``param_names`` (after
    the input and the hidden state), and the backward functions return the
    parameter gradients in that order after ``dx`` and ``dh``.
    """
    def step_forward(x, states, p):
        h, cache = step_forward_fn(x, states[0], *(p[k] for k in param_names))
        return (h,), cache

    def step_backward(dstates, cache):
        dx, dh_prev, *grads = step_backward_fn(dstates[0], cache)
        return dx, (dh_prev,), dict(zip(param_names, grads))

    def forward(x, h0, p):
        return forward_fn(x, h0, *(p[k] for k in param_names))

    def backward(dh, cache):
        dx, dh0, *grads = backward_fn(dh, cache)
        return dx, dh0, dict(zip(param_names, grads))

    return Cell(name, ("h",), init, step_forward, step_backward, forward, backward)


def _rnn_cell() -> Cell:
    return _one_state_cell("rnn", _init.init_rnn, PARAM_NAMES["rnn"], rnn_step_forward,
                           rnn_step_backward, rnn_forward, rnn_backward)


def _lstm_cell() -> Cell:
    def step_forward(x, states, p):
        h, c, cache = lstm_step_forward(x, states[0], states[1], p["Wx"], p["Wh"], p["b"])
        return (h, c), cache

    def step_backward(dstates, cache):
        dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dstates[0], dstates[1], cache)
        return dx, (dh_prev, dc_prev), {"Wx": dWx, "Wh": dWh, "b": db}

    def forward(x, h0, p):
        return lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"])

    def backward(dh, cache):
        dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)
        return dx, dh0, {"Wx": dWx, "Wh": dWh, "b": db}

    return Cell("lstm", ("h", "c"), _init.init_lstm, step_forward, step_backward, forward, backward)


def _gru_cell() -> Cell:
    return _one_state_cell("gru", _init.init_gru, PARAM_NAMES["gru"], gru_step_forward,
                           gru_step_backward, gru_forward, gru_backward)


_FACTORIES = {"rnn": _rnn_cell, "lstm": _lstm_cell, "gru": _gru_cell}


def get_cell(cell) -> Cell:
    """The :class:`Cell` for a name in :data:`CELL_NAMES`; a ``Cell`` is passed through.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` (any case) or a :class:`Cell`.

    Returns:
        the matching :class:`Cell`.
    """
    if isinstance(cell, Cell):
        return cell
    if not isinstance(cell, str) or cell.lower() not in _FACTORIES:
        raise ValueError(f"cell is {cell!r} but needs one of {CELL_NAMES} or a Cell")
    return _FACTORIES[cell.lower()]()
