"""Tests for rnnbook.models.tasks: the adding-problem model and its training setup."""

import functools
import importlib.util
import math

import numpy as np
import pytest

from rnnbook.models import tasks
from rnnbook.datasets import adding_problem
from rnnbook.nn.cells import get_cell
from rnnbook.train.gradcheck import numerical_gradient, rel_error
from rnnbook.train.optim import SGD

HAVE_GRU = importlib.util.find_spec("rnnbook.nn.gru") is not None
CELLS = ["rnn", "lstm"] + (["gru"] if HAVE_GRU else [])


def test_baseline_is_the_variance_of_the_target():
    assert tasks.ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    _, y = adding_problem(200_000, 6, np.random.default_rng(0))
    assert np.mean((y - 1.0) ** 2) == pytest.approx(tasks.ADDING_BASELINE_MSE, rel=0.01)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("N,T,H", [(1, 2, 1), (3, 5, 4)])
def test_loss_and_grads_match_finite_differences(cell, N, T, H):
    rng = np.random.default_rng(1)
    params = tasks.init_adding_model(cell, H, rng)
    assert params["Wy"].shape == (H, 1) and params["by"].shape == (1,)
    x, y = adding_problem(N, T, rng)
    loss, grads = tasks.adding_loss_and_grads(cell, params, (x, y))
    assert set(grads) == set(params)
    pred = tasks.adding_predict(cell, params, x)
    assert pred.shape == (N,)
    assert loss == pytest.approx(np.mean((pred - y) ** 2), rel=1e-12)
    assert tasks.adding_mse(cell, params, x, y) == pytest.approx(loss, rel=1e-12)
    for name, p in params.items():
        num = numerical_gradient(lambda _: tasks.adding_loss_and_grads(cell, params, (x, y))[0], p)
        assert rel_error(grads[name], num) < 1e-7, name


def test_short_training_beats_the_baseline_and_is_reproducible():
    kwargs = dict(T=4, H=8, steps=300, rng=3, batch_size=16, test_size=200, eval_every=100)
    run = tasks.train_adding_problem("rnn", **kwargs)
    history, mse = run.history, run.test_mse
    assert isinstance(run, tasks.AddingRun) and set(run.params) == {"Wx", "Wh", "b", "Wy", "by"}
    assert len(history) == 300 and not history.diverged
    assert history.eval_step == [100, 200, 300]
    assert history.eval["test_mse"][-1] == pytest.approx(mse)
    assert mse < 0.3 * tasks.ADDING_BASELINE_MSE
    again = tasks.train_adding_problem("rnn", **kwargs)
    mse_again, again = again.test_mse, again.history
    assert mse_again == mse and again.loss == history.loss


def _recording(cell, seen):
    """The cell with a forward pass that also records every input it is given."""
    c = get_cell(cell)

    def forward(x, states0, params):
        seen.append(np.array(x))
        return c.forward(x, states0, params)

    return c._replace(forward=forward)


def test_cells_see_the_same_data_for_the_same_seed():
    seen = {"rnn": [], "lstm": []}
    for name, inputs in seen.items():
        tasks.train_adding_problem(_recording(name, inputs), T=6, H=3, steps=4, rng=7,
                                   test_size=5)
    # 4 training batches, then the test set.
    assert len(seen["rnn"]) == len(seen["lstm"]) == 5
    for a, b in zip(seen["rnn"], seen["lstm"]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(seen["rnn"][0], seen["rnn"][1])  # fresh batch every step


def test_lstm_run_holds_history_mse_and_params():
    h, mse, params = tasks.train_adding_problem("lstm", T=5, H=4, steps=20, rng=0,
                                                test_size=20)
    assert len(h) == 20 and math.isfinite(mse)
    assert params["Wx"].shape == (2, 16) and params["Wy"].shape == (4, 1)


def test_float32_training_stays_float32():
    run = tasks.train_adding_problem("rnn", T=4, H=4, steps=5, rng=0, test_size=10,
                                     dtype=np.float32)
    params, mse = run.params, run.test_mse
    assert all(v.dtype == np.float32 for v in params.values())
    assert math.isfinite(mse)


def test_divergence_is_reported_as_infinite_test_mse():
    def run():
        # A huge learning rate without clipping must blow up.
        with np.errstate(over="ignore", invalid="ignore"):
            return tasks.train_adding_problem("rnn", T=6, H=8, steps=200, rng=0, clip=None,
                                              optimizer=SGD(50.0), test_size=10)
    h, mse = run()[:2]
    assert h.diverged and mse == math.inf


def test_custom_cell_object_is_accepted():
    run = tasks.train_adding_problem(get_cell("rnn"), T=3, H=2, steps=3, rng=0, test_size=5)
    assert len(run.history) == 3


def test_argument_errors():
    with pytest.raises(ValueError, match="T must be at least 2"):
        tasks.train_adding_problem("rnn", T=1, steps=1)
    with pytest.raises(ValueError, match="steps"):
        tasks.train_adding_problem("rnn", T=3, steps=0)
    with pytest.raises(ValueError, match="cell"):
        tasks.train_adding_problem("elman", T=3, steps=1)
    with pytest.raises(ValueError, match="seed"):
        tasks.train_adding_problem("rnn", T=3, steps=1, rng=None)
    params = tasks.init_adding_model("rnn", 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="x has shape"):
        tasks.adding_predict("rnn", params, np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="y has shape"):
        tasks.adding_loss_and_grads("rnn", params, (np.zeros((2, 5, 2)), np.zeros(3)))
