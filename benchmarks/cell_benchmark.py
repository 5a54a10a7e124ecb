"""Time one forward + backward pass of the RNN, LSTM and GRU in float32, side by side.

For each cell and shape, three implementations run on the same weights and inputs:

* ``fast``: the kernels of :mod:`rnnbook.nn.kernels`, which training uses
  (one product for all input projections, one for each weight gradient);
* ``readable``: :func:`rnnbook.nn.rnn.rnn_forward` and friends, the plain
  loop over the step functions that a reader opens;
* ``torch``: ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` on the CPU, when PyTorch
  is installed (it is optional; the other two columns are printed regardless).

The script checks that all three agree before timing them. numpy's BLAS and
PyTorch both use two threads. Each figure is the median over ``--repeats``
timed runs; the implementations take turns, so that all of them see the same
machine load, and every timed run follows an untimed one of the same
implementation.

    python benchmarks/cell_benchmark.py [--repeats 7] [--quick] [--cells rnn,lstm,gru]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from functools import partial

# Both libraries get the same number of threads, two unless --threads says
# otherwise. The variables must be set before numpy loads OpenBLAS, so the
# option is read here, ahead of argparse; they override a setting inherited
# from the shell (the test targets of the Makefile use one thread per process).
def _threads_option(argv) -> int:
    for k, arg in enumerate(argv):
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
        if arg == "--threads" and k + 1 < len(argv):
            return int(argv[k + 1])
    return 2


THREADS = _threads_option(sys.argv)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np  # noqa: E402

from rnnbook.interop import gru_to_torch, lstm_to_torch, rnn_to_torch  # noqa: E402
from rnnbook.nn import kernels  # noqa: E402
from rnnbook.nn.gru import gru_backward, gru_forward  # noqa: E402
from rnnbook.nn.lstm import lstm_backward, lstm_forward  # noqa: E402
from rnnbook.nn.rnn import rnn_backward, rnn_forward  # noqa: E402

SHAPES = [(32, 50, 64, 128), (64, 100, 128, 256), (16, 200, 32, 64)]
QUICK_SHAPES = [(8, 20, 16, 32)]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def openblas_core():
    """The kernels numpy's OpenBLAS runs in this environment (it says so when verbose)."""
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    out = subprocess.run([sys.executable, "-c", "import numpy"], env=env,
                         capture_output=True, text=True, timeout=120)
    match = re.search(r"Core:\s*(\w+)", out.stdout + out.stderr)
    forced = os.environ.get("OPENBLAS_CORETYPE")
    name = match.group(1) if match else "unknown"
    return name + (f", set by OPENBLAS_CORETYPE={forced}" if forced else ", its own choice")


