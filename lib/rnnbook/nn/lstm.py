"""The long short-term memory (LSTM) layer.

One step computes four gate pre-activations with one product each for the
input and the previous hidden state,

    a = x Wx + h_prev Wh + b          a: (N, 4H), column blocks [i | f | g | o]
    i = sigmoid(a_i)   input gate
    f = sigmoid(a_f)   forget gate
    g = tanh(a_g)      candidate cell values
    o = sigmoid(a_o)   output gate
    c = f * c_prev + i * g
    h = o * tanh(c)

with ``Wx`` (D, 4H), ``Wh`` (H, 4H) and ``b`` (4H,). The block order i, f, g, o
is the one PyTorch uses, so its weights can be loaded after a transpose (see
:mod:`rnnbook.interop`).

Everything here is written to be read: the sequence functions are a plain
loop over the step functions. The same computation organised for speed
(time-major states updated in place, one product for all input projections
and one for each weight gradient) is :func:`rnnbook.nn.kernels.lstm_forward_fast`
and :func:`~rnnbook.nn.kernels.lstm_backward_fast`, which training uses.

The cache of :func:`lstm_forward` keeps the gates and cell states of every
step, so they can be inspected or plotted::

    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    cache.f        # forget gate, (N, T, H)
    cache.c        # cell states, (N, T, H)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import (Shapes, check_cache, check_cell_inputs, check_cell_params,
                            check_upstream)
from rnnbook.nn.activations import sigmoid, tanh
from rnnbook.nn.records import LSTM_GATES, GateViews, LSTMFullGrads, StepViews

__all__ = ["LSTMStepCache", "LSTMCache", "lstm_step_forward", "lstm_step_backward",
           "lstm_forward", "lstm_backward", "lstm_backward_full"]


@dataclass
class LSTMStepCache:
    """What :func:`lstm_step_backward` needs from one forward step.

    Attributes:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        c_prev: previous cell state, (N, H).
        Wx: input-to-gates weights, (D, 4H).
        Wh: hidden-to-gates weights, (H, 4H).
        i: input gate, (N, H).
        f: forget gate, (N, H).
        g: candidate cell values, (N, H).
        o: output gate, (N, H).
        c: new cell state, (N, H).
        tanh_c: ``tanh(c)``, (N, H), kept so backward need not recompute it.

    Taught in: Chapter 4, Long short-term memory.
    """

    x: np.ndarray
    h_prev: np.ndarray
    c_prev: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    tanh_c: np.ndarray


@dataclass
class LSTMCache(StepViews, GateViews, gates=LSTM_GATES):
    """What :func:`lstm_backward` needs from :func:`lstm_forward`, and the
    gates and cell states of every step for inspection.

    Attributes:
        steps: the :class:`LSTMStepCache` of every step, in order.
        h: hidden states, (N, T, H) (the array ``lstm_forward`` returned).

    Stacked over the steps, as properties: ``x`` (N, T, D), ``h0`` and
    ``c0`` (N, H), the cell states ``c`` and their ``tanh_c`` (N, T, H),
    ``gates`` (N, T, 4H) with blocks [i | f | g | o], and one view per gate,
    ``i``, ``f``, ``g``, ``o`` (N, T, H).

    Taught in: Chapter 4, Long short-term memory.
    """

    steps: list
    h: np.ndarray

    c = property(lambda self: self.stacked("c"),
                 doc="Cell state after every step, (N, T, H).")
    tanh_c = property(lambda self: self.stacked("tanh_c"),
                      doc="``tanh(c)`` of every step, (N, T, H).")

    @property
    def c0(self):
        """The initial cell state, (N, H)."""
        return self.steps[0].c_prev

    @property
    def gates(self):
        """Gate activations of every step, (N, T, 4H), blocks [i | f | g | o]."""
        blocks = [np.concatenate((k.i, k.f, k.g, k.o), axis=1) for k in self.steps]
        return np.stack(blocks, axis=1)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step.

    Args:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        c_prev: previous cell state, (N, H).
        Wx: input-to-gates weights, (D, 4H), column blocks [i | f | g | o].
        Wh: hidden-to-gates weights, (H, 4H), same blocks.
        b: gate biases, (4H,), same blocks.

    Returns:
        h: new hidden state, (N, H).
        c: new cell state, (N, H).
        cache: :class:`LSTMStepCache` for :func:`lstm_step_backward`.

    Taught in: Chapter 4, Long short-term memory.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 4, Wx=Wx, Wh=Wh, b=b)
    x, h_prev, c_prev = check_cell_inputs(s, x, sequence=False, h_prev=h_prev,
                                          c_prev=c_prev)
    H = s["H"]

    a = x @ Wx + h_prev @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = tanh(c)
    h = o * tanh_c
    return h, c, LSTMStepCache(x, h_prev, c_prev, Wx, Wh, i, f, g, o, c, tanh_c)


def lstm_step_backward(dh, dc, cache):
    """Backward pass of :func:`lstm_step_forward`.

    Args:
        dh: gradient with respect to the new hidden state, (N, H).
        dc: gradient with respect to the new cell state, (N, H), from the
            next step (zeros after the last step).
        cache: the :class:`LSTMStepCache` returned by :func:`lstm_step_forward`.

    Returns:
        dx: gradient with respect to the input, (N, D).
        dh_prev: gradient with respect to the previous hidden state, (N, H).
        dc_prev: gradient with respect to the previous cell state, (N, H).
        dWx: this step's share of the input weights' gradient, (D, 4H).
        dWh: this step's share of the recurrent weights' gradient, (H, 4H).
        db: this step's share of the bias gradient, (4H,).

    Taught in: Chapter 4, Long short-term memory.
    """
    k = check_cache("cache", cache, LSTMStepCache, "lstm_step_forward")
    dh = check_upstream("dh", dh, k.c.shape, k.c.dtype, "lstm_step_forward")
    dc = check_upstream("dc", dc, k.c.shape, k.c.dtype, "lstm_step_forward")

    # c reaches the loss directly (through dc) and through h = o * tanh(c).
    dc = dc + dh * k.o * (1 - k.tanh_c * k.tanh_c)
    di = dc * k.g
    df = dc * k.c_prev
    dg = dc * k.i
    do = dh * k.tanh_c
    dc_prev = dc * k.f
    # Back through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - t**2.
    da = np.concatenate(
        (di * k.i * (1 - k.i), df * k.f * (1 - k.f), dg * (1 - k.g * k.g), do * k.o * (1 - k.o)),
        axis=1,
    )
    dx = da @ k.Wx.T
    dh_prev = da @ k.Wh.T
    dWx = k.x.T @ da
    dWh = k.h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """Run the LSTM over a whole sequence, one :func:`lstm_step_forward` per step.

    This is the definition, written for reading; training uses
    :func:`rnnbook.nn.kernels.lstm_forward_fast`, which gives the same numbers.

    Args:
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H).
        Wx: input-to-gates weights, (D, 4H), column blocks [i | f | g | o].
        Wh: hidden-to-gates weights, (H, 4H).
        b: gate biases, (4H,).
        c0: initial cell state, (N, H); ``None`` means zeros.

    Returns:
        h: hidden states of every step, (N, T, H).
        cache: :class:`LSTMCache` for :func:`lstm_backward`; its properties
            ``i``, ``f``, ``g``, ``o``, ``c`` (each (N, T, H)) hold the gates
            and cell states of every step.

    Taught in: Chapter 4, Long short-term memory.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 4, Wx=Wx, Wh=Wh, b=b)
    x, h0 = check_cell_inputs(s, x, h0=h0)
    c0 = np.zeros_like(h0) if c0 is None else s.check("c0", c0, ("N", "H"))
    N, T, H = s["N"], s["T"], s["H"]

    h = np.empty((N, T, H), dtype=x.dtype)
    steps = []
    h_t, c_t = h0, c0
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, Wx, Wh, b)
        h[:, t] = h_t
        steps.append(step)
    return h, LSTMCache(steps, h)


