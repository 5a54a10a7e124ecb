"""Convert parameters between PyTorch's recurrent layers and this library.

PyTorch stores column-vector weights: ``weight_ih_l0`` has shape (G*H, D) and
multiplies the input from the left, with G = 1 (RNN), 4 (LSTM) or 3 (GRU).
This library uses row vectors, ``x @ Wx`` with ``Wx`` of shape (D, G*H), so
every weight is a transpose. The gate blocks are already in the same order
(LSTM: i, f, g, o; GRU: r, z, n).

PyTorch also keeps two biases, ``bias_ih`` and ``bias_hh``. For the RNN and
the LSTM they are only ever added together, so ``b`` is their sum, and going
back, ``b`` goes into ``bias_ih`` and zeros into ``bias_hh``. The GRU needs
both, because its candidate multiplies ``h Wh_n + bh_n`` by the reset gate.

Gradients convert the same way with one caveat: PyTorch's gradients of
``bias_ih`` and ``bias_hh`` for an RNN or LSTM are each equal to our ``db``,
so compare ``db`` with either one, not with their sum.

Nothing here imports PyTorch. Inputs may be numpy arrays or anything with a
``detach()`` method returning a tensor (a PyTorch parameter), which is
converted with ``.detach().cpu().numpy()``; outputs are numpy arrays, which
``torch.from_numpy`` turns back into tensors::

    Wx, Wh, b = lstm_from_torch(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in lstm_to_torch(Wx, Wh, b).items()})
"""

from __future__ import annotations

import numpy as np

from rnnbook.checks import Shapes

__all__ = [
    "rnn_from_torch",
    "rnn_to_torch",
    "lstm_from_torch",
    "lstm_to_torch",
    "gru_from_torch",
    "gru_to_torch",
]


def _numpy(value):
    # Duck typing keeps PyTorch an optional dependency: a tensor (or a
    # Parameter, which requires grad) has to be detached before numpy sees it.
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return value


def _from_torch(gates, weight_ih, weight_hh, bias_ih, bias_hh):
    s = Shapes()
    spec = f"{gates}*H" if gates > 1 else "H"
    weight_ih = s.check("weight_ih", _numpy(weight_ih), (spec, "D"))
    weight_hh = s.check("weight_hh", _numpy(weight_hh), (spec, "H"))
    biases = []
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is None:  # a PyTorch layer built with bias=False
            biases.append(np.zeros(gates * s["H"], dtype=weight_ih.dtype))
        else:
            biases.append(s.check(name, _numpy(bias), (spec,)))
    # Copies, so that later in-place updates of either side do not leak.
    return weight_ih.T.copy(), weight_hh.T.copy(), biases[0].copy(), biases[1].copy()


def _to_torch(gates, Wx, Wh, biases, layer, reverse):
    s = Shapes()
    spec = f"{gates}*H" if gates > 1 else "H"
    Wx = s.check("Wx", Wx, ("D", spec))
    Wh = s.check("Wh", Wh, ("H", spec))
    checked = [s.check(name, b, (spec,)) for name, b in biases]
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    return {
        "weight_ih" + suffix: np.ascontiguousarray(Wx.T),
        "weight_hh" + suffix: np.ascontiguousarray(Wh.T),
        "bias_ih" + suffix: checked[0].copy(),
        "bias_hh" + suffix: checked[1].copy() if len(checked) > 1 else np.zeros_like(checked[0]),
    }


