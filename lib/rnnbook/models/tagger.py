"""A per-step classifier on stacked, optionally bidirectional recurrent layers.

Taught in chapter 6 (deep and bidirectional networks). The model reads a
padded batch of token ids and scores C classes at every real step::

    e = onehot(x)                                 # (N, T, V)
    h = stacked_forward(cell, e, layers, lengths) # (N, T, H) or (N, T, 2H)
    o = h Wy + by                                 # (N, T, C)
    loss = mean over real steps of -log softmax(o)[y]

With ``C = V`` and ``y`` the next token this is a character language model
of any depth; with a bidirectional stack it is a tagger whose decision at
step t may use the whole sequence. One-hot inputs make the first layer's
``Wx`` a token embedding, as in the character models of the earlier
chapters.

Parameters live in one flat dict, so that the optimisers of
:mod:`rnnbook.train` can update them: ``"l0.Wx"``, ``"l0.Wh"``, ... for a
one-directional layer 0, ``"l0.fwd.Wx"`` and ``"l0.bwd.Wx"``, ... for a
bidirectional one, and ``"Wy"`` (Hout, C), ``"by"`` (C,) for the readout.
The depth and the direction are read off the keys.
"""

from __future__ import annotations

import re

import numpy as np

from rnnbook.checks import Shapes, check_ids_below, check_int
from rnnbook.nn import (get_cell, init_affine, length_mask, one_hot,
                        softmax_cross_entropy, stacked_backward, stacked_forward,
                        temporal_affine_backward, temporal_affine_forward)

__all__ = [
    "init_tagger",
    "tagger_layers",
    "tagger_logits",
    "tagger_loss_and_grads",
    "tagger_accuracy",
]

_KEY = re.compile(r"^l(\d+)\.(?:(fwd|bwd)\.)?(\w+)$")


def init_tagger(cell, V: int, H: int, C: int, rng, num_layers: int = 1,
                bidirectional: bool = False, dtype=np.float64) -> dict[str, np.ndarray]:
    """Fresh parameters of a per-step classifier.

    Each cell comes from its recipe in :mod:`rnnbook.nn.init` (Xavier input
    weights, orthogonal recurrent blocks, the LSTM's forget bias at 1); the
    readout is Xavier with a zero bias.

    Args:
        cell: "rnn", "lstm" or "gru".
        V: input vocabulary size (the first layer's input size D).
        H: hidden size of every cell (per direction).
        C: number of classes scored at every step.
        rng: numpy Generator.
        num_layers: number of stacked layers.
        bidirectional: every layer has a forward and a backward cell.
        dtype: float32 or float64.

    Returns:
        params: flat dict; layer l's cell parameters under ``"l{l}.<name>"``
            (or ``"l{l}.fwd.<name>"`` and ``"l{l}.bwd.<name>"``), layer 0's
            ``Wx`` with V rows and the others' with H (or 2H) rows; ``"Wy"``
            (H or 2H, C) and ``"by"`` (C,).

    Taught in: Chapter 6, Deep and bidirectional recurrent networks.
    """
    cell = get_cell(cell).name
    V, H, C = check_int("V", V, 1), check_int("H", H, 1), check_int("C", C, 1)
    num_layers = check_int("num_layers", num_layers, 1)
    width = 2 * H if bidirectional else H
    params = {}
    for layer in range(num_layers):
        D = V if layer == 0 else width
        for direction in (("fwd", "bwd") if bidirectional else (None,)):
            prefix = f"l{layer}." + (f"{direction}." if direction else "")
            for name, value in get_cell(cell).init(D, H, rng, dtype=dtype).items():
                params[prefix + name] = value
    readout = init_affine(width, C, rng, dtype=dtype)
    params["Wy"], params["by"] = readout["W"], readout["b"]
    return params


def tagger_layers(cell, params) -> tuple[list, bool]:
    """Split the flat parameter dict into the layer list of ``stacked_forward``.

    Args:
        cell: "rnn", "lstm" or "gru".
        params: dict as made by :func:`init_tagger`.

    Returns:
        layers: list, bottom first, of parameter dicts (or of
            ``(params_fwd, params_bwd)`` pairs when bidirectional).
        bidirectional: whether the layers are bidirectional.

    Taught in: Chapter 6, Deep and bidirectional recurrent networks.
    """
    cell = get_cell(cell).name
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict of arrays")
    groups: dict[tuple[int, str | None], dict] = {}
    for key, value in params.items():
        if key in ("Wy", "by"):
            continue
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"params has a key {key!r}; expected 'Wy', 'by', 'l<k>.<name>' "
                             f"or 'l<k>.fwd.<name>' / 'l<k>.bwd.<name>'")
        layer, direction, name = int(match[1]), match[2], match[3]
        groups.setdefault((layer, direction), {})[name] = value
    for key in ("Wy", "by"):
        if key not in params:
            raise ValueError(f"params has no {key!r}; the readout needs 'Wy' and 'by'")
    if not groups:
        raise ValueError("params has no recurrent layer ('l0.*' keys)")
    num_layers = 1 + max(layer for layer, _ in groups)
    directions = {direction for _, direction in groups}
    if directions not in ({None}, {"fwd", "bwd"}):
        raise ValueError("params mixes one-directional ('l<k>.<name>') and bidirectional "
                         "('l<k>.fwd.<name>') keys")
    bidirectional = directions == {"fwd", "bwd"}
    wanted = set(get_cell(cell).param_names)
    layers = []
    for layer in range(num_layers):
        parts = []
        for direction in (("fwd", "bwd") if bidirectional else (None,)):
            group = groups.get((layer, direction), {})
            if set(group) != wanted:
                where = f"l{layer}." + (f"{direction}." if direction else "")
                raise ValueError(f"params has keys {sorted(where + k for k in group)} for "
                                 f"layer {layer} but a {cell!r} cell needs "
                                 f"{[where + k for k in get_cell(cell).param_names]}")
            parts.append(group)
        layers.append(tuple(parts) if bidirectional else parts[0])
    return layers, bidirectional


