"""Library modules with the graded code cut out, for grading kernels and student copies.

:func:`stub_source` rewrites the source of a library module: the
definitions of the named functions and classes are removed from the text
(so their code cannot be read back from the file) and stand-ins with the
same names are appended. The grader's kernels get stand-ins that raise
``RuntimeError`` (:mod:`rnnbook.grading.sandbox`); the student copy made by
``rnnbook-release`` gets ones that raise ``NotImplementedError`` with a
pointer to the exercise (:mod:`rnnbook.grading.release`).
"""

from __future__ import annotations

import ast
import threading

__all__ = ["stub_source"]

# The grader grades several submissions at once on threads, and each builds
# its stub package with ast.parse. CPython 3.11 keeps the depth counter of
# its AST-to-Python conversion per interpreter, not per thread, so two
# parses at once can end in "SystemError: AST constructor recursion depth
# mismatch" (CPython issue gh-106905); this happened to one submission in
# a run of the test suite. One parse at a time avoids it.
_PARSE_LOCK = threading.Lock()

_HELPERS = '''

# --- stand-ins for code that is not part of this copy ---

def _stand_in(name, message, error):
    def stand_in(*args, **kwargs):
        raise error(message)
    stand_in.__name__ = name
    stand_in.__qualname__ = name
    return stand_in


def _stand_in_class(name, message, error):
    def __init__(self, *args, **kwargs):
        raise error(message)
    return type(name, (), {"__init__": __init__, "__doc__": message})

'''


def stub_source(source: str, names, message_of, error: str = "RuntimeError",
                keep_classes: bool = False) -> str:
    """Return ``source`` with the top-level definitions of ``names`` replaced by stand-ins.

    Args:
        source: the module's source text.
        names: function and class names to cut out.
        message_of: function of a name returning the stand-in's error message.
        error: name of the exception the stand-ins raise.
        keep_classes: leave class definitions in place (only functions are cut).

    Returns:
        source: the new source text. Decorators and docstrings of a removed
            definition go with it; everything else of the module is kept.
    """
    names = set(names)
    with _PARSE_LOCK:
        tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut, funcs, classes = [], [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            funcs.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name in names and not keep_classes:
            classes.append(node.name)
        else:
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        cut.append((start, node.end_lineno))
    # Names bound by assignment (``softmax = _softmax``) are redefined by the
    # stand-ins appended below, which come last and so win.
    assigned = [n for n in names if n not in funcs and n not in classes
                and not (keep_classes and _is_class(tree, n))]
    out, pos = [], 0
    for start, stop in sorted(cut):
        out += lines[pos:start]
        pos = stop
    out += lines[pos:]
    text = "".join(out).rstrip("\n") + "\n" + _HELPERS
    for n in sorted(funcs) + sorted(a for a in assigned if _defined(tree, a)):
        text += f"{n} = _stand_in({n!r}, {message_of(n)!r}, {error})\n"
    for n in sorted(classes):
        text += f"{n} = _stand_in_class({n!r}, {message_of(n)!r}, {error})\n"
    return text


def _is_class(tree, name) -> bool:
    return any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body)


def _defined(tree, name) -> bool:
    """Whether the module binds ``name`` at top level other than by def or class."""
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False
