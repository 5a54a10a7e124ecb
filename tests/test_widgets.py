"""Tests for rnnbook.book.widgets: the explorers build and redraw without a browser."""

import numpy as np
import pytest

from rnnbook.book.diagnostics import gradient_norms_by_lag
from rnnbook.nn.init import set_spectral_radius
from rnnbook.book.widgets import draw_gradient_profile, gradient_lag_explorer, rnn_gradient_profile


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


def test_explorer_stores_the_profile_of_every_slider_position(setup):
    Wh, Wx, x = setup
    e = gradient_lag_explorer(Wh, Wx, x, rho=0.75, rho_range=(0.5, 2.0, 0.25),
                              scale_range=(0.0, 2.0, 1.0), lag_step=1)
    assert e.settings == 7 * 3
    params = {p["name"]: p["value"] for p in e.to_dict()["params"]}
    assert params == {"rho": 0.75, "input_scale": 1.0}
    for rho, scale in [(0.5, 0.0), (2.0, 2.0)]:
        stored = e.table(rho=rho, input_scale=scale)
        prof = rnn_gradient_profile(Wh, Wx, x, rho, scale)
        assert [int(v) for v in stored["lag"]] == list(prof["lags"])
        expected = np.log10(np.clip(prof["median"], 1e-17, 1e17))
        assert np.allclose([float(v) for v in stored["median"]], expected, atol=1e-3)
        assert float(stored["saturation"][0]) == pytest.approx(prof["saturation"], abs=1e-4)
    # The two corners differ, so moving the sliders changes the picture.
    assert e.table(rho=0.5, input_scale=0.0)["median"] != e.table(rho=2.0, input_scale=2.0)["median"]
    with pytest.raises(ValueError, match="rho_range"):
        gradient_lag_explorer(Wh, Wx, x, rho_range=(0.5, 2.0, 0.4))


def test_explorer_rejects_bad_arrays(setup):
    Wh, Wx, x = setup
    with pytest.raises(ValueError, match="Wx"):
        gradient_lag_explorer(Wh, Wx[:, :3], x)
    with pytest.raises(ValueError, match="input_scale"):
        rnn_gradient_profile(Wh, Wx, x, 1.0, input_scale=-1.0)


# -- the LSTM gate explorer ----------------------------------------------------------

from rnnbook.nn.init import init_lstm  # noqa: E402
from rnnbook.nn.lstm import lstm_forward  # noqa: E402
from rnnbook.book.widgets import draw_gate_traces, lstm_gate_explorer, lstm_gate_traces  # noqa: E402


@pytest.fixture
def lstm_setup():
    rng = np.random.default_rng(0)
    p = init_lstm(2, 3, rng)
    return rng.uniform(size=(2, 15, 2)), p["Wx"], p["Wh"], p["b"]


def test_gate_traces_match_lstm_forward(lstm_setup):
    x, Wx, Wh, b = lstm_setup
    t = lstm_gate_traces(x, Wx, Wh, b)
    h, cache = lstm_forward(x, np.zeros((2, 3)), Wx, Wh, b)
    np.testing.assert_array_equal(t["h"], h)
    for k in "ifgoc":
        np.testing.assert_array_equal(t[k], getattr(cache, k))
        assert t[k].shape == (2, 15, 3)
    np.testing.assert_array_equal(t["b"], b)


def test_gate_biases_and_scale_do_what_they_say(lstm_setup):
    x, Wx, Wh, b = lstm_setup
    t = lstm_gate_traces(x, Wx, Wh, b, input_bias=-30.0, forget_bias=30.0, output_bias=30.0)
    assert np.all(t["b"][:3] == -30.0) and np.all(t["b"][3:6] == 30.0)
    assert np.all(t["b"][9:] == 30.0) and np.array_equal(t["b"][6:9], b[6:9])
    # A closed input gate writes nothing, so the cell state stays near zero;
    # an open output gate passes tanh(c) through.
    assert np.abs(t["c"]).max() < 1e-6
    np.testing.assert_allclose(t["h"], np.tanh(t["c"]), atol=1e-9)
    # Without input weights the gates do not depend on x at all.
    flat = lstm_gate_traces(x, Wx, np.zeros_like(Wh), b, input_scale=0.0)
    for k in "ifo":
        assert np.allclose(flat[k], flat[k][:, :1])
    # A forget gate of sigmoid(-30) wipes the memory at every step: c = i * g.
    wiped = lstm_gate_traces(x, Wx, Wh, b, forget_bias=-30.0)
    np.testing.assert_allclose(wiped["c"], wiped["i"] * wiped["g"], atol=1e-12)
    with pytest.raises(ValueError, match="input_scale"):
        lstm_gate_traces(x, Wx, Wh, b, input_scale=-1.0)


