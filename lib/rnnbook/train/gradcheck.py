"""Finite-difference gradient checking.

Every backward function in the book is checked against these numerical
gradients, and students use the same two functions on their own code:

>>> dx_num = numerical_gradient(lambda x: rnn_forward(x, h0, Wx, Wh, b)[0], x, dh)
>>> rel_error(dx, dx_num) < 1e-7
True
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ['numerical_gradient', 'rel_error']


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                       dout: np.ndarray | None = None, h: float = 1e-6) -> np.ndarray:
    """Centered finite-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Args:
        f: function of ``x`` alone (close over the other arguments). It may
            return a scalar or an array.
        x: array of any shape, float64 for meaningful precision. It is
            perturbed in place one entry at a time and restored afterwards.
        dout: upstream gradient, same shape as ``f(x)``; ``None`` means
            ``f`` returns a scalar loss.
        h: step size. The centered difference has truncation error of order
            h**2 and round-off error of order eps / h; 1e-6 balances the two
            in float64.

    Returns:
        grad: array with the shape of ``x``.

    Taught in: Chapter 2, Backpropagation through time.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError("x must be a floating-point numpy array, perturbed in place")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        plus = _weighted(f(x), dout)
        x[idx] = old - h
        minus = _weighted(f(x), dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def _weighted(value, dout) -> float:
    value = np.asarray(value, dtype=np.float64)
    if dout is None:
        if value.size != 1:
            raise ValueError(
                f"f returned an array of shape {value.shape}; pass dout of that shape"
            )
        return float(value)
    dout = np.asarray(dout)
    if dout.shape != value.shape:
        raise ValueError(f"dout has shape {dout.shape} but f(x) has shape {value.shape}")
    return float(np.sum(value * dout))


def rel_error(a, b) -> float:
    """Relative error between two arrays, scaled by their largest entry.

    ``max|a - b| / max(max|a|, max|b|)``. Scaling by the largest entry rather
    than entry by entry keeps tiny gradient components, whose finite
    differences are dominated by round-off, from producing misleading ratios.
    Returns 0.0 when both arrays are all zeros.

    Taught in: Chapter 2, Backpropagation through time.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"arrays have different shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)
