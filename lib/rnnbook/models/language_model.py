"""One language model for any recurrent cell, at the character or the word level.

The model reads one token per step, runs a recurrent cell over the sequence
and scores the next token at every step with a temporal affine readout::

    x[t] = onehot(w[t])  or  E[w[t]]        input, (N, T, V) or (N, T, D)
    s[t] = cell(x[t], s[t-1])               state: (h,), or (h, c) for the LSTM
    o[t] = h[t] Wy + by                     logits, (N, T, V)
    loss = mean over real positions of -log softmax(o[t])[y[t]]

The cell is any entry of the registry :mod:`rnnbook.nn.cells` (``"rnn"``,
``"lstm"``, ``"gru"``, ``"gru-original"``, or a cell registered later), named
by a string or given as a :class:`~rnnbook.nn.cells.Cell`; its record knows
the cell's states, parameters, initialisation and sequence functions, so
nothing here depends on the kind of cell.

A *character-level* model reads one-hot vectors, so the cell's ``Wx``
(V, kH) doubles as the character embedding, one row per character. A
*word-level* model looks each token up in an embedding table ``E`` (V, D)
first. The parameter dict says which of the two a model is: the cell's own
parameters (from its ``init``), ``Wy`` (H, V) and ``by`` (V,), plus ``E`` at
the word level.

A *state* is a tuple of (N, H) arrays in the order of the cell's
``state_names`` (``(h,)``, or ``(h, c)`` for the LSTM), or None for zeros.
Every loss returns the state after the last step, and every loss accepts a
state to start from, so a long text can be read in chunks with the state
carried across them: truncated backpropagation through time, where gradients
stop at a chunk boundary and memory does not. :func:`tbptt_stream` and
:class:`CarriedStateStep` package that for :func:`rnnbook.train.loop.train`,
and :func:`train_char_model` puts the pieces together.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnbook.checks import Shapes, check_ids, check_int, check_rng
from rnnbook.datasets import tbptt_batches
from rnnbook.nn import init as _init
from rnnbook.nn.activations import softmax
from rnnbook.nn.cells import Cell, get_cell
from rnnbook.nn.layers import (embedding_backward, embedding_forward, one_hot,
                               softmax_cross_entropy, temporal_affine_backward,
                               temporal_affine_forward)
from rnnbook.train.loop import History, make_rng, train
from rnnbook.train.optim import Adam

__all__ = [
    "READOUT_NAMES",
    "EMBEDDING_NAME",
    "LMCache",
    "init_lm",
    "lm_forward",
    "lm_loss",
    "lm_loss_and_grads",
    "lm_step",
    "evaluate_lm",
    "next_token_probs",
    "sample_lm",
    "tbptt_stream",
    "CarriedStateStep",
    "CharModelRun",
    "train_char_model",
]

#: The keys of the readout in a language model's parameter dict.
READOUT_NAMES = ("Wy", "by")
#: The key of the embedding table of a word-level model.
EMBEDDING_NAME = "E"


class LMCache(NamedTuple):
    """What :func:`lm_loss_and_grads` keeps from :func:`lm_forward`.

    Taught in: Chapter 2, Backpropagation through time.
    """

    #: the :class:`~rnnbook.nn.cells.Cell` that ran.
    cell: Cell
    #: the embedding cache at the word level, None at the character level.
    embedding: object
    #: every state at every step, a tuple of (N, T, H) arrays in the order of
    #: ``cell.state_names``; ``states[0]`` holds the hidden states h.
    states: tuple
    #: the cell's sequence cache (for the LSTM it also holds the gates ``i``, ``f``,
    #: ``g``, ``o`` and the cell states ``c``).
    cell_cache: object
    #: the cache of the temporal affine readout.
    readout: object

    @property
    def last_state(self) -> tuple:
        """The state after the last step, a tuple of (N, H) arrays."""
        return tuple(seq[:, -1].copy() for seq in self.states)


def init_lm(cell, V: int, H: int, rng, *, D: int | None = None,
            dtype=np.float64) -> dict[str, np.ndarray]:
    """Fresh parameters of a language model on ``cell``.

    The cell's parameters come from its own ``init`` (for the library's
    cells: Xavier input weights, orthogonal recurrent blocks, zero biases
    except the LSTM's forget-gate bias of 1); the readout is Xavier with a
    zero bias, the embedding table (word level only) is drawn by
    :func:`rnnbook.nn.init.init_embedding`.

    Args:
        cell: a registered name (``"rnn"``, ``"lstm"``, ``"gru"``, ...) or a
            :class:`~rnnbook.nn.cells.Cell`.
        V: vocabulary size.
        H: hidden size.
        rng: numpy Generator.
        D: embedding size of a word-level model; None (the default) makes a
            character-level model that reads one-hot vectors (D = V).
        dtype: float32 or float64.

    Returns:
        params: the cell's dict (e.g. ``Wx`` (D, kH), ``Wh`` (H, kH) and its
            biases, k the cell's gate count), plus ``Wy`` (H, V), ``by`` (V,)
            and, at the word level, ``E`` (V, D).

    Taught in: Chapter 2, Backpropagation through time.
    """
    cell = get_cell(cell)
    V, H = check_int("V", V, 1), check_int("H", H, 1)
    check_rng(rng)
    word_level = D is not None
    D = check_int("D", D, 1) if word_level else V
    params = dict(cell.init(D, H, rng, dtype=dtype))
    own = READOUT_NAMES + ((EMBEDDING_NAME,) if word_level else ())
    clash = [k for k in own if k in params]
    if clash:
        raise ValueError(f"the {cell.name!r} cell's parameters already use the names "
                         f"{clash}, which the language model needs for itself")
    if word_level:
        params[EMBEDDING_NAME] = _init.init_embedding(V, D, rng, dtype=dtype)
    readout = _init.init_affine(H, V, rng, dtype=dtype)
    params["Wy"], params["by"] = readout["W"], readout["b"]
    return params


def _split(cell: Cell, params) -> tuple[dict, Shapes, bool]:
    """Check ``params``; return the cell's part, a Shapes binding D, H, V, the level."""
    if not isinstance(params, dict):
        raise ValueError(f"params is a {type(params).__name__} but needs a dict of "
                         f"arrays")
    word_level = EMBEDDING_NAME in params
    own = READOUT_NAMES + ((EMBEDDING_NAME,) if word_level else ())
    needed = cell.param_names + own
    if set(params) != set(needed):
        raise ValueError(f"params has keys {sorted(params)} but a {cell.name!r} "
                         f"language model needs exactly {list(needed)} ('E' only at "
                         f"the word level)")
    s = Shapes()
    cell_params = cell.check_params({k: params[k] for k in cell.param_names}, s)
    if word_level:
        s.check("params['E']", params[EMBEDDING_NAME], ("V", "D"))
    s.check("params['Wy']", params["Wy"], ("H", "V"))
    s.check("params['by']", params["by"], ("V",))
    if not word_level and s["D"] != s["V"]:
        raise ValueError(f"params['Wx'] has {s['D']} rows but a character-level model "
                         f"reads one-hot vectors of size V = {s['V']} (from "
                         f"params['Wy']); give 'E' for a word-level model")
    return cell_params, s, word_level


