"""The Japanese Vowels speaker set: a real many-to-one task with variable lengths.

Nine male speakers each said the Japanese vowel pair /ae/; every utterance was
cut into frames and each frame summarised by 12 LPC cepstrum coefficients
(Kudo, Toyama and Shimbo 1999; UCI Machine Learning Repository, CC BY 4.0).
The task is to tell from an utterance of 7 to 29 frames who spoke it. The
training set has 30 utterances per speaker (270), the test set 370 recorded
later, between 24 and 88 per speaker. Chapter 9 trains a sequence classifier
on it. Provenance and digests: ``rnnbook/datasets/files/PROVENANCE.md``.
"""

from __future__ import annotations

import gzip
import io

import numpy as np

from rnnbook.datasets.shipped import shipped_file

__all__ = ["VOWELS_FILE", "N_SPEAKERS", "N_COEFFS", "MAX_FRAMES", "load_japanese_vowels"]

#: Name of the shipped file (one row per frame, gzip-compressed CSV).
VOWELS_FILE = "japanese_vowels.csv.gz"
#: Number of classes (speakers), labelled 0..8 here (1..9 in the source).
N_SPEAKERS = 9
#: Number of features per frame, the LPC cepstrum coefficients 1 to 12.
N_COEFFS = 12
#: The longest utterance of either split; both are padded to it.
MAX_FRAMES = 29

_SPLITS = ("train", "test")


def _read_table() -> tuple[np.ndarray, np.ndarray]:
    raw = shipped_file(VOWELS_FILE).read_bytes()
    text = gzip.decompress(raw).decode("ascii")
    lines = text.splitlines()[1:]
    split = np.array([line.split(",", 1)[0] == "test" for line in lines])
    numbers = np.loadtxt(io.StringIO("\n".join(line.split(",", 1)[1] for line in lines)),
                         delimiter=",", dtype=np.float64, ndmin=2)
    return split, numbers


def load_japanese_vowels(split: str = "train"):
    """One split of the Japanese Vowels set, padded to a batch.

    Taught in chapter 9 (classifying sequences). Frames after an utterance's
    last real frame are zeros; use ``lengths`` to mask them (for instance
    with :func:`rnnbook.nn.sequence.recurrent_forward`).

    Args:
        split: ``"train"`` (270 utterances) or ``"test"`` (370).

    Returns:
        x: float64 array (N, 29, 12), the LPC cepstrum coefficients per frame;
            ``x[n, t] = 0`` for ``t >= lengths[n]``.
        lengths: int64 array (N,), frames per utterance, between 7 and 29.
        speakers: int64 array (N,), the speaker of each utterance, 0..8.

    Taught in: Chapter 9, Applications and practice.
    """
    if split not in _SPLITS:
        raise ValueError(f"split is {split!r} but needs one of {_SPLITS}")
    is_test, table = _read_table()
    rows = table[is_test == (split == "test")]
    utt = rows[:, 0].astype(np.int64)
    frame = rows[:, 2].astype(np.int64)
    n_utt = int(utt.max()) + 1
    lengths = np.bincount(utt, minlength=n_utt).astype(np.int64)
    speakers = np.zeros(n_utt, dtype=np.int64)
    speakers[utt] = rows[:, 1].astype(np.int64) - 1
    x = np.zeros((n_utt, MAX_FRAMES, N_COEFFS), dtype=np.float64)
    x[utt, frame] = rows[:, 3:]
    return x, lengths, speakers
