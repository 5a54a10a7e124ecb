"""Tests for rnnbook.nn.activations: stability at extreme inputs, dtypes, identities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnbook.nn.activations import log_softmax, sigmoid, softmax, tanh

FUNCTIONS = [sigmoid, tanh, softmax, log_softmax]
DTYPES = [np.float32, np.float64]
EXTREME = [-1e4, -1e3, -100.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 100.0, 1e3, 1e4]

# Finite floats well inside the range where float64 arithmetic is exact enough.
finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                      elements=st.floats(-1e4, 1e4, allow_nan=False))


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_extreme_inputs_are_finite_and_raise_no_warning(fn, dtype):
    x = np.array([EXTREME, EXTREME[::-1]], dtype=dtype)
    # Overflow, invalid operations and division by zero would be bugs;
    # pyproject turns any warning into an error as well.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = fn(x)
    assert y.dtype == dtype
    assert y.shape == x.shape
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dtype_and_shape_are_kept(fn, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(dtype)
    y = fn(x)
    assert y.dtype == dtype and y.shape == x.shape


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_integer_input_is_rejected(fn):
    with pytest.raises(ValueError, match="int64"):
        fn(np.arange(3, dtype=np.int64))


def test_sigmoid_limits_and_known_values():
    y = sigmoid(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(sigmoid(np.array([np.log(3.0)])), [0.75], rtol=1e-15)
    # Far in the left tail the value is tiny but still relatively accurate.
    np.testing.assert_allclose(sigmoid(np.array([-30.0])), [np.exp(-30.0) / (1 + np.exp(-30.0))],
                               rtol=1e-14)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 20), elements=finite))
def test_sigmoid_is_symmetric(x):
    np.testing.assert_allclose(sigmoid(-x), 1 - sigmoid(x), rtol=0, atol=1e-15)
    assert np.all((sigmoid(x) >= 0) & (sigmoid(x) <= 1))


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(2, 20), elements=finite, unique=True))
def test_sigmoid_is_monotone(x):
    x = np.sort(x)
    assert np.all(np.diff(sigmoid(x)) >= 0)


def test_tanh_matches_sigmoid_identity():
    x = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(tanh(x), 2 * sigmoid(2 * x) - 1, atol=1e-15)


@settings(max_examples=50, deadline=None)
@given(matrices)
def test_softmax_rows_are_distributions(x):
    p = softmax(x)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    # Adding a constant to a row leaves its softmax unchanged.
    np.testing.assert_allclose(softmax(x + 123.0), p, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_along_other_axis(dtype):
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(dtype)
    p = softmax(x, axis=1)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=tol)
    np.testing.assert_allclose(p, np.swapaxes(softmax(np.swapaxes(x, 1, -1)), 1, -1), rtol=tol)


@settings(max_examples=50, deadline=None)
@given(matrices)
def test_log_softmax_is_log_of_softmax_where_finite(x):
    log_p = log_softmax(x)
    assert np.all(np.isfinite(log_p)) and np.all(log_p <= 0)
    p = softmax(x)
    # Where the softmax is not tiny, log(softmax) is accurate and must agree.
    ok = p > 1e-300
    np.testing.assert_allclose(log_p[ok], np.log(p[ok]), rtol=1e-12, atol=1e-12)


def test_log_softmax_stays_finite_where_softmax_underflows():
    x = np.array([[0.0, -1e4]])
    np.testing.assert_array_equal(softmax(x), [[1.0, 0.0]])
    np.testing.assert_allclose(log_softmax(x), [[0.0, -1e4]], rtol=1e-15)