def _check_state(cell: Cell, state, N: int, H: int, dtype) -> tuple:
    """Turn ``state`` (None or a tuple of (N, H) arrays) into a tuple of states."""
    if state is None:
        return cell.zero_states(N, H, dtype)
    names = cell.state_names
    if not isinstance(state, (tuple, list)) or len(state) != len(names):
        raise ValueError(f"state needs a tuple of {len(names)} arrays (N, H), one per "
                         f"state {names} of a {cell.name!r} cell, or None for zeros; "
                         f"got {type(state).__name__}")
    s = Shapes(N=N, H=H)
    parts = tuple(s.check(f"state[{i}] ({name})", part, ("N", "H"))
                  for i, (part, name) in enumerate(zip(state, names)))
    if s.dtype != dtype:
        raise ValueError(f"state has dtype {s.dtype} but the parameters are {dtype}")
    return parts


def lm_forward(cell, params, x, state=None) -> tuple[np.ndarray, LMCache]:
    """Logits of the next token at every position.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        x: int input ids, (N, T), each in [0, V).
        state: the state before the first step, a tuple of (N, H) arrays
            (``(h,)``, or ``(h, c)`` for the LSTM); None means zeros.

    Returns:
        logits: (N, T, V); ``logits[n, t]`` scores the token after
            ``x[n, :t+1]``.
        cache: :class:`LMCache`, for :func:`lm_loss_and_grads`; its
            ``states`` hold every state at every step and its
            ``last_state`` the state to start the next chunk from.

    Taught in: Chapter 2, Backpropagation through time.
    """
    cell = get_cell(cell)
    cell_params, s, word_level = _split(cell, params)
    x = check_ids("x", x, s["V"], ("N", "T"), s)
    dtype = np.asarray(params["Wy"]).dtype
    if word_level:
        inputs, emb_cache = embedding_forward(x, params[EMBEDDING_NAME])
    else:
        inputs, emb_cache = one_hot(x, s["V"], dtype), None
    states0 = _check_state(cell, state, s["N"], s["H"], dtype)
    state_seqs, cell_cache = cell.forward(inputs, states0, cell_params)
    logits, out_cache = temporal_affine_forward(state_seqs[0], params["Wy"],
                                                params["by"])
    return logits, LMCache(cell, emb_cache, tuple(state_seqs), cell_cache, out_cache)