def test_draw_gate_traces_draws_six_curves(lstm_setup):
    x, Wx, Wh, b = lstm_setup
    top, bottom = draw_gate_traces(lstm_gate_traces(x, Wx, Wh, b), n=1, unit=2, marks=[3, 7])
    assert len(top.get_lines()) == 3 + 2 and len(bottom.get_lines()) == 3 + 1 + 2
    assert top.get_ylim() == pytest.approx((-0.05, 1.05))
    with pytest.raises(ValueError, match="unit"):
        draw_gate_traces(lstm_gate_traces(x, Wx, Wh, b), unit=3)


def test_gate_explorer_stores_the_traces_of_every_slider_position(lstm_setup):
    x, Wx, Wh, b = lstm_setup
    e = lstm_gate_explorer(x, Wx, Wh, b, forget_bias=2.0, input_range=(-2.0, 2.0, 2.0),
                           forget_range=(0.0, 2.0, 1.0), output_range=(0.0, 1.0, 1.0),
                           n=1, unit=2, marks=[3])
    assert e.settings == 3 * 3 * 2
    params = {p["name"]: p["value"] for p in e.to_dict()["params"]}
    assert params == {"input_bias": 0.0, "forget_bias": 2.0, "output_bias": 0.0}
    knobs = dict(input_bias=-2.0, forget_bias=1.0, output_bias=1.0)
    stored = e.table(**knobs)
    traces = lstm_gate_traces(x, Wx, Wh, b, **knobs)
    for key in "ifogch":
        assert np.allclose([float(v) for v in stored[key]], traces[key][1, :, 2],
                           rtol=6e-3, atol=1e-6), key  # three significant digits
    assert e.table(**knobs)["c"] != e.table(input_bias=2.0, forget_bias=2.0,
                                            output_bias=1.0)["c"]
    with pytest.raises(ValueError, match="Wx"):
        lstm_gate_explorer(x, Wx[:, :6], Wh, b)
    with pytest.raises(ValueError, match="unit"):
        lstm_gate_explorer(x, Wx, Wh, b, unit=5)
    with pytest.raises(ValueError, match="marks"):
        lstm_gate_explorer(x, Wx, Wh, b, marks=[99])


def _legend_specs(spec):
    """Every legend an encoding of a Vega-Lite spec asks for, anywhere in it."""
    if isinstance(spec, dict):
        found = [spec["legend"]] if isinstance(spec.get("legend"), dict) else []
        return found + [leg for value in spec.values() for leg in _legend_specs(value)]
    if isinstance(spec, list):
        return [leg for value in spec for leg in _legend_specs(value)]
    return []


def test_gate_legends_do_not_cover_the_curves(lstm_setup):
    """A gate can sit anywhere in [0, 1], so no corner of a panel is free of data."""
    x, Wx, Wh, b = lstm_setup
    fig = draw_gate_traces(lstm_gate_traces(x, Wx, Wh, b), marks=[3])[0].figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out (constrained layout)
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.overlaps(ax.get_window_extent(renderer)), "legend on the panel"
    # The explorer's legends sit outside its panels (Vega-Lite's "top"), not
    # inside (top-left, bottom-right, ... or "none" with a position).
    e = lstm_gate_explorer(x, Wx, Wh, b, input_range=(0.0, 1.0, 1.0),
                           forget_range=(0.0, 1.0, 1.0), output_range=(0.0, 1.0, 1.0))
    spec = e.to_dict()
    default = spec["config"]["legend"].get("orient", "right")
    legends = _legend_specs({k: v for k, v in spec.items() if k != "config"})
    outside = {"left", "right", "top", "bottom"}
    assert len(legends) >= 2, legends
    assert all(leg.get("orient", default) in outside for leg in legends), legends
    # A saturated gate (exactly 0 or 1) is not drawn on the panel's frame.
    domains = [enc["y"]["scale"]["domain"] for enc in _y_encodings(e.to_dict())
               if enc["y"].get("scale", {}).get("domain")]
    assert domains and all(d[0] < 0 and d[1] > 1 for d in domains), domains


def _y_encodings(spec):
    if isinstance(spec, dict):
        found = [spec] if isinstance(spec.get("y"), dict) else []
        return found + [e for value in spec.values() for e in _y_encodings(value)]
    if isinstance(spec, list):
        return [e for value in spec for e in _y_encodings(value)]
    return []
