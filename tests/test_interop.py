"""Agreement with PyTorch, and the parameter conversions in rnnbook.interop.

The fixture tests compare against tests/fixtures/torch_reference.npz (made by
scripts/make_torch_fixtures.py) and always run. The live tests compute fresh
PyTorch results on new random inputs; they are skipped when PyTorch is not
installed, except under CI, which installs it.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from rnnbook import interop
from rnnbook.nn.attention import (additive_attention, additive_attention_backward,
                                   scaled_dot_product_attention,
                                   scaled_dot_product_attention_backward)
from rnnbook.train.gradcheck import rel_error
from rnnbook.nn.gru import gru_backward, gru_forward
from rnnbook.nn.lstm import lstm_backward, lstm_backward_full, lstm_forward
from rnnbook.nn.rnn import rnn_backward, rnn_forward

FIXTURE = Path(__file__).parent / "fixtures" / "torch_reference.npz"
TOL = 1e-8


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        cases = {}
        for key in data.files:
            case, name = key.split(".", 1)
            cases.setdefault(case, {})[name] = data[key]
    return cases


def _torch():
    """PyTorch for the live comparisons: skipped without it, except under CI.

    PyTorch is not a dependency of the book, so on a reader's machine these
    tests skip; `.ci/run` installs it, and there a missing torch is a failure
    rather than a silently skipped check.
    """
    try:
        import torch
    except ImportError as err:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"torch cannot be imported ({err}); under CI the live comparisons must run")
        pytest.skip(f"torch is not installed ({err}); the fixture comparisons above still ran")
    return torch


def assert_close(name, ours, theirs, tol=TOL):
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} vs {theirs.shape}"
    err = rel_error(ours, theirs)
    assert err < tol, f"{name}: relative error {err:.2e}"


def torch_params(r):
    return r["weight_ih"], r["weight_hh"], r["bias_ih"], r["bias_hh"]


def run_ours(kind, r, dout):
    """Forward and backward of our layer on a case given in PyTorch's layout.

    Returns the output and a dict of gradients named as in PyTorch.
    """
    if kind == "gru":
        Wx, Wh, bx, bh = interop.gru_from_torch(*torch_params(r))
        out, cache = gru_forward(r["x"], r["h0"], Wx, Wh, bx, bh)
        dx, dh0, dWx, dWh, dbx, dbh = gru_backward(dout, cache)
        grads = dict(dbias_ih=dbx, dbias_hh=dbh)
    elif kind == "lstm":
        Wx, Wh, b = interop.lstm_from_torch(*torch_params(r))
        out, cache = lstm_forward(r["x"], r["h0"], Wx, Wh, b, c0=r["c0"])
        dx, dh0, dc0, dWx, dWh, db = lstm_backward_full(dout, cache)
        # PyTorch adds both biases, so each receives the whole bias gradient.
        grads = dict(dbias_ih=db, dbias_hh=db, dc0=dc0)
    else:
        Wx, Wh, b = interop.rnn_from_torch(*torch_params(r))
        out, cache = rnn_forward(r["x"], r["h0"], Wx, Wh, b)
        dx, dh0, dWx, dWh, db = rnn_backward(dout, cache)
        grads = dict(dbias_ih=db, dbias_hh=db)
    grads.update(dx=dx, dh0=dh0, dweight_ih=dWx.T, dweight_hh=dWh.T)
    return out, grads


# -- fixture comparisons (no PyTorch needed) -------------------------------------

@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_layers_match_torch_fixture(ref, kind):
    r = ref[kind]
    out, grads = run_ours(kind, r, r["dout"])
    assert_close("out", out, r["out"])
    expected = ["dx", "dh0", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"]
    if kind == "lstm":
        expected.append("dc0")
    assert sorted(grads) == sorted(expected)
    for name in expected:
        assert_close(name, grads[name], r[name])


@pytest.mark.parametrize("case", ["attn", "attn_pad", "attn_full"])
def test_attention_matches_torch_fixture(ref, case):
    r = ref[case]
    out, weights, cache = scaled_dot_product_attention(r["q"], r["k"], r["v"], r.get("mask"))
    assert_close("out", out, r["out"])
    assert_close("weights", weights, r["weights"])
    if "mask" in r:
        assert np.all(weights[np.broadcast_to(~r["mask"], weights.shape)] == 0)
    for name, ours in zip(("dq", "dk", "dv"),
                          scaled_dot_product_attention_backward(r["dout"], cache)):
        assert_close(name, ours, r[name])


def test_fixture_is_small_and_float64(ref):
    assert FIXTURE.stat().st_size < 200 * 1024
    for case in ("rnn", "lstm", "gru"):
        assert ref[case]["x"].dtype == np.float64
    assert ref["attn_pad"]["mask"].dtype == np.bool_


# -- conversions -------------------------------------------------------------------

@pytest.mark.parametrize("kind,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_from_torch_transposes_and_keeps_blocks(kind, gates):
    rng = np.random.default_rng(0)
    D, H = 3, 2
    w_ih = rng.standard_normal((gates * H, D))
    w_hh = rng.standard_normal((gates * H, H))
    b_ih, b_hh = rng.standard_normal(gates * H), rng.standard_normal(gates * H)
    params = getattr(interop, f"{kind}_from_torch")(w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_array_equal(params[0], w_ih.T)
    np.testing.assert_array_equal(params[1], w_hh.T)
    if kind == "gru":
        np.testing.assert_array_equal(params[2], b_ih)
        np.testing.assert_array_equal(params[3], b_hh)
    else:
        np.testing.assert_array_equal(params[2], b_ih + b_hh)
    # Copies, not views: changing ours must not change theirs.
    params[0][0, 0] += 1
    assert params[0][0, 0] != w_ih[0, 0]


@pytest.mark.parametrize("kind,gates,nbias", [("rnn", 1, 1), ("lstm", 4, 1), ("gru", 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip(kind, gates, nbias, dtype):
    rng = np.random.default_rng(1)
    D, H = 4, 3
    ours = [rng.standard_normal((D, gates * H)).astype(dtype),
            rng.standard_normal((H, gates * H)).astype(dtype)]
    ours += [rng.standard_normal(gates * H).astype(dtype) for _ in range(nbias)]
    state = getattr(interop, f"{kind}_to_torch")(*ours)
    assert sorted(state) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    assert state["weight_ih_l0"].shape == (gates * H, D)
    assert state["weight_hh_l0"].shape == (gates * H, H)
    assert all(v.dtype == dtype for v in state.values())
    if nbias == 1:
        assert not state["bias_hh_l0"].any()
    back = getattr(interop, f"{kind}_from_torch")(
        state["weight_ih_l0"], state["weight_hh_l0"], state["bias_ih_l0"], state["bias_hh_l0"])
    for a, b in zip(back, ours):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == dtype


def test_key_names_for_layers_and_directions():
    Wx, Wh, b = np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8)
    keys = interop.lstm_to_torch(Wx, Wh, b, layer=1, reverse=True)
    assert sorted(keys) == ["bias_hh_l1_reverse", "bias_ih_l1_reverse",
                            "weight_hh_l1_reverse", "weight_ih_l1_reverse"]


def test_missing_biases_mean_zeros():
    Wx, Wh, b = interop.lstm_from_torch(np.ones((8, 3), np.float32), np.ones((8, 2), np.float32))
    assert b.shape == (8,) and b.dtype == np.float32 and not b.any()
    Wx, Wh, bx, bh = interop.gru_from_torch(np.ones((6, 3)), np.ones((6, 2)))
    assert not bx.any() and not bh.any()


def test_objects_with_detach_are_converted():
    class FakeParameter:  # the part of a torch Parameter that interop relies on
        def __init__(self, value):
            self.value = value

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.value

    w_ih, w_hh = np.arange(24.0).reshape(8, 3), np.arange(16.0).reshape(8, 2)
    Wx, Wh, b = interop.lstm_from_torch(FakeParameter(w_ih), FakeParameter(w_hh))
    np.testing.assert_array_equal(Wx, w_ih.T)
    np.testing.assert_array_equal(Wh, w_hh.T)


def test_conversion_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"^weight_ih has shape \(6, 3\).*multiple of 4"):
        interop.lstm_from_torch(np.zeros((6, 3)), np.zeros((8, 2)))
    with pytest.raises(ValueError, match=r"^weight_hh has shape \(8, 3\)"):
        interop.lstm_from_torch(np.zeros((8, 3)), np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"^bias_hh has shape \(5,\)"):
        interop.gru_from_torch(np.zeros((6, 3)), np.zeros((6, 2)), np.zeros(6), np.zeros(5))
    with pytest.raises(ValueError, match=r"^b has shape \(3,\)"):
        interop.rnn_to_torch(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"^Wh has shape \(2, 8\)"):
        interop.gru_to_torch(np.zeros((3, 6)), np.zeros((2, 8)), np.zeros(6), np.zeros(6))


# -- live comparisons with PyTorch ---------------------------------------------------

LIVE_SHAPES = [(1, 1, 1, 1), (2, 5, 3, 4), (3, 9, 2, 3)]


def _torch_layer(torch, kind, D, H, dtype, gen):
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    layer = cls(D, H, batch_first=True, dtype=dtype)
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.8, 0.8, generator=gen)
    return layer


def _torch_run(torch, kind, layer, r):
    """PyTorch's output and gradients for inputs given as numpy arrays."""
    x = torch.from_numpy(r["x"]).requires_grad_()
    h0 = torch.from_numpy(r["h0"])[None].requires_grad_()
    if kind == "lstm":
        c0 = torch.from_numpy(r["c0"])[None].requires_grad_()
        out, _ = layer(x, (h0, c0))
    else:
        out, _ = layer(x, h0)
    (out * torch.from_numpy(r["dout"])).sum().backward()
    grads = dict(dx=x.grad.numpy(), dh0=h0.grad[0].numpy())
    if kind == "lstm":
        grads["dc0"] = c0.grad[0].numpy()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        grads["d" + name] = getattr(layer, name + "_l0").grad.numpy()
    return out.detach().numpy(), grads


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("N,T,D,H", LIVE_SHAPES)
def test_live_torch_agreement_float64(kind, N, T, D, H):
    torch = _torch()
    gen = torch.Generator().manual_seed(N * 1000 + T * 10 + H)
    layer = _torch_layer(torch, kind, D, H, torch.float64, gen)
    rng = np.random.default_rng(N * 1000 + T * 10 + H)
    r = dict(x=rng.standard_normal((N, T, D)), h0=rng.standard_normal((N, H)),
             c0=rng.standard_normal((N, H)), dout=rng.standard_normal((N, T, H)))
    # Parameters go in as torch tensors, exercising the detach() path.
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        r[name] = getattr(layer, name + "_l0")
    out_theirs, grads_theirs = _torch_run(torch, kind, layer, r)
    out_ours, grads_ours = run_ours(kind, r, r["dout"])
    assert_close("out", out_ours, out_theirs)
    for name, theirs in grads_theirs.items():
        assert_close(name, grads_ours[name], theirs)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_live_torch_loads_our_parameters_float32(kind):
    torch = _torch()
    rng = np.random.default_rng(7)
    N, T, D, H = 4, 12, 5, 6
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    f32 = np.float32
    params = [(0.5 * rng.standard_normal((D, gates * H))).astype(f32),
              (0.5 * rng.standard_normal((H, gates * H))).astype(f32)]
    params += [(0.3 * rng.standard_normal(gates * H)).astype(f32)
               for _ in range(2 if kind == "gru" else 1)]
    x = rng.standard_normal((N, T, D)).astype(f32)
    h0 = rng.standard_normal((N, H)).astype(f32)
    ours = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}[kind](x, h0, *params)[0]
    assert ours.dtype == np.float32

    layer = _torch_layer(torch, kind, D, H, torch.float32, torch.Generator().manual_seed(0))
    state = getattr(interop, f"{kind}_to_torch")(*params)
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    hidden = torch.from_numpy(h0)[None]
    if kind == "lstm":
        hidden = (hidden, torch.zeros_like(hidden))
    with torch.no_grad():
        theirs = layer(torch.from_numpy(x), hidden)[0].numpy()
    assert_close("out", ours, theirs, tol=1e-5)


