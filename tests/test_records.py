"""The shared pieces of the cells: gate views, argument checks, named results."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pytest

from rnnbook.checks import Shapes, check_cell_inputs, check_cell_params
from rnnbook.nn import (GRU_GATES, LSTM_GATES, CellGrads, GateViews, GRUGrads,
                        LSTMFullGrads, SequenceCache, get_cell, gru_backward, gru_forward,
                        kernels, lstm_backward, lstm_backward_full, lstm_forward,
                        rnn_backward, rnn_forward)


def test_gate_views_are_the_named_blocks_of_gates():
    @dataclass
    class Toy(GateViews, gates=(("a", "First"), ("b", "Second"), ("c", "Third"))):
        gates: np.ndarray

    gates = np.arange(2 * 3 * 6, dtype=float).reshape(2, 3, 6)
    toy = Toy(gates)
    assert Toy.gate_names == ("a", "b", "c")
    for k, name in enumerate(Toy.gate_names):
        view = getattr(toy, name)
        np.testing.assert_array_equal(view, gates[..., 2 * k:2 * k + 2])
        assert np.shares_memory(view, gates), name
    assert "Second" in Toy.b.__doc__


@pytest.mark.parametrize("cell,names", [("lstm", LSTM_GATES), ("gru", GRU_GATES)])
def test_every_cache_of_a_gated_cell_has_its_gate_views(cell, names):
    rng = np.random.default_rng(3)
    N, T, D, H = 2, 4, 3, 5
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    p = get_cell(cell).init(D, H, rng)
    readable = lstm_forward if cell == "lstm" else gru_forward
    fast = kernels.lstm_forward_fast if cell == "lstm" else kernels.gru_forward_fast
    _, cache = readable(x, h0, *p.values())
    _, fast_cache = fast(x, h0, *p.values())
    for k, (name, _) in enumerate(names):
        block = cache.gates[..., k * H:(k + 1) * H]
        np.testing.assert_array_equal(getattr(cache, name), block, err_msg=name)
        np.testing.assert_allclose(getattr(fast_cache, name), block, rtol=1e-12,
                                   atol=1e-14, err_msg=name)
        assert getattr(cache, name).shape == (N, T, H)
    # A step cache has the same views, one step wide.
    step_cache = cache.steps[0]
    assert (getattr(step_cache, names[0][0]).shape == (N, H))


def test_the_registry_names_the_gates_the_caches_show():
    assert get_cell("rnn").gate_names == ()
    for cell, table in (("lstm", LSTM_GATES), ("gru", GRU_GATES)):
        record = get_cell(cell)
        assert record.gate_names == tuple(name for name, _ in table)
        assert len(record.gate_names) == record.n_gates
    p = get_cell("lstm").init(3, 4, np.random.default_rng(1))
    _, cache = kernels.lstm_forward_fast(np.zeros((1, 2, 3)), np.zeros((1, 4)),
                                         *p.values())
    assert type(cache).gate_names == get_cell("lstm").gate_names


def test_sequence_cache_h_prev_is_h0_then_the_states():
    h0 = np.full((2, 3), -1.0)
    h = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    c = SequenceCache(np.zeros((2, 4, 1)), h0, np.zeros((1, 3)), np.zeros((3, 3)), h)
    np.testing.assert_array_equal(c.h_prev[:, 0], h0)
    np.testing.assert_array_equal(c.h_prev[:, 1:], h[:, :-1])


def test_check_cell_params_names_the_argument_and_checks_Wh_first():
    s = Shapes()
    Wx, Wh, b = check_cell_params(s, 4, Wx=np.zeros((3, 8)), Wh=np.zeros((2, 8)),
                                  b=np.zeros(8))
    assert (s["D"], s["H"]) == (3, 2) and b.shape == (8,)
    wx_error = r"^Wx has shape \(3, 6\) but needs \(D, 4\*H\)"
    with pytest.raises(ValueError, match=wx_error):
        check_cell_params(Shapes(), 4, Wx=np.zeros((3, 6)), Wh=np.zeros((2, 8)),
                          b=np.zeros(8))
    with pytest.raises(ValueError, match=r"^params\['bh'\] has shape \(4,\)"):
        check_cell_params(Shapes(), 3, "params[{!r}]", Wx=np.zeros((3, 6)),
                          Wh=np.zeros((2, 6)), bx=np.zeros(6), bh=np.zeros(4))


def test_check_cell_inputs_checks_states_and_steps():
    s = Shapes()
    check_cell_params(s, 1, Wx=np.zeros((3, 2)), Wh=np.zeros((2, 2)), b=np.zeros(2))
    x, h0, c0 = check_cell_inputs(s, np.zeros((4, 5, 3)), h0=np.zeros((4, 2)),
                                  c0=np.zeros((4, 2)))
    assert x.shape == (4, 5, 3) and s["T"] == 5
    with pytest.raises(ValueError, match=r"^c0 has shape \(4, 3\)"):
        check_cell_inputs(s, np.zeros((4, 5, 3)), h0=np.zeros((4, 2)),
                          c0=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="T = 0 time steps"):
        check_cell_inputs(Shapes(H=2, D=3), np.zeros((4, 0, 3)), h0=np.zeros((4, 2)))
    ndim_error = r"^x has shape \(4, 5, 3\) but needs 2 dimensions"
    with pytest.raises(ValueError, match=ndim_error):
        check_cell_inputs(Shapes(), np.zeros((4, 5, 3)), sequence=False,
                          h_prev=np.zeros((4, 2)))


def test_backward_results_are_named_and_lstm_backward_has_no_flags():
    assert list(inspect.signature(lstm_backward).parameters) == ["dh", "cache"]
    rng = np.random.default_rng(0)
    N, T, D, H = 2, 3, 2, 4
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    for cell, fwd, bwd, kind in (("rnn", rnn_forward, rnn_backward, CellGrads),
                                 ("lstm", lstm_forward, lstm_backward, CellGrads),
                                 ("gru", gru_forward, gru_backward, GRUGrads)):
        p = get_cell(cell).init(D, H, rng)
        h, cache = fwd(x, h0, *p.values())
        grads = bwd(np.ones_like(h), cache)
        assert type(grads) is kind, cell
        # Every parameter gradient has its parameter's shape, found by name.
        for name, value in p.items():
            assert getattr(grads, "d" + name).shape == value.shape, (cell, name)
        assert grads.dx.shape == x.shape and grads.dh0.shape == h0.shape
    p = get_cell("lstm").init(D, H, rng)
    full = lstm_backward_full(np.ones_like(h), lstm_forward(x, h0, *p.values())[1])
    assert type(full) is LSTMFullGrads and full.dc0.shape == (N, H)
    assert type(full.without_dc0()) is CellGrads
