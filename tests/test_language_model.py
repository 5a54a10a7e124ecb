"""Tests for rnnbook.models.language_model: one language model for any cell.

Every parameter's gradient is checked against finite differences for the
RNN, the LSTM, the GRU and Cho et al.'s GRU, at the character level
(one-hot inputs) and at the word level (an embedding table), with and
without a carried state and with padding masks.
"""

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.book import count_params, first_step_below, gradient_norms_by_lag, markdown_table
from rnnbook.datasets import WordVocab, encode_sentences, tbptt_batches
from rnnbook.models import (CarriedStateStep, CharModelRun, adding_loss_and_grads,
                            evaluate_lm, init_adding_model, init_lm, lm_forward, lm_loss,
                            lm_loss_and_grads, lm_step, next_token_probs, sample_lm,
                            tbptt_stream, train_char_model)
from rnnbook.nn import get_cell, one_hot
from rnnbook.nn.activations import softmax
from rnnbook.nn.gru import gru_forward, gru_original_forward
from rnnbook.nn.init import init_gru, init_lstm, init_rnn
from rnnbook.nn.lstm import lstm_step_forward
from rnnbook.train import Adam, History, train
from rnnbook.train.gradcheck import numerical_gradient, rel_error

CELLS = ("rnn", "lstm", "gru", "gru-original")


def _random_params(cell, V, H, rng, D=None, dtype=np.float64):
    """A model whose every entry is random (biases too), so no gradient is trivially 0."""
    params = init_lm(cell, V, H, rng, D=D, dtype=dtype)
    for name, value in params.items():
        scale = 0.5 if name != "Wh" else 0.4
        params[name] = (scale * rng.standard_normal(value.shape)).astype(dtype)
    return params


def _random_state(cell, N, H, rng):
    parts = len(get_cell(cell).state_names)
    return tuple(0.5 * rng.standard_normal((N, H)) for _ in range(parts))


def _reference_rnn_loss(params, x, y, h0):
    """The RNN character model written out step by step, as an independent check."""
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


# -- gradients ---------------------------------------------------------------------

