"""Tests for rnnbook.nn.lstm: values, gradients, step/sequence agreement, cache, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import example, given, settings

from rnnbook.train.gradcheck import numerical_gradient, rel_error
from rnnbook.nn.records import CellGrads, LSTMFullGrads
from rnnbook.nn.lstm import (
    LSTMCache,
    LSTMStepCache,
    lstm_backward,
    lstm_backward_full,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)

from helpers import assert_gradients, cell_inputs, dim, seeds

FAST = settings(max_examples=12, deadline=None)


def make_params(rng, N, T, D, H, dtype=np.float64):
    p = cell_inputs(rng, N, T, D, H, blocks=4, biases=("b",), bias_scale=0.5, dtype=dtype)
    p["c0"] = rng.standard_normal((N, H)).astype(dtype)
    return p


def reference_step(x, h_prev, c_prev, Wx, Wh, b):
    """The LSTM equations written independently, gate by gate."""
    H = h_prev.shape[1]

    def logistic(a):
        return 1 / (1 + np.exp(-a))

    def block(k):
        cols = slice(k * H, (k + 1) * H)
        return x @ Wx[:, cols] + h_prev @ Wh[:, cols] + b[cols]

    i, f, g, o = logistic(block(0)), logistic(block(1)), np.tanh(block(2)), logistic(block(3))
    c = f * c_prev + i * g
    return o * np.tanh(c), c, (i, f, g, o)


def test_step_forward_matches_equations():
    rng = np.random.default_rng(0)
    p = make_params(rng, 3, 1, 4, 5)
    args = (p["x"][:, 0], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    h, c, cache = lstm_step_forward(*args)
    h_ref, c_ref, gates = reference_step(*args)
    np.testing.assert_allclose(h, h_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c, c_ref, rtol=1e-13, atol=1e-15)
    for name, ref in zip("ifgo", gates):
        np.testing.assert_allclose(getattr(cache, name), ref, rtol=1e-13, atol=1e-15)


def test_gate_order_is_i_f_g_o():
    # With all weights zero the gates are the activated biases, so a bias set
    # per block shows which block plays which role.
    H = 2
    b = np.concatenate([np.full(H, v) for v in (20.0, -20.0, 0.5, 0.0)])
    x, h0, c0 = np.zeros((1, 1, 3)), np.zeros((1, H)), np.full((1, H), 3.0)
    h, cache = lstm_forward(x, h0, np.zeros((3, 4 * H)), np.zeros((H, 4 * H)), b, c0)
    # i = 1, f = 0 and o = 1/2 (to float64 precision): c forgets 3.0 and
    # takes g = tanh(0.5), and h is half of tanh(c). Any other order fails.
    np.testing.assert_allclose(cache.c[0, 0], np.tanh(0.5), atol=1e-7)
    np.testing.assert_allclose(h[0, 0], 0.5 * np.tanh(np.tanh(0.5)), atol=1e-7)


@FAST
@given(N=dim, D=dim, H=dim, seed=seeds)
@example(N=1, D=1, H=1, seed=0)
def test_step_gradients(N, D, H, seed):
    rng = np.random.default_rng(seed)
    p = make_params(rng, N, 1, D, H)
    inputs = dict(x=p["x"][:, 0].copy(), h_prev=p["h0"], c_prev=p["c0"],
                  Wx=p["Wx"], Wh=p["Wh"], b=p["b"])
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    _, _, cache = lstm_step_forward(**inputs)
    dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh, dc, cache)

    def loss(**kw):
        h, c, _ = lstm_step_forward(**kw)
        return np.sum(h * dh) + np.sum(c * dc)

    assert_gradients(loss, inputs, dict(x=dx, h_prev=dh_prev, c_prev=dc_prev,
                                        Wx=dWx, Wh=dWh, b=db), None)


@FAST
@given(N=dim, T=dim, D=dim, H=dim, seed=seeds)
@example(N=1, T=1, D=1, H=1, seed=0)
@example(N=1, T=4, D=2, H=1, seed=1)
def test_sequence_gradients(N, T, D, H, seed):
    rng = np.random.default_rng(seed)
    inputs = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    # The loss reaches every cell state directly too, as through a decoder.
    dc = rng.standard_normal((N, T, H))
    _, cache = lstm_forward(**inputs)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward_full(dh, cache, dc)

    def loss(**kw):
        h, cache = lstm_forward(**kw)
        return np.sum(h * dh) + np.sum(cache.c * dc)

    assert_gradients(loss, inputs, dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh, b=db, c0=dc0), None)


def test_backward_is_the_full_backward_without_cell_gradients():
    rng = np.random.default_rng(7)
    p = make_params(rng, 2, 3, 2, 3)
    dh = rng.standard_normal((2, 3, 3))
    _, cache = lstm_forward(**p)
    plain = lstm_backward(dh, cache)
    assert isinstance(plain, CellGrads) and len(plain) == 5
    full = lstm_backward_full(dh, cache)
    assert isinstance(full, LSTMFullGrads) and len(full) == 6
    explicit = lstm_backward_full(dh, cache, np.zeros((2, 3, 3)))
    for name in CellGrads._fields:
        np.testing.assert_array_equal(getattr(plain, name), getattr(full, name),
                                      err_msg=name)
    for name in LSTMFullGrads._fields:
        np.testing.assert_array_equal(getattr(full, name), getattr(explicit, name),
                                      err_msg=name)
    # With the cell state reached directly, dc0 and every other gradient change.
    dc = np.zeros((2, 3, 3))
    dc[:, -1] = 1
    moved = lstm_backward_full(dh, cache, dc)
    for name in LSTMFullGrads._fields:
        assert not np.allclose(getattr(moved, name), getattr(full, name)), name


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 7, 1, 2)])
def test_sequence_equals_loop_of_steps(N, T, D, H):
    rng = np.random.default_rng(N * 100 + T)
    p = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    h, cache = lstm_forward(**p)

    h_prev, c_prev, caches = p["h0"], p["c0"], []
    for t in range(T):
        h_prev, c_prev, c = lstm_step_forward(p["x"][:, t], h_prev, c_prev,
                                              p["Wx"], p["Wh"], p["b"])
        np.testing.assert_allclose(h[:, t], h_prev, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cache.c[:, t], c_prev, rtol=1e-12, atol=1e-14)
        for name in "ifgo":
            np.testing.assert_allclose(getattr(cache, name)[:, t], getattr(c, name),
                                       rtol=1e-12, atol=1e-14)
        caches.append(c)

    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros_like(p["Wx"]), np.zeros_like(p["Wh"]), np.zeros_like(p["b"])
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dh_next, dc_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    want = (dx, dh_next, dc_next, dWx, dWh, db)
    got = lstm_backward_full(dh, cache)
    for name, w, g in zip(LSTMFullGrads._fields, want, got):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 8])
def test_backward_blocks_give_identical_results(monkeypatch, block):
    # The fast backward computes its local factors a block of steps at a
    # time; on small layers one block covers everything, so force short blocks.
    import rnnbook.nn.kernels
    from rnnbook.nn.kernels import lstm_backward_fast, lstm_forward_fast

    N, T, D, H = 2, 7, 3, 4
    rng = np.random.default_rng(block)
    p = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    dc = rng.standard_normal((N, T, H))
    _, cache = lstm_forward_fast(**p)
    whole = lstm_backward_fast(dh, cache, dc)
    monkeypatch.setattr(rnnbook.nn.kernels, "_CACHE_BLOCK", block * N * 4 * H)
    blocked = lstm_backward_fast(dh, cache, dc)
    for name, a, b in zip(("dx", "dh0", "dc0", "dWx", "dWh", "db"), whole, blocked):
        np.testing.assert_array_equal(a, b, err_msg=name)
    if block == 3:  # and the blocked gradients are right, not merely equal
        def objective(_):
            h, c = lstm_forward(**p)
            return np.sum(h * dh) + np.sum(c.c * dc)
        num = numerical_gradient(objective, p["Wh"])
        assert rel_error(blocked[4], num) < 1e-7


def test_cache_exposes_states_over_time():
    rng = np.random.default_rng(3)
    N, T, D, H = 2, 6, 3, 4
    p = make_params(rng, N, T, D, H)
    h, cache = lstm_forward(**p)
    assert isinstance(cache, LSTMCache)
    for name in ("i", "f", "g", "o", "c", "tanh_c", "h"):
        assert getattr(cache, name).shape == (N, T, H), name
    assert cache.gates.shape == (N, T, 4 * H)
    for name in ("i", "f", "o"):
        assert np.all((getattr(cache, name) > 0) & (getattr(cache, name) < 1))
    assert np.all(np.abs(cache.g) < 1)
    np.testing.assert_allclose(h, cache.o * np.tanh(cache.c), rtol=1e-14)
    c_prev = np.concatenate((p["c0"][:, None], cache.c[:, :-1]), axis=1)
    np.testing.assert_allclose(cache.c, cache.f * c_prev + cache.i * cache.g, rtol=1e-14)


def test_c0_none_means_zeros():
    rng = np.random.default_rng(4)
    p = make_params(rng, 2, 3, 2, 3)
    p_zero = dict(p, c0=np.zeros((2, 3)))
    p.pop("c0")
    h_none, cache_none = lstm_forward(**p)
    h_zero, _ = lstm_forward(**p_zero)
    np.testing.assert_array_equal(h_none, h_zero)
    assert cache_none.c0.dtype == h_none.dtype and not cache_none.c0.any()


def test_float32_in_float32_out():
    rng = np.random.default_rng(1)
    p = make_params(rng, 2, 3, 4, 5, dtype=np.float32)
    h, cache = lstm_forward(**p)
    assert h.dtype == np.float32
    for name in ("gates", "c", "tanh_c"):
        assert getattr(cache, name).dtype == np.float32, name
    grads = lstm_backward_full(np.ones_like(h), cache, np.ones_like(h))
    assert [g.dtype for g in grads] == [np.float32] * 6
    p.pop("c0")
    h, _ = lstm_forward(**p)  # c0 = None builds zeros in the input dtype
    assert h.dtype == np.float32
    hs, cs, step_cache = lstm_step_forward(p["x"][:, 0], p["h0"], np.zeros_like(p["h0"]),
                                           p["Wx"], p["Wh"], p["b"])
    assert hs.dtype == cs.dtype == np.float32
    grads = lstm_step_backward(np.ones_like(hs), np.ones_like(cs), step_cache)
    assert [g.dtype for g in grads] == [np.float32] * 6


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(2)
    p64 = make_params(rng, 3, 8, 4, 5)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    dh = rng.standard_normal((3, 8, 5))
    h64, c64 = lstm_forward(**p64)
    h32, c32 = lstm_forward(**p32)
    np.testing.assert_allclose(h32, h64, rtol=1e-4, atol=1e-5)
    for g32, g64 in zip(lstm_backward(dh.astype(np.float32), c32), lstm_backward(dh, c64)):
        assert rel_error(g32, g64) < 1e-4


def test_saturated_gates_stay_finite():
    # Huge pre-activations (an exploding network) must not overflow.
    rng = np.random.default_rng(5)
    p = make_params(rng, 2, 4, 3, 2)
    p["Wx"] *= 1e4
    for dtype in (np.float32, np.float64):
        q = {k: v.astype(dtype) for k, v in p.items()}
        h, cache = lstm_forward(**q)
        grads = lstm_backward(np.ones_like(h), cache)
        assert np.all(np.isfinite(h)) and all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("name,shape", [
    ("x", (2, 3)), ("x", (2, 3, 5)), ("h0", (3, 5)), ("h0", (2, 4)), ("c0", (2, 4)),
    ("Wx", (4, 16)), ("Wh", (5, 5)), ("Wh", (5, 19)), ("b", (5,)),
])
def test_bad_shapes_name_the_argument(name, shape):
    p = make_params(np.random.default_rng(3), 2, 3, 4, 5)
    p[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"^{name} has shape"):
        lstm_forward(**p)


def test_bad_step_arguments():
    p = make_params(np.random.default_rng(4), 2, 1, 4, 5)
    x, h, c = p["x"][:, 0], p["h0"], p["c0"]
    with pytest.raises(ValueError, match=r"^c_prev has shape \(2, 4\)"):
        lstm_step_forward(x, h, np.zeros((2, 4)), p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match=r"^h_prev has dtype float32"):
        lstm_step_forward(x, h.astype(np.float32), c, p["Wx"], p["Wh"], p["b"])


def test_backward_checks_upstream_and_cache():
    p = make_params(np.random.default_rng(6), 2, 3, 4, 5)
    h, cache = lstm_forward(**p)
    hs, cs, step_cache = lstm_step_forward(p["x"][:, 0], p["h0"], p["c0"],
                                           p["Wx"], p["Wh"], p["b"])
    assert isinstance(step_cache, LSTMStepCache)
    with pytest.raises(ValueError, match=r"^dh has shape \(2, 3\) but needs \(2, 3, 5\)"):
        lstm_backward(np.zeros((2, 3)), cache)
    shape_error = r"^dc has shape \(2, 5\) but needs \(2, 3, 5\)"
    with pytest.raises(ValueError, match=shape_error):
        lstm_backward_full(h, cache, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"^dc has dtype float32"):
        lstm_backward_full(h, cache, h.astype(np.float32))
    with pytest.raises(ValueError, match=r"^dc has dtype float32"):
        lstm_step_backward(hs, cs.astype(np.float32), step_cache)
    with pytest.raises(ValueError, match="not the cache returned by lstm_forward"):
        lstm_backward(h, step_cache)
    with pytest.raises(ValueError, match="not the cache returned by lstm_step_forward"):
        lstm_step_backward(hs, cs, cache)
