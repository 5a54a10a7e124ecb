"""The vanilla (Elman) recurrent layer with a tanh nonlinearity.

One step computes

    h = tanh(x Wx + h_prev Wh + b)

with ``x`` (N, D), ``h_prev`` and ``h`` (N, H), ``Wx`` (D, H), ``Wh`` (H, H)
and ``b`` (H,). The sequence functions run that step over ``x`` of shape
(N, T, D) and return every hidden state as one (N, T, H) array.

The step functions are the readable definition; the sequence functions give
the same numbers (up to rounding) but move everything that does not depend
on the recurrence out of the time loop: one matrix product computes the
input projections of all T steps, and after the backward loop one product
each gives ``dx``, ``dWx`` and ``dWh`` for all steps together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import Shapes, check_cache, check_steps, check_upstream
from rnnbook.nn.activations import tanh

__all__ = [
    "RNNStepCache",
    "RNNCache",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
]


@dataclass
class RNNStepCache:
    """What :func:`rnn_step_backward` needs from one forward step.

    Attributes:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        Wx: (D, H).  Wh: (H, H).
        h: the new hidden state, (N, H); ``1 - h**2`` is the derivative of tanh.
    """

    x: np.ndarray
    h_prev: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    h: np.ndarray


@dataclass
class RNNCache:
    """What :func:`rnn_backward` needs from :func:`rnn_forward`.

    Attributes:
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H).
        Wx: (D, H).  Wh: (H, H).
        h: all hidden states, (N, T, H); ``h[:, t]`` is the state after step t.
    """

    x: np.ndarray
    h0: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
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
    """
    s = Shapes()
    # Parameters first: a data array that disagrees with them is then the
    # one named in the error, which is nearly always where the mistake is.
    Wh = s.check("Wh", Wh, ("H", "H"))
    Wx = s.check("Wx", Wx, ("D", "H"))
    b = s.check("b", b, ("H",))
    x = s.check("x", x, ("N", "D"))
    h_prev = s.check("h_prev", h_prev, ("N", "H"))
    h = tanh(x @ Wx + h_prev @ Wh + b)
    return h, RNNStepCache(x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    """Backward pass of :func:`rnn_step_forward`.

    Args:
        dh: gradient of the loss with respect to the new hidden state, (N, H).
        cache: the :class:`RNNStepCache` returned by :func:`rnn_step_forward`.

    Returns:
        dx: (N, D).
        dh_prev: (N, H).
        dWx: (D, H).
        dWh: (H, H).
        db: (H,).
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
    """Run the tanh RNN over a whole sequence.

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
    """
    s = Shapes()
    Wh = s.check("Wh", Wh, ("H", "H"))
    Wx = s.check("Wx", Wx, ("D", "H"))
    b = s.check("b", b, ("H",))
    x = s.check("x", x, ("N", "T", "D"))
    h0 = s.check("h0", h0, ("N", "H"))
    N, T, D, H = s["N"], s["T"], s["D"], s["H"]
    check_steps(T)

    # The input projections do not depend on the recurrence: one (N*T, D) x (D, H)
    # product replaces T small ones.
    xw = (x.reshape(N * T, D) @ Wx).reshape(N, T, H) + b
    h = np.empty((N, T, H), dtype=x.dtype)
    h_prev = h0
    for t in range(T):
        h[:, t] = tanh(xw[:, t] + h_prev @ Wh)
        h_prev = h[:, t]
    return h, RNNCache(x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    """Backpropagation through time for :func:`rnn_forward`.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H).
            Only the loss's direct dependence on ``h[:, t]`` goes here; the
            part that flows back through later steps is added by this function.
        cache: the :class:`RNNCache` returned by :func:`rnn_forward`.

    Returns:
        dx: (N, T, D).
        dh0: (N, H).
        dWx: (D, H).
        dWh: (H, H).
        db: (H,).
    """
    c = check_cache("cache", cache, RNNCache, "rnn_forward")
    dh = check_upstream("dh", dh, c.h.shape, c.h.dtype, "rnn_forward")
    N, T, H = c.h.shape
    D = c.x.shape[2]

    # Only this loop is sequential: the gradient reaching step t from step
    # t + 1 needs the pre-activation gradient of step t + 1.
    da = np.empty_like(c.h)  # gradient w.r.t. the pre-activation of every step
    dh_next = np.zeros((N, H), dtype=c.h.dtype)
    for t in range(T - 1, -1, -1):
        h_t = c.h[:, t]
        da[:, t] = (dh[:, t] + dh_next) * (1 - h_t * h_t)
        dh_next = da[:, t] @ c.Wh.T

    # Every weight gradient is a sum over steps, i.e. one product over N*T rows.
    da2 = da.reshape(N * T, H)
    h_prev = np.concatenate((c.h0[:, None, :], c.h[:, :-1]), axis=1).reshape(N * T, H)
    dx = (da2 @ c.Wx.T).reshape(N, T, D)
    dWx = c.x.reshape(N * T, D).T @ da2
    dWh = h_prev.T @ da2
    db = da2.sum(axis=0)
    return dx, dh_next, dWx, dWh, db
