"""Fast sequence kernels of the RNN, LSTM and GRU, the ones training runs.

The sequence functions of :mod:`rnnbook.nn.rnn`, :mod:`rnnbook.nn.lstm` and
:mod:`rnnbook.nn.gru` are the readable definition: a loop over the step
functions. The kernels here give the same numbers (a test checks outputs
and every gradient against the readable versions to float64 precision),
organised for speed instead: the input projections of all steps are one
matrix product; the weight gradients are one product over all N*T rows after
the time loop; the LSTM keeps its states time-major, (T, N, ...), so that
each step works on contiguous memory, updates them in place, and computes
every local derivative that does not depend on the recurrence for a block of
steps before the backward loop reaches it. The cell registry
:mod:`rnnbook.nn.cells` binds them to the cells, so the sequence wrappers,
the models and the training loops all use them.

The LSTM backward kernel takes a gradient for the cell state at every step
(``dc``, like ``dh``) and returns the gradient of ``c0``, so that a masked
layer can place the gradient of each sequence's final cell state at that
sequence's own last step and run one backward pass.

Importing this module tunes the C library's memory allocator (glibc on
Linux) so that large freed arrays are reused instead of handed back to the
operating system, which saves a page fault per 4 KiB of every new array;
set the environment variable ``RNNBOOK_MALLOC=default`` before the import
to keep the C library's own settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import (Shapes, check_cache, check_cell_inputs, check_cell_params,
                            check_upstream)
# Imported for its effect: it tunes the C library's allocator (module docstring).
from rnnbook.nn import _memory  # noqa: F401
from rnnbook.nn.records import (GRU_GATES, LSTM_GATES, CellGrads, GateViews, GRUGrads,
                                LSTMFullGrads, SequenceCache, batch_first_view)

__all__ = [
    "RNNKernelCache", "rnn_forward_fast", "rnn_backward_fast",
    "LSTMKernelCache", "lstm_forward_fast", "lstm_backward_fast",
    "GRUKernelCache", "gru_forward_fast", "gru_backward_fast",
]


# --------------------------------------------------------------------------
# RNN
# --------------------------------------------------------------------------

@dataclass
class RNNKernelCache(SequenceCache):
    """What :func:`rnn_backward_fast` needs from :func:`rnn_forward_fast`.

    The arrays of every :class:`~rnnbook.nn.records.SequenceCache` come
    first (``x`` (N, T, D), ``h0`` (N, H), ``Wx`` (D, H), ``Wh`` (H, H) and the
    hidden states ``h`` (N, T, H)), then:

    Attributes:
        xh_tm: the rows ``[x_t | 1 | h_{t-1}]`` of every step, time-major,
            (T + 1, N, D + 1 + H), as in :class:`LSTMKernelCache`.

    Taught in: Chapter 2, Backpropagation through time.
    """

    xh_tm: np.ndarray


def _stacked_rows(x, h0, H):
    """The time-major rows ``[x_t | 1 | h_{t-1}]`` the fast kernels keep, (T + 1, N, D + 1 + H).

    For every step t the row holds the inputs, a one for the bias, and the
    hidden state the step reads; the kernels write the states into the last
    H columns (``h0`` is there already, at t = 0). One product of these rows
    with the input weights stacked on the bias gives every input projection
    with its bias, and in the backward pass one product of the same rows with
    the pre-activation gradients gives dWx, db and dWh at once: two products
    instead of four plus two passes over large arrays.
    """
    N, T, D = x.shape
    xh = np.empty((T + 1, N, D + 1 + H), dtype=x.dtype)
    xh[:T, :, :D] = x.transpose(1, 0, 2)
    xh[:, :, D] = 1
    xh[T, :, :D] = 0
    xh[0, :, D + 1:] = h0
    return xh


def _stacked_row_grads(da, cache):
    """dx, dWx, dWh and db from the time-major pre-activation gradients ``da`` (T, N, kH).

    Every weight gradient is a sum over steps, so one product over all T*N
    rows with the cache's rows [x_t | 1 | h_{t-1}] gives dWx, db (from the
    column of ones) and dWh stacked; dx is returned batch-first, (N, T, D).
    """
    T, N, kH = da.shape
    D = cache.x.shape[2]
    da2 = da.reshape(T * N, kH)
    dx = np.ascontiguousarray((da2 @ cache.Wx.T).reshape(T, N, D).transpose(1, 0, 2))
    dW = cache.xh_tm[:T].reshape(T * N, -1).T @ da2
    return dx, dW[:D], dW[D + 1:], dW[D]


def rnn_forward_fast(x, h0, Wx, Wh, b):
    """Fast :func:`~rnnbook.nn.rnn.rnn_forward`: the same numbers, for training.

    Args:
        x: inputs, (N, T, D); this and the other arguments are those of
            :func:`~rnnbook.nn.rnn.rnn_forward`.
        h0: (N, H).
        Wx: (D, H).
        Wh: (H, H).
        b: (H,).

    Returns:
        h: every hidden state, (N, T, H), as from ``rnn_forward``.
        cache: :class:`RNNKernelCache` for :func:`rnn_backward_fast`.

    Taught in: Chapter 2, Backpropagation through time.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 1, Wx=Wx, Wh=Wh, b=b)
    x, h0 = check_cell_inputs(s, x, h0=h0)
    N, T, D, H = s["N"], s["T"], s["D"], s["H"]

    # The input projections do not depend on the recurrence: one product for
    # all steps, time-major so that each step's slice is contiguous.
    xh = _stacked_rows(x, h0, H)
    hs = xh[:, :, D + 1:]  # hs[t] is the state before step t
    a = (xh[:T, :, :D + 1].reshape(T * N, D + 1) @ np.vstack((Wx, b))).reshape(T, N, H)
    hWh = np.empty((N, H), dtype=x.dtype)
    a_at, h_at = list(a), list(hs)
    for t in range(T):
        np.matmul(h_at[t], Wh, out=hWh)
        a_at[t] += hWh
        np.tanh(a_at[t], out=h_at[t + 1])
    h = np.ascontiguousarray(hs[1:].transpose(1, 0, 2))
    return h, RNNKernelCache(x, h0, Wx, Wh, h, xh)


