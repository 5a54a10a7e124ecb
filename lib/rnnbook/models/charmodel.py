"""A character-level language model assembled from the library's layers.

The model reads one character per step as a one-hot vector, runs the tanh
RNN of :mod:`rnnbook.nn.rnn` over the sequence and maps every hidden state to
scores over the next character with a temporal affine layer:

    h[t] = tanh(onehot(x[t]) Wx + h[t-1] Wh + b)
    o[t] = h[t] Wy + by
    loss = mean over positions of -log softmax(o_t)[y_t]

With one-hot inputs, ``onehot(x_t) Wx`` is simply row ``x_t`` of ``Wx``, so
``Wx`` doubles as a character embedding of size H.

Parameters live in a dict with the keys and shapes

    ``Wx`` (V, H), ``Wh`` (H, H), ``b`` (H,), ``Wy`` (H, V), ``by`` (V,)

and every gradient dict uses the same keys, which is what the optimisers of
:mod:`rnnbook.train.optim` and :func:`rnnbook.train.loop.train` expect.

Training on a long text uses truncated backpropagation through time: the
text is cut into chunks, the hidden state is carried from one chunk to the
next, and gradients stop at the chunk boundary. :func:`tbptt_stream` and
:class:`CarriedStateStep` package that for :func:`rnnbook.train.loop.train`.
"""

from __future__ import annotations

import numpy as np

from rnnbook.checks import Shapes, check_ids, check_ids_below
from rnnbook.nn.activations import softmax
from rnnbook.datasets import tbptt_batches
from rnnbook.nn.init import init_affine, init_rnn
from rnnbook.nn.layers import (
    affine_forward,
    softmax_cross_entropy,
    temporal_affine_backward,
    temporal_affine_forward,
)
from rnnbook.nn.kernels import rnn_backward_fast, rnn_forward_fast
from rnnbook.nn.rnn import rnn_step_forward

__all__ = [
    "PARAM_NAMES",
    "mean_chunk_loss",
    "init_char_rnn",
    "one_hot",
    "char_rnn_loss",
    "char_rnn_loss_and_grads",
    "evaluate_char_rnn",
    "sample",
    "tbptt_stream",
    "CarriedStateStep",
]

#: The keys of a character model's parameter dict, in a fixed order.
PARAM_NAMES = ("Wx", "Wh", "b", "Wy", "by")


def _check_params(params) -> tuple[dict, Shapes]:
    """Check the parameter dict; return it and a Shapes with V and H bound."""
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict with keys {PARAM_NAMES}")
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params has no entry for {missing}; a character model needs {PARAM_NAMES}")
    s = Shapes()
    checked = {
        "Wx": s.check("params['Wx']", params["Wx"], ("V", "H")),
        "Wh": s.check("params['Wh']", params["Wh"], ("H", "H")),
        "b": s.check("params['b']", params["b"], ("H",)),
        "Wy": s.check("params['Wy']", params["Wy"], ("H", "V")),
        "by": s.check("params['by']", params["by"], ("V",)),
    }
    return checked, s


