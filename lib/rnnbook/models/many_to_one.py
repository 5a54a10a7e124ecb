"""A many-to-one model: read a whole sequence, then answer once.

Chapter 9 uses one model for two applications. A *forecaster* reads a window
of past values of a series and outputs the next K values (regression, mean
squared error). A *sequence classifier* reads an utterance of any length and
outputs K class scores (softmax cross-entropy). In both, a recurrent cell
(RNN, LSTM or GRU) runs over the real steps of each sequence, one summary
vector is taken from its states, and an affine readout maps it to K numbers::

    h = cell(x, lengths)                       # (N, T, H), zeros after each length
    s = h_last            (pool="last")        # the state after the last real step
      | mean_t<L h_t      (pool="mean")        # or the average over the real steps
      | sum_t a_t h_t     (pool="attention")   # or a learned weighted average
    out = s Wo + bo                            # (N, K)

Attention pooling scores every real step with a learned query vector ``wa``
(H,), ``e_t = h_t . wa / sqrt(H)``, and averages the states with the weights
``a = softmax(e)`` taken over the real steps only (padding gets weight 0).
Parameters are the cell's dict from :mod:`rnnbook.nn.init` plus ``Wo`` (H, K)
and ``bo`` (K,), and ``wa`` (H,) for attention pooling. The loss may add an L2 penalty ``weight_decay * sum W**2``
over the weight matrices (not the biases), one of the remedies for
overfitting that chapter 9 measures. Gradients are exact and checked against
finite differences in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import Shapes, check_cache, check_choice
from rnnbook.nn.cells import cell_names, get_cell
from rnnbook.nn.init import init_affine
from rnnbook.nn.layers import affine_backward, affine_forward, mse_loss, softmax_cross_entropy
from rnnbook.nn.sequence import RecurrentCache, recurrent_backward, recurrent_forward

__all__ = [
    "POOLS", "LOSSES", "ManyToOneCache", "init_many_to_one", "many_to_one_forward",
    "many_to_one_backward", "many_to_one_loss_and_grads", "weight_penalty",
]

#: How the sequence of states is summarised.
POOLS = ("last", "mean", "attention")
#: Losses of :func:`many_to_one_loss_and_grads`.
LOSSES = ("mse", "xent")
_READOUT = ("Wo", "bo")


def init_many_to_one(cell, D: int, H: int, K: int, rng, dtype=np.float64,
                     pool: str = "last") -> dict:
    """Fresh parameters of a many-to-one model (taught in chapter 9).

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        D: input features per step.
        H: hidden size.
        K: outputs (forecast horizon, or number of classes).
        rng: numpy Generator.
        dtype: float32 or float64.
        pool: the pooling the model will use; ``"attention"`` adds its query.

    Returns:
        params: the cell's dict (``Wx`` (D, kH), ``Wh`` (H, kH), biases) plus
            ``Wo`` (H, K) and ``bo`` (K,); for attention pooling also ``wa``
            (H,), drawn small so that the first weights are nearly uniform.

    Taught in: Chapter 9, Applications and practice.
    """
    check_choice("cell", cell, cell_names())
    check_choice("pool", pool, POOLS)
    params = dict(get_cell(cell).init(D, H, rng, dtype=dtype))
    readout = init_affine(H, K, rng, dtype=dtype)
    params["Wo"], params["bo"] = readout["W"], readout["b"]
    if pool == "attention":
        params["wa"] = (0.1 * rng.standard_normal(H)).astype(dtype)
    return params


def _split(cell, params, pool):
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict of arrays")
    needed = get_cell(cell).param_names + _READOUT + (("wa",) if pool == "attention" else ())
    if set(params) != set(needed):
        raise ValueError(f"params has keys {sorted(params)} but a {cell!r} many-to-one model "
                         f"with pool={pool!r} needs exactly {list(needed)}")
    return {k: params[k] for k in get_cell(cell).param_names}


@dataclass
class ManyToOneCache:
    """What :func:`many_to_one_backward` needs.

    Attributes:
        cell: the cell's name.
        pool: ``"last"``, ``"mean"`` or ``"attention"``.
        rec: the :class:`rnnbook.nn.sequence.RecurrentCache` of the cell.
        h: the states, (N, T, H), zero at padded steps.
        weights: the pooling weights over steps, (N, T) (None for "last").
        summary: the pooled state, (N, H).
        readout: the cache of the affine readout.
        wa: the attention query (H,), or None.

    Taught in: Chapter 9, Applications and practice.
    """

    cell: str
    pool: str
    rec: RecurrentCache
    h: np.ndarray
    weights: np.ndarray | None
    summary: np.ndarray
    readout: object
    wa: np.ndarray | None


def many_to_one_forward(cell, params, x, lengths=None, pool="last"):
    """Outputs of the many-to-one model for a padded batch (chapter 9).

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        params: from :func:`init_many_to_one`.
        x: inputs, (N, T, D); steps ``t >= lengths[n]`` are padding.
        lengths: int array (N,), each in [1, T]; None means all T.
        pool: ``"last"`` (state after the last real step), ``"mean"``
            (average of the states over the real steps) or ``"attention"``
            (weighted average, weights from the learned query ``wa``).

    Returns:
        out: (N, K), forecasts or class scores.
        cache: :class:`ManyToOneCache`.

    Taught in: Chapter 9, Applications and practice.
    """
    check_choice("cell", cell, cell_names())
    check_choice("pool", pool, POOLS)
    p = _split(cell, params, pool)
    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    Wo = s.check("params['Wo']", params["Wo"], ("H", "K"))
    bo = s.check("params['bo']", params["bo"], ("K",))
    s.check("params['Wh']", params["Wh"], ("H", "G"))
    if lengths is not None and np.size(lengths) and np.min(lengths) < 1:
        raise ValueError("lengths must all be >= 1: an empty sequence has nothing to summarise")
    wa = s.check("params['wa']", params["wa"], ("H",)) if pool == "attention" else None
    h, rec = recurrent_forward(cell, x, None, p, lengths=lengths)
    weights = None
    if pool == "last":
        summary = rec.h_last
    elif pool == "mean":
        weights = rec.mask / rec.lengths[:, None].astype(h.dtype)
        summary = h.sum(axis=1) / rec.lengths[:, None].astype(h.dtype)
    else:
        scores = h @ wa / np.sqrt(h.shape[2]).astype(h.dtype)              # (N, T)
        scores = np.where(rec.mask, scores, -np.inf)
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)                                  # exactly 0 at padding
        weights = e / e.sum(axis=1, keepdims=True)
        summary = np.einsum("nt,nth->nh", weights, h)
    out, readout = affine_forward(summary, Wo, bo)
    return out, ManyToOneCache(cell, pool, rec, h, weights, summary, readout, wa)


def many_to_one_backward(dout, cache):
    """Backward pass of :func:`many_to_one_forward`.

    Args:
        dout: gradient with respect to ``out``, (N, K).
        cache: the :class:`ManyToOneCache` of the forward pass.

    Returns:
        dx: (N, T, D), zero at padded steps.
        grads: dict with the keys of ``params``.

    Taught in: Chapter 9, Applications and practice.
    """
    c = check_cache("cache", cache, ManyToOneCache, "many_to_one_forward")
    N, H = c.summary.shape
    # affine_backward checks the shape and dtype of dout against the readout.
    dsummary, dWo, dbo = affine_backward(dout, c.readout)
    T = c.rec.mask.shape[1]
    extra = {}
    if c.pool == "last":
        dh = np.zeros((N, T, H), dtype=dsummary.dtype)
        dx, _, grads, _ = recurrent_backward(dh, c.rec, dh_last=dsummary)
    else:
        # summary = sum_t a_t h_t: each state gets a_t * dsummary directly ...
        dh = c.weights[:, :, None] * dsummary[:, None, :]
        if c.pool == "attention":
            # ... and, through the weights, the softmax backward of the scores.
            da = np.einsum("nth,nh->nt", c.h, dsummary)
            de = c.weights * (da - np.sum(c.weights * da, axis=1, keepdims=True))
            root = np.sqrt(H).astype(dsummary.dtype)
            dh = dh + de[:, :, None] * (c.wa / root)
            extra["wa"] = np.einsum("nt,nth->h", de, c.h) / root
        dx, _, grads, _ = recurrent_backward(dh.astype(dsummary.dtype), c.rec)
    grads = dict(grads)
    grads["Wo"], grads["bo"] = dWo, dbo
    grads.update(extra)
    return dx, grads


def weight_penalty(params, weight_decay: float) -> tuple[float, dict]:
    """L2 penalty ``weight_decay * sum of squared weights`` and its gradient.

    Only two-dimensional arrays (the weight matrices) are penalised; biases
    are left free, as is usual.

    Args:
        params: dict of arrays.
        weight_decay: the coefficient, >= 0.

    Returns:
        penalty: Python float.
        grads: dict with the keys of ``params`` (zeros for the biases).

    Taught in: Chapter 9, Applications and practice.
    """
    weight_decay = float(weight_decay)
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay is {weight_decay} but needs to be >= 0")
    penalty = 0.0
    grads = {}
    for k, v in params.items():
        if np.ndim(v) == 2:
            penalty += weight_decay * float(np.sum(v * v))
            grads[k] = 2.0 * weight_decay * v
        else:
            grads[k] = np.zeros_like(v)
    return penalty, grads


def many_to_one_loss_and_grads(cell, params, x, y, lengths=None, pool="last", loss="mse",
                               weight_decay: float = 0.0) -> tuple[float, dict]:
    """Loss of the many-to-one model on a batch and its gradients (chapter 9).

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        params: from :func:`init_many_to_one`.
        x: inputs, (N, T, D).
        y: targets: (N, K) floats for ``loss="mse"``, (N,) class ids for
            ``loss="xent"``.
        lengths: int array (N,) or None, as in :func:`many_to_one_forward`.
        pool: ``"last"``, ``"mean"`` or ``"attention"``.
        loss: ``"mse"`` (mean squared error over all N*K outputs) or
            ``"xent"`` (mean softmax cross-entropy over the N sequences).
        weight_decay: coefficient of the L2 penalty on the weight matrices.

    Returns:
        loss: Python float, including the penalty.
        grads: dict with the keys of ``params``.

    Taught in: Chapter 9, Applications and practice.
    """
    check_choice("loss", loss, LOSSES)
    out, cache = many_to_one_forward(cell, params, x, lengths, pool)
    if loss == "mse":
        value, dout = mse_loss(out, Shapes().check("y", y, out.shape))
    else:
        value, dout = softmax_cross_entropy(out, y)
    _, grads = many_to_one_backward(dout, cache)
    if weight_decay:
        extra, dpen = weight_penalty(params, weight_decay)
        value += extra
        grads = {k: grads[k] + dpen[k] for k in grads}
    return value, grads
