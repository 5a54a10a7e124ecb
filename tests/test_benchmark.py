"""The cell benchmark runs, checks agreement, and reports every column.

It is run by hand (``make bench``), never timed in a test; this runs its
smoke-test mode so that the script cannot rot unnoticed.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "cell_benchmark.py"


def _load():
    spec = importlib.util.spec_from_file_location("cell_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quick_benchmark_times_every_cell_in_its_own_processes():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--repeats", "1",
                          "--rounds", "1", "--threads", "1"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines()
            if re.match(r"\s*(rnn|lstm|gru)\s+8\s+20\s+16\s+32\s+\|", line)]
    assert [row.split()[0] for row in rows] == ["rnn", "lstm", "gru"], out.stdout
    has_torch = importlib.util.find_spec("torch") is not None
    for row in rows:
        numbers = re.findall(r"\d+\.\d+", row)
        # fast, readable, products, then torch and two ratios when PyTorch is there.
        assert len(numbers) == (7 if has_torch else 4), row
        assert all(float(v) > 0 for v in numbers), row


def test_the_products_floor_runs_one_recurrent_product_per_step_each_way():
    # The floor is only a floor if it does the products of a pass: T
    # products with Wh forward (the GRU's with its bias row) and T with
    # Wh.T backward, each of the kernel's shape, besides the products over
    # all rows, which are written with @.
    bench = _load()
    N, T, D, H = 4, 6, 3, 5
    for cell, k in (("rnn", 1), ("lstm", 4), ("gru", 3)):
        calls = []
        original = np.matmul

        def counting(a, b, *args, **kwargs):
            calls.append(a.shape[0] * a.shape[1] * b.shape[1])
            return original(a, b, *args, **kwargs)

        bench.np.matmul = counting
        try:
            bench.make_products_runner(cell, N, T, D, H)()
        finally:
            bench.np.matmul = original
        h_width = H + 1 if cell == "gru" else H
        assert calls == [N * h_width * k * H] * T + [N * k * H * H] * T, cell
