"""Data sets for the book: two real ones that ship with the package, and
generated tasks.

Real data (see ``rnnbook/data/PROVENANCE.md`` for sources and licences):

- ``load_text("paradise_lost")``: Milton's *Paradise Lost*, for the
  character-level language model, with :class:`CharVocab`,
  :func:`char_batches` (random windows) and :func:`tbptt_batches`
  (contiguous chunks for truncated backpropagation through time).
- :func:`load_sunspots`: yearly sunspot numbers 1700-2008, for forecasting,
  with :func:`make_windows`.

Generated tasks (every random choice comes from the ``numpy.random.Generator``
passed as ``rng``; the module keeps no random state of its own, so the same
seed always gives the same data):

- :func:`adding_problem` and :func:`copy_task`, the classic long-range
  memory tests.
- :func:`dates_dataset`: human-written dates and their ISO form, the toy
  translation task of the sequence-to-sequence chapters, with
  :class:`SeqVocab`, :func:`date_vocabs`, :func:`encode_pairs` and
  :func:`pad_sequences`.
"""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from typing import Iterable, Iterator, NamedTuple

import numpy as np

__all__ = [
    "load_text", "CharVocab", "char_batches", "tbptt_batches",
    "load_sunspots", "make_windows",
    "adding_problem", "copy_task",
    "DATE_FORMATS", "format_date", "dates_dataset", "SeqVocab", "date_vocabs",
    "Seq2SeqBatch", "encode_pairs", "pad_sequences",
]

_TEXTS = {"paradise_lost": "paradise_lost.txt"}


# -- argument checks -----------------------------------------------------------

def _int_arg(name: str, value, minimum: int) -> int:
    """Return ``value`` as an int, or raise when it is not an integer >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(0); "
            f"got {type(rng).__name__}"
        )
    return rng


def _int_sequence(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape} but needs one dimension (L,)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} has dtype {arr.dtype} but needs an integer dtype")
    return arr


def _check_ids_below(ids: np.ndarray, size: int) -> None:
    """Raise when an id of the array ``ids`` lies outside ``[0, size)``."""
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        raise ValueError(f"ids must lie in [0, {size}), got values in "
                         f"[{ids.min()}, {ids.max()}]")


def _data_file(filename: str):
    return resources.files("rnnbook").joinpath("data", filename)


# -- text ------------------------------------------------------------------------

def load_text(name: str = "paradise_lost") -> str:
    """Return a shipped text as one string.

    Args:
        name: which text; only ``"paradise_lost"`` (Milton's poem, about
            454 000 characters, ten books, seventeenth-century spelling).

    Returns:
        text: the whole file, newlines included, exactly as shipped.
    """
    if name not in _TEXTS:
        raise ValueError(f"unknown text {name!r}; available: {sorted(_TEXTS)}")
    return _data_file(_TEXTS[name]).read_text(encoding="utf-8")


class CharVocab:
    """A character vocabulary: every distinct character of a text gets an id.

    Ids are given in sorted character order, so the same text always gives
    the same vocabulary.

    >>> v = CharVocab("hello")
    >>> v.size, v.decode(v.encode("hole"))
    (4, 'hole')

    Attributes:
        chars: list of the characters, ``chars[i]`` has id ``i``.
        size: number of characters V.
    """

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text is empty; a vocabulary needs at least one character")
        self.chars: list[str] = sorted(set(text))
        self._index = {c: i for i, c in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"CharVocab(size={self.size})"

    def encode(self, text: str) -> np.ndarray:
        """Map a string to its ids, an int64 array of shape (len(text),)."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        """Map a sequence of ids (any integer array-like, shape (L,)) back to a string."""
        ids = _int_sequence("ids", ids)
        _check_ids_below(ids, self.size)
        return "".join(self.chars[i] for i in ids.tolist())


def char_batches(encoded, batch_size: int, seq_len: int, rng,
                 n_batches: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield batches of random windows of an encoded text, for next-character prediction.

    Each row is a window of ``seq_len + 1`` consecutive ids starting at a
    uniformly random position; ``x`` is the window without its last id and
    ``y`` the window without its first, so ``y[n, t]`` is the character that
    follows ``x[n, t]``. Windows are independent, so a model trained on these
    batches starts every window from a fresh hidden state (compare
    :func:`tbptt_batches`).

    Args:
        encoded: int array (L,), e.g. ``CharVocab(text).encode(text)``;
            L >= seq_len + 1.
        batch_size: N, windows per batch.
        seq_len: T, steps per window.
        rng: numpy Generator that picks the window starts.
        n_batches: how many batches to yield; ``None`` (default) yields
            forever, so take what you need (``next(gen)`` or ``zip(range(k),
            gen)``).

    Yields:
        x: int64 array (N, T), inputs.
        y: int64 array (N, T), targets, ``x`` shifted left by one.
    """
    encoded = _int_sequence("encoded", encoded)
    N = _int_arg("batch_size", batch_size, 1)
    T = _int_arg("seq_len", seq_len, 1)
    rng = _check_rng(rng)
    if n_batches is not None:
        n_batches = _int_arg("n_batches", n_batches, 0)
    L = encoded.shape[0]
    if L < T + 1:
        raise ValueError(f"encoded has length {L} but needs at least seq_len + 1 = {T + 1}")
    encoded = encoded.astype(np.int64, copy=False)
    offsets = np.arange(T + 1)
    produced = 0
    while n_batches is None or produced < n_batches:
        # the last valid start is L - T - 1, so that the target window still fits
        starts = rng.integers(0, L - T, size=N)
        windows = encoded[starts[:, None] + offsets]
        yield windows[:, :-1], windows[:, 1:]
        produced += 1


