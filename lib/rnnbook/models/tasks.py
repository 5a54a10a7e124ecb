"""Ready-made training setups for the long-range benchmark tasks.

The adding problem (:func:`rnnbook.datasets.synthetic.adding_problem`) is the book's
yardstick for memory over long gaps: the chapter on vanishing gradients
shows the vanilla RNN failing on it as the sequences grow, and the
gated-cell chapters solve it with the LSTM and the GRU **under the same
budget**. Keeping the model, the data stream, the optimiser and the
evaluation in one function makes that comparison fair by construction: only
the ``cell`` argument changes.

The model reads the whole sequence with a recurrent cell and predicts the
target from the last hidden state with a linear readout::

    h = cell_forward(x, 0)                 # (N, T, H)
    y_hat = h[:, -1] @ Wy + by             # (N, 1) -> (N,)
    loss = mean((y_hat - y) ** 2)

A model that ignores its input can do no better than predicting the mean
target 1, with mean squared error 1/6 (:data:`ADDING_BASELINE_MSE`).
"""

from __future__ import annotations

import numpy as np

from typing import NamedTuple

from rnnbook.nn import init as _init
from rnnbook.checks import Shapes, check_int
from rnnbook.datasets import adding_problem
from rnnbook.models.language_model import READOUT_NAMES
from rnnbook.nn.cells import get_cell
from rnnbook.nn.layers import affine_backward, affine_forward, mse_loss
from rnnbook.train.optim import Adam
from rnnbook.train.loop import History, make_rng, train

__all__ = [
    "ADDING_BASELINE_MSE",
    "init_adding_model",
    "adding_predict",
    "adding_loss_and_grads",
    "adding_mse",
    "AddingRun",
    "train_adding_problem",
]

#: Mean squared error of always predicting 1.0 on the adding problem, Var(U1 + U2) = 2/12.
ADDING_BASELINE_MSE = 1.0 / 6.0

def init_adding_model(cell, H: int, rng, dtype=np.float64) -> dict:
    """Parameters of a cell with a linear readout, for 2-channel inputs.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a :class:`~rnnbook.nn.cells.Cell`.
        H: hidden size.
        rng: numpy Generator.
        dtype: float32 or float64.

    Returns:
        params: dict with the cell's parameters (from its ``init``) plus
            ``Wy`` (H, 1) and ``by`` (1,).

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    cell = get_cell(cell)
    params = dict(cell.init(2, H, rng, dtype=dtype))
    clash = [k for k in READOUT_NAMES if k in params]
    if clash:
        raise ValueError(f"the cell's parameters already use the readout names {clash}")
    readout = _init.init_affine(H, 1, rng, dtype=dtype)
    params["Wy"], params["by"] = readout["W"], readout["b"]
    return params


def _cell_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in READOUT_NAMES}


def _check_batch(x, y=None):
    s = Shapes()
    x = s.check("x", x, ("N", "T", 2))
    if y is not None:
        y = s.check("y", y, ("N",))
    return x, y


def adding_predict(cell, params: dict, x) -> np.ndarray:
    """Predictions of the model of :func:`init_adding_model`.

    Args:
        cell: the cell (name or :class:`~rnnbook.nn.cells.Cell`).
        params: from :func:`init_adding_model`.
        x: inputs, (N, T, 2).

    Returns:
        y_hat: (N,).

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    cell = get_cell(cell)
    x, _ = _check_batch(x)
    H = params["Wy"].shape[0]
    (h, *_), _ = cell.forward(x, cell.zero_states(x.shape[0], H, x.dtype), _cell_params(params))
    out, _ = affine_forward(h[:, -1], params["Wy"], params["by"])
    return out[:, 0]


