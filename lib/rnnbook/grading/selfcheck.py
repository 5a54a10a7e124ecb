"""The self-check students run inside their notebook.

``check("rnn_step_forward", rnn_step_forward)`` calls the student's
function on fresh random inputs, compares the results with the library's
reference in the same process and prints what is wrong in plain words,
or a short note of success. It uses exactly the questions, harness and
comparison of the grader, and the grader's rule about the library: while
the student's function runs, the library's implementations of the graded
functions are swapped for stand-ins that fail, as they are in a grading
kernel, wherever the import is written (at the top of the notebook or
inside the function). A function that leans on them therefore gets here
the score it would get when graded, with a note that names the call.
"""

from __future__ import annotations

import contextlib
import dis
import importlib
import sys
import types

import numpy as np

from . import _harness
from .questions import EXERCISES, QUESTIONS, QuestionResult, score_question

__all__ = ["check", "run_check", "uses_reference", "blocked_for", "given_functions",
           "BLOCKED"]

#: Functions that are not available inside a grading kernel, by module:
#: "*" means every function and class of the module.
BLOCKED = {
    "rnnbook.nn.rnn": "*",
    "rnnbook.nn.lstm": "*",
    "rnnbook.nn.gru": "*",
    "rnnbook.nn.kernels": "*",
    "rnnbook.grading.references": "*",
    "rnnbook.train.optim": ("clip_grad_norm", "grad_norm"),
    "rnnbook.nn.activations": ("softmax", "log_softmax"),
    # -- Part III exercises (bidirectional layer, beam search, attention) --
    "rnnbook.nn.attention": "*",
    "rnnbook.nn.sequence": ("bidirectional_forward", "bidirectional_backward",
                            "reverse_within_lengths", "_reverse_index"),
    "rnnbook.nn.seq2seq": ("Seq2Seq",),
}

#: Graded functions that an exercise hands to the student as working code.
#: The bidirectional layer is built from the one-directional RNN, so its
#: grading kernel keeps the library's ``rnn_forward`` and ``rnn_backward``
#: (and what they use); every other exercise's kernel, those that grade the
#: RNN among them, still has them stubbed.
GIVEN = {
    # The readable sequence functions (and the fused kernels the library's own
    # one-directional wrapper runs on) are the given one-directional cell.
    "06_bidirectional": ("rnn_forward", "rnn_backward", "rnn_forward_fast",
                         "rnn_backward_fast", "_stacked_rows", "_stacked_row_grads"),
}


def given_functions(exercise: str | None) -> set[str]:
    """Graded functions of other exercises that ``exercise`` uses as given.

    A backward question consumes the cache of a forward function; when that
    forward is graded in another exercise, the notebook imports it from
    the library and the grader leaves it available for that exercise. An
    exercise may also be handed working code outright (``GIVEN``).
    """
    if exercise not in EXERCISES:
        return set()
    own = {q.name for q in EXERCISES[exercise]}
    given = {q.forward for q in EXERCISES[exercise] if q.forward and q.forward not in own}
    return given | (set(GIVEN.get(exercise, ())) - own)


def module_members(mod) -> list[str]:
    """Names of the functions and classes defined in the module ``mod`` itself."""
    return [n for n, v in vars(mod).items()
            if not n.startswith("__") and isinstance(v, (types.FunctionType, type))
            and getattr(v, "__module__", None) == mod.__name__]


def needed_by(mod, roots) -> set[str]:
    """Module members that the functions ``roots`` use, directly or through each other."""
    members = set(module_members(mod))
    todo, seen = list(roots), set()
    while todo:
        n = todo.pop()
        if n in seen or n not in members:
            continue
        seen.add(n)
        obj = getattr(mod, n)
        codes = [obj.__code__] if isinstance(obj, types.FunctionType) else [
            v.__code__ for v in vars(obj).values() if isinstance(v, types.FunctionType)]
        codes += [v.fget.__code__ for v in vars(obj).values() if isinstance(v, property)
                  and v.fget is not None] if isinstance(obj, type) else []
        for base in getattr(obj, "__mro__", ())[1:]:
            todo.append(base.__name__)
        for code in codes:
            for co in _code_objects(code):
                todo += [m for m in co.co_names if m in members]
    return seen


