"""Tests for rnnbook.nn.sequence: masked, bidirectional and stacked recurrent layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.nn import gru, lstm, rnn
from rnnbook.nn import get_cell
from rnnbook.nn import sequence as models
from rnnbook.train.gradcheck import rel_error

from helpers import fd_gradient

CELLS = ["rnn", "lstm", "gru"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def make_params(cell, D, H, rng, scale=0.6, dtype=np.float64):
    k = GATES[cell]
    p = {"Wx": rng.normal(0, scale, (D, k * H)), "Wh": rng.normal(0, scale, (H, k * H))}
    for b in get_cell(cell).param_names[2:]:
        p[b] = rng.normal(0, scale, k * H)
    return {name: v.astype(dtype) for name, v in p.items()}


def core_forward(cell, x, h0, p):
    """The plain cell over a whole (unpadded) sequence, straight from the core modules."""
    if cell == "rnn":
        return rnn.rnn_forward(x, h0, p["Wx"], p["Wh"], p["b"])
    if cell == "lstm":
        return lstm.lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"])
    return gru.gru_forward(x, h0, p["Wx"], p["Wh"], p["bx"], p["bh"])


def random_lengths(rng, N, T, minimum=0):
    lengths = rng.integers(minimum, T + 1, size=N)
    lengths[0] = T  # at least one full-length row, so the last step is exercised
    return lengths


def check(analytic, f, x, tol=1e-7):
    numeric = fd_gradient(f, x)
    if np.max(np.abs(numeric), initial=0) < 1e-10:
        # A gradient that is exactly zero (Wh when h0 = 0 and T = 1, say) has
        # no scale to be relative to; the difference quotient is round-off.
        np.testing.assert_array_less(np.abs(analytic), 1e-10)
        return
    err = rel_error(analytic, numeric)
    assert err < tol, err


# -- gradient checks ----------------------------------------------------------------

SHAPES = [(1, 1, 1, 1), (3, 4, 2, 3), (2, 5, 3, 1), (4, 3, 1, 2)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_recurrent_gradients_with_lengths(cell, N, T, D, H):
    rng = np.random.default_rng(N * 100 + T * 10 + D + H)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    p = make_params(cell, D, H, rng)
    lengths = random_lengths(rng, N, T)
    if N > 1:
        lengths[-1] = 0  # an empty sequence: its final state is h0
    c0 = rng.standard_normal((N, H)) if cell == "lstm" else None
    dh = rng.standard_normal((N, T, H))
    dl = rng.standard_normal((N, H))
    dcl = rng.standard_normal((N, H))

    def objective():
        h, cache = models.recurrent_forward(cell, x, h0, p, lengths, c0=c0)
        value = np.sum(h * dh) + np.sum(cache.h_last * dl)
        if cell == "lstm":
            value += np.sum(cache.c_last * dcl)
        return value

    h, cache = models.recurrent_forward(cell, x, h0, p, lengths, c0=c0)
    if cell == "lstm":
        dx, dh0, grads, dc0 = models.recurrent_backward(dh, cache, dh_last=dl, dc_last=dcl)
        check(dc0, objective, c0)
    else:
        dx, dh0, grads, dc0 = models.recurrent_backward(dh, cache, dh_last=dl)
        assert dc0 is None
    check(dx, objective, x)
    check(dh0, objective, h0)
    assert set(grads) == set(p)
    for name in p:
        check(grads[name], objective, p[name])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_bidirectional_gradients_with_lengths(cell, N, T, D, H):
    rng = np.random.default_rng(7 + N + T + D + H)
    x = rng.standard_normal((N, T, D))
    pf, pb = make_params(cell, D, H, rng), make_params(cell, D, H, rng)
    lengths = random_lengths(rng, N, T)
    dh = rng.standard_normal((N, T, 2 * H))
    dl = rng.standard_normal((N, 2 * H))

    def objective():
        h, cache = models.bidirectional_forward(cell, x, pf, pb, lengths)
        return np.sum(h * dh) + np.sum(cache.h_last * dl)

    _, cache = models.bidirectional_forward(cell, x, pf, pb, lengths)
    dx, gf, gb = models.bidirectional_backward(dh, cache, dh_last=dl)
    check(dx, objective, x)
    for name in pf:
        check(gf[name], objective, pf[name])
        check(gb[name], objective, pb[name])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stacked_gradients_with_lengths(cell, bidirectional):
    rng = np.random.default_rng(11)
    N, T, D, H = 3, 4, 2, 2
    x = rng.standard_normal((N, T, D))
    width = 2 * H if bidirectional else H
    if bidirectional:
        layers = [tuple(make_params(cell, d_in, H, rng, scale=1.0) for _ in range(2))
                  for d_in in (D, width)]
        arrays = [a for pair in layers for d in pair for a in d.values()]
    else:
        layers = [make_params(cell, d_in, H, rng, scale=1.0) for d_in in (D, H)]
        arrays = [a for d in layers for a in d.values()]
    lengths = np.array([4, 1, 3])
    dh = rng.standard_normal((N, T, width))
    dl = rng.standard_normal((N, width))

    def objective():
        h, cache = models.stacked_forward(cell, x, layers, lengths, bidirectional)
        return np.sum(h * dh) + np.sum(cache.h_last * dl)

    _, cache = models.stacked_forward(cell, x, layers, lengths, bidirectional)
    dx, grads = models.stacked_backward(dh, cache, dh_last=dl)
    check(dx, objective, x)
    if bidirectional:
        flat = [g for pair in grads for d in pair for g in d.values()]
    else:
        flat = [g for d in grads for g in d.values()]
    assert len(flat) == len(arrays)
    for g, a in zip(flat, arrays):
        check(g, objective, a)


# -- padding never leaks --------------------------------------------------------------

dims = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3))


def _with_other_padding(x, lengths, rng, special=False):
    y = x.copy()
    pad = ~models.length_mask(lengths, x.shape[1])
    fill = rng.standard_normal(x.shape) * 100.0
    if special:  # even inf and nan in the padding must not reach real steps
        fill.flat[::2] = np.inf
        fill.flat[1::3] = np.nan
    y[pad] = fill[pad]
    return y


@given(dims=dims, cell=st.sampled_from(CELLS), seed=st.integers(0, 2**32 - 1),
       special=st.booleans())
@settings(max_examples=30, deadline=None)
def test_padding_content_changes_nothing(dims, cell, seed, special):
    N, T, D, H = dims
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D))
    lengths = rng.integers(0, T + 1, size=N)
    x2 = _with_other_padding(x, lengths, rng, special)
    h0 = rng.standard_normal((N, H))
    p = make_params(cell, D, H, rng)
    dh = rng.standard_normal((N, T, H))
    dl = rng.standard_normal((N, H))
    mask = models.length_mask(lengths, T)

    results = []
    for inp in (x, x2):
        h, cache = models.recurrent_forward(cell, inp, h0, p, lengths)
        # upstream gradients at padded steps are ignored, so vary them as well
        dh_in = dh if inp is x else np.where(mask[:, :, None], dh, 7.0)
        dx, dh0, grads, _ = models.recurrent_backward(dh_in, cache, dh_last=dl)
        results.append((h, cache.h_last, dx, dh0, grads))
    (h, last, dx, dh0, g), (h2, last2, dx2, dh02, g2) = results
    np.testing.assert_allclose(h2, h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(last2, last, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx2, dx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dh02, dh0, rtol=0, atol=1e-12)
    for name in g:
        np.testing.assert_allclose(g2[name], g[name], rtol=0, atol=1e-12)
    # padded outputs and input gradients are exactly zero
    assert np.all(h[~mask] == 0) and np.all(dx[~mask] == 0)


@given(dims=dims, cell=st.sampled_from(CELLS), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_padding_changes_nothing_bidirectional_and_stacked(dims, cell, seed):
    N, T, D, H = dims
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D))
    lengths = rng.integers(0, T + 1, size=N)
    x2 = _with_other_padding(x, lengths, rng, special=True)
    layers = [(make_params(cell, D, H, rng), make_params(cell, D, H, rng)),
              (make_params(cell, 2 * H, H, rng), make_params(cell, 2 * H, H, rng))]
    dh = rng.standard_normal((N, T, 2 * H))
    out = []
    for inp in (x, x2):
        h, cache = models.stacked_forward(cell, inp, layers, lengths, bidirectional=True)
        dx, grads = models.stacked_backward(dh, cache, dh_last=dh[:, 0])
        out.append((h, cache.h_last, dx, grads))
    (h, last, dx, g), (h2, last2, dx2, g2) = out
    for a, b in ((h, h2), (last, last2), (dx, dx2)):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    for layer, layer2 in zip(g, g2):
        for d, d2 in zip(layer, layer2):
            for name in d:
                np.testing.assert_allclose(d2[name], d[name], rtol=0, atol=1e-12)


# -- agreement with the plain cells -------------------------------------------------

@given(dims=dims, cell=st.sampled_from(CELLS), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_bidirectional_halves_are_cells_on_each_direction(dims, cell, seed):
    """The backward half equals the plain cell run on each sequence reversed within its length."""
    N, T, D, H = dims
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D))
    lengths = rng.integers(1, T + 1, size=N)
    pf, pb = make_params(cell, D, H, rng), make_params(cell, D, H, rng)
    h, cache = models.bidirectional_forward(cell, x, pf, pb, lengths)
    assert h.shape == (N, T, 2 * H)
    zero = np.zeros((1, H))
    for n, L in enumerate(lengths):
        seq = x[n : n + 1, :L]
        fwd, _ = core_forward(cell, seq, zero, pf)
        bwd, _ = core_forward(cell, seq[:, ::-1], zero, pb)
        np.testing.assert_allclose(h[n, :L, :H], fwd[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(h[n, :L, H:], bwd[0, ::-1], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(h[n, L:], 0)
        # final states: forward after step L-1, backward after reading back to step 0
        np.testing.assert_allclose(cache.h_last[n, :H], fwd[0, -1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(cache.h_last[n, H:], bwd[0, -1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_final_states_are_taken_at_each_length(cell):
    rng = np.random.default_rng(3)
    N, T, D, H = 4, 5, 2, 3
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    p = make_params(cell, D, H, rng)
    lengths = np.array([5, 2, 0, 1])
    h, cache = models.recurrent_forward(cell, x, h0, p, lengths)
    for n, L in enumerate(lengths):
        if L == 0:
            np.testing.assert_array_equal(cache.h_last[n], h0[n])
            continue
        ref, ref_cache = core_forward(cell, x[n : n + 1, :L], h0[n : n + 1], p)
        np.testing.assert_allclose(h[n, :L], ref[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(cache.h_last[n], ref[0, -1], rtol=0, atol=1e-12)
        if cell == "lstm":
            np.testing.assert_allclose(cache.c_last[n], ref_cache.c[0, -1], rtol=0, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_array_equal(cache.c_last[2], 0)  # c0 = zeros by default
    else:
        assert cache.c_last is None


@pytest.mark.parametrize("cell", CELLS)
def test_no_lengths_means_full_length_and_matches_core(cell):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3))
    h0 = rng.standard_normal((2, 2))
    p = make_params(cell, 3, 2, rng)
    h, cache = models.recurrent_forward(cell, x, h0, p)
    ref, _ = core_forward(cell, x, h0, p)
    # The wrappers run the fast kernels; the core functions are the readable
    # loops, equal up to the rounding of a different order of operations.
    np.testing.assert_allclose(h, ref, rtol=1e-13, atol=1e-14)
    h_full, _ = models.recurrent_forward(cell, x, h0, p, np.array([4, 4]))
    np.testing.assert_array_equal(h, h_full)
    np.testing.assert_allclose(cache.h_last, ref[:, -1], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_keeps_dtype(cell):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    pf = make_params(cell, 2, 3, rng, dtype=np.float32)
    pb = make_params(cell, 2, 3, rng, dtype=np.float32)
    h, cache = models.bidirectional_forward(cell, x, pf, pb, np.array([3, 1]))
    assert h.dtype == np.float32 and cache.h_last.dtype == np.float32
    dx, gf, gb = models.bidirectional_backward(np.ones_like(h), cache)
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in (*gf.values(), *gb.values()))


def test_reverse_within_lengths():
    x = np.arange(12).reshape(2, 6)
    out = models.reverse_within_lengths(x, np.array([4, 0]))
    np.testing.assert_array_equal(out, [[3, 2, 1, 0, 4, 5], [6, 7, 8, 9, 10, 11]])
    rng = np.random.default_rng(0)
    y = rng.standard_normal((5, 7, 2))
    lengths = rng.integers(0, 8, size=5)
    np.testing.assert_array_equal(
        models.reverse_within_lengths(models.reverse_within_lengths(y, lengths), lengths), y)


# -- argument checking ------------------------------------------------------------------

def test_errors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 2))
    p = make_params("lstm", 2, 4, rng)
    with pytest.raises(ValueError, match="cell is 'elman'"):
        models.recurrent_forward("elman", x, None, p)
    with pytest.raises(ValueError, match=r"needs \['Wx', 'Wh', 'bx', 'bh'\]"):
        models.recurrent_forward("gru", x, None, p)
    with pytest.raises(ValueError, match="lengths must lie in"):
        models.recurrent_forward("lstm", x, None, p, np.array([4, 1]))
    with pytest.raises(ValueError, match="lengths has dtype"):
        models.recurrent_forward("lstm", x, None, p, np.array([2.0, 1.0]))
    with pytest.raises(ValueError, match=r"params\['Wx'\] has shape"):
        models.recurrent_forward("lstm", x[:, :, :1], None, p)
    with pytest.raises(ValueError, match="h0 has shape"):
        models.recurrent_forward("lstm", x, np.zeros((2, 3)), p)
    with pytest.raises(ValueError, match="c0 is only for"):
        models.recurrent_forward("rnn", x, None, make_params("rnn", 2, 4, rng),
                                 c0=np.zeros((2, 4)))
    h, cache = models.recurrent_forward("rnn", x, None, make_params("rnn", 2, 4, rng))
    with pytest.raises(ValueError, match="dh has shape"):
        models.recurrent_backward(h[:, :2], cache)
    with pytest.raises(ValueError, match="dh has dtype"):
        models.recurrent_backward(h.astype(np.float32), cache)
    with pytest.raises(ValueError, match="dc_last is only for a cell with a cell state"):
        models.recurrent_backward(h, cache, dc_last=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="not the cache returned by recurrent_forward"):
        models.recurrent_backward(h, (cache,))
    _, bcache = models.bidirectional_forward("lstm", x, p, p)
    with pytest.raises(ValueError, match="not the cache returned by recurrent_forward"):
        models.recurrent_backward(h, bcache)
    with pytest.raises(ValueError, match="must be a pair"):
        models.stacked_forward("lstm", x, [p], bidirectional=True)
    with pytest.raises(ValueError, match="layer 1"):
        models.stacked_forward("lstm", x, [p, p])  # layer 1 needs Wx with H = 4 rows
    with pytest.raises(ValueError, match="non-empty list"):
        models.stacked_forward("lstm", x, [])
