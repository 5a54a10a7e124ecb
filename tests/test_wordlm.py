"""The word-level language model: gradients, masking, prediction."""

import numpy as np
import pytest

from rnnbook.nn.activations import softmax
from rnnbook.datasets import WordVocab, encode_sentences
from rnnbook.train.gradcheck import numerical_gradient, rel_error
from rnnbook.models.wordlm import init_word_lm, next_word_probs, word_lm_forward, word_lm_loss_and_grads


def _batch(rng, N=3, T=5, V=7):
    inputs = rng.integers(0, V, size=(N, T))
    targets = rng.integers(0, V, size=(N, T))
    mask = np.ones((N, T), dtype=bool)
    mask[0, 3:] = False
    return inputs, targets, mask


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradients_match_finite_differences(cell):
    rng = np.random.default_rng(1)
    params = init_word_lm(cell, 7, 3, 4, rng)
    for p in params.values():
        p += 0.3 * rng.standard_normal(p.shape)  # move away from zero biases
    batch = _batch(rng)
    _, grads = word_lm_loss_and_grads(cell, params, batch)
    assert set(grads) == set(params)
    for name, p in params.items():
        num = numerical_gradient(lambda _: word_lm_loss_and_grads(cell, params, batch)[0], p)
        assert rel_error(grads[name], num) < 1e-7, name


def test_padding_is_ignored():
    rng = np.random.default_rng(2)
    params = init_word_lm("lstm", 7, 3, 4, rng)
    inputs, targets, mask = _batch(rng)
    loss, grads = word_lm_loss_and_grads("lstm", params, (inputs, targets, mask))
    inputs2, targets2 = inputs.copy(), targets.copy()
    inputs2[0, 3:] = 6 - inputs2[0, 3:]
    targets2[0, 3:] = 0
    loss2, grads2 = word_lm_loss_and_grads("lstm", params, (inputs2, targets2, mask))
    assert loss == pytest.approx(loss2, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads2[k], rtol=1e-10, atol=1e-14)


def test_next_word_probs_is_the_last_softmax():
    rng = np.random.default_rng(3)
    params = init_word_lm("lstm", 7, 3, 4, rng)
    ids = rng.integers(0, 7, size=(2, 5))
    logits, cache = word_lm_forward("lstm", params, ids)
    assert logits.shape == (2, 5, 7) and cache[1].shape == (2, 5, 4)
    np.testing.assert_allclose(next_word_probs("lstm", params, ids), softmax(logits[:, -1]))
    one = next_word_probs("lstm", params, ids[1])
    assert one.shape == (7,) and one.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(one, softmax(logits[1, -1]))


def test_float32_keeps_dtype_and_shapes_are_checked():
    rng = np.random.default_rng(4)
    params = init_word_lm("gru", 7, 3, 4, rng, dtype=np.float32)
    loss, grads = word_lm_loss_and_grads("gru", params, _batch(rng))
    assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads.values())
    with pytest.raises(ValueError, match="ids"):
        word_lm_forward("gru", params, rng.integers(0, 7, size=5))
    with pytest.raises(ValueError, match="ids"):
        word_lm_forward("gru", params, np.zeros((2, 3)))


def test_learns_a_tiny_corpus():
    from functools import partial

    from rnnbook.train.optim import Adam
    from rnnbook.train.loop import train

    sentences = ["the cat is black", "the snow is white", "a cat is black", "a snow is white"]
    vocab = WordVocab(sentences)
    batch = encode_sentences(sentences, vocab)
    params = init_word_lm("lstm", vocab.size, 8, 16, np.random.default_rng(0))
    train(partial(word_lm_loss_and_grads, "lstm"), params, Adam(0.02), [batch], num_steps=150,
          progress=False)
    for subject, colour in (("cat", "black"), ("snow", "white")):
        p = next_word_probs("lstm", params, vocab.encode(f"the {subject} is", bos=True))
        assert vocab.tokens[int(p.argmax())] == colour
