"""Tests for rnnbook.nn.attention: values, gradients, masks, dtypes and errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.nn.attention import (
    additive_attention,
    additive_attention_backward,
    dot_product_attention,
    masked_softmax,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from rnnbook.train.gradcheck import numerical_gradient, rel_error

# (N, Tq, Tk, d, dv, A), including the degenerate sizes 1.
SHAPES = [
    (1, 1, 1, 1, 1, 1),
    (2, 3, 4, 5, 2, 3),
    (1, 1, 5, 3, 2, 4),
    (3, 4, 1, 2, 3, 2),
    (2, 5, 3, 1, 4, 1),
]
MASK_KINDS = [None, "padding", "full", "shared"]


def random_mask(rng, N, Tq, Tk, kind):
    """A mask of the given broadcast kind in which every query row keeps a key."""
    if kind is None:
        return None
    if kind == "padding":            # per-sequence lengths: (N, 1, Tk)
        lengths = rng.integers(1, Tk + 1, size=N)
        return (np.arange(Tk)[None, :] < lengths[:, None])[:, None, :]
    if kind == "shared":             # one pattern for the whole batch: (Tq, Tk)
        m = rng.random((Tq, Tk)) < 0.5
        m[np.arange(Tq), rng.integers(0, Tk, size=Tq)] = True
        return m
    m = rng.random((N, Tq, Tk)) < 0.5  # arbitrary: (N, Tq, Tk)
    n, i = np.meshgrid(np.arange(N), np.arange(Tq), indexing="ij")
    m[n, i, rng.integers(0, Tk, size=(N, Tq))] = True
    return m


def make_inputs(rng, N, Tq, Tk, d, dv, A, dtype=np.float64):
    q = rng.standard_normal((N, Tq, d)).astype(dtype)
    k = rng.standard_normal((N, Tk, d)).astype(dtype)
    v = rng.standard_normal((N, Tk, dv)).astype(dtype)
    Wq = (rng.standard_normal((d, A)) / math.sqrt(d)).astype(dtype)
    Wk = (rng.standard_normal((d, A)) / math.sqrt(d)).astype(dtype)
    w = rng.standard_normal(A).astype(dtype)
    return q, k, v, Wq, Wk, w


def naive_attention(scores, v, mask):
    """Reference: explicit loops over batch and queries."""
    N, Tq, Tk = scores.shape
    full = np.ones((N, Tq, Tk), bool) if mask is None else np.broadcast_to(mask, (N, Tq, Tk))
    out = np.zeros((N, Tq, v.shape[2]))
    weights = np.zeros((N, Tq, Tk))
    for n in range(N):
        for i in range(Tq):
            allowed = np.flatnonzero(full[n, i])
            e = np.exp(scores[n, i, allowed] - scores[n, i, allowed].max())
            weights[n, i, allowed] = e / e.sum()
            out[n, i] = weights[n, i] @ v[n]
    return out, weights


# -- forward values ------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_scaled_dot_product_matches_loops(shape, kind):
    rng = np.random.default_rng(1)
    N, Tq, Tk, d, dv, A = shape
    q, k, v, *_ = make_inputs(rng, *shape)
    mask = random_mask(rng, N, Tq, Tk, kind)
    out, weights, _ = scaled_dot_product_attention(q, k, v, mask)
    scores = np.einsum("nid,njd->nij", q, k) / math.sqrt(d)
    out_ref, w_ref = naive_attention(scores, v, mask)
    assert out.shape == (N, Tq, dv) and weights.shape == (N, Tq, Tk)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weights, w_ref, rtol=1e-12, atol=1e-12)


def test_scale_keyword_and_luong_dot():
    rng = np.random.default_rng(2)
    q, k, v, *_ = make_inputs(rng, 2, 3, 4, 5, 2, 3)
    out1, w1, _ = dot_product_attention(q, k, v)
    out2, w2, _ = scaled_dot_product_attention(q, k, v, scale=1.0)
    out3, _, _ = scaled_dot_product_attention(q / math.sqrt(5), k, v)
    np.testing.assert_array_equal(out1, out2)
    np.testing.assert_allclose(w2, naive_attention(np.einsum("nid,njd->nij", q, k), v, None)[1],
                               rtol=1e-12)
    # Scaling q by 1/sqrt(d) by hand and using scale=1 is the default scaling.
    _, w_default, _ = scaled_dot_product_attention(q, k, v)
    _, w_manual, _ = dot_product_attention(q / math.sqrt(5), k, v)
    np.testing.assert_allclose(w_default, w_manual, rtol=1e-12)
    np.testing.assert_allclose(out3, dot_product_attention(q / 5, k, v)[0], rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", [None, "padding", "full"])
def test_additive_matches_loops(shape, kind):
    rng = np.random.default_rng(3)
    N, Tq, Tk, d, dv, A = shape
    q, k, v, Wq, Wk, w = make_inputs(rng, *shape)
    mask = random_mask(rng, N, Tq, Tk, kind)
    out, weights, _ = additive_attention(q, k, v, Wq, Wk, w, mask)
    scores = np.zeros((N, Tq, Tk))
    for n in range(N):
        for i in range(Tq):
            for j in range(Tk):
                scores[n, i, j] = np.tanh(q[n, i] @ Wq + k[n, j] @ Wk) @ w
    out_ref, w_ref = naive_attention(scores, v, mask)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weights, w_ref, rtol=1e-12, atol=1e-12)


def test_huge_scores_are_finite_and_warning_free():
    rng = np.random.default_rng(4)
    q, k, v, Wq, Wk, w = make_inputs(rng, 2, 3, 4, 5, 2, 3)
    out, weights, _ = dot_product_attention(1e4 * q, 1e4 * k, v)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)
    out, weights, _ = additive_attention(q, k, v, Wq, Wk, 1e4 * w)
    assert np.all(np.isfinite(out))


def test_masked_keys_do_not_influence_anything():
    rng = np.random.default_rng(5)
    N, Tq, Tk, d, dv, A = 2, 3, 5, 4, 2, 3
    q, k, v, Wq, Wk, w = make_inputs(rng, N, Tq, Tk, d, dv, A)
    mask = np.ones((N, 1, Tk), bool)
    mask[:, :, 3:] = False                     # the last two keys are padding
    k2, v2 = k.copy(), v.copy()
    k2[:, 3:] = 1e3 * rng.standard_normal((N, 2, d))
    v2[:, 3:] = 1e3 * rng.standard_normal((N, 2, dv))
    for fwd, bwd, extra in [
        (scaled_dot_product_attention, scaled_dot_product_attention_backward, ()),
        (additive_attention, additive_attention_backward, (Wq, Wk, w)),
    ]:
        out1, _, _ = fwd(q, k, v, *extra, mask)
        out2, weights, cache = fwd(q, k2, v2, *extra, mask)
        np.testing.assert_allclose(out1, out2, rtol=1e-12, atol=1e-12)
        assert np.all(weights[:, :, 3:] == 0.0)
        grads = bwd(rng.standard_normal((N, Tq, dv)), cache)
        dk, dv_ = grads[1], grads[2]
        assert np.all(dk[:, 3:] == 0.0) and np.all(dv_[:, 3:] == 0.0)


# -- gradients ---------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", [None, "padding", "full"])
def test_scaled_dot_product_gradients(shape, kind):
    rng = np.random.default_rng(6)
    N, Tq, Tk, d, dv, A = shape
    q, k, v, *_ = make_inputs(rng, *shape)
    mask = random_mask(rng, N, Tq, Tk, kind)
    out, _, cache = scaled_dot_product_attention(q, k, v, mask)
    dout = rng.standard_normal(out.shape)
    dq, dk, dv_ = scaled_dot_product_attention_backward(dout, cache)
    f = lambda: scaled_dot_product_attention(q, k, v, mask)[0]  # noqa: E731
    assert rel_error(dq, numerical_gradient(lambda _: f(), q, dout)) < 1e-7
    assert rel_error(dk, numerical_gradient(lambda _: f(), k, dout)) < 1e-7
    assert rel_error(dv_, numerical_gradient(lambda _: f(), v, dout)) < 1e-7


def test_luong_dot_gradients_use_scale_one():
    rng = np.random.default_rng(7)
    q, k, v, *_ = make_inputs(rng, 2, 3, 4, 3, 2, 1)
    out, _, cache = dot_product_attention(q, k, v)
    dout = rng.standard_normal(out.shape)
    dq, dk, _ = scaled_dot_product_attention_backward(dout, cache)
    f = lambda _: dot_product_attention(q, k, v)[0]  # noqa: E731
    assert rel_error(dq, numerical_gradient(f, q, dout)) < 1e-7
    assert rel_error(dk, numerical_gradient(f, k, dout)) < 1e-7


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", [None, "padding", "full"])
def test_additive_gradients(shape, kind):
    rng = np.random.default_rng(8)
    N, Tq, Tk, d, dv, A = shape
    args = make_inputs(rng, *shape)
    mask = random_mask(rng, N, Tq, Tk, kind)
    out, _, cache = additive_attention(*args, mask)
    dout = rng.standard_normal(out.shape)
    grads = additive_attention_backward(dout, cache)
    assert len(grads) == 6
    f = lambda _: additive_attention(*args, mask)[0]  # noqa: E731
    for name, x, g in zip(["q", "k", "v", "Wq", "Wk", "w"], args, grads):
        assert g.shape == x.shape, name
        err = rel_error(g, numerical_gradient(f, x, dout))
        assert err < 1e-7, f"{name}: relative error {err:.2e}"


# -- properties -----------------------------------------------------------------------

@st.composite
def attention_case(draw):
    N, Tq, Tk, d, dv, A = (draw(st.integers(1, 4)) for _ in range(6))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(MASK_KINDS))
    additive = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1.0, 3.0]))  # also large inputs
    return (N, Tq, Tk, d, dv, A), seed, kind, additive, dtype, scale


def run(shape, seed, kind, additive, dtype, scale):
    rng = np.random.default_rng(seed)
    N, Tq, Tk, d, dv, A = shape
    q, k, v, Wq, Wk, w = make_inputs(rng, *shape, dtype=dtype)
    q = q * dtype(scale)
    mask = random_mask(rng, N, Tq, Tk, kind)
    if additive:
        out, weights, cache = additive_attention(q, k, v, Wq, Wk, w, mask)
        grads = additive_attention_backward(np.ones_like(out), cache)
    else:
        out, weights, cache = scaled_dot_product_attention(q, k, v, mask)
        grads = scaled_dot_product_attention_backward(np.ones_like(out), cache)
    return mask, out, weights, grads


@settings(max_examples=60, deadline=None)
@given(attention_case())
def test_weights_are_distributions_with_exact_zeros(case):
    shape, seed, kind, additive, dtype, scale = case
    N, Tq, Tk = shape[:3]
    mask, out, weights, _ = run(shape, seed, kind, additive, dtype, scale)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=tol)
    assert np.all(weights >= 0)
    if mask is not None:
        full = np.broadcast_to(mask, (N, Tq, Tk))
        assert np.all(weights[~full] == 0.0)


@settings(max_examples=40, deadline=None)
@given(attention_case())
def test_dtype_is_kept(case):
    shape, seed, kind, additive, dtype, scale = case
    _, out, weights, grads = run(shape, seed, kind, additive, dtype, scale)
    assert out.dtype == dtype and weights.dtype == dtype
    assert all(g.dtype == dtype for g in grads)


def test_masked_softmax_alone():
    scores = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    mask = np.array([[True, False, True], [False, True, False]])
    w = masked_softmax(scores, mask)
    np.testing.assert_allclose(w[0, 0], [1 / (1 + math.e**2), 0, math.e**2 / (1 + math.e**2)])
    np.testing.assert_array_equal(w[0, 1], [0.0, 1.0, 0.0])


# -- errors -----------------------------------------------------------------------------

def _base():
    rng = np.random.default_rng(9)
    return make_inputs(rng, 2, 3, 4, 5, 2, 3)


@pytest.mark.parametrize("which, bad_shape, name", [
    ("q", (2, 3), "q"),
    ("k", (2, 4, 6), "k"),          # d differs from q's
    ("k", (3, 4, 5), "k"),          # N differs
    ("v", (2, 5, 2), "v"),          # Tk differs from k's
])
def test_dot_product_bad_shapes_name_argument(which, bad_shape, name):
    q, k, v, *_ = _base()
    args = {"q": q, "k": k, "v": v}
    args[which] = np.zeros(bad_shape)
    with pytest.raises(ValueError, match=rf"^{name} has shape"):
        scaled_dot_product_attention(**args)


@pytest.mark.parametrize("which, bad_shape", [
    ("Wq", (4, 3)), ("Wk", (5, 2)), ("w", (4,)), ("w", (3, 1)), ("v", (2, 4)),
])
def test_additive_bad_shapes_name_argument(which, bad_shape):
    q, k, v, Wq, Wk, w = _base()
    args = dict(q=q, k=k, v=v, Wq=Wq, Wk=Wk, w=w)
    args[which] = np.zeros(bad_shape)
    with pytest.raises(ValueError, match=rf"^{which} has shape"):
        additive_attention(**args)


def test_mixed_dtypes_and_integer_inputs_are_rejected():
    q, k, v, *_ = _base()
    with pytest.raises(ValueError, match="^k has dtype float32"):
        scaled_dot_product_attention(q, k.astype(np.float32), v)
    with pytest.raises(ValueError, match="^q has dtype int"):
        scaled_dot_product_attention(q.astype(int), k, v)


def test_bad_masks():
    q, k, v, Wq, Wk, w = _base()
    with pytest.raises(ValueError, match="^mask has dtype"):
        scaled_dot_product_attention(q, k, v, np.ones((2, 1, 4), dtype=int))
    with pytest.raises(ValueError, match="^mask has shape"):
        scaled_dot_product_attention(q, k, v, np.ones((2, 4), dtype=bool))
    empty = np.ones((2, 3, 4), dtype=bool)
    empty[1, 2] = False
    with pytest.raises(ValueError, match="no key for query 2 of batch element 1"):
        scaled_dot_product_attention(q, k, v, empty)
    with pytest.raises(ValueError, match="no key for query 2 of batch element 1"):
        additive_attention(q, k, v, Wq, Wk, w, empty)


def test_backward_rejects_foreign_cache_and_bad_dout():
    q, k, v, Wq, Wk, w = _base()
    out, _, cache_dot = scaled_dot_product_attention(q, k, v)
    _, _, cache_add = additive_attention(q, k, v, Wq, Wk, w)
    with pytest.raises(ValueError, match="not the cache returned by scaled_dot_product_attention"):
        scaled_dot_product_attention_backward(out, cache_add)
    with pytest.raises(ValueError, match="not the cache returned by additive_attention"):
        additive_attention_backward(out, cache_dot)
    with pytest.raises(ValueError, match="^dout has shape"):
        scaled_dot_product_attention_backward(out[:, :2], cache_dot)
    with pytest.raises(ValueError, match="^dout has dtype float32"):
        additive_attention_backward(out.astype(np.float32), cache_add)
