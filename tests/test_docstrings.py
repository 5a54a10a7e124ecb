"""The API reference gives one entry per returned value.

Every public function, method and class of the library has a Google-style
docstring; the API pages render its ``Returns:``, ``Yields:`` and
``Attributes:`` sections as lists, one item per entry. Two mistakes make
those lists hard to read, and this file catches both, module by module:

* one item that names several values (``dx: (N, D).  dh_prev: (N, H).``,
  or ``h, c: (N, H)``), which the page shows as one run-on entry;
* a function that returns (or yields) a tuple but documents it as a
  single item, so a reader cannot tell what each element is.

The parser is small on purpose: a section is a line ``Name:`` alone, its
items are the lines one indentation step in, and deeper lines continue the
item above them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
import typing
from pathlib import Path

import pytest

import rnnbook

PACKAGE = Path(rnnbook.__file__).resolve().parent

#: Sections whose items are values (one entry each).
VALUE_SECTIONS = ("Returns", "Yields", "Attributes")
SECTION = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Z][A-Za-z ]*):\s*$")
#: The head of an item: one or more names (``dx`` or ``h, c``), then a colon.
ITEM_HEAD = re.compile(r"^(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*"
                       r"(?:\([^)]*\))?:\s")
#: A further ``name:`` that starts a new sentence inside an item (a capitalised
#: English word such as ``Shape:`` or ``Note:`` is prose, not a value's name).
LATER_NAME = re.compile(r"(?:[.;]\s+)(?![A-Z][a-z]{2,}\b)(?P<name>[A-Za-z_]\w*)\s*"
                        r"(?:\([^)]*\))?:\s")


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            continue
        if parts[-1].startswith("_"):  # private modules are not on the API pages
            continue
        names.append(".".join(parts))
    return names


def sections(doc: str) -> dict[str, list[str]]:
    """Section name -> its items, each item's lines joined by spaces."""
    lines = inspect.cleandoc(doc).splitlines()
    found: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        m = SECTION.match(lines[i])
        if not m:
            i += 1
            continue
        base = len(m["indent"])
        items: list[str] = []
        item_indent = None
        i += 1
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            indent = len(line) - len(line.lstrip())
            if indent <= base:
                break
            if item_indent is None or indent <= item_indent:
                item_indent = indent
                items.append(line.strip())
            else:
                items[-1] += " " + line.strip()
            i += 1
        found[m["name"]] = items
    return found


def packed_items(doc: str) -> list[str]:
    """The items of value sections that name more than one value."""
    bad = []
    for name, items in sections(doc).items():
        if name not in VALUE_SECTIONS:
            continue
        for item in items:
            head = ITEM_HEAD.match(item)
            names = [n.strip() for n in head["names"].split(",")] if head else []
            if head:
                names += [m["name"] for m in LATER_NAME.finditer(item[head.end():])]
            if len(names) > 1:
                bad.append(f"{name}: {item[:70]!r} names {names}")
    return bad


def _own_nodes(func: ast.AST):
    """The nodes of a function body, without those of functions defined in it."""
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                             ast.ClassDef)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _return_hint(obj):
    try:
        return typing.get_type_hints(obj).get("return")
    except Exception:  # an annotation that does not resolve says nothing
        return None


def _named_tuple(hint) -> bool:
    return (isinstance(hint, type) and issubclass(hint, tuple)
            and hasattr(hint, "_fields"))


def _annotation_length(obj) -> int | None:
    """Elements of a ``tuple[...]`` or NamedTuple return annotation, when it has one."""
    hint = _return_hint(obj)
    if hint is None:
        return None
    if _named_tuple(hint):
        return len(hint._fields)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args and args[-1] is not Ellipsis:
            return len(args)
    return None


def tuple_lengths(obj) -> dict[str, set[int]]:
    """"Returns" / "Yields" -> lengths of the tuples the function gives back."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source).body[0]
    found: dict[str, set[int]] = {}
    for node in _own_nodes(tree):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            found.setdefault("Returns", set()).add(len(node.value.elts))
        elif isinstance(node, ast.Yield) and isinstance(node.value, ast.Tuple):
            found.setdefault("Yields", set()).add(len(node.value.elts))
    n = _annotation_length(obj)
    if n is not None and n > 1:
        found.setdefault("Returns", set()).add(n)
    return found


#: A field declared with a ``#:`` comment before it or after it on its line.
FIELD_COMMENT = re.compile(r"^\s*#:.*\n\s*(?P<before>\w+)\s*:"
                           r"|^\s*(?P<after>\w+)\s*:.*#:", re.MULTILINE)


def field_entries_missing(cls) -> list[str]:
    """Fields of a named tuple with no entry of their own on the API page.

    A field has one when the class's Attributes: section lists it or when
    its declaration carries a ``#:`` comment (autodoc's attribute docs; for
    a named tuple the two would show each field twice).
    """
    listed = set()
    for item in sections(cls.__doc__ or "").get("Attributes", []):
        head = ITEM_HEAD.match(item)
        if head:
            listed.update(n.strip() for n in head["names"].split(","))
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    for m in FIELD_COMMENT.finditer(source):
        listed.add(m["before"] or m["after"])
    return [f for f in cls._fields if f not in listed]


def single_item_tuples(obj) -> list[str]:
    """Tuple results documented as one item (or not documented).

    A named tuple may be one item that names its class, when the class's
    Attributes: section gives each field its own entry (the API page links
    the two).
    """
    bad = []
    found = sections(obj.__doc__ or "")
    hint = _return_hint(obj)
    for name, lengths in tuple_lengths(obj).items():
        items = found.get(name)
        if items is None:
            bad.append(f"returns a tuple of {sorted(lengths)} "
                       f"but has no {name}: section")
        elif len(items) < 2:
            if name == "Returns" and _named_tuple(hint) and hint.__name__ in items[0]:
                missing = field_entries_missing(hint)
                if missing:
                    bad.append(f"returns a {hint.__name__}, whose Attributes: section "
                               f"has no entry for {missing}")
                continue
            bad.append(f"{name}: a tuple of {max(lengths)} values "
                       f"documented as one item")
    return bad


def public_objects(module):
    """(qualified name, object) of each public function, class and method here."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            yield name, obj
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member):
                    yield f"{name}.{attr}", member


