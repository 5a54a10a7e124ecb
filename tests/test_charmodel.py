"""Tests for rnnbook.models.charmodel: the character-level language model helpers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.models.charmodel import (
    PARAM_NAMES,
    CarriedStateStep,
    char_rnn_loss,
    char_rnn_loss_and_grads,
    evaluate_char_rnn,
    init_char_rnn,
    one_hot,
    sample,
    tbptt_stream,
)
from rnnbook.datasets import tbptt_batches
from rnnbook.train.gradcheck import numerical_gradient, rel_error


def _random_params(V, H, rng, dtype=np.float64):
    """Parameters with every entry random (biases too), so no gradient is trivially 0."""
    return {
        "Wx": rng.standard_normal((V, H)).astype(dtype),
        "Wh": (0.5 * rng.standard_normal((H, H))).astype(dtype),
        "b": (0.3 * rng.standard_normal(H)).astype(dtype),
        "Wy": rng.standard_normal((H, V)).astype(dtype),
        "by": (0.3 * rng.standard_normal(V)).astype(dtype),
    }


def _reference_loss(params, x, y, h0):
    """The model written out step by step with plain numpy, as an independent check."""
    N, T = x.shape
    h = h0.copy()
    total = 0.0
    for t in range(T):
        h = np.tanh(params["Wx"][x[:, t]] + h @ params["Wh"] + params["b"])
        o = h @ params["Wy"] + params["by"]
        o = o - o.max(axis=1, keepdims=True)
        logp = o - np.log(np.exp(o).sum(axis=1, keepdims=True))
        total -= logp[np.arange(N), y[:, t]].sum()
    return total / (N * T), h


# -- gradients ------------------------------------------------------------------

def _check_gradients(N, T, V, H, seed, with_h0):
    rng = np.random.default_rng(seed)
    params = _random_params(V, H, rng)
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, V, size=(N, T))
    h0 = rng.standard_normal((N, H)) if with_h0 else None
    loss, grads, h_last = char_rnn_loss_and_grads(params, x, y, h0)
    assert set(grads) == set(PARAM_NAMES)
    for name in PARAM_NAMES:
        assert grads[name].shape == params[name].shape
        num = numerical_gradient(lambda _: char_rnn_loss(params, x, y, h0)[0], params[name])
        assert rel_error(grads[name], num) < 1e-7, name
    ref_loss, ref_h = _reference_loss(params, x, y, np.zeros((N, H)) if h0 is None else h0)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(h_last, ref_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N,T,V,H", [(1, 1, 2, 1), (1, 4, 3, 1), (2, 1, 5, 3), (3, 6, 4, 5)])
def test_gradients_match_finite_differences(N, T, V, H):
    _check_gradients(N, T, V, H, seed=N * 100 + T * 10 + H, with_h0=True)
    _check_gradients(N, T, V, H, seed=1 + N * 100 + T * 10 + H, with_h0=False)


@settings(max_examples=12, deadline=None)
@given(N=st.integers(1, 3), T=st.integers(1, 5), V=st.integers(2, 5), H=st.integers(1, 4),
       seed=st.integers(0, 10_000), with_h0=st.booleans())
def test_gradients_match_finite_differences_random_shapes(N, T, V, H, seed, with_h0):
    _check_gradients(N, T, V, H, seed, with_h0)


def test_float32_keeps_dtype():
    rng = np.random.default_rng(3)
    params = _random_params(6, 4, rng, dtype=np.float32)
    x = rng.integers(0, 6, size=(2, 3))
    loss, grads, h = char_rnn_loss_and_grads(params, x, x)
    assert np.isfinite(loss)
    assert h.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    loss64, grads64, _ = char_rnn_loss_and_grads(params64, x, x)
    assert loss == pytest.approx(loss64, rel=1e-5)
    assert rel_error(grads["Wh"], grads64["Wh"]) < 1e-5


# -- carrying the state -----------------------------------------------------------

def test_carried_state_reproduces_the_long_forward_pass():
    rng = np.random.default_rng(4)
    params = _random_params(5, 3, rng)
    x = rng.integers(0, 5, size=(2, 8))
    y = rng.integers(0, 5, size=(2, 8))
    whole, h_whole = char_rnn_loss(params, x, y)
    first, h = char_rnn_loss(params, x[:, :3], y[:, :3])
    second, h = char_rnn_loss(params, x[:, 3:], y[:, 3:], h)
    assert whole == pytest.approx((3 * first + 5 * second) / 8, rel=1e-12)
    np.testing.assert_allclose(h, h_whole, rtol=1e-13)


def test_truncated_gradient_differs_only_in_recurrent_parameters():
    # With the state carried, a chunked pass has the same forward values, so
    # the output layer's gradient is unchanged; the recurrent ones lose the
    # paths that cross the chunk boundary.
    rng = np.random.default_rng(5)
    params = _random_params(4, 3, rng)
    x = rng.integers(0, 4, size=(2, 6))
    y = rng.integers(0, 4, size=(2, 6))
    _, full, _ = char_rnn_loss_and_grads(params, x, y)
    _, g1, h = char_rnn_loss_and_grads(params, x[:, :3], y[:, :3])
    _, g2, _ = char_rnn_loss_and_grads(params, x[:, 3:], y[:, 3:], h)
    truncated = {k: (g1[k] + g2[k]) / 2 for k in full}
    for name in ("Wy", "by"):
        np.testing.assert_allclose(truncated[name], full[name], rtol=1e-12, atol=1e-15)
    for name in ("Wx", "Wh", "b"):
        assert rel_error(truncated[name], full[name]) > 1e-6


def test_tbptt_stream_and_carried_state_step():
    rng = np.random.default_rng(6)
    encoded = np.arange(40) % 7
    next_chunk = tbptt_stream(encoded, batch_size=2, seq_len=5, rng=rng)
    firsts, chunks = [], []
    for _ in range(12):
        x, y, first = next_chunk()
        assert x.shape == y.shape == (2, 5)
        np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
        firsts.append(first)
        chunks.append(x)
    assert firsts[0] is True
    assert sum(firsts) >= 2, "a new pass over the text must start with first=True"
    # Within a pass, row n of a chunk continues row n of the previous chunk.
    for prev, cur, first in zip(chunks, chunks[1:], firsts[1:]):
        if not first:
            np.testing.assert_array_equal((prev[:, -1] + 1) % 7, cur[:, 0])

    params = _random_params(7, 3, rng)
    step = CarriedStateStep()
    x, y, _ = next_chunk()
    loss, _ = step(params, (x, y, True))
    assert loss == pytest.approx(char_rnn_loss(params, x, y)[0])
    kept = step.h.copy()
    loss2, _ = step(params, (x, y, False))
    assert loss2 == pytest.approx(char_rnn_loss(params, x, y, kept)[0])
    loss3, _ = step(params, (x, y, True))
    assert loss3 == pytest.approx(loss)


def test_tbptt_stream_rejects_bad_arguments_at_once():
    with pytest.raises(ValueError, match="too short"):
        tbptt_stream(np.arange(10), batch_size=4, seq_len=5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        tbptt_stream(np.arange(100), batch_size=4, seq_len=5, rng=0)


def test_evaluate_matches_a_manual_pass():
    rng = np.random.default_rng(7)
    params = _random_params(6, 4, rng)
    encoded = rng.integers(0, 6, size=203)
    h, losses = None, []
    for x, y in tbptt_batches(encoded, 3, 10):
        loss, h = char_rnn_loss(params, x, y, h)
        losses.append(loss)
    assert evaluate_char_rnn(params, encoded, 3, 10) == pytest.approx(np.mean(losses), rel=1e-12)


# -- sampling -----------------------------------------------------------------------

def test_sample_is_reproducible_and_in_range():
    params = init_char_rnn(9, 6, np.random.default_rng(8))
    a = sample(params, 3, 50, 1.0, np.random.default_rng(1))
    b = sample(params, 3, 50, 1.0, np.random.default_rng(1))
    assert a.shape == (50,) and a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < 9
    assert sample(params, 3, 0, 1.0, np.random.default_rng(1)).shape == (0,)


def test_low_temperature_is_greedy():
    rng = np.random.default_rng(9)
    params = _random_params(5, 4, rng)
    out = sample(params, 2, 20, 1e-6, np.random.default_rng(0))
    h = np.zeros(4)
    idx = 2
    for i in range(20):
        h = np.tanh(params["Wx"][idx] + h @ params["Wh"] + params["b"])
        idx = int(np.argmax(h @ params["Wy"] + params["by"]))
        assert out[i] == idx


def test_sample_frequencies_follow_the_tempered_softmax():
    # With zero input and recurrent weights the state stays 0, so every
    # character is drawn from softmax(by / temperature).
    V, H = 4, 2
    params = {"Wx": np.zeros((V, H)), "Wh": np.zeros((H, H)), "b": np.zeros(H),
              "Wy": np.zeros((H, V)), "by": np.array([0.0, 1.0, 2.0, -1.0])}
    n = 20_000
    for temperature in (0.5, 1.0, 2.0):
        out = sample(params, 0, n, temperature, np.random.default_rng(10))
        p = np.exp(params["by"] / temperature)
        p /= p.sum()
        freq = np.bincount(out, minlength=V) / n
        # four standard errors of a binomial proportion
        assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_seed_sequence_primes_the_state():
    rng = np.random.default_rng(11)
    params = _random_params(5, 3, rng)
    primed = sample(params, [1, 4, 2], 10, 0.8, np.random.default_rng(2))
    h = np.zeros(3)
    for idx in (1, 4):
        h = np.tanh(params["Wx"][idx] + h @ params["Wh"] + params["b"])
    manual = sample(params, 2, 10, 0.8, np.random.default_rng(2), h0=h)
    np.testing.assert_array_equal(primed, manual)


# -- helpers and errors -------------------------------------------------------------

def test_init_and_one_hot():
    params = init_char_rnn(7, 5, np.random.default_rng(12), dtype=np.float32)
    shapes = {"Wx": (7, 5), "Wh": (5, 5), "b": (5,), "Wy": (5, 7), "by": (7,)}
    assert {k: v.shape for k, v in params.items()} == shapes
    assert all(v.dtype == np.float32 for v in params.values())
    oh = one_hot(np.array([[0, 2], [1, 1]]), 3)
    np.testing.assert_array_equal(oh, np.eye(3)[[[0, 2], [1, 1]]])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.0]), 3)


def test_errors_name_the_argument():
    rng = np.random.default_rng(13)
    params = _random_params(4, 3, rng)
    x = rng.integers(0, 4, size=(2, 3))
    with pytest.raises(ValueError, match=r"params has no entry for \['by'\]"):
        char_rnn_loss({k: v for k, v in params.items() if k != "by"}, x, x)
    bad = dict(params, Wy=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"params\['Wy'\] has shape \(3, 5\)"):
        char_rnn_loss(bad, x, x)
    with pytest.raises(ValueError, match="x contains 4"):
        char_rnn_loss(params, x + 1, x)
    with pytest.raises(ValueError, match="^y has shape"):
        char_rnn_loss(params, x, x[:, :2])
    with pytest.raises(ValueError, match="^h0 has shape"):
        char_rnn_loss(params, x, x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="temperature"):
        sample(params, 0, 5, 0.0, rng)
    with pytest.raises(ValueError, match="Generator"):
        sample(params, 0, 5, 1.0, 0)
    with pytest.raises(ValueError, match="seed_idx contains 9"):
        sample(params, 9, 5, 1.0, rng)
    with pytest.raises(ValueError, match="n is -1"):
        sample(params, 0, -1, 1.0, rng)
