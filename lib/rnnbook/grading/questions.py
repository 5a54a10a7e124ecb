"""The graded questions: their inputs, reference answers, checks and feedback.

Every exercise is a list of :class:`Question` objects, one per function
the student writes. A question knows

* how to draw fresh random inputs (:meth:`Question.make_cases`), a few
  *cases* with different shapes, including edge sizes such as N = 1 or
  T = 1 and, for forward functions, one case in float32;
* how the harness must call the student's function (its ``kind``);
* how to compute the right answer with the library's reference code
  (:meth:`Question.reference`), always in the grader's own process;
* how many points each part is worth (:class:`Check`), so that a backward
  function with one wrong gradient still earns the points of the others.

:func:`score_question` compares what the student's function returned with
the reference and writes the feedback: which output, which case (by its
shapes), what is wrong (missing, shape, dtype, largest error), never the
expected values themselves.

To add a question, write its case generator and reference, list its
checks, and add it to :data:`EXERCISES` under the exercise id that the
solution notebook carries in its metadata.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rnnbook.nn import attention as _att
from rnnbook.nn import gru as _gru
from rnnbook.nn import lstm as _lstm
from rnnbook.nn import rnn as _rnn
from rnnbook.nn import sequence as _models
from rnnbook.train import optim as _optim

from . import _harness
from . import references as _ref

__all__ = [
    "Case",
    "Check",
    "Mistake",
    "Question",
    "QuestionResult",
    "EXERCISES",
    "QUESTIONS",
    "score_question",
    "failed_question",
]


# --------------------------------------------------------------------------
# Data structures
# --------------------------------------------------------------------------

@dataclass
class Case:
    """One call of the student's function.

    Attributes:
        label: shapes and dtype in words, used in feedback ("N=1, T=3, ...").
        args: positional arguments: arrays, or Python floats for scalars.
            For a backward question these are the *forward* function's
            arguments; for ``clip`` the gradient arrays followed by max_norm.
        upstream: upstream gradients passed to a backward function before
            the cache.
        keys: for ``clip``, the dict keys of the gradient arrays.
        dtype: the floating dtype of the inputs.
    """

    label: str
    args: list
    upstream: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    dtype: np.dtype = np.dtype(np.float64)
    #: Stored reference outputs (the student copy's self-check), else None.
    expected: list | None = None
    #: Stored outputs of the common slips, ``[(description, outputs)]``, else None.
    slips: list | None = None
    #: Stored outputs of the question's typical mistakes (:class:`Mistake`), one
    #: entry per mistake (None where it does not apply), else None.
    mistakes: list | None = None


@dataclass(frozen=True)
class Check:
    """Points for one part of a question.

    Attributes:
        label: what is checked, in words ("dWh", "h with c0 given").
        points: points earned when the check passes.
        output: index of the output it looks at.
        cases: indices of the cases that must all be right.
        kind: "value" (shape and values), "dtype" (values, and the dtype
            of the inputs kept), "int" (an integer dtype), or "all_grads"
            (every output after the first, for ``clip``).
    """

    label: str
    points: int
    output: int
    cases: tuple
    kind: str = "value"


@dataclass(frozen=True)
class Question:
    """A graded function.

    Attributes:
        exercise: id of the exercise it belongs to.
        name: the function's name in the student's notebook.
        kind: how the harness calls it: "forward" (returns the outputs and
            then a cache), "plain" (returns one array), "backward" (called
            with upstream gradients and the cache of ``forward``), "clip"
            (called with a dict of gradients and max_norm).
        outputs: names of the outputs, in order.
        make_cases: function of a numpy Generator returning the cases.
        reference_fn: function of a case returning the right outputs.
        checks: the parts and their points.
        forward: for a backward question, the name of the forward function
            whose cache it consumes.
        gates: names of the column blocks of the weights and of their
            gradients, in order (LSTM: i, f, g, o), so that feedback can
            say in which gate an error lies.
        mistakes: typical mistakes (:class:`Mistake`) recognised in wrong
            outputs and named in the feedback.
        params: the parameter names the grader calls the function with,
            when the library function of the same name takes others (the
            library's bidirectional layer takes parameter dicts, the
            exercise's takes the weights one by one); when empty, the library's own.
    """

    exercise: str
    name: str
    kind: str
    outputs: tuple
    make_cases: Callable
    reference_fn: Callable
    checks: tuple
    forward: str | None = None
    gates: tuple = ()
    mistakes: tuple = ()
    params: tuple = ()

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.checks)

    def reference(self, case: Case) -> list:
        """The right outputs for ``case``, computed with the library."""
        if case.expected is not None:
            return [np.asarray(o) for o in case.expected]
        return [np.asarray(o) for o in self.reference_fn(case)]

    def manifest(self, cases: list) -> tuple[dict, dict]:
        """Describe the calls for the harness.

        Returns:
            manifest: the JSON-ready description of every case and call.
            arrays: the cases' input arrays, by the keys the manifest names.
        """
        arrays = {}
        out_cases = []

        def put(c, group, i, value):
            key = f"c{c}_{group}{i}"
            if isinstance(value, float):
                arrays[key] = np.array(value, dtype=np.float64)
                return ["f", key]
            if isinstance(value, int):
                arrays[key] = np.array(value, dtype=np.int64)
                return ["i", key]
            arrays[key] = np.asarray(value)
            return ["a", key]

        for c, case in enumerate(cases):
            out_cases.append({
                "args": [put(c, "a", i, v) for i, v in enumerate(case.args)],
                "upstream": [put(c, "u", i, v) for i, v in enumerate(case.upstream)],
                "keys": list(case.keys),
            })
        manifest = {
            "function": self.name,
            "kind": self.kind,
            "forward": self.forward,
            "n_outputs": len(self.outputs),
            "outputs": list(self.outputs),
            "cases": out_cases,
        }
        return manifest, arrays


@dataclass
class QuestionResult:
    """The outcome of one question for one submission."""

    name: str
    score: int | float
    max_score: int
    feedback: str
    passed: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    messages: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "score": self.score, "max_score": self.max_score,
                "feedback": self.feedback}


# --------------------------------------------------------------------------
# Random inputs
# --------------------------------------------------------------------------

def _normal(rng, shape, scale, dtype):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _dims(rng, edge):
    """Sizes for one case: typical ones, or edge ones with N = 1 and T = 1."""
    if edge:
        N, T = 1, 1
        D, H = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    else:
        # N, T, D and H all differ, so that a transposed result, a
        # time-major sequence or a weight used the wrong way round shows up
        # as a shape error instead of hiding behind equal sizes.
        N, T, D, H = (int(v) for v in rng.permutation(np.arange(2, 7))[:4])
    return N, T, D, H


def _label(dtype, **dims):
    return ", ".join(f"{k}={v}" for k, v in dims.items()) + f", {np.dtype(dtype).name}"


def _setups(float32=True):
    """Typical sizes, edge sizes (N = T = 1), and typical sizes in float32."""
    out = [("typical", np.float64), ("edge", np.float64)]
    if float32:
        out.append(("typical", np.float32))
    return out


def _rnn_step_cases(rng, float32=True, gates=1, biases=1):
    """Cases for a step function with x (N, D), h_prev (N, H) and gates*H columns."""
    cases = []
    for setup, dtype in _setups(float32):
        N, _, D, H = _dims(rng, setup == "edge")
        G = gates * H
        args = [_normal(rng, (N, D), 1.0, dtype), _normal(rng, (N, H), 0.8, dtype)]
        if gates == 4:  # LSTM: c_prev comes next
            args.append(_normal(rng, (N, H), 1.0, dtype))
        args += [_normal(rng, (D, G), 0.6, dtype), _normal(rng, (H, G), 0.6, dtype)]
        args += [_normal(rng, (G,), 0.4, dtype) for _ in range(biases)]
        cases.append(Case(_label(dtype, N=N, D=D, H=H), args, dtype=np.dtype(dtype)))
    return cases


def _rnn_seq_cases(rng, float32=True, gates=1, biases=1, with_c0=False):
    """Cases for a sequence function with x (N, T, D), h0 (N, H)."""
    cases = []
    setups = _setups(float32)
    if with_c0:
        setups.insert(1, ("typical", np.float64))
    for j, (setup, dtype) in enumerate(setups):
        N, T, D, H = _dims(rng, setup == "edge")
        G = gates * H
        args = [_normal(rng, (N, T, D), 1.0, dtype), _normal(rng, (N, H), 0.8, dtype),
                _normal(rng, (D, G), 0.6, dtype), _normal(rng, (H, G), 0.6, dtype)]
        args += [_normal(rng, (G,), 0.4, dtype) for _ in range(biases)]
        label = _label(dtype, N=N, T=T, D=D, H=H)
        if with_c0 and j == 1:
            args.append(_normal(rng, (N, H), 1.0, dtype))
            label += ", c0 given"
        cases.append(Case(label, args, dtype=np.dtype(dtype)))
    return cases


def _with_upstream(rng, cases, shapes_fn):
    for case in cases:
        case.upstream = [_normal(rng, s, 1.0, case.dtype) for s in shapes_fn(case)]
    return cases


def _hidden_shape(case):
    x, h = case.args[0], case.args[1]
    return x.shape[:-1] + (h.shape[1],)


# --------------------------------------------------------------------------
# Exercise 1 and 2: the vanilla RNN
# --------------------------------------------------------------------------

def _ref_rnn_step_forward(case):
    return [_rnn.rnn_step_forward(*case.args)[0]]


def _ref_rnn_forward(case):
    return [_rnn.rnn_forward(*case.args)[0]]


def _ref_rnn_step_backward(case):
    _, cache = _rnn.rnn_step_forward(*case.args)
    return _rnn.rnn_step_backward(*case.upstream, cache)


def _ref_rnn_backward(case):
    _, cache = _rnn.rnn_forward(*case.args)
    return _rnn.rnn_backward(*case.upstream, cache)


def _value_checks(names, cases, points=1):
    return tuple(Check(n, points, k, cases) for k, n in enumerate(names))


RNN_STEP_FORWARD = Question(
    "01_rnn_forward", "rnn_step_forward", "forward", ("h",),
    lambda rng: _rnn_step_cases(rng), _ref_rnn_step_forward,
    (Check("h", 3, 0, (0, 1)), Check("h for float32 inputs", 1, 0, (2,), "dtype")),
)

RNN_FORWARD = Question(
    "01_rnn_forward", "rnn_forward", "forward", ("h",),
    lambda rng: _rnn_seq_cases(rng), _ref_rnn_forward,
    (Check("h", 5, 0, (0, 1)), Check("h for float32 inputs", 1, 0, (2,), "dtype")),
)

def _rnn_backward_question(name, grads, cases, reference, forward):
    """A question on one of the RNN's backward passes, one check per gradient."""
    return Question(
        "02_rnn_backward", name, "backward", grads,
        lambda rng: _with_upstream(rng, cases(rng, float32=False),
                                   lambda c: [_hidden_shape(c)]),
        reference, _value_checks(grads, (0, 1)), forward=forward,
    )


RNN_STEP_BACKWARD = _rnn_backward_question(
    "rnn_step_backward", ("dx", "dh_prev", "dWx", "dWh", "db"), _rnn_step_cases,
    _ref_rnn_step_backward, "rnn_step_forward")

RNN_BACKWARD = _rnn_backward_question(
    "rnn_backward", ("dx", "dh0", "dWx", "dWh", "db"), _rnn_seq_cases,
    _ref_rnn_backward, "rnn_forward")


# --------------------------------------------------------------------------
# Exercise 3: gradient clipping and temperature sampling
# --------------------------------------------------------------------------

CLIP_KEYS = ("Wx", "Wh", "b", "Wy", "by")


def _clip_cases(rng):
    cases = []
    for label, ratio in (("norm above max_norm", rng.uniform(2.0, 10.0)),
                         ("norm below max_norm", rng.uniform(0.2, 0.8))):
        V, H = int(rng.integers(3, 7)), int(rng.integers(2, 6))
        shapes = {"Wx": (V, H), "Wh": (H, H), "b": (H,), "Wy": (H, V), "by": (V,)}
        grads = [rng.standard_normal(shapes[k]) for k in CLIP_KEYS]
        norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        max_norm = float(rng.uniform(0.5, 5.0))
        grads = [g * (ratio * max_norm / norm) for g in grads]
        cases.append(Case(f"{label}, V={V}, H={H}", grads + [max_norm], keys=list(CLIP_KEYS)))
    return cases


def _ref_clip(case):
    grads = {k: np.array(g, copy=True) for k, g in zip(case.keys, case.args[:-1])}
    norm = _optim.clip_grad_norm(grads, case.args[-1])
    return [np.array(norm)] + [grads[k] for k in case.keys]


def _softmax_cases(rng):
    cases = []
    N, V = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    cases.append(Case(f"logits (N, V) with N={N}, V={V}, moderate temperature",
                      [rng.normal(0, 2, (N, V)), float(rng.uniform(0.3, 3.0))]))
    V = int(rng.integers(3, 9))
    cases.append(Case(f"logits (V,) with V={V}, one-dimensional",
                      [rng.normal(0, 2, (V,)), float(rng.uniform(0.3, 3.0))]))
    N, V = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    big = rng.uniform(500, 1000, (N, V)) * rng.choice([-1.0, 1.0], (N, V))
    cases.append(Case(f"large logits (about 1e3) and temperature 0.05, N={N}, V={V}",
                      [big, 0.05]))
    return cases


def _sample_cases(rng):
    cases = []
    for label, scale, zeros in (("typical", 1.5, False), ("with zero probabilities", 1.0, True),
                                ("peaked", 6.0, False)):
        N, V = int(rng.integers(3, 7)), int(rng.integers(3, 9))
        probs = _ref.softmax_with_temperature(rng.normal(0, scale, (N, V)), 1.0)
        if zeros:
            mask = rng.random((N, V)) < 0.4
            mask[np.arange(N), rng.integers(0, V, N)] = False  # keep one non-zero per row
            probs = np.where(mask, 0.0, probs)
            probs /= probs.sum(axis=1, keepdims=True)
        cdf = np.cumsum(probs, axis=1)
        u = rng.random(N)
        # Keep u away from the cumulative sums: an implementation that sums
        # in another order must not land on the other side of a boundary.
        for n in range(N):
            while np.min(np.abs(cdf[n] - u[n])) < 1e-9:
                u[n] = rng.random()
        cases.append(Case(f"{label}, N={N}, V={V}", [probs, u]))
    return cases


CLIP_GRAD_NORM = Question(
    "03_char_model", "clip_grad_norm", "clip", ("norm",) + tuple(f"grads['{k}']" for k in CLIP_KEYS),
    _clip_cases, _ref_clip,
    (Check("returned norm", 1, 0, (0, 1)),
     Check("gradients rescaled when the norm exceeds max_norm", 2, -1, (0,), "all_grads"),
     Check("gradients untouched when the norm is below max_norm", 1, -1, (1,), "all_grads")),
)

SOFTMAX_WITH_TEMPERATURE = Question(
    "03_char_model", "softmax_with_temperature", "plain", ("probs",),
    _softmax_cases, lambda case: [_ref.softmax_with_temperature(*case.args)],
    (Check("probs", 2, 0, (0, 1)),
     Check("probs for large logits and a small temperature (stability)", 1, 0, (2,))),
)

SAMPLE_FROM_PROBS = Question(
    "03_char_model", "sample_from_probs", "plain", ("ids",),
    _sample_cases, lambda case: [_ref.sample_from_probs(*case.args)],
    (Check("ids", 2, 0, (0, 1, 2)), Check("ids are integers", 1, 0, (0, 1, 2), "int")),
)


# --------------------------------------------------------------------------
# Exercise 4: LSTM
# --------------------------------------------------------------------------

def _ref_lstm_step_forward(case):
    h, c, _ = _lstm.lstm_step_forward(*case.args)
    return [h, c]


def _ref_lstm_forward(case):
    return [_lstm.lstm_forward(*case.args)[0]]


def _ref_lstm_step_backward(case):
    _, _, cache = _lstm.lstm_step_forward(*case.args)
    return _lstm.lstm_step_backward(*case.upstream, cache)


def _ref_lstm_backward(case):
    _, cache = _lstm.lstm_forward(*case.args)
    return _lstm.lstm_backward(*case.upstream, cache)


LSTM_STEP_FORWARD = Question(
    "04_lstm", "lstm_step_forward", "forward", ("h", "c"),
    lambda rng: _rnn_step_cases(rng, gates=4), _ref_lstm_step_forward,
    (Check("h", 2, 0, (0, 1)), Check("c", 2, 1, (0, 1)),
     Check("h for float32 inputs", 1, 0, (2,), "dtype")),
    gates=("i", "f", "g", "o"),
)

LSTM_STEP_BACKWARD = Question(
    "04_lstm", "lstm_step_backward", "backward",
    ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"),
    lambda rng: _with_upstream(rng, _rnn_step_cases(rng, float32=False, gates=4),
                               lambda c: [c.args[1].shape, c.args[1].shape]),
    _ref_lstm_step_backward,
    _value_checks(("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"), (0, 1)),
    forward="lstm_step_forward", gates=("i", "f", "g", "o"),
)

LSTM_FORWARD = Question(
    "04_lstm", "lstm_forward", "forward", ("h",),
    lambda rng: _rnn_seq_cases(rng, gates=4, with_c0=True), _ref_lstm_forward,
    (Check("h", 2, 0, (0, 2)), Check("h with c0 given", 2, 0, (1,)),
     Check("h for float32 inputs", 1, 0, (3,), "dtype")),
    gates=("i", "f", "g", "o"),
)

LSTM_BACKWARD = Question(
    "04_lstm", "lstm_backward", "backward",
    ("dx", "dh0", "dWx", "dWh", "db"),
    lambda rng: _with_upstream(rng, _rnn_seq_cases(rng, float32=False, gates=4),
                               lambda c: [_hidden_shape(c)]),
    _ref_lstm_backward,
    _value_checks(("dx", "dh0", "dWx", "dWh", "db"), (0, 1)),
    forward="lstm_forward", gates=("i", "f", "g", "o"),
)


# --------------------------------------------------------------------------
# Exercise 5: GRU
# --------------------------------------------------------------------------

def _ref_gru_step_forward(case):
    return [_gru.gru_step_forward(*case.args)[0]]


def _ref_gru_step_backward(case):
    _, cache = _gru.gru_step_forward(*case.args)
    return _gru.gru_step_backward(*case.upstream, cache)


GRU_STEP_FORWARD = Question(
    "05_gru", "gru_step_forward", "forward", ("h",),
    lambda rng: _rnn_step_cases(rng, gates=3, biases=2), _ref_gru_step_forward,
    (Check("h", 3, 0, (0, 1)), Check("h for float32 inputs", 1, 0, (2,), "dtype")),
    gates=("r", "z", "n"),
)

GRU_STEP_BACKWARD = Question(
    "05_gru", "gru_step_backward", "backward",
    ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"),
    lambda rng: _with_upstream(rng, _rnn_step_cases(rng, float32=False, gates=3, biases=2),
                               lambda c: [c.args[1].shape]),
    _ref_gru_step_backward,
    _value_checks(("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"), (0, 1)),
    forward="gru_step_forward", gates=("r", "z", "n"),
)


#: exercise id -> its questions, in the order of the notebook.
EXERCISES: dict[str, tuple[Question, ...]] = {
    "01_rnn_forward": (RNN_STEP_FORWARD, RNN_FORWARD),
    "02_rnn_backward": (RNN_STEP_BACKWARD, RNN_BACKWARD),
    "03_char_model": (CLIP_GRAD_NORM, SOFTMAX_WITH_TEMPERATURE, SAMPLE_FROM_PROBS),
    "04_lstm": (LSTM_STEP_FORWARD, LSTM_STEP_BACKWARD, LSTM_FORWARD, LSTM_BACKWARD),
    "05_gru": (GRU_STEP_FORWARD, GRU_STEP_BACKWARD),
}

#: function name -> question, over all exercises.
QUESTIONS: dict[str, Question] = {q.name: q for qs in EXERCISES.values() for q in qs}


# --------------------------------------------------------------------------
# Comparison and feedback
# --------------------------------------------------------------------------

def _fmt_shape(shape) -> str:
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _tolerance(dtype):
    # float64 results that agree to 1e-6 of their size are the same maths
    # computed in another order; float32 carries about 7 digits.
    return (1e-4, 1e-6) if np.dtype(dtype) == np.float32 else (1e-6, 1e-10)


def _hint(got, expected):
    """A guess at what kind of mistake makes ``got`` differ from ``expected``."""
    if not np.all(np.isfinite(got)):
        return "it contains NaN or infinity (an overflow?)"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-12)
    close = lambda a: float(np.max(np.abs(a - expected), initial=0.0)) <= 1e-6 * scale
    if not np.any(got) and np.any(expected):
        return "it is all zeros"
    if close(-got):
        return "it has the opposite sign"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got.T):
        return "it looks transposed"
    denom = float(np.sum(expected * expected))
    if denom > 0:
        factor = float(np.sum(got * expected)) / denom
        if abs(factor - 1) > 1e-3 and factor != 0 and close(got / factor):
            return f"it is off by a constant factor of about {factor:.3g}"
    return ""


