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
