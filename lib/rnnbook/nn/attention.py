"""Attention: score every key against every query, softmax, mix the values.

Shapes, batch-first as everywhere in the library:

- queries ``q``: (N, Tq, d)   -- e.g. decoder states, one per output step
- keys ``k``:    (N, Tk, d)   -- e.g. encoder states, one per input step
- values ``v``:  (N, Tk, dv)  -- often the keys themselves
- ``weights``:   (N, Tq, Tk)  -- row ``[n, i]`` is a distribution over keys
- ``out``:       (N, Tq, dv)  -- ``out[n, i] = sum_j weights[n, i, j] v[n, j]``

Two score functions are implemented:

- dot product (Luong et al. 2015; scaled by ``1/sqrt(d)`` in Vaswani et al.
  2017): ``score[n, i, j] = scale * q[n, i] . k[n, j]``;
- additive (Bahdanau et al. 2015):
  ``score[n, i, j] = w . tanh(q[n, i] Wq + k[n, j] Wk)``.

Masks. ``mask`` is a boolean array broadcastable to (N, Tq, Tk) with
``True`` where query ``i`` may look at key ``j``. Usual shapes: (N, 1, Tk)
to hide padded keys of each sequence, (Tq, Tk) for a pattern shared by the
batch (a causal mask, say). Masked weights are exactly 0, not merely tiny,
and every row still sums to 1. A query row that may attend to no key at all
has no meaningful distribution, so it raises ``ValueError``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from rnnbook.checks import Shapes, check_cache

__all__ = [
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "dot_product_attention",
    "additive_attention",
    "additive_attention_backward",
    "masked_softmax",
]


class DotProductCache(NamedTuple):
    """What :func:`scaled_dot_product_attention_backward` needs.

    Taught in: Part III, Attention.
    """

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    weights: np.ndarray
    scale: float


class AdditiveCache(NamedTuple):
    """What :func:`additive_attention_backward` needs.

    Taught in: Part III, Attention.
    """

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    Wq: np.ndarray
    Wk: np.ndarray
    w: np.ndarray
    hidden: np.ndarray  # tanh(q Wq + k Wk), (N, Tq, Tk, A)
    weights: np.ndarray


# -- shared pieces -----------------------------------------------------------

def _check_mask(mask, N: int, Tq: int, Tk: int) -> np.ndarray | None:
    """Return ``mask`` broadcast to (N, Tq, Tk), or None for "attend everywhere"."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"mask has dtype {mask.dtype} but needs dtype bool (True = may attend)")
    try:
        full = np.broadcast_to(mask, (N, Tq, Tk))
    except ValueError:
        raise ValueError(
            f"mask has shape {mask.shape} but needs a shape broadcastable to "
            f"(N, Tq, Tk) = {(N, Tq, Tk)}, e.g. (N, 1, Tk) or (Tq, Tk)"
        ) from None
    empty = ~full.any(axis=-1)
    if empty.any():
        n, i = (int(a) for a in np.argwhere(empty)[0])
        raise ValueError(
            f"mask allows no key for query {i} of batch element {n}; every query "
            f"needs at least one key it may attend to"
        )
    return full


