"""Write tests/fixtures/torch_reference.npz: PyTorch's answers on small problems.

The library never imports PyTorch, and the test suite must run without it, so
reference results are computed once here and stored. For each layer the file
holds the inputs, the parameters in PyTorch's layout, the outputs, a random
upstream gradient ``dout`` and the gradients of ``sum(out * dout)`` with
respect to the inputs, the initial states and every parameter, all in
float64. Keys are ``"<case>.<name>"``, for example ``"lstm.weight_ih"``.

Cases:
    rnn          torch.nn.RNN (tanh), batch_first
    lstm         torch.nn.LSTM, batch_first, with a nonzero c0
    gru          torch.nn.GRU, batch_first
    attn         scaled dot-product attention without a mask
    attn_pad     ... with a key-padding mask of shape (N, 1, Tk)
    attn_full    ... with a full mask of shape (N, Tq, Tk)

Run from the repository root (needs PyTorch):

    python scripts/make_torch_fixtures.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_reference.npz"
SEED = 20141003
DT = torch.float64


def _np(t):
    return t.detach().numpy().copy()


def recurrent_case(kind, gen, N=3, T=4, D=5, H=6):
    """Inputs, parameters, outputs and gradients of one torch recurrent layer."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    layer = cls(D, H, batch_first=True, dtype=DT)
    # A wider range than PyTorch's default init drives some gates towards
    # saturation, so the comparison covers more than the linear regime.
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.7, 0.7, generator=gen)
    x = torch.randn(N, T, D, dtype=DT, generator=gen, requires_grad=True)
    h0 = torch.randn(1, N, H, dtype=DT, generator=gen, requires_grad=True)
    dout = torch.randn(N, T, H, dtype=DT, generator=gen)
    if kind == "lstm":
        c0 = torch.randn(1, N, H, dtype=DT, generator=gen, requires_grad=True)
        out, _ = layer(x, (h0, c0))
    else:
        out, _ = layer(x, h0)
    (out * dout).sum().backward()

    case = {
        "x": _np(x), "h0": _np(h0[0]), "dout": _np(dout), "out": _np(out),
        "dx": _np(x.grad), "dh0": _np(h0.grad[0]),
    }
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        p = getattr(layer, name + "_l0")
        case[name] = _np(p)
        case["d" + name] = _np(p.grad)
    if kind == "lstm":
        case["c0"] = _np(c0[0])
        case["dc0"] = _np(c0.grad[0])
    return case


def attention_case(mask_kind, gen, N=2, Tq=3, Tk=4, d=5, dv=6):
    """Scaled dot-product attention, written out and checked against torch's SDPA."""
    q = torch.randn(N, Tq, d, dtype=DT, generator=gen, requires_grad=True)
    k = torch.randn(N, Tk, d, dtype=DT, generator=gen, requires_grad=True)
    v = torch.randn(N, Tk, dv, dtype=DT, generator=gen, requires_grad=True)
    dout = torch.randn(N, Tq, dv, dtype=DT, generator=gen)
    if mask_kind == "pad":
        lengths = torch.tensor([Tk, 2])  # the second sequence has two real keys
        mask = (torch.arange(Tk)[None, :] < lengths[:, None])[:, None, :]
    elif mask_kind == "full":
        mask = torch.rand(N, Tq, Tk, generator=gen) > 0.5
        # Every query keeps at least one key, else its softmax is undefined.
        keep = torch.randint(Tk, (N, Tq), generator=gen)
        mask[torch.arange(N)[:, None], torch.arange(Tq)[None, :], keep] = True
    else:
        mask = None

    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = weights @ v
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, sdpa, rtol=1e-12, atol=1e-12), "explicit formula != torch SDPA"
    (out * dout).sum().backward()

    case = {
        "q": _np(q), "k": _np(k), "v": _np(v), "dout": _np(dout),
        "out": _np(out), "weights": _np(weights),
        "dq": _np(q.grad), "dk": _np(k.grad), "dv": _np(v.grad),
    }
    if mask is not None:
        case["mask"] = mask.numpy().copy()
    return case


def main():
    gen = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)  # layer construction draws from the global generator
    cases = {kind: recurrent_case(kind, gen) for kind in ("rnn", "lstm", "gru")}
    for name, mask_kind in (("attn", None), ("attn_pad", "pad"), ("attn_full", "full")):
        cases[name] = attention_case(mask_kind, gen)

    arrays = {f"{case}.{key}": value for case, data in cases.items() for key, value in data.items()}
    arrays["meta.torch_version"] = np.array(torch.__version__)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(arrays)} arrays to {OUT} ({OUT.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