def rnn_backward_fast(dh, cache):
    """Fast :func:`~rnnbook.nn.rnn.rnn_backward`, on :func:`rnn_forward_fast`'s cache.

    Args:
        dh: the loss's direct gradient on every hidden state, (N, T, H), as
            for ``rnn_backward``.
        cache: the :class:`RNNKernelCache` returned by :func:`rnn_forward_fast`.

    Returns:
        grads: :class:`~rnnbook.nn.records.CellGrads`, the gradients with respect
            to ``x`` (N, T, D), ``h0`` (N, H), ``Wx`` (D, H), ``Wh`` (H, H) and
            ``b`` (H,), as from ``rnn_backward``.

    Taught in: Chapter 2, Backpropagation through time.
    """
    c = check_cache("cache", cache, RNNKernelCache, "rnn_forward_fast")
    dh = check_upstream("dh", dh, c.h.shape, c.h.dtype, "rnn_forward_fast")
    N, T, H = c.h.shape
    D = c.x.shape[2]

    # tanh' = 1 - h**2 for all steps at once, time-major like everything below.
    da = np.square(c.xh_tm[1:, :, D + 1:])  # becomes the pre-activation gradients
    np.subtract(1, da, out=da)
    # Only this loop is sequential: the gradient reaching step t from step
    # t + 1 needs the pre-activation gradient of step t + 1.
    dh_tm = np.ascontiguousarray(dh.transpose(1, 0, 2))
    dh_next = np.zeros((N, H), dtype=c.h.dtype)
    dh_t = np.empty_like(dh_next)
    Wh_T = np.ascontiguousarray(c.Wh.T)
    da_at, dh_at = list(da), list(dh_tm)
    for t in range(T - 1, -1, -1):
        np.add(dh_at[t], dh_next, out=dh_t)
        da_at[t] *= dh_t
        np.matmul(da_at[t], Wh_T, out=dh_next)

    dx, dWx, dWh, db = _stacked_row_grads(da, c)
    return CellGrads(dx, dh_next, dWx, dWh, db)


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------

