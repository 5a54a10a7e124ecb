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

import numpy as np

from rnnbook.checks import Shapes, check_cache
from rnnbook.nn import lstm as _lstm
from rnnbook.nn.cells import PARAM_NAMES, get_cell

__all__ = [
    "CELLS",
    "length_mask",
    "reverse_within_lengths",
    "RecurrentCache",
    "recurrent_forward",
    "recurrent_backward",
    "BidirectionalCache",
    "bidirectional_forward",
    "bidirectional_backward",
    "StackedCache",
    "stacked_forward",
    "stacked_backward",
]

#: Parameter names of each cell, in the order its functions take them.
CELLS: dict[str, tuple[str, ...]] = dict(PARAM_NAMES)

# Number of stacked gate blocks in Wx's columns: Wx is (D, k*H).
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# -- helpers -------------------------------------------------------------------

def _check_cell(cell) -> str:
    if cell not in CELLS:
        raise ValueError(f"cell is {cell!r} but needs one of {sorted(CELLS)}")
    return cell


def _check_params(name: str, cell: str, params, s: Shapes) -> dict:
    """Check a parameter dict against the cell's contract, binding D and H in ``s``."""
    if not isinstance(params, dict):
        raise ValueError(f"{name} must be a dict with keys {CELLS[cell]}, "
                         f"got {type(params).__name__}")
    keys = set(params)
    if keys != set(CELLS[cell]):
        raise ValueError(f"{name} has keys {sorted(keys)} but a {cell!r} cell needs "
                         f"{list(CELLS[cell])}")
    k = _GATES[cell]
    cols = "H" if k == 1 else f"{k}*H"
    out = {
        "Wx": s.check(f"{name}['Wx']", params["Wx"], ("D", cols)),
        "Wh": s.check(f"{name}['Wh']", params["Wh"], ("H", cols)),
    }
    for b in CELLS[cell][2:]:
        out[b] = s.check(f"{name}[{b!r}]", params[b], (cols,))
    return out


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


def _check_grad(name: str, value, shape, dtype, fn: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but needs {tuple(shape)}, the shape of "
                         f"the matching output of {fn}")
    if arr.dtype != dtype:
        raise ValueError(f"{name} has dtype {arr.dtype} but the forward pass ran in {dtype}")
    return arr


