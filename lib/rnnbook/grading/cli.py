"""``rnnbook-grade``: grade notebooks from the command line.

    rnnbook-grade SUBMISSION.ipynb... [--json FILE] [--csv FILE]
                  [--jobs N] [--cell-timeout S] [--total-timeout S]
                  [--sandbox auto|on|off] [--hide DIR]... [--quiet]

A folder given as SUBMISSION stands for the notebooks in it. The table of
results goes to standard output, progress to standard error. The exit
status is 0 when every submission was graded (whatever the scores, and
also when some were reported as broken), 2 for a usage error such as a
path that does not exist, and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .report import to_csv, to_json, to_table, write_atomic

__all__ = ["main"]


def _expand(paths, parser) -> list[str]:
    out, missing = [], []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(q) for q in path.glob("*.ipynb") if q.is_file())
            if not found:
                parser.error(f"no .ipynb files in the folder {p}")
            out += found
        elif path.exists():
            out.append(p)
        else:
            missing.append(p)
    if missing:
        parser.error("no such file: " + ", ".join(missing))
    return out


def _progress_printer(stream, quiet: bool):
    if quiet:
        return None
    bar = None
    start = time.monotonic()
    if stream.isatty():
        from tqdm.auto import tqdm

        def show(done, total, report):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, file=stream, unit="notebook", desc="grading")
            bar.update(1)
            bar.set_postfix_str(f"{Path(report['submission']).name}: "
                                f"{report['score']:g}/{report['max_score']:g}")
            if done == total:
                bar.close()
        return show

    def line(done, total, report):
        note = f" ({report['error']})" if report["error"] else ""
        stream.write(f"[{done}/{total}] {report['submission']}: {report['score']:g}/"
                     f"{report['max_score']:g}{note}  {time.monotonic() - start:.1f} s\n")
        stream.flush()
    return line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="rnnbook-grade",
        description="Grade rnnbook exercise notebooks. Each submission runs in its own "
                    "kernel; the student's functions are called on fresh random inputs and "
                    "compared with the library's reference in this process.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="notebook files, or folders of notebooks")
    parser.add_argument("--json", metavar="FILE", help="write the JSON report to FILE")
    parser.add_argument("--csv", metavar="FILE", help="write the CSV gradebook to FILE")
    parser.add_argument("--jobs", "-j", type=int, default=min(2, os.cpu_count() or 1),
                        help="kernels to run at the same time (default: 2)")
    parser.add_argument("--cell-timeout", type=float, default=30.0, metavar="S",
                        help="seconds allowed per code cell and per graded call (default: 30)")
    parser.add_argument("--total-timeout", type=float, default=300.0, metavar="S",
                        help="seconds allowed per submission (default: 300)")
    parser.add_argument("--sandbox", choices=("auto", "on", "off"), default="auto",
                        help="run kernels in Linux namespaces: auto (when available), "
                             "on (required), off")
    parser.add_argument("--hide", action="append", default=[], metavar="DIR",
                        help="a directory the kernels must not see, e.g. a copy of the "
                             "solutions (repeatable)")
    parser.add_argument("--memory", type=int, default=4096, metavar="MB",
                        help="address-space limit per kernel in MiB (default: 4096)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress and no table; only the files")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.cell_timeout <= 0 or args.total_timeout <= 0:
        parser.error("timeouts must be positive")
    paths = _expand(args.submissions, parser)
    for out in (args.json, args.csv):
        if out and not Path(out).resolve().parent.is_dir():
            parser.error(f"cannot write {out}: its folder does not exist")

    from .runner import grade_submissions

    # SIGTERM ends the run like Ctrl-C does, so that every kernel is killed.
    def _terminate(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, _terminate)
    start = time.monotonic()
    try:
        reports = grade_submissions(
            paths, jobs=args.jobs, cell_timeout=args.cell_timeout,
            total_timeout=args.total_timeout, sandbox=args.sandbox, hide=args.hide,
            memory_mb=args.memory, progress=_progress_printer(sys.stderr, args.quiet),
            log=None if args.quiet else lambda line: print(line, file=sys.stderr))
    except KeyboardInterrupt:
        print("rnnbook-grade: interrupted; every kernel was stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"rnnbook-grade: error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    elapsed = time.monotonic() - start
    if args.json:
        write_atomic(args.json, to_json(reports))
    if args.csv:
        write_atomic(args.csv, to_csv(reports))
    if not args.quiet:
        sys.stdout.write(to_table(reports))
        print(f"\n{len(reports)} submission(s) graded in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
