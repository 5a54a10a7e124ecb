"""Tests for the per-step classifier on stacked, optionally bidirectional layers."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbook.models import (init_tagger, tagger_accuracy, tagger_layers, tagger_logits,
                            tagger_loss_and_grads)
from rnnbook.train import numerical_gradient, rel_error

CELLS = ["rnn", "lstm", "gru"]
V, C = 5, 3


def make(cell, layers, bidirectional, seed=0, H=3):
    rng = np.random.default_rng(seed)
    params = init_tagger(cell, V, H, C, rng, num_layers=layers, bidirectional=bidirectional)
    # Non-zero biases everywhere, so that no gradient is trivially zero.
    for key, value in params.items():
        if value.ndim == 1:
            params[key] = value + rng.normal(0, 0.3, value.shape)
    return params, rng


def batch(rng, N=3, T=5):
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, C, size=(N, T))
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T
    return x, y, lengths


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True),
                                                  (2, True)])
def test_gradients_match_finite_differences(cell, layers, bidirectional):
    params, rng = make(cell, layers, bidirectional, seed=layers + 7 * bidirectional)
    x, y, lengths = batch(rng)
    loss, grads = tagger_loss_and_grads(cell, params, x, y, lengths)
    assert set(grads) == set(params)

    def loss_of(_):
        return tagger_loss_and_grads(cell, params, x, y, lengths)[0]

    for key, value in params.items():
        assert grads[key].shape == value.shape
        err = rel_error(grads[key], numerical_gradient(loss_of, value))
        assert err < 1e-7, (key, err)


def test_keys_and_shapes_of_a_deep_bidirectional_tagger():
    params, _ = make("lstm", 2, True, H=4)
    assert params["l0.fwd.Wx"].shape == (V, 16)
    assert params["l1.bwd.Wx"].shape == (8, 16)
    assert params["Wy"].shape == (8, C) and params["by"].shape == (C,)
    layers, bidirectional = tagger_layers("lstm", params)
    assert bidirectional and len(layers) == 2
    assert layers[1][0]["Wh"] is params["l1.fwd.Wh"]


def test_padding_content_and_batch_mates_do_not_matter():
    params, rng = make("gru", 2, True)
    x, y, lengths = batch(rng, N=4, T=6)
    junk = x.copy()
    mask = np.arange(6)[None, :] < lengths[:, None]
    junk[~mask] = -7                                  # not even a valid id
    a = tagger_logits("gru", params, x, lengths)
    b = tagger_logits("gru", params, junk, lengths)
    np.testing.assert_array_equal(a, b)
    for n in range(4):
        alone = tagger_logits("gru", params, x[n:n + 1, :lengths[n]])
        np.testing.assert_allclose(alone[0], a[n, :lengths[n]], rtol=0, atol=1e-13)
    # Labels in the padding are ignored by the loss and the accuracy.
    y_junk = np.where(mask, y, -1)
    assert tagger_loss_and_grads("gru", params, x, y_junk, lengths)[0] == \
        tagger_loss_and_grads("gru", params, x, y, lengths)[0]
    assert tagger_accuracy("gru", params, x, y_junk, lengths) == \
        tagger_accuracy("gru", params, x, y, lengths)


def test_bidirectional_output_depends_on_later_inputs_and_one_way_does_not():
    for bidirectional in (False, True):
        params, rng = make("lstm", 1, bidirectional)
        x, _, _ = batch(rng, N=2, T=6)
        changed = x.copy()
        changed[:, 4] = (changed[:, 4] + 1) % V
        diff = np.abs(tagger_logits("lstm", params, changed)
                      - tagger_logits("lstm", params, x)).max(axis=(0, 2))
        assert np.all(diff[4:] > 0)
        if bidirectional:
            assert np.all(diff[:4] > 0)
        else:
            assert np.all(diff[:4] == 0)


def test_accuracy_counts_real_steps_only():
    params, rng = make("rnn", 1, False)
    x, _, lengths = batch(rng, N=3, T=4)
    pred = tagger_logits("rnn", params, x, lengths).argmax(axis=-1)
    mask = np.arange(4)[None, :] < lengths[:, None]
    wrong = (pred + 1) % C
    y = np.where(mask, pred, wrong)                   # right at real steps, wrong elsewhere
    assert tagger_accuracy("rnn", params, x, y, lengths) == 1.0
    y[0, 0] = wrong[0, 0]
    assert tagger_accuracy("rnn", params, x, y, lengths) == pytest.approx(1 - 1 / mask.sum())


def test_float32_parameters_give_float32_results():
    rng = np.random.default_rng(3)
    params = init_tagger("lstm", V, 3, C, rng, num_layers=2, bidirectional=True,
                         dtype=np.float32)
    x, y, lengths = batch(rng)
    _, grads = tagger_loss_and_grads("lstm", params, x, y, lengths)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert tagger_logits("lstm", params, x, lengths).dtype == np.float32


@pytest.mark.parametrize("bad,message", [
    (lambda p: {k: v for k, v in p.items() if k != "Wy"}, "'Wy'"),
    (lambda p: {**p, "l0.Wq": p["l0.Wx"]}, "l0"),
    (lambda p: {**p, "layer0.Wx": p["l0.Wx"]}, "layer0.Wx"),
    (lambda p: {**p, "l1.fwd.Wx": p["l0.Wx"]}, "mixes"),
    (lambda p: {**p, "Wy": p["Wy"][:-1]}, "do not fit"),
])
def test_wrong_parameters_raise_clear_errors(bad, message):
    params, rng = make("rnn", 1, False)
    x, y, lengths = batch(rng)
    with pytest.raises(ValueError, match=message):
        tagger_loss_and_grads("rnn", bad(params), x, y, lengths)


def test_wrong_inputs_raise_clear_errors():
    params, rng = make("lstm", 1, True)
    x, y, lengths = batch(rng)
    with pytest.raises(ValueError, match="cell"):
        tagger_logits("elman", params, x)
    with pytest.raises(ValueError, match="x contains 5, outside the vocabulary"):
        tagger_logits("lstm", params, np.full_like(x, V))
    with pytest.raises(ValueError, match="lengths"):
        tagger_logits("lstm", params, x, lengths=np.array([9, 1, 1]))
    with pytest.raises(ValueError, match="y"):
        tagger_loss_and_grads("lstm", params, x, y[:, :-1], lengths)
    with pytest.raises(ValueError, match="x"):
        tagger_logits("lstm", params, x.astype(float))
    with pytest.raises(ValueError, match="num_layers"):
        init_tagger("lstm", V, 3, C, rng, num_layers=0)
    with pytest.raises(ValueError, match="real step"):
        tagger_accuracy("lstm", params, x, y, lengths=np.zeros(3, dtype=int))
