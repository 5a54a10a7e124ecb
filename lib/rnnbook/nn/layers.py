"""Layers around the recurrent core: embeddings, affine maps and losses.

A recurrent model reads token ids through an embedding, runs a cell over
time, maps every hidden state to scores with a temporal affine layer and is
trained with a (masked) softmax cross-entropy. These are the pieces other
than the cell. Forward functions return ``(out, cache)``; backward functions
take the upstream gradient and that cache. Losses return ``(loss, dinput)``
directly, since nothing flows into them from above.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnbook.checks import (Shapes, check_cache, check_ids_below, check_int,
                            check_upstream)
from rnnbook.nn.activations import log_softmax

__all__ = [
    "embedding_forward",
    "embedding_backward",
    "one_hot",
    "affine_forward",
    "affine_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "softmax_cross_entropy",
    "mse_loss",
]


class EmbeddingCache(NamedTuple):
    idx: np.ndarray
    W: np.ndarray


class AffineCache(NamedTuple):
    x: np.ndarray
    W: np.ndarray


class TemporalAffineCache(NamedTuple):
    x: np.ndarray
    W: np.ndarray


# -- embedding ------------------------------------------------------------------
def one_hot(ids, V: int, dtype=np.float64) -> np.ndarray:
    """One-hot encoding of integer ids: the embedding by an identity matrix.

    Args:
        ids: integer array of any shape, e.g. (N, T); each entry in [0, V).
        V: vocabulary size.
        dtype: float dtype of the result.

    Returns:
        out: array of shape ``ids.shape + (V,)`` with ``out[..., i] = 1``
            where ``ids == i`` and 0 elsewhere.

    Taught in: Chapter 2, Backpropagation through time.
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids has dtype {ids.dtype} but needs an integer dtype")
    V = check_int("V", V, 1)
    check_ids_below(ids, V)
    out = np.zeros(ids.shape + (V,), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out



def embedding_forward(idx, W):
    """Look up one row of ``W`` per token id.

    Equivalent to multiplying a one-hot encoding of ``idx`` by ``W``, without
    building the one-hot matrix.

    Args:
        idx: integer token ids of any shape, e.g. (N, T); each in [0, V).
        W: embedding matrix, (V, D).

    Returns:
        out: ``idx.shape + (D,)``, e.g. (N, T, D); dtype of ``W``.
        cache: for :func:`embedding_backward`.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    idx = np.asarray(idx)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"idx has dtype {idx.dtype} but needs an integer dtype (token ids)")
    W = Shapes().check("W", W, ("V", "D"))
    V = W.shape[0]
    check_ids_below(idx, V, "idx", f" of W (V, D) = {W.shape}")
    return W[idx], EmbeddingCache(idx, W)


def embedding_backward(dout, cache):
    """Gradient of the embedding matrix.

    A token that occurs several times in the batch receives the sum of the
    gradients of all its occurrences; ``np.add.at`` accumulates repeated
    indices, where ``dW[idx] += dout`` would keep only one of them.

    Args:
        dout: ``idx.shape + (D,)``, gradient with respect to the output.
        cache: from :func:`embedding_forward`.

    Returns:
        dW: (V, D).

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    idx, W = check_cache("cache", cache, EmbeddingCache, "embedding_forward")
    D = W.shape[1]
    dout = check_upstream("dout", dout, idx.shape + (D,), W.dtype, "embedding_forward")
    dW = np.zeros_like(W)
    np.add.at(dW, idx.reshape(-1), dout.reshape(-1, D))
    return dW


# -- affine ---------------------------------------------------------------------

def affine_forward(x, W, b):
    """Affine map ``out = x W + b`` of a batch of vectors.

    Args:
        x: (N, D).
        W: (D, M).
        b: (M,).

    Returns:
        out: (N, M).
        cache: for :func:`affine_backward`.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    s = Shapes()
    x = s.check("x", x, ("N", "D"))
    W = s.check("W", W, ("D", "M"))
    b = s.check("b", b, ("M",))
    return x @ W + b, AffineCache(x, W)


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    Args:
        dout: (N, M).
        cache: from :func:`affine_forward`.

    Returns:
        dx: (N, D).
        dW: (D, M).
        db: (M,).

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    x, W = check_cache("cache", cache, AffineCache, "affine_forward")
    dout = check_upstream("dout", dout, (x.shape[0], W.shape[1]), x.dtype, "affine_forward")
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def temporal_affine_forward(x, W, b):
    """The same affine map applied at every time step: ``out[:, t] = x[:, t] W + b``.

    All N*T vectors go through one matrix product, which is what makes this
    faster than a loop over time.

    Args:
        x: (N, T, D).
        W: (D, M).
        b: (M,).

    Returns:
        out: (N, T, M).
        cache: for :func:`temporal_affine_backward`.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    W = s.check("W", W, ("D", "M"))
    b = s.check("b", b, ("M",))
    N, T, D, M = s["N"], s["T"], s["D"], s["M"]
    out = (x.reshape(N * T, D) @ W + b).reshape(N, T, M)
    return out, TemporalAffineCache(x, W)


def temporal_affine_backward(dout, cache):
    """Backward pass of :func:`temporal_affine_forward`.

    The weights are shared across time, so their gradient sums over all
    N*T positions -- again a single matrix product.

    Args:
        dout: (N, T, M).
        cache: from :func:`temporal_affine_forward`.

    Returns:
        dx: (N, T, D).
        dW: (D, M).
        db: (M,).

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    x, W = check_cache("cache", cache, TemporalAffineCache, "temporal_affine_forward")
    N, T, D = x.shape
    M = W.shape[1]
    dout = check_upstream("dout", dout, (N, T, M), x.dtype, "temporal_affine_forward")
    d2 = dout.reshape(N * T, M)
    dx = (d2 @ W.T).reshape(N, T, D)
    dW = x.reshape(N * T, D).T @ d2
    return dx, dW, d2.sum(axis=0)


# -- losses ---------------------------------------------------------------------

def _as_position_mask(mask, shape) -> np.ndarray:
    """A bool array of ``shape`` from a bool or 0/1 mask (None = all ones)."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask has shape {mask.shape} but needs {tuple(shape)}")
    if mask.dtype == np.bool_:
        return mask
    if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must be boolean or contain only 0 and 1")
    return mask != 0


