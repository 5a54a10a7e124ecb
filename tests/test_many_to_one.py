"""Tests for rnnbook.models.many_to_one: every gradient against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbook.models import (init_many_to_one, many_to_one_backward, many_to_one_forward,
                            many_to_one_loss_and_grads, weight_penalty)
from rnnbook.nn import recurrent_forward
from rnnbook.train import numerical_gradient, rel_error

N, T, D, H, K = 3, 5, 2, 4, 3
LENGTHS = np.array([5, 2, 3])


def _model(cell, seed=0, pool="last"):
    rng = np.random.default_rng(seed)
    params = init_many_to_one(cell, D, H, K, rng, pool=pool)
    # Non-zero biases, so that their gradients are tested too.
    for k, v in params.items():
        if v.ndim == 1:
            params[k] = 0.3 * rng.standard_normal(v.shape)
    x = rng.standard_normal((N, T, D))
    return rng, params, x


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pool", ["last", "mean", "attention"])
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_gradients_match_finite_differences(cell, pool, loss):
    rng, params, x = _model(cell, pool=pool)
    if pool == "attention":
        params["wa"] = rng.standard_normal(H)          # far from uniform weights
    y = rng.standard_normal((N, K)) if loss == "mse" else np.array([0, 2, 1])
    value, grads = many_to_one_loss_and_grads(cell, params, x, y, LENGTHS, pool, loss,
                                              weight_decay=0.01)
    assert set(grads) == set(params)
    for name, p in params.items():
        num = numerical_gradient(
            lambda _: many_to_one_loss_and_grads(cell, params, x, y, LENGTHS, pool, loss,
                                                 weight_decay=0.01)[0], p)
        assert rel_error(grads[name], num) < 1e-6, name


@pytest.mark.parametrize("pool", ["last", "mean", "attention"])
def test_input_gradient_and_padding(pool):
    rng, params, x = _model("gru", seed=1, pool=pool)
    out, cache = many_to_one_forward("gru", params, x, LENGTHS, pool)
    dout = rng.standard_normal(out.shape)
    dx, _ = many_to_one_backward(dout, cache)
    num = numerical_gradient(lambda xx: many_to_one_forward("gru", params, xx, LENGTHS,
                                                            pool)[0], x, dout)
    assert rel_error(dx, num) < 1e-6
    padded = np.arange(T)[None, :] >= LENGTHS[:, None]
    assert np.all(dx[padded] == 0)
    # Whatever sits in the padding does not change the outputs.
    x2 = x.copy()
    x2[padded] = 1e6
    assert np.array_equal(many_to_one_forward("gru", params, x2, LENGTHS, pool)[0], out)


def test_pools_read_the_right_states():
    _, params, x = _model("lstm", seed=2)
    cell_params = {k: params[k] for k in ("Wx", "Wh", "b")}
    h, rec = recurrent_forward("lstm", x, None, cell_params, lengths=LENGTHS)
    last, _ = many_to_one_forward("lstm", params, x, LENGTHS, "last")
    mean, _ = many_to_one_forward("lstm", params, x, LENGTHS, "mean")
    for n, L in enumerate(LENGTHS):
        np.testing.assert_allclose(last[n], h[n, L - 1] @ params["Wo"] + params["bo"])
        np.testing.assert_allclose(mean[n], h[n, :L].mean(0) @ params["Wo"] + params["bo"])


def test_attention_weights_are_a_distribution_over_real_steps():
    rng, params, x = _model("rnn", seed=4, pool="attention")
    params["wa"] = 3 * rng.standard_normal(H)
    _, cache = many_to_one_forward("rnn", params, x, LENGTHS, "attention")
    padded = np.arange(T)[None, :] >= LENGTHS[:, None]
    np.testing.assert_allclose(cache.weights.sum(axis=1), 1.0)
    assert np.all(cache.weights[padded] == 0) and np.all(cache.weights[~padded] > 0)
    np.testing.assert_allclose(cache.summary, np.einsum("nt,nth->nh", cache.weights, cache.h))


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    params = init_many_to_one("gru", D, H, K, rng, dtype=np.float32, pool="attention")
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    out, cache = many_to_one_forward("gru", params, x, LENGTHS, "attention")
    assert out.dtype == np.float32
    _, grads = many_to_one_backward(np.ones_like(out), cache)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_weight_penalty_skips_biases():
    params = {"W": np.ones((2, 3)), "b": np.ones(3)}
    value, grads = weight_penalty(params, 0.5)
    assert value == 3.0
    assert np.all(grads["W"] == 1.0) and np.all(grads["b"] == 0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        weight_penalty(params, -1.0)


def test_bad_arguments_raise():
    _, params, x = _model("rnn")
    with pytest.raises(ValueError, match="pool"):
        many_to_one_forward("rnn", params, x, None, "max")
    with pytest.raises(ValueError, match="cell"):
        many_to_one_forward("transformer", params, x)
    with pytest.raises(ValueError, match="keys"):
        many_to_one_forward("gru", params, x)
    with pytest.raises(ValueError, match="keys"):
        many_to_one_forward("rnn", params, x, None, "attention")
    with pytest.raises(ValueError, match="lengths"):
        many_to_one_forward("rnn", params, x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="x"):
        many_to_one_forward("rnn", params, x[0])
    with pytest.raises(ValueError, match="loss"):
        many_to_one_loss_and_grads("rnn", params, x, np.zeros((N, K)), loss="mae")
    with pytest.raises(ValueError, match="y"):
        many_to_one_loss_and_grads("rnn", params, x, np.zeros((N, K + 1)))