def rnn_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Parameters of a ``torch.nn.RNN`` (tanh) layer in this library's layout.

    Args:
        weight_ih: input-to-hidden weights, (H, D).
        weight_hh: hidden-to-hidden weights, (H, H).
        bias_ih: input bias, (H,), or ``None`` for a layer without biases.
        bias_hh: recurrent bias, (H,), or ``None``.

    Returns:
        Wx: ``weight_ih`` transposed, (D, H).
        Wh: ``weight_hh`` transposed, (H, H).
        b: the sum of the two biases, (H,).

    Taught in: Part III, From rnnbook to PyTorch.
    """
    Wx, Wh, b_ih, b_hh = _from_torch(1, weight_ih, weight_hh, bias_ih, bias_hh)
    return Wx, Wh, b_ih + b_hh


def rnn_to_torch(Wx, Wh, b, *, layer=0, reverse=False):
    """State-dict entries of a ``torch.nn.RNN`` layer for our parameters.

    Args:
        Wx: input-to-hidden weights, (D, H).
        Wh: hidden-to-hidden weights, (H, H).
        b: bias, (H,).
        layer: layer index used in the key names (``..._l{layer}``).
        reverse: name the keys for the backward direction of a
            bidirectional layer (``..._l0_reverse``).

    Returns:
        state: dict with ``weight_ih_l0`` (H, D), ``weight_hh_l0`` (H, H),
            ``bias_ih_l0`` (H,) equal to ``b`` and ``bias_hh_l0`` (H,) zeros.

    Taught in: Part III, From rnnbook to PyTorch.
    """
    return _to_torch(1, Wx, Wh, [("b", b)], layer, reverse)


def lstm_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Parameters of a ``torch.nn.LSTM`` layer in this library's layout.

    The gate blocks stay in PyTorch's order i, f, g, o.

    Args:
        weight_ih: input-to-gates weights, four blocks of rows, (4H, D).
        weight_hh: hidden-to-gates weights, four blocks of rows, (4H, H).
        bias_ih: input bias, (4H,), or ``None`` for a layer without biases.
        bias_hh: recurrent bias, (4H,), or ``None``.

    Returns:
        Wx: input-to-gates weights, four blocks of columns, (D, 4H).
        Wh: hidden-to-gates weights, four blocks of columns, (H, 4H).
        b: the sum of the two biases, which the LSTM only ever adds, (4H,).

    Taught in: Part III, From rnnbook to PyTorch.
    """
    Wx, Wh, b_ih, b_hh = _from_torch(4, weight_ih, weight_hh, bias_ih, bias_hh)
    return Wx, Wh, b_ih + b_hh


def lstm_to_torch(Wx, Wh, b, *, layer=0, reverse=False):
    """State-dict entries of a ``torch.nn.LSTM`` layer for our parameters.

    Args:
        Wx: input-to-gates weights, (D, 4H), blocks [i | f | g | o].
        Wh: hidden-to-gates weights, (H, 4H), same blocks.
        b: gate biases, (4H,).
        layer: layer index used in the key names, as in :func:`rnn_to_torch`.
        reverse: whether the keys are those of a backward direction.

    Returns:
        state: dict with ``weight_ih_l0`` (4H, D), ``weight_hh_l0`` (4H, H),
            ``bias_ih_l0`` (4H,) equal to ``b`` and ``bias_hh_l0`` (4H,) zeros.

    Taught in: Part III, From rnnbook to PyTorch.
    """
    return _to_torch(4, Wx, Wh, [("b", b)], layer, reverse)


def gru_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Parameters of a ``torch.nn.GRU`` layer in this library's layout.

    Gate blocks stay in PyTorch's order r, z, n; the biases stay separate,
    since the reset gate scales only the recurrent one.

    Args:
        weight_ih: input weights, (3H, D).
        weight_hh: recurrent weights, (3H, H).
        bias_ih: input bias, (3H,), or ``None`` for a layer without biases.
        bias_hh: recurrent bias, (3H,), or ``None``.

    Returns:
        Wx: (D, 3H).
        Wh: (H, 3H).
        bx: ``bias_ih``, (3H,).
        bh: ``bias_hh``, (3H,).

    Taught in: Part III, From rnnbook to PyTorch.
    """
    return _from_torch(3, weight_ih, weight_hh, bias_ih, bias_hh)


def gru_to_torch(Wx, Wh, bx, bh, *, layer=0, reverse=False):
    """State-dict entries of a ``torch.nn.GRU`` layer for our parameters.

    Args:
        Wx: input weights, (D, 3H), blocks [r | z | n].
        Wh: recurrent weights, (H, 3H), same blocks.
        bx: input bias, (3H,).
        bh: recurrent bias, (3H,).
        layer: layer index used in the key names, as in :func:`rnn_to_torch`.
        reverse: whether the keys are those of a backward direction.

    Returns:
        state: dict with ``weight_ih_l0`` (3H, D), ``weight_hh_l0`` (3H, H),
            ``bias_ih_l0`` = ``bx`` and ``bias_hh_l0`` = ``bh``, (3H,) each.

    Taught in: Part III, From rnnbook to PyTorch.
    """
    return _to_torch(3, Wx, Wh, [("bx", bx), ("bh", bh)], layer, reverse)