def length_mask(lengths, T: int) -> np.ndarray:
    """Boolean mask of real steps: ``mask[n, t] = t < lengths[n]``.

    Args:
        lengths: int array (N,), each in [0, T].
        T: number of time steps.

    Returns:
        mask: bool array (N, T).
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
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x has shape {x.shape} but needs at least two dimensions (N, T, ...)")
    N, T = x.shape[:2]
    lengths = _check_lengths(lengths, N, T)
    return x[np.arange(N)[:, None], _reverse_index(lengths, T)]


def _run_cell(cell, x, h0, p, c0):
    if cell == "lstm":
        # The LSTM's Cell record starts from a zero cell state; here c0 is given.
        return _lstm.lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"], c0=c0)
    return get_cell(cell).forward(x, h0, p)


# -- one direction -----------------------------------------------------------------

@dataclass
class RecurrentCache:
    """What :func:`recurrent_backward` needs, plus the final states.

    Attributes:
        cell: "rnn", "lstm" or "gru".
        core: the cache of the cell's sequence forward function.
        lengths: int64 (N,).
        mask: bool (N, T), True at real steps.
        h0: initial hidden state, (N, H).
        h_last: hidden state after each sequence's last real step, (N, H)
            (``h0`` for a sequence of length 0).
        c_last: for "lstm", the cell state there, (N, H); else None.
        x: the inputs with padding replaced by zeros, (N, T, D).
        params: the parameter dict.
        c0: for "lstm", the initial cell state (zeros if none was given).
    """

    cell: str
    core: object
    lengths: np.ndarray
    mask: np.ndarray
    h0: np.ndarray
    h_last: np.ndarray
    c_last: np.ndarray | None
    x: np.ndarray
    params: dict
    c0: np.ndarray | None


def recurrent_forward(cell, x, h0, params, lengths=None, c0=None):
    """Run one cell over padded sequences.

    Args:
        cell: "rnn", "lstm" or "gru".
        x: inputs, (N, T, D); steps ``t >= lengths[n]`` of row n are padding
            and may hold anything.
        h0: initial hidden state, (N, H); None means zeros.
        params: dict of the cell's parameters (see :data:`CELLS`).
        lengths: int array (N,), real lengths in [0, T]; None means all T.
        c0: initial cell state (N, H), "lstm" only; None means zeros.

    Returns:
        h: hidden states, (N, T, H); exactly 0 at padded steps.
        cache: :class:`RecurrentCache`; ``cache.h_last`` (N, H) is each
            sequence's final state (and ``cache.c_last`` its final LSTM cell
            state).
    """
    cell = _check_cell(cell)
    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    p = _check_params("params", cell, params, s)
    N, T, H = s["N"], s["T"], s["H"]
    h0 = np.zeros((N, H), dtype=x.dtype) if h0 is None else s.check("h0", h0, ("N", "H"))
    if c0 is not None:
        if cell != "lstm":
            raise ValueError(f"c0 is only for the 'lstm' cell, not {cell!r}")
        c0 = s.check("c0", c0, ("N", "H"))
    lengths = _check_lengths(lengths, N, T)
    mask = length_mask(lengths, T)
    zero = np.zeros((), dtype=x.dtype)
    # Zero the padding so that whatever it holds cannot reach a real step,
    # not even inf or nan through 0 * inf in the backward pass.
    x_clean = np.where(mask[:, :, None], x, zero)
    if cell == "lstm" and c0 is None:
        c0 = np.zeros_like(h0)
    h_all, core = _run_cell(cell, x_clean, h0, p, c0)
    h = np.where(mask[:, :, None], h_all, zero)

    rows = np.arange(N)
    last = np.maximum(lengths - 1, 0)
    empty = (lengths == 0)[:, None]
    h_last = np.where(empty, h0, h_all[rows, last])
    c_last = None
    if cell == "lstm":
        c_last = np.where(empty, c0, core.c[rows, last])
    return h, RecurrentCache(cell, core, lengths, mask, h0, h_last, c_last, x_clean, p, c0)


def recurrent_backward(dh, cache, dh_last=None, dc_last=None, return_dc0=False):
    """Backward pass of :func:`recurrent_forward`.

    Args:
        dh: gradient with respect to the outputs ``h``, (N, T, H). Entries at
            padded steps are ignored (those outputs are constant zeros).
        cache: the :class:`RecurrentCache` from :func:`recurrent_forward`.
        dh_last: optional gradient with respect to ``cache.h_last``, (N, H),
            for when the final state is used (a classifier's input, a
            decoder's initial state).
        dc_last: optional gradient with respect to ``cache.c_last``, (N, H);
            "lstm" only.
        return_dc0: "lstm" only: also return the gradient for ``c0``.

    Returns:
        dx: (N, T, D); exactly 0 at padded steps.
        dh0: (N, H).
        grads: dict with the keys of ``params``.
        dc0: (N, H), only with ``return_dc0``.
    """
    c = check_cache("cache", cache, RecurrentCache, "recurrent_forward")
    N, T = c.mask.shape
    H = c.h0.shape[1]
    dtype = c.h0.dtype
    dh = _check_grad("dh", dh, (N, T, H), dtype, "recurrent_forward")
    if c.cell != "lstm" and (dc_last is not None or return_dc0):
        raise ValueError(f"dc_last and return_dc0 are only for the 'lstm' cell, not {c.cell!r}")
    rows = np.arange(N)
    real = c.lengths > 0
    last = np.maximum(c.lengths - 1, 0)
    zero = np.zeros((), dtype=dtype)

    dh_eff = np.where(c.mask[:, :, None], dh, zero)
    dh0_extra = np.zeros((N, H), dtype=dtype)
    if dh_last is not None:
        dh_last = _check_grad("dh_last", dh_last, (N, H), dtype, "recurrent_forward (h_last)")
        # h_last is the state at the last real step, or h0 when there is none.
        dh_eff[rows[real], last[real]] += dh_last[real]
        dh0_extra[~real] = dh_last[~real]

    if c.cell == "lstm":
        dx, dh0, grads, dc0 = _lstm_backward_masked(dh_eff, c, dc_last)
    else:
        dx, dh0, grads = get_cell(c.cell).backward(dh_eff, c.core)
    dh0 = dh0 + dh0_extra
    dx = np.where(c.mask[:, :, None], dx, zero)
    if return_dc0:
        return dx, dh0, grads, dc0
    return dx, dh0, grads


def _lstm_backward_masked(dh_eff, c: RecurrentCache, dc_last):
    """LSTM backward with a final-cell-state gradient at each sequence's own last step.

    ``lstm_backward`` accepts a cell-state gradient only at step T - 1. Rows
    whose last real step is T - 1 get it there. The rows that end earlier are
    grouped by length L; for each group the forward is run again over its L
    real steps only, whose last cell state is exactly the group's ``c_last``,
    and a second backward from ``dc_last`` alone gives its contribution. The
    two contributions add, since the backward pass is linear in the upstream
    gradients. (This costs one extra short pass per distinct length, and only
    when ``dc_last`` is given.)
    """
    N, T = c.mask.shape
    H = c.h0.shape[1]
    dtype = c.h0.dtype
    dc_full = None
    if dc_last is not None:
        dc_last = _check_grad("dc_last", dc_last, (N, H), dtype, "recurrent_forward (c_last)")
        dc_full = np.where((c.lengths == T)[:, None], dc_last, np.zeros((), dtype=dtype))
    dx, dh0, dWx, dWh, db, dc0 = _lstm.lstm_backward(dh_eff, c.core, dc_last=dc_full,
                                                     return_dc0=True)
    if dc_last is not None:
        p = c.params
        for L in np.unique(c.lengths[c.lengths < T]):
            rows = np.flatnonzero(c.lengths == L)
            if L == 0:
                dc0[rows] += dc_last[rows]  # c_last is c0 itself
                continue
            _, part = _lstm.lstm_forward(c.x[rows, :L], c.h0[rows], p["Wx"], p["Wh"], p["b"],
                                         c0=c.c0[rows])
            zeros = np.zeros((rows.size, L, H), dtype=dtype)
            pdx, pdh0, pdWx, pdWh, pdb, pdc0 = _lstm.lstm_backward(
                zeros, part, dc_last=dc_last[rows], return_dc0=True)
            dx[rows, :L] += pdx
            dh0[rows] += pdh0
            dc0[rows] += pdc0
            dWx += pdWx
            dWh += pdWh
            db += pdb
    return dx, dh0, {"Wx": dWx, "Wh": dWh, "b": db}, dc0


# -- two directions --------------------------------------------------------------------

@dataclass
class BidirectionalCache:
    """What :func:`bidirectional_backward` needs.

    Attributes:
        fwd, bwd: :class:`RecurrentCache` of the two directions (the backward
            one ran on the per-length reversed input).
        index: (N, T) reversal index, see :func:`reverse_within_lengths`.
        h_last: (N, 2H), the forward cell's state after the last real step
            next to the backward cell's state after step 0 (both have read
            the whole sequence).
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
        cell: "rnn", "lstm" or "gru" (both directions use the same kind).
        x: inputs, (N, T, D).
        params_fwd, params_bwd: parameter dicts of the two cells, each with
            hidden size H.
        lengths: int array (N,) in [0, T]; None means all T.

    Returns:
        h: (N, T, 2H), forward states in ``h[..., :H]``, backward states in
            ``h[..., H:]``; exactly 0 at padded steps.
        cache: :class:`BidirectionalCache`; ``cache.h_last`` is (N, 2H).
    """
    cell = _check_cell(cell)
    s = Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    _check_params("params_fwd", cell, params_fwd, s)
    _check_params("params_bwd", cell, params_bwd, s)
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
        dx: (N, T, D); exactly 0 at padded steps.
        grads_fwd, grads_bwd: dicts with the keys of the two parameter dicts.
    """
    c = check_cache("cache", cache, BidirectionalCache, "bidirectional_forward")
    N, T = c.index.shape
    H = c.fwd.h0.shape[1]
    dtype = c.fwd.h0.dtype
    dh = _check_grad("dh", dh, (N, T, 2 * H), dtype, "bidirectional_forward")
    dl_f = dl_b = None
    if dh_last is not None:
        dh_last = _check_grad("dh_last", dh_last, (N, 2 * H), dtype,
                              "bidirectional_forward (h_last)")
        dl_f, dl_b = dh_last[:, :H], dh_last[:, H:]
    rows = np.arange(N)[:, None]
    dx_f, _, grads_f = recurrent_backward(dh[:, :, :H], c.fwd, dh_last=dl_f)
    dx_b_rev, _, grads_b = recurrent_backward(dh[:, :, H:][rows, c.index], c.bwd, dh_last=dl_b)
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
        cell: "rnn", "lstm" or "gru".
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
    """
    cell = _check_cell(cell)
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
    """
    c = check_cache("cache", cache, StackedCache, "stacked_forward")
    grads = [None] * len(c.layers)
    for l in range(len(c.layers) - 1, -1, -1):
        top = l == len(c.layers) - 1
        if c.bidirectional:
            dh, g_f, g_b = bidirectional_backward(dh, c.layers[l], dh_last if top else None)
            grads[l] = (g_f, g_b)
        else:
            dh, _, grads[l] = recurrent_backward(dh, c.layers[l], dh_last if top else None)
    return dh, grads
