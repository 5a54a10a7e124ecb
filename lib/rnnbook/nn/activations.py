"""Element-wise activations and the softmax family, numerically stable.

Each function keeps the dtype of its input and stays finite, without
floating-point warnings, for inputs as large as +-1e4 (far beyond what a
healthy network produces, but exactly what an exploding one does).
"""

from __future__ import annotations

import numpy as np

__all__ = ['sigmoid', 'tanh', 'softmax', 'log_softmax']


def _as_float(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"x has dtype {x.dtype} but needs float32 or float64")
    return x


def sigmoid(x) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), computed without overflow.

    ``exp(-x)`` overflows for very negative x, so that branch is rewritten as
    ``exp(x) / (1 + exp(x))``; each branch only exponentiates non-positive
    numbers. Shape and dtype of ``x`` are kept.

    Taught in: Chapter 4, Long short-term memory.
    """
    x = _as_float(x)
    e = np.exp(-np.abs(x))  # in (0, 1], never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def tanh(x) -> np.ndarray:
    """Hyperbolic tangent (numpy's is already stable); shape and dtype kept.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    return np.tanh(_as_float(x))


def softmax(x, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``; rows sum to 1. Shape and dtype of ``x`` kept.

    Subtracting the maximum first leaves the result unchanged and keeps every
    exponent at or below zero.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    x = _as_float(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """Logarithm of the softmax along ``axis``, without forming the softmax.

    ``log_softmax(x) = z - log(sum(exp(z)))`` with ``z = x - max(x)``, which is
    finite even where the softmax itself underflows to 0.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    x = _as_float(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
