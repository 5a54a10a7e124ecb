"""The package's layout: layers, top-level imports, and what the grader stubs out.

The library is a stack of layers (see the README and the API page)::

    checks  <  nn, datasets, train  <  models  <  interop, book  <  grading

A module may import from its own layer's subpackage and from layers below
it, never from a layer above or from a peer on the same level. The rule is
checked on the import statements themselves (parsed with ``ast``), so a
lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import importlib
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rnnbook

PACKAGE = Path(rnnbook.__file__).resolve().parent

#: Layer of each top-level part of the package; a higher layer may import a lower one.
LAYERS = {
    "checks": 0,
    "nn": 1, "datasets": 1, "train": 1,
    "models": 2,
    "interop": 3, "book": 3,
    "grading": 4,
}
SUBPACKAGES = ["nn", "train", "datasets", "models", "book"]


def _module_name(path: Path, package_dir: Path = PACKAGE) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, package_dir: Path = PACKAGE) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) of every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = _module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((node.lineno, module, [a.name for a in node.names]))
    return found


def module_graph(package_dir: Path = PACKAGE) -> dict[str, list[tuple[int, str, list[str]]]]:
    """Every library module and the library modules it imports."""
    graph = {}
    for path in sorted(package_dir.rglob("*.py")):
        graph[_module_name(path, package_dir)] = [
            (line, mod, names) for line, mod, names in _imports(path, package_dir)
            if mod == "rnnbook" or mod.startswith("rnnbook.")
        ]
    return graph


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_violations(graph) -> list[str]:
    """Imports that go up the stack or sideways to a peer layer."""
    bad = []
    for module, imports in graph.items():
        here = _part(module)
        if here not in LAYERS:
            continue
        for line, target, names in imports:
            targets = [target]
            if target == "rnnbook":  # ``from rnnbook import nn`` names the part
                targets = [f"rnnbook.{n}" for n in names]
            for t in targets:
                there = _part(t)
                if there is None or there == here or there not in LAYERS:
                    continue
                if LAYERS[there] >= LAYERS[here]:
                    bad.append(f"{module} (line {line}) imports {t}: layer "
                               f"{there!r} is not below {here!r}")
    return bad


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert parts == set(LAYERS)


def test_no_module_imports_a_layer_above_or_beside_its_own():
    assert layer_violations(module_graph()) == []


def test_the_layer_rule_catches_an_inverted_import():
    # A synthetic graph with one import of each forbidden kind: the rule
    # must report exactly those and accept the allowed ones.
    graph = {
        "rnnbook.nn.rnn": [(3, "rnnbook.checks", ["Shapes"]), (4, "rnnbook.nn.activations", ["tanh"])],
        "rnnbook.nn.lstm": [(5, "rnnbook.models.language_model", ["init_lm"])],  # up
        "rnnbook.datasets.text": [(6, "rnnbook.train.loop", ["train"])],      # sideways
        "rnnbook.checks": [(7, "rnnbook.nn.rnn", ["rnn_forward"])],           # up
        "rnnbook.book.plots": [(8, "rnnbook", ["interop", "models"])],        # sideways, ok
        "rnnbook.models.tasks": [(9, "rnnbook.datasets", ["adding_problem"])],
    }
    bad = layer_violations(graph)
    assert len(bad) == 4, bad
    assert any("rnnbook.nn.lstm" in b and "rnnbook.models.language_model" in b for b in bad)
    assert any("rnnbook.datasets.text" in b for b in bad)
    assert any(b.startswith("rnnbook.checks") for b in bad)
    assert any("rnnbook.book.plots" in b and "rnnbook.interop" in b for b in bad)


def private_name_imports(package_dir: Path = PACKAGE) -> list[str]:
    """Private names one library module takes from another (private submodules aside).

    Catches ``from rnnbook.x import _name`` and ``mod._name`` where ``mod``
    was bound by an import of a library module.
    """
    bad = []
    for path in sorted(package_dir.rglob("*.py")):
        name = _module_name(path, package_dir)
        tree = ast.parse(path.read_text())
        aliases = {}
        for line, module, names in _imports(path, package_dir):
            if not module.startswith("rnnbook"):
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    is_module = (package_dir.parent / (module.replace(".", "/") + f"/{n}.py")).exists()
                    if not is_module:
                        bad.append(f"{name} (line {line}) imports {module}.{n}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnnbook"):
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("rnnbook"):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                bad.append(f"{name} (line {node.lineno}) uses {aliases[node.value.id]}.{node.attr}")
    return bad


def test_no_module_uses_another_modules_private_names():
    assert private_name_imports() == []


def test_the_private_name_rule_catches_a_private_import(tmp_path):
    pkg = tmp_path / "rnnbook"
    (pkg / "nn").mkdir(parents=True)
    for f in ("__init__.py", "nn/__init__.py", "nn/rnn.py"):
        (pkg / f).write_text("")
    (pkg / "nn" / "_helpers.py").write_text("")
    (pkg / "nn" / "lstm.py").write_text(
        "from rnnbook.nn.rnn import _check_steps\n"
        "from rnnbook.nn import _helpers\n"            # a private module: allowed
        "from rnnbook.nn import rnn as _rnn\n"
        "x = _rnn._fmt(1)\n"
    )
    bad = private_name_imports(pkg)
    assert len(bad) == 2, bad
    assert "_check_steps" in bad[0] and "_fmt" in bad[1]


def test_the_parser_sees_relative_and_lazy_imports(tmp_path):
    pkg = tmp_path / "rnnbook"
    (pkg / "nn").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "nn" / "__init__.py").write_text("")
    (pkg / "nn" / "rnn.py").write_text(
        "from ..models import x\n"
        "def f():\n    from rnnbook.book import plots\n"
    )
    graph = module_graph(pkg)
    bad = layer_violations(graph)
    assert len(bad) == 2, bad


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_public_name_is_importable_from_its_subpackage(sub):
    package = importlib.import_module(f"rnnbook.{sub}")
    assert package.__doc__ and len(package.__doc__.split()) > 30, "a paragraph on the layer"
    for path in sorted((PACKAGE / sub).glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"rnnbook.{sub}.{path.stem}")
        assert module.__doc__, f"{module.__name__} has no docstring"
        public = getattr(module, "__all__", None)
        assert public is not None, f"{module.__name__} has no __all__"
        for name in public:
            assert getattr(package, name, None) is getattr(module, name), \
                f"rnnbook.{sub}.{name} is not {module.__name__}.{name}"


def test_public_names_do_not_collide_within_a_subpackage():
    for sub in SUBPACKAGES:
        owner = {}
        for path in sorted((PACKAGE / sub).glob("*.py")):
            if path.name == "__init__.py":
                continue
            module = importlib.import_module(f"rnnbook.{sub}.{path.stem}")
            for name in module.__all__:
                assert name not in owner, f"{name} in {owner.get(name)} and {module.__name__}"
                owner[name] = module.__name__


# --------------------------------------------------------------------------
# The grader's stubbed copy of the package
# --------------------------------------------------------------------------

_STUB_PROBE = """
import json, sys
import numpy as np
import rnnbook.nn as nn
import rnnbook.train as train
blocked = {}
for name in json.loads(sys.argv[1]):
    fn = getattr(nn, name, None) or getattr(train, name, None)
    if fn is None:
        continue
    try:
        fn()
        blocked[name] = "ran"
    except RuntimeError as err:
        blocked[name] = "stub" if "not available" in str(err) else repr(err)
    except Exception as err:
        blocked[name] = repr(err)