def tbptt_batches(encoded, batch_size: int, seq_len: int, rng=None,
                  drop_last: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield contiguous chunks of an encoded text for truncated BPTT.

    The text is cut into ``batch_size`` equal tracks laid side by side (track
    ``n`` is the n-th slice of the text), and the tracks are walked together
    in chunks of ``seq_len`` steps. Row ``n`` of one chunk continues exactly
    where row ``n`` of the previous chunk stopped, so the final hidden state
    of one chunk is the right initial state for the next: gradients are cut
    at chunk boundaries, the memory is not. One pass over the generator is
    one epoch.

    Args:
        encoded: int array (L,), the whole text.
        batch_size: N, number of parallel tracks.
        seq_len: T, steps per chunk (the truncation length).
        rng: optional numpy Generator. If given, the text is entered at a
            random offset in [0, T) so that chunk boundaries move from one
            epoch to the next; ``None`` starts at offset 0.
        drop_last: skip a final chunk shorter than T (default). With
            ``False`` the last chunk may have fewer than T columns.

    Yields:
        x: int64 array (N, T), inputs, ``x[n, t] = text[start_n + k*T + t]``
            for the k-th chunk.
        y: int64 array (N, T), the next character of each input.
    """
    encoded = _int_sequence("encoded", encoded).astype(np.int64, copy=False)
    N = _int_arg("batch_size", batch_size, 1)
    T = _int_arg("seq_len", seq_len, 1)
    offset = 0 if rng is None else int(_check_rng(rng).integers(0, T))
    stream = encoded[offset:]
    track_len = (stream.shape[0] - 1) // N
    if track_len < 1 or (drop_last and track_len < T):
        raise ValueError(
            f"encoded has length {encoded.shape[0]}, too short for {N} tracks of at least "
            f"{T if drop_last else 1} steps"
        )
    xs = stream[: N * track_len].reshape(N, track_len)
    ys = stream[1 : N * track_len + 1].reshape(N, track_len)
    for s in range(0, track_len, T):
        if drop_last and s + T > track_len:
            break
        yield xs[:, s : s + T], ys[:, s : s + T]


# -- sunspots --------------------------------------------------------------------

def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Return the yearly sunspot numbers 1700-2008.

    Returns:
        years: float64 array (309,), 1700.0, 1701.0, ..., 2008.0.
        values: float64 array (309,), the yearly mean sunspot number (the
            series as published before the 2015 recalibration; between 0
            and 190.2).
    """
    with _data_file("sunspots.csv").open("r", encoding="utf-8") as fh:
        table = np.loadtxt(fh, delimiter=",", skiprows=1, dtype=np.float64)
    return table[:, 0].copy(), table[:, 1].copy()


def make_windows(series, input_len: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (past window, future values) pairs for forecasting.

    Pair ``m`` uses ``series[m : m + input_len]`` as input and the next
    ``horizon`` values ``series[m + input_len : m + input_len + horizon]`` as
    target. Every possible start is used, so neighbouring pairs overlap;
    split train and test by time *before* windowing to keep them apart.

    Args:
        series: real array (L,). float32 stays float32; anything else becomes
            float64.
        input_len: number of past values per input, >= 1.
        horizon: number of future values per target, >= 1.

    Returns:
        X: array (M, input_len, 1), M = L - input_len - horizon + 1; the
            trailing axis is the feature axis D = 1 the recurrent layers expect.
        Y: array (M, horizon).
    """
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"series has shape {series.shape} but needs one dimension (L,)")
    if not (np.issubdtype(series.dtype, np.floating) or np.issubdtype(series.dtype, np.integer)):
        raise ValueError(f"series has dtype {series.dtype} but needs a real dtype")
    input_len = _int_arg("input_len", input_len, 1)
    horizon = _int_arg("horizon", horizon, 1)
    L = series.shape[0]
    if L < input_len + horizon:
        raise ValueError(
            f"series has length {L} but needs at least input_len + horizon = {input_len + horizon}"
        )
    dtype = np.float32 if series.dtype == np.float32 else np.float64
    series = series.astype(dtype, copy=False)
    M = L - input_len - horizon + 1
    windows = np.lib.stride_tricks.sliding_window_view(series, input_len + horizon)[:M]
    X = windows[:, :input_len].copy()[:, :, None]
    Y = windows[:, input_len:].copy()
    return X, Y


# -- long-range memory tasks -----------------------------------------------------

def adding_problem(n: int, T: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997), in its common modern form.

    Each sequence has T steps with two input channels. Channel 0 holds
    numbers drawn uniformly from [0, 1]. Channel 1 is 0 everywhere except at
    exactly two positions, where it is 1: one position is drawn uniformly
    from the first half, ``[0, T // 2)``, the other uniformly from the second
    half, ``[T // 2, T)``. The target is the sum of the two marked numbers.
    The gap between the marks is therefore about T / 2 on average and at
    least 1, so the network must remember a number across many steps.

    A model that ignores the input and always predicts 1 (the mean of the
    target) reaches a mean squared error of Var(U1 + U2) = 2/12 = 1/6; beating
    that clearly is the sign that the marked values were remembered.

    (The 1997 paper drew values from [-1, 1], put the first mark among the
    first ten steps and scaled the target; the [0, 1] version with one mark in
    each half is the one most later papers use.)

    Args:
        n: number of sequences, >= 1.
        T: sequence length, >= 2.
        rng: numpy Generator.

    Returns:
        x: float64 array (n, T, 2).
        y: float64 array (n,), in [0, 2].
    """
    n = _int_arg("n", n, 1)
    T = _int_arg("T", T, 2)
    rng = _check_rng(rng)
    half = T // 2
    values = rng.uniform(0.0, 1.0, size=(n, T))
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    marks = np.zeros((n, T))
    rows = np.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([values, marks], axis=-1)
    y = values[rows, first] + values[rows, second]
    return x, y


def copy_task(n: int, seq_len: int, delay: int, n_symbols: int,
              rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The copy task: read a string of symbols, wait, then write it back.

    Token ids: ``0`` is the blank, ``1 .. n_symbols`` are the data symbols,
    ``n_symbols + 1`` is the delimiter that says "start writing now"; so the
    vocabulary has ``n_symbols + 2`` entries. With L = seq_len and
    K = delay, every sequence has T = 2 L + K + 1 steps laid out as::

        step:   0 .. L-1   L .. L+K-1   L+K         L+K+1 .. 2L+K
        x:      s_1..s_L   blanks       delimiter   blanks
        y:      blanks     blanks       blank       s_1..s_L
        mask:   False      False        False       True

    The symbols are drawn uniformly (with repetition) from ``1 .. n_symbols``.
    The loss belongs only where ``mask`` is True: the output region, whose
    distance from the matching input is L + K + 1 steps. A model that has
    memorised nothing can only guess there, with cross-entropy
    ``log(n_symbols)`` per step.

    Args:
        n: number of sequences, >= 1.
        seq_len: L, symbols to copy, >= 1.
        delay: K, blank steps between the symbols and the delimiter, >= 0.
        n_symbols: size of the symbol alphabet, >= 1.
        rng: numpy Generator.

    Returns:
        x: int64 array (n, T), inputs.
        y: int64 array (n, T), targets (blank outside the output region).
        mask: bool array (n, T), True on the output region.
    """
    n = _int_arg("n", n, 1)
    L = _int_arg("seq_len", seq_len, 1)
    K = _int_arg("delay", delay, 0)
    S = _int_arg("n_symbols", n_symbols, 1)
    rng = _check_rng(rng)
    T = 2 * L + K + 1
    symbols = rng.integers(1, S + 1, size=(n, L))
    x = np.zeros((n, T), dtype=np.int64)
    y = np.zeros((n, T), dtype=np.int64)
    x[:, :L] = symbols
    x[:, L + K] = S + 1
    y[:, L + K + 1 :] = symbols
    mask = np.zeros((n, T), dtype=bool)
    mask[:, L + K + 1 :] = True
    return x, y, mask


# -- dates: a toy translation task -------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Dates are drawn from this range. Two-digit years are then unambiguous:
# 50..99 mean 1950..1999 and 00..49 mean 2000..2049.
_FIRST_DAY = _dt.date(1950, 1, 1)
_LAST_DAY = _dt.date(2049, 12, 31)


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _parts(d: _dt.date) -> dict:
    month = _MONTHS[d.month - 1]
    weekday = _WEEKDAYS[d.weekday()]
    return dict(d=d.day, dd=f"{d.day:02d}", mm=f"{d.month:02d}", yyyy=f"{d.year:04d}",
                yy=f"{d.year % 100:02d}", month=month, mon=month[:3], weekday=weekday,
                wkd=weekday[:3], th=_ordinal(d.day))


# Each format is written with its own English names, not with strftime, so
# the output does not depend on the machine's locale.
DATE_FORMATS: dict[str, str] = {
    "d month yyyy":           "{d} {month} {yyyy}",                 # 3 May 1998
    "d mon yy":               "{d} {mon_l} {yy}",                   # 3 may 98
    "month d, yyyy":          "{month} {d}, {yyyy}",                # May 3, 1998
    "month dth, yyyy":        "{month} {th}, {yyyy}",               # May 3rd, 1998
    "weekday, month d, yyyy": "{weekday}, {month} {d}, {yyyy}",     # Sunday, May 3, 1998
    "weekday d month yyyy":   "{weekday_l} {d} {month_l} {yyyy}",   # sunday 3 may 1998
    "wkd d mon yyyy":         "{wkd} {d} {mon} {yyyy}",             # Sun 3 May 1998
    "d MONTH yyyy":           "{d} {month_u} {yyyy}",               # 3 MAY 1998
    "dth of month yyyy":      "{th} of {month} {yyyy}",             # 3rd of May 1998
    "dd-mon-yyyy":            "{dd}-{mon}-{yyyy}",                   # 03-May-1998
    "yyyy.mm.dd":             "{yyyy}.{mm}.{dd}",                   # 1998.05.03
}
"""The human-written formats of :func:`dates_dataset`: name -> template.

Every format names the month with letters or puts the four-digit year
first, so no string can be read as two different dates (there is no
"03/05/98"). Placeholders: ``d`` day without padding, ``dd`` day with two
digits, ``th`` day as an ordinal (1st, 2nd, 3rd, 4th, ...), ``mm`` month
number, ``month``/``mon`` full/three-letter month name, ``weekday``/``wkd``
full/three-letter weekday name, ``yyyy``/``yy`` four/two-digit year; a
suffix ``_l`` means lower case and ``_u`` upper case.
"""


def format_date(date: _dt.date, fmt: str) -> str:
    """Write ``date`` in one of the :data:`DATE_FORMATS` (given by name)."""
    if fmt not in DATE_FORMATS:
        raise ValueError(f"unknown date format {fmt!r}; available: {list(DATE_FORMATS)}")
    p = _parts(date)
    fields = dict(p)
    for key in ("month", "mon", "weekday", "wkd"):
        fields[key + "_l"] = p[key].lower()
        fields[key + "_u"] = p[key].upper()
    return DATE_FORMATS[fmt].format(**fields)


def dates_dataset(n: int, rng, formats: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Generate (human-written date, ISO date) pairs.

    Each date is drawn uniformly from 1 January 1950 to 31 December 2049
    and written in a format drawn uniformly from ``formats``; the target is
    its ISO 8601 form ``YYYY-MM-DD``. Weekday names are the true weekday of
    the date. Two-digit years (format ``"d mon yy"``) are unambiguous within
    the range: 50-99 stand for 1950-1999, 00-49 for 2000-2049.

    Args:
        n: number of pairs, >= 1.
        rng: numpy Generator.
        formats: names from :data:`DATE_FORMATS` to draw from; ``None`` means
            all of them.

    Returns:
        pairs: list of n tuples ``(source, target)``, e.g.
            ``("Sunday, May 3, 1998", "1998-05-03")``.
    """
    n = _int_arg("n", n, 1)
    rng = _check_rng(rng)
    names = list(DATE_FORMATS) if formats is None else list(formats)
    if not names:
        raise ValueError("formats is empty; give at least one name from DATE_FORMATS")
    for name in names:
        if name not in DATE_FORMATS:
            raise ValueError(f"unknown date format {name!r}; available: {list(DATE_FORMATS)}")
    first, last = _FIRST_DAY.toordinal(), _LAST_DAY.toordinal()
    days = rng.integers(first, last + 1, size=n)
    which = rng.integers(0, len(names), size=n)
    pairs = []
    for day, k in zip(days.tolist(), which.tolist()):
        date = _dt.date.fromordinal(day)
        pairs.append((format_date(date, names[k]), date.isoformat()))
    return pairs


class _TokenVocab:
    """A vocabulary of the tokens of some texts, after three special tokens.

    Ids ``PAD = 0`` (filler after the end of a sequence), ``BOS = 1`` (begin
    of sequence) and ``EOS = 2`` (end of sequence) come first; the tokens
    found in the texts follow in sorted order, so the same texts always give
    the same ids. A subclass says what a token is (:meth:`_tokens_of`), how
    the specials are spelled (``SPECIALS``), which words its error messages
    use, and how ids are read back (``decode``).

    Attributes:
        tokens: list of the tokens, ``tokens[i]`` has id ``i``.
        size: number of tokens V, specials included.
    """

    PAD = 0
    BOS = 1
    EOS = 2
    SPECIALS: tuple[str, str, str]
    # Words of the error messages: the constructor's argument, one token, several.
    _ARGUMENT, _TOKEN, _TOKENS = "texts", "token", "tokens"
    # Whether encode() maps the spelling of a special token to its id.
    _ENCODES_SPECIALS = False

    def __init__(self, texts: Iterable[str] | str):
        if isinstance(texts, str):
            texts = [texts]
        found: set[str] = set()
        for t in texts:
            if not isinstance(t, str):
                raise ValueError(f"{self._ARGUMENT} must contain strings, got {type(t).__name__}")
            found.update(self._tokens_of(t))
        clash = found.intersection(self.SPECIALS)
        if clash:
            raise ValueError(f"the {self._ARGUMENT} contain the reserved token(s) {sorted(clash)}")
        if not found:
            raise ValueError(f"{self._ARGUMENT} contain no {self._TOKENS}")
        self.tokens: list[str] = list(self.SPECIALS) + sorted(found)
        first = 0 if self._ENCODES_SPECIALS else len(self.SPECIALS)
        self._index = {tok: i for i, tok in enumerate(self.tokens) if i >= first}

    def _tokens_of(self, text):
        """The tokens of one text, in order."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"

    def _id(self, token) -> int:
        try:
            return self._index[token]
        except KeyError:
            raise ValueError(f"{self._TOKEN} {token!r} is not in the vocabulary") from None

    def _encode(self, text, bos: bool, eos: bool) -> np.ndarray:
        # The subclasses' ``encode`` methods call this; they exist to give the
        # library reference a docstring in their own terms.
        ids = [self._id(tok) for tok in self._tokens_of(text)]
        return np.array(([self.BOS] if bos else []) + ids + ([self.EOS] if eos else []),
                        dtype=np.int64)


class SeqVocab(_TokenVocab):
    """A character vocabulary with the three special tokens of sequence models.

    Ids ``PAD = 0`` (filler after the end of a sequence), ``BOS = 1`` (begin
    of sequence: the decoder's first input) and ``EOS = 2`` (end of
    sequence: the decoder's last target) come first; the characters follow in
    sorted order.

    Args:
        texts: strings (or one string) whose characters form the vocabulary.

    Attributes:
        tokens: list of the tokens, ``tokens[i]`` has id ``i``; the special
            ones are written ``"<pad>"``, ``"<bos>"``, ``"<eos>"``.
        size: number of tokens V, specials included.
    """

    SPECIALS = ("<pad>", "<bos>", "<eos>")
    _ARGUMENT, _TOKEN, _TOKENS = "texts", "character", "characters"

    def _tokens_of(self, text):
        return text

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> np.ndarray:
        """Ids of ``text``, optionally with BOS in front and EOS at the end.

        Returns an int64 array of shape (len(text) + bos + eos,).
        """
        return self._encode(text, bos, eos)

    def decode(self, ids) -> str:
        """Turn ids (int array-like, shape (L,)) back into a string.

        Reading stops at the first EOS; PAD and BOS are skipped. This is
        what a decoder's output needs: everything after EOS is noise.
        """
        ids = _int_sequence("ids", ids)
        _check_ids_below(ids, self.size)
        out = []
        for i in ids.tolist():
            if i == self.EOS:
                break
            if i >= len(self.SPECIALS):
                out.append(self.tokens[i])
        return "".join(out)


def date_vocabs() -> tuple[SeqVocab, SeqVocab]:
    """Source and target vocabularies that cover every string :func:`dates_dataset` can make.

    Built from all formats applied to every day of a leap year (which shows
    every month and weekday name) plus all digits, so an unseen test date
    never meets an unknown character.

    Returns:
        src_vocab: SeqVocab over letters, digits, space, comma, dot and hyphen.
        tgt_vocab: SeqVocab over the digits and ``-`` of ISO dates.
    """
    start = _dt.date(2000, 1, 1).toordinal()
    texts = ["0123456789"]
    for day in range(start, start + 366):
        date = _dt.date.fromordinal(day)
        texts.extend(format_date(date, fmt) for fmt in DATE_FORMATS)
    return SeqVocab(texts), SeqVocab(["0123456789-"])


def pad_sequences(seqs, pad_value=0) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences of different lengths into one padded array.

    Args:
        seqs: list of arrays, the i-th of shape (T_i, ...) with the same
            trailing shape for all (1-D id sequences are the usual case;
            T_i = 0 is allowed).
        pad_value: value written after the end of each sequence.

    Returns:
        padded: array (N, Tmax, ...), dtype shared by the inputs;
            ``padded[i, :T_i] = seqs[i]``, the rest is ``pad_value``.
        lengths: int64 array (N,), the T_i.
    """
    arrays = [np.asarray(s) for s in seqs]
    if not arrays:
        raise ValueError("seqs is empty; pad_sequences needs at least one sequence")
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"seqs[{i}] is a scalar but needs at least one dimension (T_i, ...)")
        if a.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"seqs[{i}] has shape {a.shape} but its trailing shape must match "
                f"seqs[0]'s {arrays[0].shape[1:]}"
            )
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    dtype = np.result_type(*arrays)
    shape = (len(arrays), int(lengths.max())) + arrays[0].shape[1:]
    padded = np.full(shape, pad_value, dtype=dtype)
    for i, a in enumerate(arrays):
        padded[i, : a.shape[0]] = a
    return padded, lengths


class Seq2SeqBatch(NamedTuple):
    """Padded arrays for a sequence-to-sequence model (teacher forcing).

    For target ids ``y_1..y_U`` the decoder reads ``BOS y_1 .. y_U`` and must
    predict ``y_1 .. y_U EOS``: ``tgt_in`` is ``tgt_out`` shifted right by one.
    """

    src: np.ndarray          #: int64 (N, S), source ids, PAD after each length
    src_lengths: np.ndarray  #: int64 (N,), real source lengths
    tgt_in: np.ndarray       #: int64 (N, U+1), BOS followed by the target, then PAD
    tgt_out: np.ndarray      #: int64 (N, U+1), the target followed by EOS, then PAD
    tgt_mask: np.ndarray     #: bool (N, U+1), True where tgt_out is a real token (EOS included)


def encode_pairs(pairs, src_vocab: SeqVocab, tgt_vocab: SeqVocab) -> Seq2SeqBatch:
    """Encode (source, target) string pairs into padded id arrays.

    Args:
        pairs: list of (source string, target string), e.g. from
            :func:`dates_dataset`.
        src_vocab, tgt_vocab: vocabularies, e.g. from :func:`date_vocabs`.

    Returns:
        A :class:`Seq2SeqBatch` ``(src, src_lengths, tgt_in, tgt_out, tgt_mask)``.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty")
    for i, p in enumerate(pairs):
        if not (isinstance(p, tuple | list) and len(p) == 2):
            raise ValueError(f"pairs[{i}] must be a (source, target) pair, got {p!r}")
    if not isinstance(src_vocab, SeqVocab) or not isinstance(tgt_vocab, SeqVocab):
        raise ValueError("src_vocab and tgt_vocab must be SeqVocab instances")
    src, src_lengths = pad_sequences([src_vocab.encode(s) for s, _ in pairs], SeqVocab.PAD)
    tgt_in, _ = pad_sequences([tgt_vocab.encode(t, bos=True) for _, t in pairs], SeqVocab.PAD)
    tgt_out, out_lengths = pad_sequences([tgt_vocab.encode(t, eos=True) for _, t in pairs],
                                         SeqVocab.PAD)
    tgt_mask = np.arange(tgt_out.shape[1])[None, :] < out_lengths[:, None]
    return Seq2SeqBatch(src, src_lengths, tgt_in, tgt_out, tgt_mask)
