"""Time one LSTM forward + backward pass in float32, three ways side by side.

* ``ours``: :func:`rnnbook.nn.lstm.lstm_forward` and :func:`rnnbook.nn.lstm.lstm_backward`
  (one product for all input projections, one for each weight gradient);
* ``per-step``: a plain loop over :func:`lstm_step_forward` and
  :func:`lstm_step_backward`, the way the chapter first writes it;
* ``torch``: ``torch.nn.LSTM`` on the CPU, when PyTorch is
  installed (it is optional; the other two columns are printed regardless).

All three get the same weights and inputs, and the script checks that they
agree before timing them. numpy's BLAS and PyTorch both use two threads.
Each figure is the median over ``--repeats`` timed runs; the three
implementations take turns, so that all of them see the same machine load,
and every timed run follows an untimed one of the same implementation.

    python benchmarks/lstm_benchmark.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from functools import partial

# Both libraries get the same two threads. The variables must be set before
# numpy loads OpenBLAS; they override a setting inherited from the shell
# (the test targets of the Makefile use one thread per process).
THREADS = 2
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np  # noqa: E402

from rnnbook.interop import lstm_to_torch  # noqa: E402
from rnnbook.nn.lstm import (  # noqa: E402
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)

SHAPES = [(32, 50, 64, 128), (64, 100, 128, 256), (16, 200, 32, 64)]
QUICK_SHAPES = [(8, 20, 16, 32)]


def make_problem(N, T, D, H, seed=0):
    """Random float32 inputs, weights (PyTorch's uniform init scale) and upstream gradient."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    scale = 1 / np.sqrt(H)
    return dict(
        x=rng.standard_normal((N, T, D), dtype=f32),
        h0=rng.standard_normal((N, H), dtype=f32),
        c0=rng.standard_normal((N, H), dtype=f32),
        Wx=rng.uniform(-scale, scale, (D, 4 * H)).astype(f32),
        Wh=rng.uniform(-scale, scale, (H, 4 * H)).astype(f32),
        b=rng.uniform(-scale, scale, 4 * H).astype(f32),
        dh=rng.standard_normal((N, T, H), dtype=f32),
    )


def run_ours(p):
    h, cache = lstm_forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"], p["c0"])
    dx, dh0, dWx, dWh, db = lstm_backward(p["dh"], cache)
    return h, dx, dWh


def run_per_step(p):
    x, dh = p["x"], p["dh"]
    N, T, _ = x.shape
    h_prev, c_prev = p["h0"], p["c0"]
    hs, caches = [], []
    for t in range(T):
        h_prev, c_prev, cache = lstm_step_forward(x[:, t], h_prev, c_prev, p["Wx"], p["Wh"], p["b"])
        hs.append(h_prev)
        caches.append(cache)
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(p["Wx"]), np.zeros_like(p["Wh"]), np.zeros_like(p["b"])
    dh_next, dc_next = np.zeros_like(p["h0"]), np.zeros_like(p["c0"])
    for t in range(T - 1, -1, -1):
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dh_next, dc_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return np.stack(hs, axis=1), dx, dWh


def make_torch_runner(torch, p):
    D = p["x"].shape[2]
    H = p["h0"].shape[1]
    layer = torch.nn.LSTM(D, H, batch_first=True)
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in
                           lstm_to_torch(p["Wx"], p["Wh"], p["b"]).items()})
    x = torch.from_numpy(p["x"]).requires_grad_()
    h0 = torch.from_numpy(p["h0"])[None]
    c0 = torch.from_numpy(p["c0"])[None]
    dh = torch.from_numpy(p["dh"])

    def run():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x, (h0, c0))
        out.backward(dh)
        # weight_hh is (4H, H) in PyTorch's layout; transpose to compare with ours.
        return (out.detach().numpy(), x.grad.numpy(), layer.weight_hh_l0.grad.numpy().T)

    return run


def median_times(fns, repeats):
    """Median run time in seconds of each function, the functions taking turns.

    Taking turns exposes every implementation to the same machine load, so
    the ratios stay meaningful on a busy machine even when absolute times
    drift. Each timed run follows an untimed run of the same function: BLAS
    and OpenMP worker threads keep spinning for a while after a call, and
    without that run the threads of the previous implementation would slow
    down the first call of the next one.
    """
    for fn in fns:
        # Warm-up: first-touch allocations, thread pools; PyTorch's first two
        # calls on a new shape are measurably slower than the rest.
        for _ in range(3):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            fn()
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def check_agree(name, ref, got):
    for label, a, b in zip(("h", "dx", "dWh"), ref, got):
        err = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))
        if err > 1e-3:  # float32 with different summation orders
            raise SystemExit(f"{name} disagrees with ours on {label}: relative error {err:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per cell (median)")
    parser.add_argument("--quick", action="store_true", help="one small shape, for a smoke test")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: timing ours and per-step only.")
    else:
        torch.set_num_threads(THREADS)

    print(f"numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
          + f", {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
          + f", {THREADS} threads each"
          + (f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""))
    print("LSTM forward + backward, float32, median of", args.repeats, "runs, milliseconds\n")
    header = (f"{'N':>4} {'T':>4} {'D':>4} {'H':>4} | {'ours':>8} {'per-step':>9} {'torch':>8}"
              f" | {'ours/torch':>10} {'per-step/ours':>13}")
    print(header)
    print("-" * len(header))
    for N, T, D, H in QUICK_SHAPES if args.quick else SHAPES:
        p = make_problem(N, T, D, H)
        reference = run_ours(p)
        check_agree("per-step", reference, run_per_step(p))
        fns = [partial(run_ours, p), partial(run_per_step, p)]
        if torch is not None:
            run_torch = make_torch_runner(torch, p)
            check_agree("torch", reference, run_torch())
            fns.append(run_torch)
        t_ours, t_step, *t_torch = median_times(fns, args.repeats)
        if t_torch:
            torch_cols = f"{1e3 * t_torch[0]:8.1f} | {t_ours / t_torch[0]:10.2f}"
        else:
            torch_cols = f"{'-':>8} | {'-':>10}"
        print(f"{N:>4} {T:>4} {D:>4} {H:>4} | {1e3 * t_ours:8.1f} {1e3 * t_step:9.1f} "
              f"{torch_cols} {t_step / t_ours:13.2f}")
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} "
              f"(well above 0 means other programs shared the cores)")


if __name__ == "__main__":
    main()