def problems(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    bad = []
    for name, obj in public_objects(module):
        for p in packed_items(obj.__doc__ or ""):
            bad.append(f"{name}: {p}")
        if inspect.isfunction(obj):
            for p in single_item_tuples(obj):
                bad.append(f"{name}: {p}")
    return bad


@pytest.mark.parametrize("module_name", _modules())
def test_each_documented_value_has_its_own_entry(module_name):
    bad = problems(module_name)
    assert bad == [], "\n".join(bad)


# -- the checker itself ------------------------------------------------------

PACKED = '''Do a step.

    Args:
        x: (N, D) input.

    Returns:
        dx: (N, D).  dh_prev: (N, H).  dWx: (D, 3H).
'''

PACKED_HEAD = '''A layer.

    Attributes:
        h, c: (N, H) states, the last of each.
        size: number of units;
            continued here: with a colon that is prose.
'''

GOOD = '''Do a step.

    Returns:
        dx: (N, D), gradient of the input.  It is a float64 array.
        dh_prev: (N, H), gradient of the previous state. Shape: as h.
'''


def test_the_parser_reads_items_and_their_continuations():
    found = sections(PACKED_HEAD)
    assert found["Attributes"] == [
        "h, c: (N, H) states, the last of each.",
        "size: number of units; continued here: with a colon that is prose.",
    ]


def test_packed_entries_are_caught():
    assert len(packed_items(PACKED)) == 1
    assert "dh_prev" in packed_items(PACKED)[0]
    # Two names before one colon are two values too; a colon later in prose
    # ("continued here: ...") is not a name.
    bad = packed_items(PACKED_HEAD)
    assert len(bad) == 1 and "['h', 'c']" in bad[0]


def test_one_entry_per_value_passes():
    # "Shape:" after a full stop is a capitalised word, read as prose.
    assert packed_items(GOOD) == []
    assert len(packed_items(GOOD.replace("Shape: as h.", "db: (H,)."))) == 1


def _two_values(x):
    """Split.

    Returns:
        a tuple (x, x).
    """
    return x, x


def _two_values_documented(x):
    """Split.

    Returns:
        first: x.
        second: x again.
    """
    return x, x


def _pairs(n):
    """Pairs.

    Yields:
        i: the index.
        square: its square.
    """
    for i in range(n):
        yield i, i * i


def _named(x) -> tuple[int, int]:
    """Both.

    Returns:
        both.
    """
    def inner():
        return 1, 2, 3
    return inner()[:2]


def test_a_tuple_documented_as_one_item_is_caught():
    assert single_item_tuples(_two_values) == [
        "Returns: a tuple of 2 values documented as one item"]
    assert single_item_tuples(_two_values_documented) == []
    assert single_item_tuples(_pairs) == []
    # An annotation counts; the tuple of a nested function does not.
    assert tuple_lengths(_named) == {"Returns": {2}}
    assert len(single_item_tuples(_named)) == 1


class _Pair(typing.NamedTuple):
    """Two numbers.

    Attributes:
        first: the first.
        second: the second.
    """

    first: int
    second: int


class _Undocumented(typing.NamedTuple):
    """Two numbers."""

    first: int
    second: int


class _Commented(typing.NamedTuple):
    """Two numbers."""

    #: the first.
    first: int
    second: int  #: the second.


def _commented() -> _Commented:
    """Both.

    Returns:
        a :class:`_Commented`.
    """
    return _Commented(1, 2)


def _pair() -> _Pair:
    """Both.

    Returns:
        a :class:`_Pair`.
    """
    return _Pair(1, 2)


def _undocumented() -> _Undocumented:
    """Both.

    Returns:
        an :class:`_Undocumented`.
    """
    return _Undocumented(1, 2)


def test_a_named_tuple_may_be_one_item_when_its_class_lists_the_fields():
    assert single_item_tuples(_pair) == []
    assert single_item_tuples(_commented) == []
    assert single_item_tuples(_undocumented) == [
        "returns a _Undocumented, whose Attributes: section has no entry for "
        "['first', 'second']"]
