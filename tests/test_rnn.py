"""Tests for rnnbook.nn.rnn: values, gradients, step/sequence agreement, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import example, given, settings

from rnnbook.nn.rnn import (
    RNNCache,
    RNNStepCache,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

from helpers import assert_gradients, cell_inputs, dim, seeds

FAST = settings(max_examples=12, deadline=None)


def make_params(rng, N, T, D, H, dtype=np.float64):
    return cell_inputs(rng, N, T, D, H, blocks=1, biases=("b",), bias_scale=0.3, dtype=dtype)


def test_step_forward_matches_formula():
    rng = np.random.default_rng(0)
    p = make_params(rng, 3, 1, 4, 5)
    x = p["x"][:, 0]
    h, _ = rnn_step_forward(x, p["h0"], p["Wx"], p["Wh"], p["b"])
    # Written element by element, independent of the matrix formulation.
    expected = np.empty((3, 5))
    for n in range(3):
        for j in range(5):
            a = p["b"][j] + sum(x[n, d] * p["Wx"][d, j] for d in range(4))
            a += sum(p["h0"][n, k] * p["Wh"][k, j] for k in range(5))
            expected[n, j] = np.tanh(a)
    np.testing.assert_allclose(h, expected, rtol=1e-13, atol=1e-15)


@FAST
@given(N=dim, D=dim, H=dim, seed=seeds)
@example(N=1, D=1, H=1, seed=0)
def test_step_gradients(N, D, H, seed):
    rng = np.random.default_rng(seed)
    p = make_params(rng, N, 1, D, H)
    inputs = dict(x=p["x"][:, 0].copy(), h_prev=p["h0"], Wx=p["Wx"], Wh=p["Wh"], b=p["b"])
    dh = rng.standard_normal((N, H))
    _, cache = rnn_step_forward(**inputs)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh, cache)
    assert_gradients(lambda **kw: rnn_step_forward(**kw)[0], inputs,
                     dict(x=dx, h_prev=dh_prev, Wx=dWx, Wh=dWh, b=db), dh)


@FAST
@given(N=dim, T=dim, D=dim, H=dim, seed=seeds)
@example(N=1, T=1, D=1, H=1, seed=0)
@example(N=1, T=4, D=2, H=1, seed=1)
def test_sequence_gradients(N, T, D, H, seed):
    rng = np.random.default_rng(seed)
    inputs = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    _, cache = rnn_forward(**inputs)
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    assert_gradients(lambda **kw: rnn_forward(**kw)[0], inputs,
                     dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh, b=db), dh)


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 7, 1, 2)])
def test_sequence_equals_loop_of_steps(N, T, D, H):
    rng = np.random.default_rng(N * 100 + T)
    p = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    h, cache = rnn_forward(**p)

    h_prev, caches = p["h0"], []
    for t in range(T):
        h_prev, c = rnn_step_forward(p["x"][:, t], h_prev, p["Wx"], p["Wh"], p["b"])
        np.testing.assert_allclose(h[:, t], h_prev, rtol=1e-12, atol=1e-14)
        caches.append(c)

    grads = [np.zeros((N, T, D)), None, np.zeros_like(p["Wx"]), np.zeros_like(p["Wh"]),
             np.zeros_like(p["b"])]
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, dh_next, dWx, dWh, db = rnn_step_backward(dh[:, t] + dh_next, caches[t])
        grads[0][:, t] = dx_t
        grads[2] += dWx
        grads[3] += dWh
        grads[4] += db
    grads[1] = dh_next
    for name, want, got in zip(("dx", "dh0", "dWx", "dWh", "db"), grads, rnn_backward(dh, cache)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13, err_msg=name)


def test_float32_in_float32_out():
    rng = np.random.default_rng(1)
    p = make_params(rng, 2, 3, 4, 5, dtype=np.float32)
    h, cache = rnn_forward(**p)
    assert h.dtype == np.float32
    for g in rnn_backward(np.ones_like(h), cache):
        assert g.dtype == np.float32
    hs, step_cache = rnn_step_forward(p["x"][:, 0], p["h0"], p["Wx"], p["Wh"], p["b"])
    assert hs.dtype == np.float32
    for g in rnn_step_backward(np.ones_like(hs), step_cache):
        assert g.dtype == np.float32
    # float32 results agree with float64 ones to float32 precision.
    h64, _ = rnn_forward(**{k: v.astype(np.float64) for k, v in p.items()})
    np.testing.assert_allclose(h, h64, rtol=1e-4, atol=1e-5)


def test_cache_contents():
    rng = np.random.default_rng(2)
    p = make_params(rng, 2, 3, 4, 5)
    h, cache = rnn_forward(**p)
    assert isinstance(cache, RNNCache)
    assert cache.h is h and cache.h0 is p["h0"]


@pytest.mark.parametrize("name,shape", [
    ("x", (2, 3)), ("x", (2, 3, 5)), ("h0", (3, 5)), ("h0", (2, 4)), ("Wx", (4, 4)),
    ("Wh", (5, 4)), ("b", (4,)),
])
def test_bad_shapes_name_the_argument(name, shape):
    p = make_params(np.random.default_rng(3), 2, 3, 4, 5)
    p[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"^{name} has shape"):
        rnn_forward(**p)


def test_bad_step_shape_and_dtype():
    p = make_params(np.random.default_rng(4), 2, 1, 4, 5)
    with pytest.raises(ValueError, match=r"^h_prev has shape \(2, 4\)"):
        rnn_step_forward(p["x"][:, 0], np.zeros((2, 4)), p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match=r"^Wx has dtype float32"):
        rnn_step_forward(p["x"][:, 0], p["h0"], p["Wx"].astype(np.float32), p["Wh"], p["b"])
    with pytest.raises(ValueError, match=r"^x has dtype int64"):
        rnn_step_forward(np.zeros((2, 4), dtype=np.int64), p["h0"], p["Wx"], p["Wh"], p["b"])


def test_empty_sequence_is_rejected():
    p = make_params(np.random.default_rng(5), 2, 1, 4, 5)
    p["x"] = np.zeros((2, 0, 4))
    with pytest.raises(ValueError, match="T = 0"):
        rnn_forward(**p)


def test_backward_checks_upstream_and_cache():
    p = make_params(np.random.default_rng(6), 2, 3, 4, 5)
    h, cache = rnn_forward(**p)
    hs, step_cache = rnn_step_forward(p["x"][:, 0], p["h0"], p["Wx"], p["Wh"], p["b"])
    assert isinstance(step_cache, RNNStepCache)
    with pytest.raises(ValueError, match=r"^dh has shape \(2, 5\) but needs \(2, 3, 5\)"):
        rnn_backward(np.zeros((2, 5)), cache)
    with pytest.raises(ValueError, match=r"^dh has dtype float32"):
        rnn_backward(np.zeros((2, 3, 5), dtype=np.float32), cache)
    with pytest.raises(ValueError, match="not the cache returned by rnn_forward"):
        rnn_backward(h, step_cache)
    with pytest.raises(ValueError, match="not the cache returned by rnn_step_forward"):
        rnn_step_backward(hs, cache)
    with pytest.raises(ValueError, match="cache is a tuple"):
        rnn_backward(h, (1, 2))
