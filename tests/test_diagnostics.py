"""Tests for rnnbook.book.diagnostics: gradient and Jacobian norms against lag."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.book import diagnostics as dg
from rnnbook.nn import Cell, get_cell
from rnnbook.train.gradcheck import numerical_gradient, rel_error
from rnnbook.nn.init import orthogonal, set_spectral_radius
from rnnbook.nn.lstm import lstm_forward
from rnnbook.nn.rnn import rnn_backward, rnn_forward

CELLS = ["rnn", "lstm", "gru"]


def _setup(cell, N=3, T=6, D=2, H=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    c = get_cell(cell)
    params = c.init(D, H, rng, dtype=dtype)
    # Scale up so that the nonlinearities are not all in their linear part.
    params = {k: (1.5 * v).astype(dtype) for k, v in params.items()}
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((N, H))).astype(dtype)
    return c, params, x, h0


def _last_state(cell, params, x, h0):
    c = get_cell(cell)
    states0 = (h0,) + c.zero_states(*h0.shape, h0.dtype)[1:]
    return c.forward(x, states0, params)[0][0][:, -1]


# -- cells ---------------------------------------------------------------------------

def test_get_cell_names_and_passthrough():
    for name in ["rnn", "lstm"]:
        c = get_cell(name)
        assert isinstance(c, Cell) and c.name == name
        assert get_cell(c) is c
    assert get_cell("RNN").name == "rnn"
    assert get_cell("lstm").state_names == ("h", "c")
    with pytest.raises(ValueError, match="cell"):
        get_cell("transformer")
    with pytest.raises(ValueError, match="cell"):
        get_cell(3)


@pytest.mark.parametrize("cell", CELLS)
def test_step_functions_agree_with_sequence_functions(cell):
    c, params, x, h0 = _setup(cell)
    states = (h0,) + tuple(np.zeros_like(h0) for _ in c.state_names[1:])
    (h_seq, *_), cache = c.forward(x, states, params)
    step_caches = []
    for t in range(x.shape[1]):
        states, sc = c.step_forward(x[:, t], states, params)
        step_caches.append(sc)
        np.testing.assert_allclose(states[0], h_seq[:, t], rtol=1e-12, atol=1e-12)
    # Backward: an upstream gradient on every hidden state, summed over steps.
    rng = np.random.default_rng(1)
    dh = rng.standard_normal(h_seq.shape)
    dx_seq, (dh0_seq, *_), g_seq = c.backward((dh,) + (None,) * (len(states) - 1), cache)
    dstates = tuple(np.zeros_like(h0) for _ in c.state_names)
    g_sum = {k: np.zeros_like(v) for k, v in params.items()}
    for t in reversed(range(x.shape[1])):
        dstates = (dstates[0] + dh[:, t],) + dstates[1:]
        dx_t, dstates, g = c.step_backward(dstates, step_caches[t])
        np.testing.assert_allclose(dx_t, dx_seq[:, t], rtol=1e-10, atol=1e-12)
        for k in g_sum:
            g_sum[k] += g[k]
    np.testing.assert_allclose(dstates[0], dh0_seq, rtol=1e-10, atol=1e-12)
    assert set(g_seq) == set(params)
    for k in params:
        np.testing.assert_allclose(g_sum[k], g_seq[k], rtol=1e-10, atol=1e-12)


# -- gradient_norms_by_lag -----------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_gradient_at_the_largest_lag_matches_finite_differences(cell):
    c, params, x, h0 = _setup(cell, N=2, T=5, H=3)
    rng = np.random.default_rng(2)
    dh_T = rng.standard_normal(h0.shape)
    lags, norms = dg.gradient_norms_by_lag(cell, params, x, h0, dh_T=dh_T, state="h")
    assert lags.tolist() == list(range(6)) and norms.shape == (2, 6)
    num = numerical_gradient(lambda h: _last_state(cell, params, x, h), h0.copy(), dh_T)
    np.testing.assert_allclose(norms[:, -1], np.linalg.norm(num, axis=1), rtol=1e-7)
    np.testing.assert_allclose(norms[:, 0], np.linalg.norm(dh_T, axis=1), rtol=1e-14)


def test_rnn_gradient_at_every_lag_matches_bptt_on_the_suffix():
    c, params, x, h0 = _setup("rnn", N=3, T=7, H=5)
    dh_T = np.random.default_rng(3).standard_normal(h0.shape)
    _, norms = dg.gradient_norms_by_lag("rnn", params, x, h0, dh_T=dh_T)
    h, _ = rnn_forward(x, h0, params["Wx"], params["Wh"], params["b"])
    T = x.shape[1]
    for k in range(1, T + 1):
        t = T - k  # the state after t steps; restart the network from it
        start = h0 if t == 0 else h[:, t - 1]
        hs, cache = rnn_forward(x[:, t:], start, params["Wx"], params["Wh"], params["b"])
        dh = np.zeros_like(hs)
        dh[:, -1] = dh_T
        dstart = rnn_backward(dh, cache)[1]
        np.testing.assert_allclose(norms[:, k], np.linalg.norm(dstart, axis=1), rtol=1e-12)


def test_lstm_state_parts_add_up_and_c_matches_finite_differences():
    c, params, x, h0 = _setup("lstm", N=2, T=4, H=3)
    _, n_all = dg.gradient_norms_by_lag("lstm", params, x, h0)
    _, n_h = dg.gradient_norms_by_lag("lstm", params, x, h0, state="h")
    _, n_c = dg.gradient_norms_by_lag("lstm", params, x, h0, state="c")
    np.testing.assert_allclose(n_all ** 2, n_h ** 2 + n_c ** 2, rtol=1e-12)
    assert np.all(n_c[:, 0] == 0)  # the loss sits on h_T only
    # The gradient with respect to c_0, by finite differences through lstm_forward.
    dh_T = np.full(h0.shape, 1 / np.sqrt(3))
    c0 = np.zeros_like(h0)
    num = numerical_gradient(
        lambda cc: lstm_forward(x, h0, params["Wx"], params["Wh"], params["b"], cc)[0][:, -1],
        c0, dh_T)
    np.testing.assert_allclose(n_c[:, -1], np.linalg.norm(num, axis=1), rtol=1e-7)


def test_linear_regime_gives_exact_powers_of_rho():
    # Zero input and zero state keep h at the origin, where tanh' = 1, so
    # each step multiplies the gradient by W_hh exactly. For W = rho * Q with
    # Q orthogonal, every norm is rho ** lag.
    rng = np.random.default_rng(4)
    H, T = 6, 30
    Q = orthogonal((H, H), rng)
    x = np.zeros((2, T, 1))
    for rho in [0.5, 1.0, 1.7]:
        params = {"Wx": rng.standard_normal((1, H)), "Wh": rho * Q, "b": np.zeros(H)}
        lags, norms = dg.gradient_norms_by_lag("rnn", params, x)
        np.testing.assert_allclose(norms, np.broadcast_to(rho ** lags, norms.shape), rtol=1e-10)
        lags, J = dg.jacobian_norms_by_lag("rnn", params, x)
        np.testing.assert_allclose(J, np.broadcast_to(rho ** lags, J.shape), rtol=1e-10)
        slope = dg.log10_slope(lags, norms[0])
        assert slope == pytest.approx(np.log10(rho), abs=1e-10)


def test_gradient_norms_keep_their_true_size_when_they_explode():
    rng = np.random.default_rng(5)
    H, T = 4, 12
    params = {"Wx": np.zeros((1, H)), "Wh": 1e30 * orthogonal((H, H), rng), "b": np.zeros(H)}
    _, norms = dg.gradient_norms_by_lag("rnn", params, np.zeros((1, T, 1)))
    np.testing.assert_allclose(norms[0, :10], 1e30 ** np.arange(10), rtol=1e-9)
    # 1e330 is beyond float64: the norm is reported as not finite, without a warning.
    assert not np.any(np.isfinite(norms[0, 11:]))


@pytest.mark.parametrize("cell", CELLS)
def test_float32_in_float32_out(cell):
    c, params, x, h0 = _setup(cell, dtype=np.float32)
    _, n64 = dg.gradient_norms_by_lag(cell, *_setup(cell)[1:3])
    _, n32 = dg.gradient_norms_by_lag(cell, params, x)
    assert n32.dtype == np.float64 and np.all(np.isfinite(n32))
    np.testing.assert_allclose(n32, n64, rtol=1e-4)


def test_argument_errors():
    c, params, x, h0 = _setup("rnn")
    with pytest.raises(ValueError, match="x has shape"):
        dg.gradient_norms_by_lag("rnn", params, x[0])
    with pytest.raises(ValueError, match="h0 has shape"):
        dg.gradient_norms_by_lag("rnn", params, x, h0[:, :2])
    with pytest.raises(ValueError, match="dh_T"):
        dg.gradient_norms_by_lag("rnn", params, x, dh_T=np.ones((1, 4)))
    with pytest.raises(ValueError, match="state"):
        dg.gradient_norms_by_lag("rnn", params, x, state="c")
    with pytest.raises(ValueError, match="params"):
        dg.jacobian_norms_by_lag("rnn", [1, 2], x)
    with pytest.raises(ValueError, match="dtype"):
        dg.gradient_norms_by_lag("rnn", params, x.astype(np.float32))


# -- Jacobian products and the bound ------------------------------------------------

def test_rnn_jacobian_matches_the_explicit_product():
    c, params, x, h0 = _setup("rnn", N=2, T=5, H=4)
    h, _ = rnn_forward(x, h0, params["Wx"], params["Wh"], params["b"])
    W_hh = params["Wh"].T  # the prose matrix; the code stores its transpose
    _, J = dg.jacobian_norms_by_lag("rnn", params, x, h0)
    _, Jf = dg.jacobian_norms_by_lag("rnn", params, x, h0, ord="fro")
    T = x.shape[1]
    for n in range(2):
        prod = np.eye(4)
        for k in range(1, T + 1):
            j = T - k + 1  # prose step index of the factor added at lag k
            prod = prod @ (np.diag(1 - h[n, j - 1] ** 2) @ W_hh)
            assert J[n, k] == pytest.approx(np.linalg.norm(prod, 2), rel=1e-10)
            assert Jf[n, k] == pytest.approx(np.linalg.norm(prod, "fro"), rel=1e-10)


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_norm_bounds_every_unit_gradient(cell):
    c, params, x, h0 = _setup(cell, N=2, T=6, H=3)
    _, J = dg.jacobian_norms_by_lag(cell, params, x, h0)
    np.testing.assert_allclose(J[:, 0], 1.0, rtol=1e-12)
    rng = np.random.default_rng(6)
    for _ in range(5):
        d = rng.standard_normal(h0.shape)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        _, g = dg.gradient_norms_by_lag(cell, params, x, h0, dh_T=d)
        assert np.all(g <= J * (1 + 1e-10))


@settings(max_examples=25, deadline=None)
@given(rho=st.floats(0.1, 3.0), scale=st.floats(0.0, 5.0), seed=st.integers(0, 10_000))
def test_tanh_rnn_never_beats_the_bound(rho, scale, seed):
    rng = np.random.default_rng(seed)
    H, T = 5, 15
    params = {"Wx": scale * rng.standard_normal((2, H)),
              "Wh": set_spectral_radius(rng.standard_normal((H, H)), rho),
              "b": 0.1 * rng.standard_normal(H)}
    x = rng.standard_normal((2, T, 2))
    lags, J = dg.jacobian_norms_by_lag("rnn", params, x)
    assert np.all(J <= dg.jacobian_bound(params["Wh"], lags) * (1 + 1e-9))


def test_jacobian_bound_values():
    W = np.diag([3.0, 0.5])
    np.testing.assert_allclose(dg.jacobian_bound(W, [0, 1, 2]), [1, 3, 9])
    np.testing.assert_allclose(dg.jacobian_bound(W, [2], gamma=0.25), [0.5625])
    with pytest.raises(ValueError, match="non-negative"):
        dg.jacobian_bound(W, [-1])
    with pytest.raises(ValueError, match="Wh"):
        dg.jacobian_bound(np.ones((2, 3)), [1])


# -- small helpers -------------------------------------------------------------------

def test_log10_slope():
    lags = np.arange(20)
    assert dg.log10_slope(lags, 0.5 ** lags) == pytest.approx(np.log10(0.5))
    # Underflowed, overflowed and negative entries are skipped, not fitted.
    v = 10.0 ** (2.0 * lags)
    v[3], v[5], v[7] = 0.0, np.inf, -1.0
    assert dg.log10_slope(lags, v) == pytest.approx(2.0)
    # A transient before `start` is ignored.
    w = np.where(lags < 5, 1.0, 10.0 ** (-(lags - 5.0)))
    assert dg.log10_slope(lags, w, start=5) == pytest.approx(-1.0)
    assert np.isnan(dg.log10_slope([0, 1], [1.0, 0.0]))
    with pytest.raises(ValueError, match="same"):
        dg.log10_slope([0, 1, 2], [1.0, 2.0])


def test_saturation_fraction():
    h = np.array([[0.0, 0.995, -0.999, 0.5]])
    assert dg.saturation_fraction(h) == 0.5
    assert dg.saturation_fraction(h, threshold=0.4) == 0.75
    h_sat, _ = rnn_forward(np.full((1, 3, 1), 10.0), np.zeros((1, 2)), np.ones((1, 2)),
                           np.zeros((2, 2)), np.zeros(2))
    assert dg.saturation_fraction(h_sat) == 1.0
    with pytest.raises(ValueError, match="threshold"):
        dg.saturation_fraction(h, threshold=1.0)
    with pytest.raises(ValueError, match="empty"):
        dg.saturation_fraction(np.zeros((0, 3)))
