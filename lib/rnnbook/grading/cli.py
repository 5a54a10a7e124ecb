"""``rnnbook-grade``: grade notebooks from the command line.

    rnnbook-grade SUBMISSION.ipynb... [--json FILE] [--csv FILE]
                  [--jobs N] [--cell-timeout S] [--total-timeout S]
                  [--sandbox auto|on|off] [--hide DIR]... [--quiet]
                  [--cpu S] [--memory MB] [--processes N] [--file-size MB]
                  [--output-size MB] [--shard K/N] [--similarity REPORT.json]
    rnnbook-grade merge PART.json... [--json FILE] [--csv FILE]

A folder given as SUBMISSION stands for the notebooks in it. The table of
results goes to standard output, progress to standard error. The exit
status is 0 when every submission was graded (whatever the scores, and
also when some were reported as broken), 2 for a usage error such as a
path that does not exist, and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from .limits import Limits
from .report import merge_reports, to_csv, to_json, to_table, write_atomic

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


def _add_limit_arguments(parser) -> None:
    """The resource limits of each submission (kernel and all it starts)."""
    d = Limits()
    group = parser.add_argument_group(
        "limits per submission", "budgets for the kernel and every process it starts, "
        "together; going over one costs what could not finish, with a reason")
    group.add_argument("--cpu", type=float, default=d.cpu_seconds, metavar="S",
                       help=f"CPU seconds in all (default: {d.cpu_seconds:g})")
    group.add_argument("--memory", type=int, default=d.memory_mb, metavar="MB",
                       help=f"memory in MiB, all processes together (default: {d.memory_mb})")
    group.add_argument("--processes", type=int, default=d.processes, metavar="N",
                       help=f"processes and threads at a time (default: {d.processes})")
    group.add_argument("--file-size", type=int, default=d.file_mb, metavar="MB",
                       help=f"MiB of files written (default: {d.file_mb})")
    group.add_argument("--output-size", type=int, default=d.output_mb, metavar="MB",
                       help=f"MiB of printed output (default: {d.output_mb})")
    group.add_argument("--limits", choices=("auto", "rlimits"), default="auto",
                       help="how: auto (cgroups when this user can create them) or "
                            "rlimits (per-process limits and polling)")


def _limits_from_args(args, parser) -> Limits:
    try:
        return Limits(cpu_seconds=args.cpu, memory_mb=args.memory, processes=args.processes,
                      file_mb=args.file_size, output_mb=args.output_size)
    except ValueError as exc:
        parser.error(str(exc))


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 2/8, got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def _add_batch_arguments(parser) -> None:
    """Many machines and copying between students."""
    group = parser.add_argument_group("large courses")
    group.add_argument("--shard", type=_parse_shard, metavar="K/N",
                       help="grade only the K-th of N equal parts of the sorted submissions "
                            "(join the parts' --json files with 'rnnbook-grade merge')")
    group.add_argument("--similarity", metavar="REPORT.json",
                       help="compare the students' own code across all the submissions "
                            "given and write pairs that are too close to REPORT.json and "
                            "REPORT.html")
    group.add_argument("--similarity-threshold", type=float, default=None, metavar="F",
                       help="similarity (0-1) from which a pair is listed (default: 0.6)")


def merge_main(argv) -> int:
    """``rnnbook-grade merge PART.json...``: join the reports of the shards."""
    parser = argparse.ArgumentParser(
        prog="rnnbook-grade merge",
        description="Join the JSON reports of a run split with --shard into one report "
                    "and gradebook, sorted by submission like a run on one machine.")
    parser.add_argument("parts", nargs="+", metavar="PART.json")
    parser.add_argument("--json", metavar="FILE", help="write the joined JSON report to FILE")
    parser.add_argument("--csv", metavar="FILE", help="write the joined CSV gradebook to FILE")
    parser.add_argument("--quiet", "-q", action="store_true", help="no table")
    args = parser.parse_args(argv)
    parts = []
    for p in args.parts:
        try:
            parts.append(json.loads(Path(p).read_text()))
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read {p}: {exc}")
    try:
        reports = merge_reports(parts)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        write_atomic(args.json, to_json(reports))
    if args.csv:
        write_atomic(args.csv, to_csv(reports))
    if not args.quiet:
        sys.stdout.write(to_table(reports))
        print(f"\n{len(reports)} report(s) from {len(parts)} part(s)", file=sys.stderr)
    return 0


def _write_similarity(args, paths, log) -> None:
    from .similarity import find_similar, write_similarity_report

    kwargs = {} if args.similarity_threshold is None else \
        {"threshold": args.similarity_threshold}
    result = find_similar(paths, **kwargs)
    json_path, html_path = write_similarity_report(result, args.similarity)
    if log is not None:
        log(f"similarity: {len(result['pairs'])} pair(s) flagged; see {html_path}")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnbook-grade",
        description="Grade rnnbook exercise notebooks. Each submission runs in its own "
                    "kernel; the student's functions are called on fresh random inputs and "
                    "compared with the library's reference in this process. "
                    "'rnnbook-grade merge PART.json...' joins the reports of --shard runs.")
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
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress and no table; only the files")
    _add_limit_arguments(parser)
    _add_batch_arguments(parser)
    return parser


def _check_args(args, parser) -> None:
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.cell_timeout <= 0 or args.total_timeout <= 0:
        parser.error("timeouts must be positive")
    if args.similarity_threshold is not None and not 0 <= args.similarity_threshold <= 1:
        parser.error("--similarity-threshold must be between 0 and 1")
    for out in (args.json, args.csv, args.similarity):
        if out and not Path(out).resolve().parent.is_dir():
            parser.error(f"cannot write {out}: its folder does not exist")


def _grade(args, paths, limits, log) -> list[dict]:
    """Run the grader; SIGTERM ends the run like Ctrl-C, so that every kernel is killed."""
    from .runner import grade_submissions

    def _terminate(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.similarity:
            _write_similarity(args, paths, log)
        return grade_submissions(
            paths, jobs=args.jobs, cell_timeout=args.cell_timeout,
            total_timeout=args.total_timeout, sandbox=args.sandbox, hide=args.hide,
            limits=limits, limit_mode=args.limits, shard=args.shard,
            progress=_progress_printer(sys.stderr, args.quiet), log=log)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_reports(args, reports, elapsed: float) -> None:
    if args.json:
        write_atomic(args.json, to_json(reports))
    if args.csv:
        write_atomic(args.csv, to_csv(reports))
    if not args.quiet:
        sys.stdout.write(to_table(reports))
        print(f"\n{len(reports)} submission(s) graded in {elapsed:.1f} s", file=sys.stderr)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    parser = _build_parser()
    args = parser.parse_args(argv)
    limits = _limits_from_args(args, parser)
    _check_args(args, parser)
    paths = _expand(args.submissions, parser)
    log = None if args.quiet else lambda line: print(line, file=sys.stderr)
    start = time.monotonic()
    try:
        reports = _grade(args, paths, limits, log)
    except KeyboardInterrupt:
        print("rnnbook-grade: interrupted; every kernel was stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"rnnbook-grade: error: {exc}", file=sys.stderr)
        return 2
    _write_reports(args, reports, time.monotonic() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
