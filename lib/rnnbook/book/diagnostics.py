"""Measuring how gradients travel through time.

Backpropagation through time multiplies the gradient arriving at the last
hidden state by one Jacobian per step on its way back. Whether that product
shrinks (vanishing gradients) or grows (exploding gradients) with the
distance travelled is the central question of the chapter on vanishing and
exploding gradients, and the gated-cell chapters ask it again of the LSTM and
the GRU. This module answers it by measurement, the same way for every cell:

- :func:`gradient_norms_by_lag`: the norm of ``dL/ds_t`` for the loss
  ``L = sum(dh_T * h_T)`` placed on the last hidden state, at every lag
  ``T - t`` (``s_t`` is the cell's state: ``h_t``, or ``(h_t, c_t)`` for the
  LSTM);
- :func:`jacobian_norms_by_lag`: the norm of the whole Jacobian product
  ``dh_T/ds_t`` at every lag, which bounds the former for every ``dh_T``;
- :func:`jacobian_bound`, :func:`log10_slope` and
  :func:`saturation_fraction`: the theoretical ceiling
  ``sigma_max(W_hh) ** lag``, the fitted rate of growth or decay, and the
  share of saturated tanh units.

A cell is named by a string (``"rnn"``, ``"lstm"``, ``"gru"``) or given as a
:class:`~rnnbook.nn.cells.Cell`, a small record of step-level and sequence-level forward and
backward functions, so that a cell written by a reader can be measured with
the same code::

    cell = get_cell("rnn")
    params = cell.init(D, H, rng)
    lags, norms = gradient_norms_by_lag(cell, params, x)   # norms: (N, T + 1)
"""

from __future__ import annotations

import numpy as np

from rnnbook.checks import Shapes
from rnnbook.nn.cells import get_cell

__all__ = [
    "gradient_norms_by_lag",
    "jacobian_norms_by_lag",
    "jacobian_bound",
    "log10_slope",
    "saturation_fraction",
]

# -- measurements ------------------------------------------------------------------

def _check_inputs(cell, params, x, h0, dh_T):
    """Validate the arguments shared by the lag measurements; fill in defaults."""
    cell = get_cell(cell)
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict of arrays")
    # The hidden size comes from the recurrent matrix when there is one, so
    # that a wrong h0 or dh_T is reported under its own name.
    Wh = params.get("Wh")
    s = Shapes(H=int(np.shape(Wh)[0])) if Wh is not None and np.ndim(Wh) == 2 else Shapes()
    x = s.check("x", x, ("N", "T", "D"))
    N, T = s["N"], s["T"]
    if T < 1:
        raise ValueError("x has T = 0 time steps but needs at least one")
    if h0 is not None:
        h0 = s.check("h0", h0, ("N", "H"))
    if dh_T is not None:
        dh_T = s.check("dh_T", dh_T, ("N", "H"))
    return cell, x, h0, dh_T, N, T


def _run_forward(cell, params, x, h0):
    """Step-level forward pass; returns the step caches and the final states."""
    N, T, _ = x.shape
    if h0 is None:
        # Every cell of the library keeps its recurrent weights in a matrix
        # with H rows (H columns per gate), so the rows give the hidden size.
        H = _hidden_size(params)
        h0 = np.zeros((N, H), dtype=x.dtype)
    states = (h0,) + tuple(np.zeros_like(h0) for _ in cell.state_names[1:])
    caches = []
    for t in range(T):
        states, cache = cell.step_forward(x[:, t], states, params)
        caches.append(cache)
    return caches, states


def _hidden_size(params) -> int:
    Wh = params.get("Wh")
    if Wh is None:
        raise ValueError("params has no 'Wh'; pass h0 so that the hidden size is known")
    return int(np.asarray(Wh).shape[0])


def _select(dstates, cell, state):
    """The part of a state gradient that ``state`` asks for, as one (M, K) array."""
    if state == "all":
        return np.concatenate(dstates, axis=1) if len(dstates) > 1 else dstates[0]
    return dstates[cell.state_names.index(state)]


def _check_state(cell, state):
    if state != "all" and state not in cell.state_names:
        raise ValueError(
            f"state is {state!r} but needs 'all' or one of {cell.state_names} for cell {cell.name!r}"
        )


