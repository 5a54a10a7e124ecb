"""Generated long-range memory tasks: the adding problem and the copy task.

Every random choice comes from the ``numpy.random.Generator`` passed as
``rng``; the module keeps no random state of its own, so the same seed always
gives the same data.
"""

from __future__ import annotations

import numpy as np

from rnnbook.checks import check_int, check_rng

__all__ = ['adding_problem', 'copy_task']


# -- long-range memory tasks -----------------------------------------------------

def adding_problem(n: int, T: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997), in its common modern form.

    Each sequence has T steps with two input channels. Channel 0 holds
    numbers drawn uniformly from [0, 1]. Channel 1 is 0 everywhere except at
    exactly two positions, where it is 1: one position is drawn uniformly
    from the first half, ``[0, T // 2)``, the other uniformly from the second
    half, ``[T // 2, T)``. The target is the sum of the two marked numbers.
    The gap between the marks is therefore about T / 2 on average and at
    least 1, so the network must remember a number across many steps.

    A model that ignores the input and always predicts 1 (the mean of the
    target) reaches a mean squared error of Var(U1 + U2) = 2/12 = 1/6; beating
    that clearly is the sign that the marked values were remembered.

    (The 1997 paper drew values from [-1, 1], put the first mark among the
    first ten steps and scaled the target; the [0, 1] version with one mark in
    each half is the one most later papers use.)

    Args:
        n: number of sequences, >= 1.
        T: sequence length, >= 2.
        rng: numpy Generator.

    Returns:
        x: float64 array (n, T, 2).
        y: float64 array (n,), in [0, 2].

    Taught in: Chapter 3, Vanishing and exploding gradients.
    """
    n = check_int("n", n, 1)
    T = check_int("T", T, 2)
    rng = check_rng(rng)
    half = T // 2
    values = rng.uniform(0.0, 1.0, size=(n, T))
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    marks = np.zeros((n, T))
    rows = np.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([values, marks], axis=-1)
    y = values[rows, first] + values[rows, second]
    return x, y


def copy_task(n: int, seq_len: int, delay: int, n_symbols: int,
              rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The copy task: read a string of symbols, wait, then write it back.

    Token ids: ``0`` is the blank, ``1 .. n_symbols`` are the data symbols,
    ``n_symbols + 1`` is the delimiter that says "start writing now"; so the
    vocabulary has ``n_symbols + 2`` entries. With L = seq_len and
    K = delay, every sequence has T = 2 L + K + 1 steps laid out as::

        step:   0 .. L-1   L .. L+K-1   L+K         L+K+1 .. 2L+K
        x:      s_1..s_L   blanks       delimiter   blanks
        y:      blanks     blanks       blank       s_1..s_L
        mask:   False      False        False       True

    The symbols are drawn uniformly (with repetition) from ``1 .. n_symbols``.
    The loss belongs only where ``mask`` is True: the output region, whose
    distance from the matching input is L + K + 1 steps. A model that has
    memorised nothing can only guess there, with cross-entropy
    ``log(n_symbols)`` per step.

    Args:
        n: number of sequences, >= 1.
        seq_len: L, symbols to copy, >= 1.
        delay: K, blank steps between the symbols and the delimiter, >= 0.
        n_symbols: size of the symbol alphabet, >= 1.
        rng: numpy Generator.

    Returns:
        x: int64 array (n, T), inputs.
        y: int64 array (n, T), targets (blank outside the output region).
        mask: bool array (n, T), True on the output region.

    Taught in: Chapter 4, Long short-term memory.
    """
    n = check_int("n", n, 1)
    L = check_int("seq_len", seq_len, 1)
    K = check_int("delay", delay, 0)
    S = check_int("n_symbols", n_symbols, 1)
    rng = check_rng(rng)
    T = 2 * L + K + 1
    symbols = rng.integers(1, S + 1, size=(n, L))
    x = np.zeros((n, T), dtype=np.int64)
    y = np.zeros((n, T), dtype=np.int64)
    x[:, :L] = symbols
    x[:, L + K] = S + 1
    y[:, L + K + 1 :] = symbols
    mask = np.zeros((n, T), dtype=bool)
    mask[:, L + K + 1 :] = True
    return x, y, mask