@pytest.mark.parametrize("mask_kind", [None, "pad", "causal"])
def test_live_attention_agreement(mask_kind):
    torch = _torch()
    rng = np.random.default_rng(11)
    N, Tq, Tk, d, dv = 3, 4, 6, 5, 2
    q, k = rng.standard_normal((N, Tq, d)), rng.standard_normal((N, Tk, d))
    v, dout = rng.standard_normal((N, Tk, dv)), rng.standard_normal((N, Tq, dv))
    if mask_kind == "pad":
        mask = (np.arange(Tk)[None, :] < np.array([6, 3, 1])[:, None])[:, None, :]
    elif mask_kind == "causal":
        mask = np.tril(np.ones((Tq, Tk), dtype=bool), k=Tk - Tq)
    else:
        mask = None
    out, weights, cache = scaled_dot_product_attention(q, k, v, mask)
    dq, dk, dv_ = scaled_dot_product_attention_backward(dout, cache)

    tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
    t_mask = None if mask is None else torch.from_numpy(mask)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=t_mask)
    (t_out * torch.from_numpy(dout)).sum().backward()
    assert_close("out", out, t_out.detach().numpy())
    for name, ours, theirs in (("dq", dq, tq.grad), ("dk", dk, tk.grad), ("dv", dv_, tv.grad)):
        assert_close(name, ours, theirs.numpy())