def blocked_for(exercise: str | None = None) -> dict[str, list[str]]:
    """Module name -> names unavailable while a notebook of ``exercise`` is graded.

    The table :data:`BLOCKED` with "*" expanded to every function and class
    of the module (private helpers too: they may hold the answer), less
    the functions the exercise is given (:func:`given_functions`) and what
    those use, unless it is graded in the exercise itself. ``None`` blocks
    everything.
    """
    given = given_functions(exercise)
    own = {q.name for q in EXERCISES.get(exercise, ())}
    out = {}
    for mod_name, names in BLOCKED.items():
        mod = importlib.import_module(mod_name)
        names = module_members(mod) if names == "*" else list(names)
        keep = needed_by(mod, [g for g in given if hasattr(mod, g)]) - own
        out[mod_name] = [n for n in names if n not in keep]
    return out


def _blocked_objects(exercise=None) -> tuple[dict, dict]:
    """(id of blocked object -> dotted name, module name -> blocked attribute names)."""
    objects, modules = {}, {}
    for mod_name, names in blocked_for(exercise).items():
        mod = importlib.import_module(mod_name)
        modules[mod_name] = set(names)
        for n in names:
            objects[id(getattr(mod, n))] = f"{mod_name}.{n}"
    return objects, modules


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


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


def _code_facts(code) -> tuple[set, set, list]:
    """(names used, string constants, imports) of ``code`` and the code nested in it.

    ``imports`` lists ``(module, [from-names])`` for every ``import`` and
    ``from ... import`` statement, wherever it is written.
    """
    names, strings, imports = set(), set(), []
    for co in _code_objects(code):
        names |= set(co.co_names) | set(co.co_freevars)
        strings |= {c for c in co.co_consts if isinstance(c, str) and len(c) < 200}
        current = None
        for ins in dis.get_instructions(co):
            if ins.opname == "IMPORT_NAME":
                current = (ins.argval, [])
                imports.append(current)
            elif ins.opname == "IMPORT_FROM" and current is not None:
                current[1].append(ins.argval)
    return names, strings, imports