def _check_ids(x, lengths, V):
    s = Shapes()
    x = s.check("x", x, ("N", "T"), dtype="int")
    N, T = s["N"], s["T"]
    if lengths is None:
        mask = np.ones((N, T), dtype=bool)
    else:
        lengths = Shapes(N=N).check("lengths", lengths, ("N",), dtype="int")
        if lengths.size and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"lengths must lie in [0, T] = [0, {T}], got values in "
                             f"[{lengths.min()}, {lengths.max()}]")
        mask = length_mask(lengths, T)
    check_ids_below(x[mask], V, "x", " at a real step")
    # Padding may hold any id (-1, say); it is replaced by 0 before the
    # one-hot encoding and the recurrent layers never read it anyway.
    return np.where(mask, x, 0), lengths, mask


def _forward(cell, params, x, lengths):
    layers, _ = tagger_layers(cell, params)
    first = layers[0][0] if isinstance(layers[0], tuple) else layers[0]
    V = np.asarray(first["Wx"]).shape[0]
    x, lengths, mask = _check_ids(x, lengths, V)
    Wy = np.asarray(params["Wy"])
    e = one_hot(x, V, Wy.dtype)
    try:
        h, stack_cache = stacked_forward(cell, e, layers, lengths,
                                         bidirectional=isinstance(layers[0], tuple))
        logits, out_cache = temporal_affine_forward(h, Wy, params["by"])
    except ValueError as err:
        raise ValueError(f"params do not fit together: {err}") from None
    return logits, mask, stack_cache, out_cache


def tagger_logits(cell, params, x, lengths=None) -> np.ndarray:
    """Scores of every class at every step.

    Args:
        cell: "rnn", "lstm" or "gru".
        params: dict as made by :func:`init_tagger`.
        x: int ids, (N, T); entries at padded steps may be anything.
        lengths: int array (N,) in [0, T]; None means all T.

    Returns:
        logits: (N, T, C); at padded steps they equal ``by`` (the recurrent
            states there are zero) and mean nothing.

    Taught in: Chapter 6, Deep and bidirectional recurrent networks.
    """
    return _forward(cell, params, x, lengths)[0]


def tagger_loss_and_grads(cell, params, x, y, lengths=None) -> tuple[float, dict]:
    """Mean cross-entropy over the real steps, and its gradients.

    Args:
        cell: "rnn", "lstm" or "gru".
        params: dict as made by :func:`init_tagger`.
        x: int ids, (N, T).
        y: int labels, (N, T), each real one in [0, C); padded ones are ignored.
        lengths: int array (N,) in [0, T]; None means all T.

    Returns:
        loss: Python float, nats per real step.
        grads: dict with the keys and shapes of ``params``.

    Taught in: Chapter 6, Deep and bidirectional recurrent networks.
    """
    logits, mask, stack_cache, out_cache = _forward(cell, params, x, lengths)
    y = Shapes(N=mask.shape[0], T=mask.shape[1]).check("y", y, ("N", "T"), dtype="int")
    loss, dlogits = softmax_cross_entropy(logits, y, mask)
    dh, dWy, dby = temporal_affine_backward(dlogits, out_cache)
    _, layer_grads = stacked_backward(dh, stack_cache)
    grads = {"Wy": dWy, "by": dby}
    for layer, g in enumerate(layer_grads):
        if isinstance(g, tuple):
            for direction, gd in zip(("fwd", "bwd"), g):
                grads.update({f"l{layer}.{direction}.{k}": v for k, v in gd.items()})
        else:
            grads.update({f"l{layer}.{k}": v for k, v in g.items()})
    return loss, {key: grads[key] for key in params}


def tagger_accuracy(cell, params, x, y, lengths=None) -> float:
    """Fraction of real steps whose highest-scoring class is the label.

    Args:
        cell: "rnn", "lstm" or "gru".
        params: dict as made by :func:`init_tagger`.
        x: int ids, (N, T).
        y: int labels, (N, T).
        lengths: int array (N,) in [0, T]; None means all T.

    Returns:
        accuracy: Python float in [0, 1].

    Taught in: Chapter 6, Deep and bidirectional recurrent networks.
    """
    logits, mask, _, _ = _forward(cell, params, x, lengths)
    y = Shapes(N=mask.shape[0], T=mask.shape[1]).check("y", y, ("N", "T"), dtype="int")
    if not mask.any():
        raise ValueError("lengths are all 0; there is no real step to score")
    return float(np.mean(logits.argmax(axis=-1)[mask] == y[mask]))
