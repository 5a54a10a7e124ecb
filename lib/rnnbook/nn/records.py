"""What the cells' caches share, and the named results of their backward passes.

A gated cell stores its gate activations as one array ``gates`` with a
column block per gate, in the order of the weight matrices. The mixin
:class:`GateViews` gives every cache that holds such an array one read-only
view per gate, named after the gate, from one table of gate names per cell
(:data:`LSTM_GATES`, :data:`GRU_GATES`)::

    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    cache.f          # forget gate of every step, (N, T, H)

The readable sequence caches keep the list of their step caches;
:class:`StepViews` stacks what a reader wants over the steps (the inputs,
the initial state, the weights). The fused kernels' caches store those
arrays instead; :class:`SequenceCache` holds the ones every cell has.

A sequence backward pass returns a named tuple, so that a result can be
unpacked as the contract lists it or read by name (``grads.dWh``):
:class:`CellGrads` for the RNN and the LSTM, :class:`LSTMFullGrads` (with
the gradient of the initial cell state), :class:`GRUGrads`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["LSTM_GATES", "GRU_GATES", "GateViews", "StepViews", "SequenceCache",
           "batch_first_view", "CellGrads", "LSTMFullGrads", "GRUGrads"]

#: The LSTM's gate blocks in the order of its weight columns (PyTorch's order).
LSTM_GATES = (("i", "Input gate"), ("f", "Forget gate"),
              ("g", "Candidate cell values"), ("o", "Output gate"))

#: The GRU's gate blocks in the order of its weight columns (PyTorch's order).
GRU_GATES = (("r", "Reset gate"), ("z", "Update gate"), ("n", "Candidate state"))


def batch_first_view(name: str, what: str, skip: int = 0) -> property:
    """A read-only property: the batch-first view of a time-major cache field.

    The fast kernels store states time-major, (T, N, H), so that each step
    works on contiguous memory; readers and the readable caches index them
    batch-first, (N, T, H). The property gives that view without a copy.

    Args:
        name: the time-major field, e.g. ``"cs"``, (T', N, H).
        what: the first words of the property's docstring.
        skip: leading steps of the field to leave out (1 for a field that
            starts with the initial state).

    Returns:
        view: a property whose value is ``field[skip:].transpose(1, 0, 2)``.

    Taught in: Chapter 4, Long short-term memory.
    """
    return property(lambda self: getattr(self, name)[skip:].transpose(1, 0, 2),
                    doc=f"{what}, a batch-first view of ``{name}``.")


def _gate_view(k: int, n_gates: int, what: str) -> property:
    def view(self):
        H = self.gates.shape[-1] // n_gates
        return self.gates[..., k * H:(k + 1) * H]

    return property(view, doc=f"{what} (block {k} of ``gates``); (N, H) for a step, "
                              f"(N, T, H) for a sequence.")


class GateViews:
    """Mixin: one read-only view per gate of a cache's ``gates`` array.

    A subclass names its cell's gates when it is defined,
    ``class GRUCache(GateViews, gates=GRU_GATES)``, and provides ``gates``
    (a field or a property) of shape (..., k*H) with the k blocks in that
    order; ``cache.r`` is then block 0, and so on. The names are in
    ``gate_names``.

    Taught in: Chapter 4, Long short-term memory.
    """

    gate_names = ()

    def __init_subclass__(cls, gates=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if gates is None:
            return
        cls.gate_names = tuple(name for name, _ in gates)
        for k, (name, what) in enumerate(gates):
            setattr(cls, name, _gate_view(k, len(gates), what))


class StepViews:
    """Mixin for a readable sequence cache: its ``steps``, seen as a sequence.

    The subclass holds ``steps``, the step caches in order, each with ``x``,
    ``h_prev``, ``Wx`` and ``Wh``.

    Taught in: Chapter 2, Backpropagation through time.
    """

    steps: list

    def stacked(self, name: str) -> np.ndarray:
        """The field ``name`` of every step cache, stacked along axis 1 (time).

        Args:
            name: a field of the step caches, e.g. ``"x"``.

        Returns:
            stacked: (N, T, ...), the field of step t at ``[:, t]``.
        """
        return np.stack([getattr(step, name) for step in self.steps], axis=1)

    @property
    def x(self):
        """The inputs, (N, T, D)."""
        return self.stacked("x")

    @property
    def h0(self):
        """The initial hidden state, (N, H)."""
        return self.steps[0].h_prev

    @property
    def Wx(self):
        """Input weights, (D, kH)."""
        return self.steps[0].Wx

    @property
    def Wh(self):
        """Recurrent weights, (H, kH)."""
        return self.steps[0].Wh


@dataclass
class SequenceCache:
    """The arrays every sequence cache of the fused kernels keeps.

    Attributes:
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H).
        Wx: input weights, (D, kH).
        Wh: recurrent weights, (H, kH).
        h: hidden states, (N, T, H); ``h[:, t]`` is the state after step t.

    Taught in: Chapter 2, Backpropagation through time.
    """

    x: np.ndarray
    h0: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    h: np.ndarray

    @property
    def h_prev(self):
        """The hidden state before every step, ``h0`` then ``h[:, :-1]``; (N, T, H)."""
        return np.concatenate((self.h0[:, None, :], self.h[:, :-1]), axis=1)


class CellGrads(NamedTuple):
    """Gradients of a one-bias cell over a sequence: RNN (k = 1) or LSTM (k = 4).

    ``rnn_backward``, ``lstm_backward`` and the RNN's kernel return it.

    Taught in: Chapter 2, Backpropagation through time.
    """

    #: gradient with respect to the inputs, (N, T, D).
    dx: np.ndarray
    #: gradient with respect to the initial hidden state, (N, H).
    dh0: np.ndarray
    #: gradient with respect to the input weights, (D, kH).
    dWx: np.ndarray
    #: gradient with respect to the recurrent weights, (H, kH).
    dWh: np.ndarray
    #: gradient with respect to the bias, (kH,).
    db: np.ndarray


class LSTMFullGrads(NamedTuple):
    """LSTM gradients with the initial cell state's gradient ``dc0`` after ``dh0``.

    The order is that of the step backward (the states before the
    parameters). ``lstm_backward_full`` and its kernel return it.

    Taught in: Chapter 4, Long short-term memory.
    """

    #: gradient with respect to the inputs, (N, T, D).
    dx: np.ndarray
    #: gradient with respect to the initial hidden state, (N, H).
    dh0: np.ndarray
    #: gradient with respect to the initial cell state, (N, H).
    dc0: np.ndarray
    #: gradient with respect to the input weights, (D, 4H).
    dWx: np.ndarray
    #: gradient with respect to the recurrent weights, (H, 4H).
    dWh: np.ndarray
    #: gradient with respect to the gate biases, (4H,).
    db: np.ndarray

    def without_dc0(self) -> CellGrads:
        """The five gradients of ``lstm_backward``, without ``dc0``.

        Returns:
            grads: :class:`CellGrads`.
        """
        return CellGrads(self.dx, self.dh0, self.dWx, self.dWh, self.db)


class GRUGrads(NamedTuple):
    """Gradients of a GRU over a sequence, from ``gru_backward`` and its variants.

    Taught in: Chapter 5, Gated recurrent units.
    """

    #: gradient with respect to the inputs, (N, T, D).
    dx: np.ndarray
    #: gradient with respect to the initial hidden state, (N, H).
    dh0: np.ndarray
    #: gradient with respect to the input weights, (D, 3H).
    dWx: np.ndarray
    #: gradient with respect to the recurrent weights, (H, 3H).
    dWh: np.ndarray
    #: gradient with respect to the input bias, (3H,).
    dbx: np.ndarray
    #: gradient with respect to the recurrent bias, (3H,).
    dbh: np.ndarray
