"""Optimisers and gradient clipping for parameter dictionaries.

A model's parameters live in a dict ``{name: ndarray}`` and its backward
pass returns gradients in a dict with the same keys. An optimiser's
``step(params, grads)`` updates the arrays **in place** -- the dict keeps
pointing at the same arrays, so any code holding a reference sees the new
values -- and keeps its own running state (velocities, moment estimates)
keyed by parameter name. Parameters keep their dtype: float32 stays float32.

Update rules, with learning rate ``lr`` and gradient ``g``:

- SGD:       ``p -= lr * g``
- Momentum:  ``v = mu * v - lr * g;  p += v``          (Polyak's heavy ball)
- Adagrad:   ``s += g**2;  p -= lr * g / (sqrt(s) + eps)``  (Duchi et al. 2011)
- Adam:      moving averages ``m`` of g and ``s`` of g**2, bias-corrected,
  ``p -= lr * m_hat / (sqrt(s_hat) + eps)``  (Kingma & Ba 2015)

The learning rate is a plain attribute, so a schedule can change
``opt.lr`` between steps.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer", "SGD", "Momentum", "Adagrad", "Adam", "clip_grad_norm", "grad_norm"]


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{name} is {value} but needs to be > 0")
    return value


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} is {value} but needs to be in [0, 1)")
    return value


class Optimizer:
    """Base class: checks the two dicts, then calls :meth:`update` per parameter.

    Taught in: Chapter 2, Backpropagation through time.
    """

    def __init__(self, lr: float):
        self.lr = _check_positive("lr", lr)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.t = 0  # number of steps taken

    def step(self, params: dict, grads: dict) -> None:
        """Update every array in ``params`` in place from ``grads``.

        Args:
            params: {name: float ndarray}.
            grads: {name: ndarray of the same shape}; exactly the keys of
                ``params``.

        Raises:
            ValueError: a gradient is missing, unexpected, or has the wrong
                shape. Everything is checked before anything is updated.
        """
        _check_grads(params, grads)
        self.t += 1
        for name, p in params.items():
            self.update(name, p, np.asarray(grads[name]))

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        """Update the parameter ``p`` called ``name`` in place from its gradient ``g``.

        Each optimiser overrides this; :meth:`Optimizer.step` calls it once per parameter.
        """
        raise NotImplementedError

    def _slot(self, name: str, slot: str, p: np.ndarray) -> np.ndarray:
        """The running array ``slot`` of parameter ``name``, created as zeros."""
        per_param = self.state.setdefault(name, {})
        if slot not in per_param:
            per_param[slot] = np.zeros_like(p)
        return per_param[slot]

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k not in ("state", "t"))
        return f"{type(self).__name__}({hyper})"


def _check_grads(params: dict, grads: dict) -> None:
    missing = [k for k in params if k not in grads]
    if missing:
        raise ValueError(f"grads has no entry for parameter(s) {missing}")
    extra = [k for k in grads if k not in params]
    if extra:
        raise ValueError(f"grads has entries {extra} that are not parameters")
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise ValueError(
                f"params[{name!r}] is not a floating numpy array, so it cannot be updated in place"
            )
        g = np.asarray(grads[name])
        if g.shape != p.shape:
            raise ValueError(
                f"grads[{name!r}] has shape {g.shape} but params[{name!r}] has shape {p.shape}"
            )


class SGD(Optimizer):
    """Plain stochastic gradient descent, ``p -= lr * g``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    def update(self, name, p, g):
        p -= self.lr * g


class Momentum(Optimizer):
    """SGD with momentum: a velocity accumulates past gradients.

    Along a direction where gradients agree the velocity grows to about
    ``lr * g / (1 - momentum)``; where they flip sign they cancel.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = _check_fraction("momentum", momentum)

    def update(self, name, p, g):
        v = self._slot(name, "velocity", p)
        v *= self.momentum
        v -= self.lr * g
        p += v


class Adagrad(Optimizer):
    """Per-coordinate step sizes that shrink with the sum of squared gradients.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """

    def __init__(self, lr: float = 0.01, eps: float = 1e-8):
        super().__init__(lr)
        self.eps = _check_positive("eps", eps)

    def update(self, name, p, g):
        s = self._slot(name, "sum_sq", p)
        s += g * g
        p -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    """Adam: momentum on the gradient, scaled by a running RMS of the gradient.

    The moving averages start at zero, so early on they underestimate the
    true moments; dividing by ``1 - beta**t`` removes that bias. On the
    first step this makes every coordinate move by almost exactly ``lr``.

    Taught in: Chapter 2, Backpropagation through time.
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(lr)
        self.beta1 = _check_fraction("beta1", beta1)
        self.beta2 = _check_fraction("beta2", beta2)
        self.eps = _check_positive("eps", eps)

    def update(self, name, p, g):
        m = self._slot(name, "m", p)
        s = self._slot(name, "s", p)
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        s *= self.beta2
        s += (1.0 - self.beta2) * (g * g)
        m_hat = m / (1.0 - self.beta1 ** self.t)
        s_hat = s / (1.0 - self.beta2 ** self.t)
        p -= self.lr * m_hat / (np.sqrt(s_hat) + self.eps)


def grad_norm(grads: dict) -> float:
    """Global L2 norm of all gradients together, ``sqrt(sum of all g**2)``.

    Computed as ``max|g| * ||g / max|g|||`` in float64, so that huge
    gradients (the exploding case) give their true norm instead of
    overflowing in the squares. Returns inf or nan if any entry is.

    Taught in: Chapter 2, Backpropagation through time.
    """
    arrays = [np.asarray(g) for g in grads.values()]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return 0.0
    biggest = max(float(np.max(np.abs(a))) for a in arrays)
    if biggest == 0.0 or not math.isfinite(biggest):
        return biggest
    total = sum(float(np.sum(np.square(a.astype(np.float64) / biggest))) for a in arrays)
    return biggest * math.sqrt(total)


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Rescale all gradients in place so their global norm is at most ``max_norm``.

    If the global norm exceeds ``max_norm`` every gradient is multiplied by
    ``max_norm / norm``: the direction of the full gradient is kept, only its
    length is capped (Pascanu, Mikolov & Bengio 2013). Gradients with a norm
    at or below ``max_norm`` are left untouched. A non-finite norm (inf or
    nan) cannot be repaired by rescaling; then nothing is changed and the
    non-finite value is returned for the caller to act on.

    Args:
        grads: {name: ndarray}, modified in place.
        max_norm: positive threshold.

    Returns:
        the global norm before clipping, as a Python float.

    Taught in: Chapter 2, Backpropagation through time.
    """
    max_norm = _check_positive("max_norm", max_norm)
    for name, g in grads.items():
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise ValueError(
                f"grads[{name!r}] is not a floating numpy array, so it cannot be rescaled in place"
            )
    norm = grad_norm(grads)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / norm  # Python float: keeps float32 gradients float32
        for g in grads.values():
            g *= scale
    return norm
