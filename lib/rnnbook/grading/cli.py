"""``rnnbook-grade``: grade notebooks from the command line.

    rnnbook-grade SUBMISSION... [--json FILE] [--csv FILE]
                  [--jobs N] [--cell-timeout S] [--total-timeout S]
                  [--sandbox auto|on|off] [--hide DIR]... [--quiet]
                  [--exercise ID] [--roster FILE] [--deadline TIME]
                  [--late-penalty PCT] [--late-cutoff DAYS] [--feedback DIR]
                  [--cpu S] [--memory MB] [--processes N] [--file-size MB]
                  [--output-size MB] [--limits auto|rlimits]
                  [--shard K/N] [--similarity REPORT.json]
    rnnbook-grade merge PART.json... [--json FILE] [--csv FILE] [--root DIR]...
                  [course options as above]

A folder given as SUBMISSION stands for every file below it, in
per-student subfolders too (the layout LMS downloads use); a file that
is not a notebook is graded as "not a notebook", never skipped in
silence. The table of results goes to standard output, progress to
standard error. ``--csv`` writes one gradebook per exercise (see
:mod:`rnnbook.grading.course`), ``--feedback`` one page per submission
(:mod:`rnnbook.grading.feedback`). The exit
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
from .report import merge_reports, to_json, to_table, write_atomic, write_gradebooks

__all__ = ["main"]


def _folder_files(folder: Path) -> list[str]:
    """Every file below ``folder``, except hidden ones and Jupyter's checkpoints."""
    found = []
    for q in sorted(folder.rglob("*")):
        rel = q.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):
            continue
        if q.is_file():
            found.append(str(q))
    return found


def _expand(paths, parser) -> list[str]:
    out, missing = [], []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = _folder_files(path)
            if not found:
                parser.error(f"no files in the folder {p}")
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
    """``rnnbook-grade merge PART.json...``: join the reports of the shards.

    The gradebooks are built from the joined report exactly as a run on one
    machine builds them, so the course options (roster, deadline, ...) are
    given here, and ``--root`` names the folders that were graded (the
    SUBMISSION folders of the shard runs).
    """
    parser = argparse.ArgumentParser(
        prog="rnnbook-grade merge",
        description="Join the JSON reports of a run split with --shard into one report "
                    "and the gradebooks a run on one machine would write.")
    parser.add_argument("parts", nargs="+", metavar="PART.json")
    parser.add_argument("--json", metavar="FILE", help="write the joined JSON report to FILE")
    parser.add_argument("--csv", metavar="FILE", help="write the gradebooks to FILE "
                                                       "(one per exercise, as when grading)")
    parser.add_argument("--root", action="append", default=[], metavar="DIR",
                        help="a folder the shards graded (repeatable), for matching files "
                             "to students")
    parser.add_argument("--quiet", "-q", action="store_true", help="no table")
    _add_course_arguments(parser)
    args = parser.parse_args(argv)
    course = _course_options(args, parser)
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
    for out in (args.json, args.csv, args.feedback):
        if out and not Path(out).resolve().parent.is_dir():
            parser.error(f"cannot write {out}: its folder does not exist")
    args.submissions = args.root
    _write_reports(args, course, reports, None)
    if not args.quiet:
        print(f"\n{len(reports)} report(s) from {len(parts)} part(s)", file=sys.stderr)
    return 0


def _write_similarity(args, paths, log) -> None:
    from .similarity import find_similar, write_similarity_report

    kwargs = {} if args.similarity_threshold is None else \
        {"threshold": args.similarity_threshold}
    result = find_similar(paths, **kwargs)
    _, html_path = write_similarity_report(result, args.similarity)
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
    _add_course_arguments(parser)
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
    for out in (args.json, args.csv, args.feedback, args.similarity):
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
            progress=_progress_printer(sys.stderr, args.quiet), log=log,
            exercise=args.exercise)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_reports(args, course, reports, elapsed: float | None) -> None:
    books = _course_outputs(args, course, reports)
    if args.json:
        write_atomic(args.json, to_json(reports))
    if not args.quiet:
        sys.stdout.write(to_table(reports))
        _print_gradebook_summary(books, args)
        if elapsed is not None:
            print(f"\n{len(reports)} submission(s) graded in {elapsed:.1f} s",
                  file=sys.stderr)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    parser = _build_parser()
    args = parser.parse_args(argv)
    course = _course_options(args, parser)
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
    _write_reports(args, course, reports, time.monotonic() - start)
    return 0