def softmax_cross_entropy(logits, y, mask=None):
    """Mean negative log-likelihood of the labels under a softmax, with padding.

    ``loss = -(1/K) * sum over real positions p of log softmax(logits[p])[y[p]]``
    where K is the number of real (unmasked) positions. Averaging over real
    positions rather than over N*T keeps the loss of a batch independent of
    how much padding it happens to contain.

    Padded positions are ignored completely: their logits and labels are
    never read, so any label there (a padding id such as -1, say) is fine,
    and their gradient is exactly 0.

    Args:
        logits: unnormalised scores, (N, T, V) for sequences or (N, V).
        y: integer labels, (N, T) or (N,); each real one in [0, V).
        mask: None (every position is real) or bool / 0-1 array with the
            shape of ``y``; True (1) marks a real position, False (0) padding.

    Returns:
        loss: Python float, the mean over real positions.
        dlogits: gradient of ``loss`` with respect to ``logits``; same shape
            and dtype as ``logits``.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    s = Shapes()
    logits = np.asarray(logits)
    if logits.ndim == 3:
        logits = s.check("logits", logits, ("N", "T", "V"))
        y = s.check("y", y, ("N", "T"), dtype="int")
    elif logits.ndim == 2:
        logits = s.check("logits", logits, ("N", "V"))
        y = s.check("y", y, ("N",), dtype="int")
    else:
        raise ValueError(f"logits has shape {logits.shape} but needs (N, T, V) or (N, V)")
    V = s["V"]
    real = _as_position_mask(mask, y.shape)
    rows = np.flatnonzero(real)
    if rows.size == 0:
        raise ValueError("mask marks every position as padding; there is nothing to average")
    labels = y.reshape(-1)[rows]
    bad = (labels < 0) | (labels >= V)
    if bad.any():
        raise ValueError(
            f"y contains label {labels[bad][0]} at a real position, outside [0, V) = [0, {V})"
        )
    # Only the real rows go through the softmax, so padded rows are never read.
    flat = logits.reshape(-1, V)
    logp = log_softmax(flat[rows])                    # (K, V)
    K = rows.size
    loss = -float(logp[np.arange(K), labels].sum()) / K
    dreal = np.exp(logp)                              # softmax of the real rows
    dreal[np.arange(K), labels] -= 1.0
    dreal /= K
    dflat = np.zeros_like(flat)
    dflat[rows] = dreal
    return loss, dflat.reshape(logits.shape)


def mse_loss(pred, target, mask=None):
    """Mean squared error over real entries, ``(1/K) * sum (pred - target)**2``.

    There is no factor 1/2: the loss is the plain mean of squared errors, so
    it reads directly as a variance-like quantity in the data's units squared.

    Args:
        pred: predictions, any shape, e.g. (N, T, D) or (N, T).
        target: same shape and dtype as ``pred``.
        mask: None or bool / 0-1 array with the shape of ``pred`` or of its
            leading axes (e.g. (N, T) for pred (N, T, D), marking real time
            steps); it is broadcast over the remaining axes. K is the number
            of real entries after broadcasting.

    Returns:
        loss: Python float.
        dpred: gradient with respect to ``pred``; shape and dtype of ``pred``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    s = Shapes()
    pred = np.asarray(pred)
    pred = s.check("pred", pred, pred.shape)
    target = s.check("target", target, pred.shape)
    if mask is None:
        real = np.ones(pred.shape, dtype=bool)
    else:
        m = np.asarray(mask)
        if m.shape != pred.shape[:m.ndim]:
            raise ValueError(
                f"mask has shape {m.shape} but needs the shape of pred {pred.shape} "
                f"or of its leading axes"
            )
        m = _as_position_mask(m, m.shape)
        real = np.broadcast_to(m.reshape(m.shape + (1,) * (pred.ndim - m.ndim)), pred.shape)
    K = int(real.sum())
    if K == 0:
        raise ValueError("mask marks every entry as padding; there is nothing to average")
    # Subtract only at real entries, so that whatever sits in the padding
    # (even inf or nan) never reaches the loss or the gradient.
    diff = np.zeros_like(pred)
    diff[real] = pred[real] - target[real]
    loss = float(np.sum(diff * diff)) / K
    return loss, diff * (2.0 / K)
