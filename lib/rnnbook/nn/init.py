"""Weight initialisation.

Every function takes an explicit ``numpy.random.Generator``; nothing here
touches numpy's global random state, so a seeded generator reproduces a run
exactly.

Weight matrices follow the library's row-vector convention: a matrix that
maps D inputs to H outputs has shape (D, H), so ``fan_in = shape[0]`` and
``fan_out = shape[1]``.

Recipes used by the ``init_*`` functions:

- input weights ``Wx``: Glorot/Xavier uniform (Glorot & Bengio 2010), which
  keeps the variance of activations roughly constant from layer to layer;
- recurrent weights ``Wh``: orthogonal (Saxe et al. 2014). An orthogonal
  matrix has every singular value equal to 1, so repeated multiplication
  through time neither shrinks nor blows up a vector at initialisation;
- biases zero, except the LSTM forget gate, whose bias starts at 1 so the
  cell remembers by default (Gers et al. 2000; Jozefowicz et al. 2015).

Gated cells pack several gates into one matrix; each gate's block is
initialised on its own, as if it were a separate (D, H) or (H, H) matrix.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "xavier_uniform",
    "xavier_normal",
    "orthogonal",
    "set_spectral_radius",
    "spectral_radius",
    "init_rnn",
    "init_lstm",
    "init_gru",
    "init_affine",
    "init_embedding",
]


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng is a {type(rng).__name__}; pass a numpy Generator, "
            f"e.g. numpy.random.default_rng(0)"
        )
    return rng


def _check_matrix_shape(shape) -> tuple[int, int]:
    shape = tuple(int(d) for d in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape is {shape} but needs two positive sizes (fan_in, fan_out)")
    return shape


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} is {value} but needs a positive integer")


def xavier_uniform(shape, rng, gain: float = 1.0, dtype=np.float64) -> np.ndarray:
    """Uniform on ``[-a, a]`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Args:
        shape: (fan_in, fan_out).
        rng: numpy Generator.
        gain: multiplies the bound (e.g. 5/3 is often used before tanh).
        dtype: float32 or float64.

    Returns:
        W: array of ``shape`` with variance ``gain**2 * 2 / (fan_in + fan_out)``.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    fan_in, fan_out = _check_matrix_shape(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _check_rng(rng).uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def xavier_normal(shape, rng, gain: float = 1.0, dtype=np.float64) -> np.ndarray:
    """Normal with mean 0 and ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Args and return as for :func:`xavier_uniform`.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    fan_in, fan_out = _check_matrix_shape(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (std * _check_rng(rng).standard_normal((fan_in, fan_out))).astype(dtype)


def orthogonal(shape, rng, gain: float = 1.0, dtype=np.float64) -> np.ndarray:
    """A random (semi-)orthogonal matrix times ``gain``.

    A Gaussian matrix is factored as ``QR``; ``Q`` is orthogonal, but
    numpy's QR fixes the signs of R's diagonal in a way that biases ``Q``.
    Flipping each column of Q by the sign of the matching diagonal entry of R
    makes the result uniformly distributed over orthogonal matrices
    (Mezzadri 2007).

    Args:
        shape: (rows, cols). If rows >= cols the columns are orthonormal,
            otherwise the rows are.
        rng: numpy Generator.
        gain: multiplies the matrix; every singular value equals ``gain``.
        dtype: float32 or float64.

    Returns:
        W: array of ``shape``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    rows, cols = _check_matrix_shape(shape)
    tall = (max(rows, cols), min(rows, cols))
    a = _check_rng(rng).standard_normal(tall)
    q, r = np.linalg.qr(a)                            # q: tall, orthonormal columns
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    q = q * signs
    if rows < cols:
        q = q.T
    return (gain * q).astype(dtype)


def spectral_radius(W) -> float:
    """Largest absolute eigenvalue of a square matrix ``W``, as a Python float.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W has shape {W.shape} but needs a square matrix (H, H)")
    return float(np.max(np.abs(np.linalg.eigvals(W.astype(np.float64)))))


def set_spectral_radius(W, rho: float) -> np.ndarray:
    """Return a copy of square ``W`` rescaled so its spectral radius is ``rho``.

    The spectral radius governs how a linear recurrence ``h_t = h_{t-1} W``
    behaves over many steps: below 1 vectors shrink geometrically, above 1
    they grow along the leading eigenvector. Rescaling one fixed matrix lets
    an experiment vary the radius and nothing else.

    Args:
        W: (H, H) float array with a nonzero eigenvalue.
        rho: the wanted spectral radius, >= 0.

    Returns:
        W_scaled: (H, H), dtype of ``W``.

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    W = np.asarray(W)
    if W.dtype.kind != "f":
        raise ValueError(f"W has dtype {W.dtype} but needs a floating dtype")
    if rho < 0:
        raise ValueError(f"rho is {rho} but a spectral radius cannot be negative")
    current = spectral_radius(W)
    if current == 0.0:
        raise ValueError("W has spectral radius 0 (it is nilpotent), so no rescaling reaches rho")
    return (W * (float(rho) / current)).astype(W.dtype, copy=False)


def _blocks(init, rows: int, H: int, n: int, rng, dtype) -> np.ndarray:
    """``n`` independently initialised (rows, H) blocks side by side: (rows, n*H)."""
    return np.concatenate([init((rows, H), rng, dtype=dtype) for _ in range(n)], axis=1)


def init_rnn(D: int, H: int, rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """Parameters of a vanilla RNN cell (see ``rnnbook.nn.rnn``).

    Returns:
        params: dict with ``Wx`` (D, H) Xavier uniform, ``Wh`` (H, H)
            orthogonal, ``b`` (H,) zeros.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    _check_sizes(D=D, H=H)
    return {
        "Wx": xavier_uniform((D, H), rng, dtype=dtype),
        "Wh": orthogonal((H, H), rng, dtype=dtype),
        "b": np.zeros(H, dtype=dtype),
    }


def init_lstm(D: int, H: int, rng, forget_bias: float = 1.0, dtype=np.float64) -> dict[str, np.ndarray]:
    """Parameters of an LSTM cell, gate blocks in the order i, f, g, o (see ``rnnbook.nn.lstm``).

    Returns:
        params: dict with ``Wx`` (D, 4H), ``Wh`` (H, 4H), ``b`` (4H,); each
            gate's block initialised separately, ``b[H:2H]`` (the forget gate)
            set to ``forget_bias`` and the rest of ``b`` zero.

    Taught in: Chapter 4, Long short-term memory.
    """
    _check_sizes(D=D, H=H)
    b = np.zeros(4 * H, dtype=dtype)
    b[H:2 * H] = forget_bias
    return {
        "Wx": _blocks(xavier_uniform, D, H, 4, rng, dtype),
        "Wh": _blocks(orthogonal, H, H, 4, rng, dtype),
        "b": b,
    }


def init_gru(D: int, H: int, rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """Parameters of a GRU cell, gate blocks in the order r, z, n (see ``rnnbook.nn.gru``).

    Returns:
        params: dict with ``Wx`` (D, 3H), ``Wh`` (H, 3H), ``bx`` (3H,) and
            ``bh`` (3H,); each gate's block initialised separately, biases zero.

    Taught in: Chapter 5, Gated recurrent units.
    """
    _check_sizes(D=D, H=H)
    return {
        "Wx": _blocks(xavier_uniform, D, H, 3, rng, dtype),
        "Wh": _blocks(orthogonal, H, H, 3, rng, dtype),
        "bx": np.zeros(3 * H, dtype=dtype),
        "bh": np.zeros(3 * H, dtype=dtype),
    }


def init_affine(D: int, M: int, rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """Parameters of an affine layer ``x W + b``: ``W`` (D, M) Xavier uniform, ``b`` (M,) zeros.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    _check_sizes(D=D, M=M)
    return {"W": xavier_uniform((D, M), rng, dtype=dtype), "b": np.zeros(M, dtype=dtype)}


def init_embedding(V: int, D: int, rng, std: float = 0.1, dtype=np.float64) -> np.ndarray:
    """An embedding matrix (V, D) with independent normal entries of standard deviation ``std``.

    Taught in: Chapter 1, Sequences and recurrent networks.
    """
    _check_sizes(V=V, D=D)
    return (std * _check_rng(rng).standard_normal((V, D))).astype(dtype)
