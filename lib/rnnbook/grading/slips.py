"""Common slips, recomputed: what a function returns when it makes a typical mistake.

When an output of a student's function has wrong values, the grader
recomputes the same case as it would come out of a few well-known
mistakes -- a weight used transposed, a bias left out, sigmoid and tanh
swapped, the gate blocks read in another order, the temperature
multiplied instead of divided -- and when one of them matches what the
student returned, the feedback says "this looks like ...". Each slip is
a function of a :class:`~rnnbook.grading.questions.Case` returning the
outputs of the question with that mistake made, computed in the grader's
process, like the reference.

The slipped computations are written out here (they are the reference
with one thing changed), so this module is left out of the student copy
made by ``rnnbook-release``; the copy carries the slipped outputs of its
stored cases instead.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["slips_for"]

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def _library(name: str):
    """The library's function ``name``, wherever the package keeps it."""
    import importlib

    from .selfcheck import BLOCKED
    for mod_name in BLOCKED:
        fn = getattr(importlib.import_module(mod_name), name, None)
        if callable(fn):
            return fn
    raise LookupError(f"no library function {name}")


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _permute(w, H, order):
    """Columns of ``w`` (..., len(order) * H) with the blocks taken in ``order``."""
    return np.concatenate([w[..., k * H:(k + 1) * H] for k in order], axis=-1)


# -- the vanilla RNN ---------------------------------------------------------

def _rnn_step(x, h, Wx, Wh, b, act=np.tanh):
    return act(x @ Wx + h @ Wh + b)


def _rnn_seq(x, h0, Wx, Wh, b, act=np.tanh):
    h, out = h0, []
    for t in range(x.shape[1]):
        h = _rnn_step(x[:, t], h, Wx, Wh, b, act)
        out.append(h)
    return np.stack(out, axis=1)


def _rnn_forward_slips(seq):
    f = _rnn_seq if seq else _rnn_step

    def run(case, **change):
        x, h0, Wx, Wh, b = (np.asarray(a, dtype=np.float64) for a in case.args)
        args = dict(x=x, h=h0, Wx=Wx, Wh=Wh, b=b)
        act = change.pop("act", np.tanh)
        args.update(change)
        if seq:
            args["h0"] = args.pop("h")
        return [f(**args, act=act)]

    return [
        ("Wh used transposed (h_prev @ Wh.T instead of h_prev @ Wh)",
         lambda c: run(c, Wh=np.asarray(c.args[3], dtype=np.float64).T)),
        ("the bias b left out", lambda c: run(c, b=0.0)),
        ("sigmoid where tanh belongs", lambda c: run(c, act=_sigmoid)),
    ]


def _rnn_backward_slips(seq):
    def transposed(case):
        forward = _library("rnn_forward" if seq else "rnn_step_forward")
        backward = _library("rnn_backward" if seq else "rnn_step_backward")
        args = [np.asarray(a) for a in case.args]
        _, cache = forward(*args)
        # The library's backward multiplies by cache.Wh.T; with Wh.T stored
        # it multiplies by Wh, which is the slip.
        cache.Wh = cache.Wh.T
        return list(backward(*case.upstream, cache))
    return [("Wh not transposed in the gradient (da @ Wh instead of da @ Wh.T)",
             transposed)]


# -- LSTM ----------------------------------------------------------------------

def _lstm_step(x, h, c, Wx, Wh, b, gate=_sigmoid, cand=np.tanh, out=np.tanh):
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    i, f, o = gate(a[:, :H]), gate(a[:, H:2 * H]), gate(a[:, 3 * H:])
    g = cand(a[:, 2 * H:3 * H])
    c = f * c + i * g
    return o * out(c), c


def _lstm_seq(x, h0, Wx, Wh, b, c0=None, **acts):
    h, c = h0, np.zeros_like(h0) if c0 is None else c0
    hs = []
    for t in range(x.shape[1]):
        h, c = _lstm_step(x[:, t], h, c, Wx, Wh, b, **acts)
        hs.append(h)
    return np.stack(hs, axis=1)


