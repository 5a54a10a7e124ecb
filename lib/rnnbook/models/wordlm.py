"""A word-level language model with any of the library's recurrent cells.

The model reads token ids, looks each one up in an embedding matrix, runs a
recurrent cell over the sequence and maps every hidden state to scores over
the vocabulary::

    x_t = E[w_t]                          embedding, (N, T, D)
    h   = cell_forward(x, 0)              hidden states, (N, T, H)
    o_t = h_t Wy + by                     logits, (N, T, V)
    loss = mean over real positions of -log softmax(o_t)[y_t]

The cell is named by a string (``"rnn"``, ``"lstm"``, ``"gru"``) or given
as a :class:`rnnbook.nn.cells.Cell`, so the same code trains and compares
all of them. The parameters live in one dict: the cell's own (``Wx``,
``Wh``, ``b`` ...) plus ``E`` (V, D), ``Wy`` (H, V) and ``by`` (V,).

Inputs, targets and mask come from :func:`rnnbook.datasets.corpora.encode_sentences`;
padding sits at the end of each row, so the states at real positions never
depend on it and the mask of the loss is all that is needed.
"""

from __future__ import annotations

import numpy as np

from rnnbook.nn import init as _init
from rnnbook.checks import Shapes
from rnnbook.nn.activations import softmax
from rnnbook.nn.cells import get_cell
from rnnbook.nn.layers import (
    embedding_backward,
    embedding_forward,
    softmax_cross_entropy,
    temporal_affine_backward,
    temporal_affine_forward,
)

__all__ = ["init_word_lm", "word_lm_forward", "word_lm_loss_and_grads", "next_word_probs"]

_OWN = ("E", "Wy", "by")


def init_word_lm(cell, V: int, D: int, H: int, rng, dtype=np.float64) -> dict:
    """Parameters of the word-level language model.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a :class:`~rnnbook.nn.cells.Cell`.
        V: vocabulary size.
        D: embedding size.
        H: hidden size.
        rng: numpy Generator.
        dtype: float32 or float64.

    Returns:
        dict with the cell's parameters (from its ``init``, e.g. ``Wx`` (D, 4H)
        for the LSTM), ``E`` (V, D), ``Wy`` (H, V) and ``by`` (V,).

    Taught in: Chapter 4, Long short-term memory.
    """
    cell = get_cell(cell)
    params = dict(cell.init(D, H, rng, dtype=dtype))
    clash = [k for k in _OWN if k in params]
    if clash:
        raise ValueError(f"the cell's parameters already use the names {clash}")
    params["E"] = _init.init_embedding(V, D, rng, dtype=dtype)
    out = _init.init_affine(H, V, rng, dtype=dtype)
    params["Wy"], params["by"] = out["W"], out["b"]
    return params


def _cell_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in _OWN}


def _check(params, ids):
    s = Shapes()
    E = s.check("params['E']", params.get("E"), ("V", "D"))
    Wy = s.check("params['Wy']", params.get("Wy"), ("H", "V"))
    s.check("params['by']", params.get("by"), ("V",))
    ids = s.check("ids", ids, ("N", "T"), dtype="int")
    return E, Wy, ids, s


def word_lm_forward(cell, params: dict, ids):
    """Logits of the next word at every position.

    Args:
        cell: the cell (name or :class:`~rnnbook.nn.cells.Cell`).
        params: from :func:`init_word_lm`.
        ids: input token ids, int (N, T).

    Returns:
        logits: (N, T, V); ``logits[n, t]`` scores the word after ``ids[n, :t+1]``.
        cache: tuple for :func:`word_lm_loss_and_grads`; its third entry is
            the cell's cache (for the LSTM, ``cache[2].i``, ``.f``, ``.g``,
            ``.o``, ``.c`` hold the gates and cell states) and its second the
            hidden states h, (N, T, H).

    Taught in: Chapter 4, Long short-term memory.
    """
    cell = get_cell(cell)
    E, Wy, ids, s = _check(params, ids)
    x, emb_cache = embedding_forward(ids, E)
    states0 = cell.zero_states(s["N"], s["H"], E.dtype)
    (h, *_), cell_cache = cell.forward(x, states0, _cell_params(params))
    logits, aff_cache = temporal_affine_forward(h, Wy, params["by"])
    return logits, (emb_cache, h, cell_cache, aff_cache, cell)


def word_lm_loss_and_grads(cell, params: dict, batch) -> tuple[float, dict]:
    """Mean cross-entropy of the next word over real positions, and its gradients.

    After fixing ``cell`` (e.g. with ``functools.partial``) this is the
    ``step_fn`` that :func:`rnnbook.train.loop.train` expects.

    Args:
        cell: the cell (name or :class:`~rnnbook.nn.cells.Cell`).
        params: from :func:`init_word_lm`.
        batch: ``(inputs, targets, mask)``: int (N, T), int (N, T) and bool
            (N, T), as made by :func:`rnnbook.datasets.corpora.encode_sentences`.

    Returns:
        loss: Python float, in nats per predicted word.
        grads: dict with the keys of ``params``.

    Taught in: Chapter 4, Long short-term memory.
    """
    inputs, targets, mask = batch
    logits, (emb_cache, h, cell_cache, aff_cache, cell) = word_lm_forward(cell, params, inputs)
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    dh, dWy, dby = temporal_affine_backward(dlogits, aff_cache)
    dx, _, grads = cell.backward((dh,) + (None,) * (len(cell.state_names) - 1), cell_cache)
    grads = dict(grads)
    grads["E"] = embedding_backward(dx, emb_cache)
    grads["Wy"], grads["by"] = dWy, dby
    return loss, grads


def next_word_probs(cell, params: dict, ids) -> np.ndarray:
    """Probability of every vocabulary word coming next after each prompt.

    Args:
        cell: the cell (name or :class:`~rnnbook.nn.cells.Cell`).
        params: from :func:`init_word_lm`.
        ids: int (T,) for one prompt or (N, T) for N prompts of equal length.

    Returns:
        probs: (V,) or (N, V), the softmax of the logits after the last id.

    Taught in: Chapter 4, Long short-term memory.
    """
    ids = np.asarray(ids)
    single = ids.ndim == 1
    logits, _ = word_lm_forward(cell, params, ids[None] if single else ids)
    probs = softmax(logits[:, -1])
    return probs[0] if single else probs
