"""Recurrent layers with per-sequence lengths: masked, bidirectional, stacked.

The cells of :mod:`rnnbook.nn.rnn`, :mod:`rnnbook.nn.lstm` and :mod:`rnnbook.nn.gru`
run every sequence of a batch for all T steps. Real batches mix lengths: a
sequence of length L < T is followed by T - L padding steps whose content is
meaningless. This module wraps any of the three cells so that padding never
matters:

- :func:`recurrent_forward` / :func:`recurrent_backward`: one direction.
  Outputs at padded steps are exactly zero, the final state of a sequence is
  its state after its *own* last real step (as if the state were frozen from
  there on), and no gradient reaches padded inputs.
- :func:`bidirectional_forward` / :func:`bidirectional_backward`: a forward
  and a backward cell, outputs concatenated to (N, T, 2H). The backward cell
  reads each sequence from its last *real* step down to step 0, so it never
  starts in the padding.
- :func:`stacked_forward` / :func:`stacked_backward`: several layers, each
  reading the outputs of the one below (optionally bidirectional).

How padding is kept out. The cells are causal: the state after step t
depends only on steps 0..t. With padding only at the end of each sequence
(what :func:`rnnbook.datasets.vocab.pad_sequences` produces), the states at real steps
are therefore already right; the wrappers zero the padded inputs (so even
``inf`` or ``nan`` there cannot leak in), zero the padded outputs, and read
each sequence's final state at its last real step. In the backward pass the
upstream gradient at padded steps is zeroed, so the backward recursion over
the padded tail carries exactly zero and adds nothing to the weight
gradients. The cell's own vectorised sequence functions do the work, so the
wrappers cost little more than the cells.

Parameters are dicts keyed by the cell's argument names, as made by
:mod:`rnnbook.nn.init`: ``{"Wx", "Wh", "b"}`` for "rnn" and "lstm",
``{"Wx", "Wh", "bx", "bh"}`` for "gru". Gradients come back in dicts with
the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rnnbook.checks import Shapes, check_cache, check_upstream
from rnnbook.nn.cells import Cell, get_cell

__all__ = [
    "length_mask",
    "reverse_within_lengths",
    "RecurrentCache",
    "RecurrentGrads",
    "recurrent_forward",
    "recurrent_backward",
    "BidirectionalCache",
    "bidirectional_forward",
    "bidirectional_backward",
    "StackedCache",
    "stacked_forward",
    "stacked_backward",
]


# -- helpers -------------------------------------------------------------------

def _check_lengths(lengths, N: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    lengths = Shapes(N=N).check("lengths", lengths, ("N",), dtype="int")
    if lengths.size and (lengths.min() < 0 or lengths.max() > T):
        raise ValueError(
            f"lengths must lie in [0, T] = [0, {T}], got values in "
            f"[{lengths.min()}, {lengths.max()}]"
        )
    return lengths.astype(np.int64, copy=False)


def length_mask(lengths, T: int) -> np.ndarray:
    """Boolean mask of real steps: ``mask[n, t] = t < lengths[n]``.

    Args:
        lengths: int array (N,), each in [0, T].
        T: number of time steps.

    Returns:
        mask: bool array (N, T).

    Taught in: Chapter 4, LSTM (bidirectional and stacked layers).
    """
    lengths = np.asarray(lengths)
    return np.arange(T)[None, :] < lengths[:, None]


def _reverse_index(lengths: np.ndarray, T: int) -> np.ndarray:
    """Index (N, T) that reverses each row's first ``lengths[n]`` steps and keeps the rest."""
    t = np.arange(T)[None, :]
    L = lengths[:, None]
    return np.where(t < L, L - 1 - t, t)