def _relative(rel: float) -> str:
    """A relative error in words: a percentage, or 'n times' for huge ones."""
    if rel >= 10:
        return f"{rel:.3g} times the largest expected value"
    if rel >= 1e-3:
        return f"{100 * rel:.3g}% of the largest expected value"
    return f"{rel:.1e} times the largest expected value"


def _gate_block(index, expected_shape, gates, H):
    """'in the block of gate f (columns 3 to 5)' when ``index`` falls in a gate block."""
    if not gates or not index or H is None or expected_shape[-1] != len(gates) * H:
        return ""
    k = int(index[-1]) // H
    return (f"; it lies in the columns of gate {gates[k]} (block {k + 1} of {len(gates)}: "
            f"columns {k * H} to {(k + 1) * H - 1})")


def _compare(name, got, info, expected, dtype, kind, case_label, gates=(), H=None):
    """Return None when ``got`` is right, else a sentence saying what is wrong."""
    where = f" (inputs {case_label})"
    if "problem" in info:
        return f"{name} {info['problem']}{where}"
    got_shape = tuple(info.get("shape", got.shape))
    if got_shape != expected.shape:
        extra = ""
        if got_shape == expected.shape[::-1] and len(got_shape) > 1:
            extra = " (it looks transposed)"
        elif int(np.prod(got_shape)) == expected.size:
            extra = " (the number of entries is right: check a reshape or transpose)"
        return (f"{name} has shape {_fmt_shape(got_shape)} but should have "
                f"{_fmt_shape(expected.shape)}{where}{extra}")
    if kind == "int":
        if not info.get("dtype", "").startswith(("int", "uint")):
            return f"{name} has dtype {info.get('dtype')} but should hold integers{where}"
        return None
    if kind == "dtype" and info.get("dtype") != np.dtype(dtype).name:
        return (f"{name} has dtype {info.get('dtype')} for {np.dtype(dtype).name} inputs; "
                f"results must keep the dtype of the inputs{where}")
    if expected.dtype.kind in "iu":
        wrong = int(np.sum(got != expected))
        if wrong:
            return f"{name} has {wrong} wrong {'entry' if wrong == 1 else 'entries'}{where}"
        return None
    expected = expected.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return f"{name} contains NaN or infinity{where}; look for an overflow"
    if _close(got, expected, dtype):
        return None
    err = np.abs(got - expected)
    worst = float(np.max(err, initial=0.0))
    scale = float(np.max(np.abs(expected), initial=0.0))
    index = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    at = f" at index {tuple(int(i) for i in index)}" if index else ""
    # Only the weights, biases and their gradients are laid out in gate blocks.
    gates = gates if name.startswith(("W", "b", "dW", "db")) else ()
    block = _gate_block(index, expected.shape, gates, H)
    if block:
        bad = [gates[k] for k in range(len(gates))
               if not _close(got[..., k * H:(k + 1) * H], expected[..., k * H:(k + 1) * H],
                             dtype, scale)]
        if 0 < len(bad) < len(gates):
            block += (f"; only the columns of {', '.join(bad)} are wrong" if len(bad) > 1
                      else f"; only the columns of gate {bad[0]} are wrong")
    hint = _hint(got, expected)
    return (f"{name} has wrong values{where}: the largest error is {worst:.2e}{at}, "
            f"{_relative(worst / max(scale, 1e-300))}" + (f" ({hint})" if hint else "")
            + block)