@dataclass
class LSTMKernelCache(GateViews, gates=LSTM_GATES):
    """What :func:`lstm_backward_fast` needs from :func:`lstm_forward_fast`, and the
    internal states of every step for inspection.

    The states are stored time-major, so that the slice a step reads or
    writes is one contiguous block of memory; the batch-first properties
    below are views of that storage.

    Attributes:
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H).
        c0: initial cell state, (N, H).
        Wx: input-to-gates weights, (D, 4H).
        Wh: hidden-to-gates weights, (H, 4H).
        h: hidden states, (N, T, H) (the array ``lstm_forward_fast`` returned).
        hs: ``h0`` followed by every hidden state, time-major, (T + 1, N, H).
        cs: ``c0`` followed by every cell state, time-major, (T + 1, N, H).
        tanh_cs: ``tanh`` of every cell state, time-major, (T, N, H).
        gates_tm: gate activations, time-major, (T, N, 4H), blocks [i | f | g | o].
        xh_tm: the rows ``[x_t | 1 | h_{t-1}]`` of every step, time-major,
            (T + 1, N, D + 1 + H); ``hs`` is a view of its last H columns.

    Batch-first views (read them, do not write to them) as properties:
    ``c`` and ``tanh_c`` (N, T, H), ``gates`` (N, T, 4H), and one view per
    gate, ``i``, ``f``, ``g``, ``o`` (N, T, H).

    Taught in: Chapter 4, Long short-term memory.
    """

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    h: np.ndarray
    hs: np.ndarray
    cs: np.ndarray
    tanh_cs: np.ndarray
    gates_tm: np.ndarray
    xh_tm: np.ndarray

    c = batch_first_view("cs", "Cell state after every step, (N, T, H)", skip=1)
    tanh_c = batch_first_view("tanh_cs", "``tanh(c)`` of every step, (N, T, H)")
    gates = batch_first_view("gates_tm", "Gate activations of every step, (N, T, 4H)")


