"""Tests for rnnbook.digit_copy, the copy task of chapters 7 and 8."""

import numpy as np
import pytest

from rnnbook.datasets import encode_pairs
from rnnbook.datasets import digit_copy_pairs, digit_vocab


def test_lengths_and_identity():
    rng = np.random.default_rng(0)
    lengths = np.array([1, 5, 12, 3])
    pairs = digit_copy_pairs(lengths, rng)
    assert [len(s) for s, _ in pairs] == lengths.tolist()
    assert all(s == t and s.isdigit() for s, t in pairs)


def test_digits_are_uniform_and_reproducible():
    pairs = digit_copy_pairs(np.full(2000, 10), np.random.default_rng(1))
    counts = np.bincount([int(c) for s, _ in pairs for c in s], minlength=10)
    # 20000 draws: each digit 2000 +- 3 standard deviations (about 130).
    assert np.all(np.abs(counts - 2000) < 150), counts
    assert pairs == digit_copy_pairs(np.full(2000, 10), np.random.default_rng(1))
    assert pairs != digit_copy_pairs(np.full(2000, 10), np.random.default_rng(2))


def test_vocab_encodes_every_pair():
    vocab = digit_vocab()
    assert vocab.size == 13
    batch = encode_pairs(digit_copy_pairs([4, 7], np.random.default_rng(3)), vocab, vocab)
    assert batch.src.shape == (2, 7) and batch.tgt_out.shape == (2, 8)
    assert vocab.decode(batch.tgt_out[1]) == vocab.decode(batch.src[1])


@pytest.mark.parametrize("lengths, message", [
    ([], "non-empty"), ([[3]], "shape"), ([2.0], "integers"), ([3, 0], ">= 1")])
def test_bad_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        digit_copy_pairs(np.asarray(lengths), np.random.default_rng(0))


def test_bad_rng():
    with pytest.raises(ValueError, match="Generator"):
        digit_copy_pairs([3], 0)


# --- the training batches and the per-length measurement of chapters 7 and 8 ---

from rnnbook.datasets import Seq2SeqBatch, digit_copy_batches, pair_batches  # noqa: E402
from rnnbook.models import CopyAccuracy, copy_accuracy  # noqa: E402
from rnnbook.nn import Seq2Seq  # noqa: E402


def test_copy_batches_draw_lengths_in_range_from_the_generator_alone():
    a = digit_copy_batches(2, 5, 64, np.random.default_rng(1))
    b = digit_copy_batches(2, 5, 64, np.random.default_rng(1))
    first, again = a(), b()
    assert isinstance(first, Seq2SeqBatch)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    assert first.src.shape[0] == 64
    assert set(first.src_lengths.tolist()) <= {2, 3, 4, 5}
    assert len(set(first.src_lengths.tolist())) > 1
    # Source and target are the same string: tgt_out is the source then EOS.
    for i, L in enumerate(first.src_lengths.tolist()):
        np.testing.assert_array_equal(first.tgt_out[i, :L], first.src[i, :L])
    # A second call draws a new batch.
    second = a()
    assert not (second.src.shape == first.src.shape and np.array_equal(second.src, first.src))


@pytest.mark.parametrize("args, message", [
    ((0, 5, 8), "min_length"), ((4, 3, 8), "max_length"), ((2, 5, 0), "batch")])
def test_copy_batches_name_a_bad_argument(args, message):
    with pytest.raises(ValueError, match=message):
        digit_copy_batches(*args, np.random.default_rng(0))


def test_pair_batches_draw_pairs_with_replacement_and_reproducibly():
    vocab = digit_vocab()
    pairs = [("1", "1"), ("22", "22"), ("333", "333")]
    a = pair_batches(pairs, vocab, vocab, 30, np.random.default_rng(5))
    b = pair_batches(pairs, vocab, vocab, 30, np.random.default_rng(5))
    batch = a()
    np.testing.assert_array_equal(batch.src, b().src)
    assert batch.src.shape[0] == 30 and set(batch.src_lengths.tolist()) == {1, 2, 3}
    with pytest.raises(ValueError, match="empty"):
        pair_batches([], vocab, vocab, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng"):
        pair_batches(pairs, vocab, vocab, 4, 0)
    with pytest.raises(ValueError, match="SeqVocab"):
        pair_batches(pairs, vocab, "not a vocabulary", 4, np.random.default_rng(0))


class _Copier:
    """A stand-in model that decodes by copying its source, mistakes included."""

    src_vocab_size = tgt_vocab_size = digit_vocab().size

    def __init__(self, wrong_from_length=None):
        self.wrong_from_length = wrong_from_length

    def greedy_decode(self, src, src_lengths, max_len):
        out = np.zeros((src.shape[0], max_len), dtype=np.int64)
        for i, L in enumerate(src_lengths.tolist()):
            out[i, :L] = src[i, :L]
            out[i, L] = digit_vocab().EOS
            if self.wrong_from_length is not None and L >= self.wrong_from_length:
                out[i, 0] = digit_vocab().EOS  # the first token wrong, the rest right

        class Decoded:
            tokens = out
        return Decoded


def test_copy_accuracy_scores_each_length_separately():
    lengths = [2, 4, 6]
    perfect = copy_accuracy(_Copier(), lengths, np.random.default_rng(0), n_per_length=20)
    assert isinstance(perfect, CopyAccuracy)
    np.testing.assert_array_equal(perfect.token, [1, 1, 1])
    np.testing.assert_array_equal(perfect.sequence, [1, 1, 1])
    # One wrong token per string from length 4 on: L of L + 1 tokens right.
    flawed = copy_accuracy(_Copier(wrong_from_length=4), lengths, np.random.default_rng(0),
                           n_per_length=20)
    np.testing.assert_allclose(flawed.token, [1, 4 / 5, 6 / 7])
    np.testing.assert_array_equal(flawed.sequence, [1, 0, 0])


def test_copy_accuracy_checks_its_model_and_lengths():
    model = Seq2Seq(5, 5, np.random.default_rng(0), emb_dim=4, hidden=4, encoder="gru")
    with pytest.raises(ValueError, match="vocabularies"):
        copy_accuracy(model, [2], np.random.default_rng(0))
    with pytest.raises(ValueError, match="lengths"):
        copy_accuracy(_Copier(), [0, 2], np.random.default_rng(0))


def test_a_seq2seq_model_trains_on_copy_batches_through_its_batch_step():
    from rnnbook.train import Adam, train
    vocab = digit_vocab()
    model = Seq2Seq(vocab.size, vocab.size, np.random.default_rng(2), emb_dim=8, hidden=16,
                    encoder="gru")
    batches = digit_copy_batches(1, 2, 32, np.random.default_rng(3))
    batch = batches()
    loss, grads = model.batch_loss_and_grads(model.params, batch)
    assert np.isclose(loss, model.loss_and_grads(model.params, *batch)[0])
    assert set(grads) == set(model.params)
    history = train(model.batch_loss_and_grads, model.params, Adam(1e-2), batches,
                    num_steps=150, progress=False)
    assert np.mean(history.loss[-20:]) < 0.5 * np.mean(history.loss[:5])
    with pytest.raises(ValueError, match="Seq2SeqBatch"):
        model.batch_loss_and_grads(model.params, batch[:3])