def masked_softmax(scores, mask=None) -> np.ndarray:
    """Softmax over the last axis of ``scores`` (N, Tq, Tk), ignoring masked keys.

    Masked scores are replaced by ``-inf`` before exponentiating, so their
    weights come out as exactly 0; the maximum is taken over allowed keys
    only, so every exponent is at most 0 and nothing overflows.

    Args:
        scores: (N, Tq, Tk) float array.
        mask: None or bool, broadcastable to (N, Tq, Tk); True = may attend.

    Returns:
        weights: (N, Tq, Tk), same dtype, each row sums to 1.

    Taught in: Part III, Attention.
    """
    s = Shapes()
    scores = s.check("scores", scores, ("N", "Tq", "Tk"))
    full = _check_mask(mask, s["N"], s["Tq"], s["Tk"])
    if full is not None:
        scores = np.where(full, scores, -np.inf)
    z = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(z)  # exp(-inf) = 0 exactly, without a warning
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward(dweights: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gradient through a row-wise softmax: ``w * (dw - sum(dw * w))``.

    Masked entries have weight 0, so their score gradient is 0 as well.
    """
    return weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))


def _check_qkv(s, q, k, v):
    # Queries and keys share their size d; keys and values their count Tk.
    return (s.check("q", q, ("N", "Tq", "d")), s.check("k", k, ("N", "Tk", "d")),
            s.check("v", v, ("N", "Tk", "dv")))


def _back_through_weights(dout, v, weights):
    """Check ``dout`` and go back through ``out = weights @ v`` and the softmax.

    Both kinds of attention end in these two operations; only the scores
    before them differ.

    Returns:
        dscores: gradient with respect to the scores, (N, Tq, Tk).
        dv: gradient with respect to the values, (N, Tk, dv).
    """
    N, Tq, _ = weights.shape
    dout = Shapes(N=N, Tq=Tq, dv=v.shape[2]).check("dout", dout, ("N", "Tq", "dv"))
    if dout.dtype != v.dtype:
        raise ValueError(f"dout has dtype {dout.dtype} but the forward pass ran in "
                         f"{v.dtype}")
    dweights = dout @ v.transpose(0, 2, 1)            # (N, Tq, Tk)
    dv = weights.transpose(0, 2, 1) @ dout            # (N, Tk, dv)
    return _softmax_backward(dweights, weights), dv


# -- dot-product attention ----------------------------------------------------

def scaled_dot_product_attention(q, k, v, mask=None, *, scale: float | None = None):
    """Dot-product attention, scaled by ``1/sqrt(d)`` unless ``scale`` says otherwise.

    ``scores = scale * q k^T``; ``weights = softmax(scores)`` over keys;
    ``out = weights v``. Dividing by ``sqrt(d)`` keeps the scores' variance
    near 1 when the entries of q and k have unit variance, so the softmax does
    not saturate as d grows.

    Args:
        q: queries, (N, Tq, d).
        k: keys, (N, Tk, d).
        v: values, (N, Tk, dv).
        mask: None or bool, broadcastable to (N, Tq, Tk); True = may attend.
        scale: factor applied to the dot products; None means ``1/sqrt(d)``,
            1.0 gives Luong's unscaled "dot" score.

    Returns:
        out: (N, Tq, dv), the weighted sums of values.
        weights: (N, Tq, Tk), attention weights; rows sum to 1, masked
            entries are exactly 0.
        cache: ``DotProductCache`` for
            :func:`scaled_dot_product_attention_backward`.

    Taught in: Part III, Attention.
    """
    s = Shapes()
    q, k, v = _check_qkv(s, q, k, v)
    if scale is None:
        scale = 1.0 / math.sqrt(s["d"])
    # A Python float keeps float32 arrays float32 when multiplied.
    scale = float(scale)
    scores = (q @ k.transpose(0, 2, 1)) * scale
    weights = masked_softmax(scores, mask)
    out = weights @ v
    return out, weights, DotProductCache(q, k, v, weights, scale)


def dot_product_attention(q, k, v, mask=None):
    """Luong's unscaled "dot" attention: :func:`scaled_dot_product_attention` with scale 1.

    Its cache goes to :func:`scaled_dot_product_attention_backward`.

    Taught in: Part III, Attention.
    """
    return scaled_dot_product_attention(q, k, v, mask, scale=1.0)


def scaled_dot_product_attention_backward(dout, cache):
    """Backward pass of :func:`scaled_dot_product_attention`.

    Args:
        dout: gradient of the loss with respect to ``out``, (N, Tq, dv).
        cache: the ``DotProductCache`` of :func:`scaled_dot_product_attention`
            or :func:`dot_product_attention`.

    Returns:
        dq: gradient with respect to the queries, (N, Tq, d).
        dk: gradient with respect to the keys, (N, Tk, d).
        dv: gradient with respect to the values, (N, Tk, dv).

    Taught in: Part III, Attention.
    """
    q, k, v, weights, scale = check_cache(
        "cache", cache, DotProductCache, "scaled_dot_product_attention")
    dscores, dv = _back_through_weights(dout, v, weights)
    dscores = dscores * scale
    # scores = scale * q @ k^T
    dq = dscores @ k                                  # (N, Tq, d)
    dk = dscores.transpose(0, 2, 1) @ q               # (N, Tk, d)
    return dq, dk, dv


# -- additive attention ---------------------------------------------------------

def additive_attention(q, k, v, Wq, Wk, w, mask=None):
    """Additive (Bahdanau) attention: ``score = w . tanh(q Wq + k Wk)``.

    Queries and keys are projected to a common attention size A, added for
    every (query, key) pair, squashed by tanh and reduced to a scalar by
    ``w``. Unlike the dot product, q and k may come from spaces with
    different meanings; here both have size d, as in the library contract.

    Args:
        q: queries, (N, Tq, d).
        k: keys, (N, Tk, d).
        v: values, (N, Tk, dv).
        Wq: query projection, (d, A).
        Wk: key projection, (d, A).
        w: score vector, (A,).
        mask: None or bool, broadcastable to (N, Tq, Tk); True = may attend.

    Returns:
        out: (N, Tq, dv), the weighted sums of values.
        weights: (N, Tq, Tk); rows sum to 1, masked entries are exactly 0.
        cache: ``AdditiveCache`` for :func:`additive_attention_backward`.

    Taught in: Part III, Attention.
    """
    s = Shapes()
    q, k, v = _check_qkv(s, q, k, v)
    Wq = s.check("Wq", Wq, ("d", "A"))
    Wk = s.check("Wk", Wk, ("d", "A"))
    w = s.check("w", w, ("A",))
    N, Tq, Tk, d, A = s["N"], s["Tq"], s["Tk"], s["d"], s["A"]
    # Project every query and every key once (one matrix product each), then
    # form all Tq x Tk sums by broadcasting.
    pq = (q.reshape(N * Tq, d) @ Wq).reshape(N, Tq, 1, A)
    pk = (k.reshape(N * Tk, d) @ Wk).reshape(N, 1, Tk, A)
    hidden = np.tanh(pq + pk)                         # (N, Tq, Tk, A)
    scores = hidden @ w                               # (N, Tq, Tk)
    weights = masked_softmax(scores, mask)
    out = weights @ v
    return out, weights, AdditiveCache(q, k, v, Wq, Wk, w, hidden, weights)


def additive_attention_backward(dout, cache):
    """Backward pass of :func:`additive_attention`.

    Args:
        dout: gradient of the loss with respect to ``out``, (N, Tq, dv).
        cache: the ``AdditiveCache`` returned by :func:`additive_attention`.

    Returns:
        dq: gradient with respect to the queries, (N, Tq, d).
        dk: gradient with respect to the keys, (N, Tk, d).
        dv: gradient with respect to the values, (N, Tk, dv).
        dWq: gradient with respect to the query projection, (d, A).
        dWk: gradient with respect to the key projection, (d, A).
        dw: gradient with respect to the score vector, (A,).

    Taught in: Part III, Attention.
    """
    q, k, v, Wq, Wk, w, hidden, weights = check_cache(
        "cache", cache, AdditiveCache, "additive_attention")
    N, Tq, d = q.shape
    Tk = k.shape[1]
    A = w.shape[0]
    dscores, dv = _back_through_weights(dout, v, weights)
    # scores = hidden @ w
    dw = dscores.reshape(-1) @ hidden.reshape(-1, A)
    dpre = dscores[..., None] * w * (1.0 - hidden * hidden)  # through tanh
    # pre = pq (broadcast over keys) + pk (broadcast over queries)
    dpq = dpre.sum(axis=2).reshape(N * Tq, A)
    dpk = dpre.sum(axis=1).reshape(N * Tk, A)
    dq = (dpq @ Wq.T).reshape(N, Tq, d)
    dk = (dpk @ Wk.T).reshape(N, Tk, d)
    dWq = q.reshape(N * Tq, d).T @ dpq
    dWk = k.reshape(N * Tk, d).T @ dpk
    return dq, dk, dv, dWq, dWk, dw