def adding_loss_and_grads(cell, params: dict, batch) -> tuple[float, dict]:
    """Mean squared error on one batch and its gradient for every parameter.

    Its signature (after fixing ``cell``) is the ``step_fn`` that
    :func:`rnnbook.train.loop.train` expects::

        step_fn = functools.partial(adding_loss_and_grads, "rnn")

    Args:
        cell: the cell (name or :class:`~rnnbook.nn.cells.Cell`).
        params: from :func:`init_adding_model`.
        batch: ``(x, y)`` with ``x`` (N, T, 2) and ``y`` (N,).

    Returns:
        loss: Python float.
        grads: dict with the keys of ``params``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    cell = get_cell(cell)
    x, y = _check_batch(*batch)
    N = x.shape[0]
    H = params["Wy"].shape[0]
    (h, *_), cache = cell.forward(x, cell.zero_states(N, H, x.dtype), _cell_params(params))
    out, aff_cache = affine_forward(h[:, -1], params["Wy"], params["by"])
    loss, dout = mse_loss(out[:, 0], y.astype(out.dtype, copy=False))
    dlast, dWy, dby = affine_backward(dout[:, None], aff_cache)
    # Only the last hidden state reaches the loss; BPTT carries it back.
    dh = np.zeros_like(h)
    dh[:, -1] = dlast
    _, _, grads = cell.backward((dh,) + (None,) * (len(cell.state_names) - 1), cache)
    grads = dict(grads)
    grads["Wy"], grads["by"] = dWy, dby
    return loss, grads


def adding_mse(cell, params: dict, x, y) -> float:
    """Mean squared error of the model on a fixed set.

    Args:
        cell: the cell (name or :class:`~rnnbook.nn.cells.Cell`).
        params: from :func:`init_adding_model`.
        x: inputs, (N, T, 2).
        y: targets, (N,).

    Returns:
        mse: Python float.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    x, y = _check_batch(x, y)
    return float(np.mean((adding_predict(cell, params, x) - y) ** 2))


class AddingRun(NamedTuple):
    """The result of :func:`train_adding_problem`.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    #: the :class:`rnnbook.train.loop.History` of the run.
    history: History
    #: Python float, MSE on the test set after training (compare with
    #: :data:`ADDING_BASELINE_MSE`); inf if training diverged.
    test_mse: float
    #: the trained parameter dict.
    params: dict


def train_adding_problem(cell="rnn", T: int = 50, H: int = 32, steps: int = 500, rng=0, *,
                         batch_size: int = 32, lr: float = 1e-2, clip: float | None = 1.0,
                         optimizer=None, test_size: int = 500, eval_every: int | None = None,
                         dtype=np.float64, progress: bool = False) -> AddingRun:
    """Train a recurrent cell with a linear readout on the adding problem.

    Every training step draws a fresh batch, so there is no overfitting to
    speak of and the test MSE measures what was learned. The seed is split
    into three independent streams (initial weights, training batches, test
    set), so runs with the same seed and different cells see exactly the same
    data.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a :class:`~rnnbook.nn.cells.Cell`.
        T: sequence length (the marked numbers are on average about T/2 apart).
        H: hidden size.
        steps: number of training steps (batches).
        rng: integer seed or numpy Generator.
        batch_size: sequences per batch.
        lr: learning rate of the default optimiser, Adam.
        clip: global gradient-norm threshold (``None``: no clipping).
        optimizer: an optimiser from :mod:`rnnbook.train.optim` to use instead of
            ``Adam(lr)``.
        test_size: number of held-out sequences for the final test MSE.
        eval_every: also record the test MSE every so many steps (in
            ``history.eval["test_mse"]``); ``None`` evaluates at the end only.
        dtype: float32 or float64.
        progress: show a progress bar.

    Returns:
        run: :class:`AddingRun` with the ``history``, the final ``test_mse``
            and the trained ``params``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    cell = get_cell(cell)
    T = check_int("T", T, 2)
    H, steps = check_int("H", H, 1), check_int("steps", steps, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    test_size = check_int("test_size", test_size, 1)
    init_rng, data_rng, test_rng = make_rng(rng).spawn(3)
    params = init_adding_model(cell, H, init_rng, dtype=dtype)
    x_test, y_test = adding_problem(test_size, T, test_rng)
    x_test, y_test = x_test.astype(dtype), y_test.astype(dtype)

    def next_batch():
        x, y = adding_problem(batch_size, T, data_rng)
        return x.astype(dtype), y.astype(dtype)

    def step_fn(p, batch):
        return adding_loss_and_grads(cell, p, batch)

    def eval_fn(p):
        return {"test_mse": adding_mse(cell, p, x_test, y_test)}

    history: History = train(
        step_fn, params, optimizer if optimizer is not None else Adam(lr), next_batch,
        num_steps=steps, clip=clip, eval_fn=eval_fn, eval_every=eval_every,
        progress=progress, desc=f"{cell.name} adding T={T}",
    )
    # train() evaluates once more after the last step, so the final test
    # MSE is already recorded; a diverged run has no meaningful one.
    test_mse = float("inf") if history.diverged else history.eval["test_mse"][-1]
    return AddingRun(history, test_mse, params)
