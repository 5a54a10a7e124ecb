"""The fast kernels agree with the readable sequence functions, and any cell plugs in.

The readable ``rnn_forward``, ``lstm_forward``, ``gru_forward`` (and their
backward passes) are loops over the step functions; the kernels of
:mod:`rnnbook.nn.kernels` reorganise the same computation for speed. Both
must give the same outputs and every gradient to float64 precision.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from rnnbook.nn import (cell_from_steps, cell_names, get_cell, gru_backward, gru_forward,
                        kernels, lstm_backward, lstm_backward_full, lstm_forward,
                        recurrent_backward, recurrent_forward, register_cell,
                        rnn_backward, rnn_forward, stacked_backward, stacked_forward)
from rnnbook.nn import cells as cells_module
from rnnbook.train import numerical_gradient, rel_error

SHAPES = [(1, 1, 1, 1), (3, 5, 4, 6), (2, 9, 3, 2)]


def _params(cell, D, H, rng):
    k = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    p = {"Wx": rng.standard_normal((D, k * H)) * 0.5,
         "Wh": rng.standard_normal((H, k * H)) * 0.5}
    for b in get_cell(cell).param_names[2:]:
        p[b] = rng.standard_normal(k * H) * 0.5
    return p


def _close(a, b, name):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("shape", SHAPES)
def test_rnn_kernel_matches_the_readable_loop(shape):
    N, T, D, H = shape
    rng = np.random.default_rng(sum(shape))
    p = _params("rnn", D, H, rng)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    dh = rng.standard_normal((N, T, H))
    h, cache = rnn_forward(x, h0, p["Wx"], p["Wh"], p["b"])
    hf, cf = kernels.rnn_forward_fast(x, h0, p["Wx"], p["Wh"], p["b"])
    _close(hf, h, "h")
    for name, a, b in zip(("dx", "dh0", "dWx", "dWh", "db"), rnn_backward(dh, cache),
                          kernels.rnn_backward_fast(dh, cf)):
        _close(b, a, name)


@pytest.mark.parametrize("shape", SHAPES)
def test_gru_kernel_matches_the_readable_loop(shape):
    N, T, D, H = shape
    rng = np.random.default_rng(sum(shape) + 1)
    p = _params("gru", D, H, rng)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    dh = rng.standard_normal((N, T, H))
    args = (p["Wx"], p["Wh"], p["bx"], p["bh"])
    h, cache = gru_forward(x, h0, *args)
    hf, cf = kernels.gru_forward_fast(x, h0, *args)
    _close(hf, h, "h")
    _close(cf.gates, cache.gates, "gates")
    for name, a, b in zip(("dx", "dh0", "dWx", "dWh", "dbx", "dbh"), gru_backward(dh, cache),
                          kernels.gru_backward_fast(dh, cf)):
        _close(b, a, name)


@pytest.mark.parametrize("shape", SHAPES)
def test_lstm_kernel_matches_the_readable_loop(shape):
    N, T, D, H = shape
    rng = np.random.default_rng(sum(shape) + 2)
    p = _params("lstm", D, H, rng)
    x, h0, c0 = (rng.standard_normal(s) for s in ((N, T, D), (N, H), (N, H)))
    dh, dc = rng.standard_normal((N, T, H)), rng.standard_normal((N, T, H))
    args = (p["Wx"], p["Wh"], p["b"])
    h, cache = lstm_forward(x, h0, *args, c0=c0)
    hf, cf = kernels.lstm_forward_fast(x, h0, *args, c0=c0)
    _close(hf, h, "h")
    for name in ("c", "tanh_c", "i", "f", "g", "o", "gates"):
        _close(getattr(cf, name), getattr(cache, name), name)
    # Both take a cell-state gradient at every step and return the same
    # named gradients, dc0 among them.
    want = lstm_backward_full(dh, cache, dc)
    got = kernels.lstm_backward_fast(dh, cf, dc)
    assert type(got) is type(want)
    for name in want._fields:
        _close(getattr(got, name), getattr(want, name), name)
    # Without dc the kernel's gradients are the contract's lstm_backward.
    plain = lstm_backward(dh, cache)
    fast = kernels.lstm_backward_fast(dh, cf)
    for name in plain._fields:
        _close(getattr(fast, name), getattr(plain, name), name)


def test_lstm_kernel_cell_state_gradient_at_every_step():
    # A gradient on c at every step, checked against finite differences.
    N, T, D, H = 2, 4, 3, 2
    rng = np.random.default_rng(9)
    p = _params("lstm", D, H, rng)
    x, h0, c0 = (rng.standard_normal(s) for s in ((N, T, D), (N, H), (N, H)))
    dh, dc = rng.standard_normal((N, T, H)), rng.standard_normal((N, T, H))

    def objective(_):
        h, cache = kernels.lstm_forward_fast(x, h0, p["Wx"], p["Wh"], p["b"], c0=c0)
        return np.sum(h * dh) + np.sum(cache.c * dc)

    _, cache = kernels.lstm_forward_fast(x, h0, p["Wx"], p["Wh"], p["b"], c0=c0)
    dx, dh0, dc0, dWx, dWh, db = kernels.lstm_backward_fast(dh, cache, dc)
    for analytic, wrt in ((dx, x), (dh0, h0), (dc0, c0), (dWh, p["Wh"]), (db, p["b"])):
        assert rel_error(analytic, numerical_gradient(objective, wrt)) < 1e-7


def test_the_library_cells_use_the_kernels():
    for name in ("rnn", "lstm", "gru"):
        cell = get_cell(name)
        rng = np.random.default_rng(0)
        p = cell.init(3, 2, rng)
        states0 = cell.zero_states(2, 2, np.float64)
        _, cache = cell.forward(rng.standard_normal((2, 4, 3)), states0, p)
        assert type(cache).__module__ == "rnnbook.nn.kernels", name


# -- a cell written elsewhere -------------------------------------------------------

def _leaky_cell():
    """A toy cell, h = (1 - a) h_prev + a tanh(x Wx + h_prev Wh + b) with a = 0.5."""
    a = 0.5

    def init(D, H, rng, dtype=np.float64):
        return {"Wx": (0.5 * rng.standard_normal((D, H))).astype(dtype),
                "Wh": (0.5 * rng.standard_normal((H, H))).astype(dtype),
                "b": np.zeros(H, dtype=dtype)}

    def step_forward(x, states, p):
        h_prev = states[0]
        u = np.tanh(x @ p["Wx"] + h_prev @ p["Wh"] + p["b"])
        return ((1 - a) * h_prev + a * u,), (x, h_prev, u, p)

    def step_backward(dstates, cache):
        x, h_prev, u, p = cache
        du = a * dstates[0] * (1 - u * u)
        grads = {"Wx": x.T @ du, "Wh": h_prev.T @ du, "b": du.sum(axis=0)}
        return du @ p["Wx"].T, ((1 - a) * dstates[0] + du @ p["Wh"].T,), grads

    return cell_from_steps("leaky", ("h",), ("Wx", "Wh", "b"), init, step_forward,
                           step_backward)


@pytest.fixture
def leaky():
    saved = dict(cells_module._REGISTRY)
    register_cell(_leaky_cell())  # the cell's one registration
    yield "leaky"
    cells_module._REGISTRY.clear()
    cells_module._REGISTRY.update(saved)


def test_a_registered_toy_cell_runs_through_the_masked_and_stacked_wrappers(leaky):
    assert leaky in cell_names()
    rng = np.random.default_rng(4)
    N, T, D, H = 3, 5, 2, 4
    cell = get_cell(leaky)
    p = cell.init(D, H, rng)
    x = rng.standard_normal((N, T, D))
    lengths = np.array([5, 2, 0])
    dh, dl = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))

    def objective(_):
        h, cache = recurrent_forward(leaky, x, None, p, lengths)
        return np.sum(h * dh) + np.sum(cache.h_last * dl)

    h, cache = recurrent_forward(leaky, x, None, p, lengths)
    assert np.all(h[1, 2:] == 0) and np.all(h[2] == 0)
    dx, _, grads, dc0 = recurrent_backward(dh, cache, dh_last=dl)
    assert dc0 is None
    assert rel_error(dx, numerical_gradient(objective, x)) < 1e-7
    for k in p:
        assert rel_error(grads[k], numerical_gradient(objective, p[k])) < 1e-7

    layers = [(cell.init(D, H, rng), cell.init(D, H, rng)),
              (cell.init(2 * H, H, rng), cell.init(2 * H, H, rng))]
    top, scache = stacked_forward(leaky, x, layers, lengths, bidirectional=True)
    dtop = rng.standard_normal(top.shape)
    dx, lgrads = stacked_backward(dtop, scache)

    def stacked_objective(_):
        return np.sum(stacked_forward(leaky, x, layers, lengths, bidirectional=True)[0] * dtop)

    assert rel_error(dx, numerical_gradient(stacked_objective, x)) < 1e-7
    assert rel_error(lgrads[0][1]["Wh"],
                     numerical_gradient(stacked_objective, layers[0][1]["Wh"])) < 1e-7


def test_a_registered_toy_cell_trains_in_the_language_model(leaky):
    from rnnbook.models import init_lm, lm_loss, lm_loss_and_grads, sample_lm

    rng = np.random.default_rng(5)
    V, D, H, N, T = 7, 3, 4, 2, 5
    ids = rng.integers(0, V, (N, T))
    targets = rng.integers(0, V, (N, T))
    for size in (None, D):                    # character level, then word level
        params = init_lm(leaky, V, H, rng, D=size)
        state = tuple(rng.standard_normal((N, H)) for _ in get_cell(leaky).state_names)
        loss, grads, _ = lm_loss_and_grads(leaky, params, ids, targets, state)
        assert set(grads) == set(params)

        def objective(_):
            return lm_loss(leaky, params, ids, targets, state)[0]

        for k in params:
            assert rel_error(grads[k], numerical_gradient(objective, params[k])) < 1e-7
        assert sample_lm(leaky, params, [1, 2], 4, 1.0, rng).shape == (4,)


@pytest.mark.parametrize("N,T", [(1, 4), (3, 1), (1, 1)])
def test_kernels_leave_the_upstream_gradients_alone(N, T):
    # A time-major copy of a (1, T, H) array is contiguous already: a kernel
    # that updated it in place would change the caller's gradient.
    rng = np.random.default_rng(N + T)
    D, H = 2, 3
    for name in ("rnn", "lstm", "gru"):
        cell = get_cell(name)
        p = cell.init(D, H, rng)
        x = rng.standard_normal((N, T, D))
        seqs, cache = cell.forward(x, cell.zero_states(N, H, np.float64), p)
        dseqs = tuple(rng.standard_normal(s.shape) for s in seqs)
        before = [d.copy() for d in dseqs]
        cell.backward(dseqs, cache)
        for d, b in zip(dseqs, before):
            np.testing.assert_array_equal(d, b, err_msg=name)


_FAULTS_PROBE = """
import os, resource, sys
import numpy as np
from rnnbook.nn.kernels import lstm_backward_fast, lstm_forward_fast
rng = np.random.default_rng(0)
N, T, D, H = 16, 100, 32, 64
x = rng.standard_normal((N, T, D))
h0 = np.zeros((N, H))
Wx, Wh = 0.1 * rng.standard_normal((D, 4 * H)), 0.1 * rng.standard_normal((H, 4 * H))
b, dh = np.zeros(4 * H), rng.standard_normal((N, T, H))
def step():
    h, cache = lstm_forward_fast(x, h0, Wx, Wh, b)
    lstm_backward_fast(dh, cache)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
@pytest.mark.parametrize("setting", ["tune", "default"])
def test_repeated_passes_reuse_freed_memory_instead_of_faulting_pages_in(setting):
    # Importing the kernels raises glibc's thresholds, so that the large arrays
    # of one pass reuse the memory the previous pass freed. Without it (the
    # control, RNNBOOK_MALLOC=default) each pass faults every page of its
    # arrays in again: about 6 MB here, some 1500 faults.
    env = dict(os.environ, RNNBOOK_MALLOC=setting)
    out = subprocess.run([sys.executable, "-c", _FAULTS_PROBE], env=env, text=True,
                         capture_output=True, timeout=120, check=True)
    faults = float(out.stdout.split()[-1])
    if setting == "tune":
        assert faults < 20, faults
    else:
        assert faults > 200, faults
