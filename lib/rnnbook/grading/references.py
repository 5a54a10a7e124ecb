"""Reference solutions of graded functions that the library does not define.

The graded functions of the recurrent layers and of gradient clipping are
the library's own (:mod:`rnnbook.nn.rnn`, :mod:`rnnbook.nn.lstm`,
:mod:`rnnbook.nn.gru`, :func:`rnnbook.train.optim.clip_grad_norm`). Exercise 3 also
asks for the two deterministic halves of temperature sampling, and
exercise 7 for greedy decoding and beam search over a step function; their
reference versions live here. Like every graded reference, they are
unavailable inside a grading kernel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax_with_temperature", "sample_from_probs", "beam_search", "greedy_decode"]


def softmax_with_temperature(logits, temperature):
    """Softmax of ``logits / temperature`` along the last axis.

    Args:
        logits: float array (..., V), for instance (V,) or (N, V).
        temperature: positive float; below 1 sharpens, above 1 flattens.

    Returns:
        probs: array with the shape and dtype of ``logits``; every slice
            along the last axis sums to 1.
    """
    logits = np.asarray(logits)
    if logits.dtype not in (np.float32, np.float64):
        raise ValueError(f"logits has dtype {logits.dtype} but needs float32 or float64")
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature is {temperature} but needs to be > 0")
    # Dividing in float64 keeps a tiny temperature from overflowing float32;
    # subtracting the row maximum keeps every exponent at or below zero.
    z = logits.astype(np.float64) / temperature
    z -= np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / np.sum(e, axis=-1, keepdims=True)).astype(logits.dtype)


def sample_from_probs(probs, u):
    """Inverse-CDF sampling: turn uniform numbers into category ids.

    Row ``n`` picks the first index ``i`` whose cumulative probability
    ``probs[n, 0] + ... + probs[n, i]`` exceeds ``u[n]``. With ``u[n]``
    drawn uniformly from [0, 1) this draws ``i`` with probability
    ``probs[n, i]``, and given ``u`` the result is deterministic. An index
    with probability zero is never chosen; rounding that leaves the last
    cumulative sum just below ``u[n]`` gives the last index with a
    non-zero probability.

    Args:
        probs: (N, V), non-negative rows that sum to 1.
        u: (N,), numbers in [0, 1).

    Returns:
        ids: int64 array (N,).
    """
    probs = np.asarray(probs, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if probs.ndim != 2 or u.shape != probs.shape[:1]:
        raise ValueError(f"probs (N, V) and u (N,) expected, got {probs.shape} and {u.shape}")
    cdf = np.cumsum(probs, axis=1)
    ids = np.sum(cdf <= u[:, None], axis=1)
    last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.minimum(ids, last).astype(np.int64)


# --------------------------------------------------------------------------
# Part III: beam search (exercise 7)
# --------------------------------------------------------------------------

def beam_search(step, end, beam_size, max_len, *, extend_finished=False,
                drop_finished=False, reverse_ties=False):
    """Beam search over a step function, with the tie rule of exercise 7.

    A hypothesis is a tuple of token ids and its score, the sum of the
    log-probabilities of its tokens. The beam starts with the empty
    hypothesis. At each of at most ``max_len`` steps the candidates are
    listed hypothesis by hypothesis in beam order: a finished one (its last
    token is ``end``) contributes itself once, unchanged; a live one
    contributes one extension per token id, in increasing id, each scored
    ``score + logp[token]``. The ``beam_size`` candidates with the highest
    scores form the next beam, best first; equal scores keep their order
    in the list (a stable sort). The search stops early when every
    hypothesis in the beam is finished; the first hypothesis of the final
    beam is the result. With ``beam_size=1`` this is greedy decoding that
    takes the smallest token id among equally probable ones.

    Args:
        step: function of a tuple of token ids (the tokens so far) returning
            the (V,) log-probabilities of the next token.
        end: the end token's id.
        beam_size: B >= 1.
        max_len: most tokens in a result (the end token included), >= 1.
        extend_finished: grade-side variant: keep extending finished
            hypotheses (a typical mistake).
        drop_finished: grade-side variant: finished hypotheses leave the
            beam instead of competing (a typical mistake).
        reverse_ties: grade-side variant: break ties the other way round
            (a typical mistake).

    Returns:
        tokens: int64 array (L,), 1 <= L <= max_len; it ends with ``end``
            unless the search ran out of length.
        score: float, the sum of the log-probabilities of ``tokens``.
    """
    beam = [((), 0.0)]
    for _ in range(int(max_len)):
        finished = [bool(p) and p[-1] == end and not extend_finished for p, _ in beam]
        if all(finished):
            break
        candidates = []
        for (prefix, score), done in zip(beam, finished):
            if done:
                if not drop_finished:
                    candidates.append((prefix, score))
                continue
            logp = np.asarray(step(prefix), dtype=np.float64)
            candidates += [(prefix + (t,), score + float(logp[t]))
                           for t in range(logp.shape[0])]
        if reverse_ties:
            candidates = candidates[::-1]
        candidates.sort(key=lambda c: -c[1])  # list.sort is stable
        beam = candidates[: int(beam_size)]
    tokens, score = beam[0]
    return np.array(tokens, dtype=np.int64), float(score)


def greedy_decode(step, end, max_len, **variant):
    """Greedy decoding over a step function: :func:`beam_search` with one hypothesis.

    At each step the most probable next token is taken, the smallest id
    among equally probable ones, until ``end`` or ``max_len`` tokens.

    Args:
        step: function of a tuple of token ids returning the (V,)
            log-probabilities of the next token.
        end: the end token's id.
        max_len: most tokens in a result (the end token included), >= 1.
        **variant: the grade-side mistake switches of :func:`beam_search`.

    Returns:
        tokens: int64 array (L,), 1 <= L <= max_len.
        score: float, the sum of the log-probabilities of ``tokens``.
    """
    return beam_search(step, end, 1, max_len, **variant)
