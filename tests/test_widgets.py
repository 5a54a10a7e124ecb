"""Tests for rnnbook.widgets: the explorers build and redraw without a browser."""

import numpy as np
import pytest

from rnnbook.diagnostics import gradient_norms_by_lag
from rnnbook.init import set_spectral_radius
from rnnbook.widgets import draw_gradient_profile, gradient_lag_explorer, rnn_gradient_profile


@pytest.fixture
def setup():
    rng = np.random.default_rng(0)
    H, D = 6, 2
    return rng.standard_normal((H, H)), 0.5 * rng.standard_normal((D, H)), rng.uniform(size=(3, 12, D))


def test_profile_matches_the_diagnostics(setup):
    Wh, Wx, x = setup
    prof = rnn_gradient_profile(Wh, Wx, x, rho=0.8, input_scale=2.0)
    params = {"Wx": 2.0 * Wx, "Wh": set_spectral_radius(Wh, 0.8), "b": np.zeros(6)}
    lags, norms = gradient_norms_by_lag("rnn", params, x)
    np.testing.assert_array_equal(prof["lags"], lags)
    np.testing.assert_allclose(prof["median"], np.median(norms, axis=0))
    assert np.all(prof["q25"] <= prof["median"]) and np.all(prof["median"] <= prof["q75"])
    assert 0.0 <= prof["saturation"] <= 1.0


def test_saturation_grows_with_input_scale(setup):
    Wh, Wx, x = setup
    small = rnn_gradient_profile(Wh, Wx, x, rho=1.0, input_scale=0.1)
    large = rnn_gradient_profile(Wh, Wx, x, rho=1.0, input_scale=50.0)
    assert small["saturation"] == 0.0 and large["saturation"] > 0.5
    assert large["median"][-1] < 1e-3 * small["median"][-1]


def test_draw_gradient_profile_handles_underflow(setup):
    Wh, Wx, x = setup
    # With W_hh = 0 nothing flows back past the first step: exact zeros,
    # which a log axis cannot show; they are drawn at a floor instead.
    prof = rnn_gradient_profile(Wh, Wx, x, rho=0.0)
    assert np.all(prof["median"][1:] == 0.0)
    ax = draw_gradient_profile(prof, 0.0)
    median_line = ax.get_lines()[0]
    assert np.all(median_line.get_ydata() > 0)
    assert ax.get_yscale() == "log"
    assert ax.get_ylim() == pytest.approx((1e-16, 1e16))
    assert len(ax.get_lines()) == 3  # median, reference, and the line at 1


def test_explorer_builds_and_redraws_headless(setup):
    Wh, Wx, x = setup
    w = gradient_lag_explorer(Wh, Wx, x, rho=0.9)
    controls, out = w.children
    rho_slider, scale_slider = controls.children
    assert rho_slider.value == pytest.approx(0.9) and scale_slider.value == 1.0
    rho_slider.value = 2.0  # runs the redraw callback; must not raise
    scale_slider.value = 0.0


def test_explorer_rejects_bad_arrays(setup):
    Wh, Wx, x = setup
    with pytest.raises(ValueError, match="Wx"):
        gradient_lag_explorer(Wh, Wx[:, :3], x)
    with pytest.raises(ValueError, match="input_scale"):
        rnn_gradient_profile(Wh, Wx, x, 1.0, input_scale=-1.0)
