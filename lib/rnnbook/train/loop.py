"""A small training loop with a progress bar and a history.

Every training loop in the book has the same skeleton::

    for step in range(1, num_steps + 1):
        batch = next_batch()
        loss, grads = step_fn(params, batch)      # forward + backward
        norm = clip_grad_norm(grads, clip)         # optional
        optimizer.step(params, grads)              # in-place update
        history.record(step, loss, norm)

:func:`train` is that skeleton plus the chores around it: epochs or a step
budget, periodic evaluation, a progress bar, and stopping when the loss or
the gradient stops being a finite number. A chapter can write the loop out
by hand first (using :class:`History` to keep the numbers) and call
:func:`train` from then on.

Progress bars use ``tqdm.auto`` (a widget in Jupyter, text in a terminal).
Set the environment variable ``RNNBOOK_PROGRESS=0`` to switch them off by
default, e.g. for tests and batch builds; ``progress=True`` or ``False``
overrides it per call.
"""

from __future__ import annotations

import math
import os
import time
from itertools import islice
from typing import Any, Callable, Iterable

import numpy as np

from rnnbook.train.optim import Optimizer, clip_grad_norm, grad_norm

__all__ = ["History", "train", "make_rng", "progress_enabled"]


def make_rng(seed) -> np.random.Generator:
    """A numpy Generator from an integer seed (a Generator is passed through).

    ``None`` is refused on purpose: an unseeded generator would make the
    book's results unreproducible.

    Taught in: Chapter 2, Backpropagation through time.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed is {seed!r} but needs an integer, so that runs are reproducible")
    return np.random.default_rng(int(seed))


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show a progress bar: ``progress`` if given, else the environment.

    ``RNNBOOK_PROGRESS`` set to 0, false, no or off (any case) disables bars.

    Taught in: Chapter 2, Backpropagation through time.
    """
    if progress is not None:
        return bool(progress)
    return os.environ.get("RNNBOOK_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


class History:
    """The numbers a training run produces, one entry per step.

    Attributes:
        step: step numbers, starting at 1.
        loss: training loss at each step (before that step's update).
        grad_norm: global gradient norm at each step, before clipping.
        eval_step: steps at which ``eval_fn`` ran.
        eval: {metric name: list of values, aligned with ``eval_step``}.
        diverged: True if training stopped on a non-finite loss or gradient.
        seconds: wall-clock duration of the run.

    Taught in: Chapter 2, Backpropagation through time.
    """

    def __init__(self):
        self.step: list[int] = []
        self.loss: list[float] = []
        self.grad_norm: list[float] = []
        self.eval_step: list[int] = []
        self.eval: dict[str, list[float]] = {}
        self.diverged = False
        self.seconds = 0.0

    def record(self, step: int, loss: float, grad_norm: float = math.nan) -> None:
        """Append one training step."""
        self.step.append(int(step))
        self.loss.append(float(loss))
        self.grad_norm.append(float(grad_norm))

    def record_eval(self, step: int, metrics) -> None:
        """Append one evaluation: a number (stored as ``"eval"``) or a dict of numbers."""
        if not isinstance(metrics, dict):
            metrics = {"eval": metrics}
        for name in set(self.eval) | set(metrics):
            if name not in self.eval:
                # A metric that first appears late is padded with nan so that
                # every list stays aligned with eval_step.
                self.eval[name] = [math.nan] * len(self.eval_step)
            self.eval[name].append(float(metrics.get(name, math.nan)))
        self.eval_step.append(int(step))

    def __len__(self) -> int:
        return len(self.step)

    def smoothed(self, window: int = 20) -> np.ndarray:
        """Trailing moving average of the loss over ``window`` steps.

        The first ``window - 1`` entries average over the steps seen so far,
        so the result has one value per step.
        """
        if window < 1:
            raise ValueError(f"window is {window} but needs to be >= 1")
        loss = np.asarray(self.loss, dtype=np.float64)
        csum = np.concatenate([[0.0], np.cumsum(loss)])
        ends = np.arange(1, loss.size + 1)
        starts = np.maximum(ends - window, 0)
        return (csum[ends] - csum[starts]) / (ends - starts)

    def recent_loss(self, n: int = 10) -> float:
        """Mean training loss over the last ``n`` steps (nan before any step)."""
        if not self.loss:
            return math.nan
        return float(np.mean(self.loss[-n:]))

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, e.g. for ``json.dump``."""
        return {
            "step": list(self.step),
            "loss": list(self.loss),
            "grad_norm": list(self.grad_norm),
            "eval_step": list(self.eval_step),
            "eval": {k: list(v) for k, v in self.eval.items()},
            "diverged": self.diverged,
            "seconds": self.seconds,
        }

    def __repr__(self) -> str:
        last = f", recent loss {self.recent_loss():.4g}" if self.loss else ""
        flag = ", diverged" if self.diverged else ""
        return f"History({len(self)} steps{last}{flag})"


def _batch_stream(batches, epochs: int | None) -> Iterable:
    """Batches for the whole run: ``epochs`` passes over ``batches``, or forever."""
    if callable(batches):
        while True:
            yield batches()
    epoch = 0
    while epochs is None or epoch < epochs:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "batches produced no batch in an epoch; pass a list (or another re-iterable), "
                "not a used-up iterator"
            )
        epoch += 1


def train(
    step_fn: Callable[[dict, Any], tuple[float, dict]],
    params: dict,
    optimizer: Optimizer,
    batches,
    *,
    epochs: int | None = None,
    num_steps: int | None = None,
    clip: float | None = None,
    eval_fn: Callable[[dict], Any] | None = None,
    eval_every: int | None = None,
    progress: bool | None = None,
    desc: str = "training",
) -> History:
    """Run ``step_fn`` and ``optimizer`` over the batches; return the :class:`History`.

    Args:
        step_fn: ``step_fn(params, batch) -> (loss, grads)``; ``grads`` has the
            keys of ``params``.
        params: {name: ndarray}, updated in place.
        optimizer: e.g. ``rnnbook.train.optim.Adam(1e-3)``.
        batches: either a re-iterable of batches (e.g. a list), traversed once
            per epoch, or a function of no arguments returning a fresh batch
            at each call (a generator of synthetic data, say).
        epochs: number of passes over ``batches`` (not with a function).
        num_steps: number of steps; with a re-iterable, passes are repeated
            as needed. Give exactly one of ``epochs`` and ``num_steps``.
        clip: if given, gradients are clipped to this global norm before the
            update (:func:`rnnbook.train.optim.clip_grad_norm`).
        eval_fn: ``eval_fn(params)`` returning a number or a dict of numbers,
            e.g. validation loss and accuracy.
        eval_every: evaluate every this many steps. By default once per epoch
            when ``batches`` has a length, else only at the end. The final
            state is always evaluated.
        progress: show a progress bar; None follows ``RNNBOOK_PROGRESS``.
        desc: label of the progress bar.

    Returns:
        History of the run. If a loss or gradient norm is inf or nan, that
        step is recorded, the update is skipped, ``history.diverged`` is set
        and training stops.

    Taught in: Chapter 2, Backpropagation through time.
    """
    if (epochs is None) == (num_steps is None):
        raise ValueError("give exactly one of epochs and num_steps")
    if callable(batches) and num_steps is None:
        raise ValueError("batches is a function, which has no epochs; give num_steps")
    for name, value in (("epochs", epochs), ("num_steps", num_steps), ("eval_every", eval_every)):
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(f"{name} is {value} but needs a positive integer")
    per_epoch = len(batches) if hasattr(batches, "__len__") else None
    if eval_every is None:
        eval_every = per_epoch  # None when the length is unknown: evaluate at the end only
    total = num_steps if num_steps is not None else (epochs * per_epoch if per_epoch else None)

    from tqdm.auto import tqdm  # imported here: only a training run needs it

    history = History()
    start = time.perf_counter()
    step = 0
    with tqdm(total=total, desc=desc, disable=not progress_enabled(progress)) as bar:
        for batch in islice(_batch_stream(batches, epochs), num_steps):
            step += 1
            loss, grads = step_fn(params, batch)
            norm = clip_grad_norm(grads, clip) if clip is not None else grad_norm(grads)
            history.record(step, loss, norm)
            if not (math.isfinite(history.loss[-1]) and math.isfinite(norm)):
                history.diverged = True
                bar.set_postfix(loss=history.loss[-1], status="diverged")
                break
            optimizer.step(params, grads)
            bar.update()
            if not bar.disable:
                bar.set_postfix(loss=f"{history.recent_loss():.4g}", refresh=False)
            if eval_fn is not None and eval_every and step % eval_every == 0:
                history.record_eval(step, eval_fn(params))
    if eval_fn is not None and step and not history.diverged and (
            not history.eval_step or history.eval_step[-1] != step):
        history.record_eval(step, eval_fn(params))
    history.seconds = time.perf_counter() - start
    return history
