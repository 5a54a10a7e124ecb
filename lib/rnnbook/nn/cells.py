"""The registry of recurrent cells: the one place that knows each kind of cell.

A :class:`Cell` record holds everything generic code needs to know about a
cell: its name, the names of its states (``("h",)``, or ``("h", "c")`` for
the LSTM), the number of gate blocks in its weight matrices, its parameter
names, its initialiser, and its step and sequence functions, all working on
a parameter dict and on tuples of states. The sequence wrappers of
:mod:`rnnbook.nn.sequence`, the language models of :mod:`rnnbook.models` and
the gradient measurements of :mod:`rnnbook.book.diagnostics` run any
registered cell through this record, so a new kind of cell is written once
and registered here (or by its author with :func:`register_cell`)::

    cell = get_cell("lstm")
    params = cell.init(D, H, rng)
    states, cache = cell.step_forward(x_t, states, params)        # one step
    state_seqs, cache = cell.forward(x, states0, params)          # a sequence

:func:`cell_from_steps` turns a pair of step functions into a full record,
with sequence functions that loop over them.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from rnnbook.checks import Shapes, check_cell_params
from rnnbook.nn import init as _init
from rnnbook.nn.gru import (gru_original_backward, gru_original_forward,
                            gru_original_step_backward, gru_original_step_forward,
                            gru_step_backward, gru_step_forward)
from rnnbook.nn.kernels import (gru_backward_fast, gru_forward_fast, lstm_backward_fast,
                                lstm_forward_fast, rnn_backward_fast, rnn_forward_fast)
from rnnbook.nn.lstm import lstm_step_backward, lstm_step_forward
from rnnbook.nn.records import GRU_GATES, LSTM_GATES
from rnnbook.nn.rnn import rnn_step_backward, rnn_step_forward

__all__ = ["Cell", "cell_names", "get_cell", "register_cell", "cell_from_steps",
           "one_state_cell"]


class Cell(NamedTuple):
    """A kind of recurrent cell, described by its functions.

    Every function works on a parameter dict, so that one piece of code can
    train or measure any cell. States are tuples of (N, H) arrays, ``(h,)``
    or ``(h, c)``: the hidden state ``h``, the one the cell outputs, always
    comes first. Parameters follow the library's convention: ``Wx``
    (D, k*H), ``Wh`` (H, k*H) and biases (k*H,) for ``k = n_gates`` column
    blocks.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    #: short name, e.g. ``"rnn"``.
    name: str
    #: names of the state arrays, e.g. ``("h",)`` or ``("h", "c")``.
    state_names: tuple
    #: k, the number of column blocks of ``Wx`` and ``Wh``.
    n_gates: int
    #: keys of the parameter dict, e.g. ``("Wx", "Wh", "b")``; the first two are always
    #: ``Wx`` and ``Wh``, the rest are biases.
    param_names: tuple
    #: ``init(D, H, rng, dtype=np.float64) -> params``; ``dtype`` is passed by keyword.
    init: Callable
    #: ``step_forward(x_t, states, params) -> (states, cache)`` with ``x_t`` (N, D).
    step_forward: Callable
    #: ``step_backward(dstates, cache) -> (dx_t, dstates_prev, grads)``; ``dstates`` is
    #: a tuple like ``states``, ``grads`` a dict with the keys of ``params``.
    step_backward: Callable
    #: ``forward(x, states0, params) -> (state_seqs, cache)`` over a whole sequence,
    #: ``x`` (N, T, D), ``states0`` a tuple of (N, H); ``state_seqs`` holds every state
    #: at every step, a tuple of (N, T, H) arrays (``state_seqs[0]`` is the output
    #: ``h``).
    forward: Callable
    #: ``backward(dstate_seqs, cache) -> (dx, dstates0, grads)``; ``dstate_seqs`` holds
    #: the gradient with respect to each state at every step, (N, T, H) arrays (``None``
    #: for zeros); ``dx`` is (N, T, D) and ``dstates0`` a tuple of (N, H).
    backward: Callable
    #: the names of the gate blocks, in column order, as the caches' gate views call
    #: them (``("i", "f", "g", "o")`` for the LSTM, from
    #: :data:`~rnnbook.nn.records.LSTM_GATES`); empty for a cell without gates.
    gate_names: tuple = ()

    def check_params(self, params, s: Shapes | None = None, name: str = "params") -> dict:
        """Check a parameter dict against this cell, binding D and H in ``s``.

        Args:
            params: dict with the keys :attr:`param_names`.
            s: the :class:`~rnnbook.checks.Shapes` of the call (a new one if None).
            name: the argument's name in error messages.

        Returns:
            params: a dict of the same arrays, checked.
        """
        s = Shapes() if s is None else s
        if not isinstance(params, dict):
            raise ValueError(f"{name} must be a dict with keys {list(self.param_names)}, "
                             f"got {type(params).__name__}")
        if set(params) != set(self.param_names):
            raise ValueError(f"{name} has keys {sorted(params)} but a {self.name!r} cell "
                             f"needs {list(self.param_names)}")
        label = name.replace("{", "{{").replace("}", "}}") + "[{!r}]"
        checked = check_cell_params(s, self.n_gates, label,
                                    **{k: params[k] for k in self.param_names})
        return dict(zip(self.param_names, checked))

    def zero_states(self, N: int, H: int, dtype) -> tuple:
        """A tuple of zero states, one (N, H) array per name in :attr:`state_names`."""
        return tuple(np.zeros((N, H), dtype=dtype) for _ in self.state_names)


