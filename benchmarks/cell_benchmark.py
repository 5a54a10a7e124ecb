"""Time one forward + backward pass of the RNN, LSTM and GRU in float32, side by side.

For each cell and shape, three implementations run on the same weights and inputs:

* ``fast``: the kernels of :mod:`rnnbook.nn.kernels`, which training uses
  (one product for all input projections, one for each weight gradient);
* ``readable``: :func:`rnnbook.nn.rnn.rnn_forward` and friends, the plain
  loop over the step functions that a reader opens;
* ``torch``: ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` on the CPU, when PyTorch
  is installed (it is optional; the other two columns are printed regardless).

The script checks that all three agree before timing them. numpy's BLAS and
PyTorch both use two threads. Every implementation is timed in a process of
its own, which loads only its own library: the worker threads of OpenBLAS
and of PyTorch's OpenMP keep spinning for a while after each call, and in a
shared process they slowed the other library down (measured: PyTorch's LSTM
at N = 16, T = 200 took 17 ms right after a numpy pass and 8 ms alone). The
processes take turns over ``--rounds`` rounds, so that all implementations
see the same machine load; each figure is the median of all the timed runs
of an implementation, made after three untimed ones in the same process.

    python benchmarks/cell_benchmark.py [--repeats 9] [--rounds 3] [--quick] [--cells rnn,lstm,gru]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
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


def make_products_runner(cell, N, T, D, H):
    """Only the matrix products of one fast forward + backward pass, on arrays of their shapes.

    Any implementation of the pass computes these products (PyTorch's
    included: the same multiply-adds), so their time in numpy is a floor
    under the ``fast`` column that no rearrangement of the element-wise
    work can go below. Per sequence: the input projections of all steps,
    one product with the recurrent weights per step forward and one per
    step backward, then dx and the weight gradients over all N*T rows; the
    GRU's recurrent products carry the bias row, as in its kernel.
    """
    rng = np.random.default_rng(0)
    kH = GATES[cell] * H

    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    xh = rand(T * N, D + 1 + H)  # the rows [x_t | 1 | h_{t-1}] of every step
    W_in, W_rec_T, Wx_T = rand(D + 1, kH), rand(kH, H), rand(kH, D)
    gru = cell == "gru"
    h_rows = [xh[t * N:(t + 1) * N, D if gru else D + 1:] for t in range(T)]
    W_rec = rand(h_rows[0].shape[1], kH)
    da = rand(T * N, kH)
    da_rows = [da[t * N:(t + 1) * N] for t in range(T)]
    a, dh = np.empty((N, kH), np.float32), np.empty((N, H), np.float32)

    def run():
        xh[:, :D + 1] @ W_in
        for h in h_rows:
            np.matmul(h, W_rec, out=a)
        for d in da_rows:
            np.matmul(d, W_rec_T, out=dh)
        da @ Wx_T
        if gru:  # the input and the recurrent weight gradients are two products
            xh[:, :D + 1].T @ da
            xh[:, D:].T @ da
        else:
            xh.T @ da

    return run


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


def time_runs(fn, runs):
    """Seconds taken by each of ``runs`` calls of ``fn``, after three warm-up calls.

    The warm-up covers first-touch allocations and the thread pools;
    PyTorch's first two calls on a new shape are measurably slower than the
    rest. The timed calls follow each other, so every one of them finds its
    own library's threads awake and no other library's threads running.
    """
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def worker(which, cell, shape, runs):
    """Run in a child process: time one implementation on one case, print the times as JSON."""
    p = make_problem(cell, *shape)
    if which == "torch":
        import torch
        torch.set_num_threads(THREADS)
        fn = make_torch_runner(torch, cell, p)
    elif which == "products":
        fn = make_products_runner(cell, *shape)
    else:
        fn = partial(run_fast if which == "fast" else run_readable, cell, p)
    print(json.dumps(time_runs(fn, runs)))


def check_worker(cell, shape):
    """Run in a child process: stop with a message unless the implementations agree."""
    p = make_problem(cell, *shape)
    reference = run_fast(cell, p)
    check_agree("readable", reference, run_readable(cell, p))
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(THREADS)
    check_agree("torch", reference, make_torch_runner(torch, cell, p)())


def _child(*args):
    """Run this script as a worker process and return what it printed."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(THREADS),
                          *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"worker {' '.join(map(str, args))} failed:\n{out.stderr}{out.stdout}")
    return out.stdout


