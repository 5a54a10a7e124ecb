"""Tiny text corpora written for the book, and a word-level vocabulary.

The chapters on gated cells need a language task small enough to train in
seconds and simple enough that every prediction can be read and checked by
hand. :func:`colour_corpus` is such a task: a few dozen short sentences that
tell which colour things have ("the color of a banana is yellow"). The word
that completes a sentence is never decided by the word right before it,
which is nearly always "is"; a model has to remember the object named a few
words earlier. The sentences were written for this book and are part of its
source.

:class:`~rnnbook.datasets.vocab.WordVocab` turns sentences into integer ids, and
:func:`encode_sentences` packs them into the padded input, target and mask
arrays of next-word prediction::

    vocab = WordVocab(colour_corpus())
    inputs, targets, mask = encode_sentences(colour_corpus(), vocab)
    # inputs  (N, T): <s> w_1 ... w_L, then <pad>
    # targets (N, T): w_1 ... w_L </s>, then <pad>
    # mask    (N, T): True where targets holds a real word (or </s>)
"""

from __future__ import annotations

import numpy as np

from rnnbook.datasets.vocab import WordVocab

__all__ = ["colour_corpus", "clause_corpus", "CLAUSE_OBJECTS", "CLAUSE_FILLERS",
           "encode_sentences"]

# One fact per line, each object with one colour throughout. Colours follow
# "is" in most sentences, and green does so most often, so that the word
# before a colour says little and the most common guess is usually wrong.
_COLOUR_SENTENCES = """\
the color of an apple is red
the color of a banana is yellow
the color of a lemon is yellow
the color of a cherry is red
the color of a strawberry is red
the color of a tomato is red
the color of a lime is green
the color of a leaf is green
the color of a cucumber is green
the color of a frog is green
the color of a plum is purple
the color of a grape is purple
the color of a carrot is orange
the color of a pumpkin is orange
the color of the sky is blue
the color of the sea is blue
the color of snow is white
the color of milk is white
the color of coal is black
the color of chocolate is brown
the color of grass is green
an apple is red
a banana is yellow
a lime is green
a cucumber is green
a plum is purple
a cherry is red
a carrot is orange
a leaf is green
the sky is blue
snow is white
coal is black
grass is green
the apple on the table is red
the banana on the table is yellow
the grape on the plate is purple
the lemon in the bowl is yellow
the pumpkin in the garden is orange
the leaf on the tree is green
the frog in the pond is green
the milk in the glass is white
the chocolate in the box is brown
i ate a red apple
i ate a yellow banana
she picked a red strawberry
he bought a purple plum
we saw a green frog
my apple is red and my lime is green
my banana is yellow and my plum is purple
a ripe tomato is red
a ripe lemon is yellow
a ripe apple is red
every cherry is red
every carrot is orange
every cucumber is green
"""


def colour_corpus() -> list[str]:
    """The book's corpus of sentences about the colours of fruits and things.

    Every sentence is lower case, its words separated by single spaces,
    without punctuation. Each object keeps one colour in every sentence that
    mentions it, so a sentence such as "the color of a lime is ..." has
    exactly one right completion.

    Returns:
        list of str, a fresh list on every call (a few dozen sentences).

    Taught in: Chapter 4, Long short-term memory.
    """
    return _COLOUR_SENTENCES.splitlines()


#: Objects of :func:`clause_corpus` and their colours; five colours in all,
#: the three most common on a quarter of the objects each.
CLAUSE_OBJECTS = {"apple": "red", "cherry": "red", "banana": "yellow",
                  "lemon": "yellow", "plum": "purple", "grape": "purple",
                  "lime": "green", "carrot": "orange"}

#: Words the relative clauses of :func:`clause_corpus` are drawn from; none
#: of them is a colour or an object.
CLAUSE_FILLERS = tuple("my friend bought at the market near our old house on monday "
                       "with her little brother after school".split())


def clause_corpus(n: int, max_clause: int, rng, clause_len: int | None = None) -> list[str]:
    """Sentences whose colour word is far from the object that decides it.

    Each sentence reads "the OBJECT that W_1 ... W_k is COLOUR": the object
    is drawn uniformly from :data:`CLAUSE_OBJECTS`, the k clause words
    uniformly (with repetition) from :data:`CLAUSE_FILLERS`, so that nothing
    between the object and "is" says anything about the colour. The
    distance the evidence must be carried is k + 2 words.

    Taught in: Chapter 4, LSTM (the next-word example with a growing clause).

    Args:
        n: number of sentences, >= 1.
        max_clause: largest clause length when ``clause_len`` is None; each
            sentence's k is then uniform in 0..max_clause.
        rng: numpy Generator.
        clause_len: if given, every sentence has exactly this many clause
            words (for test sets of one distance).

    Returns:
        list of n str.
    """
    for name, value, low in (("n", n, 1), ("max_clause", max_clause, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} is {value!r} but needs an integer >= {low}")
    if clause_len is not None and (isinstance(clause_len, bool)
                                   or not isinstance(clause_len, (int, np.integer))
                                   or clause_len < 0):
        raise ValueError(f"clause_len is {clause_len!r} but needs None or an integer >= 0")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng is {type(rng).__name__} but needs a numpy Generator")
    objects = list(CLAUSE_OBJECTS)
    sentences = []
    for _ in range(n):
        obj = objects[rng.integers(len(objects))]
        k = int(rng.integers(0, max_clause + 1)) if clause_len is None else int(clause_len)
        clause = [CLAUSE_FILLERS[i] for i in rng.integers(0, len(CLAUSE_FILLERS), size=k)]
        sentences.append(" ".join(["the", obj, "that", *clause, "is", CLAUSE_OBJECTS[obj]]))
    return sentences


def encode_sentences(sentences, vocab: WordVocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded arrays for next-word prediction on whole sentences.

    Sentence n with words ``w_1 .. w_L`` becomes the input row
    ``<s> w_1 .. w_L`` and the target row ``w_1 .. w_L </s>``: at every step
    the model reads one word and must predict the next. Rows are padded with
    ``<pad>`` to the longest sentence, and the mask marks the real targets,
    so that a masked loss ignores the padding.

    Args:
        sentences: list of strings.
        vocab: a :class:`~rnnbook.datasets.vocab.WordVocab` that knows every word.

    Returns:
        inputs: int64 (N, T), T = 1 + the largest number of words.
        targets: int64 (N, T).
        mask: bool (N, T), True at the L + 1 real positions of each row.

    Taught in: Chapter 4, Long short-term memory.
    """
    if isinstance(sentences, str):
        raise ValueError("sentences must be a list of strings, not one string")
    rows = [vocab.encode(s, bos=True, eos=True) for s in sentences]
    if not rows:
        raise ValueError("sentences is empty")
    if any(r.size < 3 for r in rows):
        raise ValueError("every sentence needs at least one word")
    N, T = len(rows), max(r.size for r in rows) - 1
    inputs = np.full((N, T), WordVocab.PAD, dtype=np.int64)
    targets = np.full((N, T), WordVocab.PAD, dtype=np.int64)
    mask = np.zeros((N, T), dtype=bool)
    for n, r in enumerate(rows):
        L = r.size - 1
        inputs[n, :L] = r[:-1]
        targets[n, :L] = r[1:]
        mask[n, :L] = True
    return inputs, targets, mask