def _lstm_forward_slips(seq):
    def run(case, order=None, **acts):
        args = [np.asarray(a, dtype=np.float64) for a in case.args]
        H = args[1].shape[1]
        if order is not None:
            w = 2 if seq else 3  # index of Wx
            for k in (w, w + 1, w + 2):
                args[k] = _permute(args[k], H, order)
        if seq:
            return [_lstm_seq(*args, **acts)]
        return list(_lstm_step(*args, **acts))

    names = GATES["lstm"]
    out = []
    for order in itertools.permutations(range(4)):
        if order != (0, 1, 2, 3):
            # Reading block k as gate names[k] when it holds names[order[k]].
            read = ", ".join(names[k] for k in np.argsort(order))
            out.append((f"the gate blocks taken in the order ({read}) instead of "
                        f"(i, f, g, o)", lambda c, o=order: run(c, order=o)))
    out += [
        ("sigmoid where tanh belongs for the candidate g", lambda c: run(c, cand=_sigmoid)),
        ("sigmoid where tanh belongs in h = o * tanh(c)", lambda c: run(c, out=_sigmoid)),
        ("tanh where sigmoid belongs for the gates i, f, o", lambda c: run(c, gate=np.tanh)),
        ("the bias b left out", lambda c: _lstm_no_bias(c, run)),
    ]
    return out


def _lstm_no_bias(case, run):
    from copy import copy
    c = copy(case)
    c.args = list(case.args)
    k = 4 if len(case.args[0].shape) == 3 else 5
    c.args[k] = np.zeros_like(np.asarray(case.args[k], dtype=np.float64))
    return run(c)


# -- GRU -----------------------------------------------------------------------

def _gru_step(x, h, Wx, Wh, bx, bh, cand=np.tanh, swap_z=False):
    H = h.shape[1]
    ax, ah = x @ Wx + bx, h @ Wh + bh
    r = _sigmoid(ax[:, :H] + ah[:, :H])
    z = _sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = cand(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    return [z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h]


def _gru_forward_slips():
    def run(case, order=None, zero=(), **kw):
        x, h, Wx, Wh, bx, bh = (np.asarray(a, dtype=np.float64) for a in case.args)
        H = h.shape[1]
        if order is not None:
            Wx, Wh, bx, bh = (_permute(w, H, order) for w in (Wx, Wh, bx, bh))
        bx = 0 * bx if "bx" in zero else bx
        bh = 0 * bh if "bh" in zero else bh
        return _gru_step(x, h, Wx, Wh, bx, bh, **kw)

    names = GATES["gru"]
    out = []
    for order in itertools.permutations(range(3)):
        if order != (0, 1, 2):
            read = ", ".join(names[k] for k in np.argsort(order))
            out.append((f"the gate blocks taken in the order ({read}) instead of (r, z, n)",
                        lambda c, o=order: run(c, order=o)))
    out += [
        ("sigmoid where tanh belongs for the candidate n", lambda c: run(c, cand=_sigmoid)),
        ("z and 1 - z swapped (h = z * n + (1 - z) * h_prev)",
         lambda c: run(c, swap_z=True)),
        ("the bias bx left out", lambda c: run(c, zero=("bx",))),
        ("the bias bh left out", lambda c: run(c, zero=("bh",))),
        ("both biases left out", lambda c: run(c, zero=("bx", "bh"))),
    ]
    return out


# -- temperature ---------------------------------------------------------------

def _softmax_slips():
    return [("the logits multiplied by the temperature instead of divided by it",
             lambda c: [_library("softmax_with_temperature")(c.args[0], 1.0 / c.args[1])])]


_TABLE = {
    "rnn_step_forward": lambda: _rnn_forward_slips(False),
    "rnn_forward": lambda: _rnn_forward_slips(True),
    "rnn_step_backward": lambda: _rnn_backward_slips(False),
    "rnn_backward": lambda: _rnn_backward_slips(True),
    "lstm_step_forward": lambda: _lstm_forward_slips(False),
    "lstm_forward": lambda: _lstm_forward_slips(True),
    "gru_step_forward": _gru_forward_slips,
    "softmax_with_temperature": _softmax_slips,
}


def slips_for(name: str) -> list:
    """``[(description, function of a case -> outputs)]`` for the question ``name``."""
    make = _TABLE.get(name)
    return make() if make is not None else []