def _backprop_from_last(cell, caches, dh_T, n_states):
    """Yield the state gradient at t = T, T-1, ..., 0 for upstream ``dh_T`` on h_T."""
    dstates = (dh_T,) + tuple(np.zeros_like(dh_T) for _ in range(n_states - 1))
    yield dstates
    for cache in reversed(caches):
        # An exploding gradient may pass the largest float; that is a
        # measurement (reported as inf), not an error worth a warning.
        with np.errstate(over="ignore", invalid="ignore"):
            _, dstates, _ = cell.step_backward(dstates, cache)
        yield dstates


def gradient_norms_by_lag(cell, params, x, h0=None, *, dh_T=None, state="all"):
    """Norm of the gradient reaching each earlier state from a loss on the last one.

    The loss is ``L = sum(dh_T * h_T)``, a linear function of the last
    hidden state, so ``dL/dh_T = dh_T`` exactly and everything that happens
    to the gradient on its way back is the product of the cell's step
    Jacobians. At lag ``k`` the function reports ``||dL/ds_{T-k}||`` (the
    2-norm per example), where ``s_t`` is the cell's state after step ``t``
    (``s_0`` the initial state). For an LSTM the state is ``(h_t, c_t)``.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a :class:`~rnnbook.nn.cells.Cell`.
        params: the cell's parameter dict, e.g. from ``get_cell(cell).init``.
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H); ``None`` means zeros (further
            states such as the LSTM cell always start at zero).
        dh_T: upstream gradient on the last hidden state, (N, H). ``None``
            means every row is ``ones(H) / sqrt(H)``, a unit vector.
        state: ``"all"`` (default) measures the whole state; a state name
            (``"h"``, or ``"c"`` for the LSTM) measures that part only.

    Returns:
        lags: int array (T + 1,), ``0, 1, ..., T``.
        norms: float64 array (N, T + 1); ``norms[n, k]`` is the norm for
            example ``n`` at lag ``k``. ``norms[:, 0]`` is ``||dh_T||`` (plus
            zeros for the other state parts). A gradient too large for the
            dtype shows up as inf or nan (no floating-point warning is raised).

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    cell, x, h0, dh_T, N, T = _check_inputs(cell, params, x, h0, dh_T)
    _check_state(cell, state)
    caches, last = _run_forward(cell, params, x, h0)
    H = last[0].shape[1]
    if dh_T is None:
        dh_T = np.full((N, H), 1.0 / np.sqrt(H), dtype=x.dtype)
    norms = np.empty((N, T + 1))
    for k, dstates in enumerate(_backprop_from_last(cell, caches, dh_T, len(last))):
        g = _select(dstates, cell, state).astype(np.float64)
        norms[:, k] = _row_norms(g)
    return np.arange(T + 1), norms


def _row_norms(g):
    """2-norm of every row of ``g`` (M, K), in float64."""
    # Dividing by the largest entry first lets an exploding gradient report
    # its true finite norm instead of overflowing in the squares.
    biggest = np.max(np.abs(g), axis=1)
    ok = np.isfinite(biggest) & (biggest > 0)
    safe = np.where(ok, biggest, 1.0)
    scaled = g / safe[:, None]  # rows that are not ok are replaced below
    return np.where(ok, safe * np.sqrt(np.sum(scaled * scaled, axis=1)), biggest)


def jacobian_norms_by_lag(cell, params, x, h0=None, *, ord=2, state="all"):
    """Norm of the Jacobian product ``dh_T / ds_{T-k}`` at every lag ``k``.

    For the vanilla RNN this is the matrix product
    ``prod_j diag(1 - h_j**2) W_hh`` of the chapter on vanishing gradients
    (in the book's column-vector notation). It is computed by
    backpropagating every unit vector of ``h_T`` at once (each example is
    repeated H times), so it costs H backward passes; use small H and N.
    The spectral norm (``ord=2``) is the largest gain the product applies to
    any upstream gradient, so it bounds what :func:`gradient_norms_by_lag`
    reports for every unit ``dh_T``.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a :class:`~rnnbook.nn.cells.Cell`.
        params: the cell's parameter dict.
        x: inputs, (N, T, D).
        h0: initial hidden state, (N, H); ``None`` means zeros.
        ord: matrix norm passed to ``numpy.linalg.norm``: 2 (spectral, the
            default), ``"fro"``, 1, ``inf`` ...
        state: ``"all"`` or a state name, as in :func:`gradient_norms_by_lag`.

    Returns:
        lags: int array (T + 1,).
        norms: float64 array (N, T + 1); lag 0 is the identity, of norm 1
            under ``ord=2`` when ``state`` is ``"all"`` or ``"h"``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    cell, x, h0, _, N, T = _check_inputs(cell, params, x, h0, None)
    _check_state(cell, state)
    H = int(h0.shape[1]) if h0 is not None else _hidden_size(params)
    # Example n is repeated H times; copy i of it carries the unit vector e_i
    # as dh_T, so the gradients of the H copies are the H rows of dh_T/ds_t.
    xr = np.repeat(x, H, axis=0)
    h0r = None if h0 is None else np.repeat(h0, H, axis=0)
    caches, last = _run_forward(cell, params, xr, h0r)
    seed = np.tile(np.eye(H, dtype=x.dtype), (N, 1))
    norms = np.empty((N, T + 1))
    for k, dstates in enumerate(_backprop_from_last(cell, caches, seed, len(last))):
        J = _select(dstates, cell, state).astype(np.float64).reshape(N, H, -1)
        norms[:, k] = np.linalg.norm(J, ord=ord, axis=(1, 2))
    return np.arange(T + 1), norms


def jacobian_bound(Wh, lags, gamma: float = 1.0):
    """The ceiling ``(gamma * sigma_max(W_hh)) ** lag`` on the RNN's Jacobian product.

    Each step multiplies by ``diag(tanh'(a_j)) W_hh`` whose spectral norm is at
    most ``gamma * sigma_max`` with ``gamma = max tanh' = 1``, and the norm of a
    product is at most the product of the norms (Pascanu, Mikolov & Bengio
    2013). The code's ``Wh`` is ``W_hh`` transposed; both have the same
    singular values.

    Args:
        Wh: recurrent matrix, (H, H).
        lags: array-like of non-negative lags.
        gamma: bound on the derivative of the nonlinearity (1 for tanh,
            1/4 for the logistic sigmoid).

    Returns:
        float64 array with the shape of ``lags``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    Wh = Shapes().check("Wh", Wh, ("H", "H"))
    sigma_max = float(np.linalg.norm(Wh.astype(np.float64), ord=2))
    lags = np.asarray(lags, dtype=np.float64)
    if np.any(lags < 0):
        raise ValueError("lags must be non-negative")
    return (gamma * sigma_max) ** lags


def log10_slope(lags, values, *, start: int = 0):
    """Least-squares slope of ``log10(values)`` against ``lags``: decades per step.

    A gradient whose norm behaves like ``r ** lag`` has slope ``log10(r)``:
    negative when it vanishes, positive when it explodes. Entries that are
    zero, negative or not finite (an underflowed or overflowed gradient) are
    left out of the fit.

    Args:
        lags: (K,) lags.
        values: (K,) positive numbers, e.g. the median over a batch of the
            norms returned by :func:`gradient_norms_by_lag`.
        start: fit only lags ``>= start``, to skip an initial transient.

    Returns:
        slope: Python float (nan if fewer than two usable points).

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    lags = np.asarray(lags, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if lags.shape != values.shape or lags.ndim != 1:
        raise ValueError(
            f"lags has shape {lags.shape} and values {values.shape}; both need the same (K,)"
        )
    keep = (lags >= start) & np.isfinite(values) & (values > 0)
    if keep.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(lags[keep], np.log10(values[keep]), 1)
    return float(slope)


def saturation_fraction(h, threshold: float = 0.99) -> float:
    """Share of tanh units whose value has magnitude above ``threshold``.

    Where ``|h| > 0.99`` the local derivative ``1 - h**2`` is below about
    0.02, so a saturated unit passes almost no gradient back in time.

    Args:
        h: hidden states of a tanh layer, any shape, e.g. (N, T, H).
        threshold: in (0, 1).

    Returns:
        fraction in [0, 1], a Python float.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    h = np.asarray(h)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold is {threshold} but needs to be in (0, 1)")
    if h.size == 0:
        raise ValueError("h is empty; there are no units to count")
    return float(np.mean(np.abs(h) > threshold))
