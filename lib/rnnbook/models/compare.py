"""Comparing recurrent cells on the same task with the same budget.

The gated-cell chapters ask which cell to use, and the honest answer is a
measurement: the vanilla RNN, the LSTM and the GRU trained on the same data,
from the same kind of initialisation, with the same optimiser, for the same
number of steps. For the adding problem :func:`rnnbook.models.tasks.train_adding_problem`
already takes the cell as an argument. This module does the same for the
character-level language model of :mod:`rnnbook.models.charmodel`, which is written
for the tanh RNN only, and adds two small helpers for reporting.

The character model reads one-hot characters, runs any of the three cells and
scores the next character at every step::

    h = cell(onehot(x), state)               # (N, T, H); state (h,) or (h, c)
    o = h Wy + by                            # (N, T, V)
    loss = mean of -log softmax(o)[y]

As in :mod:`rnnbook.models.charmodel`, the one-hot input makes ``Wx`` a character
embedding (one row per character, one column block per gate). Parameters
are the cell's own dict from :mod:`rnnbook.nn.init` (``Wx``, ``Wh`` and ``b``,
or ``bx`` and ``bh`` for the GRU) plus the readout ``Wy`` (H, V), ``by`` (V,).

A *state* is a tuple of (N, H) arrays, ``(h,)`` for the RNN and the GRU and
``(h, c)`` for the LSTM (the convention of :class:`rnnbook.nn.cells.Cell`),
or ``None`` for zeros. The cells run through
:func:`rnnbook.nn.sequence.recurrent_forward`, which returns the final state of
every cell type, so training can carry it from chunk to chunk (truncated
backpropagation through time): gradients stop at a chunk boundary, memory
does not.
"""

from __future__ import annotations

import numpy as np

from rnnbook.nn import init as _init
from rnnbook.checks import Shapes, check_ids
from rnnbook.models.charmodel import mean_chunk_loss, one_hot, tbptt_stream
from rnnbook.nn.cells import Cell, get_cell
from rnnbook.nn.cells import one_state_cell
from rnnbook.nn.gru import (gru_original_backward, gru_original_forward,
                         gru_original_step_backward, gru_original_step_forward)
from rnnbook.nn.layers import softmax_cross_entropy, temporal_affine_backward, temporal_affine_forward
from rnnbook.nn.sequence import recurrent_backward, recurrent_forward
from rnnbook.train.optim import Adam
from rnnbook.train.loop import make_rng, train

__all__ = [
    "CELLS",
    "gru_original_cell",
    "count_params",
    "init_char_model",
    "char_model_loss",
    "char_model_loss_and_grads",
    "evaluate_char_model",
    "CharModelStep",
    "train_char_model",
    "markdown_table",
]

#: The cells this module can build a character model from.
CELLS = ("rnn", "lstm", "gru")

_READOUT = ("Wy", "by")


def _check_cell(cell) -> str:
    if not isinstance(cell, str) or cell.lower() not in CELLS:
        raise ValueError(f"cell is {cell!r} but needs one of {CELLS}")
    return cell.lower()


def gru_original_cell() -> Cell:
    """Cho et al.'s GRU (reset gate applied before the recurrent product) as a ``Cell``.

    The record wraps the ``gru_original_*`` functions of :mod:`rnnbook.nn.gru`
    in the interface of :class:`rnnbook.nn.cells.Cell`, with the same
    parameter dict as the library's GRU (``Wx`` (D, 3H), ``Wh`` (H, 3H),
    ``bx`` and ``bh`` (3H,), initialised by :func:`rnnbook.nn.init.init_gru`).
    Anything that takes a cell record accepts it, for instance
    :func:`rnnbook.models.tasks.train_adding_problem` and
    :func:`rnnbook.book.diagnostics.gradient_norms_by_lag`, so the two GRU
    formulations can be compared under the same budget.

    Returns:
        a :class:`rnnbook.nn.cells.Cell` named ``"gru-original"``.

    Taught in: Chapter 5, Gated recurrent units.
    """
    return one_state_cell("gru-original", _init.init_gru, get_cell("gru").param_names,
                          gru_original_step_forward, gru_original_step_backward,
                          gru_original_forward, gru_original_backward, n_gates=3)


