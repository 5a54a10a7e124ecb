"""Tests for rnnbook.nn.gru, both formulations: values, gradients, step/sequence
agreement, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import example, given, settings

from rnnbook.nn import gru

from helpers import assert_gradients, cell_inputs, dim, seeds

FAST = settings(max_examples=10, deadline=None)

# (step forward, step backward, forward, backward, step cache, cache) per formulation
VARIANTS = {
    "pytorch": (gru.gru_step_forward, gru.gru_step_backward, gru.gru_forward,
                gru.gru_backward, gru.GRUStepCache, gru.GRUCache),
    "original": (gru.gru_original_step_forward, gru.gru_original_step_backward,
                 gru.gru_original_forward, gru.gru_original_backward,
                 gru.GRUOriginalStepCache, gru.GRUOriginalCache),
}
variant = pytest.mark.parametrize("kind", sorted(VARIANTS))


def make_params(rng, N, T, D, H, dtype=np.float64):
    return cell_inputs(rng, N, T, D, H, blocks=3, biases=("bx", "bh"), bias_scale=0.5,
                       dtype=dtype)


def reference_step(kind, x, h_prev, Wx, Wh, bx, bh):
    """Both GRU formulations written independently, block by block."""
    H = h_prev.shape[1]
    blk = [slice(k * H, (k + 1) * H) for k in range(3)]

    def logistic(a):
        return 1 / (1 + np.exp(-a))

    r = logistic(x @ Wx[:, blk[0]] + bx[blk[0]] + h_prev @ Wh[:, blk[0]] + bh[blk[0]])
    z = logistic(x @ Wx[:, blk[1]] + bx[blk[1]] + h_prev @ Wh[:, blk[1]] + bh[blk[1]])
    if kind == "pytorch":
        n = np.tanh(x @ Wx[:, blk[2]] + bx[blk[2]] + r * (h_prev @ Wh[:, blk[2]] + bh[blk[2]]))
    else:
        n = np.tanh(x @ Wx[:, blk[2]] + bx[blk[2]] + (r * h_prev) @ Wh[:, blk[2]] + bh[blk[2]])
    return (1 - z) * n + z * h_prev, (r, z, n)


@variant
def test_step_forward_matches_equations(kind):
    step_forward = VARIANTS[kind][0]
    p = make_params(np.random.default_rng(0), 3, 1, 4, 5)
    args = (p["x"][:, 0], p["h0"], p["Wx"], p["Wh"], p["bx"], p["bh"])
    h, cache = step_forward(*args)
    h_ref, gates = reference_step(kind, *args)
    np.testing.assert_allclose(h, h_ref, rtol=1e-13, atol=1e-15)
    for name, ref in zip("rzn", gates):
        np.testing.assert_allclose(getattr(cache, name), ref, rtol=1e-13, atol=1e-15)


def test_the_two_formulations_differ():
    # Same parameters, different candidate: the difference is real (and
    # vanishes when the reset gate is fully open, r = 1, and bh_n = 0).
    p = make_params(np.random.default_rng(1), 2, 3, 2, 3)
    h_torch, _ = gru.gru_forward(**p)
    h_orig, _ = gru.gru_original_forward(**p)
    assert np.max(np.abs(h_torch - h_orig)) > 1e-3
    p["bh"][:3] = 50.0  # reset gate saturates open
    p["bh"][6:] = 0.0
    h_torch, _ = gru.gru_forward(**p)
    h_orig, _ = gru.gru_original_forward(**p)
    np.testing.assert_allclose(h_torch, h_orig, rtol=1e-12, atol=1e-14)


@variant
@FAST
@given(N=dim, D=dim, H=dim, seed=seeds)
@example(N=1, D=1, H=1, seed=0)
def test_step_gradients(kind, N, D, H, seed):
    step_forward, step_backward = VARIANTS[kind][:2]
    rng = np.random.default_rng(seed)
    p = make_params(rng, N, 1, D, H)
    inputs = dict(x=p["x"][:, 0].copy(), h_prev=p["h0"], Wx=p["Wx"], Wh=p["Wh"],
                  bx=p["bx"], bh=p["bh"])
    dh = rng.standard_normal((N, H))
    _, cache = step_forward(**inputs)
    grads = step_backward(dh, cache)
    assert_gradients(lambda **kw: step_forward(**kw)[0], inputs,
                     dict(zip(("x", "h_prev", "Wx", "Wh", "bx", "bh"), grads)), dh)


@variant
@FAST
@given(N=dim, T=dim, D=dim, H=dim, seed=seeds)
@example(N=1, T=1, D=1, H=1, seed=0)
@example(N=1, T=4, D=2, H=1, seed=1)
def test_sequence_gradients(kind, N, T, D, H, seed):
    forward, backward = VARIANTS[kind][2:4]
    rng = np.random.default_rng(seed)
    inputs = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    _, cache = forward(**inputs)
    grads = backward(dh, cache)
    assert_gradients(lambda **kw: forward(**kw)[0], inputs,
                     dict(zip(("x", "h0", "Wx", "Wh", "bx", "bh"), grads)), dh)


@variant
@pytest.mark.parametrize("N,T,D,H", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 7, 1, 2)])
def test_sequence_equals_loop_of_steps(kind, N, T, D, H):
    step_forward, step_backward, forward, backward = VARIANTS[kind][:4]
    rng = np.random.default_rng(N * 100 + T)
    p = make_params(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    h, cache = forward(**p)

    h_prev, caches = p["h0"], []
    for t in range(T):
        h_prev, c = step_forward(p["x"][:, t], h_prev, p["Wx"], p["Wh"], p["bx"], p["bh"])
        np.testing.assert_allclose(h[:, t], h_prev, rtol=1e-12, atol=1e-14)
        for name in "rzn":
            np.testing.assert_allclose(getattr(cache, name)[:, t], getattr(c, name),
                                       rtol=1e-12, atol=1e-14)
        caches.append(c)

    dx = np.zeros((N, T, D))
    sums = [np.zeros_like(p[k]) for k in ("Wx", "Wh", "bx", "bh")]
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_next, *param_grads = step_backward(dh[:, t] + dh_next, caches[t])
        for acc, g in zip(sums, param_grads):
            acc += g
    for name, w, g in zip(("dx", "dh0", "dWx", "dWh", "dbx", "dbh"),
                          [dx, dh_next, *sums], backward(dh, cache)):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13, err_msg=name)


@variant
def test_float32_in_float32_out(kind):
    step_forward, step_backward, forward, backward = VARIANTS[kind][:4]
    p = make_params(np.random.default_rng(2), 2, 3, 4, 5, dtype=np.float32)
    h, cache = forward(**p)
    assert h.dtype == cache.gates.dtype == np.float32
    assert [g.dtype for g in backward(np.ones_like(h), cache)] == [np.float32] * 6
    hs, step_cache = step_forward(p["x"][:, 0], p["h0"], p["Wx"], p["Wh"], p["bx"], p["bh"])
    assert hs.dtype == np.float32
    assert [g.dtype for g in step_backward(np.ones_like(hs), step_cache)] == [np.float32] * 6
    h64, _ = forward(**{k: v.astype(np.float64) for k, v in p.items()})
    np.testing.assert_allclose(h, h64, rtol=1e-4, atol=1e-5)


@variant
def test_cache_exposes_gates(kind):
    forward = VARIANTS[kind][2]
    N, T, D, H = 2, 5, 3, 4
    p = make_params(np.random.default_rng(3), N, T, D, H)
    h, cache = forward(**p)
    assert isinstance(cache, VARIANTS[kind][5])
    for name in "rzn":
        assert getattr(cache, name).shape == (N, T, H)
    assert np.all((cache.r > 0) & (cache.r < 1)) and np.all((cache.z > 0) & (cache.z < 1))
    h_prev = np.concatenate((p["h0"][:, None], h[:, :-1]), axis=1)
    np.testing.assert_allclose(h, (1 - cache.z) * cache.n + cache.z * h_prev, rtol=1e-13)


@variant
@pytest.mark.parametrize("name,shape", [
    ("x", (2, 3)), ("x", (2, 3, 5)), ("h0", (3, 5)), ("h0", (2, 4)),
    ("Wx", (4, 14)), ("Wh", (5, 5)), ("bx", (12,)), ("bh", (15, 1)),
])
def test_bad_shapes_name_the_argument(kind, name, shape):
    forward = VARIANTS[kind][2]
    p = make_params(np.random.default_rng(4), 2, 3, 4, 5)
    p[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"^{name} has shape"):
        forward(**p)


@variant
def test_backward_checks_upstream_and_cache(kind):
    step_forward, step_backward, forward, backward, _, _ = VARIANTS[kind]
    other = "original" if kind == "pytorch" else "pytorch"
    p = make_params(np.random.default_rng(5), 2, 3, 4, 5)
    h, cache = forward(**p)
    hs, step_cache = step_forward(p["x"][:, 0], p["h0"], p["Wx"], p["Wh"], p["bx"], p["bh"])
    _, other_cache = VARIANTS[other][2](**p)
    with pytest.raises(ValueError, match=r"^dh has shape \(2, 5\) but needs \(2, 3, 5\)"):
        backward(np.zeros((2, 5)), cache)
    with pytest.raises(ValueError, match=r"^dh has dtype float32"):
        step_backward(hs.astype(np.float32), step_cache)
    with pytest.raises(ValueError, match="not the cache returned by"):
        backward(h, step_cache)
    with pytest.raises(ValueError, match="not the cache returned by"):
        step_backward(hs, cache)
    # The two formulations cache different things; mixing them must fail.
    with pytest.raises(ValueError, match="not the cache returned by"):
        backward(h, other_cache)
