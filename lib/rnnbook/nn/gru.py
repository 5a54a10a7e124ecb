"""The gated recurrent unit (GRU), in two formulations.

The main functions follow PyTorch's formulation. With ``Wx`` (D, 3H),
``Wh`` (H, 3H), ``bx`` and ``bh`` (3H,), all with column blocks
[r | z | n],

    r = sigmoid(x Wx_r + bx_r + h_prev Wh_r + bh_r)      reset gate
    z = sigmoid(x Wx_z + bx_z + h_prev Wh_z + bh_z)      update gate
    n = tanh(x Wx_n + bx_n + r * (h_prev Wh_n + bh_n))   candidate
    h = (1 - z) * n + z * h_prev

The reset gate scales the *product* ``h_prev Wh_n + bh_n``, so the whole
recurrent projection ``h_prev Wh + bh`` is one matrix product per step. That
is also why the two biases cannot be merged: ``bh_n`` sits inside the reset
gate and ``bx_n`` outside it.

The ``gru_original_*`` functions implement the unit as Cho et al. (2014)
introduced it, where the reset gate acts on the previous state *before* the
product:

    n = tanh(x Wx_n + bx_n + (r * h_prev) Wh_n + bh_n)

Everything else is the same, including the parameter shapes (there
``bx_n + bh_n`` is a single bias in effect). The candidate's product now
needs ``r``, which needs its own product with ``h_prev``, so each step takes
two sequential products instead of one.

As in :mod:`rnnbook.nn.rnn`, ``gru_forward`` and ``gru_backward`` are a plain
loop over the step functions, written to be read; training uses
:func:`rnnbook.nn.kernels.gru_forward_fast` and
:func:`~rnnbook.nn.kernels.gru_backward_fast`. The ``gru_original`` sequence
functions move the input projections and the weight gradients out of the
time loop (one product each for all steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbook.checks import (Shapes, check_cache, check_cell_inputs, check_cell_params,
                            check_upstream)
from rnnbook.nn.activations import sigmoid, tanh
from rnnbook.nn.records import GRU_GATES, GateViews, GRUGrads, SequenceCache, StepViews

__all__ = ["GRUStepCache", "GRUCache", "gru_step_forward", "gru_step_backward",
           "gru_forward", "gru_backward", "gru_gate_gradients",
           "GRUOriginalStepCache", "GRUOriginalCache", "gru_original_step_forward",
           "gru_original_step_backward", "gru_original_forward",
           "gru_original_backward"]


def _check_args(x, h_prev, Wx, Wh, bx, bh, *, sequence):
    # One GRU's checks, shared by both formulations' step and sequence
    # functions: the parameters first, then the input and the state.
    s = Shapes()
    Wx, Wh, bx, bh = check_cell_params(s, 3, Wx=Wx, Wh=Wh, bx=bx, bh=bh)
    states = {"h0": h_prev} if sequence else {"h_prev": h_prev}
    x, h_prev = check_cell_inputs(s, x, sequence=sequence, **states)
    return x, h_prev, Wx, Wh, bx, bh


# --------------------------------------------------------------------------
# PyTorch's formulation
# --------------------------------------------------------------------------

@dataclass
class _GRUStepArrays(GateViews, gates=GRU_GATES):
    # What a step cache of either formulation holds before its own term.
    x: np.ndarray
    h_prev: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    gates: np.ndarray


@dataclass
class GRUStepCache(_GRUStepArrays):
    """What :func:`gru_step_backward` needs from one forward step.

    Attributes:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        Wx: input weights, (D, 3H).
        Wh: recurrent weights, (H, 3H).
        gates: activations [r | z | n], (N, 3H); also as properties r, z, n.
        hn: ``h_prev Wh_n + bh_n``, (N, H), the term the reset gate scales.

    Taught in: Chapter 5, Gated recurrent units.
    """

    hn: np.ndarray


@dataclass
class GRUCache(StepViews, GateViews, gates=GRU_GATES):
    """What :func:`gru_backward` needs from :func:`gru_forward`.

    Attributes:
        steps: the :class:`GRUStepCache` of every step, in order.
        h: hidden states, (N, T, H).
        gates: activations [r | z | n] of every step, (N, T, 3H); also as
            properties r, z, n of shape (N, T, H).

    The inputs ``x`` (N, T, D), ``h0`` (N, H), ``Wx`` and ``Wh`` are
    properties (:class:`~rnnbook.nn.records.StepViews`).

    Taught in: Chapter 5, Gated recurrent units.
    """

    steps: list
    h: np.ndarray
    gates: np.ndarray


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    """One GRU step (PyTorch's formulation, see the module docstring).

    Args:
        x: input, (N, D).
        h_prev: previous hidden state, (N, H).
        Wx: input weights, (D, 3H), column blocks [r | z | n].
        Wh: recurrent weights, (H, 3H), same blocks.
        bx: input bias, (3H,).
        bh: recurrent bias, (3H,).

    Returns:
        h: new hidden state, (N, H).
        cache: :class:`GRUStepCache` for :func:`gru_step_backward`.

    Taught in: Chapter 5, Gated recurrent units.
    """
    x, h_prev, Wx, Wh, bx, bh = _check_args(x, h_prev, Wx, Wh, bx, bh, sequence=False)
    H = h_prev.shape[1]
    ax = x @ Wx + bx
    ah = h_prev @ Wh + bh
    rz = sigmoid(ax[:, :2 * H] + ah[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    hn = ah[:, 2 * H:]
    n = tanh(ax[:, 2 * H:] + r * hn)
    h = n + z * (h_prev - n)  # = (1 - z) n + z h_prev with one product fewer
    gates = np.concatenate((rz, n), axis=1)
    return h, GRUStepCache(x, h_prev, Wx, Wh, gates, hn)


def gru_gate_gradients(dh, h_prev, r, z, n, hn):
    """Gradients of one GRU step's pre-activations, shared by the step and the kernel.

    Args:
        dh: total gradient on the step's new hidden state, (N, H).
        h_prev: previous hidden state, (N, H).
        r: the step's reset gate, (N, H).
        z: the step's update gate, (N, H).
        n: the step's candidate state, (N, H).
        hn: ``h_prev Wh_n + bh_n``, (N, H).

    Returns:
        dax: gradient with respect to ``x Wx + bx``, (N, 3H).
        dah: gradient with respect to ``h_prev Wh + bh``, (N, 3H).
        dh_direct: the part of ``dh_prev`` that does not pass through ``Wh``
            (``dh * z``), (N, H).

    Taught in: Chapter 5, Gated recurrent units.
    """
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n * n)
    dar = dan * hn * r * (1 - r)
    daz = dz * z * (1 - z)
    dax = np.concatenate((dar, daz, dan), axis=-1)
    # The reset gate multiplies hn, so the recurrent n block is scaled by r.
    dah = np.concatenate((dar, daz, dan * r), axis=-1)
    return dax, dah, dh * z


def gru_step_backward(dh, cache):
    """Backward pass of :func:`gru_step_forward`.

    Args:
        dh: gradient with respect to the new hidden state, (N, H).
        cache: the :class:`GRUStepCache` returned by :func:`gru_step_forward`.

    Returns:
        dx: gradient with respect to the input, (N, D).
        dh_prev: gradient with respect to the previous hidden state, (N, H).
        dWx: this step's share of the input weights' gradient, (D, 3H).
        dWh: this step's share of the recurrent weights' gradient, (H, 3H).
        dbx: this step's share of the input bias gradient, (3H,).
        dbh: this step's share of the recurrent bias gradient, (3H,).

    Taught in: Chapter 5, Gated recurrent units.
    """
    k = check_cache("cache", cache, GRUStepCache, "gru_step_forward")
    dh = check_upstream("dh", dh, k.h_prev.shape, k.h_prev.dtype, "gru_step_forward")
    dax, dah, dh_prev = gru_gate_gradients(dh, k.h_prev, k.r, k.z, k.n, k.hn)
    dx = dax @ k.Wx.T
    dh_prev = dh_prev + dah @ k.Wh.T
    dWx = k.x.T @ dax
    dWh = k.h_prev.T @ dah
    return dx, dh_prev, dWx, dWh, dax.sum(axis=0), dah.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, bx, bh):
    """Run the GRU (PyTorch's formulation) over a sequence, one step at a time.

    This is the definition, written for reading; training uses
    :func:`rnnbook.nn.kernels.gru_forward_fast`, which gives the same numbers.

    Args:
        x: inputs, (N, T, D); ``x[:, t]`` is the input of step t.
        h0: the hidden state before the first step, (N, H).
        Wx: input weights, (D, 3H), column blocks [r | z | n].
        Wh: recurrent weights, (H, 3H), same blocks.
        bx: input bias, (3H,).
        bh: recurrent bias, (3H,).

    Returns:
        h: hidden states of every step, (N, T, H).
        cache: :class:`GRUCache` for :func:`gru_backward`; ``cache.r``,
            ``cache.z`` and ``cache.n`` hold the gates of every step.

    Taught in: Chapter 5, Gated recurrent units.
    """
    x, h0, Wx, Wh, bx, bh = _check_args(x, h0, Wx, Wh, bx, bh, sequence=True)
    (N, T, _), H = x.shape, h0.shape[1]

    h = np.empty((N, T, H), dtype=x.dtype)
    steps = []
    h_t = h0
    for t in range(T):
        h_t, step = gru_step_forward(x[:, t], h_t, Wx, Wh, bx, bh)
        h[:, t] = h_t
        steps.append(step)
    gates = np.stack([step.gates for step in steps], axis=1)
    return h, GRUCache(steps, h, gates)


def gru_backward(dh, cache):
    """Backpropagation through time for :func:`gru_forward`, one step at a time.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H)
            (direct dependence only; the recurrent part is added here).
        cache: the :class:`GRUCache` returned by :func:`gru_forward`.

    Returns:
        grads: :class:`~rnnbook.nn.records.GRUGrads`, which unpacks as
            ``dx, dh0, dWx, dWh, dbx, dbh``: the gradients with respect to
            ``x`` (N, T, D), ``h0`` (N, H), ``Wx`` (D, 3H), ``Wh`` (H, 3H),
            ``bx`` and ``bh`` (3H,).

    Taught in: Chapter 5, Gated recurrent units.
    """
    k = check_cache("cache", cache, GRUCache, "gru_forward")
    dh = check_upstream("dh", dh, k.h.shape, k.h.dtype, "gru_forward")
    N, T, H = k.h.shape
    D = k.steps[0].x.shape[1]

    dx = np.empty((N, T, D), dtype=k.h.dtype)
    dWx, dWh, dbx, dbh = 0, 0, 0, 0
    dh_next = np.zeros((N, H), dtype=k.h.dtype)
    for t in range(T - 1, -1, -1):
        dx[:, t], dh_next, dWx_t, dWh_t, dbx_t, dbh_t = gru_step_backward(
            dh[:, t] + dh_next, k.steps[t])
        dWx, dWh, dbx, dbh = dWx + dWx_t, dWh + dWh_t, dbx + dbx_t, dbh + dbh_t
    return GRUGrads(dx, dh_next, dWx, dWh, dbx, dbh)


# --------------------------------------------------------------------------
# Cho et al. (2014): reset applied to h_prev before the product
# --------------------------------------------------------------------------

@dataclass
class GRUOriginalStepCache(_GRUStepArrays):
    """What :func:`gru_original_step_backward` needs from one forward step.

    Its first fields, ``x`` (N, D), ``h_prev`` (N, H), ``Wx`` (D, 3H), ``Wh``
    (H, 3H) and ``gates`` (N, 3H), are those of :class:`GRUStepCache`; then:

    Attributes:
        rh: ``r * h_prev``, (N, H), the input of the candidate's product; it
            takes the place of ``hn``.

    Taught in: Chapter 5, Gated recurrent units.
    """

    rh: np.ndarray


@dataclass
class GRUOriginalCache(SequenceCache, GateViews, gates=GRU_GATES):
    """What :func:`gru_original_backward` needs from :func:`gru_original_forward`.

    Like the fused kernels' caches it keeps whole arrays, those of every
    :class:`~rnnbook.nn.records.SequenceCache` first (``x``, ``h0``, ``Wx``
    (D, 3H), ``Wh`` (H, 3H), ``h``), then:

    Attributes:
        gates: activations [r | z | n] of every step, (N, T, 3H); also as
            properties r, z, n of shape (N, T, H).
        rh: ``r * h_prev`` of every step, (N, T, H), the candidate's input.

    Taught in: Chapter 5, Gated recurrent units.
    """

    gates: np.ndarray
    rh: np.ndarray


def gru_original_step_forward(x, h_prev, Wx, Wh, bx, bh):
    """One step of Cho et al.'s GRU: ``n = tanh(x Wx_n + bx_n + (r * h_prev) Wh_n + bh_n)``.

    Arguments, shapes and the other equations are those of
    :func:`gru_step_forward`.

    Returns:
        h: new hidden state, (N, H).
        cache: :class:`GRUOriginalStepCache` for :func:`gru_original_step_backward`.

    Taught in: Chapter 5, Gated recurrent units.
    """
    x, h_prev, Wx, Wh, bx, bh = _check_args(x, h_prev, Wx, Wh, bx, bh, sequence=False)
    # Both biases enter every block unscaled here, so they can be added once.
    gates = x @ Wx + (bx + bh)
    h, rh = _original_step(gates, h_prev, Wh)
    return h, GRUOriginalStepCache(x, h_prev, Wx, Wh, gates, rh)


def _original_step(a, h_prev, Wh):
    """The recurrence of one step of the original GRU, activating ``a`` in place.

    Args:
        a: the input part of the pre-activations, ``x Wx + bx + bh``, (N, 3H);
            overwritten with the gate activations [r | z | n].
        h_prev: previous hidden state, (N, H).
        Wh: recurrent weights, (H, 3H).

    Returns:
        h: new hidden state, (N, H).
        rh: ``r * h_prev``, (N, H).
    """
    H = h_prev.shape[1]
    a[:, :2 * H] = sigmoid(a[:, :2 * H] + h_prev @ Wh[:, :2 * H])
    r, z = a[:, :H], a[:, H:2 * H]
    rh = r * h_prev
    a[:, 2 * H:] = tanh(a[:, 2 * H:] + rh @ Wh[:, 2 * H:])
    n = a[:, 2 * H:]
    return n + z * (h_prev - n), rh


def _gru_original_local_backward(dh, h_prev, r, z, n, Wh_n):
    """Pre-activation gradients of one step of the original GRU.

    Returns:
        da: gradient with respect to all three pre-activations [r | z | n],
            (N, 3H); the same for the input and the recurrent side, since
            here both biases enter every block unscaled.
        dh_direct: the part of ``dh_prev`` that does not pass through
            ``Wh_r`` or ``Wh_z``, (N, H).
    """
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n * n)
    drh = dan @ Wh_n.T  # gradient w.r.t. r * h_prev
    dar = drh * h_prev * r * (1 - r)
    daz = dz * z * (1 - z)
    da = np.concatenate((dar, daz, dan), axis=-1)
    return da, dh * z + drh * r


def gru_original_step_backward(dh, cache):
    """Backward pass of :func:`gru_original_step_forward`.

    Args:
        dh: gradient with respect to the new hidden state, (N, H).
        cache: the :class:`GRUOriginalStepCache` from :func:`gru_original_step_forward`.

    Returns:
        dx: gradient with respect to the input, (N, D).
        dh_prev: gradient with respect to the previous hidden state, (N, H).
        dWx: this step's share of the input weights' gradient, (D, 3H).
        dWh: this step's share of the recurrent weights' gradient, (H, 3H); its
            candidate block comes from ``r * h_prev``, not ``h_prev``.
        dbx: this step's share of the input bias gradient, (3H,).
        dbh: the same as ``dbx`` (both biases enter every block unscaled), (3H,).

    Taught in: Chapter 5, Gated recurrent units.
    """
    k = check_cache("cache", cache, GRUOriginalStepCache, "gru_original_step_forward")
    dh = check_upstream("dh", dh, k.h_prev.shape, k.h_prev.dtype,
                         "gru_original_step_forward")
    H = k.h_prev.shape[1]
    da, dh_prev = _gru_original_local_backward(dh, k.h_prev, k.r, k.z, k.n, k.Wh[:, 2 * H:])
    dh_prev = dh_prev + da[:, :2 * H] @ k.Wh[:, :2 * H].T
    dx = da @ k.Wx.T
    dWx = k.x.T @ da
    dWh = np.concatenate((k.h_prev.T @ da[:, :2 * H], k.rh.T @ da[:, 2 * H:]), axis=1)
    db = da.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db, db.copy()


def gru_original_forward(x, h0, Wx, Wh, bx, bh):
    """Run Cho et al.'s GRU over a whole sequence.

    Arguments and shapes are those of :func:`gru_forward`.

    Returns:
        h: hidden states of every step, (N, T, H).
        cache: :class:`GRUOriginalCache` for :func:`gru_original_backward`.

    Taught in: Chapter 5, Gated recurrent units.
    """
    x, h0, Wx, Wh, bx, bh = _check_args(x, h0, Wx, Wh, bx, bh, sequence=True)
    (N, T, D), H = x.shape, h0.shape[1]

    # All input projections in one product; each step then activates its
    # slice in place.
    gates = (x.reshape(N * T, D) @ Wx).reshape(N, T, 3 * H) + (bx + bh)
    h = np.empty((N, T, H), dtype=x.dtype)
    rh = np.empty_like(h)
    h_prev = h0
    for t in range(T):
        h[:, t], rh[:, t] = _original_step(gates[:, t], h_prev, Wh)
        h_prev = h[:, t]
    return h, GRUOriginalCache(x, h0, Wx, Wh, h, gates, rh)


def gru_original_backward(dh, cache):
    """Backpropagation through time for :func:`gru_original_forward`.

    Args:
        dh: gradient of the loss with respect to every hidden state, (N, T, H).
        cache: the :class:`GRUOriginalCache` from :func:`gru_original_forward`.

    Returns:
        grads: :class:`~rnnbook.nn.records.GRUGrads`, as for :func:`gru_backward`
            (``dx`` (N, T, D), ``dh0`` (N, H), ``dWx`` (D, 3H), ``dWh`` (H, 3H),
            ``dbx`` and ``dbh`` (3H,)); here ``dbh`` equals ``dbx``.

    Taught in: Chapter 5, Gated recurrent units.
    """
    k = check_cache("cache", cache, GRUOriginalCache, "gru_original_forward")
    dh = check_upstream("dh", dh, k.h.shape, k.h.dtype, "gru_original_forward")
    N, T, H = k.h.shape
    h_prev = k.h_prev
    Wh_rz, Wh_n = k.Wh[:, :2 * H], k.Wh[:, 2 * H:]
    r, z, n = k.r, k.z, k.n

    da = np.empty((N, T, 3 * H), dtype=k.h.dtype)
    dh_next = np.zeros((N, H), dtype=k.h.dtype)
    for t in range(T - 1, -1, -1):
        da[:, t], direct = _gru_original_local_backward(
            dh[:, t] + dh_next, h_prev[:, t], r[:, t], z[:, t], n[:, t], Wh_n)
        dh_next = direct + da[:, t, :2 * H] @ Wh_rz.T

    da2 = da.reshape(N * T, 3 * H)
    dx = (da2 @ k.Wx.T).reshape(k.x.shape)
    dWx = k.x.reshape(N * T, -1).T @ da2
    dWh = np.concatenate((h_prev.reshape(N * T, H).T @ da2[:, :2 * H],
                          k.rh.reshape(N * T, H).T @ da2[:, 2 * H:]), axis=1)
    db = da2.sum(axis=0)
    return GRUGrads(dx, dh_next, dWx, dWh, db, db.copy())