def _close(got, expected, dtype, scale=None) -> bool:
    """Whether ``got`` equals ``expected`` within the tolerance of ``dtype``."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    rtol, atol = _tolerance(dtype)
    if scale is None:
        scale = float(np.max(np.abs(expected), initial=0.0))
    return float(np.max(np.abs(got - expected), initial=0.0)) <= rtol * scale + atol


def _case_problem(status):
    """Feedback for a case whose call did not produce outputs, or None."""
    s = status.get("status")
    if s == "ok":
        return None
    if s == "notimpl":
        return "not implemented yet (it raises NotImplementedError)"
    if s == "error":
        return f"raised {status.get('type', 'an exception')}: {status.get('message', '')}".rstrip(": ")
    if s in ("bad_return", "forward_failed"):
        return status.get("message", "returned something unexpected")
    return "could not be called"


_SIGNATURES: dict = {}


def expected_params(question: Question) -> list[str] | None:
    """The reference's positional parameter names for ``question``, if it has one."""
    if question.params:
        return list(question.params)
    if question.name in _SIGNATURES:
        return _SIGNATURES[question.name]
    import importlib
    import inspect

    found = None
    from .selfcheck import BLOCKED
    for mod_name in BLOCKED:
        fn = getattr(importlib.import_module(mod_name), question.name, None)
        if callable(fn):
            try:
                params = inspect.signature(fn).parameters.values()
            except (TypeError, ValueError):
                continue
            names = [p.name for p in params
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if names and not names[0] == "args":
                found = names
                break
    _SIGNATURES[question.name] = found
    return found


def _argument_hint(question, meta, problems) -> str | None:
    """A sentence about the parameter order when the student's differs from the grader's."""
    expected = expected_params(question)
    params = meta.get("params", {}).get(question.name) if isinstance(meta, dict) else None
    if not expected or not params:
        return None
    call = f"{question.name}({', '.join(expected)})"
    if params == expected:
        return None
    if sorted(params) == sorted(expected):
        return (f"this looks like a swapped argument order: your {question.name} takes "
                f"({', '.join(params)}), but it is called as {call}")
    raised = any(p and p.startswith(("raised", "returned")) for p in problems)
    if len(params) != len(expected):
        return (f"{question.name} takes {len(params)} arguments ({', '.join(params)}), "
                f"but it is called as {call}")
    if raised:
        return (f"check the order of the arguments: the grader calls {call}; yours are "
                f"named ({', '.join(params)})")
    return None


def _slip_hint(question, case, k, got, dtype) -> str | None:
    """'this looks like ...' when ``got`` matches output ``k`` of a common slip."""
    if got is None:
        return None
    if case.slips is not None:
        slips = case.slips
    else:
        from .slips import slips_for
        slips = []
        for description, fn in slips_for(question.name):
            try:
                slips.append((description, fn(case)))
            except Exception:  # a slip that does not apply to these shapes
                continue
    for description, outputs in slips:
        if k < len(outputs) and _close(got, outputs[k], dtype):
            return f"this looks like {description}"
    return None


def _merge(messages: list[str], labels: list[str]) -> list[str]:
    """Merge messages that differ only in the inputs they name."""
    out, keys = [], {}
    for m in messages:
        label = next((lb for lb in labels if f" (inputs {lb})" in m), None)
        key = m.replace(f" (inputs {label})", " (inputs {})") if label else m
        if label and key in keys:
            i = keys[key]
            out[i] = (out[i][0], out[i][1] + [label])
        elif key not in keys:
            keys[key] = len(out)
            out.append((key, [label] if label else []))
    merged = []
    for key, labs in out:
        if not labs:
            merged.append(key)
        elif len(labs) == 1:
            merged.append(key.replace(" (inputs {})", f" (inputs {labs[0]})"))
        else:
            merged.append(key.replace(" (inputs {})", f" (inputs {labs[0]}; the same for "
                                                      f"{'; '.join(labs[1:])})"))
    return merged


def _check_message(question, check, cases, case_meta, problems, expected, got,
                   mistakes) -> str | None:
    """The first thing wrong in one check over its cases, or None when it passes."""
    for c in check.cases:
        if problems[c]:
            return f"{problems[c]} (inputs {cases[c].label})"
        outputs = case_meta[c].get("outputs", [])
        indices = (range(1, len(question.outputs)) if check.kind == "all_grads"
                   else [check.output])
        for k in indices:
            if k >= len(outputs):
                return f"{question.outputs[k]}: no value returned"
            message = _output_message(question, check, cases[c], c, k, outputs[k],
                                      expected[c][k], got.get(f"c{c}_o{k}"), mistakes)
            if message:
                return message
    return None


def _output_message(question, check, case, c, k, info, expected, arr,
                    mistakes) -> str | None:
    """What is wrong with output ``k`` of case ``c`` (with any hint), or None."""
    H = np.shape(case.args[1])[-1] if len(case.args) > 1 and \
        np.ndim(case.args[1]) >= 1 else None
    if arr is None and "problem" not in info:
        info = {"problem": "was not received by the grader"}
    kind = "value" if check.kind == "all_grads" else check.kind
    message = _compare(question.outputs[k], arr, info, expected, case.dtype, kind,
                       case.label, question.gates, H)
    if message and question.mistakes and arr is not None:
        message = mistakes.name(c, k, message)
    if message and check.kind == "all_grads" and question.kind == "clip":
        message = _clip_hint(message, case, k, arr, question.outputs[k])
    if message and "has wrong values" in message:
        slip = _slip_hint(question, case, k, arr, case.dtype)
        if slip:
            message += f"; {slip}"
    return message


def score_question(question: Question, cases: list, expected: list, got: dict,
                   meta: dict) -> QuestionResult:
    """Score one question from the harness output.

    Args:
        question: the :class:`Question`.
        cases: the cases the function was called on.
        expected: for each case, the list of reference outputs.
        got: the arrays saved by the harness, ``"c{case}_o{k}"`` -> float64 ndarray.
        meta: the harness's description (see ``rnnbook.grading._harness.run_question``).

    Returns:
        result: the :class:`QuestionResult`, with partial credit and feedback.
    """
    name = question.name
    if meta.get("status") == "missing":
        missing = meta.get("missing", name)
        return failed_question(question, f"{missing} is not defined; run the cell that defines "
                                         f"it and keep its name")
    case_meta = meta.get("cases", [])
    problems = [_case_problem(case_meta[c]) if c < len(case_meta) else "no result"
                for c in range(len(cases))]
    statuses = {case_meta[c].get("status") for c in range(min(len(cases), len(case_meta)))}
    if statuses == {"notimpl"}:
        return failed_question(question, "not implemented yet")
    score, passed, failed, messages = 0, [], [], []
    wrong_outputs = set()
    mistakes = _Mistakes(question, cases, expected, got)
    for check in question.checks:
        message = _check_message(question, check, cases, case_meta, problems, expected,
                                 got, mistakes)
        if message is None:
            score += check.points
            passed.append(check.label)
        else:
            failed.append(check.label)
            # A dtype check of an output whose values are already reported
            # wrong would only repeat the same news.
            repeat = check.kind == "dtype" and check.output in wrong_outputs \
                and "has wrong values" in message
            if message not in messages and not repeat:
                messages.append(message)
            wrong_outputs.add(check.output)
    messages = _merge(messages, [case.label for case in cases])
    if score < question.max_score:
        hint = _argument_hint(question, meta, problems)
        if hint:
            messages.insert(0, hint)
    feedback = "; ".join(messages) if messages else "all checks passed"
    return QuestionResult(name, score, question.max_score, feedback, passed, failed, messages)


def _clip_hint(message, case, k, got, name):
    """Say so plainly when clip_grad_norm left a gradient as it was given."""
    if got is not None and got.shape == np.shape(case.args[k - 1]) and \
            np.array_equal(got, case.args[k - 1]):
        return (f"{name} was not changed (inputs {case.label}): rescale the arrays of the "
                f"dict in place")
    return message


def failed_question(question: Question, feedback: str) -> QuestionResult:
    """A zero score for the whole question with one reason."""
    return QuestionResult(question.name, 0, question.max_score, feedback, [],
                          [c.label for c in question.checks], [feedback])


# ==========================================================================
# Part III: bidirectional layer (6), greedy and beam search (7), attention (8)
# ==========================================================================
#
# Each question of these exercises also lists its typical mistakes: a
# variant of the reference that makes the mistake on purpose. When an
# output is wrong and equals what a variant gives in every case where it is
# wrong, the feedback names the mistake in plain words. The variants run in
# the grader's process, like the reference.

@dataclass(frozen=True)
class Mistake:
    """A typical mistake, recognised by the outputs it produces.

    Attributes:
        words: what is wrong and how to fix it, in plain words.
        outputs_fn: function of a case returning the outputs that the
            mistaken code returns (like ``Question.reference_fn``).
    """

    words: str
    outputs_fn: Callable


def _same(got, expected, dtype) -> bool:
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return False
    rtol, atol = _tolerance(dtype)
    both_nan = np.isnan(got) & np.isnan(expected)
    ok = np.isclose(got, expected, rtol=0.0, atol=rtol * float(
        np.max(np.abs(np.nan_to_num(expected)), initial=0.0)) + atol)
    return bool(np.all(ok | both_nan))


class _Mistakes:
    """Names the typical mistake that explains a submission's wrong outputs.

    A mistake is named for output ``k`` only when its variant reproduces
    that output in *every* case where the output is wrong, not just in one,
    so that a coincidence in a single case does not name the wrong mistake.
    Each mistake is named once, however many outputs and cases show it.
    """

    def __init__(self, question, cases, expected, got):
        self.question, self.cases = question, cases
        self.expected, self.got = expected, got
        self.variants = {}
        self.named = {}

    def _variant(self, m, c):
        if (m, c) not in self.variants:
            case = self.cases[c]
            if case.mistakes is not None:  # the student copy: stored outputs
                stored = case.mistakes[m] if m < len(case.mistakes) else None
                outs = None if stored is None else [np.asarray(o) for o in stored]
            else:
                try:
                    outs = [np.asarray(o) for o in
                            self.question.mistakes[m].outputs_fn(case)]
                except Exception:  # a mistake that does not apply to these inputs
                    outs = None
            self.variants[m, c] = outs
        return self.variants[m, c]

    def _explains(self, m, k) -> bool:
        wrong = 0
        for c, case in enumerate(self.cases):
            arr = self.got.get(f"c{c}_o{k}")
            if arr is None or _same(arr, self.expected[c][k], case.dtype):
                continue
            outs = self._variant(m, c)
            if outs is None or k >= len(outs) or not _same(arr, outs[k], case.dtype):
                return False
            wrong += 1
        return wrong > 0

    def name(self, c, k, message) -> str:
        """``message`` about output ``k`` of case ``c``, naming a mistake that fits."""
        fits = tuple(m for m in range(len(self.question.mistakes))
                     if self._explains(m, k))
        if not fits:
            return message
        words = [self.question.mistakes[m].words for m in fits]
        if len(words) == 1:
            what = words[0]
        else:  # the evidence fits several: say so rather than pick one
            what = "it matches more than one typical mistake: " + "; or ".join(words)
        label = self.cases[c].label
        return self.named.setdefault(fits, f"{self.question.outputs[k]} is wrong "
                                           f"(inputs {label}): {what}")


def _lengths_for(rng, N, T, padded):
    """Per-sequence lengths in [1, T]: one full row and, when padded, one shorter."""
    if not padded or T == 1:
        return np.full(N, T, dtype=np.int64)
    lengths = rng.integers(1, T + 1, N).astype(np.int64)
    lengths[0], lengths[-1] = T, rng.integers(1, T)
    return rng.permutation(lengths)


# -- exercise 6: a bidirectional RNN layer over padded batches --------------------

def _bidir_cases(rng, float32=True):
    """x (N, T, D) with random padding, lengths (N,), two RNN cells' weights."""
    cases = []
    setups = [("padded", np.float64), ("edge", np.float64), ("full length", np.float64)]
    if float32:
        setups.append(("padded", np.float32))
    for setup, dtype in setups:
        N, T, D, H = _dims(rng, setup == "edge")
        if setup == "padded" and T < 3:
            T = 3 + int(rng.integers(0, 3))
        lengths = _lengths_for(rng, N, T, setup == "padded")
        # The padding holds numbers, not zeros: code that reads it shows.
        args = [_normal(rng, (N, T, D), 1.0, dtype), lengths]
        for _ in range(2):
            args += [_normal(rng, (D, H), 0.6, dtype), _normal(rng, (H, H), 0.6, dtype),
                     _normal(rng, (H,), 0.4, dtype)]
        label = _label(dtype, N=N, T=T, D=D, H=H)
        label += ", lengths " + "/".join(str(int(v)) for v in lengths)
        cases.append(Case(label, args, dtype=np.dtype(dtype)))
    return cases


def _bidir_params(case):
    x, lengths, Wxf, Whf, bf, Wxb, Whb, bb = case.args
    return x, lengths, {"Wx": Wxf, "Wh": Whf, "b": bf}, {"Wx": Wxb, "Wh": Whb, "b": bb}


def _ref_reverse_within_lengths(case):
    return [_models.reverse_within_lengths(*case.args)]


def _ref_bidirectional_forward(case):
    x, lengths, pf, pb = _bidir_params(case)
    return [_models.bidirectional_forward("rnn", x, pf, pb, lengths)[0]]


def _ref_bidirectional_backward(case):
    x, lengths, pf, pb = _bidir_params(case)
    _, cache = _models.bidirectional_forward("rnn", x, pf, pb, lengths)
    dx, gf, gb = _models.bidirectional_backward(case.upstream[0], cache)
    return [dx, gf["Wx"], gf["Wh"], gf["b"], gb["Wx"], gb["Wh"], gb["b"]]


def _bidir_variant(case, mistake=None, backward=False):
    """The bidirectional layer computed with one typical mistake (None: none)."""
    x, lengths, Wxf, Whf, bf, Wxb, Whb, bb = case.args
    N, T, _ = x.shape
    rows, t = np.arange(N)[:, None], np.arange(T)[None, :]
    L = np.asarray(lengths)[:, None]
    index = np.broadcast_to(T - 1 - t, (N, T)) if mistake == "whole_row" \
        else np.where(t < L, L - 1 - t, t)
    keep = (t < L)[:, :, None]
    h0 = np.zeros((N, Wxf.shape[1]), dtype=x.dtype)
    h_f, cache_f = _rnn.rnn_forward(x, h0, Wxf, Whf, bf)
    h_b_rev, cache_b = _rnn.rnn_forward(x[rows, index], h0, Wxb, Whb, bb)
    if not backward:
        h_b = h_b_rev if mistake == "not_restored" else h_b_rev[rows, index]
        if mistake != "no_zero":
            h_f, h_b = h_f * keep, h_b * keep
        halves = (h_b, h_f) if mistake == "swapped" else (h_f, h_b)
        return [np.concatenate(halves, axis=2)]
    dh = case.upstream[0]
    H = h0.shape[1]
    if mistake != "no_mask":
        dh = dh * keep
    dh_f, dh_b = dh[..., :H], dh[..., H:]
    if mistake == "dh_swapped":
        dh_f, dh_b = dh_b, dh_f
    if mistake != "dh_not_reversed":
        dh_b = dh_b[rows, index]
    dx_f, _, dWxf, dWhf, dbf = _rnn.rnn_backward(dh_f, cache_f)
    dx_b, _, dWxb, dWhb, dbb = _rnn.rnn_backward(dh_b, cache_b)
    if mistake != "dx_not_restored":
        dx_b = dx_b[rows, index]
    return [dx_f + dx_b, dWxf, dWhf, dbf, dWxb, dWhb, dbb]


#: What each typical mistake is, in the words of the feedback.
_MISTAKE_WORDS = {
    "whole_row_reverse": (
        "it reverses the whole padded row, padding included: reverse only the first "
        "lengths[n] steps of row n and leave the padding in place"
    ),
    "whole_row": (
        "the backward direction reverses the whole padded row, so it starts in the "
        "padding: reverse each sequence within its own length, x[n, L-1-t] for t < L "
        "with L = lengths[n], and leave the padding where it is"
    ),
    "no_zero": (
        "the outputs at padded steps are not zero: set h[n, t] = 0 in both halves for "
        "t >= lengths[n]"
    ),
    "swapped": (
        "the two halves are concatenated in the wrong order: the forward direction's "
        "states go first, h[..., :H], the backward direction's second"
    ),
    "not_restored": (
        "the backward direction's outputs are still in reversed order: reverse them "
        "back (within each length) so that h[:, t] holds both directions' states at "
        "input t"
    ),
    "no_mask": (
        "the upstream gradient at padded steps is not ignored: those outputs are "
        "constant zeros, so set dh to 0 there before the cells' backward passes"
    ),
    "dh_swapped": (
        "dh is split the wrong way round: its first H columns belong to the forward "
        "direction, the last H to the backward one"
    ),
    "dh_not_reversed": (
        "the backward direction's part of dh is not reversed (within each length) "
        "before its cell's backward pass: that cell saw the inputs in reversed order"
    ),
    "dx_not_restored": (
        "the backward direction's dx is not put back in order: reverse it within each "
        "length before adding it to the forward direction's dx"
    ),
    "drop_finished": (
        "finished hypotheses were dropped from the beam: a hypothesis that ends with "
        "the end token stays in the beam, unchanged, and competes with the live ones"
    ),
    "extend_finished": (
        "a hypothesis kept growing after its end token: once it ends it is finished, "
        "and it stays in the beam unchanged with its score"
    ),
    "greedy": (
        "only the best hypothesis survives each step: keep the beam_size best "
        "candidates"
    ),
    "greedy_extend": (
        "the output kept growing after the end token: stop as soon as the end token "
        "is chosen"
    ),
    "greedy_ties": (
        "equal probabilities were broken towards the larger token id: take the first "
        "maximum, the smallest id (np.argmax does)"
    ),
    "reverse_ties": (
        "equal scores were ordered the other way round (did you sort ascending and "
        "reverse?): among equal scores the candidate from the better-placed "
        "hypothesis wins, then the smaller token id; sort stably by decreasing score"
    ),
    "backward_no_scale": (
        "the gradient misses the scale 1/sqrt(d) of the scores"
    ),
    "diagonal_softmax": (
        "the softmax's backward uses only w(1 - w): every weight of a row depends on "
        "every score of that row, dscores = w * (dw - sum(dw * w))"
    ),
    "no_scale": (
        "the scores are not divided by sqrt(d), the size of a query"
    ),
    "wrong_axis": (
        "the softmax runs over the queries (axis 1); each query's weights are a "
        "distribution over the keys, so normalise over the last axis"
    ),
    "mask_zero": (
        "masked scores were set to 0, and exp(0) still gives them weight: set them to "
        "minus infinity so their weights are exactly 0"
    ),
    "ignore_mask": (
        "the mask is not applied, so the padded keys still get weight: give the "
        "scores where the mask is False a weight of exactly 0"
    ),
    "no_tanh": (
        "the score has no tanh: it is w . tanh(q Wq + k Wk)"
    ),
}


def _mistakes(variant, *names, **kwargs) -> tuple:
    """Mistakes by name; ``variant(case, name, **kwargs)`` gives each one's outputs."""
    return tuple(Mistake(_MISTAKE_WORDS[n], lambda c, n=n: variant(c, n, **kwargs))
                 for n in names)


def _reverse_cases(rng):
    """The (x, lengths) of the layer's cases, in float64."""
    return [Case(re.sub(r", H=\d+", "", c.label), c.args[:2], dtype=c.dtype)
            for c in _bidir_cases(rng, float32=False)]


REVERSE_WITHIN_LENGTHS = Question(
    "06_bidirectional", "reverse_within_lengths", "plain", ("out",),
    _reverse_cases, _ref_reverse_within_lengths,
    (Check("out with full-length sequences", 1, 0, (1, 2)),
     Check("out with padded sequences", 1, 0, (0,))),
    mistakes=(Mistake(_MISTAKE_WORDS["whole_row_reverse"],
                      lambda case: [case.args[0][:, ::-1]]),),
)

BIDIRECTIONAL_FORWARD = Question(
    "06_bidirectional", "bidirectional_forward", "forward", ("h",),
    _bidir_cases, _ref_bidirectional_forward,
    (Check("h with full-length sequences", 2, 0, (1, 2)),
     Check("h with padded sequences", 3, 0, (0,)),
     Check("h for float32 inputs", 1, 0, (3,), "dtype")),
    mistakes=_mistakes(_bidir_variant, "whole_row", "no_zero", "swapped",
                       "not_restored"),
    params=("x", "lengths", "Wx_f", "Wh_f", "b_f", "Wx_b", "Wh_b", "b_b"),
)

BIDIRECTIONAL_BACKWARD = Question(
    "06_bidirectional", "bidirectional_backward", "backward",
    ("dx", "dWx_f", "dWh_f", "db_f", "dWx_b", "dWh_b", "db_b"),
    lambda rng: _with_upstream(
        rng, _bidir_cases(rng, float32=False),
        lambda c: [c.args[0].shape[:2] + (2 * c.args[2].shape[1],)]),
    _ref_bidirectional_backward,
    (Check("dx", 2, 0, (0, 1, 2)),
     Check("dWx_f", 1, 1, (0, 1, 2)), Check("dWh_f", 1, 2, (0, 1, 2)),
     Check("db_f", 1, 3, (0, 1, 2)),
     Check("dWx_b", 1, 4, (0, 1, 2)), Check("dWh_b", 1, 5, (0, 1, 2)),
     Check("db_b", 1, 6, (0, 1, 2))),
    forward="bidirectional_forward", params=("dh", "cache"),
    mistakes=_mistakes(_bidir_variant, "no_mask", "whole_row", "dh_swapped",
                       "dh_not_reversed", "dx_not_restored", backward=True),
)


# -- exercise 7: beam search ---------------------------------------------------------

def _beam_case(rng, label, beam_size, *, V=None, S=None, max_len=None, end_boost=0.0,
               ties=False):
    V = int(rng.integers(3, 7)) if V is None else V
    S = int(rng.integers(3, 8)) if S is None else S
    max_len = int(rng.integers(4, 8)) if max_len is None else max_len
    if ties:
        # Few distinct probabilities: equal log-probabilities in a row, and
        # equal sums along different paths, are common.
        logits = rng.integers(0, 2, (S, V)).astype(np.float64)
    else:
        logits = rng.normal(0.0, 1.5, (S, V))
    end = int(rng.integers(0, V))
    logits[:, end] += end_boost
    # The model starts in state 0, where ending at once is unlikely, so
    # that results are longer than the single end token.
    logits[0, end] -= 4.0
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    trans = rng.integers(0, S, (S, V)).astype(np.int64)
    return Case(f"{label}, V={V}, beam_size={beam_size}, max_len={max_len}, end={end}",
                [logp, trans, end, int(beam_size), max_len])


def _beam_differs(case, **variant):
    """True when the variant (greedy, or a typical mistake) gives other tokens."""
    logp, trans, end, beam_size, max_len = case.args
    step = _harness.make_step(logp, trans)
    right = _ref.beam_search(step, end, beam_size, max_len)[0]
    if variant.pop("greedy", False):
        beam_size = 1
    other = _ref.beam_search(step, end, beam_size, max_len, **variant)[0]
    return other.shape != right.shape or not np.array_equal(other, right)


def _beam_case_where(rng, wanted, *args, **kwargs):
    """A case for which ``wanted(case)`` holds, so that the check can fail.

    Random models where greedy and beam search agree, or where the tie rule
    makes no difference, test nothing; a few draws find one where they do.
    """
    for _ in range(30):
        case = _beam_case(rng, *args, **kwargs)
        if wanted(case):
            break
    return case


def _beam_cases(rng):
    return [
        _beam_case(rng, "greedy", 1, end_boost=0.5),
        _beam_case(rng, "greedy, end never likely", 1, end_boost=-3.0, max_len=3),
        _beam_case_where(rng, lambda c: _beam_differs(c, greedy=True),
                         "several hypotheses", int(rng.integers(2, 5)), end_boost=0.5),
        _beam_case(rng, "several hypotheses, one step", int(rng.integers(2, 4)),
                   max_len=1),
        _beam_case_where(rng, lambda c: _beam_differs(c, reverse_ties=True),
                         "equal scores (ties)", int(rng.integers(2, 5)), ties=True),
        _beam_case_where(rng, lambda c: _beam_differs(c, extend_finished=True),
                         "end often likely", int(rng.integers(2, 4)), end_boost=1.5,
                         max_len=8),
        _beam_case(rng, "beam wider than the vocabulary", 7, V=3, end_boost=-1.0,
                   max_len=5),
        _beam_case(rng, "max_len reached before end", int(rng.integers(2, 4)),
                   end_boost=-4.0, max_len=3),
    ]


def _greedy_cases(rng):
    """Cases for greedy decoding: the beam cases' models, without a beam size."""
    cases = [
        _beam_case(rng, "typical", 1, end_boost=0.5),
        _beam_case(rng, "end never likely", 1, end_boost=-3.0, max_len=3),
        _beam_case_where(rng, lambda c: _beam_differs(c, reverse_ties=True),
                         "equal probabilities (ties)", 1, ties=True),
        _beam_case_where(rng, lambda c: _beam_differs(c, extend_finished=True),
                         "end often likely", 1, end_boost=1.5, max_len=8),
    ]
    for case in cases:
        del case.args[3]
        case.label = case.label.replace(", beam_size=1", "")
    return cases


def _ref_greedy(case, **variant):
    logp, trans, end, max_len = case.args
    tokens, score = _ref.greedy_decode(_harness.make_step(logp, trans), end, max_len,
                                       **variant)
    return [tokens, np.array(score)]


def _ref_beam(case, greedy=False, **variant):
    logp, trans, end, beam_size, max_len = case.args
    beam_size = 1 if greedy else beam_size
    tokens, score = _ref.beam_search(_harness.make_step(logp, trans), end, beam_size,
                                     max_len, **variant)
    return [tokens, np.array(score)]


_GREEDY_VARIANT = {"greedy_extend": {"extend_finished": True},
                   "greedy_ties": {"reverse_ties": True}}

GREEDY_DECODE = Question(
    "07_beam_search", "greedy_decode", "step", ("tokens", "score"),
    _greedy_cases, _ref_greedy,
    (Check("tokens", 2, 0, (0, 1, 3)),
     Check("tokens when probabilities are equal (the smallest id wins)", 1, 0, (2,)),
     Check("score", 1, 1, (0, 1, 2, 3))),
    mistakes=_mistakes(lambda case, name: _ref_greedy(case, **_GREEDY_VARIANT[name]),
                       "greedy_extend", "greedy_ties"),
)

BEAM_SEARCH = Question(
    "07_beam_search", "beam_search", "step", ("tokens", "score"),
    _beam_cases, _ref_beam,
    (Check("tokens with beam_size 1 (greedy)", 2, 0, (0, 1)),
     Check("tokens with several hypotheses", 3, 0, (2, 3, 5, 6)),
     Check("tokens when scores are equal (the tie rule)", 1, 0, (4,)),
     Check("tokens when max_len comes first", 1, 0, (7,)),
     Check("score", 1, 1, (0, 1, 2, 3, 4, 5, 6, 7))),
    mistakes=_mistakes(lambda case, name: _ref_beam(case, **{name: True}),
                       "drop_finished", "extend_finished", "greedy", "reverse_ties"),
)


# -- exercise 8: attention ----------------------------------------------------------

def _attention_cases(rng, additive=False, float32=True):
    """q, k, v, (Wq, Wk, w,) mask; mask (N, 1, Tk) or (N, Tq, Tk), bool."""
    cases = []
    setups = [("no masked keys", np.float64), ("padded keys", np.float64),
              ("a mask per query", np.float64), ("edge", np.float64)]
    if float32:
        setups.append(("padded keys", np.float32))
    for setup, dtype in setups:
        if setup == "edge":
            N, Tq, Tk = 1, 1, 1
            d, dv, A = (int(v) for v in rng.integers(2, 4, 3))
        else:
            N, Tq, Tk, d, dv, A = (int(v) for v in rng.permutation(np.arange(2, 8))[:6])
        args = [_normal(rng, shape, 1.0, dtype)
                for shape in ((N, Tq, d), (N, Tk, d), (N, Tk, dv))]
        if additive:
            args += [_normal(rng, (d, A), 0.8, dtype), _normal(rng, (d, A), 0.8, dtype),
                     _normal(rng, (A,), 1.0, dtype)]
        if setup == "padded keys":
            lengths = _lengths_for(rng, N, Tk, True)
            mask = (np.arange(Tk)[None, :] < lengths[:, None])[:, None, :]
            extra = ", key lengths " + "/".join(str(int(v)) for v in lengths)
        elif setup == "a mask per query":
            mask = rng.random((N, Tq, Tk)) < 0.6
            mask[np.arange(N)[:, None], np.arange(Tq)[None, :],
                 rng.integers(0, Tk, (N, Tq))] = True
            extra = ", mask (N, Tq, Tk)"
        else:
            mask = np.ones((N, 1, Tk), dtype=bool)
            extra = ", mask all True"
        label = _label(dtype, N=N, Tq=Tq, Tk=Tk, d=d, dv=dv) + extra
        cases.append(Case(label, args + [mask], dtype=np.dtype(dtype)))
    return cases


def _attention_variant(case, mistake=None, additive=False):
    """(out, weights) of attention with one typical mistake (None: none)."""
    q, k, v = case.args[:3]
    mask = np.broadcast_to(case.args[-1], (q.shape[0], q.shape[1], k.shape[1]))
    if additive:
        Wq, Wk, w = case.args[3:6]
        pre = (q @ Wq)[:, :, None, :] + (k @ Wk)[:, None, :, :]
        scores = (pre if mistake == "no_tanh" else np.tanh(pre)) @ w
    else:
        scale = 1.0 if mistake == "no_scale" else 1.0 / math.sqrt(q.shape[-1])
        scores = (q @ k.transpose(0, 2, 1)) * scale
    if mistake == "mask_zero":
        scores = np.where(mask, scores, 0.0)
    elif mistake != "ignore_mask":
        scores = np.where(mask, scores, -np.inf)
    axis = 1 if mistake == "wrong_axis" else -1
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(scores - np.max(scores, axis=axis, keepdims=True))
        weights = e / np.sum(e, axis=axis, keepdims=True)
    return [weights @ v, weights]


def _ref_sdpa(case):
    out, weights, _ = _att.scaled_dot_product_attention(*case.args)
    return [out, weights]


def _ref_sdpa_backward(case):
    _, _, cache = _att.scaled_dot_product_attention(*case.args)
    return _att.scaled_dot_product_attention_backward(*case.upstream, cache)


def _ref_additive(case):
    out, weights, _ = _att.additive_attention(*case.args)
    return [out, weights]


def _sdpa_backward_variant(case, mistake):
    q, k, v, mask = case.args
    (dout,) = case.upstream
    scale = 1.0 / math.sqrt(q.shape[-1])
    _, weights = _attention_variant(case)
    dweights = dout @ v.transpose(0, 2, 1)
    dv = weights.transpose(0, 2, 1) @ dout
    if mistake == "diagonal_softmax":
        dscores = dweights * weights * (1.0 - weights)
    else:
        row = np.sum(dweights * weights, axis=-1, keepdims=True)
        dscores = weights * (dweights - row)
    if mistake != "backward_no_scale":
        dscores = dscores * scale
    return [dscores @ k, dscores.transpose(0, 2, 1) @ q, dv]




SCALED_DOT_PRODUCT_ATTENTION = Question(
    "08_attention", "scaled_dot_product_attention", "forward", ("out", "weights"),
    _attention_cases, _ref_sdpa,
    (Check("weights without masked keys", 2, 1, (0, 3)),
     Check("weights with masked keys", 2, 1, (1, 2)),
     Check("out", 1, 0, (0, 1, 2, 3)),
     Check("out for float32 inputs", 1, 0, (4,), "dtype")),
    mistakes=_mistakes(_attention_variant, "no_scale", "wrong_axis", "mask_zero",
                       "ignore_mask"),
)

SCALED_DOT_PRODUCT_ATTENTION_BACKWARD = Question(
    "08_attention", "scaled_dot_product_attention_backward", "backward",
    ("dq", "dk", "dv"),
    lambda rng: _with_upstream(rng, _attention_cases(rng, float32=False),
                               lambda c: [c.args[0].shape[:2] + c.args[2].shape[2:]]),
    _ref_sdpa_backward,
    (Check("dq", 2, 0, (0, 1, 2, 3)), Check("dk", 2, 1, (0, 1, 2, 3)),
     Check("dv", 1, 2, (0, 1, 2, 3))),
    forward="scaled_dot_product_attention",
    mistakes=_mistakes(_sdpa_backward_variant, "backward_no_scale", "diagonal_softmax"),
)

ADDITIVE_ATTENTION = Question(
    "08_attention", "additive_attention", "forward", ("out", "weights"),
    lambda rng: _attention_cases(rng, additive=True), _ref_additive,
    (Check("weights without masked keys", 2, 1, (0, 3)),
     Check("weights with masked keys", 1, 1, (1, 2)),
     Check("out", 1, 0, (0, 1, 2, 3)),
     Check("out for float32 inputs", 1, 0, (4,), "dtype")),
    mistakes=_mistakes(_attention_variant, "no_tanh", "wrong_axis", "mask_zero",
                       "ignore_mask", additive=True),
)

PART_III = {
    "06_bidirectional": (REVERSE_WITHIN_LENGTHS, BIDIRECTIONAL_FORWARD,
                         BIDIRECTIONAL_BACKWARD),
    "07_beam_search": (GREEDY_DECODE, BEAM_SEARCH),
    "08_attention": (SCALED_DOT_PRODUCT_ATTENTION,
                     SCALED_DOT_PRODUCT_ATTENTION_BACKWARD, ADDITIVE_ATTENTION),
}
EXERCISES.update(PART_III)
QUESTIONS.update({q.name: q for qs in PART_III.values() for q in qs})


# --------------------------------------------------------------------------
# The student copy: stored cases instead of the reference
# --------------------------------------------------------------------------

#: Stored inputs and outputs, present only in the copy made by ``rnnbook-release``.
STORED_CASES = __import__("pathlib").Path(__file__).with_name("stored_cases.npz")


def _stored(sets, arrays, rng):
    """The cases of one stored set, chosen with ``rng``, as fresh objects."""
    def get(spec):
        if "f" in spec:
            return float(spec["f"])
        if "i" in spec:
            return int(spec["i"])
        return np.array(arrays[spec["a"]], copy=True)

    def outputs(stored):
        return None if stored is None else [get(o) for o in stored]

    out = []
    for c in sets[int(rng.integers(len(sets)))]:
        out.append(Case(c["label"], [get(a) for a in c["args"]],
                        [get(u) for u in c["upstream"]], list(c["keys"]),
                        np.dtype(c["dtype"]), [get(e) for e in c["expected"]],
                        [(s["description"], [get(o) for o in s["outputs"]])
                         for s in c["slips"]],
                        [outputs(m) for m in c.get("mistakes", ())]))
    return out


def _use_stored_cases(path=STORED_CASES) -> bool:
    """Make every question draw its cases from ``path`` when it exists; say whether it did."""
    import dataclasses
    import functools
    import json

    if not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    manifest = json.loads(str(arrays.pop("manifest")))
    _SIGNATURES.update(manifest.get("signatures", {}))
    for ex, questions in EXERCISES.items():
        EXERCISES[ex] = tuple(
            dataclasses.replace(q, make_cases=functools.partial(
                _stored, manifest["questions"][q.name], arrays))
            if q.name in manifest["questions"] else q for q in questions)
    QUESTIONS.clear()
    QUESTIONS.update({q.name: q for qs in EXERCISES.values() for q in qs})
    return True


USING_STORED_CASES = _use_stored_cases()
