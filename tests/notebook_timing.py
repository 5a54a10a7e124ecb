"""pytest plugin: the time each notebook took, in the run's summary.

Loaded for every run by `-p notebook_timing` in pyproject.toml, so that it
sees the notebooks of book/ and solutions/ as well as tests/."""

from __future__ import annotations

from collections import defaultdict

import pytest

_notebook_seconds: dict[str, float] = defaultdict(float)
_notebook_failed: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # nbval makes one test item per notebook cell; add up setup/call/teardown
    # of every cell to get the time a notebook took from kernel start to end.
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        if report.failed:
            _notebook_failed.add(path)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("notebook execution times")
    width = max(len(p) for p in _notebook_seconds)
    for path, seconds in sorted(_notebook_seconds.items()):
        status = "FAILED" if path in _notebook_failed else "ok"
        tr.write_line(f"{path:<{width}}  {seconds:7.1f} s  {status}")
    tr.write_line(f"{'total':<{width}}  {sum(_notebook_seconds.values()):7.1f} s")