# --------------------------------------------------------------------------
# Course options: exercise override, roster, deadline, feedback files
# --------------------------------------------------------------------------

def _add_course_arguments(parser) -> None:
    group = parser.add_argument_group(
        "course", "the gradebook of a class: who handed in what, deadlines, feedback")
    group.add_argument("--exercise", metavar="ID",
                       help="grade every submission as this exercise (for notebooks whose "
                            "metadata was lost), e.g. 04_lstm")
    group.add_argument("--roster", metavar="FILE",
                       help="CSV with student_id, name and optionally submission (file or "
                            "folder name, or a pattern), submitted_at, login, section, lms_id; "
                            "the gradebook then has one row per student")
    group.add_argument("--deadline", metavar="TIME",
                       help="ISO 8601 time, UTC unless an offset is given "
                            "(e.g. 2026-03-01T23:59); later submissions lose points")
    group.add_argument("--late-penalty", type=float, default=10.0, metavar="PCT",
                       help="percent of the points lost per started day late (default: 10)")
    group.add_argument("--late-cutoff", type=float, default=7.0, metavar="DAYS",
                       help="more days late than this score 0 (default: 7)")
    group.add_argument("--feedback", metavar="DIR",
                       help="write one HTML and one Markdown feedback page per submission "
                            "into DIR/<student>/<exercise>.html|.md")


def _course_options(args, parser) -> dict:
    from .course import LatePolicy, RosterError, parse_time, read_roster
    from .questions import EXERCISES

    if args.exercise is not None and args.exercise not in EXERCISES:
        parser.error(f"--exercise: unknown exercise {args.exercise!r}; known: "
                     + ", ".join(EXERCISES))
    if not 0 <= args.late_penalty <= 100 or args.late_cutoff < 0:
        parser.error("--late-penalty must be between 0 and 100 and --late-cutoff >= 0")
    deadline = None
    if args.deadline:
        try:
            deadline = parse_time(args.deadline)
        except ValueError as exc:
            parser.error(f"--deadline: {exc}")
    roster = None
    if args.roster:
        try:
            roster = read_roster(args.roster)
        except RosterError as exc:
            parser.error(str(exc))
    if args.feedback:
        Path(args.feedback).mkdir(parents=True, exist_ok=True)
    return {"roster": roster,
            "policy": LatePolicy(deadline, args.late_penalty, args.late_cutoff)}


def _course_outputs(args, course, reports) -> dict:
    """Build the gradebooks, write the CSV files and the feedback pages."""
    from .course import gradebooks

    books = gradebooks(reports, roster=course["roster"], roots=[
        p for p in args.submissions if Path(p).is_dir()], policy=course["policy"],
        exercise=args.exercise)
    if course["roster"] is not None:
        # The JSON report names the student of each graded file.
        for rows in books.values():
            for row in rows:
                if row.report is not None and row.student_id:
                    row.report["student"] = {"id": row.student_id, "name": row.name,
                                             "days_late": row.days_late,
                                             "points": row.points}
    if args.csv:
        write_gradebooks(books, args.csv)
    if args.feedback:
        from .feedback import write_feedback
        write_feedback(books, args.feedback)
    return books


def _print_gradebook_summary(books, args) -> None:
    if args.roster is None and not args.deadline:
        return
    for ex, rows in books.items():
        print(f"\n{ex}: one row per student", file=sys.stdout)
        for row in rows:
            who = f"{row.student_id} {row.name}".strip() or row.submission
            print(f"  {who:<30} {row.points:>6g}/{row.max_score:<4} {row.status}")


if __name__ == "__main__":
    sys.exit(main())