def _loss(logits, y, mask):
    N, T, _ = logits.shape
    y = Shapes(N=N, T=T).check("y", y, ("N", "T"), dtype="int")
    # The loss checks the targets at real positions against V; padded
    # positions may hold any id.
    return softmax_cross_entropy(logits, y, mask)


def lm_loss(cell, params, x, y, state=None, *, mask=None) -> tuple[float, tuple]:
    """Mean loss per predicted token on one batch, without gradients.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        x: int input ids, (N, T).
        y: int target ids, (N, T); ``y[n, t]`` is the token after ``x[n, t]``.
        state: the state before the first step (see :func:`lm_forward`);
            None means zeros.
        mask: optional bool (N, T), True at the positions that count (padding
            False); None counts every position.

    Returns:
        loss: Python float, mean cross-entropy in nats per predicted token.
        state: the state after the last step, a tuple like ``state``.

    Taught in: Chapter 2, Backpropagation through time.
    """
    logits, cache = lm_forward(cell, params, x, state)
    loss, _ = _loss(logits, y, mask)
    return loss, cache.last_state


def lm_loss_and_grads(cell, params, x, y, state=None, *,
                      mask=None) -> tuple[float, dict, tuple]:
    """Loss and gradients of the language model on one batch (BPTT over its T steps).

    The initial state is a constant: no gradient flows into it, so passing
    the final state of the previous chunk is truncated backpropagation
    through time with truncation length T.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        x: int input ids, (N, T).
        y: int target ids, (N, T).
        state: the state before the first step, or None for zeros.
        mask: optional bool (N, T), True at the positions that count.

    Returns:
        loss: Python float, mean cross-entropy over the counted positions.
        grads: dict with the keys and shapes of ``params``.
        state: the state after the last step, a tuple of (N, H) arrays.

    Taught in: Chapter 2, Backpropagation through time.
    """
    logits, cache = lm_forward(cell, params, x, state)
    loss, dlogits = _loss(logits, y, mask)
    dh, dWy, dby = temporal_affine_backward(dlogits, cache.readout)
    # Only the hidden states reach the readout; the other states (the
    # LSTM's c) get their gradient through the cell's own recurrence.
    dstate_seqs = (dh,) + (None,) * (len(cache.states) - 1)
    dx, _, grads = cache.cell.backward(dstate_seqs, cache.cell_cache)
    grads = dict(grads)
    if cache.embedding is not None:
        grads[EMBEDDING_NAME] = embedding_backward(dx, cache.embedding)
    grads["Wy"], grads["by"] = dWy, dby
    return loss, grads, cache.last_state


def lm_step(cell, params, batch) -> tuple[float, dict]:
    """Loss and gradients on one batch from a zero state, as a ``step_fn``.

    After fixing ``cell`` (``functools.partial(lm_step, "lstm")``) this is
    the ``step_fn`` that :func:`rnnbook.train.loop.train` expects for
    batches that do not continue each other, such as padded sentences.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        batch: ``(x, y)`` or ``(x, y, mask)``: int (N, T), int (N, T) and
            bool (N, T), as made by
            :func:`rnnbook.datasets.corpora.encode_sentences`.

    Returns:
        loss: Python float, in nats per predicted token.
        grads: dict with the keys of ``params``.

    Taught in: Chapter 4, Long short-term memory.
    """
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError("batch needs a tuple (x, y) or (x, y, mask) of (N, T) arrays")
    x, y, mask = (*batch, None) if len(batch) == 2 else batch
    loss, grads, _ = lm_loss_and_grads(cell, params, x, y, mask=mask)
    return loss, grads