def uses_reference(fn, exercise: str | None = None) -> list[str]:
    """Names of blocked library functions that ``fn`` refers to (best effort).

    Looks at the global names the function's code uses, at attributes
    taken from library modules (``rnn.rnn_step_forward``), at ``import``
    statements anywhere in the function's body, and at module names and
    function names written as strings (``importlib.import_module``).
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    objects, modules = _blocked_objects(exercise)
    glb = dict(getattr(fn, "__globals__", {}))
    # Names the function closes over (defined in an enclosing function).
    for var, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            glb[var] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    names, strings, imports = _code_facts(code)
    used = names | strings
    found = []
    if id(fn) in objects:
        found.append(objects[id(fn)])
    mentioned = set()  # library modules the code reaches
    for n in sorted(names):
        obj = glb.get(n)
        if obj is None:
            continue
        if id(obj) in objects and not isinstance(obj, types.ModuleType):
            found.append(objects[id(obj)])
        if isinstance(obj, types.ModuleType):
            mentioned.add(obj.__name__)
            mentioned |= {v.__name__ for v in vars(obj).values()
                          if isinstance(v, types.ModuleType)}
    for module, from_names in imports:
        if not module:
            continue
        mentioned.add(module)
        mentioned |= {f"{module}.{a}" for a in from_names}
        for a in from_names:
            obj = getattr(sys.modules.get(module), a, None)
            if obj is not None and id(obj) in objects:
                found.append(objects[id(obj)])
    mentioned |= {s for s in strings if s in modules}
    # Through a subpackage too: ``nn.rnn.rnn_forward``, ``nn.softmax``.
    for name in list(mentioned):
        if sys.modules.get(name) is not None:
            mentioned |= {m.__name__ for m in _library_modules_under(sys.modules[name])}
    for mod_name in mentioned:
        for attr in modules.get(mod_name, ()):
            if attr in used:
                found.append(f"{mod_name}.{attr}")
    return sorted(set(found))


def _unavailable(dotted: str):
    def stand_in(*args, **kwargs):
        raise RuntimeError(f"{dotted} is not available while a notebook is graded: "
                           f"the exercise is to write it yourself")
    stand_in.__name__ = dotted.rsplit(".", 1)[-1]
    return stand_in


@contextlib.contextmanager
def _as_while_grading(namespaces, exercise):
    """Swap the blocked library functions for failing stand-ins, as a grading kernel has.

    The module attributes are replaced (so an import inside a function
    gets the stand-in, and library code calling them fails too), and so
    are names in ``namespaces`` (the notebook's globals) that hold one.
    """
    saved = []
    objects, _ = _blocked_objects(exercise)
    stand_ins = {}
    try:
        for mod_name, names in blocked_for(exercise).items():
            mod = importlib.import_module(mod_name)
            for n in names:
                dotted = f"{mod_name}.{n}"
                stand_ins[dotted] = _unavailable(dotted)
                saved.append((vars(mod), n, getattr(mod, n)))
                setattr(mod, n, stand_ins[dotted])
        # Other library modules that imported a graded function (a package's
        # __init__ re-exporting it, a model built on it) get the stand-in too.
        library = [vars(m) for k, m in list(sys.modules.items())
                   if (k == "rnnbook" or k.startswith("rnnbook.")) and m is not None
                   and not k.startswith("rnnbook.grading")]
        for ns in [*library, *namespaces]:
            for n, v in list(ns.items()):
                dotted = objects.get(id(v))
                if dotted is not None and not isinstance(v, types.ModuleType):
                    saved.append((ns, n, v))
                    ns[n] = stand_ins[dotted]
        yield
    finally:
        for ns, n, v in reversed(saved):
            ns[n] = v


def run_check(name: str, fn, forward=None, rng=None, as_graded: bool = True) -> QuestionResult:
    """Check ``fn`` as the grader would and return the :class:`~rnnbook.grading.questions.QuestionResult`.

    Args:
        name: the graded function's name, e.g. ``"lstm_step_backward"``.
        fn: the student's function.
        forward: for a backward function, the student's matching forward
            function (its cache is what the backward consumes).
        rng: numpy Generator for the random inputs; fresh entropy if None.
        as_graded: call ``fn`` with the library's graded functions
            unavailable, as in a grading kernel (the default), so that the
            score is the one the grader would give.
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
    namespaces = []
    for f in (fn, forward):
        g = getattr(f, "__globals__", None)
        if isinstance(g, dict) and all(g is not n for n in namespaces):
            namespaces.append(g)
    if as_graded:
        # ``ns`` too: a function that is itself the library's is a stand-in there.
        with _as_while_grading([ns, *namespaces], question.exercise):
            out_arrays, meta = _harness.run_question(ns, manifest, arrays)
    else:
        out_arrays, meta = _harness.run_question(ns, manifest, arrays)
    # The reference runs after the library is back in place.
    expected = [question.reference(case) for case in cases]
    return score_question(question, cases, expected, out_arrays, meta)


def _report(result: QuestionResult, warned: list[str], forward: str | None = None) -> str:
    lines = []
    # The warning comes first: it explains the score below.
    for ref in warned:
        lines.append(f"Warning: {result.name} calls {ref}, the library's own version. It is "
                     f"not available while your notebook is graded, so that call fails "
                     f"there and here; write the computation yourself.")
    if result.score == result.max_score and not warned:
        lines.append(f"Well done: {result.name} passes every check "
                     f"({result.max_score}/{result.max_score} points).")
    elif result.score == result.max_score:
        lines.append(f"{result.name} passes the checks ({result.max_score}/"
                     f"{result.max_score} points) without using the library's version.")
    elif result.feedback == "not implemented yet":
        lines.append(f"{result.name} is not implemented yet: replace "
                     f"'raise NotImplementedError()' with your code.")
    else:
        lines.append(f"{result.name}: {result.score}/{result.max_score} points, as the "
                     f"grader would give.")
        for part in result.messages:
            lines.append(f"  - {part}")
        if result.passed:
            lines.append("  Passing: " + ", ".join(result.passed) + ".")
        if forward:
            lines.append(f"  This check runs your {forward} to get the cache; if its own "
                         f"check fails, fix that first.")
    return "\n".join(lines)


def check(name: str, fn, forward=None) -> None:
    """Check your implementation of ``name`` and print what is right or wrong.

    The function is called on fresh random inputs of several shapes and its
    outputs are compared with the library's reference; the printout names
    the output, the shapes of the inputs and the size of the largest
    error, never the expected numbers. The points are the ones the grader
    would give for these inputs: the library's own versions of the graded
    functions are switched off while your function runs, as when graded.

    Args:
        name: the function's name, e.g. ``"rnn_step_forward"``.
        fn: your function.
        forward: for a backward function, your forward function, whose
            cache the backward consumes.
    """
    result = run_check(name, fn, forward)
    exercise = QUESTIONS[name].exercise
    warned = uses_reference(fn, exercise)
    if forward is not None:
        warned += [r for r in uses_reference(forward, exercise) if r not in warned]
    print(_report(result, warned, QUESTIONS[name].forward))
