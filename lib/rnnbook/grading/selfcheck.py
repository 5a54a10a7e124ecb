"""The self-check students run inside their notebook.

``check("rnn_step_forward", rnn_step_forward)`` calls the student's
function on fresh random inputs, compares the results with the library's
reference in the same process and prints what is wrong in plain words,
or a short note of success. It uses exactly the questions, harness and
comparison of the grader, so a function that passes here passes there --
unless it leans on the library's own implementation of a graded function,
which is not available while grading; the check warns about that too.
"""

from __future__ import annotations

import types

import numpy as np

from . import _harness
from .questions import QUESTIONS, QuestionResult, score_question

__all__ = ["check", "run_check", "uses_reference"]

#: Functions that are not available inside a grading kernel, by module:
#: "*" means every function and class of the module.
BLOCKED = {
    "rnnbook.nn.rnn": "*",
    "rnnbook.nn.lstm": "*",
    "rnnbook.nn.gru": "*",
    "rnnbook.grading.references": "*",
    "rnnbook.train.optim": ("clip_grad_norm", "grad_norm"),
    "rnnbook.nn.activations": ("softmax", "log_softmax"),
}


def _blocked_objects() -> tuple[dict, dict]:
    """(id of blocked object -> dotted name, id of module -> blocked attribute names)."""
    import importlib

    objects, modules = {}, {}
    for mod_name, names in BLOCKED.items():
        mod = importlib.import_module(mod_name)
        if names == "*":
            names = [n for n, v in vars(mod).items()
                     if isinstance(v, (types.FunctionType, type))
                     and getattr(v, "__module__", None) == mod_name]
            objects[id(mod)] = mod_name
        modules[id(mod)] = set(names)
        for n in names:
            objects[id(getattr(mod, n))] = f"{mod_name}.{n}"
    return objects, modules


def _code_names(code, seen=None) -> set:
    """Every global or attribute name used by ``code`` and the code nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _library_modules_under(mod, depth: int = 3) -> list:
    """``mod`` and the library modules reachable from it as attributes.

    A reference may be reached through a subpackage, e.g.
    ``rnnbook.nn.rnn.rnn_forward`` or ``nn.softmax``, so the walk goes a few
    levels down (the library is never nested deeper).
    """
    found, frontier = {id(mod): mod}, [mod]
    for _ in range(depth):
        nxt = []
        for m in frontier:
            for v in vars(m).values():
                if (isinstance(v, types.ModuleType) and id(v) not in found
                        and v.__name__.startswith("rnnbook")):
                    found[id(v)] = v
                    nxt.append(v)
        frontier = nxt
    return list(found.values())


def uses_reference(fn) -> list[str]:
    """Names of blocked library functions that ``fn`` refers to (best effort).

    Looks at the global names the function's code uses and at attributes
    taken from library modules, e.g. ``rnn.rnn_step_forward`` or
    ``rnnbook.nn.activations.softmax``.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    objects, modules = _blocked_objects()
    glb = dict(getattr(fn, "__globals__", {}))
    # Names the function closes over (defined in an enclosing function).
    for var, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            glb[var] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    names = _code_names(code) | set(code.co_freevars)
    found = []
    if id(fn) in objects:
        found.append(objects[id(fn)])
    for n in sorted(names):
        obj = glb.get(n)
        if obj is None:
            continue
        if id(obj) in objects and not isinstance(obj, types.ModuleType):
            found.append(objects[id(obj)])
        if isinstance(obj, types.ModuleType):
            for mod in _library_modules_under(obj):
                for attr in modules.get(id(mod), ()):
                    if attr in names:
                        found.append(f"{mod.__name__}.{attr}")
    return sorted(set(found))


def run_check(name: str, fn, forward=None, rng=None) -> QuestionResult:
    """Check ``fn`` as the grader would and return the :class:`~rnnbook.grading.questions.QuestionResult`.

    Args:
        name: the graded function's name, e.g. ``"lstm_step_backward"``.
        fn: the student's function.
        forward: for a backward function, the student's matching forward
            function (its cache is what the backward consumes).
        rng: numpy Generator for the random inputs; fresh entropy if None.
    """
    if name not in QUESTIONS:
        known = ", ".join(sorted(QUESTIONS))
        raise ValueError(f"there is no graded function called {name!r}; known: {known}")
    question = QUESTIONS[name]
    if question.forward and forward is None:
        raise ValueError(f"{name} needs its forward function too: "
                         f"check({name!r}, {name}, forward={question.forward})")
    rng = np.random.default_rng() if rng is None else rng
    cases = question.make_cases(rng)
    manifest, arrays = question.manifest(cases)
    ns = {name: fn}
    if question.forward:
        ns[question.forward] = forward
    out_arrays, meta = _harness.run_question(ns, manifest, arrays)
    expected = [question.reference(case) for case in cases]
    return score_question(question, cases, expected, out_arrays, meta)


def _report(result: QuestionResult, warned: list[str], forward: str | None = None) -> str:
    lines = []
    if result.score == result.max_score:
        lines.append(f"Well done: {result.name} passes every check "
                     f"({result.max_score}/{result.max_score} points).")
    elif result.feedback == "not implemented yet":
        lines.append(f"{result.name} is not implemented yet: replace "
                     f"'raise NotImplementedError()' with your code.")
    else:
        lines.append(f"{result.name}: {result.score}/{result.max_score} points so far.")
        for part in result.messages:
            lines.append(f"  - {part}")
        if result.passed:
            lines.append("  Passing: " + ", ".join(result.passed) + ".")
        if forward:
            lines.append(f"  This check runs your {forward} to get the cache; if its own "
                         f"check fails, fix that first.")
    for ref in warned:
        lines.append(f"  Warning: it calls {ref}, the library's own version. That is not "
                     f"available while your notebook is graded, so it would earn no points "
                     f"there. Write the computation yourself.")
    return "\n".join(lines)


def check(name: str, fn, forward=None) -> None:
    """Check your implementation of ``name`` and print what is right or wrong.

    The function is called on fresh random inputs of several shapes and its
    outputs are compared with the library's reference; the printout names
    the output, the shapes of the inputs and the size of the largest
    error, never the expected numbers.

    Args:
        name: the function's name, e.g. ``"rnn_step_forward"``.
        fn: your function.
        forward: for a backward function, your forward function, whose
            cache the backward consumes.
    """
    result = run_check(name, fn, forward)
    warned = uses_reference(fn)
    if forward is not None:
        warned += [r for r in uses_reference(forward) if r not in warned]
    print(_report(result, warned, QUESTIONS[name].forward))