def evaluate_lm(cell, params, encoded, batch_size: int = 16,
                seq_len: int = 64) -> float:
    """Mean loss per token of the model on a whole encoded text.

    The text is read as ``batch_size`` parallel tracks in chunks of
    ``seq_len`` tokens (:func:`rnnbook.datasets.text.tbptt_batches`), with
    the state carried from chunk to chunk as during training; a final
    partial chunk is dropped, so every scored chunk has the same size.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        encoded: int array (L,), the text as ids; L > batch_size * seq_len.
        batch_size: number of parallel tracks.
        seq_len: tokens per chunk.

    Returns:
        loss: Python float, mean cross-entropy in nats per token.

    Taught in: Chapter 2, Backpropagation through time.
    """
    total, chunks, state = 0.0, 0, None
    for x, y in tbptt_batches(encoded, batch_size, seq_len):
        loss, state = lm_loss(cell, params, x, y, state)
        total += loss
        chunks += 1
    return total / chunks


def next_token_probs(cell, params, ids, state=None) -> np.ndarray:
    """Probability of every vocabulary entry coming next after each prompt.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        ids: int (T,) for one prompt or (N, T) for N prompts of equal length.
        state: the state before the prompt (see :func:`lm_forward`), or None.

    Returns:
        probs: (V,) for one prompt or (N, V), the softmax of the logits
            after the last id.

    Taught in: Chapter 4, Long short-term memory.
    """
    ids = np.asarray(ids)
    single = ids.ndim == 1
    logits, _ = lm_forward(cell, params, ids[None] if single else ids, state)
    probs = softmax(logits[:, -1])
    return probs[0] if single else probs


def sample_lm(cell, params, seed_ids, n: int, temperature: float, rng,
              state=None) -> np.ndarray:
    """Generate ``n`` tokens from the model, one at a time.

    The model first reads the seed (one id, or a sequence of ids that primes
    the state). Each new token is drawn from ``softmax(o[t] / temperature)``
    and fed back as the next input. A temperature below 1 sharpens the
    distribution towards the most likely token; above 1 it flattens it
    towards uniform.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
        params: from :func:`init_lm`.
        seed_ids: int id, or 1-D int array (S,) of ids with S >= 1.
        n: number of tokens to generate, >= 0.
        temperature: positive float.
        rng: numpy Generator that draws the tokens.
        state: the state before the seed, a tuple of (1, H) arrays, or None.

    Returns:
        ids: int64 array (n,), the generated tokens (the seed excluded).

    Taught in: Chapter 2, Backpropagation through time.
    """
    cell = get_cell(cell)
    cell_params, s, word_level = _split(cell, params)
    V = s["V"]
    check_rng(rng)
    n = check_int("n", n, 0)
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature is {temperature} but needs to be > 0")
    seed = check_ids("seed_ids", np.atleast_1d(np.asarray(seed_ids)), V, ("S",),
                     Shapes())
    if seed.size == 0:
        raise ValueError("seed_ids is empty; give at least one token id")
    dtype = np.asarray(params["Wy"]).dtype
    states = _check_state(cell, state, 1, s["H"], dtype)
    table = params[EMBEDDING_NAME] if word_level else np.eye(V, dtype=dtype)

    def read(idx, states):
        return cell.step_forward(table[idx][None], states, cell_params)[0]

    # Every seed token but the last only moves the state; the last one is
    # the first input of the generation loop.
    for idx in seed[:-1]:
        states = read(idx, states)
    out = np.empty(n, dtype=np.int64)
    idx = int(seed[-1])
    for i in range(n):
        states = read(idx, states)
        logits = states[0] @ params["Wy"] + params["by"]
        # Dividing by the temperature in float64 keeps a tiny temperature
        # from overflowing float32; softmax subtracts the maximum.
        probs = softmax(logits[0].astype(np.float64) / temperature)
        idx = int(rng.choice(V, p=probs))
        out[i] = idx
    return out