def median_times(which, cell, shape, repeats, rounds):
    """Median run time in seconds of each implementation in ``which``, each in its own processes.

    The implementations take turns, one process each per round, the first
    of a round moving on by one each round, so that every one of them sees
    the same machine load and none runs first every time; each process
    makes ``repeats / rounds`` timed runs (rounded up).
    """
    runs = math.ceil(repeats / rounds)
    times = {name: [] for name in which}
    case = ",".join(map(str, (cell, *shape)))
    for r in range(rounds):
        for name in which[r % len(which):] + which[:r % len(which)]:
            times[name] += json.loads(_child("--worker", name, "--case", case, "--runs", runs))
    return [statistics.median(times[name]) for name in which]


def check_agree(name, ref, got):
    for label, a, b in zip(("h", "dx", "dWh"), ref, got):
        err = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))
        if err > 1e-3:  # float32 with different summation orders
            raise SystemExit(f"{name} disagrees with fast on {label}: relative error {err:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9,
                        help="timed runs per implementation and case (median)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per implementation and case, taking turns")
    parser.add_argument("--quick", action="store_true", help="one small shape, for a smoke test")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cells")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for numpy's BLAS and for PyTorch (default 2)")
    parser.add_argument("--shapes", default=None,
                        help="only these of the three shapes, by position, e.g. 2,3")
    # What the script passes to its own worker processes.
    parser.add_argument("--worker", choices=("fast", "readable", "products", "torch", "check"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        cell, *shape = args.case.split(",")
        shape = tuple(map(int, shape))
        if args.worker == "check":
            check_worker(cell, shape)
        else:
            worker(args.worker, cell, shape, args.runs)
        return

    # The parent only starts processes: it loads neither library's threads.
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print("PyTorch is not installed: timing fast and readable only.")
    print(f"numpy {np.__version__} (OpenBLAS kernels: {openblas_core()})"
          + (f", torch {importlib.metadata.version('torch')}" if have_torch else "")
          + f", {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
          + f", {THREADS} threads each"
          + (f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""))
    print(f"forward + backward, float32, median of {args.repeats} runs in {args.rounds} "
          "processes per implementation, milliseconds\n")
    header = (f"{'cell':>4} {'N':>4} {'T':>4} {'D':>4} {'H':>4} | {'fast':>8} {'readable':>9}"
              f" {'products':>9} {'torch':>8} | {'fast/torch':>10} {'products/torch':>14}"
              f" {'readable/fast':>13}")
    print(header)
    print("-" * len(header))
    which = ["fast", "readable", "products"] + (["torch"] if have_torch else [])
    for cell in args.cells.split(","):
        shapes = QUICK_SHAPES if args.quick else SHAPES
        if args.shapes:
            shapes = [SHAPES[int(k) - 1] for k in args.shapes.split(",")]
        for shape in shapes:
            _child("--worker", "check", "--case", ",".join(map(str, (cell, *shape))))
            t_fast, t_read, t_prod, *t_torch = median_times(which, cell, shape, args.repeats,
                                                             args.rounds)
            if t_torch:
                torch_cols = (f"{1e3 * t_torch[0]:8.1f} | {t_fast / t_torch[0]:10.2f}"
                              f" {t_prod / t_torch[0]:14.2f}")
            else:
                torch_cols = f"{'-':>8} | {'-':>10} {'-':>14}"
            N, T, D, H = shape
            print(f"{cell:>4} {N:>4} {T:>4} {D:>4} {H:>4} | {1e3 * t_fast:8.1f} "
                  f"{1e3 * t_read:9.1f} {1e3 * t_prod:9.1f} {torch_cols} {t_read / t_fast:13.2f}",
                  flush=True)
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} "
              f"(well above 0 means other programs shared the cores)")


if __name__ == "__main__":
    main()
