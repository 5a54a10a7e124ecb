"""The vanilla (Elman) recurrent layer with a tanh nonlinearity.

One step computes

    h = tanh(x Wx + h_prev Wh + b)

with ``x`` (N, D), ``h_prev`` and ``h`` (N, H), ``Wx`` (D, H), ``Wh`` (H, H)
and ``b`` (H,). The sequence functions run that step over ``x`` of shape
(N, T, D) and return every hidden state as one (N, T, H) array.

Everything here is written to be read: the sequence functions are a plain
loop over the step functions. The same computation organised for speed (one
matrix product for the input projections of all T steps, one for each weight
gradient) is :func:`rnnbook.nn.kernels.rnn_forward_fast` and
:func:`~rnnbook.nn.kernels.rnn_backward_fast`, which training uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import (Shapes, check_cache, check_cell_inputs, check_cell_params,
                            check_upstream)
from rnnbook.nn.activations import tanh
from rnnbook.nn.records import CellGrads, StepViews

__all__ = ["RNNStepCache", "RNNCache", "rnn_step_forward", "rnn_step_backward",
           "rnn_forward", "rnn_backward"]


@dataclass
class RNNStepCache:
    """What :func:`rnn_step_backward` needs from one forward step.

    Attributes:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        Wx: input-to-hidden weights, (D, H).
        Wh: hidden-to-hidden weights, (H, H).
        h: the new hidden state, (N, H); ``1 - h**2`` is the derivative of tanh.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """

    x: np.ndarray
    h_prev: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    h: np.ndarray


@dataclass
class RNNCache(StepViews):
    """What :func:`rnn_backward` needs from :func:`rnn_forward`.

    Attributes:
        steps: the :class:`RNNStepCache` of every step, in order.
        h: all hidden states, (N, T, H); ``h[:, t]`` is the state after step t.

    The inputs ``x`` (N, T, D), ``h0`` (N, H), ``Wx`` and ``Wh`` are
    properties (:class:`~rnnbook.nn.records.StepViews`).

    Taught in: Chapter 2, Backpropagation through time.
    """

    steps: list
    h: np.ndarray


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One step of the tanh RNN: ``h = tanh(x Wx + h_prev Wh + b)``.

    Args:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        Wx: input-to-hidden weights, (D, H).
        Wh: hidden-to-hidden weights, (H, H).
        b: bias, (H,).

    Returns:
        h: new hidden state, (N, H), in the dtype of the inputs.
        cache: :class:`RNNStepCache` for :func:`rnn_step_backward`.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 1, Wx=Wx, Wh=Wh, b=b)
    x, h_prev = check_cell_inputs(s, x, sequence=False, h_prev=h_prev)
    h = tanh(x @ Wx + h_prev @ Wh + b)
    return h, RNNStepCache(x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    """Backward pass of :func:`rnn_step_forward`.

    Args:
        dh: gradient of the loss with respect to the new hidden state, (N, H).
        cache: the :class:`RNNStepCache` returned by :func:`rnn_step_forward`.

    Returns:
        dx: gradient with respect to the input, (N, D).
        dh_prev: gradient with respect to the previous hidden state, (N, H).
        dWx: this step's share of the input weights' gradient, (D, H).
        dWh: this step's share of the recurrent weights' gradient, (H, H).
        db: this step's share of the bias gradient, (H,).

    Taught in: Chapter 2, Backpropagation through time.
    """
    c = check_cache("cache", cache, RNNStepCache, "rnn_step_forward")
    dh = check_upstream("dh", dh, c.h.shape, c.h.dtype, "rnn_step_forward")
    # tanh'(a) = 1 - tanh(a)**2, and tanh(a) is the stored output.
    da = dh * (1 - c.h * c.h)
    dx = da @ c.Wx.T
    dh_prev = da @ c.Wh.T
    dWx = c.x.T @ da
    dWh = c.h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """Run the tanh RNN over a whole sequence, one :func:`rnn_step_forward` per step.

    This is the definition, written for reading; training uses
    :func:`rnnbook.nn.kernels.rnn_forward_fast`, which gives the same numbers.

    Args:
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H).
        Wx: input-to-hidden weights, (D, H).
        Wh: hidden-to-hidden weights, (H, H).
        b: bias, (H,).

    Returns:
        h: hidden states of every step, (N, T, H); ``h[:, t]`` follows input
            ``x[:, t]``.
        cache: :class:`RNNCache` for :func:`rnn_backward`.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 1, Wx=Wx, Wh=Wh, b=b)
    x, h0 = check_cell_inputs(s, x, h0=h0)
    N, T, H = s["N"], s["T"], s["H"]

    h = np.empty((N, T, H), dtype=x.dtype)
    steps = []
    h_t = h0
    for t in range(T):
        h_t, step = rnn_step_forward(x[:, t], h_t, Wx, Wh, b)
        h[:, t] = h_t
        steps.append(step)
    return h, RNNCache(steps, h)


def rnn_backward(dh, cache):
    """Backpropagation through time for :func:`rnn_forward`, one step at a time.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H).
            Only the loss's direct dependence on ``h[:, t]`` goes here; the
            part that flows back through later steps is added by this function.
        cache: the :class:`RNNCache` returned by :func:`rnn_forward`.

    Returns:
        grads: :class:`~rnnbook.nn.records.CellGrads`, which unpacks as
            ``dx, dh0, dWx, dWh, db``: the gradients with respect to ``x``
            (N, T, D), ``h0`` (N, H), ``Wx`` (D, H), ``Wh`` (H, H) and ``b`` (H,).

    Taught in: Chapter 2, Backpropagation through time.
    """
    c = check_cache("cache", cache, RNNCache, "rnn_forward")
    dh = check_upstream("dh", dh, c.h.shape, c.h.dtype, "rnn_forward")
    N, T, H = c.h.shape

    dx = np.empty_like(c.x)
    dWx, dWh, db = 0, 0, 0
    # dh_next carries the gradient that reaches h[:, t] through step t + 1.
    dh_next = np.zeros((N, H), dtype=c.h.dtype)
    for t in range(T - 1, -1, -1):
        dx[:, t], dh_next, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dh_next,
                                                                   c.steps[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return CellGrads(dx, dh_next, dWx, dWh, db)
