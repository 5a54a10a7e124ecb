"""Tests for rnnbook.datasets: shipped files, generated tasks, vocabularies, padding."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnbook.datasets as D
from rnnbook.datasets.dates import _ordinal


def rng(seed=0):
    return np.random.default_rng(seed)


# -- shipped files and provenance ------------------------------------------------

def _provenance_digests() -> dict[str, str]:
    """Map shipped file name -> 'file SHA-256' given in PROVENANCE.md."""
    text = resources.files("rnnbook.datasets").joinpath("files", "PROVENANCE.md").read_text("utf-8")
    digests = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        name = section.splitlines()[0].strip()
        m = re.search(r"\| file SHA-256 \| `([0-9a-f]{64})` \|", section)
        assert m, f"no file digest in the PROVENANCE.md section for {name}"
        digests[name] = m.group(1)
    return digests


def test_provenance_lists_every_shipped_file():
    shipped = {p.name for p in resources.files("rnnbook.datasets").joinpath("files").iterdir()
               if p.is_file() and p.name != "PROVENANCE.md"}
    assert shipped == set(_provenance_digests())


@pytest.mark.parametrize("name", ["paradise_lost.txt", "sunspots.csv"])
def test_provenance_sha256_matches_shipped_file(name):
    blob = resources.files("rnnbook.datasets").joinpath("files", name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == _provenance_digests()[name]


def test_load_text_paradise_lost():
    text = D.load_text()
    assert text == D.load_text("paradise_lost")
    assert len(text) == 454_015
    assert "Of Mans First Disobedience, and the Fruit" in text[:100]
    assert text.rstrip().endswith("Through Eden took thir solitarie way.")
    with pytest.raises(ValueError, match="unknown text"):
        D.load_text("hamlet")


def test_load_sunspots():
    years, values = D.load_sunspots()
    assert years.dtype == np.float64 and values.dtype == np.float64
    assert years.shape == values.shape == (309,)
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    assert values[0] == 5.0 and values[-1] == 2.9
    assert values.min() == 0.0 and values.max() == 190.2
    assert years[np.argmax(values)] == 1957


# -- character vocabulary and batches ------------------------------------------

def test_char_vocab_round_trip_on_the_whole_text():
    text = D.load_text()
    vocab = D.CharVocab(text)
    assert vocab.size == len(vocab) == len(set(text)) == 65
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() == 0 and ids.max() == vocab.size - 1
    assert vocab.decode(ids) == text


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=50, deadline=None)
def test_char_vocab_round_trip_any_text(text):
    vocab = D.CharVocab(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.chars == sorted(set(text))


def test_char_vocab_errors():
    vocab = D.CharVocab("abc")
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="empty"):
        D.CharVocab("")


def test_char_batches_targets_are_next_characters():
    text = "the quick brown fox jumps over the lazy dog"
    vocab = D.CharVocab(text)
    enc = vocab.encode(text)
    batches = list(D.char_batches(enc, batch_size=5, seq_len=7, rng=rng(1), n_batches=4))
    assert len(batches) == 4
    for x, y in batches:
        assert x.shape == y.shape == (5, 7)
        assert x.dtype == y.dtype == np.int64
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
        for row_x, row_y in zip(x, y):
            window = vocab.decode(np.r_[row_x, row_y[-1]])
            assert window in text


def test_char_batches_reach_both_ends_and_are_deterministic():
    enc = np.arange(12)
    gen = D.char_batches(enc, batch_size=200, seq_len=3, rng=rng(2))
    x, y = next(gen)
    assert x[:, 0].min() == 0 and y[:, -1].max() == 11  # first and last windows occur
    x2, y2 = next(D.char_batches(enc, batch_size=200, seq_len=3, rng=rng(2)))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_char_batches_errors():
    with pytest.raises(ValueError, match="at least seq_len \\+ 1"):
        next(D.char_batches(np.arange(5), 2, 5, rng()))
    with pytest.raises(ValueError, match="Generator"):
        next(D.char_batches(np.arange(50), 2, 5, 0))
    with pytest.raises(ValueError, match="integer dtype"):
        next(D.char_batches(np.arange(50.0), 2, 5, rng()))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        next(D.char_batches(np.arange(50), 0, 5, rng()))


@pytest.mark.parametrize("N,T,drop_last", [(1, 4, True), (3, 4, True), (3, 4, False), (4, 1, True)])
def test_tbptt_batches_rows_continue_across_chunks(N, T, drop_last):
    enc = np.arange(103)
    chunks = list(D.tbptt_batches(enc, N, T, drop_last=drop_last))
    x = np.concatenate([c[0] for c in chunks], axis=1)
    y = np.concatenate([c[1] for c in chunks], axis=1)
    track = (len(enc) - 1) // N
    width = track if not drop_last else (track // T) * T
    assert x.shape == y.shape == (N, width)
    assert all(c[0].shape[1] == T for c in chunks[:-1])
    # the ids are positions, so continuity means consecutive integers along a row
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[:, 0], np.arange(N) * track)


def test_tbptt_batches_random_offset():
    enc = np.arange(100)
    starts = {next(D.tbptt_batches(enc, 2, 5, rng=rng(s)))[0][0, 0] for s in range(30)}
    assert starts <= set(range(5)) and len(starts) > 1
    with pytest.raises(ValueError, match="too short"):
        next(D.tbptt_batches(np.arange(10), 4, 5))


# -- sunspot windows ---------------------------------------------------------------

@given(L=st.integers(2, 30), input_len=st.integers(1, 10), horizon=st.integers(1, 5))
@settings(max_examples=40, deadline=None)
def test_make_windows_shapes_and_values(L, input_len, horizon):
    series = np.arange(L, dtype=np.float64) * 1.5
    if L < input_len + horizon:
        with pytest.raises(ValueError, match="at least input_len \\+ horizon"):
            D.make_windows(series, input_len, horizon)
        return
    X, Y = D.make_windows(series, input_len, horizon)
    M = L - input_len - horizon + 1
    assert X.shape == (M, input_len, 1) and Y.shape == (M, horizon)
    for m in range(M):
        np.testing.assert_array_equal(X[m, :, 0], series[m : m + input_len])
        np.testing.assert_array_equal(Y[m], series[m + input_len : m + input_len + horizon])
    X[0, 0, 0] = -1.0  # results are copies, not views of the series
    assert series[0] == 0.0


def test_make_windows_dtypes_and_errors():
    assert D.make_windows(np.arange(6, dtype=np.float32), 2)[0].dtype == np.float32
    assert D.make_windows(np.arange(6), 2)[1].dtype == np.float64
    with pytest.raises(ValueError, match="one dimension"):
        D.make_windows(np.zeros((3, 3)), 1)
    with pytest.raises(ValueError, match="input_len must be at least 1"):
        D.make_windows(np.zeros(5), 0)


# -- adding problem and copy task ---------------------------------------------------

@pytest.mark.parametrize("T", [2, 3, 10, 101])
def test_adding_problem(T):
    x, y = D.adding_problem(300, T, rng(3))
    assert x.shape == (300, T, 2) and y.shape == (300,)
    assert x.dtype == y.dtype == np.float64
    assert np.all((x[..., 0] >= 0) & (x[..., 0] < 1))
    marks = x[..., 1]
    assert set(np.unique(marks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(marks.sum(axis=1), 2)
    half = T // 2
    np.testing.assert_array_equal(marks[:, :half].sum(axis=1), 1)
    np.testing.assert_array_equal(marks[:, half:].sum(axis=1), 1)
    np.testing.assert_allclose(y, (x[..., 0] * marks).sum(axis=1), rtol=0, atol=1e-15)


def test_adding_problem_determinism_and_errors():
    a = D.adding_problem(5, 8, rng(7))
    b = D.adding_problem(5, 8, rng(7))
    c = D.adding_problem(5, 8, rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="T must be at least 2"):
        D.adding_problem(5, 1, rng())
    with pytest.raises(ValueError, match="n must be an integer"):
        D.adding_problem(5.0, 10, rng())


def test_adding_problem_constant_predictor_baseline():
    # the documented chance level: always predicting 1 gives MSE 1/6
    _, y = D.adding_problem(200_000, 10, rng(4))
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 3e-3


@given(seq_len=st.integers(1, 6), delay=st.integers(0, 5), n_symbols=st.integers(1, 8),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_copy_task_layout(seq_len, delay, n_symbols, seed):
    x, y, mask = D.copy_task(7, seq_len, delay, n_symbols, rng(seed))
    T = 2 * seq_len + delay + 1
    assert x.shape == y.shape == mask.shape == (7, T)
    assert x.dtype == y.dtype == np.int64 and mask.dtype == bool
    L, K = seq_len, delay
    symbols = x[:, :L]
    assert symbols.min() >= 1 and symbols.max() <= n_symbols
    np.testing.assert_array_equal(x[:, L : L + K], 0)
    np.testing.assert_array_equal(x[:, L + K], n_symbols + 1)
    np.testing.assert_array_equal(x[:, L + K + 1 :], 0)
    np.testing.assert_array_equal(y[:, L + K + 1 :], symbols)
    np.testing.assert_array_equal(y[:, : L + K + 1], 0)
    np.testing.assert_array_equal(mask, np.arange(T)[None, :] >= L + K + 1 + np.zeros((7, 1)))
    x2, _, _ = D.copy_task(7, seq_len, delay, n_symbols, rng(seed))
    np.testing.assert_array_equal(x, x2)


def test_copy_task_errors():
    with pytest.raises(ValueError, match="delay must be at least 0"):
        D.copy_task(2, 3, -1, 4, rng())
    with pytest.raises(ValueError, match="n_symbols must be at least 1"):
        D.copy_task(2, 3, 1, 0, rng())


# -- dates ---------------------------------------------------------------------------

_MONTHS = "january february march april may june july august september october november december"
_MONTHS = _MONTHS.split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()


def _month(name: str) -> int:
    name = name.lower()
    hits = [i + 1 for i, m in enumerate(_MONTHS) if m == name or m[:3] == name]
    assert len(hits) == 1, name
    return hits[0]


def _weekday(name: str) -> int:
    name = name.lower()
    hits = [i for i, w in enumerate(_WEEKDAYS) if w == name or w[:3] == name]
    assert len(hits) == 1, name
    return hits[0]


# An independent reader of the human formats: regular expressions with named
# groups, written from the documented examples rather than from the templates.
_WD, _MON = r"(?P<wd>[A-Za-z]+)", r"(?P<mon>[A-Za-z]+)"
_DAY, _Y4 = r"(?P<d>\d{1,2})", r"(?P<y>\d{4})"
_READERS = [
    rf"{_DAY} {_MON} {_Y4}",
    rf"{_DAY} {_MON} (?P<yy>\d{{2}})",
    rf"{_MON} {_DAY}, {_Y4}",
    rf"{_MON} {_DAY}(st|nd|rd|th), {_Y4}",
    rf"{_WD}, {_MON} {_DAY}, {_Y4}",
    rf"{_WD} {_DAY} {_MON} {_Y4}",
    rf"{_DAY}(st|nd|rd|th) of {_MON} {_Y4}",
    rf"(?P<d>\d{{2}})-{_MON}-{_Y4}",
    rf"{_Y4}\.(?P<m>\d{{2}})\.(?P<d>\d{{2}})",
]


def _read_date(text: str) -> set[dt.date]:
    """Every date some reader parses ``text`` as (should be exactly one)."""
    found = set()
    for pattern in _READERS:
        m = re.fullmatch(pattern, text)
        if not m:
            continue
        g = m.groupdict()
        if g.get("y"):
            year = int(g["y"])
        else:
            yy = int(g["yy"])
            year = 1900 + yy if yy >= 50 else 2000 + yy
        month = int(g["m"]) if g.get("m") else _month(g["mon"])
        date = dt.date(year, month, int(g["d"]))
        if g.get("wd"):
            assert date.weekday() == _weekday(g["wd"]), f"wrong weekday in {text!r}"
        if "(st|nd|rd|th)" in pattern:
            assert text.count(_ordinal(date.day)) == 1, f"wrong ordinal in {text!r}"
        found.add(date)
    return found


def test_dates_parse_back_to_iso_target():
    pairs = D.dates_dataset(3000, rng(5))
    assert len(pairs) == 3000
    seen_formats = set()
    for human, iso in pairs:
        dates = _read_date(human)
        assert len(dates) == 1, f"{human!r} reads as {dates}"
        (date,) = dates
        assert date.isoformat() == iso
        assert date == dt.datetime.strptime(iso, "%Y-%m-%d").date()
        assert dt.date(1950, 1, 1) <= date <= dt.date(2049, 12, 31)
        seen_formats.add(re.sub(r"\d", "9", re.sub(r"[A-Za-z]+", "A", human)))
    assert len(seen_formats) >= 8  # many shapes of string actually occur


def test_dates_datetime_strptime_agrees_on_four_digit_formats():
    # a second, standard-library reading for the formats strptime can express
    formats = {"d month yyyy": "%d %B %Y", "month d, yyyy": "%B %d, %Y",
               "weekday, month d, yyyy": "%A, %B %d, %Y", "wkd d mon yyyy": "%a %d %b %Y",
               "dd-mon-yyyy": "%d-%b-%Y", "yyyy.mm.dd": "%Y.%m.%d"}
    for name, pattern in formats.items():
        for human, iso in D.dates_dataset(50, rng(6), formats=[name]):
            parsed = dt.datetime.strptime(human, pattern)
            assert parsed.date().isoformat() == iso
            if "%A" in pattern or "%a" in pattern:
                assert parsed.strftime("%A")[:3] == human[:3]


def test_every_format_is_used_and_examples_match_docs():
    date = dt.date(1998, 5, 3)
    written = {name: D.format_date(date, name) for name in D.DATE_FORMATS}
    assert written["month dth, yyyy"] == "May 3rd, 1998"
    assert written["weekday d month yyyy"] == "sunday 3 may 1998"
    assert written["d mon yy"] == "3 may 98"
    assert written["yyyy.mm.dd"] == "1998.05.03"
    assert len(set(written.values())) == len(D.DATE_FORMATS)
    used = {h for h, _ in D.dates_dataset(2000, rng(9))}
    for text in written.values():  # each format's shape shows up in a large sample
        shape = re.sub(r"\d+", "9", re.sub(r"[A-Za-z]+", "A", text))
        assert any(re.sub(r"\d+", "9", re.sub(r"[A-Za-z]+", "A", h)) == shape for h in used)


@pytest.mark.parametrize("day", [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 24, 30, 31])
def test_ordinals(day):
    expected = {1: "1st", 2: "2nd", 3: "3rd", 11: "11th", 12: "12th", 13: "13th",
                21: "21st", 22: "22nd", 23: "23rd", 31: "31st"}.get(day, f"{day}th")
    assert _ordinal(day) == expected


def test_dates_determinism_and_errors():
    assert D.dates_dataset(20, rng(1)) == D.dates_dataset(20, rng(1))
    assert D.dates_dataset(20, rng(1)) != D.dates_dataset(20, rng(2))
    only = D.dates_dataset(30, rng(1), formats=["yyyy.mm.dd"])
    assert all(h == iso.replace("-", ".") for h, iso in only)
    with pytest.raises(ValueError, match="unknown date format"):
        D.dates_dataset(3, rng(), formats=["dd/mm/yy"])
    with pytest.raises(ValueError, match="formats is empty"):
        D.dates_dataset(3, rng(), formats=[])


# -- sequence vocabularies and padding ------------------------------------------------

def test_date_vocabs_cover_generated_dates_and_round_trip():
    src_vocab, tgt_vocab = D.date_vocabs()
    assert (src_vocab.PAD, src_vocab.BOS, src_vocab.EOS) == (0, 1, 2)
    assert tgt_vocab.tokens == ["<pad>", "<bos>", "<eos>", "-"] + list("0123456789")
    for human, iso in D.dates_dataset(500, rng(11)):
        assert src_vocab.decode(src_vocab.encode(human)) == human
        ids = tgt_vocab.encode(iso, bos=True, eos=True)
        assert ids[0] == tgt_vocab.BOS and ids[-1] == tgt_vocab.EOS and len(ids) == 12
        assert tgt_vocab.decode(ids) == iso


def test_seq_vocab_decode_stops_at_eos_and_skips_specials():
    v = D.SeqVocab(["abc"])
    ids = np.r_[v.BOS, v.encode("cab"), v.PAD, v.EOS, v.encode("a")]
    assert v.decode(ids) == "cab"
    assert v.size == 6
    with pytest.raises(ValueError, match="'d' is not in the vocabulary"):
        v.encode("ad")
    with pytest.raises(ValueError, match="no characters"):
        D.SeqVocab([""])


def test_pad_sequences():
    seqs = [np.array([3, 4]), np.array([], dtype=np.int64), np.array([5, 6, 7])]
    padded, lengths = D.pad_sequences(seqs, pad_value=-1)
    np.testing.assert_array_equal(padded, [[3, 4, -1], [-1, -1, -1], [5, 6, 7]])
    np.testing.assert_array_equal(lengths, [2, 0, 3])
    assert lengths.dtype == np.int64
    feats = [np.ones((2, 3)), np.ones((1, 3))]
    padded, lengths = D.pad_sequences(feats)
    assert padded.shape == (2, 2, 3) and padded.dtype == np.float64
    assert padded[1, 1].sum() == 0
    with pytest.raises(ValueError, match="trailing shape"):
        D.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="empty"):
        D.pad_sequences([])


def test_encode_pairs_teacher_forcing_layout():
    src_vocab, tgt_vocab = D.date_vocabs()
    pairs = [("3 may 98", "1998-05-03"), ("Sunday, May 3, 1998", "1998-05-03")]
    b = D.encode_pairs(pairs, src_vocab, tgt_vocab)
    assert b.src.shape == (2, 19) and list(b.src_lengths) == [8, 19]
    assert np.all(b.src[0, 8:] == src_vocab.PAD) and np.all(b.src[0, :8] != src_vocab.PAD)
    assert src_vocab.decode(b.src[0]) == "3 may 98"
    assert b.tgt_in.shape == b.tgt_out.shape == b.tgt_mask.shape == (2, 11)
    np.testing.assert_array_equal(b.tgt_in[:, 0], tgt_vocab.BOS)
    np.testing.assert_array_equal(b.tgt_in[:, 1:], b.tgt_out[:, :-1])
    np.testing.assert_array_equal(b.tgt_out[:, -1], tgt_vocab.EOS)
    assert b.tgt_mask.all()
    # targets of different lengths get PAD and a False mask after their EOS
    v = D.SeqVocab(["ab"])
    b = D.encode_pairs([("a", "ab"), ("b", "a")], v, v)
    np.testing.assert_array_equal(b.tgt_mask, [[True, True, True], [True, True, False]])
    assert b.tgt_out[1, 2] == v.PAD and b.tgt_out[1, 1] == v.EOS