try:
    nn.softmax(np.zeros(2))
    blocked["softmax"] = "ran"
except RuntimeError:
    blocked["softmax"] = "stub"
free = [float(nn.affine_forward(np.ones((1, 1)), 2 * np.ones((1, 1)), np.zeros(1))[0][0, 0]),
        float(nn.sigmoid(np.zeros(1))[0])]
print(json.dumps({"blocked": blocked, "free": free}))
"""


def test_the_stub_package_blocks_every_graded_function_at_its_new_path(tmp_path):
    import json

    from rnnbook.grading.questions import QUESTIONS
    from rnnbook.grading.sandbox import build_stub_package

    import rnnbook.nn as nn
    import rnnbook.train as train

    graded = sorted(n for n in QUESTIONS if hasattr(nn, n) or hasattr(train, n))
    # The fast kernels compute the same sequences: a student must not reach them either.
    graded += ["rnn_forward_fast", "rnn_backward_fast", "lstm_forward_fast",
               "lstm_backward_fast", "gru_forward_fast", "gru_backward_fast"]
    assert {"rnn_forward", "lstm_backward", "gru_step_backward", "clip_grad_norm"} <= set(graded)
    stub = build_stub_package(tmp_path / "stub")
    env = dict(os.environ, PYTHONPATH=str(stub))
    out = subprocess.run([sys.executable, "-c", _STUB_PROBE, json.dumps(graded)], env=env,
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # Every graded function, reached from its subpackage, is a stub that says so.
    assert report["blocked"] == {name: "stub" for name in graded + ["softmax"]}
    # The rest of the library still works inside a grading kernel.
    assert report["free"] == [2.0, 0.5]


TAUGHT = re.compile(r"Taught in: (Chapter \d+, [A-Z][^.]*|Part III, [A-Z][^.]*)\.")


@pytest.mark.parametrize("part", ["nn", "train", "datasets", "models", "book", "interop"])
def test_every_public_function_names_the_chapter_that_teaches_it(part):
    import inspect

    names = []
    paths = sorted((PACKAGE / part).glob("*.py")) if (PACKAGE / part).is_dir() \
        else [PACKAGE / f"{part}.py"]
    for path in paths:
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(_module_name(path))
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not TAUGHT.search(obj.__doc__ or ""):
                names.append(f"{module.__name__}.{name}")
    assert names == [], "no 'Taught in: Chapter N, Title.' line"