def init_char_rnn(V: int, H: int, rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """Fresh parameters for a character model with V characters and H hidden units.

    Uses the recipes of :mod:`rnnbook.nn.init`: Xavier-uniform ``Wx`` and
    ``Wy``, orthogonal ``Wh``, zero biases.

    Args:
        V: vocabulary size.
        H: hidden size.
        rng: numpy Generator.
        dtype: float32 or float64.

    Returns:
        params: dict with ``Wx`` (V, H), ``Wh`` (H, H), ``b`` (H,),
            ``Wy`` (H, V), ``by`` (V,).

    Taught in: Chapter 2, Backpropagation through time.
    """
    cell = init_rnn(V, H, rng, dtype=dtype)
    out = init_affine(H, V, rng, dtype=dtype)
    return {"Wx": cell["Wx"], "Wh": cell["Wh"], "b": cell["b"], "Wy": out["W"], "by": out["b"]}


def one_hot(ids, V: int, dtype=np.float64) -> np.ndarray:
    """One-hot encoding of integer ids.

    Args:
        ids: integer array of any shape, e.g. (N, T); each in [0, V).
        V: vocabulary size.
        dtype: float dtype of the result.

    Returns:
        out: ``ids.shape + (V,)``, with ``out[..., i] = 1`` where ``ids == i``
            and 0 elsewhere.

    Taught in: Chapter 2, Backpropagation through time.
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids has dtype {ids.dtype} but needs an integer dtype")
    if int(V) != V or V < 1:
        raise ValueError(f"V is {V} but needs a positive integer")
    check_ids_below(ids, V)
    out = np.zeros(ids.shape + (int(V),), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


def _forward(params, x, y, h0):
    """Shared forward pass; returns everything the loss and the backward need."""
    p, s = _check_params(params)
    V, H = s["V"], s["H"]
    x = check_ids("x", x, V, ("N", "T"), s)
    y = check_ids("y", y, V, ("N", "T"), s)
    N = s["N"]
    if h0 is None:
        h0 = np.zeros((N, H), dtype=p["Wx"].dtype)
    h0 = s.check("h0", h0, ("N", "H"))
    hs, rnn_cache = rnn_forward_fast(one_hot(x, V, p["Wx"].dtype), h0, p["Wx"], p["Wh"], p["b"])
    logits, out_cache = temporal_affine_forward(hs, p["Wy"], p["by"])
    loss, dlogits = softmax_cross_entropy(logits, y)
    return loss, dlogits, hs, rnn_cache, out_cache


def char_rnn_loss(params, x, y, h0=None) -> tuple[float, np.ndarray]:
    """Mean per-character loss of a batch, without gradients.

    Args:
        params: dict with ``Wx`` (V, H), ``Wh`` (H, H), ``b`` (H,),
            ``Wy`` (H, V), ``by`` (V,).
        x: int input ids, (N, T).
        y: int target ids, (N, T); ``y[n, t]`` is the character after ``x[n, t]``.
        h0: initial hidden state, (N, H); None means zeros.

    Returns:
        loss: Python float, mean cross-entropy in nats per character.
        h_last: the hidden state after the last step, (N, H), to start the
            next chunk from.

    Taught in: Chapter 2, Backpropagation through time.
    """
    loss, _, hs, _, _ = _forward(params, x, y, h0)
    return loss, hs[:, -1].copy()


def char_rnn_loss_and_grads(params, x, y, h0=None) -> tuple[float, dict, np.ndarray]:
    """Loss and gradients of the character model on one batch (full BPTT over T steps).

    ``h0`` is treated as a constant: no gradient flows into it. Passing the
    final state of the previous chunk as ``h0`` is therefore exactly
    truncated backpropagation through time with truncation length T.

    Args:
        params: dict with ``Wx`` (V, H), ``Wh`` (H, H), ``b`` (H,),
            ``Wy`` (H, V), ``by`` (V,).
        x: int input ids, (N, T).
        y: int target ids, (N, T).
        h0: initial hidden state, (N, H); None means zeros.

    Returns:
        loss: Python float, mean cross-entropy over the N*T positions.
        grads: dict with the keys and shapes of ``params``.
        h_last: the hidden state after the last step, (N, H).

    Taught in: Chapter 2, Backpropagation through time.
    """
    loss, dlogits, hs, rnn_cache, out_cache = _forward(params, x, y, h0)
    dhs, dWy, dby = temporal_affine_backward(dlogits, out_cache)
    _, _, dWx, dWh, db = rnn_backward_fast(dhs, rnn_cache)
    grads = {"Wx": dWx, "Wh": dWh, "b": db, "Wy": dWy, "by": dby}
    return loss, grads, hs[:, -1].copy()


def evaluate_char_rnn(params, encoded, batch_size: int = 16, seq_len: int = 64) -> float:
    """Mean per-character loss of the model on a whole encoded text.

    The text is read as ``batch_size`` parallel tracks in chunks of
    ``seq_len`` characters (:func:`rnnbook.datasets.text.tbptt_batches`), carrying the
    hidden state from chunk to chunk, exactly as during training. A final
    partial chunk is dropped, so all scored chunks have equal size.

    Args:
        params: character-model parameter dict.
        encoded: int array (L,), the text as ids; L > batch_size * seq_len.
        batch_size: number of parallel tracks.
        seq_len: characters per chunk.

    Returns:
        Mean cross-entropy in nats per character, as a Python float.

    Taught in: Chapter 2, Backpropagation through time.
    """
    return mean_chunk_loss(lambda x, y, h: char_rnn_loss(params, x, y, h),
                            encoded, batch_size, seq_len)


def mean_chunk_loss(chunk_loss, encoded, batch_size: int, seq_len: int) -> float:
    """Mean of ``chunk_loss`` over the chunks of :func:`rnnbook.datasets.text.tbptt_batches`.

    ``chunk_loss(x, y, state) -> (loss, state)`` scores one chunk from the
    state the previous chunk left (None for the first), so the model reads
    the text as during training. The character model of
    :mod:`rnnbook.models.compare` is evaluated the same way.

    Args:
        chunk_loss: the model's loss on one chunk, as above.
        encoded: int array (L,), the text as ids.
        batch_size: number of parallel tracks.
        seq_len: characters per chunk.

    Returns:
        the mean loss over the chunks, a Python float.

    Taught in: Chapter 2, Backpropagation through time.
    """
    total, chunks, state = 0.0, 0, None
    for x, y in tbptt_batches(encoded, batch_size, seq_len):
        loss, state = chunk_loss(x, y, state)
        total += loss
        chunks += 1
    return total / chunks


def sample(params, seed_idx, n: int, temperature: float, rng, h0=None) -> np.ndarray:
    """Generate ``n`` characters from the model, one at a time.

    The model first reads the seed (a single id, or a sequence of ids that
    primes the hidden state). Each new character is drawn from
    ``softmax(o_t / temperature)`` and fed back as the next input.
    A temperature below 1 sharpens the distribution towards the most likely
    character; above 1 it flattens it towards uniform.

    Args:
        params: character-model parameter dict.
        seed_idx: int id, or 1-D int array (S,) of ids with S >= 1.
        n: number of characters to generate, >= 0.
        temperature: positive float.
        rng: numpy Generator that draws the characters.
        h0: hidden state before the seed, (H,) or (1, H); None means zeros.

    Returns:
        ids: int64 array (n,), the generated characters (the seed excluded).

    Taught in: Chapter 2, Backpropagation through time.
    """
    p, s = _check_params(params)
    V, H = s["V"], s["H"]
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng is a {type(rng).__name__} but needs a numpy Generator")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n is {n} but needs a non-negative integer")
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature is {temperature} but needs to be > 0")
    seed = np.atleast_1d(np.asarray(seed_idx))
    seed = check_ids("seed_idx", seed, V, ("S",), Shapes())
    if seed.size == 0:
        raise ValueError("seed_idx is empty; give at least one character id")
    dtype = p["Wx"].dtype
    h = np.zeros((1, H), dtype=dtype) if h0 is None else Shapes().check(
        "h0", np.reshape(h0, (1, -1)), (1, H)).astype(dtype, copy=False)
    eye = np.eye(V, dtype=dtype)
    # Read all seed characters but the last; the last one is the first input
    # of the generation loop.
    for idx in seed[:-1]:
        h, _ = rnn_step_forward(eye[idx][None], h, p["Wx"], p["Wh"], p["b"])
    out = np.empty(int(n), dtype=np.int64)
    idx = int(seed[-1])
    for i in range(int(n)):
        h, _ = rnn_step_forward(eye[idx][None], h, p["Wx"], p["Wh"], p["b"])
        logits, _ = affine_forward(h, p["Wy"], p["by"])
        # Division by the temperature happens in float64 so that a tiny
        # temperature cannot overflow float32; softmax subtracts the maximum.
        probs = softmax(logits[0].astype(np.float64) / temperature)
        idx = int(rng.choice(V, p=probs))
        out[i] = idx
    return out


def tbptt_stream(encoded, batch_size: int, seq_len: int, rng):
    """An endless source of consecutive chunks for truncated BPTT.

    Returns a function of no arguments. Each call returns the next chunk
    ``(x, y, first)`` of :func:`rnnbook.datasets.text.tbptt_batches`; when a pass over
    the text ends, a new pass starts at a fresh random offset. ``first`` is
    True for the first chunk of every pass, telling the model to start again
    from a zero state, since its carried state belongs to the end of the text.
    Passing this function as ``batches`` to :func:`rnnbook.train.loop.train`
    (with ``num_steps``) and :class:`CarriedStateStep` as ``step_fn`` trains
    with the hidden state carried across chunks.

    Args:
        encoded: int array (L,), the text as ids.
        batch_size: N, number of parallel tracks.
        seq_len: T, characters per chunk (the truncation length).
        rng: numpy Generator for the offsets.

    Returns:
        next_chunk: callable returning ``(x (N, T) int64, y (N, T) int64, first bool)``.

    Taught in: Chapter 2, Backpropagation through time.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng is a {type(rng).__name__} but needs a numpy Generator")
    # tbptt_batches is a generator and checks its arguments only when first
    # advanced; doing that once here makes bad arguments fail at this call.
    next(tbptt_batches(encoded, batch_size, seq_len))
    state = {"it": tbptt_batches(encoded, batch_size, seq_len, rng), "first": True}

    def next_chunk():
        try:
            x, y = next(state["it"])
        except StopIteration:
            state["it"] = tbptt_batches(encoded, batch_size, seq_len, rng)
            state["first"] = True
            x, y = next(state["it"])
        first, state["first"] = state["first"], False
        return x, y, first

    return next_chunk


class CarriedStateStep:
    """A ``step_fn`` for :func:`rnnbook.train.loop.train` that carries the hidden state.

    Each call takes a batch ``(x, y, first)`` as made by :func:`tbptt_stream`,
    runs :func:`char_rnn_loss_and_grads` from the state left by the previous
    call (zeros when ``first`` is True or on the first call) and keeps the
    new final state. The state is a constant for the gradient, so this is
    truncated BPTT with truncation length T = ``x.shape[1]``.

    Attributes:
        h: the carried hidden state, (N, H), or None before the first call.

    Taught in: Chapter 2, Backpropagation through time.
    """

    def __init__(self):
        self.h = None

    def __call__(self, params, batch):
        """Return ``(loss, grads)`` for one chunk, updating the carried state."""
        x, y, first = batch
        h0 = None if first or self.h is None else self.h
        loss, grads, self.h = char_rnn_loss_and_grads(params, x, y, h0)
        return loss, grads
