"""Tests for the shipped Japanese Vowels set and its loader."""

from __future__ import annotations

import gzip
import hashlib
import re

import numpy as np
import pytest

from rnnbook.datasets import (MAX_FRAMES, N_COEFFS, N_SPEAKERS, VOWELS_FILE,
                              load_japanese_vowels, shipped_file)


def _shipped_bytes() -> bytes:
    return shipped_file(VOWELS_FILE).read_bytes()


def test_digest_matches_provenance():
    text = shipped_file("PROVENANCE.md").read_text("utf-8")
    section = text.split(f"## {VOWELS_FILE}", 1)[1].split("\n## ", 1)[0]
    digest = re.search(r"\| file SHA-256 \| `([0-9a-f]{64})` \|", section).group(1)
    assert hashlib.sha256(_shipped_bytes()).hexdigest() == digest


def test_gzip_header_has_no_timestamp():
    # Bytes 4..7 of a gzip member are its modification time; 0 keeps the
    # conversion reproducible.
    blob = _shipped_bytes()
    assert blob[:2] == b"\x1f\x8b" and blob[4:8] == b"\x00\x00\x00\x00"


@pytest.mark.parametrize("split, n, per_speaker", [
    ("train", 270, [30] * 9),
    ("test", 370, [31, 35, 88, 44, 29, 24, 40, 50, 29]),
])
def test_split_sizes_and_labels(split, n, per_speaker):
    x, lengths, speakers = load_japanese_vowels(split)
    assert x.shape == (n, MAX_FRAMES, N_COEFFS) and x.dtype == np.float64
    assert lengths.shape == (n,) and lengths.dtype == np.int64
    assert speakers.dtype == np.int64
    assert lengths.min() == 7 and lengths.max() <= MAX_FRAMES
    assert np.bincount(speakers, minlength=N_SPEAKERS).tolist() == per_speaker


def test_lengths_and_padding():
    for split in ("train", "test"):
        x, lengths, _ = load_japanese_vowels(split)
        real = np.arange(MAX_FRAMES)[None, :] < lengths[:, None]
        assert np.all(x[~real] == 0.0)
        # A real frame is never all zeros (the first coefficient is about 1).
        assert np.all(np.abs(x[real]).sum(axis=1) > 0)
    _, test_lengths, _ = load_japanese_vowels("test")
    assert test_lengths.max() == MAX_FRAMES


def test_first_frames_copied_exactly():
    # The first utterance of the training file begins with these numbers in
    # JapaneseVowels_TRAIN.ts (coefficients 1, 2 and 12 of frames 0 and 1).
    x, lengths, speakers = load_japanese_vowels("train")
    assert x[0, 0, 0] == 1.860936 and x[0, 0, 1] == -0.207383 and x[0, 0, 11] == 0.088728
    assert x[0, 1, 0] == 1.891651
    assert lengths[0] == 20 and speakers[0] == 0


def test_every_number_survives_the_round_trip():
    # Parse the shipped text independently and compare all values.
    lines = gzip.decompress(_shipped_bytes()).decode("ascii").splitlines()
    assert lines[0].split(",")[:4] == ["split", "utterance", "speaker", "frame"]
    x, _, _ = load_japanese_vowels("test")
    last = lines[-1].split(",")
    assert last[0] == "test"
    u, t = int(last[1]), int(last[3])
    assert [float(v) for v in last[4:]] == x[u, t].tolist()


def test_bad_split_raises():
    with pytest.raises(ValueError, match="split"):
        load_japanese_vowels("validation")