def count_params(params) -> int:
    """Total number of scalars in a parameter dict (the sum of the arrays' sizes).

    Taught in: Chapter 5, Gated recurrent units.
    """
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict of arrays")
    return int(sum(np.asarray(v).size for v in params.values()))


def init_char_model(cell, V: int, H: int, rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """Fresh parameters of a character model built on ``cell``.

    The cell's parameters come from its recipe in :mod:`rnnbook.nn.init`
    (Xavier input weights, orthogonal recurrent blocks, zero biases except
    the LSTM's forget-gate bias of 1); the readout is Xavier with a zero bias.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        V: vocabulary size (the input size D of the cell, since inputs are one-hot).
        H: hidden size.
        rng: numpy Generator.
        dtype: float32 or float64.

    Returns:
        params: the cell's dict (``Wx`` (V, kH), ``Wh`` (H, kH) and its
            biases, k = 1, 4, 3 for rnn, lstm, gru) plus ``Wy`` (H, V) and
            ``by`` (V,).

    Taught in: Chapter 5, Gated recurrent units.
    """
    cell = _check_cell(cell)
    params = dict(get_cell(cell).init(V, H, rng, dtype=dtype))
    readout = _init.init_affine(H, V, rng, dtype=dtype)
    params["Wy"], params["by"] = readout["W"], readout["b"]
    return params


def _split(cell, params):
    """Check the parameter dict; return (cell params, Wy, by, V, H)."""
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict of arrays")
    needed = get_cell(cell).param_names + _READOUT
    missing = [k for k in needed if k not in params]
    extra = [k for k in params if k not in needed]
    if missing or extra:
        raise ValueError(f"params has keys {sorted(params)} but a {cell!r} character model "
                         f"needs exactly {list(needed)}")
    s = Shapes()
    Wy = s.check("params['Wy']", params["Wy"], ("H", "V"))
    by = s.check("params['by']", params["by"], ("V",))
    # The cell's own shapes are checked by recurrent_forward; here only the
    # link between the cell and the readout: one-hot inputs make D = V.
    s.check("params['Wx']", params["Wx"], ("V", "Kx"))
    s.check("params['Wh']", params["Wh"], ("H", "Kx"))
    return {k: params[k] for k in get_cell(cell).param_names}, Wy, by, s["V"], s["H"]


def _check_state(cell, state, N, H, dtype):
    """Turn ``state`` (None or a tuple of (N, H) arrays) into (h0, c0)."""
    n_parts = 2 if cell == "lstm" else 1
    if state is None:
        zeros = np.zeros((N, H), dtype=dtype)
        return zeros, (np.zeros_like(zeros) if n_parts == 2 else None)
    if not isinstance(state, (tuple, list)) or len(state) != n_parts:
        raise ValueError(f"state needs a tuple of {n_parts} arrays (N, H) for a {cell!r} cell, "
                         f"{'(h, c)' if n_parts == 2 else '(h,)'}, or None for zeros")
    s = Shapes(N=N, H=H)
    names = ("state[0] (h)", "state[1] (c)")
    parts = [s.check(names[i], part, ("N", "H")) for i, part in enumerate(state)]
    if parts[0].dtype != dtype:
        raise ValueError(f"state has dtype {parts[0].dtype} but the parameters are {dtype}")
    return parts[0], (parts[1] if n_parts == 2 else None)


def _forward(cell, params, x, y, state):
    """Shared forward pass: loss, its gradient on the logits, caches and the final state."""
    cell = _check_cell(cell)
    p, Wy, by, V, H = _split(cell, params)
    s = Shapes(V=V)
    x = check_ids("x", x, V, ("N", "T"), s)
    y = check_ids("y", y, V, ("N", "T"), s)
    h0, c0 = _check_state(cell, state, s["N"], H, Wy.dtype)
    h, cell_cache = recurrent_forward(cell, one_hot(x, V, Wy.dtype), h0, p, c0=c0)
    logits, out_cache = temporal_affine_forward(h, Wy, by)
    loss, dlogits = softmax_cross_entropy(logits, y)
    last = (cell_cache.h_last.copy(),)
    if cell == "lstm":
        last = last + (cell_cache.c_last.copy(),)
    return loss, dlogits, cell_cache, out_cache, last


def char_model_loss(cell, params, x, y, state=None) -> tuple[float, tuple]:
    """Mean per-character loss of one batch, without gradients.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        params: from :func:`init_char_model`.
        x: int input ids, (N, T).
        y: int target ids, (N, T); ``y[n, t]`` is the character after ``x[n, t]``.
        state: initial state, ``(h,)`` or ``(h, c)`` of (N, H) arrays; None
            means zeros.

    Returns:
        loss: Python float, mean cross-entropy in nats per character.
        state: the state after the last step, a tuple like ``state``.

    Taught in: Chapter 5, Gated recurrent units.
    """
    loss, _, _, _, last = _forward(cell, params, x, y, state)
    return loss, last


def char_model_loss_and_grads(cell, params, x, y, state=None) -> tuple[float, dict, tuple]:
    """Loss and gradients of the character model on one batch (BPTT over its T steps).

    The initial state is a constant: no gradient flows into it, so passing
    the final state of the previous chunk is truncated backpropagation
    through time with truncation length T.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        params: from :func:`init_char_model`.
        x: int input ids, (N, T).
        y: int target ids, (N, T).
        state: initial state, ``(h,)`` or ``(h, c)`` of (N, H) arrays, or None.

    Returns:
        loss: Python float, mean cross-entropy over the N*T positions.
        grads: dict with the keys and shapes of ``params``.
        state: the state after the last step.

    Taught in: Chapter 5, Gated recurrent units.
    """
    loss, dlogits, cell_cache, out_cache, last = _forward(cell, params, x, y, state)
    dh, dWy, dby = temporal_affine_backward(dlogits, out_cache)
    _, _, grads, _ = recurrent_backward(dh, cell_cache)
    grads = dict(grads)
    grads["Wy"], grads["by"] = dWy, dby
    return loss, grads, last


def evaluate_char_model(cell, params, encoded, batch_size: int = 16, seq_len: int = 64) -> float:
    """Mean per-character loss of the model on a whole encoded text.

    The text is read as ``batch_size`` parallel tracks in chunks of
    ``seq_len`` characters (:func:`rnnbook.datasets.text.tbptt_batches`), with the
    state carried from chunk to chunk as during training; a final partial
    chunk is dropped.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        params: from :func:`init_char_model`.
        encoded: int array (L,), the text as ids; L > batch_size * seq_len.
        batch_size: number of parallel tracks.
        seq_len: characters per chunk.

    Returns:
        Mean cross-entropy in nats per character, a Python float.

    Taught in: Chapter 5, Gated recurrent units.
    """
    return mean_chunk_loss(lambda x, y, state: char_model_loss(cell, params, x, y, state),
                            encoded, batch_size, seq_len)


class CharModelStep:
    """A ``step_fn`` for :func:`rnnbook.train.loop.train` that carries the state of any cell.

    Each call takes a batch ``(x, y, first)`` from
    :func:`rnnbook.models.charmodel.tbptt_stream`, runs
    :func:`char_model_loss_and_grads` from the state left by the previous
    call (zeros when ``first`` is True or on the first call) and keeps the
    new final state.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.

    Attributes:
        cell: the cell's name.
        state: the carried state, ``(h,)`` or ``(h, c)``, or None before the first call.

    Taught in: Chapter 5, Gated recurrent units.
    """

    def __init__(self, cell):
        self.cell = _check_cell(cell)
        self.state = None

    def __call__(self, params, batch):
        """Return ``(loss, grads)`` for one chunk, updating the carried state."""
        x, y, first = batch
        state = None if first else self.state
        loss, grads, self.state = char_model_loss_and_grads(self.cell, params, x, y, state)
        return loss, grads


def train_char_model(cell, train_ids, V: int, H: int, steps: int, rng=0, *, valid_ids=None,
                     batch_size: int = 16, seq_len: int = 32, lr: float = 5e-3,
                     clip: float | None = 5.0, eval_every: int | None = None,
                     eval_batch_size: int = 16, eval_seq_len: int = 64,
                     dtype=np.float64, progress: bool = False, return_params: bool = False):
    """Train a character model on ``cell`` with truncated BPTT, Adam and clipping.

    The seed is split into two independent streams, one for the initial
    weights and one for the chunk offsets, so that runs with the same seed
    and different cells read exactly the same text in the same order.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        train_ids: int array (L,), the training text as ids.
        V: vocabulary size.
        H: hidden size.
        steps: number of training steps (chunks of ``batch_size`` x ``seq_len``).
        rng: integer seed or numpy Generator.
        valid_ids: optional int array, a validation text; if given, the mean
            validation loss is recorded as ``history.eval["valid_loss"]``
            every ``eval_every`` steps and after the last step.
        batch_size: parallel tracks per chunk.
        seq_len: characters per chunk, the truncation length.
        lr: learning rate of Adam.
        clip: global gradient-norm threshold (None: no clipping).
        eval_every: evaluation interval in steps (None: at the end only).
        eval_batch_size, eval_seq_len: how the validation text is read.
        dtype: float32 or float64.
        progress: show a progress bar.
        return_params: also return the trained parameters.

    Returns:
        history: :class:`rnnbook.train.loop.History` of the run.
        params: only when ``return_params`` is true, as a second element.

    Taught in: Chapter 5, Gated recurrent units.
    """
    cell = _check_cell(cell)
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps is {steps!r} but needs an integer >= 1")
    init_rng, data_rng = make_rng(rng).spawn(2)
    params = init_char_model(cell, V, H, init_rng, dtype=dtype)
    eval_fn = None
    if valid_ids is not None:
        def eval_fn(p):
            return {"valid_loss": evaluate_char_model(cell, p, valid_ids, eval_batch_size,
                                                      eval_seq_len)}
    history = train(CharModelStep(cell), params, Adam(lr),
                    tbptt_stream(train_ids, batch_size, seq_len, data_rng),
                    num_steps=int(steps), clip=clip, eval_fn=eval_fn, eval_every=eval_every,
                    progress=progress, desc=f"{cell} char model")
    if return_params:
        return history, params
    return history


def markdown_table(header, rows, align=None) -> str:
    """A Markdown (pipe) table as a string, e.g. for ``IPython.display.Markdown``.

    Cells are converted with ``str``; format numbers before passing them.
    A ``|`` inside a cell is escaped so that it cannot split the cell.

    Args:
        header: sequence of K column titles.
        rows: sequence of rows, each a sequence of K cells.
        align: optional string of K characters, ``"l"``, ``"r"`` or ``"c"``
            per column (default: all left).

    Returns:
        the table, one line per row, header and separator first.

    Taught in: Chapter 5, Gated recurrent units.
    """
    header = [str(h) for h in header]
    K = len(header)
    if K == 0:
        raise ValueError("header is empty; a table needs at least one column")
    align = "l" * K if align is None else str(align)
    if len(align) != K or set(align) - set("lrc"):
        raise ValueError(f"align is {align!r} but needs {K} characters from 'l', 'r', 'c'")
    marks = {"l": ":---", "r": "---:", "c": ":---:"}

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"

    out = [line(header), "| " + " | ".join(marks[a] for a in align) + " |"]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != K:
            raise ValueError(f"row {i} has {len(row)} cells but the header has {K}")
        out.append(line(row))
    return "\n".join(out)
