"""Graded exercises: self-checks for students, a grader for instructors.

Students call :func:`check` in their notebook::

    from rnnbook.grading import check
    check("rnn_step_forward", rnn_step_forward)

Instructors grade a folder of notebooks with the console script
``rnnbook-grade`` (:mod:`rnnbook.grading.cli`) or from Python with
:func:`~rnnbook.grading.runner.grade_submissions`. Exercise notebooks are generated from the
solutions with ``rnnbook-exercises`` (:mod:`rnnbook.grading.generate`).
The questions, their points and checks are registered in
:mod:`rnnbook.grading.questions`.

**Threat model.** A submission is untrusted code. The grader assumes a
student may try to earn points without writing the functions, and defends
as follows.

*What decides the score.* Only the arrays that the student's functions
return when the grader calls them, after the notebook has run, on inputs
drawn at that moment from ``os.urandom`` in the grader's process. The
comparison with the reference runs in the grader's process, with the
library modules it imported at start-up, and the reference outputs are
computed after the kernel is gone and are never written to disk. Nothing
the notebook prints or displays is read, so a printed "score", patched
``numpy`` or ``builtins``, IPython hooks, input transformers and a
monkeypatched harness can only spoil the student's own outputs. Returned
values are converted in the kernel to fresh float64 arrays of the plain
ndarray type (subclasses and objects with a custom ``__eq__`` do not
survive), the file is checked (regular file, size caps, no pickles:
``allow_pickle=False``) and every piece of text that comes back is
shortened and cleaned before it reaches a report. Files the grader itself
writes into the kernel's directory get unpredictable names and are created
exclusively, never through a link.

*Calling the reference.* Inside the grading kernel the library's
implementations of the graded functions are replaced by stubs that raise
``RuntimeError`` (a stub copy of the package comes first on
``PYTHONPATH``; in the sandbox it is also mounted over the real package,
whose source is then unreadable). A submission that calls
``rnnbook.nn.rnn.rnn_step_forward`` therefore earns nothing for that question.
The self-check swaps the same functions for failing stand-ins while the
student's function runs, wherever the import is written, so it reports the
points the grader would give, and warns first about every such call. An
exercise that builds on another one's function (exercise 2 on the forward
pass of exercise 1) gets a stub copy in which that function works.

*Isolation.* Each submission runs in its own kernel, started by the same
Python as the grader in a fresh temporary directory with a clean
environment, a per-cell time limit (a cell that runs too long is
interrupted and the rest continue), a total time limit, and limits on
memory and file size. When unprivileged Linux namespaces work (checked at
start), the kernel runs in new user, pid, mount and network namespaces:
it has no network, cannot see, signal or trace the grader or other
kernels, sees the whole file system read-only, and sees empty directories
in place of the project (solutions, repository history, library source),
the submissions' folders, the grader's scratch space, temporary and home
directories and ``/run``. The confined root is entered with
``pivot_root`` (no ``chroot`` to escape from) and the mounts are locked
by one more user namespace, so root inside the sandbox can neither
unmount a cover nor make a mount writable. Without namespaces the grader
says so and falls back to a process group per kernel.

*Resources.* Each submission has a budget of CPU time, memory, processes
and threads, file size and output, for its kernel and all its descendants
together (:mod:`rnnbook.grading.limits`): a cgroup per kernel where the
machine allows it, per-process rlimits and polling of the process tree
otherwise. Going over a limit stops the submission with a reason such as
"used more than 2 GiB of memory in question 3 (lstm_forward)".

*Cleanup and files.* Submissions are read into memory before any kernel
starts. At the end of each submission its cgroup is killed, and its
process tree: in the sandbox the whole pid namespace, without it the tree
below the launcher, which stays above the kernel as a subreaper so that
daemons and double forks remain its descendants; processes carrying the
kernel's environment marker are killed too. ``setpriv --pdeathsig`` (when
installed) and the launcher's own parent-death signal tie each kernel and
its descendants to the grader's life, and ``Ctrl-C``, SIGTERM and an
``atexit`` hook kill every kernel still running. The SHA-256 of
every file of the installed package (and of the start-up files of
``site-packages``: ``*.pth``, ``sitecustomize.py``) is recorded at start
and checked after each submission: a submission that changed them gets 0
with the reason "modified the rnnbook library files" and the files are
restored from memory. With several kernels at once, every submission that
ran since the last clean check is blamed, since the change cannot be
pinned on one of them.

*Not covered.* Without namespaces (``--sandbox off`` or an unsupported
system), a kernel runs with the grader's user id (or, for a root grader,
an unprivileged one that may still read every file): it can read the
solutions and the library source by its path, and could signal a grader
running as the same user; use the sandbox for real grading. Inside the sandbox,
files outside the hidden directories stay readable, and a notebook could
smuggle a line of such text into its own feedback through an exception
message; run the grader as a user without secrets and hide more with
``--hide``. Network and disk bandwidth are not limited. Code copied from
a classmate is measured, not judged: ``--similarity``
(:mod:`rnnbook.grading.similarity`) lists pairs of submissions whose own
code is too close, for a person to look at.
"""

from .selfcheck import check, run_check, uses_reference

__all__ = ["check", "run_check", "uses_reference", "grade_submissions", "EXERCISES"]


def __getattr__(name):
    # The grader pulls in jupyter_client and zmq; a student's self-check
    # does not need them, so they load only when asked for.
    if name == "grade_submissions":
        from .runner import grade_submissions
        return grade_submissions
    if name == "EXERCISES":
        from .questions import EXERCISES
        return EXERCISES
    raise AttributeError(f"module 'rnnbook.grading' has no attribute {name!r}")