@pytest.mark.parametrize("masked", [False, True])
def test_live_additive_attention_agrees_with_autograd(masked):
    """Bahdanau's score w . tanh(q Wq + k Wk), written in torch, differentiated by autograd."""
    torch = _torch()
    rng = np.random.default_rng(12)
    N, Tq, Tk, d, dv, A = 2, 3, 5, 4, 3, 6
    q, k = rng.standard_normal((N, Tq, d)), rng.standard_normal((N, Tk, d))
    v, dout = rng.standard_normal((N, Tk, dv)), rng.standard_normal((N, Tq, dv))
    Wq, Wk, w = rng.standard_normal((d, A)), rng.standard_normal((d, A)), rng.standard_normal(A)
    mask = (np.arange(Tk)[None, :] < np.array([5, 2])[:, None])[:, None, :] if masked else None
    out, weights, cache = additive_attention(q, k, v, Wq, Wk, w, mask)
    grads = additive_attention_backward(dout, cache)

    t = [torch.from_numpy(a).requires_grad_() for a in (q, k, v, Wq, Wk, w)]
    tq, tk, tv, tWq, tWk, tw = t
    scores = torch.tanh((tq @ tWq)[:, :, None, :] + (tk @ tWk)[:, None, :, :]) @ tw
    if mask is not None:
        scores = scores.masked_fill(~torch.from_numpy(np.broadcast_to(mask, scores.shape).copy()),
                                    float("-inf"))
    t_weights = torch.softmax(scores, dim=-1)
    t_out = t_weights @ tv
    (t_out * torch.from_numpy(dout)).sum().backward()
    assert_close("out", out, t_out.detach().numpy())
    assert_close("weights", weights, t_weights.detach().numpy())
    for name, ours, theirs in zip(("dq", "dk", "dv", "dWq", "dWk", "dw"), grads, t):
        assert_close(name, ours, theirs.grad.numpy())