def _zeros_for(dstate_seqs, like):
    return tuple(np.zeros_like(like) if d is None else d for d in dstate_seqs)


def cell_from_steps(name, state_names, param_names, init, step_forward, step_backward,
                    n_gates: int = 1) -> Cell:
    """A :class:`Cell` whose sequence functions loop over its step functions.

    Args:
        name: the cell's name.
        state_names: names of its states, the hidden state first.
        param_names: keys of its parameter dict (``Wx``, ``Wh``, then biases).
        init: ``init(D, H, rng, dtype=...) -> params``.
        step_forward: ``(x_t, states, params) -> (states, cache)``.
        step_backward: ``(dstates, cache) -> (dx_t, dstates_prev, grads)``.
        n_gates: number of column blocks of ``Wx`` and ``Wh``.

    Returns:
        cell: the :class:`Cell`.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    def forward(x, states0, params):
        N, T, _ = x.shape
        seqs = tuple(np.empty((N, T) + s.shape[1:], dtype=x.dtype) for s in states0)
        states, caches = tuple(states0), []
        for t in range(T):
            states, cache = step_forward(x[:, t], states, params)
            for seq, state in zip(seqs, states):
                seq[:, t] = state
            caches.append(cache)
        return seqs, (caches, x.shape, tuple(s.shape for s in states0), x.dtype)

    def backward(dstate_seqs, cache):
        caches, (N, T, D), shapes, dtype = cache
        dseqs = _zeros_for(dstate_seqs, np.empty((N, T, shapes[0][1]), dtype=dtype))
        dx = np.empty((N, T, D), dtype=dtype)
        dstates = tuple(np.zeros(shape, dtype=dtype) for shape in shapes)
        total = None
        for t in range(T - 1, -1, -1):
            upstream = tuple(d + seq[:, t] for d, seq in zip(dstates, dseqs))
            dx[:, t], dstates, grads = step_backward(upstream, caches[t])
            total = grads if total is None else {k: total[k] + g for k, g in grads.items()}
        return dx, tuple(dstates), total

    return Cell(name, tuple(state_names), n_gates, tuple(param_names), init, step_forward,
                step_backward, forward, backward)


def one_state_cell(name, init, param_names, step_forward_fn, step_backward_fn, forward_fn,
                   backward_fn, n_gates: int = 1, gate_names: tuple = ()) -> Cell:
    """A :class:`Cell` for a cell whose only state is ``h``, from the library's functions.

    The four functions follow the library's convention: they take the
    parameters as separate arguments in the order of ``param_names`` (after
    the input and the hidden state), and the backward functions return the
    parameter gradients in that order after ``dx`` and ``dh``.

    Args:
        name: the cell's name.
        init: ``init(D, H, rng, dtype=...) -> params``.
        param_names: the parameters in the order the functions take them.
        step_forward_fn: the step forward, e.g. ``gru_step_forward``.
        step_backward_fn: the step backward, e.g. ``gru_step_backward``.
        forward_fn: the sequence forward, e.g. ``gru_forward_fast``.
        backward_fn: the sequence backward, e.g. ``gru_backward_fast``.
        n_gates: number of column blocks of ``Wx`` and ``Wh``; ``len(gate_names)``
            when gate names are given.
        gate_names: the names of the gate blocks, in column order.

    Returns:
        cell: the :class:`Cell`.

    Taught in: Chapter 5, Gated recurrent units.
    """
    def step_forward(x, states, p):
        h, cache = step_forward_fn(x, states[0], *(p[k] for k in param_names))
        return (h,), cache

    def step_backward(dstates, cache):
        dx, dh_prev, *grads = step_backward_fn(dstates[0], cache)
        return dx, (dh_prev,), dict(zip(param_names, grads))

    def forward(x, states0, p):
        h, cache = forward_fn(x, states0[0], *(p[k] for k in param_names))
        return (h,), cache

    def backward(dstate_seqs, cache):
        dh = dstate_seqs[0]
        if dh is None:
            dh = np.zeros_like(_output_of(cache))
        dx, dh0, *grads = backward_fn(dh, cache)
        return dx, (dh0,), dict(zip(param_names, grads))

    n_gates = len(gate_names) if gate_names else n_gates
    return Cell(name, ("h",), n_gates, tuple(param_names), init, step_forward, step_backward,
                forward, backward, tuple(gate_names))


def _output_of(cache):
    # Every sequence cache of the library keeps the outputs as ``h``.
    return cache.h


def _lstm_cell() -> Cell:
    names = ("Wx", "Wh", "b")

    def step_forward(x, states, p):
        h, c, cache = lstm_step_forward(x, states[0], states[1], p["Wx"], p["Wh"], p["b"])
        return (h, c), cache

    def step_backward(dstates, cache):
        dx, dh_prev, dc_prev, *grads = lstm_step_backward(dstates[0], dstates[1], cache)
        return dx, (dh_prev, dc_prev), dict(zip(names, grads))

    def forward(x, states0, p):
        h, cache = lstm_forward_fast(x, states0[0], p["Wx"], p["Wh"], p["b"], c0=states0[1])
        return (h, cache.c), cache

    def backward(dstate_seqs, cache):
        dh, dc = dstate_seqs
        dh = np.zeros_like(cache.h) if dh is None else dh
        dx, dh0, dc0, *grads = lstm_backward_fast(dh, cache, dc)
        return dx, (dh0, dc0), dict(zip(names, grads))

    gates = tuple(name for name, _ in LSTM_GATES)
    return Cell("lstm", ("h", "c"), len(gates), names, _init.init_lstm, step_forward,
                step_backward, forward, backward, gates)


_REGISTRY: dict[str, Cell] = {}


def register_cell(cell: Cell) -> Cell:
    """Make ``cell`` known by its name to :func:`get_cell` and every wrapper.

    Args:
        cell: a :class:`Cell`; a cell of the same name is replaced.

    Returns:
        cell: the :class:`Cell`, registered.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    if not isinstance(cell, Cell):
        raise ValueError(f"cell is a {type(cell).__name__} but needs a Cell")
    _REGISTRY[cell.name.lower()] = cell
    return cell


