"""Tests for rnnbook.models.compare: a character model for any cell, and reporting helpers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.models.charmodel import char_rnn_loss_and_grads, evaluate_char_rnn
from rnnbook.models.compare import (
    CELLS,
    CharModelStep,
    char_model_loss,
    char_model_loss_and_grads,
    count_params,
    evaluate_char_model,
    gru_original_cell,
    init_char_model,
    markdown_table,
    train_char_model,
)
from rnnbook.book.diagnostics import gradient_norms_by_lag
from rnnbook.train.gradcheck import numerical_gradient, rel_error
from rnnbook.nn.gru import gru_forward, gru_original_forward
from rnnbook.nn.init import init_gru, init_lstm, init_rnn
from rnnbook.nn.lstm import lstm_step_forward
from rnnbook.models.tasks import adding_loss_and_grads, init_adding_model


def _random_params(cell, V, H, rng, dtype=np.float64):
    """A model whose every entry is random (biases too), so no gradient is trivially zero."""
    params = init_char_model(cell, V, H, rng, dtype=dtype)
    for name, value in params.items():
        scale = 0.5 if name != "Wh" else 0.4
        params[name] = (scale * rng.standard_normal(value.shape)).astype(dtype)
    return params


def _random_state(cell, N, H, rng):
    parts = 2 if cell == "lstm" else 1
    return tuple(0.5 * rng.standard_normal((N, H)) for _ in range(parts))


# -- gradients ---------------------------------------------------------------------

def _check_gradients(cell, N, T, V, H, seed, with_state, strict=True):
    rng = np.random.default_rng(seed)
    params = _random_params(cell, V, H, rng)
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, V, size=(N, T))
    state = _random_state(cell, N, H, rng) if with_state else None
    loss, grads, _ = char_model_loss_and_grads(cell, params, x, y, state)
    assert set(grads) == set(params)
    assert loss == pytest.approx(char_model_loss(cell, params, x, y, state)[0], rel=1e-14)
    for name in params:
        assert grads[name].shape == params[name].shape
        num = numerical_gradient(lambda _: char_model_loss(cell, params, x, y, state)[0],
                                 params[name])
        err = rel_error(grads[name], num)
        if strict:
            assert err < 1e-7, (cell, name, err)
        else:
            # The centered difference of a loss of order 1 carries round-off
            # of a few eps / h ~ 2e-10 (found: 1.2e-10 for an LSTM with H = 1);
            # on an array whose whole gradient is that small, a relative
            # error cannot resolve anything finer.
            assert err < 1e-7 or np.abs(grads[name] - num).max() < 5e-10, (cell, name, err)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("N,T,V,H", [(1, 1, 2, 1), (1, 3, 3, 1), (2, 1, 4, 2), (3, 4, 5, 3)])
def test_gradients_match_finite_differences(cell, N, T, V, H):
    _check_gradients(cell, N, T, V, H, seed=N * 1000 + T * 100 + V * 10 + H, with_state=True)
    _check_gradients(cell, N, T, V, H, seed=7 + N * 1000 + T * 100 + H, with_state=False)


@settings(max_examples=8, deadline=None)
@given(cell=st.sampled_from(CELLS), N=st.integers(1, 3), T=st.integers(1, 4),
       V=st.integers(2, 5), H=st.integers(1, 3), seed=st.integers(0, 10_000),
       with_state=st.booleans())
def test_gradients_random_shapes(cell, N, T, V, H, seed, with_state):
    _check_gradients(cell, N, T, V, H, seed, with_state, strict=False)


# -- agreement with the library's RNN character model and cells --------------------

def test_rnn_matches_charmodel():
    rng = np.random.default_rng(3)
    V, H, N, T = 6, 4, 3, 5
    params = _random_params("rnn", V, H, rng)
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, V, size=(N, T))
    h0 = rng.standard_normal((N, H))
    loss, grads, (h_last,) = char_model_loss_and_grads("rnn", params, x, y, (h0,))
    ref_loss, ref_grads, ref_h = char_rnn_loss_and_grads(params, x, y, h0)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(h_last, ref_h, rtol=1e-12, atol=1e-12)
    for name in params:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-10, atol=1e-12)


def test_rnn_evaluation_matches_charmodel():
    rng = np.random.default_rng(4)
    params = _random_params("rnn", 5, 3, rng)
    text = rng.integers(0, 5, size=400)
    assert evaluate_char_model("rnn", params, text, 4, 16) == pytest.approx(
        evaluate_char_rnn(params, text, 4, 16), rel=1e-12)


def test_lstm_state_is_hidden_and_cell():
    rng = np.random.default_rng(5)
    V, H, N, T = 4, 3, 2, 6
    params = _random_params("lstm", V, H, rng)
    x = rng.integers(0, V, size=(N, T))
    h, c = _random_state("lstm", N, H, rng)
    _, (h_last, c_last) = char_model_loss("lstm", params, x, x, (h, c))
    # The same sequence, one library step at a time.
    for t in range(T):
        h, c, _ = lstm_step_forward(np.eye(V)[x[:, t]], h, c, params["Wx"], params["Wh"],
                                    params["b"])
    np.testing.assert_allclose(h_last, h, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_last, c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
def test_carrying_the_state_equals_one_long_chunk(cell):
    """Two chunks with the state carried give the same losses and state as one pass."""
    rng = np.random.default_rng(6)
    V, H, N, T = 5, 3, 2, 8
    params = _random_params(cell, V, H, rng)
    x = rng.integers(0, V, size=(N, T))
    y = rng.integers(0, V, size=(N, T))
    whole, state_whole = char_model_loss(cell, params, x, y)
    first, state = char_model_loss(cell, params, x[:, :3], y[:, :3])
    second, state = char_model_loss(cell, params, x[:, 3:], y[:, 3:], state)
    assert whole == pytest.approx((3 * first + 5 * second) / 8, rel=1e-12)
    for a, b in zip(state, state_whole):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_keeps_dtype(cell):
    rng = np.random.default_rng(7)
    params = init_char_model(cell, 5, 4, rng, dtype=np.float32)
    x = rng.integers(0, 5, size=(2, 3))
    loss, grads, state = char_model_loss_and_grads(cell, params, x, x)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(s.dtype == np.float32 for s in state)


# -- Cho et al.'s GRU as a cell record ----------------------------------------------

def test_gru_original_cell_runs_the_original_formulation():
    rng = np.random.default_rng(12)
    cell = gru_original_cell()
    p = cell.init(3, 4, rng)
    p["bx"], p["bh"] = rng.standard_normal(12), rng.standard_normal(12)
    x = rng.standard_normal((2, 5, 3))
    h0 = rng.standard_normal((2, 4))
    (h,), _ = cell.forward(x, (h0,), p)
    np.testing.assert_array_equal(h, gru_original_forward(x, h0, p["Wx"], p["Wh"], p["bx"],
                                                          p["bh"])[0])
    assert np.abs(h - gru_forward(x, h0, p["Wx"], p["Wh"], p["bx"], p["bh"])[0]).max() > 1e-3
    # The step functions reproduce the sequence function.
    states = (h0,)
    for t in range(5):
        states, _ = cell.step_forward(x[:, t], states, p)
        np.testing.assert_allclose(states[0], h[:, t], rtol=1e-13, atol=1e-13)


def test_gru_original_cell_gradients_in_the_adding_model():
    rng = np.random.default_rng(13)
    cell = gru_original_cell()
    params = init_adding_model(cell, 3, rng)
    for name in params:
        params[name] = 0.5 * rng.standard_normal(params[name].shape)
    x = rng.standard_normal((2, 4, 2))
    y = rng.standard_normal(2)
    _, grads = adding_loss_and_grads(cell, params, (x, y))
    for name in params:
        num = numerical_gradient(lambda _: adding_loss_and_grads(cell, params, (x, y))[0],
                                 params[name])
        assert rel_error(grads[name], num) < 1e-7, name


def test_gru_original_cell_step_backward_matches_lag_measurement():
    rng = np.random.default_rng(14)
    cell = gru_original_cell()
    p = cell.init(2, 3, rng)
    x = rng.standard_normal((2, 6, 2))
    lags, norms = gradient_norms_by_lag(cell, p, x)
    assert norms.shape == (2, 7) and np.all(np.isfinite(norms))
    # At lag 1 the step backward must equal the finite-difference Jacobian-vector product.
    u = np.full((2, 3), 1 / np.sqrt(3))
    h_prev = cell.forward(x[:, :5], (np.zeros((2, 3)),), p)[0][0][:, -1].copy()
    num = numerical_gradient(lambda hp: cell.step_forward(x[:, 5], (hp,), p)[0][0], h_prev, u)
    np.testing.assert_allclose(norms[:, 1], np.linalg.norm(num, axis=1), rtol=1e-7)


# -- parameters and counts ---------------------------------------------------------

@pytest.mark.parametrize("D,H", [(1, 1), (2, 5), (7, 3)])
def test_count_params_formulas(D, H):
    rng = np.random.default_rng(8)
    assert count_params(init_rnn(D, H, rng)) == H * (D + H + 1)
    assert count_params(init_lstm(D, H, rng)) == 4 * H * (D + H + 1)
    assert count_params(init_gru(D, H, rng)) == 3 * H * (D + H + 2)


@pytest.mark.parametrize("cell,k", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_init_char_model_shapes(cell, k):
    rng = np.random.default_rng(9)
    V, H = 7, 4
    p = init_char_model(cell, V, H, rng)
    assert p["Wx"].shape == (V, k * H) and p["Wh"].shape == (H, k * H)
    assert p["Wy"].shape == (H, V) and p["by"].shape == (V,)
    assert np.all(p["by"] == 0)


# -- training ---------------------------------------------------------------------

def test_step_resets_state_on_first_chunk():
    rng = np.random.default_rng(10)
    params = _random_params("lstm", 4, 3, rng)
    x = rng.integers(0, 4, size=(2, 5))
    step = CharModelStep("lstm")
    loss_a, _ = step(params, (x, x, True))
    loss_b, _ = step(params, (x, x, False))      # starts from the carried state
    loss_c, _ = step(params, (x, x, True))       # zeros again
    assert loss_a == pytest.approx(loss_c, rel=1e-14)
    assert loss_b != pytest.approx(loss_a, rel=1e-9)
    assert len(step.state) == 2


def test_train_char_model_learns_and_is_reproducible():
    text = np.tile(np.array([0, 1, 2, 3, 2, 1]), 80)      # a periodic "text"
    runs = [train_char_model("gru", text, 4, 8, 60, rng=1, valid_ids=text[:200],
                             batch_size=4, seq_len=8, lr=2e-2, eval_every=30,
                             eval_batch_size=4, eval_seq_len=16)
            for _ in range(2)]
    history = runs[0]
    assert history.loss == runs[1].loss
    assert history.eval_step == [30, 60]
    assert history.eval["valid_loss"][-1] < 0.5 * np.log(4)
    assert not history.diverged


def test_train_char_model_returns_params():
    text = np.arange(200) % 5
    history, params = train_char_model("rnn", text, 5, 3, 5, rng=0, batch_size=2, seq_len=4,
                                       return_params=True)
    assert len(history) == 5 and set(params) == {"Wx", "Wh", "b", "Wy", "by"}
    assert history.eval == {}


# -- argument errors ------------------------------------------------------------------

def test_errors_name_the_problem():
    rng = np.random.default_rng(11)
    params = init_char_model("gru", 4, 3, rng)
    x = rng.integers(0, 4, size=(2, 3))
    with pytest.raises(ValueError, match="cell"):
        char_model_loss("tanh", params, x, x)
    with pytest.raises(ValueError, match="needs exactly"):
        char_model_loss("lstm", params, x, x)           # GRU parameters for an LSTM
    with pytest.raises(ValueError, match="outside the vocabulary"):
        char_model_loss("gru", params, x + 4, x)
    with pytest.raises(ValueError, match="tuple of 1"):
        char_model_loss("gru", params, x, x, (np.zeros((2, 3)), np.zeros((2, 3))))
    with pytest.raises(ValueError, match="state"):
        char_model_loss("gru", params, x, x, (np.zeros((2, 4)),))
    with pytest.raises(ValueError, match="steps"):
        train_char_model("gru", np.arange(100) % 4, 4, 3, 0)
    with pytest.raises(ValueError, match="dict"):
        count_params([1, 2])


# -- markdown tables ----------------------------------------------------------------

def test_markdown_table():
    table = markdown_table(["cell", "loss"], [["rnn", "1.00"], ["a|b", 2]], align="lr")
    assert table.splitlines() == [
        "| cell | loss |",
        "| :--- | ---: |",
        "| rnn | 1.00 |",
        r"| a\|b | 2 |",
    ]


def test_markdown_table_errors():
    with pytest.raises(ValueError, match="row 0"):
        markdown_table(["a", "b"], [["only one"]])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [], align="lx")
    with pytest.raises(ValueError, match="empty"):
        markdown_table([], [])
