"""The book's tiny corpora and the word vocabulary."""

from collections import defaultdict

import numpy as np
import pytest

from rnnbook.datasets import (CLAUSE_FILLERS, CLAUSE_OBJECTS, WordVocab, clause_corpus,
                              colour_corpus, encode_sentences)

COLOURS = {"red", "yellow", "green", "blue", "purple", "orange", "white", "black", "brown"}


def test_colour_corpus_is_clean_and_fresh():
    s = colour_corpus()
    assert 40 <= len(s) <= 100
    assert len(set(s)) == len(s), "no sentence twice"
    for line in s:
        assert line == line.strip().lower() and "  " not in line
        assert all(w.isalpha() for w in line.split()), line
    s.append("changed")
    assert "changed" not in colour_corpus(), "each call returns a new list"


def test_every_object_keeps_one_colour():
    # "the color of X is C", "X is C", "the X on the table is C", "my X is C
    # and my Y is D": the colour after "is" belongs to the first noun of its
    # clause (after "of" if there is one). One noun never gets two colours.
    seen = defaultdict(set)
    for line in colour_corpus():
        words = line.split()
        for k, w in enumerate(words[:-1]):
            if w == "is" and words[k + 1] in COLOURS:
                starts = [j + 1 for j, x in enumerate(words[:k]) if x in ("of", "and")]
                head = words[max(starts, default=0):k]
                noun = [x for x in head if x not in {"a", "an", "the", "my", "ripe", "every"}][0]
                seen[noun].add(words[k + 1])
    assert len(seen) > 15
    assert all(len(c) == 1 for c in seen.values()), {k: v for k, v in seen.items() if len(v) > 1}
    assert seen["apple"] == {"red"}


def test_the_word_before_a_colour_does_not_decide_it():
    after_is = defaultdict(int)
    for line in colour_corpus():
        words = line.split()
        for a, b in zip(words, words[1:]):
            if a == "is":
                after_is[b] += 1
    assert set(after_is) <= COLOURS and len(after_is) >= 6
    assert max(after_is, key=after_is.get) != "red"


def test_vocab_ids_and_round_trip():
    v = WordVocab(["b a", "c a"])
    assert v.tokens == ["<pad>", "<s>", "</s>", "a", "b", "c"]
    assert v.size == len(v) == 6 and "a" in v and "z" not in v
    ids = v.encode("c b a", bos=True, eos=True)
    assert ids.dtype == np.int64 and ids.tolist() == [1, 5, 4, 3, 2]
    assert v.decode(ids) == "<s> c b a </s>"
    assert v.decode([0, 3, 0]) == "a"
    assert v.index("</s>") == WordVocab.EOS


def test_vocab_rejects_bad_input():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        WordVocab(["a b"]).encode("a z")
    with pytest.raises(ValueError, match="reserved"):
        WordVocab(["a <pad>"])
    with pytest.raises(ValueError, match="no words"):
        WordVocab([" "])
    with pytest.raises(ValueError, match="strings"):
        WordVocab([3])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        WordVocab(["a"]).decode([4])


def test_encode_sentences_shifts_and_masks():
    v = WordVocab(["x y z", "y"])
    inputs, targets, mask = encode_sentences(["x y z", "y"], v)
    assert inputs.shape == targets.shape == mask.shape == (2, 4)
    assert inputs[0].tolist() == [1, 3, 4, 5] and targets[0].tolist() == [3, 4, 5, 2]
    assert inputs[1].tolist() == [1, 4, 0, 0] and targets[1].tolist() == [4, 2, 0, 0]
    assert mask.tolist() == [[True] * 4, [True, True, False, False]]
    # The targets are the inputs moved one step left, wherever both are real.
    assert np.all(targets[:, :-1][mask[:, 1:]] == inputs[:, 1:][mask[:, 1:]])


def test_encode_sentences_rejects_a_string_and_empty_input():
    v = WordVocab(["a"])
    with pytest.raises(ValueError, match="list"):
        encode_sentences("a", v)
    with pytest.raises(ValueError, match="empty"):
        encode_sentences([], v)
    with pytest.raises(ValueError, match="at least one word"):
        encode_sentences([""], v)


def test_whole_corpus_encodes():
    s = colour_corpus()
    v = WordVocab(s)
    inputs, targets, mask = encode_sentences(s, v)
    assert inputs.shape[0] == len(s)
    assert mask.sum() == sum(len(x.split()) + 1 for x in s)
    assert np.all(inputs[:, 0] == WordVocab.BOS)


def test_clause_corpus_puts_the_evidence_k_plus_two_words_back():
    rng = np.random.default_rng(0)
    for s in clause_corpus(200, 6, rng):
        words = s.split()
        assert words[0] == "the" and words[2] == "that" and words[-2] == "is"
        assert CLAUSE_OBJECTS[words[1]] == words[-1]
        assert all(w in CLAUSE_FILLERS for w in words[3:-2]) and len(words) - 5 <= 6
    fixed = clause_corpus(50, 0, np.random.default_rng(1), clause_len=4)
    assert {len(s.split()) for s in fixed} == {9}
    colours = set(CLAUSE_OBJECTS.values())
    assert not colours & set(CLAUSE_FILLERS) and not set(CLAUSE_OBJECTS) & set(CLAUSE_FILLERS)


def test_clause_corpus_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    for kwargs in ({"n": 0, "max_clause": 2}, {"n": 2, "max_clause": -1},
                   {"n": 2, "max_clause": 2, "clause_len": -1}, {"n": 2.5, "max_clause": 2}):
        with pytest.raises(ValueError):
            clause_corpus(rng=rng, **kwargs)
    with pytest.raises(ValueError, match="rng"):
        clause_corpus(2, 2, 0)
