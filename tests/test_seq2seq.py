"""Tests for rnnbook.nn.seq2seq: gradients, decoding and a short training run on dates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnbook.datasets as D
from rnnbook.nn import seq2seq as S2
from rnnbook.nn.activations import log_softmax
from rnnbook.train.gradcheck import rel_error
from rnnbook.train.optim import Adam, clip_grad_norm

from helpers import fd_entries

PAD, BOS, EOS = D.SeqVocab.PAD, D.SeqVocab.BOS, D.SeqVocab.EOS


def tiny_batch(rng, N=3, S=5, U=4, Vs=7, Vt=6):
    """Random ids with ragged source and target lengths, padded with PAD."""
    src_lengths = rng.integers(1, S + 1, size=N)
    src_lengths[0] = S
    src = rng.integers(3, Vs, size=(N, S))
    src[np.arange(S)[None, :] >= src_lengths[:, None]] = PAD
    tgt_lengths = rng.integers(1, U + 1, size=N)
    tgt_lengths[0] = U
    tgt_mask = np.arange(U)[None, :] < tgt_lengths[:, None]
    tgt_out = np.where(tgt_mask, rng.integers(3, Vt, size=(N, U)), PAD)
    tgt_out[np.arange(N), tgt_lengths - 1] = EOS
    tgt_in = np.where(tgt_mask, np.concatenate((np.full((N, 1), BOS), tgt_out[:, :-1]), 1), PAD)
    return src, src_lengths, tgt_in, tgt_out, tgt_mask


def random_params(model, rng):
    """Parameters away from the small initial values, so every gradient is sizeable."""
    return {k: rng.normal(0, 1.5 if k.startswith(("attn", "key")) else 0.5, v.shape)
            for k, v in model.params.items()}


CONFIGS = [
    ("lstm", False, None),
    ("lstm", False, "additive"),
    ("lstm", True, "scaled"),
    ("gru", True, "dot"),
    ("gru", False, "additive"),
    ("rnn", False, "scaled"),
]


@pytest.mark.parametrize("encoder,bidirectional,attention", CONFIGS)
def test_full_loss_gradient(encoder, bidirectional, attention):
    rng = np.random.default_rng(len(encoder) + 2 * bidirectional + len(str(attention)))
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=4, encoder=encoder,
                       bidirectional=bidirectional, attention=attention, attn_dim=3)
    params = random_params(model, rng)
    batch = tiny_batch(rng)
    loss, grads = model.loss_and_grads(params, *batch)
    assert set(grads) == set(params)
    assert np.isfinite(loss)
    for name, p in params.items():
        assert grads[name].shape == p.shape and grads[name].dtype == p.dtype
        # every entry of small arrays, a random sample of the larger ones
        all_idx = list(np.ndindex(p.shape))
        pick = rng.choice(len(all_idx), size=min(len(all_idx), 12), replace=False)
        idxs = [all_idx[i] for i in pick]
        # The model is deep (embedding, encoder, bridge, decoder, attention,
        # two affine maps): the five-point difference keeps round-off near 1e-12.
        numeric = fd_entries(lambda: model.loss(params, *batch), p, idxs)
        analytic = np.array([grads[name][i] for i in idxs])
        if np.max(np.abs(numeric)) < 1e-10:  # e.g. embedding rows of unused tokens
            assert np.max(np.abs(analytic)) < 1e-10, name
            continue
        err = rel_error(analytic, numeric)
        assert err < 1e-7, (name, err)


@given(seed=st.integers(0, 2**32 - 1), config=st.sampled_from(CONFIGS))
@settings(max_examples=12, deadline=None)
def test_padding_never_leaks_into_loss_or_gradients(seed, config):
    encoder, bidirectional, attention = config
    rng = np.random.default_rng(seed)
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=4, encoder=encoder,
                       bidirectional=bidirectional, attention=attention)
    src, src_lengths, tgt_in, tgt_out, tgt_mask = tiny_batch(rng)
    loss, grads = model.loss_and_grads(model.params, src, src_lengths, tgt_in, tgt_out, tgt_mask)
    # fill every padded position with other (valid) ids
    src_pad = np.arange(src.shape[1])[None, :] >= src_lengths[:, None]
    src2 = np.where(src_pad, rng.integers(0, 7, size=src.shape), src)
    tgt_in2 = np.where(tgt_mask, tgt_in, rng.integers(0, 6, size=tgt_in.shape))
    tgt_out2 = np.where(tgt_mask, tgt_out, rng.integers(0, 6, size=tgt_out.shape))
    loss2, grads2 = model.loss_and_grads(model.params, src2, src_lengths, tgt_in2, tgt_out2,
                                         tgt_mask)
    assert abs(loss2 - loss) < 1e-12
    for name in grads:
        np.testing.assert_allclose(grads2[name], grads[name], rtol=0, atol=1e-12)
    # PAD only ever sits in padding here, so its embedding rows get no gradient
    assert np.all(grads["src_embed"][PAD] == 0) and np.all(grads["tgt_embed"][PAD] == 0)


def test_teacher_forced_attention_weights():
    rng = np.random.default_rng(0)
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=4, attention="additive")
    src, src_lengths, tgt_in, _, _ = tiny_batch(rng)
    logits, cache = model.forward(model.params, src, src_lengths, tgt_in)
    N, S = src.shape
    assert logits.shape == tgt_in.shape + (6,)
    w = cache.attention
    assert w.shape == (N, tgt_in.shape[1], S)
    np.testing.assert_allclose(w.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    pad = np.arange(S)[None, None, :] >= src_lengths[:, None, None]
    assert np.all(w[np.broadcast_to(pad, w.shape)] == 0)
    plain = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=4, attention=None)
    assert plain.forward(plain.params, src, src_lengths, tgt_in)[1].attention is None
    assert "key_W" not in plain.params and plain.params["comb_W"].shape == (4, 4)


# -- decoding ---------------------------------------------------------------------------

def sequence_logprob(model, params, src, src_lengths, tokens):
    """Teacher-forced log-probability of each row of ``tokens`` (up to its first EOS)."""
    N, L = tokens.shape
    tgt_in = np.concatenate((np.full((N, 1), BOS), tokens[:, :-1]), axis=1)
    logits, _ = model.forward(params, src, src_lengths, tgt_in)
    logp = log_softmax(logits)
    lengths = S2._lengths(tokens)
    total = np.zeros(N)
    for n in range(N):
        for t in range(lengths[n]):
            total[n] += logp[n, t, tokens[n, t]]
    return total


@given(seed=st.integers(0, 2**32 - 1), config=st.sampled_from(CONFIGS),
       max_len=st.integers(1, 7))
@settings(max_examples=20, deadline=None)
def test_beam_of_one_is_greedy(seed, config, max_len):
    encoder, bidirectional, attention = config
    rng = np.random.default_rng(seed)
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=5, encoder=encoder,
                       bidirectional=bidirectional, attention=attention)
    # sharper distributions than the initial ones, so EOS appears at varied steps
    model.params = random_params(model, rng)
    src, src_lengths, *_ = tiny_batch(rng, N=4)
    greedy = model.greedy_decode(src, src_lengths, max_len)
    beam = model.beam_search(src, src_lengths, 1, max_len)
    np.testing.assert_array_equal(beam.tokens, greedy.tokens)
    np.testing.assert_array_equal(beam.lengths, greedy.lengths)
    np.testing.assert_allclose(beam.scores, greedy.scores, rtol=0, atol=1e-12)
    if attention is None:
        assert greedy.attention is None and beam.attention is None
    else:
        np.testing.assert_allclose(beam.attention, greedy.attention, rtol=0, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS[:4])
def test_decoded_scores_match_teacher_forcing(config):
    encoder, bidirectional, attention = config
    rng = np.random.default_rng(4)
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=5, encoder=encoder,
                       bidirectional=bidirectional, attention=attention)
    model.params = random_params(model, rng)
    src, src_lengths, *_ = tiny_batch(rng, N=5)
    for out in (model.greedy_decode(src, src_lengths, 6),
                model.beam_search(src, src_lengths, 3, 6)):
        assert out.tokens.shape == (5, 6) and out.tokens.dtype == np.int64
        assert not np.isin(out.tokens[:, 0], [PAD, BOS]).any()
        for n in range(5):
            L = out.lengths[n]
            assert not np.isin(out.tokens[n, :L], [PAD, BOS]).any()
            assert np.all(out.tokens[n, L:] == PAD)
            assert L == 6 or out.tokens[n, L - 1] == EOS
        np.testing.assert_allclose(out.scores, sequence_logprob(model, model.params, src,
                                                                src_lengths, out.tokens),
                                   rtol=0, atol=1e-10)
        if attention is not None:
            steps = np.arange(6)[None, :] < out.lengths[:, None]
            np.testing.assert_allclose(out.attention.sum(axis=2), steps.astype(float),
                                       rtol=0, atol=1e-12)


def test_wide_beam_finds_the_exact_best_sequence():
    """With room for every hypothesis, beam search is exhaustive search."""
    rng = np.random.default_rng(12)
    V, max_len = 5, 3  # outputs use EOS, 3, 4: at most 3**3 = 27 hypotheses
    model = S2.Seq2Seq(6, V, rng, emb_dim=3, hidden=4, attention="scaled")
    model.params = random_params(model, rng)
    src, src_lengths, *_ = tiny_batch(rng, N=4, Vs=6)
    candidates = []
    for L in range(1, max_len + 1):
        for body in itertools.product([3, 4], repeat=L - 1):
            seq = list(body) + [EOS]
            candidates.append(seq + [PAD] * (max_len - L))
    for body in itertools.product([3, 4], repeat=max_len):  # never ended
        candidates.append(list(body))
    candidates = np.array(candidates)
    beam = model.beam_search(src, src_lengths, 27, max_len)
    greedy = model.greedy_decode(src, src_lengths, max_len)
    for n in range(4):
        rows = np.repeat(src[n : n + 1], len(candidates), axis=0)
        lens = np.repeat(src_lengths[n : n + 1], len(candidates))
        scores = sequence_logprob(model, model.params, rows, lens, candidates)
        best = np.argmax(scores)
        np.testing.assert_array_equal(beam.tokens[n], candidates[best])
        assert abs(beam.scores[n] - scores[best]) < 1e-10
        assert beam.scores[n] >= greedy.scores[n] - 1e-12


# -- training on the dates task ---------------------------------------------------------

def test_short_training_run_learns_dates():
    rng = np.random.default_rng(0)
    src_vocab, tgt_vocab = D.date_vocabs()
    train = D.encode_pairs(D.dates_dataset(3000, rng), src_vocab, tgt_vocab)
    test = D.encode_pairs(D.dates_dataset(200, rng), src_vocab, tgt_vocab)
    model = S2.Seq2Seq(src_vocab.size, tgt_vocab.size, np.random.default_rng(1), emb_dim=16,
                       hidden=32, encoder="lstm", attention="scaled")
    before = model.greedy_decode(test.src, test.src_lengths, 12)
    opt = Adam(0.01)
    for _ in range(220):
        i = rng.integers(0, len(train.src), size=64)
        batch = [a[i] for a in train]
        loss, grads = model.loss_and_grads(model.params, *batch)
        clip_grad_norm(grads, 5.0)
        opt.step(model.params, grads)
    after = model.greedy_decode(test.src, test.src_lengths, 12)

    # Chance here is the best input-blind guess: the most frequent token of
    # the training targets at each position (it gets every '-' and EOS right).
    majority = np.array([np.bincount(col).argmax() for col in train.tgt_out.T])
    chance = S2.token_accuracy(np.tile(majority, (len(test.src), 1)), test.tgt_out, test.tgt_mask)
    acc_before = S2.token_accuracy(before.tokens, test.tgt_out, test.tgt_mask)
    acc_after = S2.token_accuracy(after.tokens, test.tgt_out, test.tgt_mask)
    assert 0.3 < chance < 0.7
    assert acc_before < chance
    assert acc_after > chance + 0.3, (chance, acc_after)
    assert S2.sequence_accuracy(after.tokens, test.tgt_out, test.tgt_mask) > 0.5
    decoded = tgt_vocab.decode(after.tokens[0])
    assert len(decoded) == 10 and decoded[4] == "-" and decoded[7] == "-"


# -- helpers and errors ----------------------------------------------------------------

def test_accuracies():
    tgt = np.array([[5, 6, EOS], [7, EOS, PAD]])
    mask = tgt != PAD
    pred = np.array([[5, 6, EOS, PAD], [7, 3, PAD, PAD]])
    assert S2.token_accuracy(pred, tgt, mask) == pytest.approx(4 / 5)
    assert S2.sequence_accuracy(pred, tgt, mask) == 0.5
    assert S2.token_accuracy(pred[:, :1], tgt, mask) == pytest.approx(2 / 5)


def test_float32_model():
    rng = np.random.default_rng(0)
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=4, bidirectional=True,
                       attention="additive", dtype=np.float32)
    batch = tiny_batch(rng)
    loss, grads = model.loss_and_grads(model.params, *batch)
    assert all(g.dtype == np.float32 for g in grads.values())
    out = model.beam_search(batch[0], batch[1], 2, 5)
    assert out.attention.dtype == np.float32


def test_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="attention is 'luong'"):
        S2.Seq2Seq(7, 6, rng, attention="luong")
    with pytest.raises(ValueError, match="encoder is 'cnn'"):
        S2.Seq2Seq(7, 6, rng, encoder="cnn")
    with pytest.raises(ValueError, match="tgt_vocab_size is 3"):
        S2.Seq2Seq(7, 3, rng)
    model = S2.Seq2Seq(7, 6, rng, emb_dim=3, hidden=4)
    src, src_lengths, tgt_in, tgt_out, tgt_mask = tiny_batch(rng)
    bad = dict(model.params)
    del bad["out_b"]
    with pytest.raises(ValueError, match="params must have the keys"):
        model.loss_and_grads(bad, src, src_lengths, tgt_in, tgt_out, tgt_mask)
    with pytest.raises(ValueError, match="src_lengths must lie in"):
        model.greedy_decode(src, np.zeros_like(src_lengths), 4)
    with pytest.raises(ValueError, match="beam_size must be a positive integer"):
        model.beam_search(src, src_lengths, 0, 4)
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        model.greedy_decode(src, src_lengths, 0)
    with pytest.raises(ValueError, match="tgt_in has shape"):
        model.forward(model.params, src, src_lengths, tgt_in[:2])
    with pytest.raises(ValueError, match="not the cache returned by Seq2Seq.forward"):
        model.backward(np.zeros((3, 4, 6)), None)


def test_special_ids_agree_with_the_vocabularies():
    # seq2seq keeps its own copy of the ids so that rnnbook.nn does not
    # import rnnbook.datasets; the two must never drift apart.
    for vocab in (D.SeqVocab("ab"), D.WordVocab("a b")):
        assert (S2.PAD, S2.BOS, S2.EOS) == (vocab.PAD, vocab.BOS, vocab.EOS)
