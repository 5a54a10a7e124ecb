"""The gradient formulas on the notation page hold, and squared error after a softmax
really loses its gradient when the prediction is confidently wrong."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbook.nn import softmax


def _mse(o, y):
    return 0.5 * float(np.sum((softmax(o) - y) ** 2))


def _cross_entropy(o, y):
    return -float(np.sum(y * np.log(softmax(o))))


def _mse_grad(o, y):
    # The page's formula: p_j ((p_j - y_j) - sum_k p_k (p_k - y_k)).
    p = softmax(o)
    return p * ((p - y) - np.sum(p * (p - y)))


def _fd(loss, o, y, eps=1e-6):
    g = np.empty_like(o)
    for j in range(o.size):
        step = np.zeros_like(o)
        step[j] = eps
        g[j] = (loss(o + step, y) - loss(o - step, y)) / (2 * eps)
    return g


@pytest.mark.parametrize("seed", range(5))
def test_both_gradients_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    o = 2.0 * rng.standard_normal(6)
    y = np.eye(6)[rng.integers(6)]
    assert np.allclose(_fd(_cross_entropy, o, y), softmax(o) - y, atol=1e-8)
    assert np.allclose(_fd(_mse, o, y), _mse_grad(o, y), atol=1e-8)


@pytest.mark.parametrize("margin", [4.0, 8.0, 16.0])
def test_confidently_wrong_softmax_starves_squared_error_but_not_cross_entropy(margin):
    # Two classes; the correct one (0) gets probability eps, the wrong one 1 - eps.
    o, y = np.array([0.0, margin]), np.array([1.0, 0.0])
    eps = softmax(o)[0]
    g_mse, g_ce = _mse_grad(o, y), softmax(o) - y
    expected = 2 * eps * (1 - eps) ** 2
    assert np.allclose(g_mse, [-expected, expected], rtol=1e-12)
    assert abs(g_ce[0]) > 0.98                     # a full-sized push towards class 0
    assert np.abs(g_mse).max() < 0.04 * abs(g_ce[0])
    # The worse the mistake, the smaller the squared-error correction.
    worse = _mse_grad(np.array([0.0, margin + 2.0]), y)
    assert np.abs(worse).max() < np.abs(g_mse).max()
