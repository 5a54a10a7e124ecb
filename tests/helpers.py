"""Helpers shared by several test modules: random cell inputs and gradient checks.

The tests of the three cells (rnn, lstm, gru) draw their arguments the same
way and compare every analytic gradient with a finite difference the same
way; the deep models (masked stacks, the encoder-decoder) need a more
accurate difference formula. Both live here so that every test module uses
the same definitions.
"""

import numpy as np
from hypothesis import strategies as st

from rnnbook.train.gradcheck import numerical_gradient, rel_error

#: Sizes drawn by hypothesis for N, T, D and H: 1 (the edge case) to 4.
dim = st.integers(1, 4)
#: Seeds for ``numpy.random.default_rng``.
seeds = st.integers(0, 2**32 - 1)


def cell_inputs(rng, N, T, D, H, *, blocks, biases, bias_scale, dtype=np.float64):
    """Random arguments of a cell's sequence forward function, as a keyword dict.

    Draws, in this order, ``x`` (N, T, D), ``h0`` (N, H), ``Wx`` (D, blocks*H),
    ``Wh`` (H, blocks*H) and one (blocks*H,) vector per name in ``biases``.
    Every entry is standard normal times a scale: 1 for ``x`` and ``h0``,
    0.6 for the weights, ``bias_scale`` for the biases.
    """
    def normal(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    inputs = dict(
        x=normal(N, T, D), h0=normal(N, H),
        Wx=normal(D, blocks * H, scale=0.6), Wh=normal(H, blocks * H, scale=0.6),
    )
    for name in biases:
        inputs[name] = normal(blocks * H, scale=bias_scale)
    return inputs


def assert_gradients(forward, inputs, analytic, dout):
    """Compare every analytic gradient with a centered finite difference.

    Args:
        forward: called as ``forward(**inputs)``; returns an array, or a
            scalar loss when ``dout`` is None.
        inputs: keyword arguments of ``forward``; the arrays named in
            ``analytic`` are perturbed in place.
        analytic: dict mapping an input's name to its analytic gradient.
        dout: upstream gradient on the output of ``forward``, or None.
    """
    for name, grad in analytic.items():
        num = numerical_gradient(lambda _: forward(**inputs), inputs[name], dout)
        err = rel_error(grad, num)
        # A gradient near zero (a saturated tanh, a tiny weight) has a large
        # relative error from round-off alone: the centred difference is off
        # by about eps * |f| / h = 1e-10 whatever the gradient's size. Such a
        # gradient passes when it is that close in absolute terms.
        abs_err = float(np.max(np.abs(grad - num), initial=0.0))
        assert err < 1e-7 or abs_err < 1e-9, \
            f"d{name}: relative error {err:.2e}, absolute error {abs_err:.2e}"


def _five_point(f, x, idx, h):
    """Fourth-order centered difference of the scalar ``f()`` along entry ``idx`` of ``x``."""
    old = x[idx]
    values = []
    for step in (2, 1, -1, -2):
        x[idx] = old + step * h
        values.append(f())
    x[idx] = old
    return (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)


def fd_gradient(f, x, h=1e-3):
    """Fourth-order centered finite difference of the scalar ``f()`` with respect to ``x``.

    ``x`` is perturbed in place. The five-point formula has truncation error
    of order h**4, so a step of 1e-3 keeps both truncation and round-off near
    1e-12; the plain two-point difference bottoms out near 1e-9 absolute,
    too coarse for a 1e-7 relative test of the smaller gradients of deep
    models.
    """
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        grad[idx] = _five_point(f, x, idx, h)
    return grad


def fd_entries(f, x, idxs, h=1e-3):
    """The five-point difference of :func:`fd_gradient` at chosen entries ``idxs`` of ``x`` only."""
    return np.array([_five_point(f, x, idx, h) for idx in idxs])