def lstm_forward_fast(x, h0, Wx, Wh, b, c0=None):
    """Fast :func:`~rnnbook.nn.lstm.lstm_forward`: the same numbers, for training.

    Args:
        x: inputs, (N, T, D); this and the other arguments are those of
            :func:`~rnnbook.nn.lstm.lstm_forward`.
        h0: (N, H).
        Wx: (D, 4H), column blocks [i | f | g | o].
        Wh: (H, 4H).
        b: (4H,).
        c0: (N, H), or ``None`` for zeros.

    Returns:
        h: every hidden state, (N, T, H), as from ``lstm_forward``.
        cache: :class:`LSTMKernelCache` for :func:`lstm_backward_fast`, with the
            same views of the gates and cell states as ``lstm_forward``'s cache.

    Taught in: Chapter 4, Long short-term memory.
    """
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 4, Wx=Wx, Wh=Wh, b=b)
    x, h0 = check_cell_inputs(s, x, h0=h0)
    c0 = np.zeros_like(h0) if c0 is None else s.check("c0", c0, ("N", "H"))
    N, T, D, H = s["N"], s["T"], s["D"], s["H"]

    dtype = x.dtype
    # sigmoid(a) = (1 + tanh(a / 2)) / 2, so every gate is
    # scale * tanh(scale * a) + shift with scale = 1/2, shift = 1/2 on the
    # sigmoid blocks i, f, o and scale = 1, shift = 0 on the tanh block g.
    # One in-place tanh over the whole (N, 4H) row then activates all four
    # gates at once; it saturates instead of overflowing, so it is as stable
    # as rnnbook.nn.activations.sigmoid, and several times faster than calling
    # that on three slices, which allocates temporaries at every step.
    # Scaling by 1/2 is exact in binary floating point, so it is folded into
    # the parameters once, before the loop. The scale and shift are full
    # (N, 4H) rows because numpy multiplies two equal shapes faster than it
    # broadcasts one row over N.
    scale = np.full(4 * H, 0.5, dtype=dtype)
    scale[2 * H:3 * H] = 1
    scale_rows = np.broadcast_to(scale, (N, 4 * H)).copy()
    shift_rows = 1 - scale_rows

    # The rows [x_t | 1 | h_{t-1}] of every step (see _stacked_rows): the input
    # projections with their bias are one product, and hs is a view of the
    # states' columns.
    xh = _stacked_rows(x, h0, H)
    hs = xh[:, :, D + 1:]
    W1 = np.empty((D + 1, 4 * H), dtype=dtype)
    np.multiply(Wx, scale, out=W1[:D])
    np.multiply(b, scale, out=W1[D])
    # The input projections, time-major (T, N, 4H) so that each step's slice
    # is contiguous. The result then serves as the gate array: step t adds
    # its recurrent term and activates it in place.
    gates = (xh[:T, :, :D + 1].reshape(T * N, D + 1) @ W1).reshape(T, N, 4 * H)
    Wh_scaled = Wh * scale
    # hs[t] and cs[t] are the states *before* step t: index 0 holds h0, c0.
    cs = np.empty((T + 1, N, H), dtype=dtype)
    cs[0] = c0
    tanh_cs = np.empty((T, N, H), dtype=dtype)
    hWh = np.empty((N, 4 * H), dtype=dtype)
    ig = np.empty((N, H), dtype=dtype)
    # The views every step reads and writes, made in bulk before the loop: at
    # small sizes indexing an array once per view and step costs more than
    # some of the arithmetic.
    rows, h_at, c_at, tanh_c_at = list(gates), list(hs), list(cs), list(tanh_cs)
    G = gates.reshape(T, N, 4, H)
    i_at, f_at, g_at, o_at = (list(G[:, :, k]) for k in range(4))
    for t in range(T):
        a = rows[t]
        np.matmul(h_at[t], Wh_scaled, out=hWh)
        a += hWh
        np.tanh(a, out=a)
        a *= scale_rows
        a += shift_rows
        c = c_at[t + 1]
        np.multiply(f_at[t], c_at[t], out=c)
        np.multiply(i_at[t], g_at[t], out=ig)
        c += ig
        np.tanh(c, out=tanh_c_at[t])
        np.multiply(o_at[t], tanh_c_at[t], out=h_at[t + 1])
    # The returned states are batch-first and contiguous, like every input.
    h = np.ascontiguousarray(hs[1:].transpose(1, 0, 2))
    return h, LSTMKernelCache(x, h0, c0, Wx, Wh, h, hs, cs, tanh_cs, gates, xh)


# Elements of a derivative-factor array processed per block by the backward
# kernels (2**18 float32 numbers are 1 MiB, which stays in a typical L2/L3 cache).
_CACHE_BLOCK = 2**18