def make_problem(cell, N, T, D, H, seed=0):
    """Random float32 inputs, weights (PyTorch's uniform init scale) and upstream gradient."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    scale = 1 / np.sqrt(H)
    k = GATES[cell]

    def uniform(*shape):
        return rng.uniform(-scale, scale, shape).astype(f32)

    p = dict(x=rng.standard_normal((N, T, D), dtype=f32),
             h0=rng.standard_normal((N, H), dtype=f32),
             Wx=uniform(D, k * H), Wh=uniform(H, k * H),
             dh=rng.standard_normal((N, T, H), dtype=f32))
    if cell == "lstm":
        p["c0"] = rng.standard_normal((N, H), dtype=f32)
    if cell == "gru":
        p["bx"], p["bh"] = uniform(k * H), uniform(k * H)
    else:
        p["b"] = uniform(k * H)
    return p


def _biases(cell, p):
    return (p["bx"], p["bh"]) if cell == "gru" else (p["b"],)


def run_fast(cell, p):
    args = (p["x"], p["h0"], p["Wx"], p["Wh"]) + _biases(cell, p)
    if cell == "rnn":
        h, cache = kernels.rnn_forward_fast(*args)
        dx, _, _, dWh, _ = kernels.rnn_backward_fast(p["dh"], cache)
    elif cell == "lstm":
        h, cache = kernels.lstm_forward_fast(*args, c0=p["c0"])
        dx, _, _, _, dWh, _ = kernels.lstm_backward_fast(p["dh"], cache)
    else:
        h, cache = kernels.gru_forward_fast(*args)
        dx, _, _, dWh, _, _ = kernels.gru_backward_fast(p["dh"], cache)
    return h, dx, dWh


def run_readable(cell, p):
    args = (p["x"], p["h0"], p["Wx"], p["Wh"]) + _biases(cell, p)
    if cell == "rnn":
        h, cache = rnn_forward(*args)
        dx, _, _, dWh, _ = rnn_backward(p["dh"], cache)
    elif cell == "lstm":
        h, cache = lstm_forward(*args, c0=p["c0"])
        dx, _, _, dWh, _ = lstm_backward(p["dh"], cache)
    else:
        h, cache = gru_forward(*args)
        dx, _, _, dWh, _, _ = gru_backward(p["dh"], cache)
    return h, dx, dWh


def make_torch_runner(torch, cell, p):
    D = p["x"].shape[2]
    H = p["h0"].shape[1]
    if cell == "rnn":
        layer = torch.nn.RNN(D, H, batch_first=True)
        state = rnn_to_torch(p["Wx"], p["Wh"], p["b"])
    elif cell == "lstm":
        layer = torch.nn.LSTM(D, H, batch_first=True)
        state = lstm_to_torch(p["Wx"], p["Wh"], p["b"])
    else:
        layer = torch.nn.GRU(D, H, batch_first=True)
        state = gru_to_torch(p["Wx"], p["Wh"], p["bx"], p["bh"])
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = torch.from_numpy(p["x"]).requires_grad_()
    h0 = torch.from_numpy(p["h0"])[None]
    init = (h0, torch.from_numpy(p["c0"])[None]) if cell == "lstm" else h0
    dh = torch.from_numpy(p["dh"])

    def run():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x, init)
        out.backward(dh)
        # weight_hh is (kH, H) in PyTorch's layout; transpose to compare with ours.
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
            raise SystemExit(f"{name} disagrees with fast on {label}: relative error {err:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per cell (median)")
    parser.add_argument("--quick", action="store_true", help="one small shape, for a smoke test")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cells")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for numpy's BLAS and for PyTorch (default 2)")
    parser.add_argument("--shapes", default=None,
                        help="only these of the three shapes, by position, e.g. 2,3")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: timing fast and readable only.")
    else:
        torch.set_num_threads(THREADS)

    print(f"numpy {np.__version__} (OpenBLAS kernels: {openblas_core()})"
          + (f", torch {torch.__version__}" if torch else "")
          + f", {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
          + f", {THREADS} threads each"
          + (f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""))
    print("forward + backward, float32, median of", args.repeats, "runs, milliseconds\n")
    header = (f"{'cell':>4} {'N':>4} {'T':>4} {'D':>4} {'H':>4} | {'fast':>8} {'readable':>9}"
              f" {'torch':>8} | {'fast/torch':>10} {'readable/fast':>13}")
    print(header)
    print("-" * len(header))
    for cell in args.cells.split(","):
        shapes = QUICK_SHAPES if args.quick else SHAPES
        if args.shapes:
            shapes = [SHAPES[int(k) - 1] for k in args.shapes.split(",")]
        for N, T, D, H in shapes:
            p = make_problem(cell, N, T, D, H)
            reference = run_fast(cell, p)
            check_agree("readable", reference, run_readable(cell, p))
            fns = [partial(run_fast, cell, p), partial(run_readable, cell, p)]
            if torch is not None:
                run_torch = make_torch_runner(torch, cell, p)
                check_agree("torch", reference, run_torch())
                fns.append(run_torch)
            t_fast, t_read, *t_torch = median_times(fns, args.repeats)
            if t_torch:
                torch_cols = f"{1e3 * t_torch[0]:8.1f} | {t_fast / t_torch[0]:10.2f}"
            else:
                torch_cols = f"{'-':>8} | {'-':>10}"
            print(f"{cell:>4} {N:>4} {T:>4} {D:>4} {H:>4} | {1e3 * t_fast:8.1f} "
                  f"{1e3 * t_read:9.1f} {torch_cols} {t_read / t_fast:13.2f}", flush=True)
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} "
              f"(well above 0 means other programs shared the cores)")


if __name__ == "__main__":
    main()
