"""Digit strings to copy: a sequence-to-sequence task whose input length can grow.

The date task of chapter 7 has inputs of 9 to 29 characters, but the amount
of information a model must pass from the source to the target is the same
for every format: one date. To measure the fixed-length bottleneck of a plain
encoder-decoder, the content has to grow with the input. Copying a random
digit string does exactly that: a string of L digits carries L log2(10) bits,
and every one of them must reach the decoder. Chapter 7 trains a plain
encoder-decoder on it and plots accuracy against L; chapter 8 repeats the
measurement with attention.
"""

from __future__ import annotations

import numpy as np

from rnnbook.checks import check_int, check_rng
from rnnbook.datasets.vocab import Seq2SeqBatch, SeqVocab, encode_pairs

__all__ = ["DIGITS", "digit_vocab", "digit_copy_pairs", "digit_copy_batches"]

#: The ten symbols of the copy task.
DIGITS = "0123456789"


def digit_vocab() -> SeqVocab:
    """The vocabulary of :func:`digit_copy_pairs`: PAD, BOS, EOS and the ten digits.

    Taught in: Chapter 7, Sequence to sequence.

    The same vocabulary serves the source and the target.

    Returns:
        vocab: a :class:`rnnbook.datasets.vocab.SeqVocab` of size 13.
    """
    return SeqVocab([DIGITS])


def digit_copy_pairs(lengths, rng) -> list[tuple[str, str]]:
    """Random digit strings paired with themselves, one pair per requested length.

    Taught in: Chapter 7, Sequence to sequence.

    Used in chapters 7 and 8. Every digit is drawn uniformly and
    independently, so a string of length L cannot be compressed below
    L log2(10) bits.

    Args:
        lengths: int array-like (N,), each >= 1: the length of each string.
        rng: numpy Generator.

    Returns:
        pairs: list of N tuples ``(source, target)`` with ``source ==
            target``, e.g. ``("40917", "40917")``.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"lengths has shape {lengths.shape} but needs a non-empty shape (N,)")
    if lengths.dtype.kind not in "iu":
        raise ValueError(f"lengths has dtype {lengths.dtype} but needs integers")
    if lengths.min() < 1:
        raise ValueError(f"lengths must all be >= 1, got a minimum of {lengths.min()}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    digits = rng.integers(0, 10, size=int(lengths.sum()))
    text = "".join(DIGITS[d] for d in digits.tolist())
    ends = np.cumsum(lengths).tolist()
    starts = [0] + ends[:-1]
    return [(text[a:b], text[a:b]) for a, b in zip(starts, ends)]


def digit_copy_batches(min_length: int, max_length: int, batch: int, rng):
    """A source of random training minibatches of the copy task.

    Every call draws ``batch`` lengths uniformly from ``min_length`` to
    ``max_length`` (both included), one string of each length
    (:func:`digit_copy_pairs`), and encodes the pairs with
    :func:`digit_vocab` on both sides. The result is what
    :func:`rnnbook.train.loop.train` takes as ``batches``.

    Args:
        min_length: int >= 1, the shortest string.
        max_length: int >= min_length, the longest string.
        batch: int >= 1, strings per batch.
        rng: numpy Generator, the only source of randomness.

    Returns:
        next_batch: function of no arguments returning a
            :class:`~rnnbook.datasets.vocab.Seq2SeqBatch`.

    Taught in: Chapter 7, Sequence to sequence.
    """
    min_length = check_int("min_length", min_length, 1)
    max_length = check_int("max_length", max_length, min_length)
    batch = check_int("batch", batch, 1)
    rng = check_rng(rng)
    vocab = digit_vocab()

    def next_batch() -> Seq2SeqBatch:
        lengths = rng.integers(min_length, max_length + 1, batch)
        return encode_pairs(digit_copy_pairs(lengths, rng), vocab, vocab)

    return next_batch
