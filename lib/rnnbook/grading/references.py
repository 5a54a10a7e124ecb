"""Reference solutions of graded functions that the library does not define.

The graded functions of the recurrent layers and of gradient clipping are
the library's own (:mod:`rnnbook.nn.rnn`, :mod:`rnnbook.nn.lstm`,
:mod:`rnnbook.nn.gru`, :func:`rnnbook.train.optim.clip_grad_norm`). Exercise 3 also
asks for the two deterministic halves of temperature sampling; their
reference versions live here. Like every graded reference, they are
unavailable inside a grading kernel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax_with_temperature", "sample_from_probs"]


def softmax_with_temperature(logits, temperature):
    """Softmax of ``logits / temperature`` along the last axis.

    Args:
        logits: float array (..., V), for instance (V,) or (N, V).
        temperature: positive float; below 1 sharpens, above 1 flattens.

    Returns:
        probs: array with the shape and dtype of ``logits``; every slice
            along the last axis sums to 1.
    """
    logits = np.asarray(logits)
    if logits.dtype not in (np.float32, np.float64):
        raise ValueError(f"logits has dtype {logits.dtype} but needs float32 or float64")
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature is {temperature} but needs to be > 0")
    # Dividing in float64 keeps a tiny temperature from overflowing float32;
    # subtracting the row maximum keeps every exponent at or below zero.
    z = logits.astype(np.float64) / temperature
    z -= np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / np.sum(e, axis=-1, keepdims=True)).astype(logits.dtype)


def sample_from_probs(probs, u):
    """Inverse-CDF sampling: turn uniform numbers into category ids.

    Row ``n`` picks the first index ``i`` whose cumulative probability
    ``probs[n, 0] + ... + probs[n, i]`` exceeds ``u[n]``. With ``u[n]``
    drawn uniformly from [0, 1) this draws ``i`` with probability
    ``probs[n, i]``, and given ``u`` the result is deterministic. An index
    with probability zero is never chosen; rounding that leaves the last
    cumulative sum just below ``u[n]`` gives the last index with a
    non-zero probability.

    Args:
        probs: (N, V), non-negative rows that sum to 1.
        u: (N,), numbers in [0, 1).

    Returns:
        ids: int64 array (N,).
    """
    probs = np.asarray(probs, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if probs.ndim != 2 or u.shape != probs.shape[:1]:
        raise ValueError(f"probs (N, V) and u (N,) expected, got {probs.shape} and {u.shape}")
    cdf = np.cumsum(probs, axis=1)
    ids = np.sum(cdf <= u[:, None], axis=1)
    last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.minimum(ids, last).astype(np.int64)