def cell_names() -> tuple[str, ...]:
    """The names :func:`get_cell` accepts, in the order they were registered.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    return tuple(_REGISTRY)


def get_cell(cell) -> Cell:
    """The registered :class:`Cell` of a name; a ``Cell`` is passed through.

    Args:
        cell: a name from :func:`cell_names` (``"rnn"``, ``"lstm"``, ``"gru"``,
            ``"gru-original"`` for Cho et al.'s GRU, and any registered later;
            any case) or a :class:`Cell`.

    Returns:
        cell: the matching :class:`Cell`.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    if isinstance(cell, Cell):
        return cell
    if not isinstance(cell, str) or cell.lower() not in _REGISTRY:
        raise ValueError(f"cell is {cell!r} but needs one of {cell_names()} or a Cell")
    return _REGISTRY[cell.lower()]


register_cell(one_state_cell("rnn", _init.init_rnn, ("Wx", "Wh", "b"), rnn_step_forward,
                             rnn_step_backward, rnn_forward_fast, rnn_backward_fast))
register_cell(_lstm_cell())
register_cell(one_state_cell("gru", _init.init_gru, ("Wx", "Wh", "bx", "bh"), gru_step_forward,
                             gru_step_backward, gru_forward_fast, gru_backward_fast,
                             gate_names=tuple(name for name, _ in GRU_GATES)))
# Cho et al.'s GRU, with the reset gate applied before the recurrent product,
# on the same parameter dict and initialisation as the GRU above, so that
# chapter 5 can train the two formulations under the same budget.
register_cell(one_state_cell("gru-original", _init.init_gru, ("Wx", "Wh", "bx", "bh"),
                             gru_original_step_forward, gru_original_step_backward,
                             gru_original_forward, gru_original_backward,
                             gate_names=tuple(name for name, _ in GRU_GATES)))
