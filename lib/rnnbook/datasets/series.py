"""Yearly sunspot numbers, for forecasting, and windows cut from a series."""

from __future__ import annotations

import numpy as np

from rnnbook.checks import check_int
from rnnbook.datasets.shipped import shipped_file

__all__ = ['load_sunspots', 'make_windows']


# -- sunspots --------------------------------------------------------------------

def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Return the yearly sunspot numbers 1700-2008.

    Returns:
        years: float64 array (309,), 1700.0, 1701.0, ..., 2008.0.
        values: float64 array (309,), the yearly mean sunspot number (the
            series as published before the 2015 recalibration; between 0
            and 190.2).

    Taught in: Part III, Applications and practice.
    """
    with shipped_file("sunspots.csv").open("r", encoding="utf-8") as fh:
        table = np.loadtxt(fh, delimiter=",", skiprows=1, dtype=np.float64)
    return table[:, 0].copy(), table[:, 1].copy()


def make_windows(series, input_len: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (past window, future values) pairs for forecasting.

    Pair ``m`` uses ``series[m : m + input_len]`` as input and the next
    ``horizon`` values ``series[m + input_len : m + input_len + horizon]`` as
    target. Every possible start is used, so neighbouring pairs overlap;
    split train and test by time *before* windowing to keep them apart.

    Args:
        series: real array (L,). float32 stays float32; anything else becomes
            float64.
        input_len: number of past values per input, >= 1.
        horizon: number of future values per target, >= 1.

    Returns:
        X: array (M, input_len, 1), M = L - input_len - horizon + 1; the
            trailing axis is the feature axis D = 1 the recurrent layers expect.
        Y: array (M, horizon).

    Taught in: Part III, Applications and practice.
    """
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"series has shape {series.shape} but needs one dimension (L,)")
    if not (np.issubdtype(series.dtype, np.floating) or np.issubdtype(series.dtype, np.integer)):
        raise ValueError(f"series has dtype {series.dtype} but needs a real dtype")
    input_len = check_int("input_len", input_len, 1)
    horizon = check_int("horizon", horizon, 1)
    L = series.shape[0]
    if L < input_len + horizon:
        raise ValueError(
            f"series has length {L} but needs at least input_len + horizon = {input_len + horizon}"
        )
    dtype = np.float32 if series.dtype == np.float32 else np.float64
    series = series.astype(dtype, copy=False)
    M = L - input_len - horizon + 1
    windows = np.lib.stride_tricks.sliding_window_view(series, input_len + horizon)[:M]
    X = windows[:, :input_len].copy()[:, :, None]
    Y = windows[:, input_len:].copy()
    return X, Y
