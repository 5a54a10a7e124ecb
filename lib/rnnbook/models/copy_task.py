"""How well a sequence-to-sequence model copies digit strings, length by length.

Chapter 7 measures the fixed-size bottleneck of a plain encoder-decoder by
training it to copy random digit strings
(:func:`rnnbook.datasets.digit_copy.digit_copy_batches`) and scoring it
on fresh strings of each length separately; chapter 8 repeats the
measurement with attention. :func:`copy_accuracy` is that measurement, so
that both chapters score their models the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnbook.checks import check_int, check_int_sequence, check_rng
from rnnbook.datasets.digit_copy import digit_copy_pairs, digit_vocab
from rnnbook.datasets.vocab import encode_pairs
from rnnbook.nn.seq2seq import sequence_accuracy, token_accuracy

__all__ = ["CopyAccuracy", "copy_accuracy"]


class CopyAccuracy(NamedTuple):
    """Greedy-decoding accuracy of a copy model at each measured length.

    Taught in: Chapter 7, Sequence to sequence.
    """

    #: float (L,), the fraction of target tokens (the end token included) right.
    token: np.ndarray
    #: float (L,), the fraction of strings copied exactly, end token included.
    sequence: np.ndarray


def copy_accuracy(model, lengths, rng, n_per_length: int = 300) -> CopyAccuracy:
    """Greedy-decoding accuracy of ``model`` on fresh digit strings of each length.

    For every length L in ``lengths``, draws ``n_per_length`` random strings
    of L digits, decodes them greedily with up to ``max(lengths) + 2``
    output steps, and scores the outputs against the strings.

    Args:
        model: a :class:`~rnnbook.nn.seq2seq.Seq2Seq` over
            :func:`~rnnbook.datasets.digit_copy.digit_vocab` on both sides.
        lengths: int array-like (L,), each >= 1: the lengths measured.
        rng: numpy Generator, the only source of randomness.
        n_per_length: int >= 1, strings per length.

    Returns:
        accuracy: :class:`CopyAccuracy`, one token and one sequence accuracy
            per length.

    Taught in: Chapter 7, Sequence to sequence.
    """
    lengths = check_int_sequence("lengths", lengths)
    if lengths.size == 0 or lengths.min() < 1:
        raise ValueError(f"lengths must be a non-empty list of lengths >= 1, got {lengths}")
    rng = check_rng(rng)
    n_per_length = check_int("n_per_length", n_per_length, 1)
    digits = digit_vocab()
    if model.src_vocab_size != digits.size or model.tgt_vocab_size != digits.size:
        raise ValueError(f"model has vocabularies of {model.src_vocab_size} and "
                         f"{model.tgt_vocab_size} symbols but the copy task has {digits.size}")
    token, sequence = [], []
    for L in lengths.tolist():
        b = encode_pairs(digit_copy_pairs(np.full(n_per_length, L), rng), digits, digits)
        out = model.greedy_decode(b.src, b.src_lengths, max_len=int(lengths.max()) + 2)
        token.append(token_accuracy(out.tokens, b.tgt_out, b.tgt_mask))
        sequence.append(sequence_accuracy(out.tokens, b.tgt_out, b.tgt_mask))
    return CopyAccuracy(np.array(token), np.array(sequence))
