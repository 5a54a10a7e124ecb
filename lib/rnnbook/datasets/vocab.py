"""Vocabularies of tokens with padding, begin and end ids, and padded batches.

:class:`TokenVocab` is the shared base; :class:`SeqVocab` (characters, for
sequence-to-sequence models) and :class:`WordVocab` (words, for word-level
language models) say what a token is. :func:`pad_sequences` and
:func:`encode_pairs` turn encoded sequences into padded arrays.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np

from rnnbook.checks import check_ids_below, check_int, check_int_sequence, check_rng

__all__ = ['TokenVocab', 'SeqVocab', 'WordVocab', 'pad_sequences', 'Seq2SeqBatch', 'encode_pairs',
           'pair_batches']


class TokenVocab:
    """A vocabulary of the tokens of some texts, after three special tokens.

    Ids ``PAD = 0`` (filler after the end of a sequence), ``BOS = 1`` (begin
    of sequence) and ``EOS = 2`` (end of sequence) come first; the tokens
    found in the texts follow in sorted order, so the same texts always give
    the same ids. A subclass says what a token is (``_tokens_of``), how
    the specials are spelled (``SPECIALS``), which words its error messages
    use, and how ids are read back (``decode``).

    Attributes:
        tokens: list of the tokens, ``tokens[i]`` has id ``i``.
        size: number of tokens V, specials included.

    Taught in: Chapter 4, Long short-term memory.
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


class SeqVocab(TokenVocab):
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

    Taught in: Part III, Sequence to sequence.
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
        ids = check_int_sequence("ids", ids)
        check_ids_below(ids, self.size)
        out = []
        for i in ids.tolist():
            if i == self.EOS:
                break
            if i >= len(self.SPECIALS):
                out.append(self.tokens[i])
        return "".join(out)




class WordVocab(TokenVocab):
    """A word vocabulary with padding, start and end tokens.

    Ids ``PAD = 0`` (filler after the end of a sentence), ``BOS = 1`` (the
    first input of every sentence, so that the first word is predicted too)
    and ``EOS = 2`` (the last target: "the sentence ends here") come first;
    the words of the sentences follow in sorted order, so the same sentences
    always give the same ids.

    Args:
        sentences: strings of words separated by whitespace (or one string).

    Attributes:
        tokens: list of the tokens; ``tokens[i]`` has id ``i``. The special
            ones are written ``"<pad>"``, ``"<s>"``, ``"</s>"``.
        size: number of tokens V, specials included.

    Taught in: Chapter 4, Long short-term memory.
    """

    SPECIALS = ("<pad>", "<s>", "</s>")
    _ARGUMENT, _TOKEN, _TOKENS = "sentences", "word", "words"
    _ENCODES_SPECIALS = True

    def __init__(self, sentences: Iterable[str] | str):
        super().__init__(sentences)

    def _tokens_of(self, text):
        return text.split()

    def __contains__(self, word) -> bool:
        return word in self._index

    def index(self, word: str) -> int:
        """The id of one word (or special token)."""
        return self._id(word)

    def encode(self, sentence: str, bos: bool = False, eos: bool = False) -> np.ndarray:
        """Ids of the words of ``sentence``, optionally with BOS before and EOS after.

        Returns:
            int64 array (L + bos + eos,), where L is the number of words.
        """
        return self._encode(sentence, bos, eos)

    def decode(self, ids) -> str:
        """Words for the ids (int array-like (L,)), joined by spaces; PAD is skipped."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"ids must be a 1-D integer sequence, got shape {ids.shape} "
                             f"and dtype {ids.dtype}")
        check_ids_below(ids, self.size)
        return " ".join(self.tokens[i] for i in ids.tolist() if i != self.PAD)

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

    Taught in: Part III, Sequence to sequence.
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

    Taught in: Part III, Sequence to sequence.
    """

    # The fields are documented where they are declared (``#:``), which the
    # API page shows as one entry each; an Attributes: section would repeat them.
    #: int64 (N, S), source ids, PAD after each length.
    src: np.ndarray
    #: int64 (N,), real source lengths.
    src_lengths: np.ndarray
    #: int64 (N, U+1), BOS followed by the target, then PAD.
    tgt_in: np.ndarray
    #: int64 (N, U+1), the target followed by EOS, then PAD.
    tgt_out: np.ndarray
    #: bool (N, U+1), True where ``tgt_out`` is a real token (EOS included).
    tgt_mask: np.ndarray


def encode_pairs(pairs, src_vocab: SeqVocab, tgt_vocab: SeqVocab) -> Seq2SeqBatch:
    """Encode (source, target) string pairs into padded id arrays.

    Args:
        pairs: list of (source string, target string), e.g. from
            :func:`~rnnbook.datasets.dates.dates_dataset`.
        src_vocab: vocabulary of the sources, e.g. from
            :func:`~rnnbook.datasets.dates.date_vocabs`.
        tgt_vocab: vocabulary of the targets.

    Returns:
        batch: a :class:`Seq2SeqBatch` ``(src, src_lengths, tgt_in, tgt_out, tgt_mask)``.

    Taught in: Part III, Sequence to sequence.
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


def pair_batches(pairs, src_vocab: SeqVocab, tgt_vocab: SeqVocab, batch: int, rng):
    """A source of random training minibatches of (source, target) pairs.

    The result is what :func:`rnnbook.train.loop.train` takes as
    ``batches``: a function of no arguments, returning a fresh batch at
    every call. Each batch draws ``batch`` pairs uniformly, with
    replacement, from ``pairs``, and encodes them with :func:`encode_pairs`.

    Args:
        pairs: list of (source string, target string), e.g. from
            :func:`~rnnbook.datasets.dates.dates_dataset`.
        src_vocab: vocabulary of the sources.
        tgt_vocab: vocabulary of the targets.
        batch: int >= 1, pairs per batch.
        rng: numpy Generator, the only source of randomness.

    Returns:
        next_batch: function of no arguments returning a :class:`Seq2SeqBatch`.

    Taught in: Chapter 7, Sequence to sequence.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty")
    batch = check_int("batch", batch, 1)
    rng = check_rng(rng)
    encode_pairs(pairs[:1], src_vocab, tgt_vocab)  # bad pairs or vocabularies fail here

    def next_batch() -> Seq2SeqBatch:
        idx = rng.integers(0, len(pairs), batch)
        return encode_pairs([pairs[i] for i in idx], src_vocab, tgt_vocab)

    return next_batch