def _blocks_from_the_end(T, row_elements):
    """The blocks ``(start, stop)`` of steps a backward kernel visits, last steps first.

    Each block holds about ``_CACHE_BLOCK`` elements of a factor array
    whose step slices have ``row_elements`` elements, at least one step.
    """
    block = max(1, _CACHE_BLOCK // row_elements)
    return [(max(0, stop - block), stop) for stop in range(T, 0, -block)]


def _lstm_local_factors(G, c_prev, tanh_c, P, dc_from_h):
    """Local derivatives of a block of B steps that do not depend on the recurrence.

    With dc the total gradient on c_t and dh the total gradient on h_t, the
    pre-activation gradients of step t are

        da_i = dc * g i (1 - i)          da_f = dc * c_prev f (1 - f)
        da_g = dc * i (1 - g**2)         da_o = dh * tanh(c) o (1 - o)

    and c_t receives dh * o (1 - tanh(c)**2) from h_t. This writes the
    factors after dc (or dh) into P, (B, N, 4, H), and o (1 - tanh(c)**2)
    into dc_from_h, (B, N, H). G: gate activations, (B, N, 4, H); c_prev and
    tanh_c: (B, N, H).
    """
    i, f, g, o = G[:, :, 0], G[:, :, 1], G[:, :, 2], G[:, :, 3]
    np.subtract(1, G, out=P)
    P *= G  # sigmoid' = s (1 - s) for blocks i, f, o; block g is replaced below
    P[:, :, 0] *= g
    P[:, :, 1] *= c_prev
    np.multiply(g, g, out=P[:, :, 2])
    np.subtract(1, P[:, :, 2], out=P[:, :, 2])
    P[:, :, 2] *= i
    P[:, :, 3] *= tanh_c
    np.multiply(tanh_c, tanh_c, out=dc_from_h)
    np.subtract(1, dc_from_h, out=dc_from_h)
    dc_from_h *= o


def lstm_backward_fast(dh, cache, dc=None):
    """Fast :func:`~rnnbook.nn.lstm.lstm_backward_full`, on the kernel's cache.

    Args:
        dh: the loss's direct gradient on every hidden state, (N, T, H).
        cache: the :class:`LSTMKernelCache` returned by :func:`lstm_forward_fast`.
        dc: the loss's direct gradient on every cell state, (N, T, H), or
            ``None`` for zeros. A masked layer puts the gradient of each
            sequence's final cell state at that sequence's own last step.

    Returns:
        grads: :class:`~rnnbook.nn.records.LSTMFullGrads`, the gradients with
            respect to ``x`` (N, T, D), ``h0`` and ``c0`` (N, H each), ``Wx``
            (D, 4H), ``Wh`` (H, 4H) and ``b`` (4H,), as from ``lstm_backward_full``.

    Taught in: Chapter 4, Long short-term memory.
    """
    k = check_cache("cache", cache, LSTMKernelCache, "lstm_forward_fast")
    dtype = k.h.dtype
    dh = check_upstream("dh", dh, k.h.shape, dtype, "lstm_forward_fast")
    N, T, H = k.h.shape
    dc_tm = None
    if dc is not None:
        dc = check_upstream("dc", dc, k.h.shape, dtype, "lstm_forward_fast (c)")
        dc_tm = np.ascontiguousarray(dc.transpose(1, 0, 2))

    # Time-major (T, N, 4, H) view of the gates: one operation can cover
    # several gates, and every step's slice is contiguous.
    G = k.gates_tm.reshape(T, N, 4, H)
    # P receives the local derivative factors (see _lstm_local_factors) and
    # the loop overwrites them with the pre-activation gradients da, step by
    # step, so that no second array of this size is allocated.
    P = np.empty_like(G)
    da = P
    # The factors are computed a block of steps at a time, just before the
    # loop reaches them: for a large layer all T steps do not fit in the
    # processor's cache, a block does, and the loop then finds it there.
    blocks = _blocks_from_the_end(T, N * 4 * H)
    dc_from_h = np.empty((blocks[0][1] - blocks[0][0], N, H), dtype=dtype)

    # The sequential part: only dh and dc travel from step t + 1 to step t.
    dh_tm = np.ascontiguousarray(dh.transpose(1, 0, 2))
    dh_t = np.empty((N, H), dtype=dtype)
    dc_t = np.empty((N, H), dtype=dtype)
    dh_next = np.zeros((N, H), dtype=dtype)
    dc_next = np.zeros((N, H), dtype=dtype)
    Wh_T = np.ascontiguousarray(k.Wh.T)
    # Per-step views made in bulk, as in the forward kernel.
    dh_at, da_at = list(dh_tm), list(da.reshape(T, N, 4 * H))
    ifg_at, o_at, f_at = list(P[:, :, :3]), list(P[:, :, 3]), list(G[:, :, 1])
    dc_from_h_at = list(dc_from_h)
    dc_t_by_gate = dc_t[:, None, :]  # dc_t broadcast over the blocks i, f, g
    for start, stop in blocks:
        _lstm_local_factors(G[start:stop], k.cs[start:stop], k.tanh_cs[start:stop],
                            P[start:stop], dc_from_h[:stop - start])
        for t in range(stop - 1, start - 1, -1):
            np.add(dh_at[t], dh_next, out=dh_t)
            np.multiply(dh_t, dc_from_h_at[t - start], out=dc_t)
            dc_t += dc_next
            if dc_tm is not None:
                dc_t += dc_tm[t]
            # The factors become the pre-activation gradients, in place.
            ifg_at[t] *= dc_t_by_gate
            o_at[t] *= dh_t
            np.multiply(dc_t, f_at[t], out=dc_next)  # through c = f * c_prev + ...
            np.matmul(da_at[t], Wh_T, out=dh_next)

    dx, dWx, dWh, db = _stacked_row_grads(da.reshape(T, N, 4 * H), k)
    return LSTMFullGrads(dx, dh_next, dc_next, dWx, dWh, db)


# --------------------------------------------------------------------------
# GRU (PyTorch's formulation)
# --------------------------------------------------------------------------

@dataclass
class GRUKernelCache(SequenceCache, GateViews, gates=GRU_GATES):
    """What :func:`gru_backward_fast` needs from :func:`gru_forward_fast`.

    The arrays of every :class:`~rnnbook.nn.records.SequenceCache` come
    first (``x``, ``h0``, ``Wx`` (D, 3H), ``Wh`` (H, 3H), ``h``), then the
    time-major storage, as in :class:`LSTMKernelCache`:

    Attributes:
        gates_tm: activations [r | z | n] of every step, (T, N, 3H).
        ah_tm: the recurrent products ``h_prev Wh + bh`` of every step,
            (T, N, 3H), with the r and z blocks halved (the kernel computes
            sigmoid(a) as (1 + tanh(a / 2)) / 2); the n block, ``hn``, is exact.
        xh_tm: the rows ``[x_t | 1 | h_{t-1}]`` of every step, time-major,
            (T + 1, N, D + 1 + H).

    Batch-first views (read them, do not write to them) as properties:
    ``gates`` (N, T, 3H), one view per gate, ``r``, ``z``, ``n`` (N, T, H),
    and ``hn`` (N, T, H).

    Taught in: Chapter 5, Gated recurrent units.
    """

    gates_tm: np.ndarray
    ah_tm: np.ndarray
    xh_tm: np.ndarray

    gates = batch_first_view("gates_tm", "Gate activations of every step, (N, T, 3H)")

    @property
    def hn(self):
        """``h_prev Wh_n + bh_n`` of every step, (N, T, H), a batch-first view of ``ah_tm``."""
        H = self.h.shape[2]
        return self.ah_tm[:, :, 2 * H:].transpose(1, 0, 2)


def gru_forward_fast(x, h0, Wx, Wh, bx, bh):
    """Fast :func:`~rnnbook.nn.gru.gru_forward`: the same numbers, for training.

    Args:
        x: inputs, (N, T, D); this and the other arguments are those of
            :func:`~rnnbook.nn.gru.gru_forward`.
        h0: (N, H).
        Wx: (D, 3H), column blocks [r | z | n].
        Wh: (H, 3H).
        bx: (3H,).
        bh: (3H,).

    Returns:
        h: every hidden state, (N, T, H), as from ``gru_forward``.
        cache: :class:`GRUKernelCache` for :func:`gru_backward_fast`, with the
            same views ``r``, ``z``, ``n`` of the gates as ``gru_forward``'s cache.

    Taught in: Chapter 5, Gated recurrent units.
    """
    s = Shapes()
    Wx, Wh, bx, bh = check_cell_params(s, 3, Wx=Wx, Wh=Wh, bx=bx, bh=bh)
    x, h0 = check_cell_inputs(s, x, h0=h0)
    N, T, D, H = s["N"], s["T"], s["D"], s["H"]
    dtype = x.dtype

    # As in the LSTM kernel, sigmoid(a) = (1 + tanh(a / 2)) / 2: the r and z
    # columns of both weight matrices and biases are halved once, and one
    # in-place tanh activates both gates. The n block keeps its scale, since
    # r multiplies the exact hn.
    scale = np.ones(3 * H, dtype=dtype)
    scale[:2 * H] = 0.5
    xh = _stacked_rows(x, h0, H)
    hs = xh[:, :, D + 1:]
    W_in = np.empty((D + 1, 3 * H), dtype=dtype)
    np.multiply(Wx, scale, out=W_in[:D])
    np.multiply(bx, scale, out=W_in[D])
    # The rows [1 | h_{t-1}] are the last H + 1 columns of xh: with the bias
    # stacked on Wh, each step's recurrent product includes bh.
    W_rec = np.empty((H + 1, 3 * H), dtype=dtype)
    np.multiply(bh, scale, out=W_rec[0])
    np.multiply(Wh, scale, out=W_rec[1:])
    # The input projections of every step in one product, time-major; the
    # array then becomes the gate activations, step by step, in place.
    gates = (xh[:T, :, :D + 1].reshape(T * N, D + 1) @ W_in).reshape(T, N, 3 * H)
    ah = np.empty_like(gates)
    tmp = np.empty((N, H), dtype=dtype)
    G, Ah = gates.reshape(T, N, 3, H), ah.reshape(T, N, 3, H)
    one_h_at, h_at, ah_at = list(xh[:, :, D:]), list(hs), list(ah)
    rz_at, ahrz_at = list(gates[:, :, :2 * H]), list(ah[:, :, :2 * H])
    r_at, z_at, n_at, hn_at = list(G[:, :, 0]), list(G[:, :, 1]), list(G[:, :, 2]), list(Ah[:, :, 2])
    for t in range(T):
        np.matmul(one_h_at[t], W_rec, out=ah_at[t])
        rz = rz_at[t]
        rz += ahrz_at[t]
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        n = n_at[t]
        np.multiply(r_at[t], hn_at[t], out=tmp)
        n += tmp
        np.tanh(n, out=n)
        # h = n + z (h_prev - n)
        np.subtract(h_at[t], n, out=tmp)
        tmp *= z_at[t]
        np.add(n, tmp, out=h_at[t + 1])
    h = np.ascontiguousarray(hs[1:].transpose(1, 0, 2))
    return h, GRUKernelCache(x, h0, Wx, Wh, h, gates, ah, xh)


def _gru_local_factors(G, hn, h_prev, F):
    """Local derivatives of a block of B GRU steps that do not depend on the recurrence.

    With dh the total gradient on h_t, the pre-activation gradients of step t are
    (see :func:`~rnnbook.nn.gru.gru_gate_gradients`)

        da_n = dh * (1 - z)(1 - n**2)          da_r = da_n * hn r (1 - r)
        da_z = dh * (h_prev - n) z (1 - z)     the recurrent n block: da_n * r

    This writes the four factors after dh into F, (B, N, 4, H), in the
    order [n | r | z | n r]. G: gate activations [r | z | n], (B, N, 3, H);
    hn and h_prev: (B, N, H).
    """
    r, z, n = G[:, :, 0], G[:, :, 1], G[:, :, 2]
    Fn, Fr, Fz, Fnr = F[:, :, 0], F[:, :, 1], F[:, :, 2], F[:, :, 3]
    np.subtract(1, z, out=Fr)  # 1 - z, kept in Fr for two uses
    np.multiply(n, n, out=Fn)
    np.subtract(1, Fn, out=Fn)
    Fn *= Fr
    np.multiply(z, Fr, out=Fz)
    np.subtract(h_prev, n, out=Fr)
    Fz *= Fr
    np.multiply(Fn, r, out=Fnr)
    np.subtract(1, r, out=Fr)
    Fr *= r
    Fr *= hn
    Fr *= Fn


def gru_backward_fast(dh, cache):
    """Fast :func:`~rnnbook.nn.gru.gru_backward`, on :func:`gru_forward_fast`'s cache.

    Args:
        dh: the loss's direct gradient on every hidden state, (N, T, H).
        cache: the :class:`GRUKernelCache` returned by :func:`gru_forward_fast`.

    Returns:
        grads: :class:`~rnnbook.nn.records.GRUGrads`, the gradients with respect
            to ``x`` (N, T, D), ``h0`` (N, H), ``Wx`` (D, 3H), ``Wh`` (H, 3H),
            ``bx`` and ``bh`` (3H,), as from ``gru_backward``.

    Taught in: Chapter 5, Gated recurrent units.
    """
    k = check_cache("cache", cache, GRUKernelCache, "gru_forward_fast")
    dtype = k.h.dtype
    dh = check_upstream("dh", dh, k.h.shape, dtype, "gru_forward_fast")
    N, T, H = k.h.shape
    D = k.x.shape[2]

    G = k.gates_tm.reshape(T, N, 3, H)
    hn = k.ah_tm.reshape(T, N, 3, H)[:, :, 2]
    h_prev = k.xh_tm[:T, :, D + 1:]
    # F receives the local factors (see _gru_local_factors), a block of steps
    # at a time as in lstm_backward_fast, and the loop multiplies them by the
    # gradient on h_t in place: [da_n | da_r | da_z | da_n r]. Columns 0:3H
    # are then the input pre-activation gradients (blocks in the order
    # n, r, z) and columns H:4H the recurrent ones (r, z, n, the order of Wh).
    F = np.empty((T, N, 4, H), dtype=dtype)
    F_rows = F.reshape(T, N, 4 * H)
    dh_tm = np.ascontiguousarray(dh.transpose(1, 0, 2))
    dh_t = np.empty((N, H), dtype=dtype)
    dh_next = np.zeros((N, H), dtype=dtype)
    direct = np.empty((N, H), dtype=dtype)
    Wh_T = np.ascontiguousarray(k.Wh.T)
    dh_at, F_at, dah_at, z_at = list(dh_tm), list(F), list(F_rows[:, :, H:]), list(G[:, :, 1])
    dh_t_by_gate = dh_t[:, None, :]
    for start, stop in _blocks_from_the_end(T, N * 4 * H):
        _gru_local_factors(G[start:stop], hn[start:stop], h_prev[start:stop], F[start:stop])
        for t in range(stop - 1, start - 1, -1):
            np.add(dh_at[t], dh_next, out=dh_t)
            F_at[t] *= dh_t_by_gate
            np.matmul(dah_at[t], Wh_T, out=dh_next)
            np.multiply(dh_t, z_at[t], out=direct)  # through h = ... + z h_prev
            dh_next += direct

    # dx and the weight gradients: one product each over all T*N rows. The
    # input gradients come in the block order n, r, z; Wx's columns are
    # reordered to match, and dWx's back.
    dax = F_rows[:, :, :3 * H].reshape(T * N, 3 * H)
    dah = F_rows[:, :, H:].reshape(T * N, 3 * H)
    Wx_nrz = np.concatenate((k.Wx[:, 2 * H:], k.Wx[:, :2 * H]), axis=1)
    dx = np.ascontiguousarray((dax @ Wx_nrz.T).reshape(T, N, D).transpose(1, 0, 2))
    rows = k.xh_tm[:T].reshape(T * N, D + 1 + H)
    dW_in = rows[:, :D + 1].T @ dax
    dW_in = np.concatenate((dW_in[:, H:], dW_in[:, :H]), axis=1)
    dW_rec = rows[:, D:].T @ dah
    return GRUGrads(dx, dh_next, dW_in[:D], dW_rec[1:], dW_in[D], dW_rec[0])