def tbptt_stream(encoded, batch_size: int, seq_len: int, rng):
    """An endless source of consecutive chunks for truncated BPTT.

    Returns a function of no arguments. Each call returns the next chunk
    ``(x, y, first)`` of :func:`rnnbook.datasets.text.tbptt_batches`; when a
    pass over the text ends, a new pass starts at a fresh random offset.
    ``first`` is True for the first chunk of every pass, telling the model to
    start again from a zero state, since its carried state belongs to the end
    of the text. Passing this function as ``batches`` to
    :func:`rnnbook.train.loop.train` (with ``num_steps``) and a
    :class:`CarriedStateStep` as ``step_fn`` trains with the state carried
    across chunks.

    Args:
        encoded: int array (L,), the text as ids.
        batch_size: N, number of parallel tracks.
        seq_len: T, tokens per chunk (the truncation length).
        rng: numpy Generator for the offsets.

    Returns:
        next_chunk: callable returning ``(x, y, first)``: int64 (N, T),
            int64 (N, T) and a bool.

    Taught in: Chapter 2, Backpropagation through time.
    """
    check_rng(rng)
    # tbptt_batches is a generator and checks its arguments only when first
    # advanced; doing that once here makes bad arguments fail at this call.
    next(tbptt_batches(encoded, batch_size, seq_len))
    stream = {"it": tbptt_batches(encoded, batch_size, seq_len, rng), "first": True}

    def next_chunk():
        try:
            x, y = next(stream["it"])
        except StopIteration:
            stream["it"] = tbptt_batches(encoded, batch_size, seq_len, rng)
            stream["first"] = True
            x, y = next(stream["it"])
        first, stream["first"] = stream["first"], False
        return x, y, first

    return next_chunk


class CarriedStateStep:
    """A ``step_fn`` for :func:`rnnbook.train.loop.train` that carries the state.

    Each call takes a batch ``(x, y, first)`` as made by :func:`tbptt_stream`,
    runs :func:`lm_loss_and_grads` from the state left by the previous call
    (zeros when ``first`` is True or on the first call) and keeps the new
    final state. The state is a constant for the gradient, so this is
    truncated BPTT with truncation length T = ``x.shape[1]``.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.

    Attributes:
        cell: the :class:`~rnnbook.nn.cells.Cell`.
        state: the carried state, a tuple of (N, H) arrays, or None before
            the first call.

    Taught in: Chapter 2, Backpropagation through time.
    """

    def __init__(self, cell):
        self.cell = get_cell(cell)
        self.state = None

    def __call__(self, params, batch):
        """Return ``(loss, grads)`` for one chunk, updating the carried state."""
        x, y, first = batch
        state = None if first else self.state
        loss, grads, self.state = lm_loss_and_grads(self.cell, params, x, y, state)
        return loss, grads


class CharModelRun(NamedTuple):
    """The result of :func:`train_char_model`.

    Taught in: Chapter 5, Gated recurrent units.
    """

    #: the :class:`rnnbook.train.loop.History` of the run.
    history: History
    #: the trained parameter dict.
    params: dict


def train_char_model(cell, train_ids, V: int, H: int, steps: int, rng=0, *,
                     valid_ids=None, batch_size: int = 16, seq_len: int = 32,
                     lr: float = 5e-3, clip: float | None = 5.0,
                     eval_every: int | None = None, eval_batch_size: int = 16,
                     eval_seq_len: int = 64, dtype=np.float64,
                     progress: bool = False) -> CharModelRun:
    """Train a character model on ``cell`` with truncated BPTT, Adam and clipping.

    The seed is split into two independent streams, one for the initial
    weights and one for the chunk offsets, so that runs with the same seed
    and different cells read exactly the same text in the same order.

    Args:
        cell: a registered name or a :class:`~rnnbook.nn.cells.Cell`.
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
        eval_batch_size: parallel tracks when reading the validation text.
        eval_seq_len: chunk length when reading the validation text.
        dtype: float32 or float64.
        progress: show a progress bar.

    Returns:
        run: :class:`CharModelRun` with the ``history`` and the trained
            ``params``.

    Taught in: Chapter 5, Gated recurrent units.
    """
    cell = get_cell(cell)
    steps = check_int("steps", steps, 1)
    init_rng, data_rng = make_rng(rng).spawn(2)
    params = init_lm(cell, V, H, init_rng, dtype=dtype)
    eval_fn = None
    if valid_ids is not None:
        def eval_fn(p):
            loss = evaluate_lm(cell, p, valid_ids, eval_batch_size, eval_seq_len)
            return {"valid_loss": loss}
    history = train(CarriedStateStep(cell), params, Adam(lr),
                    tbptt_stream(train_ids, batch_size, seq_len, data_rng),
                    num_steps=steps, clip=clip, eval_fn=eval_fn, eval_every=eval_every,
                    progress=progress, desc=f"{cell.name} char model")
    return CharModelRun(history, params)