def reverse_within_lengths(x, lengths) -> np.ndarray:
    """Reverse each sequence within its own length; padding stays where it is.

    For ``lengths[n] = L``, ``out[n, t] = x[n, L - 1 - t]`` for t < L and
    ``out[n, t] = x[n, t]`` for t >= L. Applying it twice gives ``x`` back.
    Reversing the whole padded array instead would put the padding first and
    make a backward-reading cell start in it.

    Args:
        x: array (N, T, ...).
        lengths: int array (N,), each in [0, T].

    Returns:
        out: array of the shape and dtype of ``x``.

    Taught in: Chapter 4, LSTM (bidirectional and stacked layers).
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x has shape {x.shape} but needs at least two dimensions (N, T, ...)")
    N, T = x.shape[:2]
    lengths = _check_lengths(lengths, N, T)
    return x[np.arange(N)[:, None], _reverse_index(lengths, T)]


# -- one direction -----------------------------------------------------------------

@dataclass
class RecurrentCache:
    """What :func:`recurrent_backward` needs, plus the final states.

    Attributes:
        cell: the :class:`~rnnbook.nn.cells.Cell` that ran.
        core: the cache of the cell's sequence forward function.
        lengths: int64 (N,).
        mask: bool (N, T), True at real steps.
        states0: the initial states, a tuple of (N, H) (``(h0,)`` or ``(h0, c0)``).
        states_last: each state after each sequence's last real step, a tuple
            of (N, H) (the initial state for a sequence of length 0).

    The properties ``h0`` and ``h_last`` give the hidden state at the start
    and after the last real step; ``c0`` and ``c_last`` the same for the cell
    state of a two-state cell such as the LSTM, and None for a cell with one
    state.

    Taught in: Chapter 4, Long short-term memory.
    """

    cell: Cell
    core: object
    lengths: np.ndarray
    mask: np.ndarray
    states0: tuple
    states_last: tuple

    @property
    def h0(self):
        return self.states0[0]

    @property
    def h_last(self):
        return self.states_last[0]

    @property
    def c0(self):
        return self.states0[1] if len(self.states0) > 1 else None

    @property
    def c_last(self):
        return self.states_last[1] if len(self.states_last) > 1 else None


class RecurrentGrads(NamedTuple):
    """Gradients from :func:`recurrent_backward`.

    Taught in: Chapter 4, Long short-term memory.
    """

    #: gradient with respect to the inputs, (N, T, D); 0 at padded steps.
    dx: np.ndarray
    #: gradient with respect to the initial hidden state, (N, H).
    dh0: np.ndarray
    #: the parameters' gradients, a dict with the keys of ``params``.
    grads: dict
    #: gradient with respect to the initial cell state (LSTM), (N, H), or None.
    dc0: np.ndarray | None


def recurrent_forward(cell, x, h0, params, lengths=None, c0=None):
    """Run one cell over padded sequences.

    Args:
        cell: a name from :func:`~rnnbook.nn.cells.cell_names` ("rnn", "lstm",
            "gru") or a :class:`~rnnbook.nn.cells.Cell`.
        x: inputs, (N, T, D); steps ``t >= lengths[n]`` of row n are padding
            and may hold anything.
        h0: initial hidden state, (N, H); None means zeros.
        params: dict of the cell's parameters (its ``param_names``).
        lengths: int array (N,), real lengths in [0, T]; None means all T.
        c0: initial cell state (N, H), for a two-state cell such as "lstm"
            only; None means zeros.

    Returns:
        h: hidden states, (N, T, H); exactly 0 at padded steps.
        cache: :class:`RecurrentCache`; ``cache.h_last`` (N, H) is each
            sequence's final state (and ``cache.c_last`` its final LSTM cell
            state).

    Taught in: Chapter 4, LSTM (bidirectional and stacked layers).
    """
    cell = get_cell(cell)
    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    p = cell.check_params(params, s, "params")
    N, T, H = s["N"], s["T"], s["H"]
    states0 = list(cell.zero_states(N, H, x.dtype))
    if h0 is not None:
        states0[0] = s.check("h0", h0, ("N", "H"))
    if c0 is not None:
        if len(states0) < 2:
            raise ValueError(f"c0 is only for a cell with a cell state such as 'lstm', "
                             f"not {cell.name!r}")
        states0[1] = s.check("c0", c0, ("N", "H"))
    states0 = tuple(states0)
    lengths = _check_lengths(lengths, N, T)
    mask = length_mask(lengths, T)
    zero = np.zeros((), dtype=x.dtype)
    # Zero the padding so that whatever it holds cannot reach a real step,
    # not even inf or nan through 0 * inf in the backward pass.
    x_clean = np.where(mask[:, :, None], x, zero)
    state_seqs, core = cell.forward(x_clean, states0, p)
    h = np.where(mask[:, :, None], state_seqs[0], zero)

    rows = np.arange(N)
    last = np.maximum(lengths - 1, 0)
    empty = (lengths == 0)[:, None]
    states_last = tuple(np.where(empty, s0, seq[rows, last])
                        for s0, seq in zip(states0, state_seqs))
    return h, RecurrentCache(cell, core, lengths, mask, states0, states_last)


def recurrent_backward(dh, cache, dh_last=None, dc_last=None) -> RecurrentGrads:
    """Backward pass of :func:`recurrent_forward`: one backward pass of the cell.

    The gradient of each sequence's final state is added to the per-step
    state gradient at that sequence's own last real step, so the cell's
    backward function runs once for the whole batch, whatever the lengths.

    Args:
        dh: gradient with respect to the outputs ``h``, (N, T, H). Entries at
            padded steps are ignored (those outputs are constant zeros).
        cache: the :class:`RecurrentCache` from :func:`recurrent_forward`.
        dh_last: optional gradient with respect to ``cache.h_last``, (N, H),
            for when the final state is used (a classifier's input, a
            decoder's initial state).
        dc_last: optional gradient with respect to ``cache.c_last``, (N, H);
            two-state cells such as "lstm" only.

    Returns:
        grads: :class:`RecurrentGrads`, which unpacks as ``dx, dh0, grads, dc0``:
            the gradients with respect to ``x`` (N, T, D), ``h0`` (N, H), the
            parameters (a dict) and ``c0`` ((N, H) or None).

    Taught in: Chapter 4, LSTM (bidirectional and stacked layers).
    """
    c = check_cache("cache", cache, RecurrentCache, "recurrent_forward")
    N, T = c.mask.shape
    H = c.h0.shape[1]
    dtype = c.h0.dtype
    dh = check_upstream("dh", dh, (N, T, H), dtype, "recurrent_forward")
    finals = [dh_last, dc_last] + [None] * (len(c.states0) - 2)
    if len(c.states0) < 2 and dc_last is not None:
        raise ValueError(f"dc_last is only for a cell with a cell state such as 'lstm', "
                         f"not {c.cell.name!r}")
    rows = np.arange(N)
    real = c.lengths > 0
    last = np.maximum(c.lengths - 1, 0)
    zero = np.zeros((), dtype=dtype)

    dseqs = [np.where(c.mask[:, :, None], dh, zero)]
    dseqs += [None] * (len(c.states0) - 1)
    extra0 = []
    for k, (name, final) in enumerate(zip(("dh_last", "dc_last"), finals[:len(c.states0)])):
        extra = np.zeros((N, H), dtype=dtype)
        if final is not None:
            final = check_upstream(name, final, (N, H), dtype,
                                   f"recurrent_forward ({name[1:]})")
            if dseqs[k] is None:
                dseqs[k] = np.zeros((N, T, H), dtype=dtype)
            # The final state is the state at the last real step, or the
            # initial state when there is none.
            dseqs[k][rows[real], last[real]] += final[real]
            extra[~real] = final[~real]
        extra0.append(extra)
    extra0 += [0] * (len(c.states0) - len(extra0))

    dx, dstates0, grads = c.cell.backward(tuple(dseqs), c.core)
    dstates0 = [d + e for d, e in zip(dstates0, extra0)]
    dx = np.where(c.mask[:, :, None], dx, zero)
    return RecurrentGrads(dx, dstates0[0], grads, dstates0[1] if len(dstates0) > 1 else None)


# -- two directions --------------------------------------------------------------------

@dataclass
class BidirectionalCache:
    """What :func:`bidirectional_backward` needs.

    Attributes:
        fwd: :class:`RecurrentCache` of the forward direction.
        bwd: :class:`RecurrentCache` of the backward direction, which ran on
            the per-length reversed input.
        index: (N, T) reversal index, see :func:`reverse_within_lengths`.
        h_last: (N, 2H), the forward cell's state after the last real step
            next to the backward cell's state after step 0 (both have read
            the whole sequence).

    Taught in: Chapter 4, Long short-term memory.
    """

    fwd: RecurrentCache
    bwd: RecurrentCache
    index: np.ndarray
    h_last: np.ndarray


def bidirectional_forward(cell, x, params_fwd, params_bwd, lengths=None):
    """A bidirectional layer: one cell reads left to right, another right to left.

    The backward cell reads row n in the order ``lengths[n] - 1, ..., 1, 0``
    (each sequence reversed within its own length), so its first step is the
    last real input and padding is never read. Its outputs are put back in
    the original order, so ``h[:, t]`` holds both directions' states at
    input t: the forward half has seen steps 0..t, the backward half steps
    t..L-1. Both cells start from zero states.

    Args:
        cell: a cell name ("rnn", "lstm", "gru", ...) or a
            :class:`~rnnbook.nn.cells.Cell`; both directions use the same kind.
        x: inputs, (N, T, D).
        params_fwd: parameter dict of the forward cell, hidden size H.
        params_bwd: parameter dict of the backward cell, hidden size H.
        lengths: int array (N,) in [0, T]; None means all T.

    Returns:
        h: (N, T, 2H), forward states in ``h[..., :H]``, backward states in
            ``h[..., H:]``; exactly 0 at padded steps.
        cache: :class:`BidirectionalCache`; ``cache.h_last`` is (N, 2H).

    Taught in: Chapter 4, Long short-term memory.
    """
    cell = get_cell(cell)
    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    cell.check_params(params_fwd, s, "params_fwd")
    cell.check_params(params_bwd, s, "params_bwd")
    N, T = s["N"], s["T"]
    lengths = _check_lengths(lengths, N, T)
    index = _reverse_index(lengths, T)
    rows = np.arange(N)[:, None]
    h_f, cache_f = recurrent_forward(cell, x, None, params_fwd, lengths)
    h_b_rev, cache_b = recurrent_forward(cell, x[rows, index], None, params_bwd, lengths)
    h_b = h_b_rev[rows, index]  # the reversal is its own inverse
    h = np.concatenate((h_f, h_b), axis=2)
    h_last = np.concatenate((cache_f.h_last, cache_b.h_last), axis=1)
    return h, BidirectionalCache(cache_f, cache_b, index, h_last)


def bidirectional_backward(dh, cache, dh_last=None):
    """Backward pass of :func:`bidirectional_forward`.

    Args:
        dh: gradient with respect to ``h``, (N, T, 2H).
        cache: the :class:`BidirectionalCache`.
        dh_last: optional gradient with respect to ``cache.h_last``, (N, 2H).

    Returns:
        dx: gradient with respect to the inputs, (N, T, D); exactly 0 at
            padded steps.
        grads_fwd: gradients of the forward cell's parameters, a dict with
            the keys of ``params_fwd``.
        grads_bwd: gradients of the backward cell's parameters, a dict with
            the keys of ``params_bwd``.

    Taught in: Chapter 4, Long short-term memory.
    """
    c = check_cache("cache", cache, BidirectionalCache, "bidirectional_forward")
    N, T = c.index.shape
    H = c.fwd.h0.shape[1]
    dtype = c.fwd.h0.dtype
    dh = check_upstream("dh", dh, (N, T, 2 * H), dtype, "bidirectional_forward")
    dl_f = dl_b = None
    if dh_last is not None:
        dh_last = check_upstream("dh_last", dh_last, (N, 2 * H), dtype,
                                 "bidirectional_forward (h_last)")
        dl_f, dl_b = dh_last[:, :H], dh_last[:, H:]
    rows = np.arange(N)[:, None]
    dx_f, _, grads_f, _ = recurrent_backward(dh[:, :, :H], c.fwd, dh_last=dl_f)
    dx_b_rev, _, grads_b, _ = recurrent_backward(dh[:, :, H:][rows, c.index], c.bwd,
                                                 dh_last=dl_b)
    dx = dx_f + dx_b_rev[rows, c.index]
    return dx, grads_f, grads_b


# -- several layers ----------------------------------------------------------------------

@dataclass
class StackedCache:
    """What :func:`stacked_backward` needs.

    Attributes:
        bidirectional: whether every layer is bidirectional.
        layers: the per-layer caches, bottom first.
        h_last: the top layer's final state, (N, H) or (N, 2H).

    Taught in: Chapter 4, Long short-term memory.
    """

    bidirectional: bool
    layers: list
    h_last: np.ndarray


def stacked_forward(cell, x, layer_params, lengths=None, bidirectional=False):
    """Several recurrent layers on top of each other.

    Layer 0 reads ``x``; layer l + 1 reads the hidden states of layer l (for
    bidirectional layers, both halves). Every layer starts from zero states
    and respects ``lengths``.

    Args:
        cell: a cell name ("rnn", "lstm", "gru", ...) or a
            :class:`~rnnbook.nn.cells.Cell`.
        x: inputs, (N, T, D).
        layer_params: list with one entry per layer, bottom first: a
            parameter dict, or for ``bidirectional=True`` a pair
            ``(params_fwd, params_bwd)``. Layer l + 1's ``Wx`` has as many
            rows as layer l has outputs (H, or 2H when bidirectional).
        lengths: int array (N,) in [0, T]; None means all T.
        bidirectional: use :func:`bidirectional_forward` for every layer.

    Returns:
        h: top layer's states, (N, T, H) or (N, T, 2H); 0 at padded steps.
        cache: :class:`StackedCache`; ``cache.h_last`` is the top layer's
            final state.

    Taught in: Chapter 4, Long short-term memory.
    """
    cell = get_cell(cell)
    if not isinstance(layer_params, (list, tuple)) or len(layer_params) == 0:
        raise ValueError("layer_params must be a non-empty list with one entry per layer")
    h = x
    caches = []
    for l, p in enumerate(layer_params):
        if bidirectional:
            if not (isinstance(p, (list, tuple)) and len(p) == 2):
                raise ValueError(f"layer_params[{l}] must be a pair (params_fwd, params_bwd) "
                                 f"when bidirectional=True")
            h, cache = bidirectional_forward(cell, h, p[0], p[1], lengths)
        else:
            if not isinstance(p, dict):
                raise ValueError(f"layer_params[{l}] must be a parameter dict")
            try:
                h, cache = recurrent_forward(cell, h, None, p, lengths)
            except ValueError as err:
                raise ValueError(f"layer {l}: {err}") from None
        caches.append(cache)
    return h, StackedCache(bool(bidirectional), caches, caches[-1].h_last)


def stacked_backward(dh, cache, dh_last=None):
    """Backward pass of :func:`stacked_forward`.

    Args:
        dh: gradient with respect to the top layer's states, (N, T, H) or
            (N, T, 2H).
        cache: the :class:`StackedCache`.
        dh_last: optional gradient with respect to ``cache.h_last``.

    Returns:
        dx: (N, T, D).
        grads: list shaped like ``layer_params``: one gradient dict per
            layer, or a pair of dicts per bidirectional layer.

    Taught in: Chapter 4, Long short-term memory.
    """
    c = check_cache("cache", cache, StackedCache, "stacked_forward")
    grads = [None] * len(c.layers)
    for l in range(len(c.layers) - 1, -1, -1):
        top = l == len(c.layers) - 1
        if c.bidirectional:
            dh, g_f, g_b = bidirectional_backward(dh, c.layers[l], dh_last if top else None)
            grads[l] = (g_f, g_b)
        else:
            dh, _, grads[l], _ = recurrent_backward(dh, c.layers[l], dh_last if top else None)
    return dh, grads
