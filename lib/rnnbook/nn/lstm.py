"""The long short-term memory (LSTM) layer.

One step computes four gate pre-activations with one product each for the
input and the previous hidden state,

    a = x Wx + h_prev Wh + b          a: (N, 4H), column blocks [i | f | g | o]
    i = sigmoid(a_i)   input gate
    f = sigmoid(a_f)   forget gate
    g = tanh(a_g)      candidate cell values
    o = sigmoid(a_o)   output gate
    c = f * c_prev + i * g
    h = o * tanh(c)

with ``Wx`` (D, 4H), ``Wh`` (H, 4H) and ``b`` (4H,). The block order i, f, g, o
is the one PyTorch uses, so its weights can be loaded after a transpose (see
:mod:`rnnbook.interop`).

The step functions are the readable definition. The sequence functions give
the same numbers (up to rounding) faster: the input projections of all steps
are one matrix product; the states are kept time-major, (T, N, ...), so that
each step works on contiguous memory, and updated in place; the weight
gradients are one product over all N*T rows after the time loop; and every
local derivative that does not depend on the recurrence is computed for all
steps at once before the backward loop starts.

The cache of :func:`lstm_forward` keeps the gates and cell states of every
step, so they can be inspected or plotted::

    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    cache.f        # forget gate, (N, T, H)
    cache.c        # cell states, (N, T, H)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import Shapes, check_cache, check_steps, check_upstream
from rnnbook.nn.activations import sigmoid, tanh

__all__ = [
    "LSTMStepCache",
    "LSTMCache",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
]


@dataclass
class LSTMStepCache:
    """What :func:`lstm_step_backward` needs from one forward step.

    Attributes:
        x: input, (N, D).
        h_prev, c_prev: previous hidden and cell state, (N, H) each.
        Wx: (D, 4H).  Wh: (H, 4H).
        i, f, g, o: gate activations, (N, H) each.
        c: new cell state, (N, H).
        tanh_c: ``tanh(c)``, (N, H), kept so backward need not recompute it.
    """

    x: np.ndarray
    h_prev: np.ndarray
    c_prev: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    tanh_c: np.ndarray


@dataclass
class LSTMCache:
    """What :func:`lstm_backward` needs from :func:`lstm_forward`, and the
    internal states of every step for inspection.

    The states are stored time-major, so that the slice a step reads or
    writes is one contiguous block of memory; the batch-first properties
    below are views of that storage.

    Attributes:
        x: inputs, (N, T, D).
        h0, c0: initial hidden and cell state, (N, H) each.
        Wx: (D, 4H).  Wh: (H, 4H).
        h: hidden states, (N, T, H) (the array ``lstm_forward`` returned).
        hs: ``h0`` followed by every hidden state, time-major, (T + 1, N, H).
        cs: ``c0`` followed by every cell state, time-major, (T + 1, N, H).
        tanh_cs: ``tanh`` of every cell state, time-major, (T, N, H).
        gates_tm: gate activations, time-major, (T, N, 4H), blocks [i | f | g | o].

    Properties (batch-first views, read them, do not write to them):
        c, tanh_c: (N, T, H).
        gates: (N, T, 4H).
        i, f, g, o: input, forget, candidate, output gates, (N, T, H) each.
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

    @property
    def c(self):
        """Cell state after every step, (N, T, H)."""
        return self.cs[1:].transpose(1, 0, 2)

    @property
    def tanh_c(self):
        """``tanh(c)`` of every step, (N, T, H)."""
        return self.tanh_cs.transpose(1, 0, 2)

    @property
    def gates(self):
        """Gate activations of every step, (N, T, 4H), blocks [i | f | g | o]."""
        return self.gates_tm.transpose(1, 0, 2)

    def _block(self, k):
        H = self.h.shape[2]
        return self.gates[:, :, k * H:(k + 1) * H]

    @property
    def i(self):
        """Input gate of every step, (N, T, H)."""
        return self._block(0)

    @property
    def f(self):
        """Forget gate of every step, (N, T, H)."""
        return self._block(1)

    @property
    def g(self):
        """Candidate cell values of every step, (N, T, H)."""
        return self._block(2)

    @property
    def o(self):
        """Output gate of every step, (N, T, H)."""
        return self._block(3)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step.

    Args:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        c_prev: previous cell state, (N, H).
        Wx: input-to-gates weights, (D, 4H), column blocks [i | f | g | o].
        Wh: hidden-to-gates weights, (H, 4H), same blocks.
        b: gate biases, (4H,), same blocks.

    Returns:
        h: new hidden state, (N, H).
        c: new cell state, (N, H).
        cache: :class:`LSTMStepCache` for :func:`lstm_step_backward`.
    """
    s = Shapes()
    # Parameters first: a data array that disagrees with them is then the
    # one named in the error, which is nearly always where the mistake is.
    Wh = s.check("Wh", Wh, ("H", "4*H"))
    Wx = s.check("Wx", Wx, ("D", "4*H"))
    b = s.check("b", b, ("4*H",))
    x = s.check("x", x, ("N", "D"))
    h_prev = s.check("h_prev", h_prev, ("N", "H"))
    c_prev = s.check("c_prev", c_prev, ("N", "H"))
    H = s["H"]

    a = x @ Wx + h_prev @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = tanh(c)
    h = o * tanh_c
    return h, c, LSTMStepCache(x, h_prev, c_prev, Wx, Wh, i, f, g, o, c, tanh_c)


def lstm_step_backward(dh, dc, cache):
    """Backward pass of :func:`lstm_step_forward`.

    Args:
        dh: gradient with respect to the new hidden state, (N, H).
        dc: gradient with respect to the new cell state, (N, H), from the
            next step (zeros after the last step).
        cache: the :class:`LSTMStepCache` returned by :func:`lstm_step_forward`.

    Returns:
        dx: (N, D).
        dh_prev: (N, H).
        dc_prev: (N, H).
        dWx: (D, 4H).
        dWh: (H, 4H).
        db: (4H,).
    """
    k = check_cache("cache", cache, LSTMStepCache, "lstm_step_forward")
    dh = check_upstream("dh", dh, k.c.shape, k.c.dtype, "lstm_step_forward")
    dc = check_upstream("dc", dc, k.c.shape, k.c.dtype, "lstm_step_forward")

    # c reaches the loss directly (through dc) and through h = o * tanh(c).
    dc = dc + dh * k.o * (1 - k.tanh_c * k.tanh_c)
    di = dc * k.g
    df = dc * k.c_prev
    dg = dc * k.i
    do = dh * k.tanh_c
    dc_prev = dc * k.f
    # Back through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - t**2.
    da = np.concatenate(
        (di * k.i * (1 - k.i), df * k.f * (1 - k.f), dg * (1 - k.g * k.g), do * k.o * (1 - k.o)),
        axis=1,
    )
    dx = da @ k.Wx.T
    dh_prev = da @ k.Wh.T
    dWx = k.x.T @ da
    dWh = k.h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """Run the LSTM over a whole sequence.

    Args:
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H).
        Wx: input-to-gates weights, (D, 4H), column blocks [i | f | g | o].
        Wh: hidden-to-gates weights, (H, 4H).
        b: gate biases, (4H,).
        c0: initial cell state, (N, H); ``None`` means zeros.

    Returns:
        h: hidden states of every step, (N, T, H).
        cache: :class:`LSTMCache` for :func:`lstm_backward`; its fields ``i``,
            ``f``, ``g``, ``o``, ``c`` (each (N, T, H)) hold the gates and
            cell states of every step.
    """
    s = Shapes()
    Wh = s.check("Wh", Wh, ("H", "4*H"))
    Wx = s.check("Wx", Wx, ("D", "4*H"))
    b = s.check("b", b, ("4*H",))
    x = s.check("x", x, ("N", "T", "D"))
    h0 = s.check("h0", h0, ("N", "H"))
    N, T, D, H = s["N"], s["T"], s["D"], s["H"]
    c0 = np.zeros_like(h0) if c0 is None else s.check("c0", c0, ("N", "H"))
    check_steps(T)

    dtype = x.dtype
    # sigmoid(a) = (1 + tanh(a / 2)) / 2, so every gate is
    # scale * tanh(scale * a) + shift with scale = 1/2, shift = 1/2 on the
    # sigmoid blocks i, f, o and scale = 1, shift = 0 on the tanh block g.
    # One in-place tanh over the whole (N, 4H) row then activates all four
    # gates at once; it saturates instead of overflowing, so it is as stable
    # as rnnbook.nn.activations.sigmoid, and several times faster than calling
    # that on three slices, which allocates temporaries at every step.
    # Scaling by 1/2 is exact in binary floating point, so it is folded into
    # the parameters once, before the loop.
    scale = np.full(4 * H, 0.5, dtype=dtype)
    scale[2 * H:3 * H] = 1
    shift = 1 - scale

    # All input projections in one product, computed time-major (T, N, 4H)
    # so that each step's slice is contiguous. The result then serves as the
    # gate array: step t adds its recurrent term and activates it in place.
    x_tm = x.transpose(1, 0, 2).reshape(T * N, D)
    gates = (x_tm @ (Wx * scale)).reshape(T, N, 4 * H)
    gates += b * scale
    Wh_scaled = Wh * scale
    # hs[t] and cs[t] are the states *before* step t: index 0 holds h0, c0.
    hs = np.empty((T + 1, N, H), dtype=dtype)
    cs = np.empty((T + 1, N, H), dtype=dtype)
    hs[0], cs[0] = h0, c0
    tanh_cs = np.empty((T, N, H), dtype=dtype)
    hWh = np.empty((N, 4 * H), dtype=dtype)
    ig = np.empty((N, H), dtype=dtype)
    for t in range(T):
        a = gates[t]
        np.matmul(hs[t], Wh_scaled, out=hWh)
        a += hWh
        np.tanh(a, out=a)
        a *= scale
        a += shift
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.multiply(f, cs[t], out=cs[t + 1])
        np.multiply(i, g, out=ig)
        cs[t + 1] += ig
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])
    # The returned states are batch-first and contiguous, like every input.
    h = np.ascontiguousarray(hs[1:].transpose(1, 0, 2))
    return h, LSTMCache(x, h0, c0, Wx, Wh, h, hs, cs, tanh_cs, gates)


# Elements of the derivative-factor array processed per block in lstm_backward
# (2**18 float32 numbers are 1 MiB, which stays in a typical L2/L3 cache).
_CACHE_BLOCK = 2**18


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


def lstm_backward(dh, cache, *, dc_last=None, return_dc0=False):
    """Backpropagation through time for :func:`lstm_forward`.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H)
            (its direct dependence only; the part flowing back through later
            steps is added here).
        cache: the :class:`LSTMCache` returned by :func:`lstm_forward`.
        dc_last: optional gradient with respect to the last cell state
            ``cache.c[:, -1]``, (N, H), for when that state is passed on (for
            instance from an encoder to a decoder). ``None`` means zeros.
        return_dc0: also return the gradient with respect to ``c0``.

    Returns:
        dx: (N, T, D).
        dh0: (N, H).
        dWx: (D, 4H).
        dWh: (H, 4H).
        db: (4H,).
        dc0: (N, H), only when ``return_dc0`` is true (as a sixth element).
    """
    k = check_cache("cache", cache, LSTMCache, "lstm_forward")
    dtype = k.h.dtype
    dh = check_upstream("dh", dh, k.h.shape, dtype, "lstm_forward")
    N, T, H = k.h.shape
    D = k.x.shape[2]
    if dc_last is not None:
        dc_last = check_upstream("dc_last", dc_last, (N, H), dtype, "lstm_forward")

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
    block = max(1, _CACHE_BLOCK // (N * 4 * H))
    dc_from_h = np.empty((min(block, T), N, H), dtype=dtype)

    # The sequential part: only dh and dc travel from step t + 1 to step t.
    dh_tm = np.ascontiguousarray(dh.transpose(1, 0, 2))
    dh_t = np.empty((N, H), dtype=dtype)
    dc_t = np.empty((N, H), dtype=dtype)
    dh_next = np.zeros((N, H), dtype=dtype)
    dc_next = np.zeros((N, H), dtype=dtype) if dc_last is None else dc_last.copy()
    Wh_T = np.ascontiguousarray(k.Wh.T)
    for stop in range(T, 0, -block):
        start = max(0, stop - block)
        _lstm_local_factors(G[start:stop], k.cs[start:stop], k.tanh_cs[start:stop],
                            P[start:stop], dc_from_h[:stop - start])
        for t in range(stop - 1, start - 1, -1):
            np.add(dh_tm[t], dh_next, out=dh_t)
            np.multiply(dh_t, dc_from_h[t - start], out=dc_t)
            dc_t += dc_next
            np.multiply(dc_t[:, None, :], P[t, :, :3], out=da[t, :, :3])
            np.multiply(dh_t, P[t, :, 3], out=da[t, :, 3])
            np.multiply(dc_t, G[t, :, 1], out=dc_next)  # through c = f * c_prev + ...
            np.matmul(da[t].reshape(N, 4 * H), Wh_T, out=dh_next)

    # Every weight gradient is a sum over steps: one product over T*N rows.
    da2 = da.reshape(T * N, 4 * H)
    x_tm = k.x.transpose(1, 0, 2).reshape(T * N, D)
    dx = np.ascontiguousarray((da2 @ k.Wx.T).reshape(T, N, D).transpose(1, 0, 2))
    dWx = x_tm.T @ da2
    dWh = k.hs[:-1].reshape(T * N, H).T @ da2
    db = da2.sum(axis=0)
    if return_dc0:
        return dx, dh_next, dWx, dWh, db, dc_next
    return dx, dh_next, dWx, dWh, db
