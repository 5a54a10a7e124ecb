"""best_time: the shortest of several timings, on the clock it is given."""

from __future__ import annotations

import pytest

from rnnbook.book import best_time


def test_best_time_returns_the_shortest_timing_on_its_clock():
    # A fake clock: each call of fn takes 5, 2, 7 ticks of it in turn.
    durations = iter([5, 2, 7])
    ticks = {"t": 0}

    def clock():
        return ticks["t"]

    def fn():
        ticks["t"] += next(durations)

    assert best_time(fn, repeats=3, clock=clock) == 2


def test_best_time_runs_fn_once_per_repeat_and_checks_repeats():
    calls = []
    best_time(lambda: calls.append(1), repeats=4)
    assert len(calls) == 4
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="repeats"):
            best_time(lambda: None, repeats=bad)
