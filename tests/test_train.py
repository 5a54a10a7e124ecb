"""Tests for rnnbook.train.loop: the loop, its history, progress switch and seeding."""

import json
import math

import numpy as np
import pytest

from rnnbook.nn.layers import affine_backward, affine_forward, mse_loss
from rnnbook.train.optim import SGD, Adam
from rnnbook.train.loop import History, make_rng, progress_enabled, train

TRUE_W = np.array([[1.5], [-2.0], [0.5]])
TRUE_B = np.array([0.3])


def regression_data(rng, n):
    X = rng.standard_normal((n, 3))
    y = X @ TRUE_W + TRUE_B + 0.01 * rng.standard_normal((n, 1))
    return X, y


def step_fn(params, batch):
    X, y = batch
    pred, cache = affine_forward(X, params["W"], params["b"])
    loss, dpred = mse_loss(pred, y)
    _, dW, db = affine_backward(dpred, cache)
    return loss, {"W": dW, "b": db}


def fresh_params():
    return {"W": np.zeros((3, 1)), "b": np.zeros(1)}


def test_linear_regression_by_epochs():
    rng = make_rng(0)
    X, y = regression_data(rng, 200)
    batches = [(X[i:i + 20], y[i:i + 20]) for i in range(0, 200, 20)]
    Xv, yv = regression_data(rng, 100)
    params = fresh_params()
    hist = train(step_fn, params, Adam(0.05), batches, epochs=30,
                 eval_fn=lambda p: {"val_loss": step_fn(p, (Xv, yv))[0]}, progress=False)
    assert len(hist) == 30 * 10
    assert hist.step == list(range(1, 301))
    assert len(hist.loss) == len(hist.grad_norm) == 300
    assert hist.eval_step == [10 * e for e in range(1, 31)]     # once per epoch
    assert len(hist.eval["val_loss"]) == 30
    assert hist.loss[0] > 1.0
    assert hist.recent_loss() < 1e-3 and hist.eval["val_loss"][-1] < 1e-3
    np.testing.assert_allclose(params["W"], TRUE_W, atol=0.01)
    assert not hist.diverged and hist.seconds > 0


def test_linear_regression_with_a_batch_function_and_num_steps():
    rng = make_rng(1)
    params = fresh_params()
    calls = []

    def next_batch():
        calls.append(1)
        return regression_data(rng, 16)

    hist = train(step_fn, params, SGD(0.1), next_batch, num_steps=150, eval_every=50,
                 eval_fn=lambda p: step_fn(p, regression_data(make_rng(2), 64))[0],
                 progress=False)
    assert len(hist) == 150 == len(calls)
    assert hist.eval_step == [50, 100, 150]          # the end is not evaluated twice
    assert list(hist.eval) == ["eval"] and hist.eval["eval"][-1] < 1e-3
    assert hist.recent_loss() < 1e-3


def test_num_steps_cycles_through_a_list_and_evaluates_at_the_end():
    rng = make_rng(3)
    batches = [regression_data(rng, 8) for _ in range(10)]
    hist = train(step_fn, fresh_params(), SGD(0.05), batches, num_steps=25,
                 eval_fn=lambda p: 0.0, progress=False)
    assert len(hist) == 25
    assert hist.eval_step == [10, 20, 25]


def test_clipping_records_the_unclipped_norm_and_bounds_the_update():
    def loud_step(params, batch):
        return 1.0, {"w": np.full(4, 100.0)}     # global norm 200

    params = {"w": np.zeros(4)}
    hist = train(loud_step, params, SGD(0.1), [None], epochs=3, clip=1.0, progress=False)
    assert hist.grad_norm == [pytest.approx(200.0)] * 3
    # each clipped gradient has norm 1, so each step moves w by 0.1 in norm
    assert np.linalg.norm(params["w"]) == pytest.approx(0.3)


def test_divergence_stops_training_before_the_bad_update():
    losses = iter([1.0, 2.0, math.nan, 4.0])

    def step(params, batch):
        return next(losses), {"w": np.ones(1)}

    params = {"w": np.zeros(1)}
    hist = train(step, params, SGD(1.0), [0, 1, 2, 3], epochs=1,
                 eval_fn=lambda p: 0.0, progress=False)
    assert hist.diverged and len(hist) == 3 and math.isnan(hist.loss[-1])
    np.testing.assert_array_equal(params["w"], [-2.0])   # two updates only
    assert hist.eval_step == []
    assert "diverged" in repr(hist)


def test_argument_errors():
    batches = [None]
    step = lambda p, b: (0.0, {})  # noqa: E731
    with pytest.raises(ValueError, match="exactly one of epochs and num_steps"):
        train(step, {}, SGD(0.1), batches, epochs=1, num_steps=1, progress=False)
    with pytest.raises(ValueError, match="exactly one of epochs and num_steps"):
        train(step, {}, SGD(0.1), batches, progress=False)
    with pytest.raises(ValueError, match="give num_steps"):
        train(step, {}, SGD(0.1), lambda: None, epochs=2, progress=False)
    with pytest.raises(ValueError, match="num_steps is 0"):
        train(step, {}, SGD(0.1), batches, num_steps=0, progress=False)
    with pytest.raises(ValueError, match="used-up iterator"):
        train(step, {}, SGD(0.1), iter([None, None]), epochs=2, progress=False)


def test_progress_switch(monkeypatch, capsys):
    monkeypatch.setenv("RNNBOOK_PROGRESS", "0")
    assert not progress_enabled()
    assert progress_enabled(True)
    train(step_fn, fresh_params(), SGD(0.1), [regression_data(make_rng(4), 4)], epochs=2,
          desc="quiet-run")
    assert "quiet-run" not in capsys.readouterr().err
    monkeypatch.setenv("RNNBOOK_PROGRESS", "Off")
    assert not progress_enabled()
    monkeypatch.setenv("RNNBOOK_PROGRESS", "1")
    assert progress_enabled() and not progress_enabled(False)
    monkeypatch.delenv("RNNBOOK_PROGRESS")
    assert progress_enabled()
    train(step_fn, fresh_params(), SGD(0.1), [regression_data(make_rng(4), 4)], epochs=2,
          desc="loud-run", progress=True)
    assert "loud-run" in capsys.readouterr().err


def test_history_helpers():
    h = History()
    for step, loss in enumerate([4.0, 2.0, 6.0, 0.0], start=1):
        h.record(step, loss, grad_norm=1.0)
    np.testing.assert_allclose(h.smoothed(2), [4.0, 3.0, 4.0, 3.0])
    np.testing.assert_allclose(h.smoothed(1), h.loss)
    assert h.recent_loss(2) == 3.0
    h.record_eval(2, 0.5)
    h.record_eval(4, {"eval": 0.25, "acc": 0.9})   # a metric that appears late
    assert h.eval_step == [2, 4]
    assert h.eval["eval"] == [0.5, 0.25]
    assert math.isnan(h.eval["acc"][0]) and h.eval["acc"][1] == 0.9
    d = h.as_dict()
    assert d["loss"] == [4.0, 2.0, 6.0, 0.0] and d["eval_step"] == [2, 4]
    json.loads(json.dumps(d))
    with pytest.raises(ValueError):
        h.smoothed(0)
    assert math.isnan(History().recent_loss())


def test_make_rng_is_seeded_and_explicit():
    assert make_rng(5).random() == make_rng(5).random()
    g = np.random.default_rng(6)
    assert make_rng(g) is g
    with pytest.raises(ValueError, match="reproducible"):
        make_rng(None)
    with pytest.raises(ValueError):
        make_rng(1.5)
