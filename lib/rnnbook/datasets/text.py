"""Milton's *Paradise Lost* for the character-level language model.

:func:`load_text` reads the shipped text (see ``files/PROVENANCE.md``),
:class:`CharVocab` maps characters to ids, :func:`char_batches` draws random
windows and :func:`tbptt_batches` cuts contiguous chunks for truncated
backpropagation through time.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from rnnbook.checks import check_ids_below, check_int, check_int_sequence, check_rng
from rnnbook.datasets.shipped import shipped_file

__all__ = ['load_text', 'CharVocab', 'char_batches', 'tbptt_batches']


_TEXTS = {"paradise_lost": "paradise_lost.txt"}


# -- text ------------------------------------------------------------------------

def load_text(name: str = "paradise_lost") -> str:
    """Return a shipped text as one string.

    Args:
        name: which text; only ``"paradise_lost"`` (Milton's poem, about
            454 000 characters, ten books, seventeenth-century spelling).

    Returns:
        text: the whole file, newlines included, exactly as shipped.

    Taught in: Chapter 2, Backpropagation through time.
    """
    if name not in _TEXTS:
        raise ValueError(f"unknown text {name!r}; available: {sorted(_TEXTS)}")
    return shipped_file(_TEXTS[name]).read_text(encoding="utf-8")


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

    Taught in: Chapter 2, Backpropagation through time.
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
        ids = check_int_sequence("ids", ids)
        check_ids_below(ids, self.size)
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

    Taught in: Chapter 2, Backpropagation through time.
    """
    encoded = check_int_sequence("encoded", encoded)
    N = check_int("batch_size", batch_size, 1)
    T = check_int("seq_len", seq_len, 1)
    rng = check_rng(rng)
    if n_batches is not None:
        n_batches = check_int("n_batches", n_batches, 0)
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

    Taught in: Chapter 2, Backpropagation through time.
    """
    encoded = check_int_sequence("encoded", encoded).astype(np.int64, copy=False)
    N = check_int("batch_size", batch_size, 1)
    T = check_int("seq_len", seq_len, 1)
    offset = 0 if rng is None else int(check_rng(rng).integers(0, T))
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
