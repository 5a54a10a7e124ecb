"""Tests for rnnbook.train.optim: update rules, state, validation and clipping."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbook.train.optim import SGD, Adagrad, Adam, Momentum, clip_grad_norm, grad_norm


def quadratic(params, A, c):
    """f(x) = 1/2 (x-c)^T A (x-c) for a symmetric positive definite A; returns (f, grads)."""
    r = params["x"] - c
    return 0.5 * float(r @ A @ r), {"x": A @ r}


def make_problem(dtype=np.float64):
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    A = (Q * np.array([0.5, 1.0, 2.0, 3.0, 4.0])) @ Q.T   # condition number 8
    c = rng.standard_normal(5)
    return A.astype(dtype), c.astype(dtype)


OPTIMISERS = {
    "sgd": lambda: SGD(0.1),
    "momentum": lambda: Momentum(0.05, momentum=0.9),
    "adagrad": lambda: Adagrad(0.5),
    "adam": lambda: Adam(0.05),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_each_optimiser_minimises_a_convex_quadratic(name):
    A, c = make_problem()
    params = {"x": np.zeros(5)}
    x_array = params["x"]
    opt = OPTIMISERS[name]()
    f0, _ = quadratic(params, A, c)
    for _ in range(500):
        _, grads = quadratic(params, A, c)
        opt.step(params, grads)
    f_end, _ = quadratic(params, A, c)
    assert f_end < 1e-6 * f0
    assert params["x"] is x_array        # updated in place, not replaced
    np.testing.assert_allclose(params["x"], c, atol=1e-3)


@pytest.mark.parametrize("name", OPTIMISERS)
def test_float32_parameters_stay_float32(name):
    A, c = make_problem(np.float32)
    params = {"x": np.zeros(5, np.float32), "y": np.ones((2, 3), np.float32)}
    opt = OPTIMISERS[name]()
    for _ in range(3):
        # float64 gradients must not promote float32 parameters
        grads = {"x": quadratic(params, A, c)[1]["x"].astype(np.float64),
                 "y": np.ones((2, 3), np.float32)}
        opt.step(params, grads)
    assert params["x"].dtype == np.float32 and params["y"].dtype == np.float32
    for slots in opt.state.values():
        assert all(s.dtype == np.float32 for s in slots.values())


def test_sgd_and_momentum_rules_exactly():
    p = {"w": np.array([1.0, -2.0])}
    SGD(0.5).step(p, {"w": np.array([2.0, 4.0])})
    np.testing.assert_array_equal(p["w"], [0.0, -4.0])
    p = {"w": np.zeros(1)}
    opt = Momentum(1.0, momentum=0.5)
    for _ in range(3):                              # constant gradient 1
        opt.step(p, {"w": np.ones(1)})
    # velocities -1, -1.5, -1.75 -> position -4.25
    np.testing.assert_allclose(p["w"], [-4.25])
    np.testing.assert_allclose(opt.state["w"]["velocity"], [-1.75])


def test_adagrad_step_shrinks():
    p = {"w": np.zeros(1)}
    opt = Adagrad(1.0, eps=1e-12)
    steps = []
    for _ in range(4):
        before = p["w"].copy()
        opt.step(p, {"w": np.full(1, 3.0)})
        steps.append(float(before[0] - p["w"][0]))
    np.testing.assert_allclose(steps, [1 / math.sqrt(k) for k in range(1, 5)], rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(lr=st.floats(1e-4, 1.0), seed=st.integers(0, 2**32 - 1))
def test_adam_first_step_is_about_lr_per_coordinate(lr, seed):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((3, 4)) * 10 ** rng.uniform(-3, 3, size=(3, 4))
    p = {"w": np.zeros((3, 4))}
    Adam(lr).step(p, {"w": g})
    # Bias correction makes m_hat = g and s_hat = g**2 on step 1: the step is
    # lr * g / (|g| + eps), i.e. lr against the sign of g unless |g| is
    # comparable to eps = 1e-8.
    np.testing.assert_allclose(p["w"], -lr * g / (np.abs(g) + 1e-8), rtol=1e-12)
    assert np.all(np.abs(p["w"]) <= lr)
    big = np.abs(g) > 1e-5
    np.testing.assert_allclose(p["w"][big], -lr * np.sign(g[big]), rtol=1e-3)


def test_state_is_kept_per_parameter_name():
    opt = Adam(0.1)
    params = {"a": np.zeros(2), "b": np.zeros(3)}
    opt.step(params, {"a": np.ones(2), "b": -np.ones(3)})
    assert set(opt.state) == {"a", "b"} and opt.t == 1
    assert opt.state["a"]["m"].shape == (2,) and opt.state["b"]["s"].shape == (3,)
    np.testing.assert_allclose(opt.state["b"]["m"], -0.1 * np.ones(3))


def test_bad_gradients_are_rejected_before_any_update():
    params = {"a": np.zeros(2), "b": np.zeros(3)}
    opt = SGD(0.1)
    with pytest.raises(ValueError, match=r"grads has no entry for parameter\(s\) \['b'\]"):
        opt.step(params, {"a": np.ones(2)})
    with pytest.raises(ValueError, match=r"grads\['b'\] has shape \(3, 1\) but params\['b'\] has shape \(3,\)"):
        opt.step(params, {"a": np.ones(2), "b": np.ones((3, 1))})
    with pytest.raises(ValueError, match=r"grads has entries \['c'\]"):
        opt.step(params, {"a": np.ones(2), "b": np.ones(3), "c": np.ones(1)})
    with pytest.raises(ValueError, match="not a floating numpy array"):
        opt.step({"a": [0.0, 0.0]}, {"a": np.ones(2)})
    assert not params["a"].any() and not params["b"].any() and opt.t == 0


@pytest.mark.parametrize("make", [lambda: SGD(0), lambda: Momentum(0.1, 1.0),
                                  lambda: Adam(0.1, beta2=-0.1), lambda: Adagrad(0.1, eps=0)])
def test_bad_hyperparameters(make):
    with pytest.raises(ValueError):
        make()


# -- clipping ---------------------------------------------------------------------


def _grads(scale, dtype=np.float64):
    rng = np.random.default_rng(1)
    return {"W": scale * rng.standard_normal((3, 4)).astype(dtype),
            "b": scale * rng.standard_normal(4).astype(dtype)}


def _norm(grads):
    return math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))


def test_clip_above_threshold_gives_max_norm_and_keeps_direction():
    grads = _grads(10.0)
    before = {k: v.copy() for k, v in grads.items()}
    arrays = {k: id(v) for k, v in grads.items()}
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(_norm(before), rel=1e-12)
    assert _norm(grads) == pytest.approx(1.0, rel=1e-12)
    for k in grads:
        assert id(grads[k]) == arrays[k]        # in place
        np.testing.assert_allclose(grads[k], before[k] / norm, rtol=1e-12)


def test_clip_below_threshold_leaves_gradients_alone():
    grads = _grads(0.01)
    before = {k: v.copy() for k, v in grads.items()}
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(_norm(before), rel=1e-12) and norm < 1.0
    for k in grads:
        np.testing.assert_array_equal(grads[k], before[k])


def test_clip_float32_and_huge_values():
    grads = _grads(1e30, np.float32)            # squares would overflow float32
    norm = clip_grad_norm(grads, 5.0)
    assert math.isfinite(norm) and norm > 1e30
    assert all(g.dtype == np.float32 for g in grads.values())
    assert _norm(grads) == pytest.approx(5.0, rel=1e-5)
    big = {"g": np.array([1e200, 1e200])}       # squares would overflow float64
    assert grad_norm(big) == pytest.approx(math.sqrt(2) * 1e200, rel=1e-12)


def test_clip_non_finite_norm_is_reported_not_applied():
    grads = {"g": np.array([1.0, np.inf])}
    assert clip_grad_norm(grads, 1.0) == math.inf
    np.testing.assert_array_equal(grads["g"], [1.0, np.inf])
    assert grad_norm({}) == 0.0 and grad_norm({"z": np.zeros(3)}) == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grads, 0.0)