def _check_gradients(cell, N, T, V, H, seed, with_state, D=None, with_mask=False,
                     strict=True):
    rng = np.random.default_rng(seed)
    params = _random_params(cell, V, H, rng, D=D)
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, V, size=(N, T))
    state = _random_state(cell, N, H, rng) if with_state else None
    mask = None
    if with_mask:
        mask = np.ones((N, T), dtype=bool)
        mask[0, T // 2 + 1:] = False
    loss, grads, _ = lm_loss_and_grads(cell, params, x, y, state, mask=mask)
    assert set(grads) == set(params)
    assert loss == pytest.approx(lm_loss(cell, params, x, y, state, mask=mask)[0], rel=1e-14)
    for name in params:
        assert grads[name].shape == params[name].shape
        num = numerical_gradient(
            lambda _: lm_loss(cell, params, x, y, state, mask=mask)[0], params[name])
        err = rel_error(grads[name], num)
        if strict:
            assert err < 1e-7, (cell, name, err)
        else:
            # The centered difference of a loss of order 1 carries round-off
            # of a few eps / h ~ 2e-10; on an array whose whole gradient is
            # that small, a relative error cannot resolve anything finer.
            assert err < 1e-7 or np.abs(grads[name] - num).max() < 5e-10, (cell, name, err)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("N,T,V,H", [(1, 1, 2, 1), (1, 3, 3, 1), (2, 1, 4, 2), (3, 4, 5, 3)])
def test_char_level_gradients_match_finite_differences(cell, N, T, V, H):
    _check_gradients(cell, N, T, V, H, seed=N * 1000 + T * 100 + V * 10 + H, with_state=True)
    _check_gradients(cell, N, T, V, H, seed=7 + N * 1000 + T * 100 + H, with_state=False)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("N,T,V,D,H", [(1, 1, 3, 2, 1), (3, 5, 7, 3, 4)])
def test_word_level_gradients_match_finite_differences(cell, N, T, V, D, H):
    seed = N * 1000 + T * 100 + V * 10 + H
    _check_gradients(cell, N, T, V, H, seed, with_state=False, D=D, with_mask=True,
                     strict=False)
    _check_gradients(cell, N, T, V, H, seed + 1, with_state=True, D=D, strict=False)


@settings(max_examples=8, deadline=None)
@given(cell=st.sampled_from(CELLS), N=st.integers(1, 3), T=st.integers(1, 4),
       V=st.integers(2, 5), H=st.integers(1, 3), seed=st.integers(0, 10_000),
       with_state=st.booleans(), word=st.booleans())
def test_gradients_random_shapes(cell, N, T, V, H, seed, with_state, word):
    _check_gradients(cell, N, T, V, H, seed, with_state, D=2 if word else None,
                     strict=False)


def test_rnn_matches_a_plain_numpy_model():
    for seed, with_h0 in ((1, True), (2, False)):
        rng = np.random.default_rng(seed)
        N, T, V, H = 3, 6, 4, 5
        params = _random_params("rnn", V, H, rng)
        x = rng.integers(0, V, size=(N, T))
        y = rng.integers(0, V, size=(N, T))
        h0 = rng.standard_normal((N, H)) if with_h0 else np.zeros((N, H))
        loss, _, (h_last,) = lm_loss_and_grads("rnn", params, x, y, (h0,))
        ref_loss, ref_h = _reference_rnn_loss(params, x, y, h0)
        assert loss == pytest.approx(ref_loss, rel=1e-12)
        np.testing.assert_allclose(h_last, ref_h, rtol=1e-12, atol=1e-12)


def test_lstm_state_is_hidden_and_cell():
    rng = np.random.default_rng(5)
    V, H, N, T = 4, 3, 2, 6
    params = _random_params("lstm", V, H, rng)
    x = rng.integers(0, V, size=(N, T))
    h, c = _random_state("lstm", N, H, rng)
    _, (h_last, c_last) = lm_loss("lstm", params, x, x, (h, c))
    for t in range(T):
        h, c, _ = lstm_step_forward(np.eye(V)[x[:, t]], h, c, params["Wx"], params["Wh"],
                                    params["b"])
    np.testing.assert_allclose(h_last, h, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_last, c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("D", [None, 3])
def test_carrying_the_state_equals_one_long_chunk(cell, D):
    rng = np.random.default_rng(6)
    V, H, N, T = 5, 3, 2, 8
    params = _random_params(cell, V, H, rng, D=D)
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, V, size=(N, T))
    whole, state_whole = lm_loss(cell, params, x, y)
    first, state = lm_loss(cell, params, x[:, :3], y[:, :3])
    second, state = lm_loss(cell, params, x[:, 3:], y[:, 3:], state)
    assert whole == pytest.approx((3 * first + 5 * second) / 8, rel=1e-12)
    for a, b in zip(state, state_whole):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_truncated_gradient_differs_only_in_recurrent_parameters():
    # With the state carried, a chunked pass has the same forward values, so
    # the readout's gradient is unchanged; the recurrent ones lose the paths
    # that cross the chunk boundary.
    rng = np.random.default_rng(5)
    params = _random_params("lstm", 4, 3, rng)
    x = rng.integers(0, 4, size=(2, 6))
    y = rng.integers(0, 4, size=(2, 6))
    _, full, _ = lm_loss_and_grads("lstm", params, x, y)
    _, g1, state = lm_loss_and_grads("lstm", params, x[:, :3], y[:, :3])
    _, g2, _ = lm_loss_and_grads("lstm", params, x[:, 3:], y[:, 3:], state)
    truncated = {k: (g1[k] + g2[k]) / 2 for k in full}
    for name in ("Wy", "by"):
        np.testing.assert_allclose(truncated[name], full[name], rtol=1e-12, atol=1e-15)
    for name in ("Wx", "Wh", "b"):
        assert rel_error(truncated[name], full[name]) > 1e-6


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_keeps_dtype(cell):
    rng = np.random.default_rng(7)
    for D in (None, 3):
        params = init_lm(cell, 5, 4, rng, D=D, dtype=np.float32)
        x = rng.integers(0, 5, size=(2, 3))
        loss, grads, state = lm_loss_and_grads(cell, params, x, x)
        assert isinstance(loss, float) and np.isfinite(loss)
        assert all(g.dtype == np.float32 for g in grads.values())
        assert all(s.dtype == np.float32 for s in state)
        p64 = {k: v.astype(np.float64) for k, v in params.items()}
        loss64, grads64, _ = lm_loss_and_grads(cell, p64, x, x)
        assert loss == pytest.approx(loss64, rel=1e-5)
        assert rel_error(grads["Wh"], grads64["Wh"]) < 1e-4


# -- word level: padding, prediction, learning -------------------------------------

def test_padding_is_ignored():
    rng = np.random.default_rng(2)
    params = init_lm("lstm", 7, 4, rng, D=3)
    inputs, targets = rng.integers(0, 7, size=(3, 5)), rng.integers(0, 7, size=(3, 5))
    mask = np.ones((3, 5), dtype=bool)
    mask[0, 3:] = False
    loss, grads = lm_step("lstm", params, (inputs, targets, mask))
    inputs2, targets2 = inputs.copy(), targets.copy()
    inputs2[0, 3:] = 6 - inputs2[0, 3:]
    targets2[0, 3:] = -1                        # a padding id outside the vocabulary
    loss2, grads2 = lm_step("lstm", params, (inputs2, targets2, mask))
    assert loss == pytest.approx(loss2, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads2[k], rtol=1e-10, atol=1e-14)
    # Without the mask the padded positions count, and the loss changes.
    assert lm_step("lstm", params, (inputs, targets))[0] != pytest.approx(loss, rel=1e-6)


def test_next_token_probs_is_the_last_softmax():
    rng = np.random.default_rng(3)
    params = init_lm("lstm", 7, 4, rng, D=3)
    ids = rng.integers(0, 7, size=(2, 5))
    logits, cache = lm_forward("lstm", params, ids)
    assert logits.shape == (2, 5, 7)
    assert [s.shape for s in cache.states] == [(2, 5, 4), (2, 5, 4)]
    np.testing.assert_array_equal(cache.states[1], cache.cell_cache.c)
    np.testing.assert_allclose(next_token_probs("lstm", params, ids), softmax(logits[:, -1]))
    one = next_token_probs("lstm", params, ids[1])
    assert one.shape == (7,) and one.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(one, softmax(logits[1, -1]))


def test_word_model_learns_a_tiny_corpus():
    sentences = ["the cat is black", "the snow is white", "a cat is black", "a snow is white"]
    vocab = WordVocab(sentences)
    batch = encode_sentences(sentences, vocab)
    params = init_lm("lstm", vocab.size, 16, np.random.default_rng(0), D=8)
    train(partial(lm_step, "lstm"), params, Adam(0.02), [batch], num_steps=150,
          progress=False)
    for subject, colour in (("cat", "black"), ("snow", "white")):
        p = next_token_probs("lstm", params, vocab.encode(f"the {subject} is", bos=True))
        assert vocab.tokens[int(p.argmax())] == colour


# -- Cho et al.'s GRU, registered as a cell ---------------------------------------------

def test_gru_original_cell_runs_the_original_formulation():
    rng = np.random.default_rng(12)
    cell = get_cell("gru-original")
    p = cell.init(3, 4, rng)
    p["bx"], p["bh"] = rng.standard_normal(12), rng.standard_normal(12)
    x = rng.standard_normal((2, 5, 3))
    h0 = rng.standard_normal((2, 4))
    (h,), _ = cell.forward(x, (h0,), p)
    np.testing.assert_array_equal(h, gru_original_forward(x, h0, p["Wx"], p["Wh"], p["bx"],
                                                          p["bh"])[0])
    assert np.abs(h - gru_forward(x, h0, p["Wx"], p["Wh"], p["bx"], p["bh"])[0]).max() > 1e-3
    states = (h0,)
    for t in range(5):
        states, _ = cell.step_forward(x[:, t], states, p)
        np.testing.assert_allclose(states[0], h[:, t], rtol=1e-13, atol=1e-13)


def test_gru_original_cell_gradients_in_the_adding_model():
    rng = np.random.default_rng(13)
    params = init_adding_model("gru-original", 3, rng)
    for name in params:
        params[name] = 0.5 * rng.standard_normal(params[name].shape)
    x = rng.standard_normal((2, 4, 2))
    y = rng.standard_normal(2)
    _, grads = adding_loss_and_grads("gru-original", params, (x, y))
    for name in params:
        num = numerical_gradient(
            lambda _: adding_loss_and_grads("gru-original", params, (x, y))[0], params[name])
        assert rel_error(grads[name], num) < 1e-7, name


def test_gru_original_cell_step_backward_matches_lag_measurement():
    rng = np.random.default_rng(14)
    cell = get_cell("gru-original")
    p = cell.init(2, 3, rng)
    x = rng.standard_normal((2, 6, 2))
    _, norms = gradient_norms_by_lag(cell, p, x)
    assert norms.shape == (2, 7) and np.all(np.isfinite(norms))
    u = np.full((2, 3), 1 / np.sqrt(3))
    h_prev = cell.forward(x[:, :5], (np.zeros((2, 3)),), p)[0][0][:, -1].copy()
    num = numerical_gradient(lambda hp: cell.step_forward(x[:, 5], (hp,), p)[0][0], h_prev, u)
    np.testing.assert_allclose(norms[:, 1], np.linalg.norm(num, axis=1), rtol=1e-7)


# -- streams, carried state, evaluation ----------------------------------------------------

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
    for prev, cur, first in zip(chunks, chunks[1:], firsts[1:]):
        if not first:
            np.testing.assert_array_equal((prev[:, -1] + 1) % 7, cur[:, 0])

    for cell in ("rnn", "lstm"):
        params = _random_params(cell, 7, 3, rng)
        step = CarriedStateStep(cell)
        x, y, _ = next_chunk()
        loss, _ = step(params, (x, y, True))
        assert loss == pytest.approx(lm_loss(cell, params, x, y)[0])
        kept = step.state
        assert len(kept) == len(get_cell(cell).state_names)
        loss2, _ = step(params, (x, y, False))
        assert loss2 == pytest.approx(lm_loss(cell, params, x, y, kept)[0])
        assert loss2 != pytest.approx(loss, rel=1e-9)
        loss3, _ = step(params, (x, y, True))
        assert loss3 == pytest.approx(loss, rel=1e-14)


def test_tbptt_stream_rejects_bad_arguments_at_once():
    with pytest.raises(ValueError, match="too short"):
        tbptt_stream(np.arange(10), batch_size=4, seq_len=5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        tbptt_stream(np.arange(100), batch_size=4, seq_len=5, rng=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_evaluate_matches_a_manual_pass(cell):
    rng = np.random.default_rng(7)
    params = _random_params(cell, 6, 4, rng)
    encoded = rng.integers(0, 6, size=203)
    state, losses = None, []
    for x, y in tbptt_batches(encoded, 3, 10):
        loss, state = lm_loss(cell, params, x, y, state)
        losses.append(loss)
    assert evaluate_lm(cell, params, encoded, 3, 10) == pytest.approx(np.mean(losses),
                                                                      rel=1e-12)


# -- sampling ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_sample_is_reproducible_and_in_range(cell):
    for D in (None, 3):
        params = init_lm(cell, 9, 6, np.random.default_rng(8), D=D)
        a = sample_lm(cell, params, 3, 50, 1.0, np.random.default_rng(1))
        b = sample_lm(cell, params, 3, 50, 1.0, np.random.default_rng(1))
        assert a.shape == (50,) and a.dtype == np.int64
        np.testing.assert_array_equal(a, b)
        assert a.min() >= 0 and a.max() < 9
        assert sample_lm(cell, params, 3, 0, 1.0, np.random.default_rng(1)).shape == (0,)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("D", [None, 3])
def test_low_temperature_is_greedy(cell, D):
    rng = np.random.default_rng(9)
    params = _random_params(cell, 5, 4, rng, D=D)
    out = sample_lm(cell, params, 2, 20, 1e-6, np.random.default_rng(0))
    ids = [2]
    for i in range(20):
        nxt = int(next_token_probs(cell, params, np.array(ids)).argmax())
        assert out[i] == nxt
        ids.append(nxt)


def test_sample_frequencies_follow_the_tempered_softmax():
    # With zero input and recurrent weights the state stays 0, so every
    # character is drawn from softmax(by / temperature).
    V, H = 4, 2
    params = {"Wx": np.zeros((V, H)), "Wh": np.zeros((H, H)), "b": np.zeros(H),
              "Wy": np.zeros((H, V)), "by": np.array([0.0, 1.0, 2.0, -1.0])}
    n = 20_000
    for temperature in (0.5, 1.0, 2.0):
        out = sample_lm("rnn", params, 0, n, temperature, np.random.default_rng(10))
        p = np.exp(params["by"] / temperature)
        p /= p.sum()
        freq = np.bincount(out, minlength=V) / n
        assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_seed_sequence_primes_the_state(cell):
    rng = np.random.default_rng(11)
    params = _random_params(cell, 5, 3, rng)
    primed = sample_lm(cell, params, [1, 4, 2], 10, 0.8, np.random.default_rng(2))
    _, state = lm_loss(cell, params, np.array([[1, 4]]), np.array([[4, 2]]))
    manual = sample_lm(cell, params, 2, 10, 0.8, np.random.default_rng(2), state=state)
    np.testing.assert_array_equal(primed, manual)


# -- training ------------------------------------------------------------------------------

def test_train_char_model_learns_and_is_reproducible():
    text = np.tile(np.array([0, 1, 2, 3, 2, 1]), 80)      # a periodic "text"
    runs = [train_char_model("gru", text, 4, 8, 60, rng=1, valid_ids=text[:200],
                             batch_size=4, seq_len=8, lr=2e-2, eval_every=30,
                             eval_batch_size=4, eval_seq_len=16)
            for _ in range(2)]
    run = runs[0]
    assert isinstance(run, CharModelRun) and isinstance(run.history, History)
    assert run.history.loss == runs[1].history.loss
    assert run.history.eval_step == [30, 60]
    assert run.history.eval["valid_loss"][-1] < 0.5 * np.log(4)
    assert not run.history.diverged
    assert evaluate_lm("gru", run.params, text[:200], 4, 16) == pytest.approx(
        run.history.eval["valid_loss"][-1], rel=1e-12)


def test_train_char_model_returns_params():
    text = np.arange(200) % 5
    run = train_char_model("rnn", text, 5, 3, 5, rng=0, batch_size=2, seq_len=4)
    assert len(run.history) == 5 and set(run.params) == {"Wx", "Wh", "b", "Wy", "by"}
    assert run.history.eval == {}


# -- parameters, errors, helpers --------------------------------------------------------------

@pytest.mark.parametrize("cell,k", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_init_shapes(cell, k):
    rng = np.random.default_rng(9)
    V, H, D = 7, 4, 3
    p = init_lm(cell, V, H, rng)
    assert p["Wx"].shape == (V, k * H) and p["Wh"].shape == (H, k * H)
    assert p["Wy"].shape == (H, V) and p["by"].shape == (V,) and "E" not in p
    assert np.all(p["by"] == 0)
    w = init_lm(cell, V, H, rng, D=D, dtype=np.float32)
    assert w["E"].shape == (V, D) and w["Wx"].shape == (D, k * H)
    assert all(v.dtype == np.float32 for v in w.values())


@pytest.mark.parametrize("D,H", [(1, 1), (2, 5), (7, 3)])
def test_count_params_formulas(D, H):
    rng = np.random.default_rng(8)
    assert count_params(init_rnn(D, H, rng)) == H * (D + H + 1)
    assert count_params(init_lstm(D, H, rng)) == 4 * H * (D + H + 1)
    assert count_params(init_gru(D, H, rng)) == 3 * H * (D + H + 2)


def test_errors_name_the_problem():
    rng = np.random.default_rng(11)
    params = init_lm("gru", 4, 3, rng)
    x = rng.integers(0, 4, size=(2, 3))
    with pytest.raises(ValueError, match="cell is 'tanh'"):
        lm_loss("tanh", params, x, x)
    with pytest.raises(ValueError, match="needs exactly"):
        lm_loss("lstm", params, x, x)           # GRU parameters for an LSTM
    with pytest.raises(ValueError, match=r"params\['Wy'\] has shape \(2, 4\)"):
        lm_loss("gru", dict(params, Wy=np.zeros((2, 4))), x, x)
    with pytest.raises(ValueError, match="one-hot vectors of size V = 5"):
        lm_loss("gru", dict(params, Wy=np.zeros((3, 5)), by=np.zeros(5)), x, x)
    with pytest.raises(ValueError, match="x contains 4, outside the vocabulary"):
        lm_loss("gru", params, x + 1, x)
    with pytest.raises(ValueError, match="^y has shape"):
        lm_loss("gru", params, x, x[:, :2])
    with pytest.raises(ValueError, match="tuple of 1"):
        lm_loss("gru", params, x, x, (np.zeros((2, 3)), np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"state\[0\] \(h\) has shape"):
        lm_loss("gru", params, x, x, (np.zeros((2, 4)),))
    with pytest.raises(ValueError, match="dtype"):
        lm_loss("gru", params, x, x, (np.zeros((2, 3), dtype=np.float32),))
    with pytest.raises(ValueError, match="x has dtype"):
        lm_forward("gru", params, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x has shape"):
        lm_forward("gru", params, x[0])
    with pytest.raises(ValueError, match="batch"):
        lm_step("gru", params, x)
    with pytest.raises(ValueError, match="steps"):
        train_char_model("gru", np.arange(100) % 4, 4, 3, 0)
    with pytest.raises(ValueError, match="D must be at least 1"):
        init_lm("gru", 4, 3, rng, D=0)
    with pytest.raises(ValueError, match="temperature"):
        sample_lm("gru", params, 0, 5, 0.0, rng)
    with pytest.raises(ValueError, match="Generator"):
        sample_lm("gru", params, 0, 5, 1.0, 0)
    with pytest.raises(ValueError, match="seed_ids contains 9"):
        sample_lm("gru", params, 9, 5, 1.0, rng)
    with pytest.raises(ValueError, match="n must be at least 0"):
        sample_lm("gru", params, 0, -1, 1.0, rng)
    with pytest.raises(ValueError, match="dict"):
        count_params([1, 2])


def test_one_hot():
    oh = one_hot(np.array([[0, 2], [1, 1]]), 3)
    np.testing.assert_array_equal(oh, np.eye(3)[[[0, 2], [1, 1]]])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.0]), 3)


def test_markdown_table():
    table = markdown_table(["cell", "loss"], [["rnn", "1.00"], ["a|b", 2]], align="lr")
    assert table.splitlines() == [
        "| cell | loss |",
        "| :--- | ---: |",
        "| rnn | 1.00 |",
        r"| a\|b | 2 |",
    ]
    formatted = markdown_table(["x", "y"], [[0.12345, 3], [np.float64(2.0), "s"]],
                               float_format="{:.2f}")
    assert formatted.splitlines()[2:] == ["| 0.12 | 3 |", "| 2.00 | s |"]


def test_markdown_table_errors():
    with pytest.raises(ValueError, match="row 0"):
        markdown_table(["a", "b"], [["only one"]])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [], align="lx")
    with pytest.raises(ValueError, match="empty"):
        markdown_table([], [])
    with pytest.raises(ValueError, match="float_format"):
        markdown_table(["a"], [], float_format=3)


def test_first_step_below():
    history = History()
    for step, value in ((10, 0.5), (20, 0.3), (30, 0.1)):
        history.record_eval(step, {"test_mse": value})
    assert first_step_below(history, 0.35) == 20
    assert first_step_below(history, 0.05) is None
    with pytest.raises(ValueError, match="valid_loss"):
        first_step_below(history, 0.1, metric="valid_loss")