# -- bidirectional and stacked layers over padded batches ---------------------------

@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_live_stacked_layers_over_padded_batches_match_packed_torch(kind, bidirectional):
    # Our masked layers over a padded batch against PyTorch's layers on the
    # packed sequences (float64): outputs, input gradients and the gradient
    # of every weight of every layer and direction.
    torch = _torch()
    from rnnbook.nn import get_cell, stacked_backward, stacked_forward

    N, T, D, H, L = 4, 6, 3, 5, 2
    rng = np.random.default_rng(31 + 2 * ["rnn", "lstm", "gru"].index(kind) + bidirectional)
    cell = get_cell(kind)
    dirs = 2 if bidirectional else 1

    def params(d_in):
        p = cell.init(d_in, H, rng)
        for k in p:  # non-zero biases too, so that every term is exercised
            p[k] = p[k] + 0.1 * rng.standard_normal(p[k].shape)
        return p

    layers = []
    for l in range(L):
        d_in = D if l == 0 else dirs * H
        layers.append((params(d_in), params(d_in)) if bidirectional else params(d_in))
    lengths = np.array([6, 3, 1, 4])
    x = rng.standard_normal((N, T, D))
    dout = rng.standard_normal((N, T, dirs * H))
    out, cache = stacked_forward(kind, x, layers, lengths, bidirectional=bidirectional)
    dx, grads = stacked_backward(dout, cache)

    to_torch = {"rnn": interop.rnn_to_torch, "lstm": interop.lstm_to_torch,
                "gru": interop.gru_to_torch}[kind]
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    layer = module(D, H, num_layers=L, batch_first=True, bidirectional=bidirectional,
                   dtype=torch.float64)
    state = {}
    for l, entry in enumerate(layers):
        for reverse, p in enumerate(entry if bidirectional else (entry,)):
            state.update(to_torch(*(p[k] for k in cell.param_names), layer=l,
                                  reverse=bool(reverse)))
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    xt = torch.from_numpy(x).requires_grad_()
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.from_numpy(lengths),
                                                     batch_first=True, enforce_sorted=False)
    out_packed, _ = layer(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=True,
                                                      total_length=T)
    out_t.backward(torch.from_numpy(dout))

    assert_close("out", out, out_t.detach().numpy())
    assert_close("dx", dx, xt.grad.numpy())
    for l, entry in enumerate(grads):
        for reverse, g in enumerate(entry if bidirectional else (entry,)):
            suffix = f"_l{l}" + ("_reverse" if reverse else "")
            theirs = {k: getattr(layer, k + suffix).grad.numpy()
                      for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            assert_close(f"dWx{suffix}", g["Wx"], theirs["weight_ih"].T)
            assert_close(f"dWh{suffix}", g["Wh"], theirs["weight_hh"].T)
            if kind == "gru":
                assert_close(f"dbx{suffix}", g["bx"], theirs["bias_ih"])
                assert_close(f"dbh{suffix}", g["bh"], theirs["bias_hh"])
            else:  # our single bias stands for both of PyTorch's
                assert_close(f"db{suffix}", g["b"], theirs["bias_ih"])
                assert_close(f"db{suffix} (hh)", g["b"], theirs["bias_hh"])