def lstm_backward(dh, cache):
    """Backpropagation through time for :func:`lstm_forward`, one step at a time.

    The cell states reach the loss only through the hidden states here; when
    they reach it directly as well (a cell state handed on to a decoder, or
    the gradient of ``c0`` is wanted), use :func:`lstm_backward_full`.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H)
            (its direct dependence only; the part flowing back through later
            steps is added here).
        cache: the :class:`LSTMCache` returned by :func:`lstm_forward`.

    Returns:
        grads: :class:`~rnnbook.nn.records.CellGrads`, which unpacks as
            ``dx, dh0, dWx, dWh, db``: the gradients with respect to ``x``
            (N, T, D), ``h0`` (N, H), ``Wx`` (D, 4H), ``Wh`` (H, 4H), ``b`` (4H,).

    Taught in: Chapter 4, Long short-term memory.
    """
    return lstm_backward_full(dh, cache).without_dc0()


def lstm_backward_full(dh, cache, dc=None):
    """Backpropagation through time for :func:`lstm_forward`, through both states.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H)
            (its direct dependence only, as in :func:`lstm_backward`).
        cache: the :class:`LSTMCache` returned by :func:`lstm_forward`.
        dc: gradient of the loss with respect to every cell state
            ``cache.c``, (N, T, H), again its direct dependence only; ``None``
            means zeros. A last cell state passed on to a decoder puts its
            gradient at ``dc[:, -1]``.

    Returns:
        grads: :class:`~rnnbook.nn.records.LSTMFullGrads`, which unpacks as
            ``dx, dh0, dc0, dWx, dWh, db``: the gradients with respect to
            ``x`` (N, T, D), ``h0`` and ``c0`` (N, H each), ``Wx`` (D, 4H),
            ``Wh`` (H, 4H) and ``b`` (4H,).

    Taught in: Chapter 4, Long short-term memory.
    """
    k = check_cache("cache", cache, LSTMCache, "lstm_forward")
    dtype = k.h.dtype
    dh = check_upstream("dh", dh, k.h.shape, dtype, "lstm_forward")
    if dc is not None:
        dc = check_upstream("dc", dc, k.h.shape, dtype, "lstm_forward (cell states)")
    N, T, H = k.h.shape
    D = k.steps[0].x.shape[1]

    dx = np.empty((N, T, D), dtype=dtype)
    dWx, dWh, db = 0, 0, 0
    # dh_next and dc_next carry the gradients that reach step t's states
    # through step t + 1.
    dh_next = np.zeros((N, H), dtype=dtype)
    dc_next = np.zeros((N, H), dtype=dtype)
    for t in range(T - 1, -1, -1):
        dc_t = dc_next if dc is None else dc_next + dc[:, t]
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dh_next, dc_t, k.steps[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return LSTMFullGrads(dx, dh_next, dc_next, dWx, dWh, db)
